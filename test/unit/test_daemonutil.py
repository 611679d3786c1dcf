"""daemon-util's view of a dying daemon: a process is alive while any of
its threads runs, and a start waits for a pid-file lock that outlives
its process instead of taking it for a running daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ganeti import constants, daemonutil, errors, pathutils
from ganeti.utils import filelock, process

#: A process whose main thread exits while a second thread goes on: what
#: a multi-threaded daemon looks like while a SIGKILL tears it down.
LEADER_EXITS = """
import ctypes, sys, threading
threading.Thread(target=sys.stdin.read).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


def _main_thread_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_a_process_whose_main_thread_exited_is_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", LEADER_EXITS],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        while _main_thread_state(proc.pid) != "Z":
            pass  # the main thread is on its way out
        assert daemonutil.process_alive(proc.pid)
        proc.stdin.close()  # the last thread ends
        proc.wait(timeout=30)
        assert not daemonutil.process_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


class _FakeRunner:
    """Stands for the launcher: records the call and takes the pid file
    lock as the detached daemon would."""

    def __init__(self, pid_path: str) -> None:
        self.pid_path = pid_path
        self.calls: list[list[str]] = []
        self.lock: filelock.FileLock | None = None

    def __call__(self, argv: list[str], **_kw: Any) -> process.RunResult:
        self.calls.append(argv)
        self.lock = filelock.FileLock(self.pid_path)
        self.lock.exclusive(timeout=0)
        return process.RunResult(argv, 0, None, "", "", False, "")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pathutils.Paths:
    monkeypatch.setenv(pathutils.ROOT_ENV, str(tmp_path))
    paths = pathutils.Paths(str(tmp_path))
    os.makedirs(os.path.dirname(paths.pid_file(constants.NODED)))
    return paths


def _held_by_the_dead(paths: pathutils.Paths) -> filelock.FileLock:
    """The pid file names a process that is gone, and is still locked."""
    path = paths.pid_file(constants.NODED)
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{_dead_pid()}\n")
    lock = filelock.FileLock(path)
    lock.exclusive(timeout=0)
    return lock


def test_start_waits_for_a_lock_its_dead_process_left(
        root: pathutils.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = _held_by_the_dead(root)
    runner = _FakeRunner(root.pid_file(constants.NODED))
    monkeypatch.setattr(process, "run_cmd", runner)
    monkeypatch.setattr(daemonutil.time, "sleep", lambda _s: stale.close())
    daemonutil.start(constants.NODED, timeout=30)
    assert len(runner.calls) == 1
    assert daemonutil.is_running(constants.NODED, root)
    assert runner.lock is not None
    runner.lock.close()


def test_start_names_a_lock_that_stays(
        root: pathutils.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = _held_by_the_dead(root)
    runner = _FakeRunner(root.pid_file(constants.NODED))
    monkeypatch.setattr(process, "run_cmd", runner)
    try:
        with pytest.raises(errors.OpExecError, match="still locked"):
            daemonutil.start(constants.NODED, timeout=0)
        assert runner.calls == []
    finally:
        stale.close()


def test_start_leaves_a_running_daemon_alone(
        root: pathutils.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    path = root.pid_file(constants.NODED)
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    lock = filelock.FileLock(path)
    lock.exclusive(timeout=0)
    runner = _FakeRunner(path)
    monkeypatch.setattr(process, "run_cmd", runner)
    try:
        daemonutil.start(constants.NODED, timeout=0)
        assert runner.calls == []
    finally:
        lock.close()
