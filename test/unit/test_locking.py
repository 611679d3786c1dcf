"""Unit tests of ganeti.locking: SharedLock, LockSet, the lock manager and
the retry strategy.

Lock owners are threads, so each simulated owner is a worker thread that
runs the calls sent to it.  Tests never sleep: they wait for lock states
through LockMonitor.wait_for (woken by every lock change) and for results
through futures, always with a bound.
"""

from __future__ import annotations

import functools
import itertools
import os
import queue
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from testkit import WAIT, FakeClock

from ganeti import errors
from ganeti.locking import (
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NODE,
    GanetiLockManager,
    LockAttemptTimeoutStrategy,
    LockMonitor,
    LockSet,
    SharedLock,
    acquire_with_retries,
    owner_name,
    set_owner_name,
)

BOUND = WAIT  # upper bound for any wait; never reached when tests pass


class Owner:
    """A named thread running the calls submitted to it, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None]
        self._calls = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        set_owner_name(self.name)
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as err:  # handed to the test thread
                fut.set_exception(err)

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        fut: Future[Any] = Future()
        self._calls.put((fn, fut))
        return fut

    def call(self, fn: Callable[[], Any]) -> Any:
        return self.submit(fn).result(BOUND)

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join(BOUND)
        assert not self._thread.is_alive()


@pytest.fixture
def owners() -> Iterator[Callable[[str], Owner]]:
    started: list[Owner] = []

    def make(name: str) -> Owner:
        owner = Owner(name)
        started.append(owner)
        return owner

    yield make
    for owner in started:
        owner.stop()


@pytest.fixture
def monitor() -> LockMonitor:
    return LockMonitor()


def wait_pending(monitor: LockMonitor, lock: SharedLock,
                 pending: list[tuple[str, list[str]]]) -> None:
    assert monitor.wait_for(lambda: lock.info()["pending"] == pending, BOUND), \
        lock.info()


# --- SharedLock ---------------------------------------------------------------

def test_shared_holders_coexist(owners: Callable[[str], Owner]) -> None:
    lock = SharedLock("l")
    a, b = owners("A"), owners("B")
    assert a.call(lambda: lock.acquire(shared=True))
    assert b.call(lambda: lock.acquire(shared=True, timeout=0))
    assert dict(lock.info()) == {"name": "l", "mode": "shared",
                           "owners": ["A", "B"], "pending": []}
    assert a.call(lambda: lock.is_owned(shared=True))
    assert not a.call(lambda: lock.is_owned(shared=False))
    a.call(lock.release)
    b.call(lock.release)
    assert lock.info()["mode"] is None


def test_exclusive_excludes_everyone(owners: Callable[[str], Owner]) -> None:
    lock = SharedLock("l")
    a, b = owners("A"), owners("B")
    assert a.call(lock.acquire)
    assert not b.call(lambda: lock.acquire(timeout=0))
    assert not b.call(lambda: lock.acquire(shared=True, timeout=0))
    assert dict(lock.info()) == {"name": "l", "mode": "exclusive", "owners": ["A"],
                           "pending": []}
    assert not b.call(lock.is_owned)


def test_waiter_gets_lock_on_release(owners: Callable[[str], Owner],
                                     monitor: LockMonitor) -> None:
    lock = SharedLock("l", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lock.acquire)
    fut = b.submit(lock.acquire)
    wait_pending(monitor, lock, [("exclusive", ["B"])])
    a.call(lock.release)
    assert fut.result(BOUND) is True
    assert lock.info()["owners"] == ["B"]


def test_exclusive_waiter_not_passed_by_new_sharers(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    lock = SharedLock("l", monitor=monitor)
    a, e, c = owners("A"), owners("E"), owners("C")
    a.call(lambda: lock.acquire(shared=True))
    exclusive = e.submit(lock.acquire)
    wait_pending(monitor, lock, [("exclusive", ["E"])])
    # The lock is only held shared, yet a new sharer queues behind E.
    assert not c.call(lambda: lock.acquire(shared=True, timeout=0))
    assert lock.info()["pending"] == [("exclusive", ["E"])]
    shared = c.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("exclusive", ["E"]), ("shared", ["C"])])
    a.call(lock.release)
    assert exclusive.result(BOUND) is True
    assert not shared.done()
    assert lock.info()["pending"] == [("shared", ["C"])]
    e.call(lock.release)
    assert shared.result(BOUND) is True


def test_sharers_join_the_open_shared_entry(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    """Shared acquires may pass a waiting exclusive acquire only by joining
    a shared entry queued before it that has not been woken yet."""
    lock = SharedLock("l", monitor=monitor)
    x, s1, e, s2, s3 = (owners(n) for n in ("X", "S1", "E", "S2", "S3"))
    x.call(lock.acquire)
    f1 = s1.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("shared", ["S1"])])
    fe = e.submit(lock.acquire)
    wait_pending(monitor, lock, [("shared", ["S1"]), ("exclusive", ["E"])])
    f2 = s2.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock,
                 [("shared", ["S1", "S2"]), ("exclusive", ["E"])])
    x.call(lock.release)
    assert f1.result(BOUND) and f2.result(BOUND)
    assert lock.info()["owners"] == ["S1", "S2"]
    # That entry was woken and is closed: the next sharer waits behind E.
    f3 = s3.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("exclusive", ["E"]), ("shared", ["S3"])])
    s1.call(lock.release)
    s2.call(lock.release)
    assert fe.result(BOUND) is True
    assert not f3.done()
    e.call(lock.release)
    assert f3.result(BOUND) is True


def test_many_sharers_hold_together(owners: Callable[[str], Owner],
                                    monitor: LockMonitor) -> None:
    lock = SharedLock("l", monitor=monitor)
    x = owners("X")
    sharers = [owners(f"S{i}") for i in range(5)]
    x.call(lock.acquire)
    futs = [s.submit(lambda: lock.acquire(shared=True)) for s in sharers]
    names = [s.name for s in sharers]
    assert monitor.wait_for(
        lambda: sorted(itertools.chain.from_iterable(
            w for _, w in lock.info()["pending"])) == names, BOUND)
    assert len(lock.info()["pending"]) == 1  # one shared entry for all
    x.call(lock.release)
    assert all(f.result(BOUND) for f in futs)
    assert lock.info()["owners"] == names


def test_timeout_returns_false_and_leaves_queue(
        owners: Callable[[str], Owner]) -> None:
    lock = SharedLock("l")
    a, b = owners("A"), owners("B")
    a.call(lock.acquire)
    assert b.call(lambda: lock.acquire(timeout=0.01)) is False
    assert b.call(lambda: lock.acquire(shared=True, timeout=0.01)) is False
    assert dict(lock.info()) == {"name": "l", "mode": "exclusive", "owners": ["A"],
                           "pending": []}
    assert not b.call(lock.is_owned)
    a.call(lock.release)
    assert b.call(lambda: lock.acquire(timeout=0))


def test_timeout_is_measured_by_the_injected_clock(
        owners: Callable[[str], Owner]) -> None:
    ticks = itertools.count(0.0, 100.0)  # every reading is 100 s later
    lock = SharedLock("l", clock=lambda: next(ticks))
    a, b = owners("A"), owners("B")
    a.call(lock.acquire)
    # A 10 s timeout has passed by the first look at the clock: no wait.
    assert b.call(lambda: lock.acquire(timeout=10.0)) is False
    assert lock.info()["pending"] == []


def test_head_timeout_lets_sharers_behind_it_through(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    clock = FakeClock()
    lock = SharedLock("l", monitor=monitor, clock=clock.time)
    a, e, c = owners("A"), owners("E"), owners("C")
    a.call(lambda: lock.acquire(shared=True))
    # E's timeout runs on the fake clock: E wakes every 0.05 s of real
    # time to look at it, and it stands still until C has queued behind E.
    fe = e.submit(lambda: lock.acquire(timeout=0.05))
    wait_pending(monitor, lock, [("exclusive", ["E"])])
    fc = c.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("exclusive", ["E"]), ("shared", ["C"])])
    clock.now += 1.0
    assert fe.result(BOUND) is False
    assert fc.result(BOUND) is True
    assert lock.info()["owners"] == ["A", "C"]


def test_delete_wakes_waiters_with_lock_error(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    lock = SharedLock("inst1", monitor=monitor)
    a, b, c = owners("A"), owners("B"), owners("C")
    a.call(lock.acquire)
    fb = b.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("shared", ["B"])])
    fc = c.submit(lock.acquire)
    wait_pending(monitor, lock, [("shared", ["B"]), ("exclusive", ["C"])])
    assert a.call(lock.delete) is True
    for fut in (fb, fc):
        with pytest.raises(errors.LockError, match="lock inst1 deleted"):
            fut.result(BOUND)
    with pytest.raises(errors.LockError, match="lock inst1 deleted"):
        b.call(lock.acquire)
    assert lock.deleted
    assert not a.call(lock.is_owned)
    assert monitor.query() == []


def test_delete_acquires_first_and_honours_timeout(
        owners: Callable[[str], Owner]) -> None:
    lock = SharedLock("l")
    a, b = owners("A"), owners("B")
    a.call(lambda: lock.acquire(shared=True))
    with pytest.raises(errors.ProgrammerError, match="held shared"):
        a.call(lock.delete)
    assert b.call(lambda: lock.delete(timeout=0)) is False
    assert not lock.deleted
    a.call(lock.release)
    assert b.call(lock.delete) is True
    with pytest.raises(errors.LockError):
        b.call(lock.delete)


def test_downgrade_lets_sharers_in(owners: Callable[[str], Owner],
                                   monitor: LockMonitor) -> None:
    lock = SharedLock("l", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lock.acquire)
    fb = b.submit(lambda: lock.acquire(shared=True))
    wait_pending(monitor, lock, [("shared", ["B"])])
    a.call(lock.downgrade)
    assert fb.result(BOUND) is True
    assert lock.info()["mode"] == "shared"
    assert lock.info()["owners"] == ["A", "B"]
    assert a.call(lambda: lock.is_owned(shared=True))
    with pytest.raises(errors.ProgrammerError):
        a.call(lock.downgrade)


def test_misuse_is_a_programmer_error(owners: Callable[[str], Owner]) -> None:
    lock = SharedLock("l")
    a, b = owners("A"), owners("B")
    with pytest.raises(errors.ProgrammerError, match="not held"):
        a.call(lock.release)
    a.call(lock.acquire)
    with pytest.raises(errors.ProgrammerError, match="already held"):
        a.call(lambda: lock.acquire(shared=True))
    with pytest.raises(errors.ProgrammerError):
        b.call(lock.release)


def test_owner_names_default_to_thread_names(
        owners: Callable[[str], Owner]) -> None:
    a = owners("worker-7")
    assert a.call(owner_name) == "worker-7"

    def rename() -> str:
        set_owner_name("job 42/op 1")
        first = owner_name()
        set_owner_name(None)
        return first + "|" + owner_name()

    # The Owner thread names itself first; clearing falls back to the thread.
    assert a.call(rename) == "job 42/op 1|worker-7"


def test_monitor_wait_for_times_out() -> None:
    mon = LockMonitor()
    ticks = itertools.count(0.0, 1.0)
    assert mon.wait_for(lambda: False, 0.5, clock=lambda: next(ticks)) is False


def test_stress_no_lost_wakeups_and_mutual_exclusion() -> None:
    """Many threads, blocking and timed acquires in both modes: holders
    never overlap wrongly, and every thread finishes (nobody is left
    waiting for a wake-up that never comes)."""
    lock = SharedLock("hot")
    state = {"exclusive": 0, "shared": 0}
    guard = threading.Lock()
    violations: list[str] = []

    def enter(shared: bool) -> None:
        with guard:
            state["shared" if shared else "exclusive"] += 1
            if state["exclusive"] > 1 or (state["exclusive"] and state["shared"]):
                violations.append(repr(state))

    def leave(shared: bool) -> None:
        with guard:
            state["shared" if shared else "exclusive"] -= 1

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            shared = rng.random() < 0.6
            timeout = rng.choice([None, None, 0.0, 0.001])
            if not lock.acquire(shared=shared, timeout=timeout):
                continue
            enter(shared)
            os.sched_yield()  # let the others run (and queue) while we hold
            if not shared and rng.random() < 0.2:
                leave(shared)
                lock.downgrade()
                shared = True
                enter(shared)
                os.sched_yield()
            leave(shared)
            lock.release()

    threads = [threading.Thread(target=worker, args=(seed,), daemon=True)
               for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive(), lock.info()
    assert violations == []
    assert dict(lock.info()) == {"name": "hot", "mode": None, "owners": [],
                                 "pending": []}


# --- LockSet ------------------------------------------------------------------

def test_lockset_acquires_in_sorted_order(owners: Callable[[str], Owner],
                                          monitor: LockMonitor) -> None:
    ls = LockSet(["a", "b", "c"], "inst", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lambda: ls.acquire(["b"]))
    fut = b.submit(lambda: ls.acquire(["c", "b", "a"]))
    # B took "a", now waits for "b", and has not touched "c".
    assert monitor.wait_for(
        lambda: [(i["name"], i["owners"], i["pending"]) for i in ls.info()] == [
            ("inst/[lockset]", [], []),
            ("inst/a", ["B"], []),
            ("inst/b", ["A"], [("exclusive", ["B"])]),
            ("inst/c", [], []),
        ], BOUND), ls.info()
    a.call(ls.release)
    assert fut.result(BOUND) == {"a", "b", "c"}
    assert b.call(ls.list_owned) == {"a", "b", "c"}


def test_lockset_timeout_is_all_or_nothing(
        owners: Callable[[str], Owner]) -> None:
    ls = LockSet(["a", "b", "c"], "inst")
    a, b = owners("A"), owners("B")
    a.call(lambda: ls.acquire(["b"], shared=False))
    assert b.call(lambda: ls.acquire(["a", "b", "c"], timeout=0.01)) is None
    assert b.call(ls.list_owned) == set()
    assert not b.call(ls.is_owned)
    assert b.call(lambda: ls.acquire(None, timeout=0.01)) is None
    assert not b.call(ls.is_owned)
    assert all(i["owners"] == (["A"] if i["name"] == "inst/b" else [])
               for i in ls.info())
    a.call(ls.release)
    assert b.call(lambda: ls.acquire(None, timeout=0)) == {"a", "b", "c"}
    assert b.call(ls.owning_all)


def test_lockset_missing_name_raises(owners: Callable[[str], Owner]) -> None:
    ls = LockSet(["a"], "inst")
    a = owners("A")
    with pytest.raises(errors.LockError, match="zz") as err:
        a.call(lambda: ls.acquire(["a", "zz"]))
    assert err.value.code == errors.ErrorCode.NOENT
    assert not a.call(ls.is_owned)


def test_lockset_member_deleted_while_waiting(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    ls = LockSet(["a", "b", "c"], "inst", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lambda: ls.acquire(["b"]))
    fut = b.submit(lambda: ls.acquire(["a", "b"], shared=True))
    assert monitor.wait_for(
        lambda: ls.info()[2]["pending"] == [("shared", ["B"])], BOUND)
    assert a.call(lambda: ls.remove(["b"])) == ["b"]
    with pytest.raises(errors.LockError, match="inst/b deleted"):
        fut.result(BOUND)
    assert b.call(ls.list_owned) == set()
    assert ls.names() == ["a", "c"]


def test_lockset_whole_set_skips_removed_member(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    ls = LockSet(["a", "b", "c"], "inst", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lambda: ls.acquire(["b"]))
    fut = b.submit(lambda: ls.acquire(None))
    assert monitor.wait_for(
        lambda: ls.info()[2]["pending"] == [("exclusive", ["B"])], BOUND)
    a.call(lambda: ls.remove(["b"]))
    assert fut.result(BOUND) == {"a", "c"}
    assert b.call(ls.owning_all)


def test_lockset_add_remove_while_owning_all(
        owners: Callable[[str], Owner]) -> None:
    ls = LockSet(["a", "b"], "inst")
    a = owners("A")
    assert a.call(lambda: ls.acquire(None)) == {"a", "b"}
    a.call(lambda: ls.add(["d"]))  # owning all: "d" is held too
    assert a.call(ls.list_owned) == {"a", "b", "d"}
    assert a.call(lambda: ls.remove(["a", "nope"])) == ["a"]
    assert ls.names() == ["b", "d"]
    assert a.call(ls.list_owned) == {"b", "d"}
    a.call(ls.release)
    assert not a.call(ls.is_owned)
    assert all(i["owners"] == [] for i in ls.info())


def test_lockset_add_waits_for_whole_set_owner(
        owners: Callable[[str], Owner], monitor: LockMonitor) -> None:
    ls = LockSet(["a"], "inst", monitor=monitor)
    a, b = owners("A"), owners("B")
    a.call(lambda: ls.acquire(None, shared=True))
    fut = b.submit(lambda: ls.add(["x"], acquired=True))
    assert monitor.wait_for(
        lambda: ls.info()[0]["pending"] == [("exclusive", ["B"])], BOUND)
    assert ls.names() == ["a"]
    with pytest.raises(errors.ProgrammerError, match="shared"):
        a.call(lambda: ls.add(["y"]))
    a.call(ls.release)
    fut.result(BOUND)
    assert ls.names() == ["a", "x"]
    assert b.call(ls.list_owned) == {"x"}


def test_lockset_add_duplicate_and_partial_release(
        owners: Callable[[str], Owner]) -> None:
    ls = LockSet(["a", "b"], "inst")
    a = owners("A")
    with pytest.raises(errors.LockError) as err:
        a.call(lambda: ls.add(["c", "a"]))
    assert err.value.code == errors.ErrorCode.EXISTS
    assert ls.names() == ["a", "b"]
    a.call(lambda: ls.acquire(None))
    a.call(lambda: ls.release(["a"]))  # no longer owns the whole set
    assert not a.call(ls.owning_all)
    assert a.call(ls.list_owned) == {"b"}
    with pytest.raises(errors.ProgrammerError, match="does not hold"):
        a.call(lambda: ls.release(["a"]))
    with pytest.raises(errors.ProgrammerError, match="already holds"):
        a.call(lambda: ls.acquire(["a"]))
    with pytest.raises(errors.ProgrammerError):
        LockSet(["a", "a"], "dup")


def test_lockset_remove_needs_exclusive(owners: Callable[[str], Owner]) -> None:
    ls = LockSet(["a"], "inst")
    a = owners("A")
    a.call(lambda: ls.acquire(["a"], shared=True))
    with pytest.raises(errors.ProgrammerError, match="shared"):
        a.call(lambda: ls.remove(["a"]))
    assert ls.names() == ["a"]


# --- GanetiLockManager --------------------------------------------------------

@pytest.fixture
def glm() -> GanetiLockManager:
    return GanetiLockManager(nodes=["node1", "node2"],
                             instances=["inst1", "inst2"])


def test_manager_level_order(glm: GanetiLockManager,
                             owners: Callable[[str], Owner]) -> None:
    a = owners("A")
    with pytest.raises(errors.ProgrammerError, match="BGL"):
        a.call(lambda: glm.acquire(LEVEL_INSTANCE, ["inst1"]))
    with pytest.raises(errors.ProgrammerError, match="invalid lock level"):
        a.call(lambda: glm.acquire(7, None))
    assert a.call(lambda: glm.acquire(LEVEL_CLUSTER, "BGL", shared=True)) == {
        "BGL"}
    assert a.call(lambda: glm.acquire(LEVEL_NODE, ["node2"])) == {"node2"}
    with pytest.raises(errors.ProgrammerError, match="wrong level order"):
        a.call(lambda: glm.acquire(LEVEL_INSTANCE, ["inst1"]))
    with pytest.raises(errors.ProgrammerError, match="already holds"):
        a.call(lambda: glm.acquire(LEVEL_NODE, ["node1"]))
    with pytest.raises(errors.ProgrammerError, match="cannot release the BGL"):
        a.call(lambda: glm.release(LEVEL_CLUSTER))
    a.call(lambda: glm.release(LEVEL_NODE))
    assert a.call(lambda: glm.acquire(LEVEL_INSTANCE, None)) == {
        "inst1", "inst2"}
    assert a.call(lambda: glm.owning_all(LEVEL_INSTANCE))
    assert a.call(lambda: glm.acquire(LEVEL_NODE, ["node1"])) == {"node1"}
    assert a.call(lambda: glm.list_owned(LEVEL_NODE)) == {"node1"}
    for level in (LEVEL_NODE, LEVEL_INSTANCE, LEVEL_CLUSTER):
        a.call(functools.partial(glm.release, level))
        assert not a.call(functools.partial(glm.is_owned, level))


def test_manager_add_and_remove_rules(glm: GanetiLockManager,
                                      owners: Callable[[str], Owner]) -> None:
    a, b = owners("A"), owners("B")
    with pytest.raises(errors.ProgrammerError, match="cannot add to"):
        a.call(lambda: glm.add(LEVEL_CLUSTER, ["BGL2"]))
    with pytest.raises(errors.ProgrammerError, match="BGL"):
        a.call(lambda: glm.add(LEVEL_INSTANCE, ["inst3"]))
    a.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
    a.call(lambda: glm.acquire(LEVEL_INSTANCE, ["inst1"]))
    with pytest.raises(errors.ProgrammerError, match="adding needs none"):
        a.call(lambda: glm.add(LEVEL_INSTANCE, ["inst3"]))
    with pytest.raises(errors.ProgrammerError, match="exclusively"):
        a.call(lambda: glm.remove(LEVEL_INSTANCE, ["inst2"]))
    assert a.call(lambda: glm.remove(LEVEL_INSTANCE, ["inst1", "gone"])) == [
        "inst1"]
    a.call(lambda: glm.release(LEVEL_INSTANCE))
    a.call(lambda: glm.add(LEVEL_INSTANCE, ["inst3"], acquired=True))
    assert a.call(lambda: glm.list_owned(LEVEL_INSTANCE)) == {"inst3"}
    assert glm.names(LEVEL_INSTANCE) == ["inst2", "inst3"]
    a.call(lambda: glm.release(LEVEL_INSTANCE))
    a.call(lambda: glm.release(LEVEL_CLUSTER))
    # With the BGL exclusive, locks not held can be removed too.
    b.call(lambda: glm.acquire(LEVEL_CLUSTER, None))
    b.call(lambda: glm.acquire(LEVEL_NODE, ["node1"]))
    assert b.call(lambda: glm.remove(LEVEL_INSTANCE, ["inst2", "inst3"])) == [
        "inst2", "inst3"]
    assert b.call(lambda: glm.remove(LEVEL_NODE, ["node1", "node2"])) == [
        "node1", "node2"]
    assert glm.names(LEVEL_INSTANCE) == [] and glm.names(LEVEL_NODE) == []
    assert b.call(lambda: glm.list_owned(LEVEL_NODE)) == set()


def test_manager_info_and_owner_status(glm: GanetiLockManager,
                                       owners: Callable[[str], Owner]) -> None:
    j1, j2 = owners("job 1/op 1"), owners("job 2/op 1")
    j1.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
    j1.call(lambda: glm.acquire(LEVEL_INSTANCE, ["inst1"]))
    j2.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
    fut = j2.submit(lambda: glm.acquire(LEVEL_INSTANCE, ["inst1", "inst2"],
                                        shared=True))
    assert glm.monitor.wait_for(
        lambda: (glm.owner_status("job 2/op 1") or "").startswith("waiting"),
        BOUND)
    by_name = {i["name"]: i for i in glm.info()}
    assert list(by_name) == sorted(by_name)
    assert by_name["cluster/BGL"]["mode"] == "shared"
    assert by_name["cluster/BGL"]["owners"] == ["job 1/op 1", "job 2/op 1"]
    assert by_name["instance/inst1"] == {
        "name": "instance/inst1", "mode": "exclusive",
        "owners": ["job 1/op 1"], "pending": [("shared", ["job 2/op 1"])]}
    assert glm.owner_status("job 1/op 1") == (
        "holding cluster/BGL (shared), instance/inst1 (exclusive)")
    assert glm.owner_status("job 2/op 1") == (
        "waiting for instance/inst1 (shared); holding cluster/BGL (shared)")
    assert glm.owner_status("job 3") is None
    j1.call(lambda: glm.release(LEVEL_INSTANCE))
    assert fut.result(BOUND) == {"inst1", "inst2"}
    assert glm.owner_status("job 2/op 1") == (
        "holding cluster/BGL (shared), instance/inst1 (shared),"
        " instance/inst2 (shared)")


# --- Retry strategy -----------------------------------------------------------

def test_strategy_grows_bounded_then_blocks() -> None:
    strategy = LockAttemptTimeoutStrategy(attempts=6, base=1.0, maximum=10.0,
                                          jitter=0.1, rng=random.Random(7))
    timeouts = [strategy.next_timeout() for _ in range(8)]
    assert timeouts[6:] == [None, None]
    timed = [t for t in timeouts if t is not None]
    for n, t in enumerate(timed):
        nominal = min(2.0 ** n, 10.0)
        assert nominal * 0.9 <= t <= min(nominal * 1.1, 10.0)
    assert timed[:4] == sorted(timed[:4])
    assert strategy.tries == 6
    again = LockAttemptTimeoutStrategy(attempts=6, base=1.0, maximum=10.0,
                                       jitter=0.1, rng=random.Random(7))
    assert [again.next_timeout() for _ in range(8)] == timeouts
    assert 0 <= strategy.pause() <= strategy.max_pause


def test_strategy_without_blocking_gives_up() -> None:
    strategy = LockAttemptTimeoutStrategy(attempts=1, block=False,
                                          rng=random.Random(1))
    assert strategy.next_timeout() is not None
    with pytest.raises(errors.LockTimeoutError):
        strategy.next_timeout()
    for bad in ({"attempts": -1}, {"base": 0.0}, {"base": 2.0, "maximum": 1.0},
                {"jitter": 1.0}, {"max_pause": -1.0}):
        with pytest.raises(errors.ProgrammerError):
            LockAttemptTimeoutStrategy(**bad)


def test_acquire_with_retries_releases_between_attempts(
        glm: GanetiLockManager, owners: Callable[[str], Owner]) -> None:
    holder, job = owners("holder"), owners("job")
    holder.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
    holder.call(lambda: glm.acquire(LEVEL_NODE, ["node2"]))
    job.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
    strategy = LockAttemptTimeoutStrategy(attempts=2, base=0.005,
                                          maximum=0.01, rng=random.Random(3))
    retries: list[tuple[int, float, float]] = []
    sleeps: list[float] = []

    def on_retry(tries: int, timeout: float, pause: float) -> None:
        # Called in the job's thread: it holds nothing at the node level,
        # and node1 (taken before node2, sorted) is free again.
        assert not glm.is_owned(LEVEL_NODE)
        node1 = next(i for i in glm.info() if i["name"] == "node/node1")
        assert node1["owners"] == []
        retries.append((tries, timeout, pause))

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # let the final, blocking attempt succeed
            holder.submit(lambda: glm.release(LEVEL_NODE))

    got = job.call(lambda: acquire_with_retries(
        glm, LEVEL_NODE, ["node2", "node1"], False, strategy,
        on_retry, sleep=fake_sleep))
    assert got == {"node1", "node2"}
    assert [r[0] for r in retries] == [1, 2]
    assert sleeps == [r[2] for r in retries]
    assert all(0 < r[1] <= 0.01 for r in retries)


def test_acquire_with_retries_on_retry_can_abort(
        glm: GanetiLockManager, owners: Callable[[str], Owner]) -> None:
    holder, job = owners("holder"), owners("job")
    holder.call(lambda: glm.acquire(LEVEL_CLUSTER, None))
    strategy = LockAttemptTimeoutStrategy(attempts=3, base=0.001,
                                          maximum=0.001, rng=random.Random(0))

    def cancel(tries: int, timeout: float, pause: float) -> None:
        raise errors.CancelledError("job canceled")

    with pytest.raises(errors.CancelledError):
        job.call(lambda: acquire_with_retries(
            glm, LEVEL_CLUSTER, None, True, strategy, cancel,
            sleep=lambda s: None))
    assert not job.call(lambda: glm.is_owned(LEVEL_CLUSTER))
