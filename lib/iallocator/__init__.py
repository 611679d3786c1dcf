"""Instance allocators: the iallocator protocol of Ganeti 2.6+ and a
built-in allocator (see ``doc/design/iallocator.rst``).

An allocator decides where instances go.  The master writes one JSON
document (:mod:`.request`: the cluster's groups, nodes with their free
memory and disk, instances, and the ``request`` of one of the modes
``allocate``, ``relocate``, ``node-evacuate``, ``change-group``,
``multi-allocate``) and hands it to the allocator; the answer
(``success``, ``info``, ``result``) is parsed and checked against the
cluster before anything moves (:mod:`.answer`).

- External allocators are programs found by name in the search path
  (:mod:`.runner`); the request goes in a temporary file named as their
  only argument, the answer comes on their standard output.  Debian's
  ``ganeti-htools`` installs ``hail`` there.
- :data:`BUILTIN` names the built-in allocator (:mod:`.builtin`), which
  answers the same documents without any program.
- :data:`HAIL` run where no ``hail`` program is installed means the
  built-in allocator (as ``-I hail`` always did in this version), said
  in the job's log.

Every module here is pure except :mod:`.runner`; the master-side glue
(node data by RPC, the logical units' use) is
:mod:`ganeti.cmdlib.iallocator`.
"""

from __future__ import annotations

from typing import Final

#: The built-in allocator's name.
BUILTIN: Final = "builtin"
#: htools' allocator; the built-in one stands in where it is not installed.
HAIL: Final = "hail"
#: Seconds an external allocator may run before it is killed.
DEFAULT_TIMEOUT: Final = 60.0
#: Version of the request document (Ganeti 2.2+ writes 2).
REQUEST_VERSION: Final = 2
