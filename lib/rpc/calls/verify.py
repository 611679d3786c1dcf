"""What ``gnt-cluster verify`` asks every node in one call."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    RpcCall("node_verify", Fanout.MULTI, Timeout.FAST,
            (Arg("hypervisors", ht.TListOf(ht.TNonEmptyString),
                 "Enabled hypervisors whose verify() runs"),),
            ht.TDictOf(ht.TString, ht.TAny),
            "protocol, release, time, hypervisor problems and running"
            " instances (or why they could not be listed) of the node"),
]
