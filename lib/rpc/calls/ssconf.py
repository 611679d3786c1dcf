"""Writing the simple store files on nodes."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    RpcCall("write_ssconf_files", Fanout.MULTI, Timeout.FAST,
            (Arg("values", ht.TDictOf(ht.TNonEmptyString, ht.TString),
                 "ssconf key -> file content (every known key)"),),
            ht.TNone,
            "Replace this node's ssconf files (unknown keys are refused)"),
]
