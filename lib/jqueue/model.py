"""The job and opcode model of the queue: states, transitions, records.

A job is a list of opcodes run in order.  Each opcode has its own status;
the job's status is *derived* from them by :func:`calc_job_status`, never
stored, so the two can not disagree.  Opcode statuses move only along the
edges of :data:`OP_TRANSITIONS`; any other move is a bug in the caller and
raises :class:`errors.ProgrammerError`.

Timestamps are ``(seconds, microseconds)`` pairs as in Ganeti's job files.
Log entries are ``(serial, timestamp, type, message)``; the serial counts
over the whole job, so a watcher can ask for "everything after serial N".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from ganeti import constants, errors, opcodes

#: A point in time as Ganeti stores it: whole seconds and microseconds.
Timestamp = tuple[int, int]
#: One job log entry: serial, timestamp, ``ELOG_*`` type, message.
LogEntry = tuple[int, Timestamp, str, Any]

_C = constants
QUEUED: Final = _C.OP_STATUS_QUEUED
WAITING: Final = _C.OP_STATUS_WAITING
CANCELING: Final = _C.OP_STATUS_CANCELING
RUNNING: Final = _C.OP_STATUS_RUNNING
CANCELED: Final = _C.OP_STATUS_CANCELED
SUCCESS: Final = _C.OP_STATUS_SUCCESS
ERROR: Final = _C.OP_STATUS_ERROR

#: The legal moves of an opcode's status.  ``waiting`` means "acquiring
#: locks": nothing has been changed yet, so it may still be canceled;
#: ``running`` means the opcode may be changing the cluster, so it can only
#: end.  ``error`` is reachable from every unfinished state because a
#: failure of an earlier opcode, or a master crash, ends all of them.
OP_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    QUEUED: frozenset([WAITING, CANCELING, CANCELED, ERROR]),
    WAITING: frozenset([RUNNING, CANCELING, ERROR]),
    CANCELING: frozenset([CANCELED, ERROR]),
    RUNNING: frozenset([SUCCESS, ERROR]),
    SUCCESS: frozenset(),
    ERROR: frozenset(),
    CANCELED: frozenset(),
}

OP_STATUSES: Final = frozenset(OP_TRANSITIONS)
#: Statuses an opcode never leaves.
OPS_FINALIZED: Final = frozenset(s for s, nxt in OP_TRANSITIONS.items()
                                 if not nxt)
#: Job statuses after which a job never changes again.
JOBS_FINALIZED: Final = frozenset([_C.JOB_STATUS_SUCCESS, _C.JOB_STATUS_ERROR,
                                   _C.JOB_STATUS_CANCELED])
JOB_STATUSES: Final = frozenset([
    _C.JOB_STATUS_QUEUED, _C.JOB_STATUS_WAITING, _C.JOB_STATUS_CANCELING,
    _C.JOB_STATUS_RUNNING, _C.JOB_STATUS_CANCELED, _C.JOB_STATUS_SUCCESS,
    _C.JOB_STATUS_ERROR])
ELOG_TYPES: Final = frozenset([_C.ELOG_MESSAGE, _C.ELOG_PROGRESS])
#: Priority of opcodes that do not declare one (Ganeti's default).
OP_PRIO_DEFAULT: Final = 0


def check_transition(old: str, new: str) -> None:
    """Raise :class:`errors.ProgrammerError` unless ``old -> new`` is legal."""
    allowed = OP_TRANSITIONS.get(old)
    if allowed is None:
        raise errors.ProgrammerError(f"Unknown opcode status {old!r}")
    if new not in allowed:
        raise errors.ProgrammerError(
            f"Illegal opcode status transition {old} -> {new}")


def calc_job_status(op_statuses: Sequence[str]) -> str:
    """The status of a job from the statuses of its opcodes.

    The rule, first match wins:

    1. any opcode ``error``     -> ``error``
    2. any opcode ``canceling`` -> ``canceling``
    3. any opcode ``canceled``  -> ``canceled``
    4. all opcodes ``success``  -> ``success`` (an empty job is ``queued``)
    5. any opcode ``running``   -> ``running``
    6. any opcode ``waiting``   -> ``waiting``
    7. otherwise (only ``queued`` and ``success``) -> ``queued``

    The order of the opcodes does not matter.
    """
    present = set(op_statuses)
    unknown = present - OP_STATUSES
    if unknown:
        raise errors.ProgrammerError(
            f"Unknown opcode status(es): {', '.join(sorted(unknown))}")
    if ERROR in present:
        return _C.JOB_STATUS_ERROR
    if CANCELING in present:
        return _C.JOB_STATUS_CANCELING
    if CANCELED in present:
        return _C.JOB_STATUS_CANCELED
    if present == {SUCCESS}:
        return _C.JOB_STATUS_SUCCESS
    if RUNNING in present:
        return _C.JOB_STATUS_RUNNING
    if WAITING in present:
        return _C.JOB_STATUS_WAITING
    return _C.JOB_STATUS_QUEUED


def split_time(value: float) -> Timestamp:
    """``time.time()``-style seconds as a ``(seconds, microseconds)`` pair."""
    seconds = math.floor(value)
    micro = round((value - seconds) * 1000000)
    if micro >= 1000000:
        seconds, micro = seconds + 1, micro - 1000000
    return seconds, micro


def merge_time(ts: Timestamp) -> float:
    return ts[0] + ts[1] / 1000000.0


# --- Decoding helpers (job files come from disk: never trust them) ---------

def _bad(what: str, value: Any) -> errors.JobQueueError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return errors.JobQueueError(f"Invalid job data: {what}: got {shown}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_ts(value: Any, what: str) -> Timestamp | None:
    if value is None:
        return None
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and _is_int(value[0]) and _is_int(value[1])
            and 0 <= value[1] < 1000000):
        return int(value[0]), int(value[1])
    raise _bad(f"{what} is not a (seconds, microseconds) pair", value)


def _dump_ts(ts: Timestamp | None) -> list[int] | None:
    return None if ts is None else [ts[0], ts[1]]


def _load_log_entry(value: Any) -> LogEntry:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise _bad("log entry is not a 4-item list", value)
    serial, ts, kind, message = value
    if not _is_int(serial) or serial < 1:
        raise _bad("log serial is not a positive integer", serial)
    stamp = _load_ts(ts, "log timestamp")
    if stamp is None:
        raise _bad("log timestamp missing", ts)
    if kind not in ELOG_TYPES:
        raise _bad("unknown log entry type", kind)
    return serial, stamp, kind, message


def _dump_log_entry(entry: LogEntry) -> list[Any]:
    serial, ts, kind, message = entry
    return [serial, [ts[0], ts[1]], kind, message]


def _require(data: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in data:
        raise errors.JobQueueError(f"Invalid job data: {what} lacks '{key}'")
    return data[key]


class _QueuedOpCode:
    """One opcode of a job, with its status, result and log."""

    __slots__ = ("end_timestamp", "exec_timestamp", "input", "log", "result",
                 "start_timestamp", "status")

    def __init__(self, op: opcodes.OpCode) -> None:
        self.input = op
        self.status: str = QUEUED
        #: The processor's return value, or the encoded error
        #: (:func:`errors.encode`) when the status is error or canceled.
        self.result: Any = None
        self.log: list[LogEntry] = []
        self.start_timestamp: Timestamp | None = None
        self.exec_timestamp: Timestamp | None = None
        self.end_timestamp: Timestamp | None = None

    @property
    def priority(self) -> int:
        value = getattr(self.input, "priority", OP_PRIO_DEFAULT)
        return value if _is_int(value) else OP_PRIO_DEFAULT

    def set_status(self, new: str) -> None:
        check_transition(self.status, new)
        self.status = new

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input.to_dict(),
            "status": self.status,
            "result": self.result,
            "log": [_dump_log_entry(e) for e in self.log],
            "start_timestamp": _dump_ts(self.start_timestamp),
            "exec_timestamp": _dump_ts(self.exec_timestamp),
            "end_timestamp": _dump_ts(self.end_timestamp),
        }

    @classmethod
    def from_dict(cls, data: Any) -> _QueuedOpCode:
        if not isinstance(data, dict):
            raise _bad("opcode entry is not a dictionary", data)
        try:
            op = opcodes.OpCode.load(_require(data, "input", "opcode entry"))
        except errors.OpPrereqError as err:
            raise errors.JobQueueError(
                f"Invalid job data: bad opcode: {err}") from None
        obj = cls(op)
        status = _require(data, "status", "opcode entry")
        if status not in OP_STATUSES:
            raise _bad("unknown opcode status", status)
        obj.status = status
        obj.result = data.get("result")
        log = data.get("log", [])
        if not isinstance(log, list):
            raise _bad("opcode log is not a list", log)
        obj.log = [_load_log_entry(e) for e in log]
        obj.start_timestamp = _load_ts(data.get("start_timestamp"),
                                       "start_timestamp")
        obj.exec_timestamp = _load_ts(data.get("exec_timestamp"),
                                      "exec_timestamp")
        obj.end_timestamp = _load_ts(data.get("end_timestamp"),
                                     "end_timestamp")
        return obj


class _QueuedJob:
    """A job: an id and its opcodes, plus the job-level timestamps.

    ``lock_status`` (what the job is waiting for) lives only in memory;
    ``archived`` is set on jobs moved to, or read from, the archive.
    """

    __slots__ = ("archived", "end_timestamp", "id", "lock_status",
                 "log_serial", "ops", "received_timestamp", "start_timestamp")

    def __init__(self, job_id: int, ops: Iterable[opcodes.OpCode],
                 received: Timestamp) -> None:
        if not _is_int(job_id) or job_id < 1:
            raise errors.ProgrammerError(f"Invalid job id {job_id!r}")
        self.id = job_id
        self.ops = [_QueuedOpCode(op) for op in ops]
        if not self.ops:
            raise errors.ProgrammerError(f"Job {job_id} has no opcodes")
        self.received_timestamp: Timestamp | None = received
        self.start_timestamp: Timestamp | None = None
        self.end_timestamp: Timestamp | None = None
        self.lock_status: str | None = None
        self.archived = False
        #: Serial of the newest log entry (0: none yet).
        self.log_serial = 0

    @property
    def status(self) -> str:
        return calc_job_status([op.status for op in self.ops])

    @property
    def finalized(self) -> bool:
        return self.status in JOBS_FINALIZED

    @property
    def priority(self) -> int:
        """The priority of the first unfinished opcode (or of the last)."""
        for op in self.ops:
            if op.status not in OPS_FINALIZED:
                return op.priority
        return self.ops[-1].priority

    def current_op_index(self) -> int | None:
        """Index of the first opcode that has not finished, if any."""
        for idx, op in enumerate(self.ops):
            if op.status not in OPS_FINALIZED:
                return idx
        return None

    def add_log(self, timestamp: Timestamp, kind: str, message: Any,
                op_index: int) -> LogEntry:
        if kind not in ELOG_TYPES:
            raise errors.ProgrammerError(f"Unknown log entry type {kind!r}")
        self.log_serial += 1
        entry: LogEntry = (self.log_serial, timestamp, kind, message)
        self.ops[op_index].log.append(entry)
        return entry

    def log_entries(self, newer_than: int | None) -> list[list[Any]]:
        """Log entries with a serial above ``newer_than`` (all for None),
        in serial order, in wire form."""
        floor = -1 if newer_than is None else newer_than
        found = [e for op in self.ops for e in op.log if e[0] > floor]
        found.sort(key=lambda e: e[0])
        return [_dump_log_entry(e) for e in found]

    def mark_unfinished_ops(self, status: str, result: Any,
                            timestamp: Timestamp | None = None) -> None:
        """Move every unfinished opcode to ``status`` with ``result``."""
        for op in self.ops:
            if op.status in OPS_FINALIZED:
                continue
            op.set_status(status)
            op.result = result
            if timestamp is not None and status in OPS_FINALIZED:
                op.end_timestamp = timestamp

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ops": [op.to_dict() for op in self.ops],
            "received_timestamp": _dump_ts(self.received_timestamp),
            "start_timestamp": _dump_ts(self.start_timestamp),
            "end_timestamp": _dump_ts(self.end_timestamp),
        }

    @classmethod
    def from_dict(cls, data: Any) -> _QueuedJob:
        """Rebuild a job from its file content; bad data is a
        :class:`errors.JobQueueError` saying what is wrong."""
        if not isinstance(data, dict):
            raise _bad("job is not a dictionary", data)
        job_id = _require(data, "id", "job")
        if not _is_int(job_id) or job_id < 1:
            raise _bad("job id is not a positive integer", job_id)
        raw_ops = _require(data, "ops", "job")
        if not isinstance(raw_ops, list) or not raw_ops:
            raise _bad("job opcodes are not a non-empty list", raw_ops)
        ops = [_QueuedOpCode.from_dict(o) for o in raw_ops]
        job = cls.__new__(cls)
        job.id = job_id
        job.ops = ops
        job.received_timestamp = _load_ts(data.get("received_timestamp"),
                                          "received_timestamp")
        job.start_timestamp = _load_ts(data.get("start_timestamp"),
                                       "start_timestamp")
        job.end_timestamp = _load_ts(data.get("end_timestamp"),
                                     "end_timestamp")
        job.lock_status = None
        job.archived = False
        serials = [e[0] for op in ops for e in op.log]
        if len(serials) != len(set(serials)):
            raise errors.JobQueueError(
                f"Invalid job data: job {job_id} repeats a log serial")
        job.log_serial = max(serials, default=0)
        return job

    # --- queries ------------------------------------------------------------

    def get_info(self, fields: Sequence[str]) -> list[Any]:
        """The values of ``fields`` (checked with :func:`check_fields`),
        as plain JSON data so they compare equal after a round trip."""
        return [JOB_FIELDS[name][0](self) for name in fields]


def _op_summary(op: _QueuedOpCode) -> str:
    return op.input.summary()


#: The queryable job fields (``gnt-job list -o``): name -> (getter, title).
JOB_FIELDS: Final[Mapping[str, tuple[Callable[[_QueuedJob], Any], str]]] = {
    "id": (lambda j: j.id, "ID"),
    "status": (lambda j: j.status, "Status"),
    "priority": (lambda j: j.priority, "Prio"),
    "ops": (lambda j: [op.input.to_dict() for op in j.ops], "OpCodes"),
    "opresult": (lambda j: [op.result for op in j.ops], "OpCode_result"),
    "opstatus": (lambda j: [op.status for op in j.ops], "OpCode_status"),
    "oplog": (lambda j: [[_dump_log_entry(e) for e in op.log]
                         for op in j.ops], "OpCode_log"),
    "oppriority": (lambda j: [op.priority for op in j.ops], "OpCode_prio"),
    "summary": (lambda j: [_op_summary(op) for op in j.ops], "Summary"),
    "received_ts": (lambda j: _dump_ts(j.received_timestamp), "Received"),
    "start_ts": (lambda j: _dump_ts(j.start_timestamp), "Start"),
    "end_ts": (lambda j: _dump_ts(j.end_timestamp), "End"),
    "opstart": (lambda j: [_dump_ts(op.start_timestamp) for op in j.ops],
                "OpCode_start"),
    "opexec": (lambda j: [_dump_ts(op.exec_timestamp) for op in j.ops],
               "OpCode_exec"),
    "opend": (lambda j: [_dump_ts(op.end_timestamp) for op in j.ops],
              "OpCode_end"),
    "lock_status": (lambda j: j.lock_status, "LockStatus"),
}


def check_fields(fields: Any) -> list[str]:
    """Validate a list of job field names; unknown ones are an error."""
    if not isinstance(fields, (list, tuple)) or not all(
            isinstance(f, str) for f in fields):
        raise errors.OpPrereqError("Job fields must be a list of strings")
    unknown = [f for f in fields if f not in JOB_FIELDS]
    if unknown:
        raise errors.UnknownFieldError(
            f"Unknown job field(s): {', '.join(unknown)}")
    return list(fields)
