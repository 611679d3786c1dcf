"""ganeti-masterd start-up refusals, orderly shutdown and crash recovery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import WAIT_TIMEOUT, Cli, MasterDaemon, make_config

from ganeti import errors

pytestmark = pytest.mark.integration


def _submit(master: MasterDaemon, duration: float) -> int:
    with master.client() as cl:
        return cl.submit_job([{"OP_ID": "OP_TEST_DELAY",
                               "duration": duration}])


def test_refuses_a_second_copy(master: MasterDaemon,
                               masterd_factory: Callable[[Path], MasterDaemon],
                               cluster_root: Path) -> None:
    second = masterd_factory(cluster_root)
    proc = second.spawn()
    assert proc.wait(WAIT_TIMEOUT) == errors.EXIT_FAILURE
    assert "Another copy is already running" in second.output()
    # The first one still serves.
    assert master.job_field(_submit(master, 0), "id") is not None


def test_refuses_without_config(tmp_path: Path, masterd_factory: Callable[
        [Path], MasterDaemon]) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    daemon = masterd_factory(root)
    proc = daemon.spawn()
    assert proc.wait(WAIT_TIMEOUT) == errors.EXIT_NOTCLUSTER == 5
    assert "not part of a cluster" in daemon.output()


def test_refuses_on_a_non_master(tmp_path: Path, masterd_factory: Callable[
        [Path], MasterDaemon]) -> None:
    root = tmp_path / "other"
    root.mkdir()
    make_config(root, extra_nodes=1)
    daemon = masterd_factory(root)
    proc = daemon.spawn(hostname="node2.example.com")
    assert proc.wait(WAIT_TIMEOUT) == errors.EXIT_NOTMASTER == 11
    assert "not the master" in daemon.output()


def test_sigterm_lets_the_running_opcode_finish(
        cluster_root: Path, masterd_factory: Callable[[Path], MasterDaemon],
        gnt: Cli) -> None:
    master = masterd_factory(cluster_root).start("--workers", "1")
    running = _submit(master, 1.5)
    queued = _submit(master, 0)
    master.wait_status(running, ["running"])
    assert master.terminate() == 0
    # Restarted: the running opcode had finished; the queued job runs now.
    master.start("--workers", "1")
    assert master.job_field(running, "status") == "success"
    master.wait_status(queued, ["success"])
    assert gnt("gnt-job", "watch", str(queued)).returncode == 0


def test_kill_9_then_restart_recovers(
        cluster_root: Path, masterd_factory: Callable[[Path], MasterDaemon],
        gnt: Cli) -> None:
    master = masterd_factory(cluster_root).start("--workers", "1")
    running = _submit(master, 600)
    queued = [_submit(master, 0) for _ in range(3)]
    master.wait_status(running, ["running"])
    master.kill()
    master.start("--workers", "1")
    listed = gnt("gnt-job", "list", "--no-headers", "-o", "id")
    assert [int(j) for j in listed.stdout.split()] == [running, *queued]
    assert master.job_field(running, "status") == "error"
    info = gnt("gnt-job", "info", str(running)).stdout
    assert "Unclean master daemon shutdown" in info
    watched = gnt("gnt-job", "watch", str(running))
    assert watched.returncode == 1
    assert "Unclean master daemon shutdown" in watched.stderr
    for job_id in queued:
        master.wait_status(job_id, ["success"])
