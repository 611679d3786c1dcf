"""The host side of a chroot instance: its mounted root and its processes.

Everything here looks at the real machine (``/proc``, ``mount``,
``umount``, ``blkid``); the driver in :mod:`ganeti.hypervisor.chroot`
decides when to call what.

- A root is mounted from the instance's first disk: a regular file (a
  file disk) through a loop device (``mount -o loop``, whose loop device
  is released by the kernel when the mount goes), a block device
  directly, a directory with a bind mount.
- An instance's processes are the processes whose root directory
  (``/proc/<pid>/root``) is the instance's root or lies below it: that
  is what a process started through ``chroot`` has, and what its
  children inherit, whatever session they move to.
- Mount points are read from ``/proc/self/mountinfo`` (``os.path.ismount``
  misses a bind mount of a directory of the same filesystem).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
from collections.abc import Callable, Iterable
from typing import Final

from ganeti import errors
from ganeti.utils import process

MOUNTINFO: Final = "/proc/self/mountinfo"
PROC: Final = "/proc"
#: Seconds any of mount, umount and blkid may take.
TOOL_TIMEOUT: Final = 60.0

_ESCAPE: Final = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """A mountinfo path field with its octal escapes (``\\040``) decoded."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _real(path: str) -> str:
    return os.path.realpath(path).rstrip("/") or "/"


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, source) of every line of a
    ``/proc/<pid>/mountinfo`` text, in the file's order."""
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        found.append((_unescape(fields[4]), tail[0], _unescape(tail[1])))
    return found


def mounts_at_or_below(path: str, mountinfo: str = MOUNTINFO
                       ) -> list[tuple[str, str, str]]:
    """The mounts at ``path`` or below it, deepest (latest) first, so that
    unmounting in this order never meets a busy parent.  ``path`` is
    resolved first: mountinfo names real paths (``/run``, not a
    ``/var/run`` symbolic link to it)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as err:
        raise errors.HypervisorError(
            f"Cannot read {mountinfo}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    base = _real(path)
    inside = [m for m in parse_mountinfo(text)
              if m[0] == base or m[0].startswith(base + "/")]
    return list(reversed(inside))


def is_mounted(path: str, mountinfo: str = MOUNTINFO) -> bool:
    """Whether something is mounted exactly at ``path``."""
    base = _real(path)
    return any(m[0] == base for m in mounts_at_or_below(path, mountinfo))


def _tail(text: str) -> str:
    """The last line of a tool's output that says something (mount ends
    its errors with a pointer to dmesg)."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith("dmesg(1)")]
    return lines[-1] if lines else ""


def filesystem_type(path: str) -> str:
    """The filesystem type ``blkid`` finds on a file or block device; ""
    when it finds none."""
    res = process.run_cmd(["blkid", "-p", "-s", "TYPE", "-o", "value", path],
                          timeout=TOOL_TIMEOUT, reset_env=True)
    if res.exit_code == 2:  # blkid: nothing identified
        return ""
    if res.failed:
        raise errors.HypervisorError(
            f"blkid cannot read {path}: {_tail(res.output) or res.fail_reason}",
            errors.ErrorCode.ENVIRON)
    return res.stdout.strip()


def mount_argv(source: str, target: str, read_only: bool = False
               ) -> list[str]:
    """How ``source`` becomes the root at ``target``: by its kind."""
    try:
        mode = os.stat(source).st_mode
    except OSError as err:
        raise errors.HypervisorError(
            f"{source}: {err.strerror or err}", errors.ErrorCode.ENVIRON
        ) from None
    ro = ["-o", "ro"] if read_only else []
    if stat.S_ISDIR(mode):
        return ["mount", "--bind", *ro, source, target]
    if stat.S_ISREG(mode):
        return ["mount", "-o", "loop,ro" if read_only else "loop", source,
                target]
    if stat.S_ISBLK(mode):
        return ["mount", *ro, source, target]
    raise errors.HypervisorError(
        f"{source} is neither a directory, a file nor a block device",
        errors.ErrorCode.ENVIRON)


def mount(source: str, target: str, read_only: bool = False) -> None:
    """Mount ``source`` at ``target`` (see :func:`mount_argv`); a failure
    raises with mount's last line of output."""
    res = process.run_cmd(mount_argv(source, target, read_only),
                          timeout=TOOL_TIMEOUT, reset_env=True)
    if res.failed:
        raise errors.HypervisorError(
            f"mount failed: {_tail(res.output) or res.fail_reason}",
            errors.ErrorCode.ENVIRON)


def unmount_all(path: str) -> list[str]:
    """Unmount everything at or below ``path`` (deepest first); the mount
    points unmounted.  A mount that stays busy raises, naming it."""
    done = []
    for point, _fstype, _source in mounts_at_or_below(path):
        res = process.run_cmd(["umount", point], timeout=TOOL_TIMEOUT,
                              reset_env=True)
        if res.failed:
            raise errors.HypervisorError(
                f"cannot unmount {point}:"
                f" {_tail(res.output) or res.fail_reason}",
                errors.ErrorCode.ENVIRON)
        done.append(point)
    return done


def _pids(proc: str) -> Iterable[int]:
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    return sorted(int(e) for e in entries if e.isdigit())


def processes_in(root: str, proc: str = PROC) -> list[int]:
    """Pids of the processes whose root directory is ``root`` or below it
    (zombies have no root and are not counted), sorted."""
    base = _real(root)
    found = []
    for pid in _pids(proc):
        try:
            where = os.readlink(os.path.join(proc, str(pid), "root"))
        except OSError:
            continue
        if where == base or where.startswith(base + "/"):
            found.append(pid)
    return found


def resident_mib(pids: Iterable[int], proc: str = PROC) -> int:
    """Resident memory of ``pids`` together, in MiB (gone ones count 0)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError), \
                open(os.path.join(proc, str(pid), "statm")) as handle:
            total += int(handle.read().split()[1]) * page
    return total // (1024 * 1024)


def kill_all(root: str, *, timeout: float,
             monotonic: Callable[[], float], sleep: Callable[[float], None],
             proc: str = PROC) -> list[int]:
    """SIGKILL every process in ``root`` until none is left (a process may
    fork while it is being killed); the pids killed.  Raises when some
    survive ``timeout`` seconds."""
    killed: list[int] = []
    deadline = monotonic() + timeout
    while True:
        pids = processes_in(root, proc)
        if not pids:
            return killed
        if monotonic() >= deadline:
            raise errors.HypervisorError(
                f"processes {', '.join(map(str, pids))} in {root} survive"
                " SIGKILL", errors.ErrorCode.ENVIRON)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if pid not in killed:
                killed.append(pid)
        sleep(0.05)
