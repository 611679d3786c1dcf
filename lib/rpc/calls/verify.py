"""What ``gnt-cluster verify`` asks every node in one call."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    # URGENT (60 s): the answer is quick work on a healthy node, and a hung
    # node makes verify wait this limit once (every later call skips it).
    RpcCall("node_verify", Fanout.MULTI, Timeout.URGENT,
            (Arg("hypervisors", ht.TListOf(ht.TNonEmptyString),
                 "Enabled hypervisors whose verify() runs"),),
            ht.TDictOf(ht.TString, ht.TAny),
            "protocol, release, time, hypervisor problems and running"
            " instances (or why they could not be listed) of the node"),
]
