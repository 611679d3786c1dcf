"""Stand-in for a node's power cycle (``gnt-node powercycle``) on a
local-cluster node, whose "machine" is the machine of every other node.

``python -m ganeti.standins.power HYPERVISOR DELAY``, started detached
by the node daemon's ``node_powercycle`` (:mod:`ganeti.backend.power`)
under the node's root, after DELAY seconds:

1. power goes: every daemon of the node (its pid files under the root:
   node daemon, master daemon, RAPI, confd, mond) is killed with
   SIGKILL, and every instance of the hypervisor is stopped at once
   (forced), as a power loss leaves no guest running;
2. the node boots: after :data:`BOOT_DELAY` seconds each daemon that
   was running starts again with the command line, environment and
   working directory it had (read from ``/proc`` before the kill), one
   after the other, each once the previous holds its pid file.

Each step is a line of ``power-standin.log`` in the node's run
directory.  Selected only under a ``GANETI_ROOTDIR`` root with
``GANETI_POWER_STANDIN=1`` (:func:`command`); run anywhere else it
refuses.  What it does not model: DRBD devices and block devices stay
as they were (a real power loss drops them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ganeti import constants, daemon, errors, hypervisor, pathutils

ENABLE_ENV: Final = "GANETI_POWER_STANDIN"
#: Seconds the node stays "off".
BOOT_DELAY: Final = 1.0
LOG_NAME: Final = "power-standin.log"
#: Seconds a killed daemon may take to be gone.
KILL_WAIT: Final = 10.0


def command(hypervisor_name: str, delay: float) -> list[str] | None:
    """The stand-in's command line, or None where it must not run (a real
    node, or the stand-in not enabled)."""
    if not pathutils.get().root or os.environ.get(ENABLE_ENV) != "1":
        return None
    package_root = os.path.dirname(os.path.dirname(pathutils.__file__))
    return ["env", f"PYTHONPATH={package_root}", sys.executable, "-m",
            __name__, hypervisor_name, f"{delay:g}"]


@dataclass
class _Daemon:
    name: str
    pid: int
    argv: list[str]
    env: dict[str, str]
    cwd: str


def _proc(pid: int, what: str) -> bytes:
    with open(f"/proc/{pid}/{what}", "rb") as handle:
        return handle.read()


def running_daemons(paths: pathutils.Paths) -> list[_Daemon]:
    """The node's daemons that run now, with how they were started."""
    found = []
    for name in constants.DAEMONS:
        pid_file = paths.pid_file(name)
        pid = daemon.read_pid(pid_file)
        if pid is None or not daemon.is_running(pid_file):
            continue
        try:
            argv = [a.decode() for a in _proc(pid, "cmdline").split(b"\0")
                    if a]
            env = dict(item.decode().split("=", 1)
                       for item in _proc(pid, "environ").split(b"\0")
                       if b"=" in item)
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue  # gone meanwhile
        found.append(_Daemon(name, pid, argv, env, cwd))
    return found


def _gone(pid: int) -> bool:
    try:
        state = _proc(pid, "stat").split(b")")[-1].split()[0]
    except OSError:
        return True
    return state == b"Z"


def power_off(paths: pathutils.Paths, hypervisor_name: str,
              log: list[str]) -> list[_Daemon]:
    """Kill the node's daemons, stop its instances; the daemons killed."""
    daemons = running_daemons(paths)
    for item in daemons:
        with contextlib.suppress(ProcessLookupError):
            os.kill(item.pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT
    while not all(_gone(d.pid) for d in daemons) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    log.append("power off: killed " + (", ".join(
        f"{d.name} ({d.pid})" for d in daemons) or "no daemon"))
    stopped = []
    try:
        driver = hypervisor.get_hypervisor(hypervisor_name)
        running = driver.get_all_instances_info()
    except errors.GenericError as err:  # the node still boots
        log.append(f"power off: cannot list the {hypervisor_name}"
                   f" instances: {err}")
        running = []
    for info in running:
        try:
            driver.stop_instance(info.name, force=True)
            stopped.append(info.name)
        except Exception as err:  # recorded; the others still stop
            log.append(f"power off: cannot stop {info.name}: {err}")
    log.append("power off: stopped " + (", ".join(stopped) or "no instance"))
    return daemons


def boot(paths: pathutils.Paths, daemons: Sequence[_Daemon],
         log: list[str]) -> None:
    """Start the daemons again as they were started; each is logged once
    it holds its pid file (the node has booted when the log says so)."""
    for item in daemons:
        try:
            subprocess.Popen(item.argv, env=item.env, cwd=item.cwd,
                             start_new_session=True, close_fds=True,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        except OSError as err:
            log.append(f"boot: cannot start {item.name}: {err}")
            continue
        pid_file = paths.pid_file(item.name)
        deadline = time.monotonic() + KILL_WAIT
        while not daemon.is_running(pid_file) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        if daemon.is_running(pid_file):
            log.append(f"boot: started {item.name}")
        else:
            log.append(f"boot: {item.name} did not start within"
                       f" {KILL_WAIT:g}s")


def main(argv: Sequence[str]) -> int:
    paths = pathutils.get()
    if not paths.root or os.environ.get(ENABLE_ENV) != "1" or len(argv) != 2:
        sys.stderr.write("usage: GANETI_ROOTDIR=... GANETI_POWER_STANDIN=1"
                         " python -m ganeti.standins.power HYPERVISOR"
                         " DELAY (a local-cluster node only)\n")
        return 2
    hypervisor_name, delay = argv[0], float(argv[1])
    time.sleep(delay)
    log: list[str] = []
    try:
        daemons = power_off(paths, hypervisor_name, log)
        time.sleep(BOOT_DELAY)
        boot(paths, daemons, log)
    finally:
        os.makedirs(paths.run_dir, exist_ok=True)
        with open(os.path.join(paths.run_dir, LOG_NAME), "a",
                  encoding="utf-8") as handle:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.writelines(f"{stamp} {line}\n" for line in log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
