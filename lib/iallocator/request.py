"""The request document an allocator reads (Ganeti 2.6+'s format).

Top-level keys: ``version``, ``cluster_name``, ``cluster_tags``,
``enabled_hypervisors``, ``ipolicy`` (the cluster's, complete),
``nodegroups`` (by UUID: ``name``, ``alloc_policy``, ``ipolicy``
filled from the cluster's, ``networks``, ``tags``), ``nodes`` (by name:
static data, and for online vm-capable nodes the live figures
``total_memory``, ``reserved_memory``, ``free_memory``, ``total_disk``,
``free_disk``, ``total_cpus``, ``reserved_cpus``, ``total_spindles``,
``free_spindles``, ``i_pri_memory``, ``i_pri_up_memory``),
``instances`` (by name) and ``request`` (built by :func:`allocate`,
:func:`relocate`, :func:`node_evacuate`, :func:`change_group`,
:func:`multi_allocate`).

Everything here is a pure function of configuration objects and the
``node_info`` answers (:class:`Snapshot`), so the unit tests build
documents without a cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ganeti import constants, objects
from ganeti.iallocator import REQUEST_VERSION
from ganeti.storage import drbd_ids

Doc = dict[str, Any]

#: Which storage a request's disks use: the volume group or the file dir.
STORAGE_VG = "vg"
STORAGE_FILE = "file"


def storage_of(template: str | None) -> str:
    """The storage whose free space matters for ``template``."""
    return STORAGE_FILE if template == constants.DT_FILE else STORAGE_VG


@dataclasses.dataclass
class Snapshot:
    """What the request is built from: copies of configuration objects
    and the ``node_info`` payload of each node that answered."""

    cluster: objects.Cluster
    nodes: Sequence[objects.Node]
    groups: Sequence[objects.NodeGroup]
    instances: Sequence[objects.Instance]
    live: Mapping[str, Mapping[str, Any]]


def disk_space_total(template: str, sizes: Sequence[int]) -> int:
    """MiB a node's storage gives up for disks of ``sizes`` (Ganeti's
    rule: DRBD adds its metadata volume per disk; diskless takes none)."""
    if template == constants.DT_DISKLESS:
        return 0
    if template in constants.DTS_NET_MIRROR:
        return sum(s + drbd_ids.META_SIZE_MIB for s in sizes)
    return sum(sizes)


def required_nodes(template: str) -> int:
    return 2 if template in constants.DTS_NET_MIRROR else 1


def _nic(nic: objects.NIC, filled: Mapping[str, Any]) -> Doc:
    return {"mac": nic.mac, "ip": nic.ip, "mode": filled.get("mode"),
            "link": filled.get("link"), "network": None,
            "name": getattr(nic, "name", None)}


def _instance(cluster: objects.Cluster, inst: objects.Instance) -> Doc:
    be = cluster.filled_beparams(inst)
    sizes = [d.size for d in inst.disks]
    return {
        "tags": list(inst.tags),
        "admin_state": "up" if inst.admin_up else "down",
        "admin_state_source": "admin",
        "vcpus": int(be["vcpus"]),
        "memory": int(be["maxmem"]),
        "spindle_use": int(be.get("spindle_use", 1)),
        "os": inst.os,
        "nodes": list(inst.all_nodes),
        "nics": [_nic(n, cluster.filled_nicparams(n)) for n in inst.nics],
        "disks": [{"size": d.size, "mode": d.mode, "spindles": d.spindles}
                  for d in inst.disks],
        "disk_template": inst.disk_template,
        "disk_space_total": disk_space_total(inst.disk_template, sizes),
        "hypervisor": inst.hypervisor,
    }


def _group(cluster: objects.Cluster, group: objects.NodeGroup) -> Doc:
    return {"name": group.name, "alloc_policy": group.alloc_policy,
            "ipolicy": cluster.fill_ipolicy(group), "networks": [],
            "tags": list(group.tags)}


def _node_live(snap: Snapshot, node: objects.Node, info: Mapping[str, Any],
               storage: str, ndparams: Mapping[str, Any]) -> Doc:
    """The live figures of one node; instances' memory counted as Ganeti
    does (the free memory is at most what the running primaries leave)."""
    reported = int(info.get("memory_free") or 0)
    # A node that reports its free memory but not its total (unknown to
    # its hypervisor) is taken as having only that much.
    total = int(info.get("memory_total") or reported)
    dom0 = int(info.get("memory_dom0") or 0)
    pri = [i for i in snap.instances if i.primary_node == node.name]
    pri_mem = up_mem = 0
    spindles_used = 0
    for inst in snap.instances:
        if node.name in inst.all_nodes:
            spindles_used += sum(d.spindles or 0 for d in inst.disks)
    for inst in pri:
        mem = int(snap.cluster.filled_beparams(inst)["maxmem"])
        pri_mem += mem
        if inst.admin_up:
            up_mem += mem
    free = max(0, min(reported, total - dom0 - up_mem))
    if storage == STORAGE_FILE:
        disk_total = info.get("file_storage_total")
        disk_free = info.get("file_storage_free")
    else:
        disk_total, disk_free = info.get("vg_size"), info.get("vg_free")
    spindles = int(ndparams.get("spindle_count", 1))
    return {
        "total_memory": total, "reserved_memory": dom0, "free_memory": free,
        "total_disk": int(disk_total or 0), "free_disk": int(disk_free or 0),
        "total_cpus": int(info.get("cpu_total") or 1), "reserved_cpus": 0,
        "total_spindles": spindles,
        "free_spindles": max(0, spindles - spindles_used),
        "i_pri_memory": pri_mem, "i_pri_up_memory": up_mem,
    }


def _node(snap: Snapshot, node: objects.Node,
          groups: Mapping[str, objects.NodeGroup], storage: str) -> Doc:
    group = groups.get(node.group)
    ndparams = snap.cluster.filled_ndparams(node, group)
    doc: Doc = {
        "tags": list(node.tags), "primary_ip": node.primary_ip,
        "secondary_ip": node.secondary_ip, "offline": node.offline,
        "drained": node.drained, "master_candidate": node.master_candidate,
        "master_capable": True, "vm_capable": True, "group": node.group,
        "ndparams": ndparams,
    }
    info = snap.live.get(node.name)
    if not node.offline and info is not None:
        doc.update(_node_live(snap, node, info, storage, ndparams))
    return doc


def cluster_data(snap: Snapshot, storage: str = STORAGE_VG) -> Doc:
    """The document without its ``request``; ``storage`` selects which
    free space nodes report as ``free_disk``."""
    cluster = snap.cluster
    groups = {g.uuid: g for g in snap.groups}
    return {
        "version": REQUEST_VERSION,
        "cluster_name": cluster.cluster_name,
        "cluster_tags": list(cluster.tags),
        "enabled_hypervisors": list(cluster.enabled_hypervisors),
        "ipolicy": cluster.fill_ipolicy(None),
        "nodegroups": {u: _group(cluster, g) for u, g in groups.items()},
        "nodes": {n.name: _node(snap, n, groups, storage)
                  for n in snap.nodes},
        "instances": {i.name: _instance(cluster, i) for i in snap.instances},
    }


# --- requests -----------------------------------------------------------------

@dataclasses.dataclass
class NewInstance:
    """An instance to place (allocate and multi-allocate)."""

    name: str
    disk_template: str
    memory: int
    vcpus: int
    disks: list[Doc]
    nics: list[Doc]
    os: str
    hypervisor: str
    tags: list[str] = dataclasses.field(default_factory=list)
    spindle_use: int = 1
    group_name: str | None = None

    def body(self) -> Doc:
        sizes = [int(d["size"]) for d in self.disks]
        return {
            "name": self.name, "disk_template": self.disk_template,
            "tags": list(self.tags), "os": self.os, "vcpus": self.vcpus,
            "memory": self.memory, "spindle_use": self.spindle_use,
            "disks": [{"size": int(d["size"]),
                       "mode": d.get("mode", constants.DISK_RDWR),
                       "spindles": d.get("spindles")} for d in self.disks],
            "disk_space_total": disk_space_total(self.disk_template, sizes),
            "nics": [{"mac": n.get("mac", constants.VALUE_AUTO),
                      "ip": n.get("ip"), "mode": n.get("mode"),
                      "link": n.get("link"), "network": None}
                     for n in self.nics],
            "required_nodes": required_nodes(self.disk_template),
            "hypervisor": self.hypervisor,
            "group_name": self.group_name,
        }


def allocate(new: NewInstance) -> Doc:
    return {"type": constants.IALLOCATOR_MODE_ALLOC, **new.body()}


def multi_allocate(new: Sequence[NewInstance]) -> Doc:
    return {"type": constants.IALLOCATOR_MODE_MULTI_ALLOC,
            "instances": [n.body() for n in new]}


def relocate(inst: objects.Instance, relocate_from: Sequence[str]) -> Doc:
    """A new node for ``inst`` instead of ``relocate_from`` (its
    secondary: Ganeti relocates DRBD secondaries only)."""
    return {"type": constants.IALLOCATOR_MODE_RELOC, "name": inst.name,
            "disk_space_total": disk_space_total(
                inst.disk_template, [d.size for d in inst.disks]),
            "required_nodes": 1, "relocate_from": list(relocate_from)}


def node_evacuate(instances: Sequence[str], evac_mode: str) -> Doc:
    return {"type": constants.IALLOCATOR_MODE_NODE_EVAC,
            "instances": list(instances), "evac_mode": evac_mode}


def change_group(instances: Sequence[str],
                 target_groups: Sequence[str]) -> Doc:
    return {"type": constants.IALLOCATOR_MODE_CHG_GROUP,
            "instances": list(instances),
            "target_groups": list(target_groups)}


def document(snap: Snapshot, req: Doc, storage: str = STORAGE_VG) -> Doc:
    """The full request document."""
    return {**cluster_data(snap, storage), "request": req}
