"""Job priorities on a real master daemon with one worker (a busy
queue): a high-priority job overtakes queued low-priority ones,
``gnt-job change-priority`` moves a queued job, ``gnt-job wait`` and
``gnt-job list -F`` see the result."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Cli, MasterDaemon

from ganeti import errors

pytestmark = pytest.mark.integration

JOB_ID = re.compile(r"^JobID: (\d+)$", re.M)
#: Long enough that the commands below run while it does.
BLOCKER_SECONDS = 6.0


def _opfile(path: Path, duration: float, priority: int) -> str:
    path.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY",
                                 "duration": duration,
                                 "priority": priority}]))
    return str(path)


def _start(master: MasterDaemon, job_id: int) -> float:
    (start,) = master.job_field(job_id, "opstart")
    return float(start[0]) + float(start[1]) / 1e6


def test_high_priority_overtakes_and_change_priority(
        cluster_root: Path, tmp_path: Path, gnt: Cli,
        masterd_factory: Callable[..., MasterDaemon]) -> None:
    master = masterd_factory(cluster_root).start("--workers", "1")
    files = [_opfile(tmp_path / "blocker.json", BLOCKER_SECONDS, -20),
             _opfile(tmp_path / "low_a.json", 0.0, 10),
             _opfile(tmp_path / "low_b.json", 0.0, 10),
             _opfile(tmp_path / "normal.json", 0.0, 0)]
    # One request: every job is queued before the worker picks one.
    result = gnt("gnt-debug", "submit-job", "--submit", *files)
    assert result.returncode == 0, result.stderr
    blocker, low_a, low_b, normal = map(int, JOB_ID.findall(result.stdout))

    moved = gnt("gnt-job", "change-priority", "--priority", "high",
                str(low_b))
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout == (f"Priorities of pending opcodes for job {low_b}"
                            " have been changed to -10\n")
    high = gnt("gnt-debug", "delay", "--submit", "--print-jobid",
               "--priority", "high", "0")
    assert high.returncode == 0, high.stderr
    first, second = high.stdout.splitlines()
    assert second == f"JobID: {first}"
    high_id = int(first)
    assert master.job_field(blocker, "status") == "running", (
        "the blocker ended before the test queued its jobs")

    for job_id in (blocker, low_a, low_b, normal, high_id):
        waited = gnt("gnt-job", "wait", str(job_id))
        assert (waited.returncode, waited.stdout) == (0, ""), waited.stderr
    order = sorted([blocker, low_a, low_b, normal, high_id],
                   key=lambda j: _start(master, j))
    assert order == [blocker, low_b, high_id, normal, low_a]

    listed = gnt("gnt-job", "list", "--no-headers", "-o", "id,priority",
                 "-F", "priority < 0 and id != " + str(blocker))
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.splitlines()] == [
        [str(low_b), "-10"], [str(high_id), "-10"]]

    with master.client() as cl, pytest.raises(errors.GenericError,
                                              match="priority"):
        cl.change_job_priority(low_a, 20)  # out of range: refused
    finished = gnt("gnt-job", "change-priority", "--priority", "low",
                   str(low_a))
    assert finished.returncode == 1
    assert finished.stderr == f"Job {low_a} is finished\n"
    assert master.job_field(low_a, "priority") == 10


def test_wait_reports_a_failed_job(master: MasterDaemon, gnt: Cli) -> None:
    result = gnt("gnt-debug", "delay", "--submit", "-n", "nosuch.example.com",
                 "0")
    assert result.returncode == 0, result.stderr
    (job_id,) = JOB_ID.findall(result.stdout)
    waited = gnt("gnt-job", "wait", job_id)
    assert waited.returncode == 1
    assert waited.stderr.startswith(f"Job {job_id} failed: ")
    missing = gnt("gnt-job", "wait", "9999")
    assert missing.returncode != 0
    assert "Job 9999 not found" in missing.stderr
