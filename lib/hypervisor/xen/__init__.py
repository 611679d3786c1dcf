"""The Xen hypervisors (xen-pvm, xen-hvm), driven through the xl toolstack.

- :mod:`.core`: what both share (the domain's life cycle, information,
  migration, the per-instance files);
- :mod:`.pvm`, :mod:`.hvm`: each kind's xl configuration, as pure
  functions of the filled parameters;
- :mod:`.xlcfg`: the xl.cfg(5) syntax (writer, and a reader for tests and
  the stand-in);
- :mod:`.parsers`: ``xl list``, ``xl list -l`` and ``xl info`` output;
- :mod:`.xl`: running xl (errors with its stderr tail);
- :mod:`.receive`: the receiving end of a migration on the target.

Xen cannot run on the machines this project is tested on: the drivers
are tested against xl's documented formats and against the stateful
stand-in :mod:`ganeti.standins.xl` (local clusters), see doc/status.rst.
"""

from __future__ import annotations

from ganeti.hypervisor.xen.hvm import XenHvmHypervisor
from ganeti.hypervisor.xen.pvm import XenPvmHypervisor

__all__ = ["XenHvmHypervisor", "XenPvmHypervisor"]
