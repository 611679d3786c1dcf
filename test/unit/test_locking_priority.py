"""Lock grants by priority: a contended lock goes to the waiter with the
lowest priority value first (job priorities, ``doc/design/jobqueue.rst``).

Waiters are owner threads queued one after the other (each seen in the
lock's pending list before the next starts), then the holder releases and
the order in which they got the lock is compared with the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_locking import BOUND, Owner

from ganeti.locking import (
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    GanetiLockManager,
    LockAttemptTimeoutStrategy,
    LockMonitor,
    SharedLock,
    acquire_with_retries,
)


def _pending_count(lock: SharedLock) -> int:
    return sum(len(names) for _, names in lock.info()["pending"])


class Contention:
    """A lock held by ``holder`` and the waiters queued behind it."""

    def __init__(self) -> None:
        self.monitor = LockMonitor()
        self.lock = SharedLock("l", monitor=self.monitor)
        self.holder = Owner("holder")
        self.waiters: list[Owner] = []
        self.futures: list[Future[Any]] = []
        self.order: list[int] = []
        assert self.holder.call(self.lock.acquire)

    def queue(self, priority: int, shared: bool = False) -> None:
        index = len(self.waiters)
        owner = Owner(f"w{index}")
        self.waiters.append(owner)

        def go() -> None:
            assert self.lock.acquire(shared=shared, priority=priority)
            self.order.append(index)
            self.lock.release()

        self.futures.append(owner.submit(go))
        assert self.monitor.wait_for(
            lambda: _pending_count(self.lock) == index + 1, BOUND)

    def release_and_collect(self) -> list[int]:
        self.holder.call(self.lock.release)
        for fut in self.futures:
            fut.result(BOUND)
        return self.order

    def stop(self) -> None:
        for owner in [self.holder, *self.waiters]:
            owner.stop()


@pytest.fixture
def contention() -> Iterator[Contention]:
    c = Contention()
    yield c
    c.stop()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-20, 19), min_size=1, max_size=6))
def test_exclusive_waiters_are_served_by_priority_then_arrival(
        prios: list[int]) -> None:
    c = Contention()
    try:
        for prio in prios:
            c.queue(prio)
        expected = sorted(range(len(prios)), key=lambda i: (prios[i], i))
        assert c.release_and_collect() == expected
    finally:
        c.stop()


def test_pending_list_is_ordered_by_priority(contention: Contention) -> None:
    c = contention
    c.queue(10)
    c.queue(0, shared=True)
    c.queue(-10)
    c.queue(0, shared=True)  # joins the open shared entry of priority 0
    assert c.lock.info()["pending"] == [
        ("exclusive", ["w2"]), ("shared", ["w1", "w3"]), ("exclusive", ["w0"])]
    order = c.release_and_collect()
    assert order[0] == 2 and order[-1] == 0
    assert sorted(order[1:3]) == [1, 3]


def test_high_priority_sharer_overtakes_queued_exclusive(
        contention: Contention) -> None:
    c = contention
    c.queue(0)
    c.queue(-10, shared=True)
    assert c.release_and_collect() == [1, 0]


def test_same_priority_keeps_fifo_for_exclusive_waiters(
        contention: Contention) -> None:
    c = contention
    for _ in range(4):
        c.queue(5)
    assert c.release_and_collect() == [0, 1, 2, 3]


def test_manager_and_retries_pass_the_priority_on() -> None:
    """The priority travels through the lock manager and the retry loop
    (read before each attempt, so a changed job priority counts)."""
    glm = GanetiLockManager(instances=["i1"])
    monitor = glm.monitor
    holder, low, high = Owner("holder"), Owner("low"), Owner("high")
    order: list[str] = []
    try:
        holder.call(lambda: glm.acquire(LEVEL_CLUSTER, None, shared=True))
        holder.call(lambda: glm.acquire(LEVEL_INSTANCE, ["i1"]))

        def take(name: str, prio: Callable[[], int]) -> None:
            glm.acquire(LEVEL_CLUSTER, None, shared=True)
            acquire_with_retries(glm, LEVEL_INSTANCE, ["i1"], False,
                                 LockAttemptTimeoutStrategy(attempts=0),
                                 priority=prio)
            order.append(name)
            glm.release(LEVEL_INSTANCE)
            glm.release(LEVEL_CLUSTER)

        def waiting(count: int) -> bool:
            return any(sum(len(n) for _, n in info["pending"]) == count
                       for info in glm.info() if info["name"] == "instance/i1")

        futs = [low.submit(lambda: take("low", lambda: 10))]
        assert monitor.wait_for(lambda: waiting(1), BOUND)
        futs.append(high.submit(lambda: take("high", lambda: -10)))
        assert monitor.wait_for(lambda: waiting(2), BOUND)
        holder.call(lambda: glm.release(LEVEL_INSTANCE))
        for fut in futs:
            fut.result(BOUND)
        assert order == ["high", "low"]
        holder.call(lambda: glm.release(LEVEL_CLUSTER))
    finally:
        for owner in (holder, low, high):
            owner.stop()
