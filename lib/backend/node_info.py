"""``node_info``: what the node has (memory, CPUs, disk space, boot id).

Memory and CPU figures come from the first hypervisor given (the
cluster's default); a failing hypervisor leaves them None and says why in
``hv_error`` so the other figures still arrive.  Disk space is reported
for the volume group (through the lvm2 runner) when one is configured
and for the file system holding the file storage directory (relocated under this node's
root), whichever exists; ``gnt-node list`` shows the volume group first.
"""

from __future__ import annotations

import os
from typing import Any, Final

from ganeti import errors, hypervisor, pathutils
from ganeti.backend import handler
from ganeti.storage import lvm

BOOT_ID_FILE: Final = "/proc/sys/kernel/random/boot_id"
_MIB: Final = 1024 * 1024


def _boot_id() -> str | None:
    try:
        with open(BOOT_ID_FILE, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _hv_info(hypervisors: list[str], info: dict[str, Any]) -> None:
    if not hypervisors:
        return
    try:
        hv = hypervisor.get_hypervisor(hypervisors[0])
        res = hv.get_node_info()
    except errors.GenericError as err:
        info["hv_error"] = f"{hypervisors[0]}: {err}"
        return
    info.update(memory_total=res.memory_total, memory_free=res.memory_free,
                memory_dom0=res.memory_dom0, cpu_total=res.cpu_total,
                cpu_nodes=res.cpu_nodes, cpu_sockets=res.cpu_sockets)


def _vg_info(vg_name: str, info: dict[str, Any]) -> None:
    try:
        vg = lvm.node_runner().find_vg(vg_name)
    except errors.GenericError as err:
        info["vg_error"] = f"volume group {vg_name}: {err}"
        return
    if vg is None:
        info["vg_error"] = f"volume group {vg_name} does not exist"
        return
    info.update(vg_size=vg.size_mib, vg_free=vg.free_mib,
                vg_extent_kib=vg.extent_kib)


def existing_ancestor(path: str) -> str:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _file_info(file_storage_dir: str, info: dict[str, Any]) -> None:
    if not file_storage_dir:
        return
    real = pathutils.get().under(file_storage_dir)
    try:
        st = os.statvfs(existing_ancestor(real))
    except OSError:
        return
    info.update(file_storage_total=st.f_blocks * st.f_frsize // _MIB,
                file_storage_free=st.f_bavail * st.f_frsize // _MIB)


@handler("node_info")
def node_info(vg_name: str | None, hypervisors: list[str],
              file_storage_dir: str) -> dict[str, Any]:
    from ganeti.rpc.calls.node_info import NODE_INFO_KEYS

    info: dict[str, Any] = dict.fromkeys(NODE_INFO_KEYS)
    info["bootid"] = _boot_id()
    _hv_info(hypervisors, info)
    if vg_name:
        _vg_info(vg_name, info)
    _file_info(file_storage_dir, info)
    return info
