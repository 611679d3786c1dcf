"""``node_powercycle``: the hard reboot of ``gnt-node powercycle``.

The answer goes back first; the reboot happens :data:`POWERCYCLE_DELAY`
seconds later, in a grandchild of the node daemon (forked, so it needs
nothing from the disk: the node's disk may be what failed) that calls
the hypervisor driver's :meth:`~ganeti.hypervisor.base.BaseHypervisor.
powercycle_node` (Linux: ``b`` into ``/proc/sysrq-trigger``; Xen then
``xl debug-keys R``).

A node daemon under a ``GANETI_ROOTDIR`` root (a local-cluster node
sharing this machine with others) never reboots the machine: with the
power stand-in enabled it starts :mod:`ganeti.standins.power` instead
(the node loses power: its daemons and instances stop; then it boots:
its daemons start again), otherwise the call fails.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any, Final

from ganeti import errors, hypervisor, pathutils
from ganeti.backend import handler
from ganeti.standins import power as power_standin

#: Seconds between the answer and the power cycle.
POWERCYCLE_DELAY: Final = 5


def scheduled_message(delay: float = POWERCYCLE_DELAY) -> str:
    return f"Reboot scheduled in {delay:g} seconds"


@handler("node_powercycle")
def node_powercycle(hypervisor_name: str, hvparams: dict[str, Any]) -> str:
    # An unknown or absent driver is refused before anything is scheduled.
    hypervisor.get_hypervisor_class(hypervisor_name)
    if pathutils.get().root:
        command = power_standin.command(hypervisor_name, POWERCYCLE_DELAY)
        if command is None:
            raise errors.OpExecError(
                "This node daemon runs under a root directory (a local"
                " cluster node): it never reboots the machine, and the"
                f" power stand-in is not enabled ({power_standin.ENABLE_ENV})",
                errors.ErrorCode.ENVIRON)
        subprocess.Popen(command, start_new_session=True, close_fds=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        return scheduled_message()
    driver = hypervisor.get_hypervisor(hypervisor_name)
    _fork_and_cycle(lambda: driver.powercycle_node(hvparams), POWERCYCLE_DELAY)
    return scheduled_message()


def _fork_and_cycle(cycle: Any, delay: float) -> None:
    """Run ``cycle`` after ``delay`` seconds in a detached grandchild.

    The child of a multi-threaded daemon may only do what takes no lock
    another thread could have held at the fork: sleep, system calls,
    exec.  Whatever happens there, it ends with ``os._exit``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a forked child; tested through it)
        try:
            os.setsid()
            if os.fork() == 0:
                time.sleep(delay)
                cycle()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


__all__ = ["POWERCYCLE_DELAY", "node_powercycle", "scheduled_message"]
