"""Storage units of this node: volume groups and physical volumes
(through the lvm2 runner) and the file storage directory.

Rows follow :data:`ganeti.rpc.calls.storage.STORAGE_FIELDS` (sizes in
MiB); the master adds the node and the type.
"""

from __future__ import annotations

import os
from typing import Any

from ganeti import constants, errors
from ganeti.backend import handler, node_info
from ganeti.backend.blockdev import storage_context
from ganeti.rpc.calls.storage import SO_FIX_CONSISTENCY
from ganeti.storage import lvm

_MIB = 1024 * 1024


def _runner() -> lvm.LvmRunner:
    return storage_context().lvm_runner or lvm.LvmRunner()


def _lvm(action: Any, *args: Any) -> Any:
    """Run a runner method; lvm2 failures become one-line errors."""
    try:
        return action(*args)
    except lvm.LvmCommandError as err:
        raise errors.BlockDeviceError(str(err), err.code) from None


def _file_row(directory: str) -> list[Any]:
    # A directory not made yet (no file instance) is on its parent's
    # file system.
    real = node_info.existing_ancestor(storage_context().paths.under(directory))
    try:
        st = os.statvfs(real)
    except OSError as err:
        raise errors.BlockDeviceError(
            f"Cannot examine {directory}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    size = st.f_blocks * st.f_frsize // _MIB
    free = st.f_bavail * st.f_frsize // _MIB
    return [directory, size, size - free, free, True]


@handler("storage_list")
def storage_list(storage_type: str, name: str | None,
                 file_storage_dir: str) -> list[list[Any]]:
    if storage_type == constants.ST_FILE:
        rows = [_file_row(file_storage_dir)] if file_storage_dir else []
    elif storage_type == constants.ST_LVM_VG:
        rows = [[vg.name, vg.size_mib, vg.size_mib - vg.free_mib, vg.free_mib,
                 True] for vg in _lvm(_runner().list_vgs)]
    else:
        rows = [[pv.name, pv.size_mib, pv.used_mib, pv.free_mib,
                 pv.allocatable] for pv in _lvm(_runner().list_pvs)]
    return [row for row in rows if name is None or row[0] == name]


@handler("storage_modify")
def storage_modify(storage_type: str, name: str,
                   changes: dict[str, Any]) -> None:
    if storage_type != constants.ST_LVM_PV or set(changes) != {"allocatable"} \
            or not isinstance(changes["allocatable"], bool):
        raise errors.BlockDeviceError(
            f"Storage units of type {storage_type} cannot be modified so"
            f" ({', '.join(sorted(map(str, changes)))}); only an lvm-pv's"
            " allocatable flag can be changed", errors.ErrorCode.INVAL)
    runner = _runner()
    if name not in {pv.name for pv in _lvm(runner.list_pvs)}:
        raise errors.BlockDeviceError(f"No physical volume {name} on this"
                                      " node", errors.ErrorCode.NOENT)
    _lvm(runner.pvchange_allocatable, name, changes["allocatable"])


@handler("storage_execute")
def storage_execute(storage_type: str, name: str, operation: str) -> None:
    if storage_type != constants.ST_LVM_VG or operation != SO_FIX_CONSISTENCY:
        raise errors.BlockDeviceError(
            f"Storage units of type {storage_type} cannot be repaired; only"
            " an lvm-vg can", errors.ErrorCode.INVAL)
    runner = _runner()
    if _lvm(runner.find_vg, name) is None:
        raise errors.BlockDeviceError(f"No volume group {name} on this node",
                                      errors.ErrorCode.NOENT)
    _lvm(runner.vgreduce_removemissing, name)


@handler("node_volumes")
def node_volumes(vg_name: str) -> list[list[Any]]:
    return [[lv.vg_name, lv.name, lv.size_mib, list(lv.pvs), lv.attr]
            for lv in _lvm(_runner().list_lvs, vg_name)]
