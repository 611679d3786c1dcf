"""The persistent job queue: submit, run, watch, cancel, archive.

:class:`JobQueue` owns one queue directory (see :mod:`ganeti.jqueue.storage`
and ``doc/design/jobqueue.rst``).  It does not know how an opcode is
executed: a *processor* callable is injected, and is called once per opcode
with an :class:`OpContext` through which it reports progress, its lock
status, and the moments it starts waiting for locks and starts changing
things.  The master daemon passes the mcpu; tests pass a few lines.

Threads: the callers (LUXI handlers), a pool of workers running jobs, and
one writer thread persisting them.  All job state is guarded by one lock,
which is never held during disk I/O or while a processor runs.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from ganeti import constants, errors, opcodes, serializer
from ganeti.jqueue import depends, storage, submission
from ganeti.jqueue.model import (
    CANCELED,
    CANCELING,
    ERROR,
    JOBS_FINALIZED,
    QUEUED,
    RUNNING,
    SUCCESS,
    WAITING,
    Timestamp,
    _QueuedJob,
    check_fields,
    merge_time,
    split_time,
)
from ganeti.jqueue.submission import check_priority, parse_job_id
from ganeti.utils import filelock, io

_log = logging.getLogger(__name__)

#: What :meth:`JobQueue.wait_for_job_changes` returns on timeout (Ganeti's
#: ``JOB_NOTCHANGED``).
JOB_NOTCHANGED: Final = "nochange"
#: Worker threads of the master daemon (Ganeti's default).
DEFAULT_WORKERS: Final = 25

MSG_CANCELED: Final = "Job canceled by request"
MSG_PREVIOUS_FAILED: Final = "Not run: a previous opcode of the job failed"
MSG_UNCLEAN_SHUTDOWN: Final = "Unclean master daemon shutdown"
#: What :meth:`JobQueue._admit` returns for a job left waiting for
#: another (compared by identity).
_PARKED: Final = "(waiting for another job)"
#: Archive this many jobs per group commit in :meth:`autoarchive_jobs`.
_ARCHIVE_CHUNK: Final = 200

#: Executes one opcode; returns its (JSON-able) result or raises.
Processor = Callable[[opcodes.OpCode, "OpContext"], Any]


@dataclasses.dataclass(frozen=True)
class Recovery:
    """How to end an opcode that a master crash interrupted while it was
    running: ``opcode`` (when given) runs first, with its locks and
    hooks, in the interrupted job's log; then the interrupted opcode
    ends in error with ``message`` ("rolled back after a master crash:
    ..."), or with the recovery's own failure."""

    message: str
    opcode: opcodes.OpCode | None = None


#: Given the opcode a crash interrupted and when it started running
#: (wall-clock seconds), the :class:`Recovery` that finishes or undoes
#: it, or None (the opcode merely fails, as before).
RecoveryPlanner = Callable[[opcodes.OpCode, float], "Recovery | None"]


class OpContext:
    """What a processor may do to the job of the opcode it runs.

    Every method may be called from the processor's thread only.
    """

    def __init__(self, queue: JobQueue, job: _QueuedJob, op_index: int) -> None:
        self._queue = queue
        self._job = job
        self._index = op_index

    @property
    def job_id(self) -> int:
        return self._job.id

    @property
    def op_index(self) -> int:
        return self._index

    @property
    def priority(self) -> int:
        """The opcode's current priority (``gnt-job change-priority`` may
        change it while it waits for locks); lock waits use it."""
        return self._queue.get_op_priority(self._job.id, self._index)

    def feedback(self, kind: str, message: Any) -> None:
        """Append to the opcode's log (``ELOG_MESSAGE`` text or
        ``ELOG_PROGRESS`` data) and wake the job's watchers.  Log entries
        are persisted with the next batch, not waited for."""
        if kind == constants.ELOG_MESSAGE and not isinstance(message, str):
            raise errors.ProgrammerError(
                f"Log message must be a string, not {type(message).__name__}")
        serializer.dumps(message)  # a processor bug must surface here
        q = self._queue
        with q._lock:
            self._job.add_log(q._now(), kind, message, self._index)
            q._writer.request([self._job])
            q._notify(self._job)

    def set_lock_status(self, text: str | None) -> None:
        """Say what the job waits for (``gnt-job`` field ``lock_status``);
        kept in memory only."""
        q = self._queue
        with q._lock:
            self._job.lock_status = text
            q._notify(self._job)

    def notify_waiting(self) -> None:
        """The opcode waits for locks.  The queue marks an opcode waiting
        before calling the processor, so this only checks the state."""
        with self._queue._lock:
            status = self._job.ops[self._index].status
        if status not in (WAITING, CANCELING):
            raise errors.ProgrammerError(
                f"Job {self._job.id} opcode {self._index} is {status}, "
                f"it can not wait for locks")

    def notify_running(self) -> None:
        """The opcode holds its locks and starts changing things.  Returns
        once that is durable; raises :class:`errors.CancelledError` if the
        job was canceled while it waited."""
        q = self._queue
        with q._lock:
            op = self._job.ops[self._index]
            if op.status == RUNNING:
                return
            if op.status == CANCELING:
                raise errors.CancelledError(MSG_CANCELED)
            op.set_status(RUNNING)
            op.exec_timestamp = q._now()
            self._job.lock_status = None
            ticket = q._request([self._job])
            q._notify(self._job)
        q._writer.wait(ticket)

    def check_cancel(self) -> None:
        """Raise :class:`errors.CancelledError` if the job was canceled
        (the mcpu calls this between lock attempts)."""
        with self._queue._lock:
            if self._job.ops[self._index].status == CANCELING:
                raise errors.CancelledError(MSG_CANCELED)


class JobObserver(Protocol):
    """Told of job status changes (:mod:`ganeti.master_metrics`);
    called with the queue lock held, so it must be quick."""

    def job_status_changed(self, old: str | None, new: str | None) -> None:
        ...

    def job_submitted(self, count: int) -> None: ...

    def job_finished(self, opcode: str, status: str, seconds: float) -> None:
        ...


class _RecoveryContext(OpContext):
    """The context of a recovery opcode: it runs inside the interrupted
    opcode, which is already running, so there is no state to move."""

    def notify_waiting(self) -> None:
        pass

    def notify_running(self) -> None:
        pass


class JobQueue:
    """The job queue of the master daemon (see the module doc).

    ``clock`` gives wall-clock seconds for timestamps and archive ages.
    ``start=False`` loads (and recovers) the queue without starting the
    workers; :meth:`start` does that later.
    """

    def __init__(self, processor: Processor, *, queue_dir: str | None = None,
                 workers: int = DEFAULT_WORKERS,
                 clock: Callable[[], float] = time.time,
                 size_limit: int = constants.JOB_QUEUE_SIZE_HARD_LIMIT,
                 start: bool = True,
                 recovery: RecoveryPlanner | None = None) -> None:
        if not callable(processor):
            raise errors.ProgrammerError("The job processor must be callable")
        if workers < 1:
            raise errors.ProgrammerError(f"Invalid worker count {workers}")
        self._processor = processor
        self._clock = clock
        self._size_limit = size_limit
        self._worker_count = workers
        self._paths = (storage.QueuePaths(queue_dir) if queue_dir is not None
                       else storage.QueuePaths.default())
        self._lock = threading.Lock()
        self._work_cond = threading.Condition(self._lock)
        self._watchers: dict[int, list[Any]] = {}  # id -> [Condition, count]
        self._jobs: dict[int, _QueuedJob] = {}
        # Heap of (priority, job id) of queued jobs: lower priority values
        # first, then submission order.  A priority change pushes a second
        # entry; the stale one is skipped when popped (see _pop_pending).
        self._pending: list[tuple[int, int]] = []
        #: Queued jobs waiting for a job (by its id) to finish.
        self._dependents: dict[int, set[int]] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._closed = False
        self._prepare_dir()
        self._flock = self._lock_dir()
        self._writer = storage.GroupWriter(self._paths, self._lock)
        self._last_serial = 0
        self._observer: JobObserver | None = None
        #: Status of each job as last told to the observer.
        self._told: dict[int, str] = {}
        self._planner = recovery
        #: Jobs a crash interrupted whose running opcode has a recovery:
        #: they stay running until it ran (see :meth:`start`).
        self._interrupted: list[tuple[_QueuedJob, int, Recovery]] = []
        self._recovery_thread: threading.Thread | None = None
        try:
            self._load()
        except BaseException:
            self._writer.stop()
            self._flock.close()
            raise
        if start:
            self.start()

    # --- startup ------------------------------------------------------------

    def _prepare_dir(self) -> None:
        paths = self._paths
        try:
            os.makedirs(paths.queue_dir, mode=0o700, exist_ok=True)
        except OSError as err:
            raise errors.JobQueueError(
                f"Cannot create queue directory {paths.queue_dir}: "
                f"{err.strerror or err}") from err
        io.ensure_dirs([(paths.queue_dir, 0o700),
                                (paths.archive_dir, 0o700)])

    def _lock_dir(self) -> filelock.FileLock:
        lock = filelock.FileLock(self._paths.lock_file)
        try:
            lock.exclusive(timeout=0)
        except errors.LockTimeoutError:
            lock.close()
            raise errors.JobQueueError(
                f"Job queue {self._paths.queue_dir} is in use by another "
                f"process") from None
        return lock

    def _check_version(self) -> None:
        path = self._paths.version_file
        if not os.path.exists(path):
            storage.write_small_file(path, f"{constants.JOB_QUEUE_VERSION}\n")
            return
        text = io.read_file(path).strip()
        if text != str(constants.JOB_QUEUE_VERSION):
            raise errors.JobQueueError(
                f"Job queue version {text[:20]!r} found in {path}, this code "
                f"handles version {constants.JOB_QUEUE_VERSION}")

    def _load(self) -> None:
        """Read every job file; recover jobs a dead master left behind."""
        paths = self._paths
        self._check_version()
        storage.remove_stale_temporaries(paths)
        serial = storage.read_serial(paths)
        on_disk = storage.list_job_ids(paths.queue_dir)
        highest = max([serial, storage.max_archived_id(paths), *on_disk])
        if highest > serial:
            _log.warning("Serial file says %d but job %d exists; raising the "
                         "serial", serial, highest)
        self._last_serial = highest
        stamp = int(self._clock())
        recovered = []
        for job_id in on_disk:
            try:
                job = storage.load_job_file(paths.job_file(job_id))
            except errors.JobQueueError as err:
                storage.move_aside(paths, job_id, str(err), stamp)
                continue
            status = job.status
            if status == constants.JOB_STATUS_RUNNING and self._plan(job):
                pass
            elif status in (constants.JOB_STATUS_WAITING,
                            constants.JOB_STATUS_RUNNING,
                            constants.JOB_STATUS_CANCELING):
                now = self._now()
                job.mark_unfinished_ops(
                    ERROR, errors.encode(errors.OpExecError(
                        MSG_UNCLEAN_SHUTDOWN)), now)
                job.end_timestamp = now
                recovered.append(job)
                _log.warning("Job %d was %s when the master died; marked as "
                             "failed", job_id, status)
            elif status == constants.JOB_STATUS_QUEUED:
                self._pending.append((job.priority, job_id))
            self._jobs[job_id] = job
        heapq.heapify(self._pending)
        if recovered or highest > serial:
            with self._lock:
                ticket = self._writer.request(
                    recovered, serial=highest if highest > serial else None)
            self._writer.wait(ticket)

    def _plan(self, job: _QueuedJob) -> bool:
        """Keep a job a crash interrupted for recovery if its running
        opcode has one (see :class:`Recovery`)."""
        index = job.current_op_index()
        if self._planner is None or index is None \
                or job.ops[index].status != RUNNING:
            return False
        op = job.ops[index]
        began = (op.exec_timestamp or op.start_timestamp
                 or job.start_timestamp or job.received_timestamp)
        try:
            plan = self._planner(op.input,
                                 merge_time(began) if began else 0.0)
        except Exception:  # a bug in a planner must not stop the master
            _log.exception("Cannot plan the recovery of job %d", job.id)
            return False
        if plan is None:
            return False
        _log.warning("Job %d was running %s when the master died; "
                     "recovering", job.id, job.ops[index].input.OP_ID)
        self._interrupted.append((job, index, plan))
        return True

    def start(self) -> None:
        """Start the worker threads (once); first, in a thread of its
        own, the recoveries of the jobs a crash interrupted (the workers
        start after them, so no new job meets a half-done operation)."""
        with self._lock:
            if self._workers or self._stopping or self._recovery_thread:
                return
            if self._interrupted:
                self._recovery_thread = threading.Thread(
                    target=self._recover_all, daemon=True,
                    name="JobQueue-recovery")
                self._recovery_thread.start()
                return
        self._start_workers()

    def _recover_all(self) -> None:
        for job, index, plan in self._interrupted:
            try:
                self._recover(job, index, plan)
            except Exception:  # a bug; the other jobs still recover
                _log.exception("Internal error recovering job %d", job.id)
        self._interrupted = []
        self._start_workers()

    def _recover(self, job: _QueuedJob, index: int, plan: Recovery) -> None:
        ctx = _RecoveryContext(self, job, index)
        what = (f"; recovering with {plan.opcode.OP_ID}" if plan.opcode
                else "")
        ctx.feedback(constants.ELOG_MESSAGE,
                     f"Interrupted by a master crash{what}")
        error = errors.OpExecError(plan.message)
        if plan.opcode is not None:
            try:
                self._processor(plan.opcode, ctx)
            except Exception as err:  # the recovery's failure goes in the job
                error = errors.OpExecError(
                    f"Interrupted by a master crash; {plan.opcode.OP_ID} "
                    f"failed to recover: {err}")
        _log.info("Job %d: %s", job.id, error)
        with self._lock:
            now = self._now()
            job.mark_unfinished_ops(ERROR, errors.encode(error), now)
            job.end_timestamp = now
            ticket = self._request([job])
            self._notify(job)
        self._wait_logged(ticket, job)

    def _start_workers(self) -> None:
        # Started under the lock: shutdown() joins every thread in
        # _workers, which must not meet one not started yet (a recovery
        # thread starts the workers while a shutdown may run).
        with self._lock:
            if self._workers or self._stopping:
                return
            for idx in range(self._worker_count):
                thread = threading.Thread(target=self._worker, daemon=True,
                                          name=f"JobQueue-worker-{idx + 1}")
                thread.start()
                self._workers.append(thread)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting jobs, let running opcodes finish, stop the workers
        and the writer, release the queue directory.

        Jobs between two opcodes stay queued on disk and continue after a
        restart.  Returns False if some thread did not end in ``timeout``.
        """
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            self._stopping = True
            self._work_cond.notify_all()
            threads = list(self._workers)
            if self._recovery_thread is not None:
                threads.append(self._recovery_thread)
        deadline = None if timeout is None else time.monotonic() + timeout
        clean = True
        for thread in threads:
            left = None if deadline is None else max(0.0,
                                                     deadline - time.monotonic())
            thread.join(left)
            if thread.is_alive():
                _log.warning("Worker %s did not stop in time", thread.name)
                clean = False
        left = None if deadline is None else max(0.0,
                                                 deadline - time.monotonic())
        self._writer.stop(left)
        self._flock.close()
        return clean

    # --- small helpers (lock held where noted) --------------------------------

    def _now(self) -> Timestamp:
        return split_time(self._clock())

    def _notify(self, job: _QueuedJob) -> None:
        """Wake the watchers of ``job`` (lock held)."""
        entry = self._watchers.get(job.id)
        if entry is not None:
            entry[0].notify_all()

    def _wait_logged(self, ticket: int, job: _QueuedJob) -> None:
        """Wait for a status update to be durable; a failure is logged (the
        job goes on in memory and the next write carries the state)."""
        try:
            self._writer.wait(ticket)
        except errors.JobQueueError as err:
            _log.error("Cannot persist job %d: %s", job.id, err)

    # --- submission -------------------------------------------------------------

    def is_drained(self) -> bool:
        return os.path.exists(self._paths.drain_file)

    def set_drain_flag(self, drain: bool) -> None:
        """Set or clear the drain flag (a file, so it survives restarts)."""
        if drain:
            storage.write_small_file(self._paths.drain_file, "")
        else:
            storage.remove_small_file(self._paths.drain_file,
                                      self._paths.queue_dir)

    def submit_job(self, ops: Any) -> int:
        """Queue one job; returns its id once the job file is durable."""
        return self._submit([submission.prepare_one(ops)])[0]

    def submit_many_jobs(self, jobs: Any) -> list[tuple[bool, int | str]]:
        """Queue several jobs with one commit; per job ``(True, id)`` or
        ``(False, error message)`` for a job whose opcodes are invalid.
        A drained or full queue refuses the whole request."""
        if not isinstance(jobs, (list, tuple)):
            raise errors.OpPrereqError("Jobs must be given as a list")
        results: list[tuple[bool, int | str] | None] = [None] * len(jobs)
        valid: list[tuple[int, list[opcodes.OpCode]]] = []
        for idx, outcome in enumerate(submission.prepare_many(jobs)):
            if isinstance(outcome, str):
                results[idx] = (False, outcome)
            else:
                valid.append((idx, outcome))
        if valid:
            ids = self._submit([ops for _, ops in valid])
            for (idx, _), job_id in zip(valid, ids, strict=True):
                results[idx] = (True, job_id)
        return [r for r in results if r is not None]

    def _submit(self, op_lists: Sequence[list[opcodes.OpCode]]) -> list[int]:
        received = self._now()
        count = len(op_lists)
        with self._lock:
            if self._stopping:
                raise errors.JobQueueError("Job queue is shutting down")
            if self.is_drained():
                raise errors.JobQueueDrainError(
                    "Job queue is drained, refusing job")
            if len(self._jobs) + count > self._size_limit:
                raise errors.JobQueueFull(
                    f"Job queue is full ({len(self._jobs)} jobs, limit "
                    f"{self._size_limit}); archive some jobs")
            first = self._last_serial + 1
            self._last_serial += count
            for i, ops in enumerate(op_lists):
                depends.resolve(ops, first + i)
            jobs = [_QueuedJob(first + i, ops, received)
                    for i, ops in enumerate(op_lists)]
            for job in jobs:
                self._jobs[job.id] = job
            ticket = self._request(jobs, serial=self._last_serial)
        try:
            self._writer.wait(ticket)
        except errors.JobQueueError:
            with self._lock:
                for job in jobs:
                    self._jobs.pop(job.id, None)
                self._track(jobs, gone=True)
            for job in jobs:  # never run a job whose submit failed
                try:
                    io.remove_file(self._paths.job_file(job.id))
                except errors.GenericError as err:
                    _log.error("Cannot remove job file of failed submit: %s",
                               err)
            raise
        with self._lock:
            for job in jobs:
                heapq.heappush(self._pending, (job.priority, job.id))
            self._work_cond.notify(count)
            if self._observer is not None:
                self._observer.job_submitted(count)
        return [job.id for job in jobs]

    # --- observer ------------------------------------------------------------------

    def set_observer(self, observer: JobObserver | None) -> None:
        """Report job status changes to ``observer`` (the master's
        metrics), starting with every job now in the queue."""
        with self._lock:
            self._observer = observer
            self._told.clear()
            self._track(list(self._jobs.values()))

    def _request(self, jobs: list[_QueuedJob] | tuple[_QueuedJob, ...] = (),
                 *, serial: int | None = None,
                 archive: list[_QueuedJob] | tuple[_QueuedJob, ...] = ()
                 ) -> int:
        """Persist (lock held): every status change passes here, so the
        observer hears of it here."""
        self._track(jobs)
        self._track(archive, gone=True)
        return self._writer.request(jobs, serial=serial, archive=archive)

    def _track(self, jobs: Sequence[_QueuedJob], *, gone: bool = False
               ) -> None:
        observer = self._observer
        if observer is None:
            return
        for job in jobs:
            old = self._told.get(job.id)
            new = None if gone else job.status
            if old == new:
                continue
            if new is None:
                del self._told[job.id]
            else:
                self._told[job.id] = new
            observer.job_status_changed(old, new)
            if new in JOBS_FINALIZED and old is not None:
                start = job.start_timestamp or job.received_timestamp
                end = job.end_timestamp
                seconds = (merge_time(end) - merge_time(start)
                           if start is not None and end is not None else 0.0)
                observer.job_finished(job.ops[0].input.OP_ID, new, seconds)

    # --- execution ----------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._work_cond.wait()
                if self._stopping:
                    return
                job = self._pop_pending()
                if job is None:
                    continue
                index = job.current_op_index()
                assert index is not None  # a queued job has work left
                failure = self._admit(job, index)
                if failure is _PARKED:
                    continue
                self._request([job])  # waiting need not be durable
            try:
                self._run_job(job, index, failure)
            except Exception:  # a bug; keep the worker alive
                _log.exception("Internal error while running job %d", job.id)

    def _pop_pending(self) -> _QueuedJob | None:
        """The next queued job by priority, or None for a stale entry
        (lock held)."""
        prio, job_id = heapq.heappop(self._pending)
        job = self._jobs.get(job_id)
        if job is None or job.status != constants.JOB_STATUS_QUEUED:
            return None  # canceled, archived or already started meanwhile
        if job.priority != prio:
            return None  # its priority changed; the newer entry counts
        return job

    def _admit(self, job: _QueuedJob, index: int) -> str | None:
        """Start opcode ``index`` unless a job it depends on has not
        finished (lock held).  Returns :data:`_PARKED` (the job waits,
        queued, for that job), the message the opcode fails with (a
        dependency that cannot be met), or None (run it)."""
        op = job.ops[index].input
        verdict, detail = (depends.check(op, job.id, self._status_of)
                           if op.depends else (depends.RUN, None))
        if verdict == depends.WAIT:
            assert isinstance(detail, int)
            waiting = self._dependents.setdefault(detail, set())
            if job.id not in waiting:
                waiting.add(job.id)
                job.add_log(self._now(), constants.ELOG_MESSAGE,
                            depends.waiting_message(op, detail), index)
                self._request([job])
                self._notify(job)
            return _PARKED
        self._start_op(job, index)
        return str(detail) if verdict == depends.FAIL else None

    def _status_of(self, job_id: int) -> str | None:
        """A job's status, from the queue or the archive (lock held)."""
        job = self._jobs.get(job_id)
        if job is None:
            job = storage.read_archived_job(self._paths, job_id)
        return None if job is None else job.status

    def _wake_dependents(self, job: _QueuedJob) -> None:
        """Queue again the jobs waiting for ``job``, which has finished
        (lock held)."""
        for waiting_id in sorted(self._dependents.pop(job.id, ())):
            waiting = self._jobs.get(waiting_id)
            if waiting is not None \
                    and waiting.status == constants.JOB_STATUS_QUEUED:
                heapq.heappush(self._pending, (waiting.priority, waiting_id))
                self._work_cond.notify()

    def _start_op(self, job: _QueuedJob, index: int) -> None:
        """Mark an opcode as waiting for locks (lock held)."""
        now = self._now()
        op = job.ops[index]
        op.set_status(WAITING)
        op.start_timestamp = now
        if job.start_timestamp is None:
            job.start_timestamp = now
        self._notify(job)

    def _run_job(self, job: _QueuedJob, index: int | None,
                 failure: str | None = None) -> None:
        """Run the job's opcodes from ``index`` on (``failure``: the
        message that opcode fails with, unrun: see :meth:`_admit`)."""
        while index is not None:
            ctx = OpContext(self, job, index)
            outcome: tuple[str, Any]
            if failure is not None:
                index, failure = self._finish_op(
                    job, index, ("error", errors.OpExecError(failure)))
                continue
            try:
                ctx.check_cancel()
                result = self._processor(job.ops[index].input, ctx)
                serializer.dumps(result)
                outcome = ("ok", result)
            except errors.CancelledError as err:
                outcome = ("cancel", err)
            except Exception as err:  # the opcode's failure, stored in the job
                outcome = ("error", err)
            index, failure = self._finish_op(job, index, outcome)

    def _finish_op(self, job: _QueuedJob, index: int,
                   outcome: tuple[str, Any]) -> tuple[int | None, str | None]:
        """Record an opcode's outcome, start the next one; returns its index
        (None when the job is done, waits for another job or the queue
        stops) and, see :meth:`_admit`, the message it fails with."""
        kind, value = outcome
        with self._lock:
            now = self._now()
            op = job.ops[index]
            if op.status == CANCELING:
                # Canceled while waiting: whatever the processor returned, it
                # never declared that it started changing things.
                if kind != "error":
                    kind, value = "cancel", errors.CancelledError(MSG_CANCELED)
            elif kind == "cancel":
                kind = "error"  # a CancelledError nobody asked for
            if kind == "ok":
                if op.status == WAITING:
                    op.set_status(RUNNING)
                    op.exec_timestamp = now
                op.set_status(SUCCESS)
                op.result = value
                op.end_timestamp = now
            elif kind == "cancel":
                job.mark_unfinished_ops(CANCELED, errors.encode(value), now)
            else:
                if not isinstance(value, errors.GenericError):
                    _log.error("Job %d opcode %d failed unexpectedly: %s: %s",
                               job.id, index, type(value).__name__, value)
                op.set_status(ERROR)
                op.result = errors.encode(value)
                op.end_timestamp = now
                job.mark_unfinished_ops(ERROR, errors.encode(
                    errors.OpExecError(MSG_PREVIOUS_FAILED)), now)
            job.lock_status = None
            next_index = None
            failure = None
            if job.status in JOBS_FINALIZED:
                job.end_timestamp = now
                self._wake_dependents(job)
            elif not self._stopping:
                next_index = job.current_op_index()
                if next_index is not None:
                    failure = self._admit(job, next_index)
                    if failure is _PARKED:
                        next_index = failure = None
            ticket = self._request([job])
            self._notify(job)
        self._wait_logged(ticket, job)
        return next_index, failure

    # --- cancel and archive ----------------------------------------------------------

    def cancel_job(self, job_id: Any) -> tuple[bool, str]:
        """Cancel a job: at once if queued, at its next cancel check if
        waiting for locks; a running or finished job is not canceled."""
        job_id = parse_job_id(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False, f"Job {job_id} not found"
            status = job.status
            if status == constants.JOB_STATUS_QUEUED:
                now = self._now()
                job.mark_unfinished_ops(CANCELED, errors.encode(
                    errors.CancelledError(MSG_CANCELED)), now)
                job.end_timestamp = now
                self._wake_dependents(job)
                message = f"Job {job_id} canceled"
            elif status == constants.JOB_STATUS_WAITING:
                job.mark_unfinished_ops(CANCELING, None)
                message = f"Job {job_id} will be canceled"
            elif status == constants.JOB_STATUS_CANCELING:
                return True, f"Job {job_id} will be canceled"
            elif status == constants.JOB_STATUS_RUNNING:
                return False, (f"Job {job_id} is already running and can no "
                               f"longer be canceled")
            else:
                return False, f"Job {job_id} has already finished ({status})"
            ticket = self._request([job])
            self._notify(job)
        self._wait_logged(ticket, job)
        return True, message

    def change_job_priority(self, job_id: Any,
                            priority: Any) -> tuple[bool, str]:
        """Change the priority of a job's opcodes that have not started
        running (Ganeti's ``ChangeJobPriority``).

        A queued job moves in the queue at once; an opcode waiting for
        locks competes with the new priority from its next lock attempt;
        a running opcode keeps its priority.  A finished job is refused
        with nothing changed.  A priority outside -20..19 is an
        :class:`errors.OpPrereqError`.
        """
        job_id = parse_job_id(job_id)
        priority = check_priority(priority)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False, f"Job {job_id} not found"
            if job.status in JOBS_FINALIZED:
                return False, f"Job {job_id} is finished"
            pending = [op for op in job.ops
                       if op.status in (QUEUED, WAITING)]
            if not pending:
                return False, f"Job {job_id} had no pending opcodes"
            for op in pending:
                op.input.priority = priority
            if job.status == constants.JOB_STATUS_QUEUED:
                heapq.heappush(self._pending, (job.priority, job.id))
            ticket = self._writer.request([job])
            self._notify(job)
        self._wait_logged(ticket, job)
        return True, (f"Priorities of pending opcodes for job {job_id} have "
                      f"been changed to {priority}")

    def get_op_priority(self, job_id: int, op_index: int) -> int:
        """The current priority of an opcode (it may change while the
        opcode waits for locks)."""
        with self._lock:
            return self._jobs[job_id].ops[op_index].priority

    def archive_job(self, job_id: Any) -> bool:
        """Move a finished job to the archive; False if unknown or not
        finished."""
        job_id = parse_job_id(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status not in JOBS_FINALIZED:
                _log.info("Not archiving job %d: %s", job_id,
                          "unknown" if job is None else job.status)
                return False
        return self._archive([job_id], None) == 1

    def _archive(self, job_ids: Sequence[int], min_age: float | None) -> int:
        """Archive the finished jobs among ``job_ids`` (those at least
        ``min_age`` seconds past their end when given); one commit."""
        with self._lock:
            now = self._clock()
            chosen = []
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None or job.status not in JOBS_FINALIZED:
                    continue
                if min_age is not None:
                    ended = job.end_timestamp or job.received_timestamp
                    if ended is not None and now - merge_time(ended) < min_age:
                        continue
                del self._jobs[job_id]
                job.archived = True
                chosen.append(job)
            if not chosen:
                return 0
            ticket = self._request(archive=chosen)
        try:
            self._writer.wait(ticket)
        except errors.JobQueueError as err:
            _log.error("Archiving jobs failed: %s", err)
            with self._lock:
                for job in chosen:
                    job.archived = False
                    self._jobs[job.id] = job
                self._track(chosen)
            return 0
        return len(chosen)

    def autoarchive_jobs(self, age: float, timeout: float) -> tuple[int, int]:
        """Archive finished jobs that ended at least ``age`` seconds ago
        (``age == -1``: all finished jobs), working for at most about
        ``timeout`` seconds.  Returns (archived, not yet examined)."""
        if isinstance(age, bool) or not isinstance(age, (int, float)) or (
                age < 0 and age != -1):
            raise errors.OpPrereqError(f"Invalid archive age {age!r:.40}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise errors.OpPrereqError(f"Invalid timeout {timeout!r:.40}")
        start = self._clock()
        with self._lock:
            candidates = sorted(j.id for j in self._jobs.values()
                                if j.status in JOBS_FINALIZED)
        archived = examined = 0
        while examined < len(candidates):
            if self._clock() - start > timeout:
                break
            chunk = candidates[examined:examined + _ARCHIVE_CHUNK]
            archived += self._archive(chunk, None if age == -1 else age)
            examined += len(chunk)
        return archived, len(candidates) - examined

    # --- queries ------------------------------------------------------------------

    def get_job_ids(self) -> list[int]:
        """Ids of the jobs in the queue (not archived), ascending."""
        with self._lock:
            return sorted(self._jobs)

    def query_jobs(self, job_ids: Sequence[Any] | None,
                   fields: Sequence[str]) -> list[list[Any] | None]:
        """One row of ``fields`` per job; None for unknown jobs.  Jobs not
        in the queue are looked up in the archive."""
        names = check_fields(fields)
        with self._lock:
            ids = (sorted(self._jobs) if job_ids is None
                   else [parse_job_id(j) for j in job_ids])
            rows: dict[int, list[Any] | None] = {}
            for job_id in ids:
                job = self._jobs.get(job_id)
                rows[job_id] = None if job is None else job.get_info(names)
        for job_id in ids:
            if rows[job_id] is None and job_id <= self._last_serial:
                old = storage.read_archived_job(self._paths, job_id)
                if old is not None:
                    rows[job_id] = old.get_info(names)
        return [rows[j] for j in ids]

    def wait_for_job_changes(self, job_id: Any, fields: Sequence[str],
                             prev_job_info: list[Any] | None,
                             prev_log_serial: int | None,
                             timeout: float) -> Any:
        """Wait until the job's ``fields`` differ from ``prev_job_info`` or it
        has log entries newer than ``prev_log_serial``.

        Returns ``(job_info, new_log_entries)`` as soon as that is the case
        (at once for a finished job, which never changes again),
        :data:`JOB_NOTCHANGED` after ``timeout`` seconds without a change,
        and None for an unknown job.
        """
        job_id = parse_job_id(job_id)
        names = check_fields(fields)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise errors.OpPrereqError(f"Invalid timeout {timeout!r:.40}")
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return self._wait_locked(job, names, prev_job_info,
                                         prev_log_serial, deadline)
        old = storage.read_archived_job(self._paths, job_id)
        if old is None:
            return None
        return old.get_info(names), old.log_entries(prev_log_serial)

    def _wait_locked(self, job: _QueuedJob, names: list[str],
                     prev_job_info: list[Any] | None,
                     prev_log_serial: int | None, deadline: float) -> Any:
        entry = self._watchers.get(job.id)
        if entry is None:
            entry = [threading.Condition(self._lock), 0]
            self._watchers[job.id] = entry
        entry[1] += 1
        try:
            while True:
                info = job.get_info(names)
                log = job.log_entries(prev_log_serial)
                if (info != prev_job_info or log
                        or job.status in JOBS_FINALIZED):
                    return info, log
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return JOB_NOTCHANGED
                entry[0].wait(remaining)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._watchers[job.id]

    def add_replication_hook(
            self, hook: Callable[[dict[str, bytes], list[tuple[str, str]]],
                                 None]) -> None:
        """Call ``hook(written, renames)`` after each durable batch (see
        ``GroupWriter.batch_hooks``); the master daemon replicates the
        queue to the master candidates with it."""
        self._writer.batch_hooks.append(hook)

    def flush_replication(self, timeout: float = 30.0) -> bool:
        """Wait until every queue file written so far has been handed to
        the replication hooks (``GroupWriter.flush``)."""
        return self._writer.flush(timeout)

    def writer_stats(self) -> tuple[int, int]:
        """(batches, files) written so far: how well group commit works."""
        return self._writer.batches, self._writer.files_written
