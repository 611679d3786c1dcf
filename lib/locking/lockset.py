"""A named set of :class:`SharedLock` s: :class:`LockSet`.

Names are taken in sorted order, all or nothing.  Besides one lock per
name, the set has a *set-level lock* that stands for "the whole set":
whoever acquires all names (``names=None``) holds it first, and adding
names needs it exclusively, so the set cannot grow under someone who
believes they own all of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from ganeti import errors
from ganeti.locking.sharedlock import (
    PRIO_DEFAULT,
    Clock,
    Deadline,
    LockInfo,
    LockMonitor,
    SharedLock,
    owner_name,
)

#: Name (after ``<set>/``) of the set-level lock in listings.
SET_LOCK_NAME = "[lockset]"


class LockSet:
    """Locks for a changing set of names (all instances, all nodes...)."""

    def __init__(self, names: Iterable[str], name: str, *,
                 monitor: LockMonitor | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.name = name
        self._monitor = monitor
        self._clock = clock
        self._set_lock = SharedLock(f"{name}/{SET_LOCK_NAME}",
                                    monitor=monitor, clock=clock)
        # Guards _locks and _owned; never held while waiting for a lock.
        self._mutex = threading.Lock()
        self._locks: dict[str, SharedLock] = {}
        self._owned: dict[threading.Thread, set[str]] = {}
        for item in names:
            if item in self._locks:
                raise errors.ProgrammerError(
                    f"duplicate name {item!r} in lock set {name}")
            self._locks[item] = self._new_lock(item)

    def __repr__(self) -> str:
        return f"<LockSet {self.name}>"

    # -- queries --

    def names(self) -> list[str]:
        """The current names, sorted."""
        with self._mutex:
            return sorted(self._locks)

    def list_owned(self) -> set[str]:
        """Names the caller holds in this set."""
        me = threading.current_thread()
        with self._mutex:
            return set(self._owned.get(me, ()))

    def is_owned(self) -> bool:
        """Does the caller hold anything in this set (a name or the set)?"""
        return bool(self.list_owned()) or self._set_lock.is_owned()

    def owning_all(self, shared: bool | None = None) -> bool:
        """Does the caller hold the set-level lock (in the given mode)?"""
        return self._set_lock.is_owned(shared)

    def is_owned_name(self, name: str, shared: bool | None = None) -> bool:
        """Does the caller hold ``name`` (in the given mode)?"""
        with self._mutex:
            lock = self._locks.get(name)
        return lock is not None and lock.is_owned(shared)

    def info(self) -> list[LockInfo]:
        """The set-level lock, then every member, sorted by name."""
        with self._mutex:
            locks = [self._locks[n] for n in sorted(self._locks)]
        return [self._set_lock.info()] + [lock.info() for lock in locks]

    # -- acquire / release --

    def acquire(self, names: Iterable[str] | None = None, shared: bool = False,
                timeout: float | None = None,
                priority: int = PRIO_DEFAULT) -> set[str] | None:
        """Acquire ``names`` (None: the whole set) in sorted order, each
        lock waited for with ``priority`` (see :meth:`SharedLock.acquire`).

        One timeout covers the whole call.  Returns the names acquired, or
        None when the timeout passed; then nothing in the set is held.
        Naming a missing lock, or one deleted while waited on, raises
        :class:`errors.LockError` after releasing what was taken.  When
        acquiring the whole set, members removed meanwhile are skipped.
        """
        me = threading.current_thread()
        if self.is_owned():
            raise errors.ProgrammerError(
                f"{owner_name(me)} already holds locks in set {self.name}")
        deadline = Deadline(timeout, self._clock)
        if names is not None:
            wanted = sorted(set(names))
            with self._mutex:
                missing = [n for n in wanted if n not in self._locks]
            if missing:
                raise errors.LockError(
                    f"no such lock(s) in set {self.name}: {', '.join(missing)}",
                    errors.ErrorCode.NOENT)
            return self._acquire_members(me, wanted, shared, deadline,
                                         priority, whole_set=False)
        if not self._set_lock.acquire(shared, deadline.remaining(), priority):
            return None
        try:
            got = self._acquire_members(me, self.names(), shared, deadline,
                                        priority, whole_set=True)
        except BaseException:
            self._set_lock.release()
            raise
        if got is None:
            self._set_lock.release()
        return got

    def _acquire_members(self, me: threading.Thread, wanted: list[str],
                         shared: bool, deadline: Deadline, priority: int,
                         whole_set: bool) -> set[str] | None:
        taken: list[str] = []
        try:
            for item in wanted:
                with self._mutex:
                    lock = self._locks.get(item)
                if lock is None:
                    if whole_set:
                        continue
                    raise errors.LockError(
                        f"lock {self.name}/{item} not found",
                        errors.ErrorCode.NOENT)
                try:
                    ok = lock.acquire(shared, deadline.remaining(), priority)
                except errors.LockError:
                    if whole_set:
                        continue  # removed meanwhile: no longer a member
                    raise
                if not ok:
                    self._release_members(me, taken)
                    return None
                taken.append(item)
                with self._mutex:
                    self._owned.setdefault(me, set()).add(item)
        except BaseException:
            self._release_members(me, taken)
            raise
        return set(taken)

    def release(self, names: Iterable[str] | None = None) -> None:
        """Release ``names`` (None: everything the caller holds here).

        Releasing only some names also gives up the set-level lock: the
        caller no longer owns the whole set.
        """
        me = threading.current_thread()
        with self._mutex:
            owned = set(self._owned.get(me, ()))
        if names is None:
            to_release = owned
        else:
            to_release = set(names)
            if not to_release <= owned:
                raise errors.ProgrammerError(
                    f"{owner_name(me)} releases locks it does not hold in"
                    f" set {self.name}: {', '.join(sorted(to_release - owned))}")
        self._release_members(me, sorted(to_release))
        if self._set_lock.is_owned():
            self._set_lock.release()

    def _release_members(self, me: threading.Thread, names: list[str]) -> None:
        for item in names:
            with self._mutex:
                lock = self._locks[item]
                mine = self._owned.get(me)
                if mine is not None:
                    mine.discard(item)
                    if not mine:
                        del self._owned[me]
            lock.release()

    # -- membership --

    def add(self, names: Iterable[str], acquired: bool = False,
            shared: bool = False) -> None:
        """Add new names; with ``acquired`` the caller holds them at once.

        Waits for the set-level lock exclusively (unless the caller holds
        it exclusively already), i.e. until nobody owns the whole set.  A
        caller owning the whole set gets the new names too, exclusively,
        whatever ``acquired`` says, so that it still owns the whole set.
        An existing name raises :class:`errors.LockError`; nothing is added.
        """
        me = threading.current_thread()
        new = list(dict.fromkeys(names))
        if self._set_lock.is_owned(shared=True):
            raise errors.ProgrammerError(
                f"{owner_name(me)} holds set {self.name} shared and cannot"
                " add to it")
        owns_set = self._set_lock.is_owned(shared=False)
        if not owns_set:
            self._set_lock.acquire(shared=False)
        try:
            with self._mutex:
                existing = [n for n in new if n in self._locks]
                if existing:
                    raise errors.LockError(
                        f"lock(s) already in set {self.name}:"
                        f" {', '.join(existing)}", errors.ErrorCode.EXISTS)
                for item in new:
                    lock = self._new_lock(item)
                    if acquired or owns_set:
                        # A new lock is free: this never waits.
                        lock.acquire(shared=shared and not owns_set)
                        self._owned.setdefault(me, set()).add(item)
                    self._locks[item] = lock
        finally:
            if not owns_set:
                self._set_lock.release()

    def remove(self, names: Iterable[str]) -> list[str]:
        """Delete the locks of ``names``; returns the names removed.

        A name the caller holds must be held exclusively; one it does not
        hold is first acquired exclusively (waiting as long as needed).
        Names missing, or removed by someone else meanwhile, are skipped.
        """
        me = threading.current_thread()
        wanted = sorted(set(names))
        with self._mutex:
            targets = [(n, self._locks[n]) for n in wanted if n in self._locks]
        shared_held = [n for n, lock in targets if lock.is_owned(shared=True)]
        if shared_held:
            raise errors.ProgrammerError(
                f"{owner_name(me)} holds lock(s) {', '.join(shared_held)} of"
                f" set {self.name} shared and cannot remove them")
        removed: list[str] = []
        for item, lock in targets:
            try:
                if not lock.delete():
                    continue
            except errors.LockError:
                continue  # somebody else removed it first
            with self._mutex:
                if self._locks.get(item) is lock:
                    del self._locks[item]
                mine = self._owned.get(me)
                if mine is not None:
                    mine.discard(item)
                    if not mine:
                        del self._owned[me]
            removed.append(item)
        return removed

    def _new_lock(self, item: str) -> SharedLock:
        return SharedLock(f"{self.name}/{item}", monitor=self._monitor,
                          clock=self._clock)
