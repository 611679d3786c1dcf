"""What the host machine has: memory from /proc/meminfo, CPU topology
from sysfs.  Shared by the drivers that report the real node (kvm, and
the fake hypervisor when nothing overrides its node resources)."""

from __future__ import annotations

import contextlib
import glob

from ganeti import errors
from ganeti.utils import io


def meminfo_mib(key: str) -> int:
    """The value of ``key`` (``MemTotal``, ``MemAvailable``...) in
    /proc/meminfo, in MiB; 0 when it cannot be read."""
    try:
        text = io.read_file("/proc/meminfo")
    except errors.GenericError:
        return 0
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            parts = line.split()
            with contextlib.suppress(IndexError, ValueError):
                return int(parts[1]) // 1024  # the value is in KiB
    return 0


def cpu_topology() -> tuple[int, int]:
    """(NUMA nodes, CPU sockets) of this machine from sysfs (1 each where
    sysfs does not say)."""
    numa = len(glob.glob("/sys/devices/system/node/node[0-9]*"))
    packages = set()
    for path in glob.glob(
            "/sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id"):
        with contextlib.suppress(errors.GenericError):
            packages.add(io.read_file(path).strip())
    return max(numa, 1), max(len(packages), 1)
