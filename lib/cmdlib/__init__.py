"""Logical units: one class per opcode, one module per area.

Importing this package registers every logical unit: each module of the
package is imported (found on disk, so a new area module edits no list);
:func:`lu_for` finds the LU that executes an opcode.
"""

from __future__ import annotations

import importlib
import pkgutil

from ganeti import errors
from ganeti.cmdlib.base import LU_REGISTRY, LogicalUnit
from ganeti.opcodes import OpCode

__all__ = ["LU_REGISTRY", "LogicalUnit", "lu_for"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    importlib.import_module(f"{__name__}.{_info.name}")


def lu_for(op: OpCode) -> type[LogicalUnit]:
    try:
        return LU_REGISTRY[type(op)]
    except KeyError:
        raise errors.OpPrereqError(
            f"Operation {op.OP_ID} is not supported by this version",
            errors.ErrorCode.INVAL) from None
