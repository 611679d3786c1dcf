"""Job priorities in the queue: run order, change-priority, persistence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jqueue import Processor, op, wait_done, wait_status
from testkit import WAIT

from ganeti import errors
from ganeti.jqueue import JobQueue, check_priority


def _run_all(q: JobQueue, ids: list[int]) -> None:
    q.start()
    for job_id in ids:
        wait_done(q, job_id)


def test_high_priority_job_overtakes_queued_ones(tmp_path: Any) -> None:
    proc = Processor()
    q = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1, start=False)
    try:
        low = q.submit_job([op(priority=10)])
        normal1 = q.submit_job([op()])
        normal2 = q.submit_job([op(priority=0)])
        high = q.submit_job([op(priority=-10)])
        _run_all(q, [low, normal1, normal2, high])
        assert [job for job, _ in proc.calls] == [high, normal1, normal2, low]
    finally:
        q.shutdown(WAIT)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-20, 19), min_size=1, max_size=8))
def test_run_order_is_priority_then_submission(
        tmp_path_factory: pytest.TempPathFactory, prios: list[int]) -> None:
    proc = Processor()
    q = JobQueue(proc, queue_dir=str(tmp_path_factory.mktemp("q")),
                 workers=1, start=False)
    try:
        ids = [q.submit_job([op(priority=p)]) for p in prios]
        _run_all(q, ids)
        expected = [j for _, j in sorted(zip(prios, ids, strict=True))]
        assert [job for job, _ in proc.calls] == expected
    finally:
        q.shutdown(WAIT)


def test_change_priority_moves_a_queued_job(tmp_path: Any) -> None:
    proc = Processor()
    q = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1, start=False)
    try:
        first = q.submit_job([op()])
        second = q.submit_job([op(), op()])
        ok, msg = q.change_job_priority(second, -10)
        assert ok, msg
        assert msg == (f"Priorities of pending opcodes for job {second} "
                       "have been changed to -10")
        assert q.query_jobs([second], ["priority", "oppriority"]) == [
            [-10, [-10, -10]]]
        # back and forth leaves one valid queue entry; the job runs once
        assert q.change_job_priority(first, 5)[0]
        assert q.change_job_priority(first, 0)[0]
        _run_all(q, [first, second])
        assert proc.calls == [(second, 0), (second, 1), (first, 0)]
    finally:
        q.shutdown(WAIT)


def test_change_priority_survives_a_restart(tmp_path: Any) -> None:
    qdir = str(tmp_path / "q")
    proc = Processor()
    q = JobQueue(proc, queue_dir=qdir, workers=1, start=False)
    first = q.submit_job([op()])
    second = q.submit_job([op()])
    assert q.change_job_priority(second, -20)[0]
    assert q.shutdown(WAIT)
    q = JobQueue(proc, queue_dir=qdir, workers=1, start=False)
    try:
        assert q.query_jobs([second], ["priority"]) == [[-20]]
        _run_all(q, [first, second])
        assert [job for job, _ in proc.calls] == [second, first]
    finally:
        q.shutdown(WAIT)


def test_change_priority_of_waiting_job_keeps_running_ops(
        tmp_path: Any) -> None:
    proc = Processor()
    seen: list[int] = []
    q = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=2)
    try:
        waiting = q.submit_job([op(comment="wait"), op()])
        assert proc.entered.wait(WAIT)
        assert q.change_job_priority(waiting, 7)[0]
        assert q.query_jobs([waiting], ["oppriority"]) == [[[7, 7]]]
        proc.release.set()
        wait_done(q, waiting)
        proc.entered.clear()
        proc.release.clear()
        running = q.submit_job([op(comment="run"), op()])
        assert proc.entered.wait(WAIT)
        wait_status(q, running, "running")
        ok, msg = q.change_job_priority(running, -5)
        assert ok, msg
        # the running opcode keeps its priority, the queued one changes
        assert q.query_jobs([running], ["oppriority"]) == [[[0, -5]]]
        proc.release.set()
        wait_done(q, running)
        seen.extend(r[0] for r in q.query_jobs([running], ["priority"]))
        assert seen == [-5]
    finally:
        proc.release.set()
        q.shutdown(WAIT)


def test_change_priority_of_only_running_opcode_is_refused(
        tmp_path: Any) -> None:
    proc = Processor()
    q = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1)
    try:
        job = q.submit_job([op(comment="run")])
        assert proc.entered.wait(WAIT)
        wait_status(q, job, "running")
        assert q.change_job_priority(job, 3) == (
            False, f"Job {job} had no pending opcodes")
        assert q.query_jobs([job], ["oppriority"]) == [[[0]]]
    finally:
        proc.release.set()
        q.shutdown(WAIT)


def test_change_priority_of_finished_or_unknown_job(tmp_path: Any) -> None:
    proc = Processor()
    q = JobQueue(proc, queue_dir=str(tmp_path / "q"), workers=1)
    try:
        job = q.submit_job([op()])
        wait_done(q, job)
        assert q.change_job_priority(job, -10) == (
            False, f"Job {job} is finished")
        assert q.query_jobs([job], ["priority"]) == [[0]]
        assert q.change_job_priority(99, 1) == (False, "Job 99 not found")
    finally:
        q.shutdown(WAIT)


@pytest.mark.parametrize("bad", [20, -21, "high", 1.5, True, None])
def test_bad_priority_is_refused_and_changes_nothing(tmp_path: Any,
                                                      bad: Any) -> None:
    q = JobQueue(Processor(), queue_dir=str(tmp_path / "q"), start=False)
    try:
        job = q.submit_job([op(priority=4)])
        with pytest.raises(errors.OpPrereqError, match="Invalid priority"):
            q.change_job_priority(job, bad)
        assert q.query_jobs([job], ["oppriority"]) == [[[4]]]
        with pytest.raises(errors.OpPrereqError):
            check_priority(bad)
    finally:
        q.shutdown(WAIT)


def test_submit_with_out_of_range_priority_is_refused(tmp_path: Any) -> None:
    q = JobQueue(Processor(), queue_dir=str(tmp_path / "q"), start=False)
    try:
        with pytest.raises(errors.OpPrereqError, match="priority"):
            q.submit_job([{"OP_ID": "OP_TEST_DELAY", "duration": 1.0,
                           "priority": 20}])
        assert q.get_job_ids() == []
    finally:
        q.shutdown(WAIT)
