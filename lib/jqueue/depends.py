"""Job dependencies: an opcode's ``depends`` (Ganeti 2.5+).

An opcode may name jobs that must have finished before it starts:
``depends = [[job id, [final statuses]], ...]``.  When a worker is about
to start the opcode, every dependency is looked at in order:

- a job that has not finished yet: the job waits, queued (no worker is
  held), and is queued again when that job finishes; its log says once
  what it waits for;
- a finished job whose status is one of the statuses named (an empty
  list accepts any final status): the next dependency;
- a finished job with another status, a job that does not exist (neither
  in the queue nor in the archive), or a job submitted after this one
  (which could wait for it in turn): the opcode fails without running,
  its error saying why, and so does the rest of the job.

Relative ids (negative) exist only at submission: within one
``SubmitManyJobs``, ``-1`` is the job submitted just before this one;
:func:`relative_refusal` checks them and :func:`resolve` makes them
absolute before the job is written, so job files hold absolute ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from ganeti import opcodes
from ganeti.opcodes.base import JOB_FINAL_STATUSES

#: The verdicts of :func:`check`.
RUN: Final = "run"
WAIT: Final = "wait"
FAIL: Final = "fail"

#: The status of a job by id (None: no such job).
StatusLookup = Callable[[int], "str | None"]


def _entries(ops: Sequence[opcodes.OpCode]) -> list[tuple[int, list[str]]]:
    return [(int(dep[0]), list(dep[1])) for op in ops
            for dep in (op.depends or [])]


def relative_refusal(ops: Sequence[opcodes.OpCode], position: int,
                     refused: set[int]) -> str | None:
    """Why the job at ``position`` of a submission cannot be accepted
    because of its relative dependencies (``refused``: positions of the
    submission's jobs already refused), or None."""
    for job_id, _statuses in _entries(ops):
        if job_id > 0:
            continue
        target = position + job_id
        if target < 0:
            return (f"Job dependency {job_id} refers to a job before the"
                    f" first of this submission (this job is number"
                    f" {position + 1} in it)")
        if target in refused:
            return (f"Job dependency {job_id} refers to job {target + 1} of"
                    " this submission, which was refused")
    return None


def resolve(ops: Sequence[opcodes.OpCode], job_id: int) -> None:
    """Make the relative dependencies of the job ``job_id`` absolute (the
    jobs of one submission have consecutive ids)."""
    for op in ops:
        if op.depends:
            op.depends = [[dep[0] if dep[0] > 0 else job_id + dep[0],
                           list(dep[1])] for dep in op.depends]


def check(op: opcodes.OpCode, job_id: int,
          status_of: StatusLookup) -> tuple[str, int | str | None]:
    """Whether ``op`` of job ``job_id`` may start: ``(RUN, None)``,
    ``(WAIT, id of the job to wait for)`` or ``(FAIL, message)``."""
    for dep_id, wanted in _entries([op]):
        if dep_id >= job_id:
            return FAIL, (f"Job {job_id} cannot depend on job {dep_id}: only"
                          " on jobs submitted before it")
        status = status_of(dep_id)
        if status is None:
            return FAIL, f"Dependency job {dep_id} not found"
        if status not in JOB_FINAL_STATUSES:
            return WAIT, dep_id
        if wanted and status not in wanted:
            return FAIL, (f"Dependency job {dep_id} ended with status"
                          f" '{status}', not {' or '.join(map(repr, wanted))}"
                          " as required")
    return RUN, None


def waiting_message(op: opcodes.OpCode, dep_id: int) -> str:
    """The job log line of an opcode that waits for job ``dep_id``."""
    wanted = next((list(dep[1]) for dep in (op.depends or [])
                   if dep[0] == dep_id), [])
    what = (f" (to end with status {' or '.join(wanted)})" if wanted else "")
    return f"Waiting for job {dep_id} to finish{what}"


__all__ = ["FAIL", "RUN", "WAIT", "check", "relative_refusal", "resolve",
           "waiting_message"]
