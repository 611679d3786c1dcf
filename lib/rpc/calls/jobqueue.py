"""Job queue replication to master candidates.

File names are relative to the node's queue directory: ``serial``,
``job-<id>`` and ``archive/<id // 10000>/job-<id>``; nothing else is
accepted.  Content is an encoded pair as in :mod:`ganeti.rpc.calls.files`.
"""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.calls.files import TEncodedData
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

CALLS = [
    RpcCall("jobqueue_update", Fanout.MULTI, Timeout.URGENT,
            (Arg("file_name", ht.TNonEmptyString,
                 "Name in the queue directory (serial, job-<id>)"),
             Arg("content", TEncodedData, "Encoded content")),
            ht.TNone, "Write one job queue file on a master candidate"),
    RpcCall("jobqueue_rename", Fanout.MULTI, Timeout.URGENT,
            (Arg("renames", ht.TListOf(ht.TListOf(ht.TNonEmptyString)),
                 "[old, new] names in the queue directory"),),
            ht.TNone, "Rename job files (archiving) on a master candidate"),
    RpcCall("replica_state", Fanout.MULTI, Timeout.URGENT, (),
            ht.TDictOf(ht.TString, ht.TAny),
            "This candidate's copy: config serial and the SHA-1 of each "
            "live job queue file (ganeti.replica)"),
    RpcCall("jobqueue_purge", Fanout.MULTI, Timeout.NORMAL, (), ht.TNone,
            "Remove the job queue copy (a node that stops being a "
            "candidate)"),
]
