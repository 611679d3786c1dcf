"""Logical units: one class per opcode, one module per area.

Importing this package registers every logical unit; :func:`lu_for`
finds the one that executes an opcode.
"""

from __future__ import annotations

# Importing the area modules registers their logical units.
import ganeti.cmdlib.cluster
import ganeti.cmdlib.tags
import ganeti.cmdlib.test  # noqa: F401
from ganeti import errors
from ganeti.cmdlib.base import LU_REGISTRY, LogicalUnit
from ganeti.opcodes import OpCode

__all__ = ["LU_REGISTRY", "LogicalUnit", "lu_for"]


def lu_for(op: OpCode) -> type[LogicalUnit]:
    try:
        return LU_REGISTRY[type(op)]
    except KeyError:
        raise errors.OpPrereqError(
            f"Operation {op.OP_ID} is not supported by this version",
            errors.ErrorCode.INVAL) from None
