"""The uid pool: syntax, checks and the node-side allocator."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import errors, uidpool

LOW = uidpool.UID_MIN


# --- syntax -------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "pool"), [
    ("71000-71009,72000", [[71000, 71009], [72000, 72000]]),
    (" 71000 - 71001 , ,72000 ", [[71000, 71001], [72000, 72000]]),
    (f"{LOW}", [[LOW, LOW]]),
    (f"{uidpool.UID_MAX}", [[uidpool.UID_MAX, uidpool.UID_MAX]]),
])
def test_parse(spec: str, pool: list[list[int]]) -> None:
    assert uidpool.parse_pool(spec) == pool


@pytest.mark.parametrize(("spec", "message"), [
    ("72000-71000", "'72000-71000' in --add-uids: the lower bound is above"),
    ("x", "'x' in --add-uids: expected N or N-M"),
    ("71000-y", "'71000-y' in --add-uids: expected N or N-M"),
    ("-5", "'-5' in --add-uids: expected N or N-M"),
    (",", "Empty user-id pool in --add-uids"),
    ("", "Empty user-id pool in --add-uids"),
    ("10-20", "User-id range 10-20 in --add-uids is outside 1000-"),
    ("999", "User-id range 999 in --add-uids is outside"),
    (f"{uidpool.UID_MAX + 1}", "is outside"),
])
def test_parse_refusals(spec: str, message: str) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        uidpool.parse_pool(spec, "--add-uids")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


_ranges = st.lists(st.tuples(st.integers(LOW, LOW + 5000),
                             st.integers(0, 300)).map(
                                 lambda t: [t[0], t[0] + t[1]]),
                   min_size=1, max_size=8)


@given(_ranges)
def test_format_parse_round_trip(pool: list[list[int]]) -> None:
    assert uidpool.parse_pool(uidpool.format_pool(pool)) == pool
    assert uidpool.parse_pool(uidpool.format_pool(pool, "\n"), "ssconf",
                              "\n") == pool


@given(_ranges)
def test_expand_gives_each_uid_once(pool: list[list[int]]) -> None:
    expected = sorted({u for low, high in pool for u in range(low, high + 1)})
    assert list(uidpool.expand(pool)) == expected


def test_check_pool_refuses_existing_users() -> None:
    users = {0: "root", 71005: "alice", 71007: "bob", 71008: "carol",
             71009: "dave"}
    uidpool.check_pool([[71010, 71020]], users=users)
    with pytest.raises(errors.OpPrereqError,
                       match=r"71000-71009 in uid pool overlaps existing users"
                             r" of this node: alice \(71005\), bob \(71007\),"
                             r" carol \(71008\) and 1 more$"):
        uidpool.check_pool([[71010, 71020], [71000, 71009]], users=users)


def test_check_pool_uses_this_nodes_users() -> None:
    entry = max(uidpool.system_users().items())
    uid, name = entry
    if uid < LOW:
        pytest.skip("no user with a uid in the allowed range here")
    with pytest.raises(errors.OpPrereqError, match=f"{name} \\({uid}\\)"):
        uidpool.check_pool([[uid, uid]])


# --- the allocator --------------------------------------------------------------

class Running:
    """Stands in for /proc: which uids processes run under."""

    def __init__(self) -> None:
        self.uids: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, uid: int) -> bool:
        with self.lock:
            found = uid in self.uids
        time.sleep(0.001)  # let other allocators run: /proc scans are slow
        return found

    def start(self, uid: int) -> None:
        with self.lock:
            assert uid not in self.uids, f"uid {uid} handed out twice"
            self.uids.append(uid)

    def stop(self, uid: int) -> None:
        with self.lock:
            self.uids.remove(uid)


def _allocator(tmp_path: Path, running: Running) -> uidpool.UidAllocator:
    return uidpool.UidAllocator(str(tmp_path / "uid-pool"), in_use=running)


def test_request_start_release(tmp_path: Path) -> None:
    running = Running()
    alloc = _allocator(tmp_path, running)
    pool = [[71000, 71002]]
    first = alloc.request(pool)
    assert first.uid == 71000
    running.start(first.uid)
    first.unlock()
    assert alloc.taken() == {71000}
    second = alloc.request(pool)
    assert second.uid == 71001
    alloc.release(second)  # the start failed
    assert alloc.taken() == {71000}
    running.stop(71000)
    alloc.release(71000)
    assert alloc.taken() == set()
    alloc.release(71000)  # twice is harmless


def test_running_and_locked_uids_are_skipped(tmp_path: Path) -> None:
    running = Running()
    alloc = _allocator(tmp_path, running)
    running.start(71000)  # e.g. a guest of another node of this machine
    held = alloc.request([[71000, 71002]])
    assert held.uid == 71001
    assert alloc.taken() == {71001}  # no lock file left for 71000
    assert alloc.request([[71000, 71002]]).uid == 71002
    with pytest.raises(errors.LockError, match=r"No free uid in the uid pool"
                                               r" \(71000-71002\)"):
        alloc.request([[71000, 71002]])


def test_stale_lock_is_reclaimed_after_free_uids(tmp_path: Path) -> None:
    running = Running()
    alloc = _allocator(tmp_path, running)
    stale = alloc.request([[71000, 71000]])
    stale.unlock()  # its qemu died without a release
    assert alloc.request([[71000, 71001]]).uid == 71001
    assert alloc.request([[71000, 71001]]).uid == 71000


def test_release_keeps_a_uid_a_process_runs_under(tmp_path: Path) -> None:
    running = Running()
    alloc = _allocator(tmp_path, running)
    locked = alloc.request([[71000, 71000]])
    running.start(71000)
    locked.unlock()
    alloc.release(71000)  # a late release of an earlier owner
    assert alloc.taken() == {71000}


def test_a_pool_of_every_allowed_uid_is_not_listed_out(
        tmp_path: Path) -> None:
    alloc = _allocator(tmp_path, Running())
    pool = [[uidpool.UID_MIN, uidpool.UID_MAX]]
    assert alloc.request(pool).uid == uidpool.UID_MIN
    assert alloc.request(pool).uid == uidpool.UID_MIN + 1


def test_empty_pool(tmp_path: Path) -> None:
    with pytest.raises(errors.LockError, match="uid pool is empty"):
        _allocator(tmp_path, Running()).request([])


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 6), workers=st.integers(2, 6),
       rounds=st.integers(1, 4))
def test_concurrent_allocators_never_share_a_uid(
        tmp_path_factory: pytest.TempPathFactory, size: int, workers: int,
        rounds: int) -> None:
    """Allocators in threads (each with its own lock descriptors, as
    separate processes have) request, start, stop and release; a uid is
    never handed to two running owners (``Running.start`` checks) and
    every lock file is gone at the end."""
    base = tmp_path_factory.mktemp("pool")
    running = Running()
    pool = [[71000, 71000 + size - 1]]
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []

    def work() -> None:
        alloc = _allocator(base, running)
        try:
            for _ in range(rounds):
                barrier.wait()
                try:
                    locked: uidpool.LockedUid | None = alloc.request(pool)
                except errors.LockError:
                    locked = None  # all taken or being taken right now
                if locked is not None:
                    running.start(locked.uid)
                    locked.unlock()
                barrier.wait()
                if locked is not None:
                    running.stop(locked.uid)
                    alloc.release(locked.uid)
        except BaseException as err:  # reported by the main thread
            failures.append(err)
            barrier.abort()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [f for f in failures
                if not isinstance(f, threading.BrokenBarrierError)]
    assert not failures
    assert not running.uids
    assert uidpool.UidAllocator(str(base / "uid-pool")).taken() == set()


def _hold_one(lock_dir: str, ready: multiprocessing.synchronize.Event,
              done: multiprocessing.synchronize.Event,
              results: multiprocessing.queues.Queue[int]) -> None:
    locked = uidpool.UidAllocator(lock_dir, in_use=lambda _uid: False
                                  ).request([[71000, 71009]])
    results.put(locked.uid)
    ready.set()
    done.wait(60)


def test_separate_processes_get_separate_uids(tmp_path: Path) -> None:
    """Real processes holding their locks (a qemu being started each):
    each gets its own uid, even when every uid has a stale lock file so
    that all of them try the same uids in the same order."""
    for uid in range(71000, 71010):
        (tmp_path / str(uid)).touch()
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.queues.Queue[int] = ctx.Queue()
    done = ctx.Event()
    procs = []
    for _ in range(4):
        ready = ctx.Event()
        proc = ctx.Process(target=_hold_one, args=(str(tmp_path), ready, done,
                                                   results))
        proc.start()
        procs.append((proc, ready))
    try:
        for _proc, ready in procs:
            assert ready.wait(60)
        uids = sorted(results.get(timeout=60) for _ in procs)
    finally:
        done.set()
        for proc, _ready in procs:
            proc.join(60)
    assert uids == [71000, 71001, 71002, 71003]
    assert sorted(int(n) for n in os.listdir(tmp_path)) == list(
        range(71000, 71010))


def test_processes_use_uid_sees_this_process() -> None:
    assert uidpool.processes_use_uid(os.getuid())
    assert not uidpool.processes_use_uid(uidpool.UID_MAX)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_processes_use_uid_live_child_but_not_zombie() -> None:
    """A child under a pool uid counts while it lives; once it has exited
    and nobody reaped it (a killed qemu whose parent is a PID 1 that does
    not reap), it does not."""
    uid = 71999
    go_read, go_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the uid, say so, wait, exit
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.write(ready_write, b"r")
            os.read(go_read, 1)
        finally:
            os._exit(0)
    os.close(ready_write)
    os.close(go_read)
    try:
        assert os.read(ready_read, 1) == b"r"
        assert uidpool.processes_use_uid(uid)
        os.write(go_write, b"g")
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # now a zombie
        assert not uidpool.processes_use_uid(uid)
    finally:
        os.close(go_write)
        os.close(ready_read)
        os.waitpid(pid, 0)
