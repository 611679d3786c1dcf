"""Locking a daemon's memory into RAM (``mlockall``, through ctypes).

The node daemon is how the master reaches a node in trouble: to stop or
fail over instances, to power-cycle it.  When instances exhaust the
node's memory, an unlocked daemon's pages (its code, the Python heap)
are evicted and every answer waits on the disk, which may itself be
failing.  Locked, the daemon keeps answering.

:func:`lock_memory` locks what is mapped now, populating it
(``MCL_CURRENT``), then marks future mappings to be locked as their
pages are first touched (``MCL_FUTURE | MCL_ONFAULT``, Linux 4.4+): a
connection thread's 8 MiB stack then costs only the pages it uses,
instead of all of them as plain ``MCL_FUTURE`` would.  On an older
kernel plain ``MCL_FUTURE`` is used.

Where the system refuses (no ``CAP_IPC_LOCK`` and an ``RLIMIT_MEMLOCK``
smaller than the daemon, or no ``mlockall`` at all), nothing stays
locked and the caller gets the reason to log: the daemon runs unlocked.
Without ``CAP_IPC_LOCK`` under a finite limit, only the current memory
is locked: locking future mappings too would make the daemon's later
allocations fail once the limit is reached.

:func:`limit_arenas` keeps the C allocator to one arena: by default
glibc gives threads arenas of their own (up to eight per CPU), each
keeping the pages it once used, and a locked daemon keeps them
resident.  With one arena a node daemon at 10,000 instances took 48
instead of 53-56 MiB (``doc/design/scale.rst``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
from dataclasses import dataclass
from typing import Final

#: From <sys/mman.h> (Linux).
MCL_CURRENT: Final = 1
MCL_FUTURE: Final = 2
MCL_ONFAULT: Final = 4
#: ``mallopt`` parameter of glibc's <malloc.h>: the most arenas.
M_ARENA_MAX: Final = -8


@dataclass(frozen=True)
class LockOutcome:
    """What :func:`lock_memory` achieved."""

    locked: bool
    #: One line for the log: what is locked, or why nothing is.
    message: str


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


#: Bit of CAP_IPC_LOCK in /proc/PID/status's CapEff.
CAP_IPC_LOCK: Final = 14


def _may_lock_without_limit() -> bool:
    """Whether the memlock limit does not apply (unlimited, or the
    process has CAP_IPC_LOCK)."""
    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] == resource.RLIM_INFINITY:
        return True
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_IPC_LOCK & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _limit_text() -> str:
    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return "unlimited"
    return f"{soft // 1024} KiB"


def _status_kib(key: str, pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def locked_kib(pid: int | str = "self") -> int:
    """``VmLck`` of a process: the size of its locked mappings in KiB (0
    when nothing is locked or it is unknown).  It counts mappings, also
    reserved ones never used, so it says *whether* memory is locked; the
    resident size (:func:`resident_kib`) says how much."""
    return _status_kib("VmLck", pid)


def resident_kib(pid: int | str = "self") -> int:
    """``VmRSS`` of a process in KiB (0 when unknown)."""
    return _status_kib("VmRSS", pid)


def lock_memory(libc: ctypes.CDLL | None = None) -> LockOutcome:
    """Lock this process's memory (see the module documentation)."""
    libc = libc or _libc()
    mlockall = getattr(libc, "mlockall", None)
    if mlockall is None:
        return LockOutcome(False, "cannot lock memory: this system's C"
                                  " library has no mlockall")
    if mlockall(MCL_CURRENT) != 0:
        err = ctypes.get_errno()
        libc.munlockall()  # type: ignore[union-attr]
        return LockOutcome(
            False, f"cannot lock memory: mlockall: {os.strerror(err)}"
            f" (RLIMIT_MEMLOCK {_limit_text()}; CAP_IPC_LOCK or a higher"
            " limit is needed); running unlocked")
    if not _may_lock_without_limit():
        return LockOutcome(
            True, f"memory locked ({resident_kib()} KiB resident); future"
            f" allocations are not (RLIMIT_MEMLOCK {_limit_text()}, no"
            " CAP_IPC_LOCK)")
    # MCL_ONFAULT is refused (EINVAL) by kernels before 4.4.
    if mlockall(MCL_FUTURE | MCL_ONFAULT) != 0 and (
            ctypes.get_errno() != errno.EINVAL or mlockall(MCL_FUTURE) != 0):
        err = ctypes.get_errno()
        libc.munlockall()  # type: ignore[union-attr]
        return LockOutcome(
            False, f"cannot lock future memory: mlockall:"
            f" {os.strerror(err)}; running unlocked")
    return LockOutcome(True, f"memory locked ({resident_kib()} KiB resident)")


def limit_arenas(count: int = 1, libc: ctypes.CDLL | None = None) -> bool:
    """Let the C allocator use at most ``count`` arenas (glibc's
    ``mallopt``; call it before the process starts threads); whether the
    C library took it (False where it has no ``mallopt``, e.g. musl)."""
    libc = libc or _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    return mallopt is not None and mallopt(M_ARENA_MAX, count) == 1
