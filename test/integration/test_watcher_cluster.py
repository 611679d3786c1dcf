"""ganeti-watcher on a real 2-node local cluster (fake hypervisor): it
restarts an instance whose process died and logs why, leaves an
administrator's stopped instance alone, does nothing while paused,
restarts a node's dead node daemon and a candidate's dead confd, and
says why it submits nothing
while the queue is drained.  The tests share one cluster, put back as
new between them (fixture ``lc``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import running_cluster, wait_for

from ganeti import constants, daemon
from ganeti.benchutil import bulk_add
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

A, B = "bulk0.bench.example", "bulk1.bench.example"


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalCluster]:
    with running_cluster("watcher", 2, rapi=False) as cluster:
        bulk_add(cluster, 2, 0, os_name="none", memory=32, start=True)
        yield cluster


@pytest.fixture
def lc(shared: LocalCluster) -> Iterator[LocalCluster]:
    """The module's cluster as a new one looks to the watcher: both
    instances running, no watcher log, state, pause or hooks, the queue
    open and every daemon up (each test leaves what it changed, this
    puts it back)."""
    for node in shared.nodes:
        for path in (node.paths.log_file("watcher"),
                     node.paths.watcher_state_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    yield shared
    master = shared.master().paths
    if os.path.exists(master.queue_drain_file):
        assert shared.gnt("gnt-cluster", "queue", "undrain").returncode == 0
    if os.path.exists(master.watcher_pause_file):
        assert shared.gnt("gnt-cluster", "watcher", "continue").returncode == 0
    for node in shared.nodes:
        shutil.rmtree(Path(node.paths.hooks_dir) / "watcher",
                      ignore_errors=True)
        FakeHypervisor(node.paths.fake_hv_dir).set_node_resources(
            memory_total=None)
        for name in (constants.NODED, constants.CONFD):
            if not daemon.is_running(node.paths.pid_file(name)):
                watcher(shared, shared.nodes.index(node) + 1)
    if not daemon.is_running(shared.master().paths.pid_file(constants.MASTERD)):
        watcher(shared)
    down = [name for name in (A, B) if not running(shared, name)]
    if down:
        res = shared.gnt("gnt-instance", "startup", *down)
        assert res.returncode == 0, res.stdout + res.stderr


def running(lc: LocalCluster, name: str) -> bool:
    return any(name in FakeHypervisor(n.paths.fake_hv_dir).list_instances()
               for n in lc.nodes)


def kill(lc: LocalCluster, name: str) -> FakeHypervisor:
    """The instance dies behind the cluster's back (not a shutdown);
    returns the fake hypervisor of the node it ran on."""
    for node in lc.nodes:
        hv = FakeHypervisor(node.paths.fake_hv_dir)
        if name in hv.list_instances():
            hv.stop_instance(name, force=True)
            return hv
    raise AssertionError(f"{name} was not running")


def watcher(lc: LocalCluster, node: int | None = None, *args: str) -> str:
    res = lc.gnt("ganeti-watcher", *args, node=node)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def log(lc: LocalCluster, node: int = 1) -> str:
    path = Path(lc.node(node).paths.log_file("watcher"))
    return path.read_text() if path.exists() else ""


def test_restarts_a_dead_instance_and_logs_why(lc: LocalCluster) -> None:
    kill(lc, A)
    assert not running(lc, A)
    watcher(lc)
    assert running(lc, A)
    assert f"Restarting instance {A} (should run, found ERROR_down" in log(lc)
    assert f"Instance {A} restarted" in log(lc)
    # The next run finds it running: nothing to do.
    before = log(lc)
    watcher(lc)
    assert "Restarting" not in log(lc)[len(before):]


def test_gives_up_after_five_failed_restarts(lc: LocalCluster) -> None:
    hv = kill(lc, A)
    hv.set_node_resources(memory_total=0)  # every start fails: no memory
    for _ in range(7):
        watcher(lc)
    assert not running(lc, A)
    text = log(lc)
    assert text.count(f"Restarting instance {A}") == 5
    assert "attempt 5/5" in text
    assert text.count(f"Could not restart instance {A} after 5 attempts,"
                      " giving up") == 1
    # Fixed by an administrator: the count is reset.
    hv.set_node_resources(memory_total=None)
    assert lc.gnt("gnt-instance", "startup", A).returncode == 0
    watcher(lc)
    assert f"Instance {A} runs again; restart count reset" in log(lc)


def test_master_daemon_down_is_restarted_first(lc: LocalCluster) -> None:
    master = lc.master()
    pid_file = master.paths.pid_file(constants.MASTERD)
    pid = daemon.read_pid(pid_file)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemon.is_running(pid_file), "masterd gone")
    kill(lc, A)
    watcher(lc)
    assert daemon.is_running(pid_file)
    assert "Daemon ganeti-masterd is not running; starting it" in log(lc)
    assert running(lc, A)


def test_admin_stopped_instance_stays_stopped(lc: LocalCluster) -> None:
    res = lc.gnt("gnt-instance", "shutdown", B)
    assert res.returncode == 0, res.stderr
    watcher(lc)
    assert not running(lc, B)
    assert B not in log(lc)


def test_pause_and_continue(lc: LocalCluster) -> None:
    res = lc.gnt("gnt-cluster", "watcher", "pause", "1h")
    assert res.returncode == 0 and "paused until" in res.stdout, res.stderr
    info = lc.gnt("gnt-cluster", "watcher", "info")
    assert "The watcher is paused until" in info.stdout
    kill(lc, A)
    watcher(lc)
    assert not running(lc, A)
    assert "Watcher paused until" in log(lc)
    # Every node's watcher reads its own copy of the pause file.
    node2_pause = Path(lc.node(2).paths.watcher_pause_file)
    assert node2_pause.exists()
    watcher(lc, 2)
    assert "Watcher paused until" in log(lc, 2)
    res = lc.gnt("gnt-cluster", "watcher", "continue")
    assert res.stdout.strip() == "The watcher is no longer paused."
    assert not node2_pause.exists()
    info = lc.gnt("gnt-cluster", "watcher", "info")
    assert info.stdout.strip() == "The watcher is not paused."
    watcher(lc)
    assert running(lc, A)


def test_bad_pause_duration(lc: LocalCluster) -> None:
    res = lc.gnt("gnt-cluster", "watcher", "pause", "soon")
    assert res.returncode != 0
    assert "Invalid time specification 'soon'" in res.stderr + res.stdout
    res = lc.gnt("gnt-cluster", "watcher", "stop")
    assert res.returncode != 0
    assert "Unknown watcher command 'stop'" in res.stderr + res.stdout


def crash_and_watch(lc: LocalCluster, name: str) -> None:
    """Kill node 2's daemon ``name`` and run that node's watcher: it
    starts a new one and says so."""
    pid_file = lc.node(2).paths.pid_file(name)
    pid = daemon.read_pid(pid_file)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemon.is_running(pid_file), f"{name} gone")
    watcher(lc, 2)
    assert daemon.is_running(pid_file)
    assert daemon.read_pid(pid_file) != pid
    assert f"Daemon {name} is not running; starting it" in log(lc, 2)


def test_restarts_a_crashed_node_daemon(lc: LocalCluster) -> None:
    crash_and_watch(lc, constants.NODED)

    # The restarted daemon serves the cluster again (bound to its IP; the
    # watcher returns once it runs, it may listen a moment later).
    def answers() -> bool:
        res = lc.gnt("gnt-node", "list", "-o", "name,mfree", "--no-headers")
        assert res.returncode == 0, res.stderr
        return "?" not in res.stdout

    wait_for(answers, "node 2's restarted node daemon to answer")


def test_restarts_a_crashed_confd_on_a_candidate(lc: LocalCluster) -> None:
    crash_and_watch(lc, constants.CONFD)
    # Bound to the node's IP again: it answers there.
    res = lc.gnt("gnt-debug", "confd", "--node", lc.node(2).ip, "ping")
    assert (res.returncode, res.stdout) == (0, "ok\n"), res.stderr


def test_drained_queue_submits_nothing(lc: LocalCluster) -> None:
    assert lc.gnt("gnt-cluster", "queue", "drain").returncode == 0
    kill(lc, A)
    watcher(lc)
    assert not running(lc, A)
    assert "The job queue is drained" in log(lc)


def test_watcher_hooks_run(lc: LocalCluster) -> None:
    node = lc.node(2)
    hooks = Path(node.paths.hooks_dir) / "watcher"
    hooks.mkdir(parents=True)
    marker = Path(node.root) / "hook-ran"
    script = hooks / "10-mark"
    script.write_text(f"#!/bin/sh\necho \"$GANETI_DATA_DIR\" > {marker}\n")
    script.chmod(0o755)
    skipped = hooks / "bad.name"
    skipped.write_text("#!/bin/sh\nexit 1\n")
    skipped.chmod(0o755)
    watcher(lc, 2)
    assert marker.read_text().strip() == node.paths.data_dir
    assert "Watcher hook 10-mark ran" in log(lc, 2)
    assert "failed" not in log(lc, 2)
