"""The queue directory on disk, and the one thread that writes it.

Layout (see ``doc/design/jobqueue.rst``)::

    queue/version            "1\\n" (constants.JOB_QUEUE_VERSION)
    queue/serial             last allocated job id, "<n>\\n"
    queue/drain              present = no new jobs accepted
    queue/lock               flock'ed by the process owning the queue
    queue/job-<id>           one JSON document per job not yet archived
    queue/archive/<id // 10000>/job-<id>   archived jobs

:class:`GroupWriter` implements group commit: callers *request* that some
jobs (and the serial) be written and get a ticket; a single writer thread
takes everything requested so far as one batch, writes each file to a
temporary name, fsyncs it and renames it into place, then fsyncs the
directory once for the whole batch.  Requests arriving while a batch is
being written form the next batch, so under load many submissions share
one directory fsync without any artificial delay.  :meth:`GroupWriter.wait`
returns once the batch holding the ticket is durable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from ganeti import errors, pathutils, serializer
from ganeti.jqueue.model import _QueuedJob
from ganeti.utils import io

_log = logging.getLogger(__name__)

#: Job files are named ``job-<id>``; nothing else in the directory is a job.
JOB_FILE_RE: Final = re.compile(r"^job-([1-9][0-9]*)$")
#: Temporary files of the writer (left behind only by a crash).
_TMP_SUFFIX: Final = ".tmp"
_TMP_RE: Final = re.compile(r"^(job-[0-9]+|serial)\.tmp$")
#: Jobs per archive subdirectory (Ganeti's layout).
ARCHIVE_DIR_SPAN: Final = 10000
#: Threads writing the files of one batch in parallel.
_IO_THREADS: Final = 8
#: How many recent batch failures are remembered for late waiters.
_ERRORS_KEPT: Final = 1000


@dataclass(frozen=True)
class QueuePaths:
    """The files of one queue directory."""

    queue_dir: str

    @classmethod
    def default(cls) -> QueuePaths:
        return cls(pathutils.get().queue_dir)

    @property
    def archive_dir(self) -> str:
        return os.path.join(self.queue_dir, "archive")

    @property
    def serial_file(self) -> str:
        return os.path.join(self.queue_dir, "serial")

    @property
    def version_file(self) -> str:
        return os.path.join(self.queue_dir, "version")

    @property
    def drain_file(self) -> str:
        return os.path.join(self.queue_dir, "drain")

    @property
    def lock_file(self) -> str:
        return os.path.join(self.queue_dir, "lock")

    def job_file(self, job_id: int) -> str:
        return os.path.join(self.queue_dir, f"job-{job_id}")

    def archive_subdir(self, job_id: int) -> str:
        return os.path.join(self.archive_dir, str(job_id // ARCHIVE_DIR_SPAN))

    def archived_job_file(self, job_id: int) -> str:
        return os.path.join(self.archive_subdir(job_id), f"job-{job_id}")


# --- Reading ------------------------------------------------------------------

def encode_job(job: _QueuedJob) -> bytes:
    return serializer.dumps(job.to_dict())


def load_job_file(path: str) -> _QueuedJob:
    """Read one job file; any problem is a :class:`errors.JobQueueError`."""
    try:
        raw = io.read_bytes(path)
    except errors.GenericError as err:
        raise errors.JobQueueError(str(err)) from None
    try:
        data = serializer.loads(raw)
    except errors.GenericError as err:
        raise errors.JobQueueError(
            f"Job file {path} is not valid JSON: {err}") from None
    job = _QueuedJob.from_dict(data)
    match = JOB_FILE_RE.match(os.path.basename(path))
    if match is None or int(match.group(1)) != job.id:
        raise errors.JobQueueError(
            f"Job file {path} holds job {job.id}, not the one its name says")
    return job


def list_job_ids(directory: str) -> list[int]:
    """Ids of the job files in ``directory`` (sorted); other names are
    ignored."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise errors.JobQueueError(
            f"Cannot list job directory {directory}: "
            f"{err.strerror or err}") from err
    ids = []
    for name in names:
        match = JOB_FILE_RE.match(name)
        if match is not None:
            ids.append(int(match.group(1)))
    return sorted(ids)


def max_archived_id(paths: QueuePaths) -> int:
    """The highest job id in the archive (0 if none).

    Subdirectories hold ids ``n * 10000 .. n * 10000 + 9999``, so only the
    highest non-empty subdirectory needs reading.
    """
    try:
        subdirs = [int(n) for n in os.listdir(paths.archive_dir)
                   if n.isdigit()]
    except FileNotFoundError:
        return 0
    except OSError as err:
        raise errors.JobQueueError(
            f"Cannot list archive {paths.archive_dir}: "
            f"{err.strerror or err}") from err
    for sub in sorted(subdirs, reverse=True):
        ids = list_job_ids(os.path.join(paths.archive_dir, str(sub)))
        if ids:
            return ids[-1]
    return 0


def read_serial(paths: QueuePaths) -> int:
    """The last allocated job id from the serial file (0 if missing)."""
    try:
        text = io.read_file(paths.serial_file)
    except errors.GenericError:
        if not os.path.exists(paths.serial_file):
            return 0
        raise
    try:
        value = int(text.strip())
    except ValueError:
        raise errors.JobQueueError(
            f"Serial file {paths.serial_file} does not hold a number: "
            f"{text.strip()[:40]!r}") from None
    if value < 0:
        raise errors.JobQueueError(
            f"Serial file {paths.serial_file} holds a negative number")
    return value


def remove_stale_temporaries(paths: QueuePaths) -> None:
    """Delete temporary files a crash left in the middle of a write."""
    try:
        names = os.listdir(paths.queue_dir)
    except OSError:
        return
    for name in names:
        if _TMP_RE.match(name):
            _log.info("Removing stale temporary file %s", name)
            io.remove_file(os.path.join(paths.queue_dir, name))


def move_aside(paths: QueuePaths, job_id: int, reason: str,
               stamp: int) -> str:
    """Rename a damaged job file out of the way (kept for inspection)."""
    src = paths.job_file(job_id)
    dst = f"{src}.corrupt-{stamp}"
    _log.error("Moving damaged job file %s to %s: %s", src, dst, reason)
    try:
        os.replace(src, dst)
    except OSError as err:
        raise errors.JobQueueError(
            f"Cannot move damaged job file {src} aside: "
            f"{err.strerror or err}") from err
    io.fsync_dir(paths.queue_dir)
    return dst


# --- Writing ------------------------------------------------------------------

def _write_synced(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file that is fsynced
    before the rename; the directory is *not* fsynced (the caller does it
    once per batch)."""
    tmp = path + _TMP_SUFFIX
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class GroupWriter:
    """The writer thread of one queue directory (see the module doc).

    ``lock`` is the queue's lock: the writer takes it only to snapshot the
    jobs of a batch, never while doing I/O, so readers and submitters are
    not blocked by the disk.
    """

    def __init__(self, paths: QueuePaths, lock: threading.Lock) -> None:
        self._paths = paths
        self._queue_lock = lock
        self._cond = threading.Condition(threading.Lock())
        self._jobs: dict[int, _QueuedJob] = {}
        self._archive: dict[int, _QueuedJob] = {}
        self._serial: int | None = None
        self._open_gen = 1  # the batch new requests join
        self._done_gen = 0  # the newest batch that is durable (or failed)
        self._hooked_gen = 0  # the newest batch whose hooks have run
        self._failures: dict[int, str] = {}
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=_IO_THREADS,
                                        thread_name_prefix="JobQueue-io")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="JobQueue-writer")
        self._thread.start()
        #: Batches written so far and files in them (for benchmarks/tests).
        self.batches = 0
        self.files_written = 0
        #: Called on the writer thread after each durable batch with
        #: ``(written {name: content}, renames [(old, new)])``, names
        #: relative to the queue directory: job queue replication to the
        #: master candidates (``ganeti.replication``).  Must not block.
        self.batch_hooks: list[Callable[[dict[str, bytes],
                                         list[tuple[str, str]]], None]] = []

    def request(self, jobs: tuple[_QueuedJob, ...] | list[_QueuedJob] = (),
                *, serial: int | None = None,
                archive: tuple[_QueuedJob, ...] | list[_QueuedJob] = ()) -> int:
        """Ask for jobs to be written (and possibly archived, and the serial
        raised); returns the ticket to :meth:`wait` on.  The content
        written is the jobs' state when the batch starts, which is never
        older than their state now."""
        with self._cond:
            if self._stopping:
                raise errors.JobQueueError("Job queue writer is stopped")
            for job in jobs:
                self._jobs[job.id] = job
            for job in archive:
                self._jobs[job.id] = job
                self._archive[job.id] = job
            if serial is not None:
                self._serial = max(serial, self._serial or 0)
            self._cond.notify_all()
            return self._open_gen

    def wait(self, ticket: int) -> None:
        """Block until the batch of ``ticket`` is on disk; raise
        :class:`errors.JobQueueError` if writing it failed."""
        with self._cond:
            while self._done_gen < ticket:
                self._cond.wait()
            failure = self._failures.get(ticket)
        if failure is not None:
            raise errors.JobQueueError(failure)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the hooks have seen every batch taken for writing
        so far (a file on disk is then known to the replicator too);
        False if that took longer than ``timeout``."""
        with self._cond:
            target = self._open_gen - 1
            return self._cond.wait_for(
                lambda: self._hooked_gen >= target or not
                self._thread.is_alive(), timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Write what is pending, then end the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._pool.shutdown(wait=True)

    def _take_batch(self) -> tuple[int, dict[int, _QueuedJob],
                                   dict[int, _QueuedJob], int | None] | None:
        with self._cond:
            while (not self._jobs and self._serial is None
                   and not self._stopping):
                self._cond.wait()
            if not self._jobs and self._serial is None:
                return None
            gen = self._open_gen
            self._open_gen += 1
            batch = (gen, self._jobs, self._archive, self._serial)
            self._jobs, self._archive, self._serial = {}, {}, None
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            gen, jobs, archive, serial = batch
            failure: str | None = None
            done: tuple[dict[str, bytes], list[tuple[str, str]]] | None = None
            try:
                done = self._write_batch(jobs, archive, serial)
            except Exception as err:  # reported to every waiter of the batch
                _log.exception("Writing job queue batch %d failed", gen)
                failure = f"Cannot write to the job queue: {err}"
            with self._cond:
                self._done_gen = gen
                if failure is not None:
                    self._failures[gen] = failure
                    for old in [g for g in self._failures
                                if g <= gen - _ERRORS_KEPT]:
                        del self._failures[old]
                self.batches += 1
                self.files_written += len(jobs) + (serial is not None)
                self._cond.notify_all()
            if done is not None:
                for hook in list(self.batch_hooks):
                    try:
                        hook(*done)
                    except Exception:  # replication must not stop writing
                        _log.exception("Job queue batch hook failed")
            with self._cond:
                self._hooked_gen = gen
                self._cond.notify_all()

    def _write_batch(self, jobs: dict[int, _QueuedJob],
                     archive: dict[int, _QueuedJob],
                     serial: int | None
                     ) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
        """Write one batch; what was written and moved, for the hooks."""
        paths = self._paths
        with self._queue_lock:
            blobs = [(job_id, encode_job(job))
                     for job_id, job in sorted(jobs.items())]
        if serial is not None:
            # The serial is durable before any job file that uses its ids,
            # so no id can ever be handed out twice.
            _write_synced(paths.serial_file, b"%d\n" % serial)
            io.fsync_dir(paths.queue_dir)
        if len(blobs) > 1:
            # fsyncs of different files overlap in the device queue; the
            # pool saturates it without one thread per job.
            list(self._pool.map(lambda b: _write_synced(
                paths.job_file(b[0]), b[1]), blobs))
        elif blobs:
            _write_synced(paths.job_file(blobs[0][0]), blobs[0][1])
        dirs = {paths.queue_dir}
        for job_id in sorted(archive):
            subdir = paths.archive_subdir(job_id)
            if not os.path.isdir(subdir):
                io.ensure_dirs([(subdir, 0o700)])
                io.fsync_dir(paths.archive_dir)
            os.replace(paths.job_file(job_id), paths.archived_job_file(job_id))
            dirs.add(subdir)
        for directory in sorted(dirs):
            io.fsync_dir(directory)
        written = {f"job-{job_id}": blob for job_id, blob in blobs}
        if serial is not None:
            written["serial"] = b"%d\n" % serial
        renames = [(f"job-{job_id}", os.path.relpath(
            paths.archived_job_file(job_id), paths.queue_dir))
            for job_id in sorted(archive)]
        return written, renames


def write_small_file(path: str, data: str) -> None:
    """Atomically replace a small queue file (version, drain flag)."""
    io.write_file_atomic(path, data, mode=0o600)


def remove_small_file(path: str, directory: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    io.fsync_dir(directory)


def read_archived_job(paths: QueuePaths, job_id: int) -> _QueuedJob | None:
    """An archived job, or None if not in the archive (or unreadable)."""
    path = paths.archived_job_file(job_id)
    if not os.path.exists(path):
        return None
    try:
        job = load_job_file(path)
    except errors.JobQueueError as err:
        _log.warning("Cannot read archived job %d: %s", job_id, err)
        return None
    job.archived = True
    return job
