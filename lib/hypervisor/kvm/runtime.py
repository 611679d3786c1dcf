"""Per-instance runtime files of the KVM driver.

Layout under ``<run_dir>/kvm-hypervisor`` (relocated under the node's
root like every path)::

    pid/<instance>        qemu's pid file (-pidfile)
    ctrl/<instance>.qmp   the QMP socket
    ctrl/<instance>.serial  the serial console socket
    conf/<instance>       the runtime: what was started (JSON, below)
    chroot/<instance>/    qemu's chroot when use_chroot is set

The runtime file records what actually runs, so that information,
reboot, console and migration use it instead of the configuration,
which may have changed since the start:

``{"name", "uuid", "memory", "vcpus", "hvparams", "nics": [{"mac",
"ip", "mode", "link", "tap"}], "disks": [{"path", "read_only"}],
"vnc_port", "started": <time>, "command": [...], "uid": <uid or null>}``
where ``uid`` is the uid of the cluster's uid pool qemu runs under
(``security_model`` pool), given back when the files go.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ganeti import pathutils
from ganeti.hypervisor import runtimefiles

SUBDIR: Final = "kvm-hypervisor"


@dataclass(frozen=True)
class RuntimeDirs:
    """The driver's directories on this node."""

    base: str

    @classmethod
    def for_node(cls) -> RuntimeDirs:
        return cls(os.path.join(pathutils.get().run_dir, SUBDIR))

    @property
    def pid_dir(self) -> str:
        return os.path.join(self.base, "pid")

    @property
    def ctrl_dir(self) -> str:
        return os.path.join(self.base, "ctrl")

    @property
    def conf_dir(self) -> str:
        return os.path.join(self.base, "conf")

    @property
    def chroot_base(self) -> str:
        return os.path.join(self.base, "chroot")

    def ensure(self) -> None:
        for path in (self.pid_dir, self.ctrl_dir, self.conf_dir,
                     self.chroot_base):
            os.makedirs(path, mode=0o750, exist_ok=True)

    def pidfile(self, name: str) -> str:
        return os.path.join(self.pid_dir, name)

    def qmp_socket(self, name: str) -> str:
        return os.path.join(self.ctrl_dir, f"{name}.qmp")

    def serial_socket(self, name: str) -> str:
        return os.path.join(self.ctrl_dir, f"{name}.serial")

    def runtime_file(self, name: str) -> str:
        return os.path.join(self.conf_dir, name)

    def chroot_dir(self, name: str) -> str:
        return os.path.join(self.chroot_base, name)

    # --- runtime ------------------------------------------------------------

    def write_runtime(self, name: str, runtime: Mapping[str, Any]) -> None:
        runtimefiles.write_record(self.runtime_file(name), runtime)

    def read_runtime(self, name: str) -> dict[str, Any] | None:
        """The recorded runtime of ``name``; None when there is none.  A
        damaged file is an error naming it (never guessed around)."""
        return runtimefiles.read_record(self.runtime_file(name),
                                        "KVM runtime file")

    def read_pid(self, name: str) -> int | None:
        try:
            with open(self.pidfile(name)) as handle:
                return int(handle.read().strip() or "0") or None
        except (OSError, ValueError):
            return None

    def names(self) -> list[str]:
        """Instances with a pid file here, sorted."""
        try:
            return sorted(os.listdir(self.pid_dir))
        except FileNotFoundError:
            return []

    def remove(self, name: str) -> None:
        """Drop every runtime file of ``name`` (after qemu has exited)."""
        for path in (self.pidfile(name), self.qmp_socket(name),
                     self.serial_socket(name), self.runtime_file(name)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.chroot_dir(name))


def process_cmdline(pid: int) -> list[str]:
    """argv of process ``pid`` from /proc; empty when it does not exist."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0")
            if part]


def qemu_pid(dirs: RuntimeDirs, name: str) -> int | None:
    """The pid of the qemu running ``name``, checked against /proc (a
    stale pid file or a reused pid is not taken for a running instance)."""
    pid = dirs.read_pid(name)
    if pid is None:
        return None
    argv = process_cmdline(pid)
    try:
        index = argv.index("-name")
    except ValueError:
        return None
    if index + 1 < len(argv) and argv[index + 1] == name:
        return pid
    return None


def process_start_time(pid: int) -> float | None:
    """Seconds since boot when ``pid`` started (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        ticks = int(fields[19])
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def uptime_of(pid: int) -> float:
    started = process_start_time(pid)
    if started is None:
        return 0.0
    try:
        with open("/proc/uptime") as handle:
            now = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, now - started)
