"""The receiving end of an xl migration, on the target node.

``xl migrate`` on the source runs its transport command through ``sh``
and talks to ``xl migrate-receive`` on the other end of it (xl(1),
``migrate -s``).  Ganeti's nodes do not log into each other with ssh to
run commands, so the driver sets up the other end itself:
``accept_instance`` binds and listens on ``<target address>:<migration
port>`` (before returning, so the source cannot connect too early) and
starts this program with the listening socket; it accepts exactly one
connection (within :data:`ACCEPT_TIMEOUT` seconds) and runs ``xl
migrate-receive`` with the connection as its stdin and stdout.  The
source's transport is ``socat - TCP:<target>:<port>``.

Run as ``python -m ganeti.hypervisor.xen.receive FD TIMEOUT -- XL...``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

#: Seconds to wait for the source to connect.
ACCEPT_TIMEOUT: Final = 300.0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        fd, timeout = int(args[0]), float(args[1])
        if args[2] != "--" or len(args) < 4:
            raise ValueError
        command = args[3:]
    except (IndexError, ValueError):
        print("usage: receive FD TIMEOUT -- COMMAND...", file=sys.stderr)
        return 2
    listener = socket.socket(fileno=fd)
    listener.settimeout(timeout)
    try:
        conn, peer = listener.accept()
    except TimeoutError:
        print(f"receive: nobody connected within {timeout:g} s",
              file=sys.stderr)
        return 1
    finally:
        listener.close()
    with conn:
        conn.setblocking(True)
        print(f"receive: migration from {peer[0]}", file=sys.stderr)
        result = subprocess.run(command, stdin=conn.fileno(),
                                stdout=conn.fileno(), check=False)
    return result.returncode


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
