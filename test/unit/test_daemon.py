"""Daemon plumbing: pid file lock, refusal to start twice, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganeti import daemon, errors, pathutils

PYLIB = str(Path(__file__).resolve().parents[2] / "pylib")

SCRIPT = """
import gc, sys
from ganeti import daemon

def run(ctx):
    print("gc thresholds", *gc.get_threshold(), file=sys.stderr, flush=True)
    print("ready", flush=True)
    ctx.stop_event.wait(30)
    return 3

spec = daemon.DaemonSpec("ganeti-testd", "test daemon", None, None, run)
sys.exit(daemon.main(spec, sys.argv[1:]))
"""


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=PYLIB, GANETI_ROOTDIR=str(tmp_path))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_foreground_daemon_lifecycle(tmp_path: Path) -> None:
    proc = start(tmp_path, "-f")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        paths = pathutils.Paths(str(tmp_path))
        pid_path = paths.pid_file("ganeti-testd")
        assert daemon.read_pid(pid_path) == proc.pid
        assert daemon.is_running(pid_path)
        second = start(tmp_path, "-f")
        _, err = second.communicate(timeout=30)
        assert second.returncode != 0
        assert "already running" in err and str(proc.pid) in err
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 3
        # Python's default thresholds cost half the master's CPU time of
        # a bulk listing of 10,000 instances.
        assert proc.stderr is not None
        assert "gc thresholds " + " ".join(
            map(str, daemon.GC_THRESHOLDS)) in proc.stderr.read()
        assert not os.path.exists(pid_path)
        assert not daemon.is_running(pid_path)
        log = Path(paths.log_file("ganeti-testd")).read_text()
        assert "stopping" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_background_daemon_detaches(tmp_path: Path) -> None:
    proc = start(tmp_path)
    assert proc.wait(timeout=30) == 0  # the launcher returns at once
    pid_path = pathutils.Paths(str(tmp_path)).pid_file("ganeti-testd")
    pid = None
    for _ in range(300):
        pid = daemon.read_pid(pid_path)
        if pid and pid != proc.pid and daemon.is_running(pid_path):
            break
        time.sleep(0.05)  # waiting for the detached child, not timing it
    assert pid and pid != proc.pid
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        if not daemon.is_running(pid_path):
            break
        time.sleep(0.05)
    assert not daemon.is_running(pid_path)


def test_pidfile_refuses_second_holder(tmp_path: Path) -> None:
    path = str(tmp_path / "x.pid")
    first = daemon.PidFile(path)
    with pytest.raises(errors.GenericError, match="already running"):
        daemon.PidFile(path)
    first.release()
    daemon.PidFile(path).release()


PREPARE_SCRIPT = """
import sys, threading
from ganeti import daemon

seen = []

def prepare(options):
    seen.append(threading.active_count())

def run(ctx):
    print("threads at prepare:", seen, "now:", threading.active_count(),
          flush=True)
    return 0

spec = daemon.DaemonSpec("ganeti-testd", "test daemon", None, None, run,
                         prepare=prepare)
sys.exit(daemon.main(spec, sys.argv[1:]))
"""


def test_prepare_runs_before_any_thread(tmp_path: Path) -> None:
    # noded locks its memory there: a thread stack that exists at
    # mlockall(MCL_CURRENT) is locked whole (8 MiB per daemon).
    env = dict(os.environ, PYTHONPATH=PYLIB, GANETI_ROOTDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, "-f"],
                          env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    # The signal relay thread starts after prepare, before run.
    assert "threads at prepare: [1] now: 2" in proc.stdout

