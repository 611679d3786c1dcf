"""A Hypothesis state machine over GanetiLockManager.

A few simulated job owners, each a dedicated worker thread (locks belong
to threads), acquire, release, add and remove locks at the three levels.
Every command runs to completion before the next one, so no acquire is
left waiting; conflicting acquires use zero or tiny timeouts and must fail
cleanly.  A model of who holds what predicts every outcome, and after each
step the lock listings must agree with it:

- never two exclusive holders of a lock, never exclusive and shared;
- nobody holds instance or node locks without the BGL;
- a failed acquire leaves nothing held at that level;
- at the end every owner can release everything (no deadlock).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
)
from testkit import WAIT

from ganeti import errors
from ganeti.locking import (
    BGL,
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NAMES,
    LEVEL_NODE,
    LEVEL_NODEGROUP,
    LEVELS,
    SET_LOCK_NAME,
    GanetiLockManager,
    set_owner_name,
)

BOUND = WAIT
OWNERS = ("job 1", "job 2", "job 3")
INSTANCES = ("inst1", "inst2", "inst3")
NODES = ("node1", "node2", "node3")
GROUPS = ("group-a", "group-b")
TIMEOUTS = st.sampled_from([0.0, 0.001])


class OwnerThread:
    """Runs the calls sent to it in its own thread, one at a time."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None]
        self._calls = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(name,),
                                        name=name, daemon=True)
        self._thread.start()

    def _run(self, name: str) -> None:
        set_owner_name(name)
        while (item := self._calls.get()) is not None:
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as err:  # handed to the test thread
                fut.set_exception(err)

    def call(self, fn: Callable[[], Any]) -> Any:
        fut: Future[Any] = Future()
        self._calls.put((fn, fut))
        return fut.result(BOUND)

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join(BOUND)


@dataclass
class Held:
    """What one owner holds at one level, in the model."""

    names: set[str]
    shared: bool
    whole: bool  # holds the level's set-level lock


class LockManagerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mgr = GanetiLockManager(nodes=NODES, instances=INSTANCES,
                                     nodegroups=GROUPS)
        self.threads = {name: OwnerThread(name) for name in OWNERS}
        self.held: dict[str, dict[int, Held]] = {o: {} for o in OWNERS}
        self.names: dict[int, set[str]] = {
            LEVEL_CLUSTER: {BGL},
            LEVEL_INSTANCE: set(INSTANCES),
            LEVEL_NODEGROUP: set(GROUPS),
            LEVEL_NODE: set(NODES),
        }
        self.counter = 0

    # -- model helpers --

    def run(self, owner: str, fn: Callable[[], Any]) -> Any:
        return self.threads[owner].call(fn)

    def order_ok(self, owner: str, level: int) -> bool:
        mine = self.held[owner]
        if level != LEVEL_CLUSTER and LEVEL_CLUSTER not in mine:
            return False
        return not any(other > level for other in mine)

    def bgl_exclusive(self, owner: str) -> bool:
        held = self.held[owner].get(LEVEL_CLUSTER)
        return held is not None and not held.shared

    def conflicts(self, owner: str, level: int, wanted: set[str],
                  whole: bool, shared: bool) -> bool:
        for other in OWNERS:
            theirs = self.held[other].get(level)
            if other == owner or theirs is None:
                continue
            compatible = shared and theirs.shared
            if not compatible and (theirs.names & wanted
                                   or (whole and theirs.whole)):
                return True
        return False

    # -- rules --

    @rule(data=st.data(), owner=st.sampled_from(OWNERS),
          level=st.sampled_from(LEVELS), shared=st.booleans(),
          timeout=TIMEOUTS)
    def acquire(self, data: st.DataObject, owner: str, level: int,
                shared: bool, timeout: float) -> None:
        present = sorted(self.names[level])
        whole = level != LEVEL_CLUSTER and data.draw(st.booleans(), "whole")
        names: list[str] | None = None
        if not whole:
            names = data.draw(st.lists(st.sampled_from(present), unique=True),
                              "names") if present else []
        valid = self.order_ok(owner, level) and level not in self.held[owner]

        def go() -> Any:
            return self.mgr.acquire(level, names, shared=shared,
                                    timeout=timeout)

        if not valid:
            with pytest.raises(errors.ProgrammerError):
                self.run(owner, go)
            return
        wanted = set(present) if names is None else set(names)
        got = self.run(owner, go)
        if self.conflicts(owner, level, wanted, whole, shared):
            assert got is None
            assert not self.run(owner, lambda: self.mgr.is_owned(level))
        else:
            assert got == wanted
            if wanted or whole:  # an empty list acquires nothing
                self.held[owner][level] = Held(wanted, shared, whole)

    @rule(data=st.data(), owner=st.sampled_from(OWNERS),
          level=st.sampled_from(LEVELS))
    def release(self, data: st.DataObject, owner: str, level: int) -> None:
        held = self.held[owner].get(level)
        partial = held is not None and data.draw(st.booleans(), "partial")
        names = (data.draw(st.lists(st.sampled_from(sorted(held.names)),
                                    unique=True), "names")
                 if partial and held is not None and held.names else None)
        if partial and names is None:
            names = []

        def go() -> Any:
            return self.mgr.release(level, names)

        if level == LEVEL_CLUSTER and any(
                other > level for other in self.held[owner]):
            with pytest.raises(errors.ProgrammerError):
                self.run(owner, go)
            return
        self.run(owner, go)
        if held is None:
            return
        if names is None:
            del self.held[owner][level]
            return
        held.names -= set(names)
        held.whole = False
        if not held.names:
            del self.held[owner][level]

    @rule(owner=st.sampled_from(OWNERS),
          level=st.sampled_from((LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE)),
          acquired=st.booleans(), shared=st.booleans())
    def add(self, owner: str, level: int, acquired: bool,
            shared: bool) -> None:
        self.counter += 1
        new = f"new{self.counter}"
        mine = self.held[owner].get(level)
        valid = self.order_ok(owner, level) and (
            mine is None or (mine.whole and not mine.shared))
        if valid and any(self.held[o].get(level) is not None
                         and self.held[o][level].whole
                         for o in OWNERS if o != owner):
            return  # would wait for another owner of the whole level

        def go() -> Any:
            return self.mgr.add(level, [new], acquired=acquired, shared=shared)

        if not valid:
            with pytest.raises(errors.ProgrammerError):
                self.run(owner, go)
            return
        self.run(owner, go)
        self.names[level].add(new)
        if mine is not None:
            mine.names.add(new)
        elif acquired:
            self.held[owner][level] = Held({new}, shared, False)

    @rule(data=st.data(), owner=st.sampled_from(OWNERS),
          level=st.sampled_from((LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE)))
    def remove(self, data: st.DataObject, owner: str, level: int) -> None:
        candidates = [*sorted(self.names[level]), "missing"]
        names = data.draw(st.lists(st.sampled_from(candidates), unique=True,
                                   min_size=1), "names")
        present = set(names) & self.names[level]
        mine = self.held[owner].get(level)
        held_excl = (mine is not None and not mine.shared
                     and present <= mine.names)
        valid = self.bgl_exclusive(owner) or (
            self.order_ok(owner, level) and (not present or held_excl))

        def go() -> Any:
            return self.mgr.remove(level, names)

        if not valid:
            with pytest.raises(errors.ProgrammerError):
                self.run(owner, go)
            return
        if mine is not None and mine.shared and present & mine.names:
            with pytest.raises(errors.ProgrammerError):
                self.run(owner, go)
            return
        assert self.run(owner, go) == sorted(present)
        self.names[level] -= present
        if mine is not None:
            mine.names -= present
            if not mine.names and not mine.whole:
                del self.held[owner][level]

    # -- invariants --

    @invariant()
    def listings_agree_with_model(self) -> None:
        infos = self.mgr.info()
        bgl_owners: set[str] = set()
        for info in infos:
            assert info["pending"] == [], info  # nothing is left waiting
            owners = info["owners"]
            if info["mode"] == "exclusive":
                assert len(owners) == 1, info
            elif info["mode"] == "shared":
                assert owners, info
            else:
                assert owners == [], info
            if info["name"] == f"cluster/{BGL}":
                bgl_owners = set(owners)
        for info in infos:
            set_name, _, item = info["name"].partition("/")
            level = next(lv for lv, n in LEVEL_NAMES.items() if n == set_name)
            expected: dict[str, bool] = {}
            for owner in OWNERS:
                held = self.held[owner].get(level)
                if held is None:
                    continue
                if (held.whole if item == SET_LOCK_NAME
                        else item in held.names):
                    expected[owner] = held.shared
            assert set(info["owners"]) == set(expected), (info, self.held)
            if expected:
                mode = "shared" if all(expected.values()) else "exclusive"
                assert info["mode"] == mode, (info, self.held)
            if level != LEVEL_CLUSTER:
                # Level order: holders below the BGL hold the BGL too.
                assert set(info["owners"]) <= bgl_owners, info
        listed = {i["name"] for i in infos}
        for level, names in self.names.items():
            for item in names:
                assert f"{LEVEL_NAMES[level]}/{item}" in listed

    def teardown(self) -> None:
        try:
            for owner in OWNERS:
                for level in sorted(self.held[owner], reverse=True):
                    self.run(owner, functools.partial(self.mgr.release, level))
                for level in LEVELS:
                    assert not self.run(
                        owner, functools.partial(self.mgr.is_owned, level))
            assert all(i["owners"] == [] and i["pending"] == []
                       for i in self.mgr.info())
            # Released everything: anyone can now take the whole cluster.
            first = OWNERS[0]
            assert self.run(first, lambda: self.mgr.acquire(
                LEVEL_CLUSTER, None, timeout=0)) == {BGL}
            for level in (LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE):
                assert self.run(first, functools.partial(
                    self.mgr.acquire, level, None, timeout=0)) == self.names[level]
            for level in (LEVEL_NODE, LEVEL_NODEGROUP, LEVEL_INSTANCE,
                          LEVEL_CLUSTER):
                self.run(first, functools.partial(self.mgr.release, level))
        finally:
            for thread in self.threads.values():
                thread.stop()


LockManagerMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestLockManagerMachine = LockManagerMachine.TestCase

