"""Running hooks on nodes."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    RpcCall("hooks_runner", Fanout.MULTI, Timeout.NORMAL,
            (Arg("hpath", ht.TNonEmptyString), Arg("phase", ht.TNonEmptyString),
             Arg("env", ht.TDictOf(ht.TString, ht.TString))),
            ht.TListOf(ht.TListOf(ht.TAny)),
            "Run the hooks of one phase: [[script, status, output], ...]"),
]
