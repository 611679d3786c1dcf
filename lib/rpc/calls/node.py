"""Node-level calls."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    RpcCall("version", Fanout.MULTI, Timeout.URGENT, (), ht.TInt,
            "The node daemon's protocol version"),
    RpcCall("test_delay", Fanout.MULTI, Timeout.NORMAL,
            (Arg("duration", ht.TNonNegativeNumber, "Seconds to sleep"),),
            ht.TNone, "Sleep on the node (gnt-debug delay)"),
    RpcCall("set_watcher_pause", Fanout.MULTI, Timeout.URGENT,
            (Arg("until", ht.TMaybe(ht.TNumber),
                 "End of the pause (seconds since the epoch); None: none"),),
            ht.TNone, "Write or remove the node's watcher pause file"),
    RpcCall("node_powercycle", Fanout.SINGLE, Timeout.URGENT,
            (Arg("hypervisor_name", ht.TNonEmptyString,
                 "Hypervisor whose driver reboots the node"),
             Arg("hvparams", ht.TDict, "The cluster's parameters of it")),
            ht.TString, "Hard-reboot the node a few seconds after answering"
            " (gnt-node powercycle); the answer says when"),
]
