"""The node RPC call table: every call declared once.

A row names the call, its arguments with their checks, the check of its
result, its timeout class and whether it goes to one node or many.  The
client stubs are generated from it and the node side decodes arguments
with it; a test checks each row has exactly one handler whose signature
matches.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Final

from ganeti import ht


class Timeout(enum.IntEnum):
    """Timeout classes in seconds (Ganeti's RPC_TMO_* idea)."""

    URGENT = 60
    FAST = 5 * 60
    NORMAL = 15 * 60
    SLOW = 60 * 60
    LONG = 4 * 60 * 60


class Fanout(enum.Enum):
    SINGLE = "single"
    MULTI = "multi"


@dataclasses.dataclass(frozen=True)
class Arg:
    name: str
    check: ht.Check
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class RpcCall:
    name: str
    fanout: Fanout
    timeout: Timeout
    args: tuple[Arg, ...]
    result: ht.Check
    doc: str


def _collect() -> dict[str, RpcCall]:
    """Every row, from the area modules of :mod:`ganeti.rpc.calls`.

    Each ``calls/<area>.py`` defines ``CALLS: list[RpcCall]``; modules are
    found on disk, so adding an area edits no shared list.  A name
    declared twice is a programmer error.
    """
    import importlib
    import pkgutil

    from ganeti import errors
    from ganeti.rpc import calls

    table: dict[str, RpcCall] = {}
    for info in sorted(pkgutil.iter_modules(calls.__path__),
                       key=lambda i: i.name):
        module = importlib.import_module(f"{calls.__name__}.{info.name}")
        for call in module.CALLS:
            if call.name in table:
                raise errors.ProgrammerError(
                    f"RPC call {call.name!r} declared twice")
            table[call.name] = call
    return table


#: The whole table: call name -> row.
CALLS: Final[dict[str, RpcCall]] = _collect()
