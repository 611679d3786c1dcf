"""The user-id pool: ranges of uids that KVM instances run under.

The cluster keeps ``uid_pool`` as ``[[low, high], ...]`` (inclusive
ranges).  This module holds everything about it that is not the config:

- the syntax shared by ``gnt-cluster init --uid-pool`` and ``gnt-cluster
  modify --uid-pool/--add-uids/--remove-uids`` (Ganeti's: comma-separated
  ids and ``low-high`` ranges) and its ssconf/display formats;
- the check a pool must pass before it is stored: numbers within
  [:data:`UID_MIN`, :data:`UID_MAX`] (below are system accounts), low not
  above high, and no uid of an existing user of the node (a guest must
  never run as a real account);
- the node-side allocator (:class:`UidAllocator`), Ganeti's design: one
  lock file per uid in a directory under the node's run directory.  A uid
  is free when it has no file; taking it creates the file and holds an
  exclusive ``flock`` on it while the caller starts its process, then the
  lock is dropped and the file stays, marking the uid taken.  A file whose
  uid no process runs under is a stale lock (its qemu died, the node
  rebooted) and is reclaimed, after the free uids.  Releasing removes the
  file, unless a process again runs under that uid.

Two allocators never hand out the same uid: the winner of the ``flock``
holds it until its process runs under the uid, and every later taker
finds that process in /proc.  On one machine running several nodes of a
local cluster, each node has its own lock directory; the /proc check
still keeps two running guests off one uid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import logging
import os
import pwd
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from ganeti import errors, pathutils

EC = errors.ErrorCode

#: The lowest uid the pool may hold: 0-999 are system accounts
#: (Debian's and Red Hat's SYS_UID_MAX is 999).
UID_MIN: Final = 1000
#: The highest: (uid_t)-1 = 4294967295 means "no uid" to the kernel.
UID_MAX: Final = 2**32 - 2
#: Subdirectory of the node's run directory holding the lock files.
LOCK_SUBDIR: Final = "uid-pool"

_log = logging.getLogger("ganeti.uidpool")

UidRange = list[int]


def format_range(rng: UidRange) -> str:
    low, high = rng
    return str(low) if low == high else f"{low}-{high}"


def format_pool(pool: Iterable[UidRange], separator: str = ", ") -> str:
    """``[[1000, 1009], [2000, 2000]]`` -> ``1000-1009, 2000``."""
    return separator.join(format_range(r) for r in pool)


def parse_pool(spec: str, option: str = "--uid-pool",
               separator: str = ",", allow_empty: bool = False
               ) -> list[UidRange]:
    """``1000-1009,2000`` -> ``[[1000, 1009], [2000, 2000]]``.

    Only the syntax is checked here (numbers, low not above high, within
    [UID_MIN, UID_MAX]); :func:`check_pool` checks against the node's
    users.  An error names ``option`` and the bad item in one line.  An
    empty ``spec`` is an empty pool with ``allow_empty`` (``--uid-pool
    ""`` clears the pool), an error otherwise."""
    pool: list[UidRange] = []
    for item in (part.strip() for part in spec.split(separator)):
        if not item:
            continue
        low_text, sep, high_text = item.partition("-")
        try:
            low = int(low_text.strip())
            high = int(high_text.strip()) if sep else low
        except ValueError:
            raise errors.OpPrereqError(
                f"Invalid user-id range {item!r} in {option}: expected N or"
                " N-M with numbers", EC.INVAL) from None
        if high < low:
            raise errors.OpPrereqError(
                f"Invalid user-id range {item!r} in {option}: the lower"
                " bound is above the upper bound", EC.INVAL)
        pool.append([low, high])
    if not pool and not allow_empty:
        raise errors.OpPrereqError(
            f"Empty user-id pool in {option}: give ids or ranges such as"
            " 1000-1009,2000", EC.INVAL)
    check_bounds(pool, option)
    return pool


def check_bounds(pool: Iterable[UidRange], what: str = "uid pool") -> None:
    """Every range within [UID_MIN, UID_MAX], low not above high."""
    for rng in pool:
        low, high = rng
        if high < low:
            raise errors.OpPrereqError(
                f"Invalid user-id range {low}-{high} in {what}: the lower"
                " bound is above the upper bound", EC.INVAL)
        if low < UID_MIN or high > UID_MAX:
            raise errors.OpPrereqError(
                f"User-id range {format_range(rng)} in {what} is outside"
                f" {UID_MIN}-{UID_MAX} (uids below {UID_MIN} are system"
                " accounts)", EC.INVAL)


def system_users() -> dict[int, str]:
    """uid -> name of every user this node knows (passwd, NSS)."""
    return {entry.pw_uid: entry.pw_name for entry in pwd.getpwall()}


def check_pool(pool: Iterable[UidRange], what: str = "uid pool",
               users: dict[int, str] | None = None) -> None:
    """Refuse a pool that :func:`check_bounds` refuses or that holds the
    uid of an existing user (``users``, default: this node's)."""
    ranges = [list(r) for r in pool]
    check_bounds(ranges, what)
    known = system_users() if users is None else users
    for rng in ranges:
        low, high = rng
        clash = sorted(uid for uid in known if low <= uid <= high)
        if clash:
            shown = ", ".join(f"{known[uid]} ({uid})" for uid in clash[:3])
            more = f" and {len(clash) - 3} more" if len(clash) > 3 else ""
            raise errors.OpPrereqError(
                f"User-id range {format_range(rng)} in {what} overlaps"
                f" existing users of this node: {shown}{more}", EC.INVAL)


def expand(pool: Iterable[UidRange]) -> Iterator[int]:
    """Every uid of ``pool`` once, ascending (ranges may overlap)."""
    ranges = sorted((low, high) for low, high in pool)
    after = None  # the first uid not yet produced
    for low, high in ranges:
        start = low if after is None else max(low, after)
        yield from range(start, high + 1)
        if after is None or high + 1 > after:
            after = high + 1


# --- the node-side allocator ------------------------------------------------


def processes_use_uid(uid: int) -> bool:
    """Whether a live process of this machine has ``uid`` as its real,
    effective, saved or filesystem uid (from /proc/PID/status; a zombie,
    a killed qemu nobody has reaped yet, does not count)."""
    wanted = str(uid)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                for line in handle:
                    if line.startswith("State:") and line.split()[1] in "ZX":
                        break
                    if line.startswith("Uid:"):
                        if wanted in line.split()[1:]:
                            return True
                        break
        except (OSError, IndexError):
            continue  # the process went away
    return False


@dataclass
class LockedUid:
    """A uid taken from the pool whose lock is still held: the caller
    starts its process under :attr:`uid`, then calls :meth:`unlock` (or
    :meth:`UidAllocator.release` when the start failed)."""

    uid: int
    fd: int | None

    def unlock(self) -> None:
        """Drop the lock; the lock file stays and marks the uid taken."""
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


class UidAllocator:
    """Hands out uids of a pool on one node (see the module docs).

    ``in_use`` says whether a process runs under a uid; tests inject it."""

    def __init__(self, lock_dir: str | None = None,
                 in_use: Callable[[int], bool] = processes_use_uid) -> None:
        self.lock_dir = lock_dir or os.path.join(pathutils.get().run_dir,
                                                 LOCK_SUBDIR)
        self._in_use = in_use

    def _path(self, uid: int) -> str:
        return os.path.join(self.lock_dir, str(uid))

    def taken(self) -> set[int]:
        """The uids with a lock file."""
        try:
            names = os.listdir(self.lock_dir)
        except FileNotFoundError:
            return set()
        return {int(name) for name in names if name.isdigit()}

    def _try_lock(self, uid: int) -> int | None:
        """An fd holding the exclusive lock of ``uid``'s file (created if
        missing); None when another allocator holds it."""
        while True:
            fd = self._lock_once(uid)
            if fd is None:
                return None
            # A releaser may have unlinked the file between our open and
            # our flock: a lock on a file no longer at the path is no lock.
            if _same_file(fd, self._path(uid)):
                return fd
            os.close(fd)

    def _lock_once(self, uid: int) -> int | None:
        try:
            fd = os.open(self._path(uid),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise errors.LockError(
                f"Cannot create the lock file of uid {uid} in"
                f" {self.lock_dir}: {err.strerror}", EC.ENVIRON) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return None
            raise errors.LockError(
                f"Cannot lock the lock file of uid {uid}: {err.strerror}",
                EC.ENVIRON) from None
        return fd

    def request(self, pool: Iterable[UidRange]) -> LockedUid:
        """Take a uid of ``pool`` nobody holds and no process runs under:
        free uids first (ascending), then stale locks (reclaimed)."""
        os.makedirs(self.lock_dir, mode=0o755, exist_ok=True)
        ranges = [list(r) for r in pool]
        if not ranges:
            raise errors.LockError("The cluster's uid pool is empty: set it"
                                   " with gnt-cluster modify --uid-pool",
                                   EC.NORES)
        taken = self.taken()
        stale = sorted(u for u in taken
                       if any(low <= u <= high for low, high in ranges))
        # Lazily: a pool may span millions of uids.
        candidates = itertools.chain(
            (u for u in expand(ranges) if u not in taken), stale)
        for uid in candidates:
            fd = self._try_lock(uid)
            if fd is None:
                continue  # another allocator is starting a process with it
            if self._in_use(uid):
                # e.g. a guest of another node of this machine; a lock
                # file only this attempt created goes again.
                if uid not in taken:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._path(uid))
                os.close(fd)
                continue
            if uid in taken:
                _log.info("Reclaiming the stale lock of uid %d", uid)
            return LockedUid(uid, fd)
        raise errors.LockError(
            f"No free uid in the uid pool ({format_pool(sorted(ranges))}):"
            " every uid is taken by a running process", EC.NORES)

    def release(self, uid: int | LockedUid) -> None:
        """Give ``uid`` back: its lock file goes, unless another allocator
        holds it or a process again runs under it (then it stays taken)."""
        if isinstance(uid, LockedUid):
            number = uid.uid
            fd = uid.fd
            uid.fd = None
        else:
            number, fd = uid, None
        if fd is None:
            if not os.path.exists(self._path(number)):
                return
            fd = self._try_lock(number)
            if fd is None:
                return
        try:
            if not self._in_use(number):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(number))
        finally:
            os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    """Whether ``fd`` is the file now at ``path``."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
