"""Storage units of a node (``gnt-node volumes``, ``list-storage``,
``modify-storage``, ``repair-storage``)."""

from __future__ import annotations

from typing import Final

from ganeti import constants, ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: Fields every storage type reports, in Ganeti's names.
STORAGE_FIELDS: Final = ("name", "size", "used", "free", "allocatable")
#: Fields of one logical volume in ``node_volumes`` (``phys``: the list
#: of physical volumes it lies on; ``attr``: lvm2's ``lv_attr``).
VOLUME_FIELDS: Final = ("vg", "name", "size", "phys", "attr")
#: What ``storage_execute`` can do: repair a volume group.
SO_FIX_CONSISTENCY: Final = "fix-consistency"

_TYPE = ht.TElemOf(constants.STORAGE_TYPES)

CALLS = [
    RpcCall("storage_list", Fanout.MULTI, Timeout.NORMAL,
            (Arg("storage_type", _TYPE, "lvm-vg, lvm-pv or file"),
             Arg("name", ht.TMaybe(ht.TNonEmptyString),
                 "Only this unit (None: all)"),
             Arg("file_storage_dir", ht.TString,
                 "Configured file storage directory (the file unit)")),
            ht.TListOf(ht.TList),
            "Rows of the storage units: " + ", ".join(STORAGE_FIELDS)),
    RpcCall("storage_modify", Fanout.SINGLE, Timeout.NORMAL,
            (Arg("storage_type", _TYPE, "Storage type"),
             Arg("name", ht.TNonEmptyString, "Storage unit"),
             Arg("changes", ht.TDict, "Properties to set (allocatable)")),
            ht.TNone, "Change a storage unit (a PV's allocatable flag)"),
    RpcCall("storage_execute", Fanout.SINGLE, Timeout.NORMAL,
            (Arg("storage_type", _TYPE, "Storage type"),
             Arg("name", ht.TNonEmptyString, "Storage unit"),
             Arg("operation", ht.TElemOf([SO_FIX_CONSISTENCY]), "Operation")),
            ht.TNone, "Repair a volume group (vgreduce --removemissing)"),
    RpcCall("node_volumes", Fanout.MULTI, Timeout.NORMAL,
            (Arg("vg_name", ht.TNonEmptyString, "Volume group"),),
            ht.TListOf(ht.TList),
            "Logical volumes of the volume group: "
            + ", ".join(VOLUME_FIELDS)),
]
