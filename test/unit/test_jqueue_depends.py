"""Job dependencies (an opcode's ``depends``): waiting without holding a
worker, statuses required, relative ids within one SubmitManyJobs,
refusals, and a restart while a job waits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jqueue import Processor, op, wait_done
from testkit import WAIT

from ganeti import errors, opcodes
from ganeti.jqueue import JobQueue
from ganeti.opcodes.base import MAX_JOB_ID


@pytest.fixture
def proc() -> Processor:
    return Processor()


@pytest.fixture
def q(tmp_path: Any, proc: Processor) -> Any:
    queue = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=2)
    yield queue
    proc.release.set()
    queue.shutdown(WAIT)


def _log(q: JobQueue, job_id: int) -> list[str]:
    (oplog,), = q.query_jobs([job_id], ["oplog"])
    return [entry[3] for entries in oplog for entry in entries]


def _wait_log(q: JobQueue, job_id: int, text: str) -> list[str]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [m for m in _log(q, job_id) if text in m]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never logged {text!r}")


def test_a_job_waits_for_its_dependency_without_holding_a_worker(
        q: JobQueue, proc: Processor) -> None:
    """Two workers: one runs the blocker; the other looks at the waiter,
    leaves it queued (its log says what it waits for) and runs a third
    job meanwhile."""
    blocker = q.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    waiter = q.submit_job([op(depends=[[blocker, ["success"]]])])
    assert _wait_log(q, waiter, "Waiting") == [
        f"Waiting for job {blocker} to finish (to end with status success)"]
    assert q.query_jobs([waiter], ["status"]) == [["queued"]]
    free = q.submit_job([op()])
    assert wait_done(q, free)[0] == "success"
    assert q.query_jobs([waiter], ["status"]) == [["queued"]]
    proc.release.set()
    assert wait_done(q, waiter)[0] == "success"
    assert [job for job, _ in proc.calls] == [blocker, free, waiter]


def test_a_dependency_in_the_wrong_status_fails_the_job_unrun(
        q: JobQueue, proc: Processor) -> None:
    failed = q.submit_job([op(comment="fail")])
    assert wait_done(q, failed)[0] == "error"
    dependent = q.submit_job([op(depends=[[failed, ["success"]]]), op()])
    status, opstatus, opresult = wait_done(q, dependent)
    assert status == "error"
    assert opstatus == ["error", "error"]
    assert (f"Dependency job {failed} ended with status 'error', not"
            " 'success' as required") in str(opresult[0])
    assert all(job != dependent for job, _ in proc.calls)


def test_any_final_status_satisfies_an_empty_status_list(
        q: JobQueue) -> None:
    failed = q.submit_job([op(comment="fail")])
    wait_done(q, failed)
    after = q.submit_job([op(depends=[[failed, []]])])
    assert wait_done(q, after)[0] == "success"


def test_a_canceled_dependency_wakes_its_dependent(
        tmp_path: Any, proc: Processor) -> None:
    queue = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1,
                     start=False)
    try:
        target = queue.submit_job([op()])
        dependent = queue.submit_job([op(depends=[[target, ["canceled"]]])])
        queue.start()
        # the dependent may be looked at before or after the cancel
        ok, _msg = queue.cancel_job(target)
        if ok:
            assert wait_done(queue, dependent)[0] == "success"
        else:  # the target ran first: success is not what was required
            assert wait_done(queue, dependent)[0] == "error"
    finally:
        queue.shutdown(WAIT)


def test_unknown_and_later_jobs_are_refused_at_start(q: JobQueue) -> None:
    ghost = q.submit_job([op(depends=[[999, []]])])
    _, _, result = wait_done(q, ghost)
    assert f"Job {ghost} cannot depend on job 999" in str(result[0])
    first = q.submit_job([op()])
    wait_done(q, first)
    q.archive_job(first)
    after = q.submit_job([op(depends=[[first, ["success"]]])])
    assert wait_done(q, after)[0] == "success"  # found in the archive


def test_a_missing_earlier_job_fails_the_dependent(
        tmp_path: Any, proc: Processor) -> None:
    queue = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1)
    try:
        first = queue.submit_job([op()])
        wait_done(queue, first)
        queue.archive_job(first)
        for path in (tmp_path / "q").rglob(f"job-{first}"):
            path.unlink()  # an archive cleaned by hand
        after = queue.submit_job([op(depends=[[first, []]])])
        _, _, result = wait_done(queue, after)
        assert f"Dependency job {first} not found" in str(result[0])
    finally:
        queue.shutdown(WAIT)


def test_relative_ids_within_one_submission(q: JobQueue) -> None:
    results = q.submit_many_jobs([
        [op()],
        [op(comment="bad", duration=-1)],  # refused: negative duration
        [op(depends=[[-2, ["success"]]])],
        [op(depends=[[-2, []]])],  # refers to the refused job
        [op(depends=[[-1, ["success"]], [-4, ["success"]]])],
        [op(depends=[[-9, []]])],
    ])
    assert [ok for ok, _ in results] == [True, False, True, False, False,
                                         False]
    first, third = results[0][1], results[2][1]
    assert isinstance(first, int) and isinstance(third, int)
    assert "refers to job 2 of this submission, which was refused" \
        in str(results[3][1])
    assert "refers to job 4 of this submission, which was refused" \
        in str(results[4][1])
    assert "before the first of this submission" in str(results[5][1])
    # stored absolute
    (ops,), = q.query_jobs([third], ["ops"])
    assert ops[0]["depends"] == [[first, ["success"]]]
    assert wait_done(q, third)[0] == "success"


def test_relative_ids_count_accepted_jobs_consecutively(q: JobQueue) -> None:
    results = q.submit_many_jobs([
        [op()], [op()], [op(depends=[[-1, []], [-2, []]])]])
    ids = [job_id for _, job_id in results]
    (ops,), = q.query_jobs([ids[2]], ["ops"])
    assert ops[0]["depends"] == [[ids[1], []], [ids[0], []]]


def test_a_single_submission_refuses_relative_ids(q: JobQueue) -> None:
    with pytest.raises(errors.OpPrereqError, match="before the first"):
        q.submit_job([op(depends=[[-1, []]])])


def test_a_waiting_job_survives_a_restart(tmp_path: Any) -> None:
    qdir = str(tmp_path / "q")
    proc = Processor()
    queue = JobQueue(proc, queue_dir=qdir, workers=1, start=False)
    blocker = queue.submit_job([op()])
    waiter = queue.submit_job([op(depends=[[blocker, ["success"]]])])
    assert queue.shutdown(WAIT)
    queue = JobQueue(proc, queue_dir=qdir, workers=1)
    try:
        assert wait_done(queue, waiter)[0] == "success"
        assert [job for job, _ in proc.calls] == [blocker, waiter]
    finally:
        queue.shutdown(WAIT)


def test_a_later_opcode_waits_mid_job(q: JobQueue, proc: Processor) -> None:
    blocker = q.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    job = q.submit_job([op(), op(depends=[[blocker, []]])])
    # the first opcode runs on the other worker, the second waits
    _wait_log(q, job, f"Waiting for job {blocker}")
    assert q.query_jobs([job], ["status", "opstatus"]) == [
        ["queued", ["success", "queued"]]]
    proc.release.set()
    assert wait_done(q, job)[0] == "success"
    assert proc.calls == [(blocker, 0), (job, 0), (job, 1)]


_DEP = st.lists(st.tuples(st.integers(-2**60, 2**60),
                          st.lists(st.sampled_from(
                              ["success", "error", "canceled", "running",
                               "queued", 1]), max_size=4)), max_size=3)


@settings(max_examples=200, deadline=None)
@given(_DEP)
def test_depends_values_parse_or_give_one_line_errors(
        deps: list[tuple[int, list[Any]]]) -> None:
    data = {"OP_ID": "OP_TEST_DELAY", "duration": 0,
            "depends": [[job_id, statuses] for job_id, statuses in deps]}
    valid = all(job_id != 0 and abs(job_id) <= MAX_JOB_ID
                and all(s in ("success", "error", "canceled")
                        for s in statuses) for job_id, statuses in deps)
    try:
        parsed = opcodes.OpCode.load(data)
    except errors.OpPrereqError as err:
        assert not valid
        assert "\n" not in str(err) and "depends" in str(err)
    else:
        assert valid
        assert parsed.depends == data["depends"]


def test_reason_trail_is_kept_and_checked() -> None:
    trail = [["hbal", "hbal (ganeti) version 3.0.2-3 called",
              1796449732617691000]]
    parsed = opcodes.OpCode.load({"OP_ID": "OP_TEST_DELAY", "duration": 0,
                                  "reason": trail})
    assert parsed.reason == trail
    assert parsed.to_dict()["reason"] == trail
    for bad in ([["x", "y"]], [["x", "y", -1]], [["x", 1, 2]], "why",
                [["x", "y", 2**63]]):
        with pytest.raises(errors.OpPrereqError, match="reason"):
            opcodes.OpCode.load({"OP_ID": "OP_TEST_DELAY", "duration": 0,
                                 "reason": bad})


def test_hbal_opcode_is_accepted() -> None:
    """The migration hbal -X submits (Ganeti 3.0's htools)."""
    parsed = opcodes.OpCode.load({
        "priority": 0, "depends": None,
        "comment": "rebalancing via hbal (ganeti) version 3.0.2-3",
        "reason": [["hbal", "hbal (ganeti) version 3.0.2-3 called",
                    1796449732617691000]],
        "OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "drbd1.example.com",
        "allow_runtime_changes": False, "ignore_ipolicy": False,
        "cleanup": False, "allow_failover": True,
        "ignore_hvversions": True})
    assert isinstance(parsed, opcodes.OpInstanceMigrate)
    assert parsed.allow_failover and parsed.ignore_hvversions
    assert parsed.depends is None


def test_hbal_secondary_move_and_failover_are_accepted() -> None:
    """hbal's other moves: a new secondary (replace-disks) and, for
    instances it may not migrate, a failover to a node."""
    common = {"priority": 0, "depends": None, "comment": "hbal",
              "reason": [["hbal", "called", 1]]}
    replace = opcodes.OpCode.load({
        **common, "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
        "instance_name": "drbd1.example.com", "early_release": False,
        "ignore_ipolicy": False, "mode": "replace_new_secondary",
        "disks": [], "remote_node": "node3.example.com"})
    assert isinstance(replace, opcodes.OpInstanceReplaceDisks)
    assert replace.remote_node == "node3.example.com"
    failover = opcodes.OpCode.load({
        **common, "OP_ID": "OP_INSTANCE_FAILOVER",
        "instance_name": "web1.example.com", "shutdown_timeout": 120,
        "ignore_consistency": False, "target_node": "node2.example.com",
        "ignore_ipolicy": False})
    assert isinstance(failover, opcodes.OpInstanceFailover)
