"""Block device calls: create, remove, grow, rename, activate (assemble),
deactivate (shutdown), find, mirror status, snapshot (LVM, for exports),
sizes; instance storage directories of file disks.

Disks travel as ``Disk.to_dict()``; file disks carry *configured* paths
and each node relocates them under its root.  Status results are
:class:`~ganeti.storage.base.SyncStatus` records, never tuples.
"""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.calls.instance import record_check
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout
from ganeti.storage.base import SyncStatus

_DISK = Arg("disk", ht.TDict, "Disk.to_dict()")
_DISKS = Arg("disks", ht.TListOf(ht.TDict), "Disk.to_dict() of each disk")
_OWNER = Arg("owner", ht.THostname, "Name of the instance owning the disk")
_ON_PRIMARY = Arg("on_primary", ht.TBool,
                  "Whether this node is the instance's primary node")
_DIR = Arg("file_storage_dir", ht.TAbsolutePath,
           "Configured directory of the instance's file disks")

#: One rename: [disk, new logical id].
T_RENAME_PAIR = ht.Check(
    lambda v: isinstance(v, list) and len(v) == 2 and ht.TDict(v[0])
    and ht.TList(v[1]), "a [disk, new logical id] pair")

T_SYNC_STATUS = record_check(SyncStatus)

CALLS = [
    RpcCall("blockdev_create", Fanout.SINGLE, Timeout.NORMAL,
            (_DISK, Arg("size", ht.TPositiveInt, "Size in MiB"), _OWNER,
             _ON_PRIMARY),
            ht.TNonEmptyString,
            "Create a block device; returns its path on this node"),
    RpcCall("blockdev_remove", Fanout.SINGLE, Timeout.NORMAL, (_DISK,),
            ht.TNone, "Remove a block device (a missing one is fine)"),
    RpcCall("blockdev_grow", Fanout.SINGLE, Timeout.NORMAL,
            (_DISK, Arg("amount", ht.TNonNegativeInt, "MiB to add")),
            ht.TNonNegativeInt, "Grow a block device; returns its new size"),
    RpcCall("blockdev_rename", Fanout.SINGLE, Timeout.NORMAL,
            (Arg("devlist", ht.TListOf(T_RENAME_PAIR),
                 "[disk, new logical id] pairs"),),
            ht.TNone,
            "Give block devices new logical ids (every pair is tried)"),
    RpcCall("blockdev_assemble", Fanout.SINGLE, Timeout.NORMAL,
            (_DISK, _OWNER, _ON_PRIMARY),
            ht.TNonEmptyString,
            "Activate a block device; returns its path on this node"),
    RpcCall("blockdev_shutdown", Fanout.SINGLE, Timeout.NORMAL, (_DISK,),
            ht.TNone, "Deactivate a block device (its data stays)"),
    RpcCall("blockdev_find", Fanout.SINGLE, Timeout.FAST, (_DISK,),
            ht.TMaybe(T_SYNC_STATUS),
            "Status of a block device; None when it is not on this node"),
    RpcCall("blockdev_getmirrorstatus", Fanout.SINGLE, Timeout.FAST, (_DISKS,),
            ht.TListOf(T_SYNC_STATUS),
            "Sync status of each disk (every one must exist)"),
    RpcCall("blockdev_snapshot", Fanout.SINGLE, Timeout.NORMAL, (_DISK,),
            ht.TList,
            "Snapshot a logical volume for an export (room for its whole"
            " size); returns the snapshot's logical id"),
    RpcCall("blockdev_getsizes", Fanout.SINGLE, Timeout.FAST, (_DISKS,),
            ht.TListOf(ht.TMaybe(ht.TNonNegativeInt)),
            "Actual size in MiB of each disk; None for a missing one"),
    RpcCall("file_storage_dir_create", Fanout.SINGLE, Timeout.FAST, (_DIR,),
            ht.TNone, "Create an instance's file storage directory"),
    RpcCall("file_storage_dir_remove", Fanout.SINGLE, Timeout.FAST, (_DIR,),
            ht.TNone,
            "Remove an empty instance file storage directory"),
    RpcCall("file_storage_dir_rename", Fanout.SINGLE, Timeout.FAST,
            (Arg("old_file_storage_dir", ht.TAbsolutePath),
             Arg("new_file_storage_dir", ht.TAbsolutePath)),
            ht.TNone, "Rename an instance's file storage directory"),
]
