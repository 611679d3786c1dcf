"""The single lock of the master daemon: :class:`SharedLock`.

A reader/writer lock with one FIFO queue of pending acquires, timeouts and
deletion, as laid out by the 2.1 locking redesign (see
``doc/design/locking.rst``).  Owners are threads; a per-thread owner name
(:func:`set_owner_name`) makes ownership readable in :meth:`SharedLock.info`.

Waits are event driven: every queue entry has its own
:class:`threading.Condition` over the lock's internal mutex, and a waiter
sleeps on it with its whole remaining timeout.  (Python 3's
``Condition.wait`` blocks on a lock with a real timeout; the busy polling
the design worried about in Python 2 is gone, so no pipe-based condition
is needed.)
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Final, TypedDict

from ganeti import errors

#: A source of monotonic seconds; injectable so tests control time.
Clock = Callable[[], float]

MODE_EXCLUSIVE: Final = "exclusive"
MODE_SHARED: Final = "shared"


class LockInfo(TypedDict):
    """A snapshot of one lock, as ``gnt-debug locks`` shows it."""

    name: str
    #: ``"exclusive"``, ``"shared"`` or None when nobody holds it.
    mode: str | None
    #: Owner names; one for exclusive, sorted for shared.
    owners: list[str]
    #: ``(mode, [waiter names])`` per queue entry, oldest first.
    pending: list[tuple[str, list[str]]]


# --- Owner names --------------------------------------------------------------

_names_mutex = threading.Lock()
# Weak keys: a finished thread drops its name instead of lending it to a
# later thread that happens to reuse its identifier.
_owner_names: weakref.WeakKeyDictionary[threading.Thread, str] = (
    weakref.WeakKeyDictionary())


def set_owner_name(name: str | None) -> None:
    """Name the calling thread as a lock owner (None: back to its thread name).

    The job queue sets e.g. ``"job 42/op 1"`` before running an opcode, so
    lock listings and a job's ``lock_status`` say who holds what.
    """
    thread = threading.current_thread()
    with _names_mutex:
        if name is None:
            _owner_names.pop(thread, None)
        else:
            _owner_names[thread] = name


def owner_name(thread: threading.Thread | None = None) -> str:
    """The owner name of ``thread`` (default: the calling thread)."""
    if thread is None:
        thread = threading.current_thread()
    with _names_mutex:
        return _owner_names.get(thread, thread.name)


# --- Time ---------------------------------------------------------------------

class Deadline:
    """A relative timeout turned into "time left", measured by a clock."""

    __slots__ = ("_clock", "_end")

    def __init__(self, timeout: float | None, clock: Clock) -> None:
        self._clock = clock
        self._end = None if timeout is None else clock() + max(timeout, 0.0)

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None for "no limit"."""
        if self._end is None:
            return None
        return max(self._end - self._clock(), 0.0)


# --- Monitor ------------------------------------------------------------------

class LockMonitor:
    """Knows every live lock of a lock manager, for listings and watchers.

    Locks register when created and unregister when deleted.  Every change
    of a registered lock bumps a version counter, so a watcher can wait for
    a state (:meth:`wait_for`) without polling.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._locks: dict[int, SharedLock] = {}
        self._changed = threading.Condition(threading.Lock())
        self._version = 0

    def register(self, lock: SharedLock) -> None:
        with self._mutex:
            self._locks[id(lock)] = lock
        self.changed()

    def unregister(self, lock: SharedLock) -> None:
        with self._mutex:
            self._locks.pop(id(lock), None)
        self.changed()

    def changed(self) -> None:
        """Called by the locks after each state change."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def query(self) -> list[LockInfo]:
        """Snapshots of all live locks, sorted by name."""
        # Copy under our mutex, then ask each lock without holding it: a
        # lock reports changes to us while holding its own mutex, so taking
        # both here in the other order could deadlock.
        with self._mutex:
            locks = list(self._locks.values())
        infos = [info for info in (lock.snapshot() for lock in locks)
                 if info is not None]
        infos.sort(key=lambda info: info["name"])
        return infos

    def wait_for(self, predicate: Callable[[], bool],
                 timeout: float | None = None,
                 clock: Clock = time.monotonic) -> bool:
        """Wait until ``predicate()`` is true; False if the timeout passed.

        The predicate is evaluated without any monitor lock held, after
        each change of a registered lock.
        """
        deadline = Deadline(timeout, clock)
        while True:
            with self._changed:
                seen = self._version
            if predicate():
                return True
            with self._changed:
                while self._version == seen:
                    remaining = deadline.remaining()
                    if remaining is not None and remaining <= 0:
                        break
                    self._changed.wait(remaining)
                timed_out = self._version == seen
            if timed_out:
                # One last look, outside our condition's lock.
                return predicate()


# --- The lock -----------------------------------------------------------------

#: The priority of an acquire that does not give one (Ganeti's
#: ``OP_PRIO_DEFAULT``); lower values are served first, like nice values.
PRIO_DEFAULT: Final = 0


class _WaitGroup:
    """One queue entry: a single exclusive waiter, or a group of sharers
    of one priority."""

    __slots__ = ("cond", "priority", "shared", "waiters")

    def __init__(self, shared: bool, priority: int,
                 mutex: threading.Lock) -> None:
        self.shared = shared
        self.priority = priority
        self.cond = threading.Condition(mutex)
        self.waiters: list[threading.Thread] = []


class SharedLock:
    """A lock held by one exclusive owner or by any number of sharers.

    Pending acquires wait in one queue ordered by priority (lower values
    first, as job priorities), oldest first within a priority.  Each
    exclusive acquire is its own entry.  Shared acquires gather in the
    *open* shared entry of their priority: the newest shared entry of that
    priority that has not yet been woken.  A shared acquire therefore joins
    sharers queued before it even if exclusive acquires of the same
    priority queued in between (shared work is parallelized), but once an
    entry has been woken it is closed, and later sharers queue behind
    every waiting exclusive acquire of their priority.  Within a priority
    an exclusive waiter waits for at most the entries ahead of it, each
    finite; a stream of higher-priority acquires may overtake it, as in
    Ganeti.

    Only the entry at the head of the queue may take the lock.
    """

    def __init__(self, name: str, *, monitor: LockMonitor | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._monitor = monitor
        self._mutex = threading.Lock()
        self._exclusive: threading.Thread | None = None
        self._sharers: set[threading.Thread] = set()
        self._queue: list[_WaitGroup] = []
        self._open_shared: dict[int, _WaitGroup] = {}  # priority -> entry
        self._deleted = False
        if monitor is not None:
            monitor.register(self)

    def __repr__(self) -> str:
        return f"<SharedLock {self.name}>"

    # -- public API --

    def acquire(self, shared: bool = False, timeout: float | None = None,
                priority: int = PRIO_DEFAULT) -> bool:
        """Take the lock; True on success, False if ``timeout`` passed first.

        While the lock is contended, waiters of a lower ``priority`` value
        get it first.  On False nothing is held and the caller has left
        the queue.
        Raises :class:`errors.LockError` if the lock is or gets deleted,
        :class:`errors.ProgrammerError` if the caller holds it already.
        """
        me = threading.current_thread()
        deadline = Deadline(timeout, self._clock)
        with self._mutex:
            return self._acquire_locked(me, shared, deadline, priority)

    def release(self) -> None:
        """Give the lock up; the head of the queue gets its turn."""
        me = threading.current_thread()
        with self._mutex:
            if self._exclusive is me:
                self._exclusive = None
            elif me in self._sharers:
                self._sharers.remove(me)
            else:
                raise errors.ProgrammerError(
                    f"lock {self.name} is not held by {owner_name(me)}")
            self._wake_head()
            self._changed()

    def downgrade(self) -> None:
        """Turn the caller's exclusive hold into a shared one."""
        me = threading.current_thread()
        with self._mutex:
            if self._exclusive is not me:
                raise errors.ProgrammerError(
                    f"lock {self.name} is not held exclusively by"
                    f" {owner_name(me)}")
            self._exclusive = None
            self._sharers.add(me)
            self._wake_head()
            self._changed()

    def delete(self, timeout: float | None = None) -> bool:
        """Delete the lock, taking it exclusively first if not yet held.

        Returns False if it could not be taken within ``timeout`` (nothing
        changed).  After a deletion every waiter and every later acquire
        gets :class:`errors.LockError`, and nobody holds the lock.  Deleting
        a lock held shared by the caller is a :class:`ProgrammerError`.
        """
        me = threading.current_thread()
        deadline = Deadline(timeout, self._clock)
        with self._mutex:
            self._check_deleted()
            if me in self._sharers:
                raise errors.ProgrammerError(
                    f"lock {self.name} is held shared by {owner_name(me)};"
                    " only an exclusive owner may delete it")
            if self._exclusive is not me and not self._acquire_locked(
                    me, False, deadline, PRIO_DEFAULT):
                return False
            self._deleted = True
            self._exclusive = None
            self._open_shared.clear()
            for group in self._queue:
                group.cond.notify_all()
        if self._monitor is not None:
            self._monitor.unregister(self)
        return True

    def is_owned(self, shared: bool | None = None) -> bool:
        """Does the caller hold the lock (in the given mode; None: any)?"""
        me = threading.current_thread()
        with self._mutex:
            if shared is None:
                return self._exclusive is me or me in self._sharers
            if shared:
                return me in self._sharers
            return self._exclusive is me

    @property
    def deleted(self) -> bool:
        with self._mutex:
            return self._deleted

    def info(self) -> LockInfo:
        """Holders and queue of the lock, with owner names."""
        with self._mutex:
            return self._info_locked()

    def snapshot(self) -> LockInfo | None:
        """Like :meth:`info`, but None once deleted (for the monitor)."""
        with self._mutex:
            return None if self._deleted else self._info_locked()

    # -- internals; all run with self._mutex held --

    def _acquire_locked(self, me: threading.Thread, shared: bool,
                        deadline: Deadline, priority: int) -> bool:
        self._check_deleted()
        if self._exclusive is me or me in self._sharers:
            raise errors.ProgrammerError(
                f"lock {self.name} is already held by {owner_name(me)}")
        if not self._queue and self._grantable(shared):
            self._grant(me, shared)
            return True
        group = self._join_queue(me, shared, priority)
        try:
            while True:
                self._check_deleted()
                if self._queue[0] is group and self._grantable(shared):
                    self._grant(me, shared)
                    return True
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    return False
                group.cond.wait(remaining)
        finally:
            self._leave_queue(me, group)

    def _grantable(self, shared: bool) -> bool:
        if self._exclusive is not None:
            return False
        return shared or not self._sharers

    def _grant(self, me: threading.Thread, shared: bool) -> None:
        if shared:
            self._sharers.add(me)
        else:
            self._exclusive = me
        self._changed()

    def _join_queue(self, me: threading.Thread, shared: bool,
                    priority: int) -> _WaitGroup:
        group = self._open_shared.get(priority) if shared else None
        if group is None:
            group = _WaitGroup(shared, priority, self._mutex)
            # Behind every entry of the same or a more urgent priority.
            pos = len(self._queue)
            while pos > 0 and self._queue[pos - 1].priority > priority:
                pos -= 1
            self._queue.insert(pos, group)
            if shared:
                self._open_shared[priority] = group
        group.waiters.append(me)
        self._changed()
        return group

    def _leave_queue(self, me: threading.Thread, group: _WaitGroup) -> None:
        group.waiters.remove(me)
        if not group.waiters:
            self._queue.remove(group)
            self._close_shared(group)
            self._wake_head()
        self._changed()

    def _wake_head(self) -> None:
        """Notify the head entry if it can take the lock now.

        Waking a shared entry closes it: later sharers queue behind the
        exclusive acquires already waiting, which keeps exclusive waiters
        from being starved.
        """
        if not self._queue or self._deleted:
            return
        head = self._queue[0]
        if self._grantable(head.shared):
            self._close_shared(head)
            head.cond.notify_all()

    def _close_shared(self, group: _WaitGroup) -> None:
        if self._open_shared.get(group.priority) is group:
            del self._open_shared[group.priority]

    def _check_deleted(self) -> None:
        if self._deleted:
            raise errors.LockError(f"lock {self.name} deleted")

    def _changed(self) -> None:
        if self._monitor is not None:
            self._monitor.changed()

    def _info_locked(self) -> LockInfo:
        if self._exclusive is not None:
            mode: str | None = MODE_EXCLUSIVE
            owners = [owner_name(self._exclusive)]
        elif self._sharers:
            mode = MODE_SHARED
            owners = sorted(owner_name(t) for t in self._sharers)
        else:
            mode = None
            owners = []
        pending = [(MODE_SHARED if g.shared else MODE_EXCLUSIVE,
                    [owner_name(t) for t in g.waiters]) for g in self._queue]
        return LockInfo(name=self.name, mode=mode, owners=owners,
                        pending=pending)
