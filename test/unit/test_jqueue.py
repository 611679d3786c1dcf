"""The job queue: submit, run, persist, watch, cancel, drain, archive."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from testkit import WAIT, FakeClock

from ganeti import constants, errors, jqueue, opcodes, serializer
from ganeti.jqueue import JOB_NOTCHANGED, JobQueue, OpContext, storage


class Processor:
    """A test processor steered by each opcode's ``comment``.

    ``None``: return the duration; ``fail``/``crash``: raise an OpExecError
    or a ValueError; ``log``: write two log entries; ``nojson``: return a
    set; ``wait``: block "waiting for locks" until released, then check for
    cancellation; ``run``: declare running, then block until released.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[int, int]] = []

    def __call__(self, op: opcodes.OpCode, ctx: OpContext) -> Any:
        self.calls.append((ctx.job_id, ctx.op_index))
        mode = op.comment
        if mode == "fail":
            raise errors.OpExecError("boom")
        if mode == "crash":
            raise ValueError("bad value")
        if mode == "nojson":
            return {1, 2}
        if mode == "log":
            ctx.feedback(constants.ELOG_MESSAGE, "hello")
            ctx.feedback(constants.ELOG_PROGRESS, {"done": 50})
        if mode == "wait":
            ctx.notify_waiting()
            ctx.set_lock_status("waiting for cluster lock")
            self.entered.set()
            assert self.release.wait(WAIT)
            ctx.check_cancel()
            ctx.notify_running()
            return "done"
        if mode == "run":
            ctx.notify_running()
            self.entered.set()
            assert self.release.wait(WAIT)
            return "done"
        return op.duration


def op(duration: float = 1.0, comment: str | None = None,
       **kw: Any) -> opcodes.OpCode:
    return opcodes.OpTestDelay(duration=duration, comment=comment, **kw)


@pytest.fixture
def qdir(tmp_path: Any) -> str:
    return str(tmp_path / "queue")


@pytest.fixture
def proc() -> Processor:
    return Processor()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(qdir: str, proc: Processor, clock: FakeClock) -> Iterator[JobQueue]:
    q = JobQueue(proc, queue_dir=qdir, workers=4, clock=clock)
    yield q
    proc.release.set()
    assert q.shutdown(WAIT)


def wait_done(q: JobQueue, job_id: int) -> list[Any]:
    """Watch a job until it finishes; return its status and results."""
    fields = ["status", "opstatus", "opresult"]
    deadline = time.monotonic() + WAIT
    prev = None
    while time.monotonic() < deadline:
        res = q.wait_for_job_changes(job_id, fields, prev, None, 1.0)
        assert res is not None
        if res == JOB_NOTCHANGED:
            continue
        prev = res[0]
        if prev[0] in ("success", "error", "canceled"):
            return prev
    raise AssertionError(f"job {job_id} did not finish")


def wait_status(q: JobQueue, job_id: int, wanted: str) -> None:
    deadline = time.monotonic() + WAIT
    prev = None
    while time.monotonic() < deadline:
        res = q.wait_for_job_changes(job_id, ["status"], prev, None, 1.0)
        if res != JOB_NOTCHANGED:
            prev = res[0]
            if prev == [wanted]:
                return
    raise AssertionError(f"job {job_id} never became {wanted}")


# --- submission ------------------------------------------------------------

def test_submit_runs_job_and_stores_result(queue: JobQueue) -> None:
    job_id = queue.submit_job([op(2.5), op(0.5)])
    assert job_id == 1
    assert wait_done(queue, job_id) == ["success", ["success", "success"],
                                        [2.5, 0.5]]


def test_job_file_exists_when_submit_returns(qdir: str, proc: Processor,
                                             clock: FakeClock) -> None:
    q = JobQueue(proc, queue_dir=qdir, clock=clock, start=False)
    try:
        job_id = q.submit_job([op(1.0)])
        job = storage.load_job_file(os.path.join(qdir, f"job-{job_id}"))
        assert job.status == "queued"
        assert job.received_timestamp == (1000, 0)
        assert storage.read_serial(storage.QueuePaths(qdir)) == job_id
        with open(os.path.join(qdir, "version")) as handle:
            assert handle.read() == "1\n"
    finally:
        q.shutdown(WAIT)


def test_submit_accepts_dicts_and_copies_opcodes(queue: JobQueue) -> None:
    mine = op(3.0)
    job_id = queue.submit_job([mine.to_dict(), mine])
    mine.duration = 99.0
    assert wait_done(queue, job_id)[2] == [3.0, 3.0]


@pytest.mark.parametrize("bad", [
    [], "OP_TEST_DELAY", [{"OP_ID": "OP_NOPE"}], [{"duration": 1}], [42],
    [{"OP_ID": "OP_TEST_DELAY", "duration": -1}],
])
def test_submit_rejects_bad_opcodes(queue: JobQueue, bad: Any) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        queue.submit_job(bad)
    assert "\n" not in str(info.value)
    assert queue.get_job_ids() == []


def test_submit_many_jobs(queue: JobQueue) -> None:
    results = queue.submit_many_jobs([[op(1.0)], [{"OP_ID": "OP_NOPE"}],
                                      [op(2.0)]])
    assert results[0] == (True, 1)
    assert results[1][0] is False and "OP_NOPE" in str(results[1][1])
    assert results[2] == (True, 2)
    assert wait_done(queue, 2)[2] == [2.0]
    with pytest.raises(errors.OpPrereqError):
        queue.submit_many_jobs("nope")


def test_drain_flag(queue: JobQueue, qdir: str) -> None:
    assert not queue.is_drained()
    queue.set_drain_flag(True)
    assert queue.is_drained()
    assert os.path.exists(os.path.join(qdir, "drain"))
    with pytest.raises(errors.JobQueueDrainError):
        queue.submit_job([op()])
    with pytest.raises(errors.JobQueueDrainError):
        queue.submit_many_jobs([[op()]])
    queue.set_drain_flag(False)
    queue.set_drain_flag(False)
    assert queue.submit_job([op()]) == 1


def test_queue_full(qdir: str, proc: Processor) -> None:
    q = JobQueue(proc, queue_dir=qdir, size_limit=3, start=False)
    try:
        q.submit_many_jobs([[op()], [op()]])
        with pytest.raises(errors.JobQueueFull):
            q.submit_many_jobs([[op()], [op()]])
        q.submit_job([op()])
        with pytest.raises(errors.JobQueueFull) as info:
            q.submit_job([op()])
        assert info.value.code == errors.ErrorCode.QUEUE_FULL
    finally:
        q.shutdown(WAIT)


def test_jobs_run_in_id_order(qdir: str, proc: Processor) -> None:
    q = JobQueue(proc, queue_dir=qdir, workers=1, start=False)
    try:
        ids = [q.submit_job([op(float(i)), op(float(i))]) for i in range(5)]
        q.start()
        for job_id in ids:
            wait_done(q, job_id)
        assert proc.calls == [(j, i) for j in ids for i in (0, 1)]
    finally:
        q.shutdown(WAIT)


# --- failures ----------------------------------------------------------------

def test_failure_ends_the_job(queue: JobQueue, proc: Processor) -> None:
    job_id = queue.submit_job([op(1.0), op(comment="fail"), op(3.0)])
    status, opstatus, results = wait_done(queue, job_id)
    assert status == "error"
    assert opstatus == ["success", "error", "error"]
    assert results[0] == 1.0
    err = errors.decode(results[1])
    assert isinstance(err, errors.OpExecError) and err.message == "boom"
    later = errors.decode(results[2])
    assert isinstance(later, errors.OpExecError)
    assert "previous opcode" in later.message
    assert (job_id, 2) not in proc.calls


def test_foreign_exception_is_a_programmer_error(queue: JobQueue) -> None:
    job_id = queue.submit_job([op(comment="crash")])
    err = errors.decode(wait_done(queue, job_id)[2][0])
    assert isinstance(err, errors.ProgrammerError)
    assert "ValueError: bad value" in err.message


def test_result_must_be_json(queue: JobQueue) -> None:
    job_id = queue.submit_job([op(comment="nojson")])
    status, _, results = wait_done(queue, job_id)
    assert status == "error"
    assert "JSON" in errors.decode(results[0]).message


# --- feedback, lock status, timestamps --------------------------------------

def test_feedback_and_timestamps(queue: JobQueue, clock: FakeClock) -> None:
    clock.now = 1234.5
    job_id = queue.submit_job([op(comment="log")])
    wait_done(queue, job_id)
    (row,) = queue.query_jobs([job_id], [
        "id", "oplog", "received_ts", "start_ts", "end_ts", "opstart",
        "opexec", "opend", "summary", "ops", "lock_status", "priority"])
    ts = [1234, 500000]
    assert row[0] == job_id
    assert row[1] == [[[1, ts, "message", "hello"],
                       [2, ts, "progress", {"done": 50}]]]
    assert row[2:5] == [ts, ts, ts]
    assert row[5:8] == [[ts], [ts], [ts]]
    assert row[8] == ["TEST_DELAY(1.0)"]
    assert row[9][0]["OP_ID"] == "OP_TEST_DELAY"
    assert row[10] is None
    assert row[11] == 0


def test_feedback_rejects_bad_messages(queue: JobQueue) -> None:
    seen: list[BaseException] = []

    def bad_proc(o: opcodes.OpCode, ctx: OpContext) -> None:
        for kind, msg in (("shout", "x"), (constants.ELOG_MESSAGE, 5),
                          (constants.ELOG_PROGRESS, {1, 2})):
            try:
                ctx.feedback(kind, msg)
            except errors.ProgrammerError as err:
                seen.append(err)

    queue._processor = bad_proc
    wait_done(queue, queue.submit_job([op()]))
    assert len(seen) == 3


def test_lock_status_is_visible_while_waiting(queue: JobQueue,
                                              proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="wait")])
    assert proc.entered.wait(WAIT)
    assert queue.query_jobs([job_id], ["status", "lock_status"]) == [
        ["waiting", "waiting for cluster lock"]]
    proc.release.set()
    assert wait_done(queue, job_id)[0] == "success"
    assert queue.query_jobs([job_id], ["lock_status"]) == [[None]]


# --- watching ----------------------------------------------------------------

def test_watch_returns_at_once_when_different(queue: JobQueue,
                                              proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    res = queue.wait_for_job_changes(job_id, ["status"], None, None, 0)
    assert res == (["running"], [])


def test_watch_times_out_unchanged(queue: JobQueue, proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    res = queue.wait_for_job_changes(job_id, ["status"], ["running"], None,
                                     0.01)
    assert res == JOB_NOTCHANGED
    assert queue.wait_for_job_changes(job_id, ["status"], ["running"], None,
                                      0) == JOB_NOTCHANGED


def test_watch_wakes_on_change(queue: JobQueue, proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    found: list[Any] = []
    started = threading.Event()

    def watcher() -> None:
        started.set()
        found.append(queue.wait_for_job_changes(
            job_id, ["status"], ["running"], None, 60.0))

    thread = threading.Thread(target=watcher)
    thread.start()
    assert started.wait(WAIT)
    proc.release.set()
    thread.join(WAIT)
    assert not thread.is_alive()
    # It returned long before its 60 s: either it saw the change at once,
    # or it was woken by it.
    assert found == [(["success"], [])]


def test_watch_log_entries(queue: JobQueue) -> None:
    job_id = queue.submit_job([op(comment="log")])
    info = wait_done(queue, job_id)
    assert info[0] == "success"
    _, log = queue.wait_for_job_changes(job_id, ["status"], None, None, 0)
    assert [e[0] for e in log] == [1, 2]
    # A finished job answers at once, even when nothing is new.
    assert queue.wait_for_job_changes(job_id, ["status"], ["success"], 1,
                                      60.0) == (["success"],
                                                [[2, log[1][1], "progress",
                                                  {"done": 50}]])
    assert queue.wait_for_job_changes(job_id, ["status"], ["success"], 2,
                                      60.0) == (["success"], [])


def test_watch_and_query_unknown_job(queue: JobQueue) -> None:
    assert queue.wait_for_job_changes(42, ["status"], None, None, 0) is None
    assert queue.query_jobs([42], ["id"]) == [None]
    with pytest.raises(errors.UnknownFieldError):
        queue.query_jobs(None, ["bogus"])
    with pytest.raises(errors.OpPrereqError):
        queue.query_jobs(["x"], ["id"])
    with pytest.raises(errors.OpPrereqError):
        queue.wait_for_job_changes(1, ["id"], None, None, "soon")


def test_query_all_jobs_and_string_ids(queue: JobQueue) -> None:
    ids = [queue.submit_job([op(float(i))]) for i in range(3)]
    for job_id in ids:
        wait_done(queue, job_id)
    assert queue.query_jobs(None, ["id"]) == [[1], [2], [3]]
    assert queue.query_jobs(["2"], ["id", "status"]) == [[2, "success"]]
    assert queue.get_job_ids() == ids


# --- cancel -------------------------------------------------------------------

def test_cancel_queued_job(qdir: str, proc: Processor) -> None:
    q = JobQueue(proc, queue_dir=qdir, workers=1, start=False)
    try:
        job_id = q.submit_job([op(), op()])
        assert q.cancel_job(job_id) == (True, f"Job {job_id} canceled")
        q.start()
        status, opstatus, results = wait_done(q, job_id)
        assert (status, opstatus) == ("canceled", ["canceled", "canceled"])
        assert isinstance(errors.decode(results[0]), errors.CancelledError)
        other = q.submit_job([op(5.0)])
        assert wait_done(q, other)[0] == "success"
        assert proc.calls == [(other, 0)]
        ok, msg = q.cancel_job(job_id)
        assert not ok and "finished" in msg
    finally:
        q.shutdown(WAIT)


def test_cancel_waiting_job(queue: JobQueue, proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="wait"), op()])
    assert proc.entered.wait(WAIT)
    assert queue.cancel_job(job_id) == (True, f"Job {job_id} will be canceled")
    assert queue.query_jobs([job_id], ["status"]) == [["canceling"]]
    assert queue.cancel_job(job_id)[0] is True
    proc.release.set()
    status, opstatus, _ = wait_done(queue, job_id)
    assert (status, opstatus) == ("canceled", ["canceled", "canceled"])
    assert (job_id, 1) not in proc.calls


def test_cancel_running_job_is_refused(queue: JobQueue,
                                       proc: Processor) -> None:
    job_id = queue.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    ok, msg = queue.cancel_job(job_id)
    assert not ok
    assert "running" in msg and "can no longer be canceled" in msg
    proc.release.set()
    assert wait_done(queue, job_id)[0] == "success"


def test_cancel_unknown_job(queue: JobQueue) -> None:
    assert queue.cancel_job(99) == (False, "Job 99 not found")


def test_canceled_processor_that_never_checks(queue: JobQueue) -> None:
    """A processor that returns while its job is canceling, without having
    declared running, is treated as canceled."""
    reached = threading.Event()
    go = threading.Event()

    def lazy(o: opcodes.OpCode, ctx: OpContext) -> str:
        reached.set()
        assert go.wait(WAIT)
        return "ignored"

    queue._processor = lazy
    job_id = queue.submit_job([op()])
    assert reached.wait(WAIT)
    assert queue.cancel_job(job_id)[0]
    go.set()
    assert wait_done(queue, job_id)[:2] == ["canceled", ["canceled"]]


def test_spurious_cancelled_error_is_an_error(queue: JobQueue) -> None:
    def liar(o: opcodes.OpCode, ctx: OpContext) -> None:
        raise errors.CancelledError("not really")

    queue._processor = liar
    assert wait_done(queue, queue.submit_job([op()]))[0] == "error"


# --- archive --------------------------------------------------------------------

def test_archive_job(queue: JobQueue, qdir: str, proc: Processor) -> None:
    done = queue.submit_job([op()])
    wait_done(queue, done)
    busy = queue.submit_job([op(comment="run")])
    assert proc.entered.wait(WAIT)
    assert queue.archive_job(busy) is False
    assert queue.archive_job(12345) is False
    assert queue.archive_job(done) is True
    assert not os.path.exists(os.path.join(qdir, f"job-{done}"))
    archived = os.path.join(qdir, "archive", "0", f"job-{done}")
    assert storage.load_job_file(archived).status == "success"
    assert queue.get_job_ids() == [busy]
    assert queue.query_jobs([done], ["id", "status"]) == [[done, "success"]]
    assert queue.wait_for_job_changes(done, ["status"], None, None, 0) == (
        ["success"], [])
    assert queue.archive_job(done) is False


def test_autoarchive_by_age(queue: JobQueue, clock: FakeClock) -> None:
    old = [queue.submit_job([op()]) for _ in range(3)]
    for job_id in old:
        wait_done(queue, job_id)
    clock.now += 100
    young = queue.submit_job([op()])
    wait_done(queue, young)
    clock.now += 10
    assert queue.autoarchive_jobs(50, 30) == (3, 0)
    assert queue.get_job_ids() == [young]
    assert queue.autoarchive_jobs(50, 30) == (0, 0)
    assert queue.autoarchive_jobs(-1, 30) == (1, 0)
    assert queue.get_job_ids() == []
    with pytest.raises(errors.OpPrereqError):
        queue.autoarchive_jobs(-5, 30)


def test_autoarchive_stops_at_timeout(qdir: str, proc: Processor) -> None:
    ticks = FakeClock()

    def clock() -> float:
        ticks.now += 1.0  # every reading of the clock costs a second
        return ticks.now

    q = JobQueue(proc, queue_dir=qdir, clock=clock)
    try:
        for job_id in [q.submit_job([op()]) for _ in range(3)]:
            wait_done(q, job_id)
        assert q.autoarchive_jobs(-1, 0) == (0, 3)
        assert q.autoarchive_jobs(-1, 100) == (3, 0)
    finally:
        q.shutdown(WAIT)


def test_archive_subdirectory_layout() -> None:
    paths = storage.QueuePaths("/q")
    assert paths.archived_job_file(9999) == "/q/archive/0/job-9999"
    assert paths.archived_job_file(123456) == "/q/archive/12/job-123456"


# --- persistence and restarts ---------------------------------------------------------

def test_round_trip_across_restart(qdir: str, proc: Processor,
                                   clock: FakeClock) -> None:
    q = JobQueue(proc, queue_dir=qdir, clock=clock)
    ids = [q.submit_job([op(comment="log"), op(2.0)]),
           q.submit_job([op(comment="fail")])]
    for job_id in ids:
        wait_done(q, job_id)
    fields = sorted(jqueue.JOB_FIELDS)
    before = q.query_jobs(None, fields)
    assert q.shutdown(WAIT)
    q2 = JobQueue(proc, queue_dir=qdir, clock=clock, start=False)
    try:
        assert q2.query_jobs(None, fields) == before
        assert q2.submit_job([op()]) == 3
    finally:
        q2.shutdown(WAIT)


def test_ids_never_reused(qdir: str, proc: Processor) -> None:
    q = JobQueue(proc, queue_dir=qdir)
    for job_id in [q.submit_job([op()]) for _ in range(3)]:
        wait_done(q, job_id)
    assert q.autoarchive_jobs(-1, 60) == (3, 0)
    assert q.shutdown(WAIT)
    q = JobQueue(proc, queue_dir=qdir, start=False)
    assert q.submit_job([op()]) == 4
    assert q.shutdown(WAIT)
    # Even without the serial file, archived and queued ids are skipped.
    os.unlink(os.path.join(qdir, "serial"))
    q = JobQueue(proc, queue_dir=qdir, start=False)
    assert q.submit_job([op()]) == 5
    assert q.shutdown(WAIT)
    os.unlink(os.path.join(qdir, "serial"))
    os.unlink(os.path.join(qdir, "job-4"))
    os.unlink(os.path.join(qdir, "job-5"))
    q = JobQueue(proc, queue_dir=qdir, start=False)
    assert q.submit_job([op()]) == 4  # only what the disk proves is known
    assert q.shutdown(WAIT)


def test_two_queues_can_not_share_a_directory(queue: JobQueue, qdir: str,
                                              proc: Processor) -> None:
    with pytest.raises(errors.JobQueueError, match="in use"):
        JobQueue(proc, queue_dir=qdir)


def test_shutdown_stops_between_opcodes(qdir: str, proc: Processor) -> None:
    q = JobQueue(proc, queue_dir=qdir, workers=1)
    job_id = q.submit_job([op(comment="run"), op(2.0)])
    assert proc.entered.wait(WAIT)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(q.shutdown(WAIT)))
    stopper.start()
    proc.release.set()
    stopper.join(WAIT)
    assert result == [True]
    with pytest.raises(errors.JobQueueError, match="shutting down"):
        q.submit_job([op()])
    job = storage.load_job_file(os.path.join(qdir, f"job-{job_id}"))
    assert [o.status for o in job.ops] == ["success", "queued"]
    assert job.status == "queued"
    q2 = JobQueue(proc, queue_dir=qdir)
    try:
        assert wait_done(q2, job_id)[:2] == ["success", ["success", "success"]]
        assert proc.calls == [(job_id, 0), (job_id, 1)]
    finally:
        q2.shutdown(WAIT)


def test_bad_version_file(qdir: str, proc: Processor) -> None:
    os.makedirs(qdir)
    with open(os.path.join(qdir, "version"), "w") as handle:
        handle.write("7\n")
    with pytest.raises(errors.JobQueueError, match="version"):
        JobQueue(proc, queue_dir=qdir)
    # The failed start released the directory lock.
    os.unlink(os.path.join(qdir, "version"))
    JobQueue(proc, queue_dir=qdir, start=False).shutdown(WAIT)


def test_bad_serial_file(qdir: str, proc: Processor) -> None:
    os.makedirs(qdir)
    with open(os.path.join(qdir, "serial"), "w") as handle:
        handle.write("many\n")
    with pytest.raises(errors.JobQueueError, match=r"[Ss]erial"):
        JobQueue(proc, queue_dir=qdir)


def test_write_failure_fails_submit(qdir: str, proc: Processor,
                                    monkeypatch: Any) -> None:
    q = JobQueue(proc, queue_dir=qdir, start=False)
    try:
        def broken(path: str, data: bytes) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(storage, "_write_synced", broken)
        with pytest.raises(errors.JobQueueError, match="No space"):
            q.submit_job([op()])
        assert q.get_job_ids() == []
        monkeypatch.undo()
        assert q.submit_job([op()]) == 2  # the failed id is not reused
        with open(os.path.join(qdir, "job-2"), "rb") as handle:
            assert serializer.loads(handle.read())["id"] == 2
    finally:
        q.shutdown(WAIT)


def test_group_commit_shares_batches(qdir: str) -> None:
    q = JobQueue(lambda o, c: None, queue_dir=qdir, start=False)
    try:
        results = q.submit_many_jobs([[op()] for _ in range(50)])
        assert [r[1] for r in results] == list(range(1, 51))
        batches, files = q.writer_stats()
        assert files == 51  # fifty jobs and the serial
        assert batches == 1
    finally:
        q.shutdown(WAIT)


def test_constructor_checks(qdir: str) -> None:
    with pytest.raises(errors.ProgrammerError):
        JobQueue("not callable", queue_dir=qdir)  # type: ignore[arg-type]
    with pytest.raises(errors.ProgrammerError):
        JobQueue(lambda o, c: None, queue_dir=qdir, workers=0)


def test_flush_replication_waits_for_the_hooks_of_written_batches(
        queue: JobQueue, qdir: str) -> None:
    """A job file on disk is known to the replication hook once
    flush_replication returns (verify compares the candidates' queue
    with the master's files after it: no race with a batch whose hook
    has not run yet)."""
    entered = threading.Event()
    release = threading.Event()
    seen: list[str] = []

    def hook(written: dict[str, bytes], _renames: list[Any]) -> None:
        entered.set()
        assert release.wait(WAIT)
        seen.extend(written)

    queue.add_replication_hook(hook)
    job_id = queue.submit_job([op(0.0)])
    assert entered.wait(WAIT)
    assert os.path.exists(os.path.join(qdir, f"job-{job_id}"))
    assert not queue.flush_replication(0.05)  # the hook is still busy
    release.set()
    assert queue.flush_replication(WAIT)
    assert f"job-{job_id}" in seen
