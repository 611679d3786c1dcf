"""What a submission must be before it is queued: job ids, priorities,
the opcodes of each job, and their relative dependencies (see
:mod:`ganeti.jqueue.depends`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganeti import constants, errors, opcodes
from ganeti.jqueue import depends


def parse_job_id(value: Any) -> int:
    """A job id from an int or a decimal string (LUXI sent strings in 2.1)."""
    if isinstance(value, bool):
        raise errors.OpPrereqError(f"Invalid job id {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    raise errors.OpPrereqError(f"Invalid job id {value!r:.40}")


def check_priority(value: Any) -> int:
    """A job priority: an integer from -20 (first) to 19 (last)."""
    if (isinstance(value, bool) or not isinstance(value, int)
            or not constants.OP_PRIO_HIGHEST <= value
            <= constants.OP_PRIO_LOWEST):
        raise errors.OpPrereqError(
            f"Invalid priority {value!r:.40}: must be an integer from "
            f"{constants.OP_PRIO_HIGHEST} (highest) to "
            f"{constants.OP_PRIO_LOWEST} (lowest)")
    return value


def _prepare_ops(ops: Any) -> list[opcodes.OpCode]:
    """Check and copy a job's opcodes (dicts are decoded with
    ``OpCode.load``; objects are copied so the caller can not change a
    submitted job)."""
    if not isinstance(ops, (list, tuple)) or not ops:
        raise errors.OpPrereqError("A job must be a non-empty list of opcodes")
    result = []
    for idx, op in enumerate(ops):
        if isinstance(op, opcodes.OpCode):
            data = op.to_dict()
        elif isinstance(op, dict):
            data = op
        else:
            raise errors.OpPrereqError(
                f"Opcode {idx} of the job is a {type(op).__name__}, "
                f"not an opcode")
        result.append(opcodes.OpCode.load(data))
    return result


def prepare_one(ops: Any) -> list[opcodes.OpCode]:
    """The opcodes of a job submitted alone (no relative dependency)."""
    prepared = _prepare_ops(ops)
    refusal = depends.relative_refusal(prepared, 0, set())
    if refusal is not None:
        raise errors.OpPrereqError(refusal)
    return prepared


def prepare_many(jobs: Sequence[Any]) -> list[list[opcodes.OpCode] | str]:
    """Per job of one submission its opcodes, or why it is refused.

    Relative dependencies count the jobs of the whole submission; the
    accepted ones get consecutive ids, so they are renumbered to count
    among those (a job depending on a refused one is refused too)."""
    outcomes: list[list[opcodes.OpCode] | str] = []
    refused: set[int] = set()
    for idx, ops in enumerate(jobs):
        try:
            prepared = _prepare_ops(ops)
            refusal = depends.relative_refusal(prepared, idx, refused)
            if refusal is not None:
                raise errors.OpPrereqError(refusal)
        except errors.OpPrereqError as err:
            outcomes.append(str(err))
            refused.add(idx)
            continue
        outcomes.append(prepared)
    accepted = [idx for idx, out in enumerate(outcomes)
                if not isinstance(out, str)]
    shift = {idx: idx - pos for pos, idx in enumerate(accepted)}
    for idx in accepted:
        ops = outcomes[idx]
        assert not isinstance(ops, str)
        for op in ops:
            if op.depends:
                op.depends = [
                    [dep[0] if dep[0] > 0 else
                     dep[0] + shift[idx] - shift[idx + dep[0]], dep[1]]
                    for dep in op.depends]
    return outcomes


__all__ = ["check_priority", "parse_job_id", "prepare_many", "prepare_one"]
