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


_hooks_results = ht.TListOf(ht.TListOf(ht.TAny))

CALLS: Final[dict[str, RpcCall]] = {c.name: c for c in [
    RpcCall("test_delay", Fanout.MULTI, Timeout.NORMAL,
            (Arg("duration", ht.TNonNegativeNumber, "Seconds to sleep"),),
            ht.TNone, "Sleep on the node (gnt-debug delay)"),
    RpcCall("hooks_runner", Fanout.MULTI, Timeout.NORMAL,
            (Arg("hpath", ht.TNonEmptyString), Arg("phase", ht.TNonEmptyString),
             Arg("env", ht.TDictOf(ht.TString, ht.TString))),
            _hooks_results,
            "Run the hooks of one phase: [[script, status, output], ...]"),
    RpcCall("version", Fanout.MULTI, Timeout.URGENT, (), ht.TInt,
            "The node daemon's protocol version"),
]}
