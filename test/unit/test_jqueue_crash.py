"""Crash safety of the job queue: restarts after a dead master, kill -9
during submissions, damaged files."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from test_jqueue import op, wait_done
from testkit import WAIT

from ganeti import constants, errors, opcodes, serializer
from ganeti.jqueue import JobQueue, OpContext, storage
from ganeti.jqueue.model import _QueuedJob
from ganeti.jqueue.queue import Recovery

PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pylib")


def echo(o: opcodes.OpCode, ctx: OpContext) -> Any:
    return o.duration


def write_job(qdir: str, job_id: int, statuses: list[str]) -> None:
    """A job file as a master that died mid-way would have left it."""
    job = _QueuedJob(job_id, [op(float(i)) for i in range(len(statuses))],
                     (100, 0))
    for qop, status in zip(job.ops, statuses, strict=True):
        qop.status = status
        if status == "success":
            qop.result = qop.input.duration
    if any(s != "queued" for s in statuses):
        job.start_timestamp = (101, 0)
    job.add_log((101, 5), constants.ELOG_MESSAGE, "started", 0)
    with open(os.path.join(qdir, f"job-{job_id}"), "wb") as handle:
        handle.write(serializer.dumps(job.to_dict()))


def test_restart_recovers_interrupted_opcodes_before_other_jobs(
        tmp_path: Any) -> None:
    """A running opcode with a recovery plan: the plan's opcode runs in
    the job (its log says so), before any queued job, and the job ends
    with the plan's message; a failed recovery says so; an opcode
    without a plan fails as before."""
    qdir = str(tmp_path / "queue")
    os.makedirs(qdir)
    write_job(qdir, 1, ["success", "running", "queued"])  # op 1: plan 7
    write_job(qdir, 2, ["running"])                       # no plan
    write_job(qdir, 3, ["success", "running"])            # plan, no opcode
    write_job(qdir, 4, ["success", "success", "running"])  # plan 9 fails
    write_job(qdir, 5, ["queued"])
    with open(os.path.join(qdir, "serial"), "w") as handle:
        handle.write("5\n")
    ran: list[float] = []
    planned: list[tuple[float, float]] = []

    def processor(o: opcodes.OpCode, ctx: OpContext) -> Any:
        ran.append(o.duration)
        if o.duration == 9:
            raise errors.OpExecError("the node is gone")
        ctx.feedback(constants.ELOG_MESSAGE, f"recovering {o.duration}")
        return o.duration

    # Asked for jobs 1-4 in id order (their running opcodes).
    plans = [Recovery("rolled back: one", op(7.0)), None,
             Recovery("rolled back: nothing to do"),
             Recovery("recovery of four", op(9.0))]

    def planner(o: opcodes.OpCode, began: float) -> Recovery | None:
        planned.append((o.duration, began))
        return plans[len(planned) - 1]

    q = JobQueue(processor, queue_dir=qdir, workers=2, recovery=planner)
    try:
        status, opstatus, results = wait_done(q, 1)
        assert (status, opstatus) == ("error", ["success", "error", "error"])
        assert errors.decode(results[1]).message == "rolled back: one"
        log = q.query_jobs([1], ["oplog"])[0][0][1]
        assert [e[3] for e in log] == [
            "Interrupted by a master crash; recovering with OP_TEST_DELAY",
            "recovering 7.0"]
        assert errors.decode(wait_done(q, 2)[2][0]).message == \
            "Unclean master daemon shutdown"
        assert errors.decode(wait_done(q, 3)[2][1]).message == \
            "rolled back: nothing to do"
        failed = errors.decode(wait_done(q, 4)[2][2]).message
        assert failed == ("Interrupted by a master crash; OP_TEST_DELAY"
                          " failed to recover: the node is gone"), failed
        assert wait_done(q, 5)[0] == "success"
        # Recoveries first (7 and 9), the queued job (0.0) after them.
        assert ran == [7.0, 9.0, 0.0]
        assert planned == [(1.0, 101.0), (0.0, 101.0), (1.0, 101.0),
                           (2.0, 101.0)]
    finally:
        assert q.shutdown(WAIT)
    job = storage.load_job_file(os.path.join(qdir, "job-1"))
    assert job.status == "error" and job.end_timestamp is not None


def test_restart_fails_interrupted_jobs_and_runs_queued(tmp_path: Any) -> None:
    qdir = str(tmp_path / "queue")
    os.makedirs(qdir)
    write_job(qdir, 1, ["success", "running", "queued"])
    write_job(qdir, 2, ["waiting"])
    write_job(qdir, 3, ["canceling", "canceling"])
    write_job(qdir, 4, ["queued", "queued"])
    write_job(qdir, 5, ["success", "queued"])  # stopped between opcodes
    write_job(qdir, 6, ["success"])
    with open(os.path.join(qdir, "serial"), "w") as handle:
        handle.write("6\n")
    q = JobQueue(echo, queue_dir=qdir, workers=2)
    try:
        for job_id, expected in [(1, ["success", "error", "error"]),
                                 (2, ["error"]), (3, ["error", "error"])]:
            status, opstatus, results = wait_done(q, job_id)
            assert (status, opstatus) == ("error", expected)
            for res in results:
                if res is not None and not isinstance(res, float):
                    err = errors.decode(res)
                    assert err.message == "Unclean master daemon shutdown"
        assert wait_done(q, 4) == ["success", ["success", "success"],
                                       [0.0, 1.0]]
        assert wait_done(q, 5) == ["success", ["success", "success"],
                                       [0.0, 1.0]]
        assert wait_done(q, 6)[0] == "success"
        assert q.query_jobs([1], ["oplog"]) == [
            [[[[1, [101, 5], "message", "started"]], [], []]]]
        assert q.submit_job([op()]) == 7
    finally:
        assert q.shutdown(WAIT)
    # The verdict was persisted.
    job = storage.load_job_file(os.path.join(qdir, "job-2"))
    assert job.status == "error"
    assert job.end_timestamp is not None


def test_damaged_job_file_is_moved_aside(tmp_path: Any) -> None:
    qdir = str(tmp_path / "queue")
    os.makedirs(qdir)
    write_job(qdir, 1, ["queued"])
    with open(os.path.join(qdir, "job-2"), "wb") as handle:
        handle.write(b'{"id": 2, "ops": [')
    write_job(qdir, 3, ["success"])
    with open(os.path.join(qdir, "job-4"), "wb") as handle:
        handle.write(serializer.dumps({"id": 5, "ops": []}))
    with open(os.path.join(qdir, "job-9.tmp"), "wb") as handle:
        handle.write(b"half a write")
    with open(os.path.join(qdir, "job-notanumber"), "wb") as handle:
        handle.write(b"ignored")
    q = JobQueue(echo, queue_dir=qdir, workers=1)
    try:
        assert q.get_job_ids() == [1, 3]
        assert wait_done(q, 1)[0] == "success"
        names = sorted(os.listdir(qdir))
        assert any(n.startswith("job-2.corrupt-") for n in names)
        assert any(n.startswith("job-4.corrupt-") for n in names)
        assert "job-9.tmp" not in names
        assert "job-notanumber" in names
        # The damaged ids stay used.
        assert q.submit_job([op()]) == 5
    finally:
        assert q.shutdown(WAIT)


# --- real processes killed with SIGKILL ---------------------------------------

CHILD_BLOCKING = textwrap.dedent("""
    import os, sys, threading
    from ganeti import opcodes
    from ganeti.jqueue import JobQueue

    def say(line):  # one write: threads can not interleave lines
        os.write(1, (line + "\\n").encode())

    def proc(op, ctx):
        if op.comment == "block":
            ctx.notify_running()
            say(f"RUNNING {ctx.job_id}")
            threading.Event().wait()
        return op.duration

    q = JobQueue(proc, queue_dir=sys.argv[1], workers=1)
    first = q.submit_job([opcodes.OpTestDelay(duration=1.0, comment="block"),
                          opcodes.OpTestDelay(duration=2.0)])
    second = q.submit_job([opcodes.OpTestDelay(duration=3.0)])
    say(f"SUBMITTED {first} {second}")
    threading.Event().wait()
""")

CHILD_SUBMITTER = textwrap.dedent("""
    import os, sys
    from ganeti import opcodes
    from ganeti.jqueue import JobQueue

    def say(line):
        os.write(1, (line + "\\n").encode())

    q = JobQueue(lambda op, ctx: op.duration, queue_dir=sys.argv[1],
                 workers=4)
    n = 0
    while True:
        n += 1
        if n % 3:
            job_id = q.submit_job([opcodes.OpTestDelay(duration=float(n))])
            say(str(job_id))
        else:
            for ok, job_id in q.submit_many_jobs(
                    [[opcodes.OpTestDelay(duration=float(n))]] * 3):
                say(str(job_id))
""")


class Child:
    """A Python child process whose stdout lines are read with a deadline."""

    def __init__(self, code: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=PYLIB)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""

    def readline(self) -> str:
        deadline = time.monotonic() + WAIT
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sel.select(left):
                raise AssertionError("child produced no output in time")
            chunk = os.read(fd, 65536)
            if not chunk:
                err = self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"child ended: {err.decode()[-2000:]}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)
        self._sel.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def test_kill_during_run_then_restart(tmp_path: Any) -> None:
    qdir = str(tmp_path / "queue")
    child = Child(CHILD_BLOCKING, qdir)
    try:
        lines = sorted(child.readline().split() for _ in range(2))
        (_, running), (_, first, second) = lines
        assert running == first
    finally:
        child.kill()
    q = JobQueue(echo, queue_dir=qdir, workers=1)
    try:
        status, opstatus, results = wait_done(q, int(first))
        assert (status, opstatus) == ("error", ["error", "error"])
        assert errors.decode(results[0]).message == (
            "Unclean master daemon shutdown")
        assert wait_done(q, int(second)) == ["success", ["success"], [3.0]]
    finally:
        assert q.shutdown(WAIT)


@pytest.mark.parametrize("lines", [1, 40, 300])
def test_kill_during_submissions_loses_no_job(tmp_path: Any,
                                              lines: int) -> None:
    qdir = str(tmp_path / "queue")
    child = Child(CHILD_SUBMITTER, qdir)
    try:
        returned = [int(child.readline()) for _ in range(lines)]
    finally:
        child.kill()
    assert returned == sorted(set(returned))
    for job_id in returned:  # readable without the queue's help
        job = storage.load_job_file(os.path.join(qdir, f"job-{job_id}"))
        assert job.id == job_id
    q = JobQueue(echo, queue_dir=qdir, workers=4)
    try:
        known = set(q.get_job_ids())
        assert set(returned) <= known
        for job_id in returned:
            assert wait_done(q, job_id)[0] in ("success", "error")
        assert q.submit_job([op()]) > max(known)
    finally:
        assert q.shutdown(WAIT)


def test_shutdown_while_the_workers_start(tmp_path: Any,
                                          monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """Seen in CI: a shutdown racing the recovery thread's start of the
    workers joined a worker not started yet (RuntimeError).  Here the
    first worker's start is held while a shutdown runs: the shutdown
    must wait for the workers, not fail."""
    import threading

    from ganeti.jqueue import queue as queue_mod

    starting, go = threading.Event(), threading.Event()

    class SlowStart(threading.Thread):
        def start(self) -> None:
            if self.name.startswith("JobQueue-worker"):
                starting.set()
                assert go.wait(WAIT)
            super().start()

    q = JobQueue(echo, queue_dir=str(tmp_path / "queue"), workers=2,
                 start=False)
    monkeypatch.setattr(queue_mod.threading, "Thread", SlowStart)
    starter = threading.Thread(target=q.start)
    starter.start()
    assert starting.wait(WAIT)
    outcome: list[Any] = []

    def stop() -> None:
        try:
            outcome.append(q.shutdown(WAIT))
        except Exception as err:  # the defect: joining an unstarted thread
            outcome.append(err)

    stopper = threading.Thread(target=stop)
    stopper.start()
    stopper.join(0.3)  # the defect raised at once; the fix waits here
    go.set()
    starter.join(WAIT)
    stopper.join(WAIT)
    assert outcome == [True]
