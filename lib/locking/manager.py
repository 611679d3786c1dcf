"""The leveled lock manager of the master daemon: :class:`GanetiLockManager`.

Four levels, always taken in this order and released in any order that
keeps it (see ``doc/design/locking.rst``):

- ``LEVEL_CLUSTER`` (0): one lock, the BGL.  Every opcode holds it, shared
  (most) or exclusive (those that must run alone).
- ``LEVEL_INSTANCE`` (1): one lock per instance.
- ``LEVEL_NODEGROUP`` (2): one lock per node group (named by its UUID,
  as Ganeti's).
- ``LEVEL_NODE`` (3): one lock per node.

The ordering rules make deadlocks between opcodes impossible: nobody waits
for a level while holding a higher one, and within a level names are taken
in sorted order.  Breaking a rule is a :class:`errors.ProgrammerError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

from ganeti import constants, errors
from ganeti.locking.lockset import LockSet
from ganeti.locking.sharedlock import (
    PRIO_DEFAULT,
    Clock,
    LockInfo,
    LockMonitor,
    owner_name,
)

LEVEL_CLUSTER: Final = constants.LOCK_LEVEL_CLUSTER
LEVEL_INSTANCE: Final = constants.LOCK_LEVEL_INSTANCE
LEVEL_NODEGROUP: Final = constants.LOCK_LEVEL_NODEGROUP
LEVEL_NODE: Final = constants.LOCK_LEVEL_NODE

#: All levels, in acquisition order.
LEVELS: Final = (LEVEL_CLUSTER, LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE)
#: Levels whose names change (instances, groups and nodes come and go).
LEVELS_MOD: Final = (LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE)
LEVEL_NAMES: Final[dict[int, str]] = {
    LEVEL_CLUSTER: "cluster",
    LEVEL_INSTANCE: "instance",
    LEVEL_NODEGROUP: "nodegroup",
    LEVEL_NODE: "node",
}

#: The single lock of the cluster level, the Big Ganeti Lock.
BGL: Final = "BGL"


class GanetiLockManager:
    """All locks of a cluster, by level, with the ordering rules enforced.

    Owners are threads (a job's worker thread owns its opcode's locks);
    :func:`ganeti.locking.set_owner_name` gives them readable names for
    :meth:`info` and :meth:`owner_status`.
    """

    def __init__(self, nodes: Iterable[str] = (), instances: Iterable[str] = (),
                 *, nodegroups: Iterable[str] = (),
                 clock: Clock = time.monotonic) -> None:
        self.monitor = LockMonitor()
        self._sets: dict[int, LockSet] = {
            LEVEL_CLUSTER: LockSet([BGL], LEVEL_NAMES[LEVEL_CLUSTER],
                                   monitor=self.monitor, clock=clock),
            LEVEL_INSTANCE: LockSet(instances, LEVEL_NAMES[LEVEL_INSTANCE],
                                    monitor=self.monitor, clock=clock),
            LEVEL_NODEGROUP: LockSet(nodegroups, LEVEL_NAMES[LEVEL_NODEGROUP],
                                     monitor=self.monitor, clock=clock),
            LEVEL_NODE: LockSet(nodes, LEVEL_NAMES[LEVEL_NODE],
                                monitor=self.monitor, clock=clock),
        }

    # -- queries --

    def names(self, level: int) -> list[str]:
        """The lock names of ``level``, sorted."""
        return self._set(level).names()

    def list_owned(self, level: int) -> set[str]:
        """Names the caller holds at ``level``."""
        return self._set(level).list_owned()

    def is_owned(self, level: int) -> bool:
        """Does the caller hold anything at ``level``?"""
        return self._set(level).is_owned()

    def owning_all(self, level: int) -> bool:
        """Does the caller hold the whole of ``level`` (its set-level lock)?"""
        return self._set(level).owning_all()

    def is_owned_name(self, level: int, name: str,
                      shared: bool | None = None) -> bool:
        """Does the caller hold lock ``name`` of ``level`` (in that mode)?"""
        return self._set(level).is_owned_name(name, shared)

    def info(self) -> list[LockInfo]:
        """Every live lock, sorted by name: what ``gnt-debug locks`` shows."""
        return self.monitor.query()

    def owner_status(self, owner: str) -> str | None:
        """What ``owner`` waits for and holds, for a job's ``lock_status``.

        E.g. ``"waiting for node/node2 (exclusive); holding cluster/BGL
        (shared), instance/inst1 (exclusive)"``; None if it has no locks
        and waits for none.
        """
        waiting: list[str] = []
        holding: list[str] = []
        for lock in self.info():
            if owner in lock["owners"]:
                holding.append(f"{lock['name']} ({lock['mode']})")
            for mode, waiters in lock["pending"]:
                if owner in waiters:
                    waiting.append(f"{lock['name']} ({mode})")
        parts = []
        if waiting:
            parts.append("waiting for " + ", ".join(waiting))
        if holding:
            parts.append("holding " + ", ".join(holding))
        return "; ".join(parts) or None

    # -- acquire / release --

    def acquire(self, level: int, names: Iterable[str] | str | None,
                shared: bool = False, timeout: float | None = None,
                priority: int = PRIO_DEFAULT) -> set[str] | None:
        """Acquire ``names`` of ``level`` (None: all of them); contended
        locks go to the waiter with the lowest ``priority`` value first.

        Returns the names acquired, or None if ``timeout`` passed (then
        nothing is held at this level).  The BGL must be held before any
        other level, no higher level may be held, and this level must not
        be held yet: otherwise :class:`errors.ProgrammerError`.
        """
        lockset = self._set(level)
        self._check_order(level, "acquire")
        if lockset.is_owned():
            raise errors.ProgrammerError(
                f"{owner_name()} already holds {LEVEL_NAMES[level]} locks;"
                " release them before acquiring more")
        if isinstance(names, str):
            names = [names]
        elif names is None and level == LEVEL_CLUSTER:
            # The level never changes, so "all" is just the BGL; its
            # set-level lock is left alone.
            names = [BGL]
        return lockset.acquire(names, shared=shared, timeout=timeout,
                               priority=priority)

    def release(self, level: int, names: Iterable[str] | None = None) -> None:
        """Release ``names`` of ``level`` (None: all the caller holds there).

        The BGL may only be released once no other level is held.
        """
        lockset = self._set(level)
        if level == LEVEL_CLUSTER:
            held = self._held_above(level)
            if held:
                raise errors.ProgrammerError(
                    f"{owner_name()} cannot release the BGL while holding"
                    f" {', '.join(held)} locks")
        lockset.release(names)

    # -- membership --

    def add(self, level: int, names: Iterable[str], acquired: bool = False,
            shared: bool = False) -> None:
        """Add locks to ``level`` (instances or nodes), optionally held.

        Adding is a kind of acquire: the BGL must be held and no higher
        level.  At ``level`` itself the caller must hold nothing, or the
        whole level exclusively; so waiting for the set-level lock can
        only wait for owners of the whole level, never in a cycle.
        """
        lockset = self._modifiable(level, "add to")
        self._check_order(level, "add to")
        if lockset.is_owned() and not lockset.owning_all(shared=False):
            raise errors.ProgrammerError(
                f"{owner_name()} holds some {LEVEL_NAMES[level]} locks;"
                " adding needs none, or the whole level exclusively")
        lockset.add(names, acquired=acquired, shared=shared)

    def remove(self, level: int, names: Iterable[str]) -> list[str]:
        """Remove locks from ``level``; returns the names removed.

        The caller must hold each name exclusively, or hold the BGL
        exclusively (then nobody else holds any lock, and names not yet
        held are taken on the way).  Missing names are skipped.
        """
        lockset = self._modifiable(level, "remove from")
        names = list(names)
        if not self._set(LEVEL_CLUSTER).is_owned_name(BGL, shared=False):
            self._check_order(level, "remove from")
            present = set(lockset.names())
            not_held = [n for n in names if n in present
                        and not lockset.is_owned_name(n, shared=False)]
            if not_held:
                raise errors.ProgrammerError(
                    f"{owner_name()} must hold {LEVEL_NAMES[level]} lock(s)"
                    f" {', '.join(sorted(not_held))} exclusively (or the BGL"
                    " exclusively) to remove them")
        return lockset.remove(names)

    # -- helpers --

    def _set(self, level: int) -> LockSet:
        try:
            return self._sets[level]
        except KeyError:
            raise errors.ProgrammerError(
                f"invalid lock level {level!r}") from None

    def _modifiable(self, level: int, verb: str) -> LockSet:
        lockset = self._set(level)
        if level not in LEVELS_MOD:
            raise errors.ProgrammerError(
                f"cannot {verb} the {LEVEL_NAMES[level]} level")
        return lockset

    def _held_above(self, level: int) -> list[str]:
        return [LEVEL_NAMES[other] for other in LEVELS
                if other > level and self._sets[other].is_owned()]

    def _check_order(self, level: int, verb: str) -> None:
        if level != LEVEL_CLUSTER and not self._sets[LEVEL_CLUSTER].is_owned():
            raise errors.ProgrammerError(
                f"{owner_name()} must hold the BGL before it may {verb}"
                f" {LEVEL_NAMES[level]} locks")
        held = self._held_above(level)
        if held:
            raise errors.ProgrammerError(
                f"{owner_name()} holds {', '.join(held)} locks and may not"
                f" {verb} {LEVEL_NAMES[level]} locks (wrong level order)")

