"""Renewing the cluster certificate on a node without cutting it off
(``gnt-cluster renew-crypto``; ``doc/design/renew-crypto.rst``).

Three steps, each on every node before the next: *stage* writes the new
key and certificate beside the current one (the node then accepts peers
presenting either), *switch* makes the node present the new one (it
still accepts both), *finish* drops the old one.  ``abort`` removes a
staged certificate that will not be used.
"""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.calls.files import TEncodedData
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

_FINGERPRINT = Arg("fingerprint", ht.TRegex(r"[0-9a-f]{64}", "a SHA-256 "
                                            "fingerprint"),
                   "SHA-256 of the new certificate (lowercase hex)")

CALLS = [
    RpcCall("cluster_cert_stage", Fanout.MULTI, Timeout.FAST,
            (Arg("data", TEncodedData, "The new key and certificate (PEM)"),),
            ht.TString,
            "Stage a new cluster certificate: accepted from peers at once, "
            "presented after the switch; returns its fingerprint"),
    RpcCall("cluster_cert_switch", Fanout.MULTI, Timeout.FAST,
            (_FINGERPRINT,), ht.TNone,
            "Present the staged certificate (the previous one stays "
            "accepted until the finish)"),
    RpcCall("cluster_cert_finish", Fanout.MULTI, Timeout.FAST,
            (_FINGERPRINT,), ht.TNone,
            "Accept only the new certificate from now on"),
    RpcCall("cluster_cert_abort", Fanout.MULTI, Timeout.FAST, (), ht.TNone,
            "Drop a staged certificate that will not be switched to"),
]
