"""The remote API (RAPI) version 2: REST over HTTPS, as Ganeti's.

- :mod:`.users`: the users file (``user password [options]``), password
  schemes and writing a file for a new user;
- :mod:`.auth`: HTTP Basic authentication against that file, reloaded
  when it changes, and the read/write access decision;
- :mod:`.base`: the resource base class, query arguments, bodies turned
  into opcodes, jobs submitted and awaited over LUXI;
- :mod:`.rcluster`, :mod:`.rjobs`, :mod:`.rnodes`, :mod:`.rinstances`:
  the resources, by area;
- :mod:`.connector`: the table of path patterns and the application the
  HTTPS server runs.

The daemon itself is :mod:`ganeti.server.rapi`.
"""

from __future__ import annotations

from typing import Final

#: The API version answered by ``GET /version``.
VERSION: Final = 2
#: The HTTP authentication realm; also part of ``{HA1}`` password hashes.
REALM: Final = "Ganeti Remote API"
#: User options: what a user may do.
ACCESS_READ: Final = "read"
ACCESS_WRITE: Final = "write"
ACCESS_OPTIONS: Final = frozenset([ACCESS_READ, ACCESS_WRITE])
