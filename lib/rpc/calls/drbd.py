"""DRBD calls of Ganeti 2.1, sent to both nodes of a mirror at once.

Every call takes ``nodes_ip`` (node name -> secondary IP, the
replication addresses of the cluster's nodes) and the instance's
``drbd8`` disks as ``Disk.to_dict()`` *without* physical ids: each node
computes its own with :func:`ganeti.storage.drbd_ids.for_node` and the
node name it knows itself by.  The master sends the same arguments to
the primary and the secondary (fan-out ``MULTI``).
"""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

_NODES_IP = Arg("nodes_ip", ht.TDictOf(ht.TNonEmptyString, ht.TIPAddress),
                "Node name -> secondary (replication) IP")
_DISKS = Arg("disks", ht.TListOf(ht.TDict),
             "Disk.to_dict() of each drbd8 disk (no physical ids)")
_INSTANCE = Arg("instance_name", ht.THostname,
                "Name of the instance owning the disks")

#: [all_done, min_sync_percent] of drbd_wait_sync.
T_WAIT_SYNC = ht.Check(
    lambda v: isinstance(v, list) and len(v) == 2 and ht.TBool(v[0])
    and ht.TNonNegativeNumber(v[1]),
    "[all_done, lowest sync percent]")

CALLS = [
    RpcCall("drbd_disconnect_net", Fanout.MULTI, Timeout.NORMAL,
            (_NODES_IP, _DISKS), ht.TNone,
            "Disconnect the disks from their peer (standalone)"),
    RpcCall("drbd_attach_net", Fanout.MULTI, Timeout.NORMAL,
            (_NODES_IP, _DISKS, _INSTANCE,
             Arg("multimaster", ht.TBool,
                 "Allow two primaries (live migration)")),
            ht.TNone,
            "Connect the disks to their peer (again), protocol C"),
    RpcCall("drbd_wait_sync", Fanout.MULTI, Timeout.SLOW,
            (_NODES_IP, _DISKS), T_WAIT_SYNC,
            "Whether every disk finished its resync, and the lowest progress"),
    RpcCall("drbd_detach_disk", Fanout.SINGLE, Timeout.NORMAL,
            (Arg("disk", ht.TDict,
                 "Disk.to_dict() with this node's physical ids"),),
            ht.TNone,
            "Detach the local disk of a DRBD device (it stays up, diskless,"
            " on its peer's data); nothing if it has none"),
    RpcCall("drbd_attach_disks", Fanout.SINGLE, Timeout.NORMAL,
            (Arg("disk", ht.TDict,
                 "Disk.to_dict() with this node's physical ids"),
             Arg("init_meta", ht.TBool,
                 "Write fresh metadata first (new, empty volumes)")),
            ht.TNone,
            "Attach the disk's volumes as the local disk of its DRBD device"
            " (the peer resyncs them); nothing if it has one"),
    RpcCall("blockdev_close", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE, Arg("disks", ht.TListOf(ht.TDict),
                            "Disk.to_dict() with this node's physical ids")),
            ht.TNone,
            "Make the instance's mirrored disks secondary on this node"),
]
