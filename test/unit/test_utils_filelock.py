"""Tests for ganeti.utils.filelock: flock semantics in one process and
across processes, timeouts in virtual time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from testkit import FakeClock

from ganeti import errors
from ganeti.utils.filelock import FileLock

PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pylib")


_HOLDER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from ganeti.utils.filelock import FileLock

    lock = FileLock(sys.argv[2])
    getattr(lock, sys.argv[3])()
    print("locked", flush=True)
    sys.stdin.readline()
    lock.unlock()
    print("unlocked", flush=True)
    sys.stdin.readline()
""")


class Holder:
    """A child process holding a lock until told to release it."""

    def __init__(self, tmp_path, path: str, kind: str) -> None:
        script = tmp_path / "holder.py"
        script.write_text(_HOLDER)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), PYLIB, path, kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._line() == "locked"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self._line() == "unlocked"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def lock_path(tmp_path):
    return str(tmp_path / "lockfile")


def test_creates_file_and_locks(lock_path):
    with FileLock(lock_path) as lock:
        assert os.path.exists(lock_path)
        lock.exclusive()
        lock.unlock()
        lock.shared(timeout=0)
        lock.unlock()
    assert lock.closed


def test_exclusive_conflicts_within_process(lock_path):
    with FileLock(lock_path) as first, FileLock(lock_path) as second:
        first.exclusive()
        with pytest.raises(errors.LockTimeoutError) as info:
            second.exclusive(timeout=0)
        assert lock_path in str(info.value)
        assert "exclusive" in str(info.value)
        with pytest.raises(errors.LockTimeoutError, match="shared"):
            second.shared(timeout=0)
        first.unlock()
        second.exclusive(timeout=0)


def test_shared_locks_coexist(lock_path):
    with FileLock(lock_path) as first, FileLock(lock_path) as second:
        first.shared()
        second.shared(timeout=0)
        with FileLock(lock_path) as third, pytest.raises(errors.LockTimeoutError):
            third.exclusive(timeout=0)


def test_timeout_in_virtual_time_backs_off(lock_path):
    clock = FakeClock()
    with FileLock(lock_path) as holder, \
            FileLock(lock_path, clock=clock.time, sleep=clock.sleep) as waiter:
        holder.exclusive()
        with pytest.raises(errors.LockTimeoutError, match="Timeout after 2"):
            waiter.exclusive(timeout=2)
    assert sum(clock.sleeps) == pytest.approx(2.0)
    # Back-off grows and is capped; no busy spinning with zero waits.
    assert min(clock.sleeps) > 0
    assert clock.sleeps[1] > clock.sleeps[0]
    assert max(clock.sleeps) <= 0.1 + 1e-9
    assert len(clock.sleeps) < 40


def test_acquired_when_released_before_deadline(lock_path):
    clock = FakeClock()
    with FileLock(lock_path) as holder, \
            FileLock(lock_path, clock=clock.time, sleep=clock.sleep) as waiter:
        holder.exclusive()

        def release_on_third_sleep(count: int) -> None:
            if count == 3:
                holder.unlock()

        clock.on_sleep = release_on_third_sleep
        waiter.exclusive(timeout=5)
        assert len(clock.sleeps) == 3
        with pytest.raises(errors.LockTimeoutError):
            holder.shared(timeout=0)


def test_context_managers_release(lock_path):
    with FileLock(lock_path) as lock, FileLock(lock_path) as other:
        with lock.exclusive_ctx(timeout=0) as held:
            assert held is lock
            with pytest.raises(errors.LockTimeoutError):
                other.shared(timeout=0)
        other.exclusive(timeout=0)
        other.unlock()
        with lock.shared_ctx():
            other.shared(timeout=0)
            other.unlock()
        other.exclusive(timeout=0)


def test_context_manager_releases_on_error(lock_path):
    with FileLock(lock_path) as lock, FileLock(lock_path) as other:
        with pytest.raises(RuntimeError), lock.exclusive_ctx():
            raise RuntimeError("boom")
        other.exclusive(timeout=0)


def test_close_releases_and_is_idempotent(lock_path):
    lock = FileLock(lock_path)
    lock.exclusive()
    lock.close()
    lock.close()
    with FileLock(lock_path) as other:
        other.exclusive(timeout=0)
    with pytest.raises(errors.LockError, match="closed"):
        lock.exclusive()


def test_bad_arguments(tmp_path, lock_path):
    with pytest.raises(errors.LockError, match="Cannot open lock file"):
        FileLock(str(tmp_path / "no" / "such" / "dir"))
    with pytest.raises(errors.ProgrammerError):
        FileLock("")
    with FileLock(lock_path) as lock, pytest.raises(errors.ProgrammerError):
        lock.exclusive(timeout=-1)


def test_repr(lock_path):
    lock = FileLock(lock_path)
    assert "fd=" in repr(lock)
    lock.close()
    assert "closed" in repr(lock)


def test_contention_across_processes(tmp_path, lock_path):
    holder = Holder(tmp_path, lock_path, "exclusive")
    try:
        with FileLock(lock_path) as lock:
            with pytest.raises(errors.LockTimeoutError, match="lockfile"):
                lock.exclusive(timeout=0)
            with pytest.raises(errors.LockTimeoutError):
                lock.shared(timeout=0)
            clock = FakeClock()
            waiter = FileLock(lock_path, clock=clock.time, sleep=clock.sleep)
            with waiter, pytest.raises(errors.LockTimeoutError):
                waiter.exclusive(timeout=0.3)
            assert sum(clock.sleeps) == pytest.approx(0.3)
            holder.release()
            lock.exclusive(timeout=0)
    finally:
        holder.stop()


def test_blocking_wait_returns_after_other_process_releases(tmp_path, lock_path):
    holder = Holder(tmp_path, lock_path, "exclusive")
    try:
        with FileLock(lock_path) as lock:
            assert holder.proc.stdin is not None
            # Ask the holder to let go, then block (timeout=None) until it has.
            holder.proc.stdin.write("\n")
            holder.proc.stdin.flush()
            lock.exclusive()
            assert holder.proc.poll() is None
    finally:
        holder.stop()


def test_shared_across_processes(tmp_path, lock_path):
    holder = Holder(tmp_path, lock_path, "shared")
    try:
        with FileLock(lock_path) as lock:
            lock.shared(timeout=0)
            lock.unlock()
            with pytest.raises(errors.LockTimeoutError):
                lock.exclusive(timeout=0)
    finally:
        holder.stop()


def test_lock_dies_with_holder_process(tmp_path, lock_path):
    holder = Holder(tmp_path, lock_path, "exclusive")
    holder.stop()
    with FileLock(lock_path) as lock:
        lock.exclusive(timeout=0)
