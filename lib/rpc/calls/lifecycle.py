"""Cluster membership and the master role on nodes."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.calls.files import TEncodedData
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: ``[serial, content]``: the node's configuration serial number (-1
#: without a config.data) and, only when it is above the caller's, the
#: encoded file.
_TConfigCopy = ht.Check(
    lambda v: (isinstance(v, list) and len(v) == 2 and ht.TInt(v[0])
               and (v[1] is None or TEncodedData(v[1]))),
    "[serial number, encoded config.data or None]")

CALLS = [
    RpcCall("node_leave_cluster", Fanout.SINGLE, Timeout.FAST, (),
            ht.TNone,
            "Remove the cluster's files from the node and stop its node "
            "daemon right after answering"),
    RpcCall("node_demote_from_mc", Fanout.SINGLE, Timeout.FAST, (),
            ht.TListOf(ht.TString),
            "Drop the files only master candidates keep (config.data, the "
            "RAPI certificate and users, extra files for candidates, the "
            "job queue copy); refused on the master; returns the removed "
            "configured paths"),
    RpcCall("node_start_master", Fanout.SINGLE, Timeout.FAST,
            (Arg("start_daemons", ht.TBool, "Also start ganeti-masterd"),
             Arg("no_voting", ht.TBool,
                 "Start masterd with --no-voting --yes-do-it")),
            ht.TNone,
            "Take the master role: master IP up (when a netdev is set), "
            "then masterd"),
    RpcCall("node_stop_master", Fanout.SINGLE, Timeout.FAST,
            (Arg("stop_daemons", ht.TBool, "Also stop ganeti-masterd"),),
            ht.TNone,
            "Give up the master role: masterd stopped, master IP down"),
    RpcCall("master_info", Fanout.MULTI, Timeout.URGENT, (),
            ht.TListOf(ht.TString),
            "What this node believes: [cluster name, master node, master IP,"
            " master netdev] (from its ssconf files)"),
    RpcCall("config_fetch", Fanout.MULTI, Timeout.FAST,
            (Arg("known_serial", ht.TInt,
                 "Serial number of the caller's configuration"),),
            _TConfigCopy,
            "This node's config.data serial number, and the file itself "
            "when it is newer than the caller's (master failover)"),
    RpcCall("config_journal_append", Fanout.MULTI, Timeout.FAST,
            (Arg("lines", ht.TListOf(ht.TString),
                 "Configuration journal lines, in serial order"),),
            ht.TInt,
            "Append the master's configuration journal lines to this "
            "candidate's copy (compacting it where the master did); returns"
            " the copy's serial number; refused when the lines do not "
            "follow it (the master then uploads the whole files)"),
]
