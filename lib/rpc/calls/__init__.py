"""The RPC call table by area: each module defines ``CALLS``.

Importing an area module first (``from ganeti.rpc.calls.backup import
CHUNK``) must not run :func:`ganeti.rpc.defs._collect` half-way through
that module: loading :mod:`ganeti.rpc.defs` here, before any area module,
builds the table in the right order.
"""

from ganeti.rpc import defs as _defs  # noqa: F401  (see above)
