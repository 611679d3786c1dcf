"""Hard reboot of a node (``gnt-node powercycle``), the Linux way.

:func:`linux_powercycle` runs in a child the node daemon forked (see
``ganeti.backend.power``): the node's disk may be dead, so the first
attempt is system calls only, on a file of ``/proc``: ``b`` written to
``/proc/sysrq-trigger`` reboots at once, without syncing or unmounting.
Only if that fails is ``reboot -n -f`` executed (no sync, forced).
Never call it in a test without ``trigger`` and ``reboot`` pointing
elsewhere.
"""

from __future__ import annotations

import os
from typing import Final

SYSRQ_TRIGGER: Final = "/proc/sysrq-trigger"
REBOOT: Final = "/sbin/reboot"


def linux_powercycle(trigger: str = SYSRQ_TRIGGER,
                     reboot: str = REBOOT) -> str:
    """Reboot now; returns (only when both ways failed) why not.

    On success the write does not return (the kernel reboots) and the
    ``reboot`` program never returns either."""
    try:
        fd = os.open(trigger, os.O_WRONLY)
        try:
            os.write(fd, b"b")
        finally:
            os.close(fd)
    except OSError as err:
        first = f"cannot write {trigger}: {err.strerror}"
    else:
        return f"wrote b to {trigger}, yet the node still runs"
    try:
        os.execv(reboot, [reboot, "-n", "-f"])
    except OSError as err:
        return f"{first}; cannot run {reboot}: {err.strerror}"
    raise AssertionError("unreachable: execv returned")  # pragma: no cover


__all__ = ["REBOOT", "SYSRQ_TRIGGER", "linux_powercycle"]
