"""The built-in allocator: answers a request document without a program.

It is deliberately small.  A node can take an instance when it is
online, undrained, vm-capable, reported its free memory and disk, lies
in a group whose ``alloc_policy`` is not ``unallocable`` and whose
instance policy the instance complies with, and has room: the memory
(``maxmem``) on the primary and the disk space (``disk_space_total``)
on every node of the instance.  Among those it picks the node with the
best score, the fraction of memory plus the fraction of disk left after
the placement; ``preferred`` groups come before ``last_resort`` ones, and
for two-node templates both nodes come from one group.  Placements made
while answering one request count against the nodes for the next
instance of the same request (evacuations, multi-allocate).

N+1 memory redundancy, as ``gnt-cluster verify`` checks it and as hail
keeps it: a node that is a DRBD secondary must have the free memory to
take over, should one of its primaries fail, every mirrored instance of
that primary.  A placement that would make a node fail that check (as a
new primary: less free memory than its reserve; as a new secondary: a
larger reserve than its free memory) is refused; a node that fails it
already does not block further placements (hail's rule).

The answer has the shape an external allocator's has (:mod:`.answer`
checks both the same way); evacuation answers carry no jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ganeti import constants, ipolicy

Doc = dict[str, Any]

_POLICY_ORDER = {constants.ALLOC_POLICY_PREFERRED: 0,
                 constants.ALLOC_POLICY_LAST_RESORT: 1}


class _NoPlace(Exception):
    """No node (pair) can take the instance; args[0] says why."""


class _Cluster:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.groups: Mapping[str, Doc] = doc["nodegroups"]
        self.nodes: Mapping[str, Doc] = doc["nodes"]
        self.instances: Mapping[str, Doc] = doc["instances"]
        #: MiB of memory / disk this answer already placed per node.
        self.mem: dict[str, int] = {}
        self.disk: dict[str, int] = {}
        #: Secondary node -> primary node -> MiB of the mirrored
        #: instances it takes over should that primary fail.
        self.failover: dict[str, dict[str, int]] = {}
        for inst in self.instances.values():
            nodes = inst.get("nodes") or []
            if inst.get("disk_template") in constants.DTS_NET_MIRROR \
                    and len(nodes) == 2:
                self.add_failover(nodes[1], nodes[0], int(inst["memory"]))

    def add_failover(self, secondary: str, primary: str, mem: int) -> None:
        per_primary = self.failover.setdefault(secondary, {})
        per_primary[primary] = per_primary.get(primary, 0) + mem

    def keeps_n1(self, name: str, mem: int = 0, primary: str | None = None,
                 failover_mem: int = 0) -> bool:
        """Whether ``name`` stays N+1 redundant after taking ``mem`` MiB
        as a primary, or ``failover_mem`` MiB as the secondary of an
        instance on ``primary`` (true when it fails N+1 already, or its
        memory is not known)."""
        if "free_memory" not in self.nodes[name]:
            return True
        needs = self.failover.get(name, {})
        free = self.left(name)[0]
        reserve = max(needs.values(), default=0)
        if free < reserve:
            return True
        if primary is not None:
            reserve = max(reserve, needs.get(primary, 0) + failover_mem)
        return free - mem >= reserve

    def usable(self, name: str) -> bool:
        node = self.nodes[name]
        return (not node.get("offline") and not node.get("drained")
                and node.get("vm_capable", True) and "free_memory" in node
                and self.groups.get(node["group"], {}).get("alloc_policy")
                != constants.ALLOC_POLICY_UNALLOCABLE)

    def left(self, name: str) -> tuple[int, int]:
        node = self.nodes[name]
        return (int(node["free_memory"]) - self.mem.get(name, 0),
                int(node["free_disk"]) - self.disk.get(name, 0))

    def score(self, name: str, mem: int, disk: int) -> float | None:
        """The node's score after taking ``mem``/``disk``; None: no room."""
        free_mem, free_disk = self.left(name)
        if free_mem < mem or free_disk < disk:
            return None
        node = self.nodes[name]
        total_mem = max(int(node.get("total_memory") or 0), 1)
        total_disk = max(int(node.get("total_disk") or 0), 1)
        return (free_mem - mem) / total_mem + (free_disk - disk) / total_disk

    def take(self, name: str, mem: int, disk: int) -> None:
        self.mem[name] = self.mem.get(name, 0) + mem
        self.disk[name] = self.disk.get(name, 0) + disk

    def group_order(self, allowed: Iterable[str] | None) -> list[str]:
        uuids = list(self.groups) if allowed is None else list(allowed)
        usable = [u for u in uuids if u in self.groups
                  and self.groups[u].get("alloc_policy")
                  != constants.ALLOC_POLICY_UNALLOCABLE]
        return sorted(usable, key=lambda u: (
            _POLICY_ORDER.get(str(self.groups[u].get("alloc_policy")), 2),
            self.groups[u].get("name", "")))

    def best(self, group: str, mem: int, disk: int,
             exclude: Iterable[str], *, primary: str | None = None,
             failover_mem: int = 0) -> tuple[float, str] | None:
        """The best node of ``group`` for ``mem``/``disk`` (a new primary),
        or for ``disk`` as the secondary of an instance of
        ``failover_mem`` MiB on ``primary``; None: none keeps room and
        N+1 redundancy."""
        skip = set(exclude)
        found: tuple[float, str] | None = None
        for name in sorted(self.nodes):
            if name in skip or self.nodes[name].get("group") != group \
                    or not self.usable(name) \
                    or not self.keeps_n1(name, mem, primary, failover_mem):
                continue
            score = self.score(name, mem, disk)
            if score is not None and (found is None or score > found[0]):
                found = (score, name)
        return found


def _violations(group: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    return ipolicy.spec_violations(
        group.get("ipolicy", {}), mem_size=int(spec["memory"]),
        cpu_count=int(spec["vcpus"]),
        disk_sizes=[int(d["size"]) for d in spec["disks"]],
        nic_count=len(spec.get("nics", [])),
        spindle_use=int(spec.get("spindle_use", 1)),
        disk_template=spec["disk_template"])


def _place(cl: _Cluster, spec: Mapping[str, Any], count: int,
           groups: Iterable[str] | None,
           exclude: Iterable[str] = ()) -> tuple[str, list[str]]:
    """(group, nodes) for a new instance of ``spec``; records them."""
    mem, disk = int(spec["memory"]), int(spec["disk_space_total"])
    reasons = []
    for uuid in cl.group_order(groups):
        group = cl.groups[uuid]
        bad = _violations(group, spec)
        if bad:
            reasons.append(f"group {group.get('name')}: {bad[0]}")
            continue
        found = _pair(cl, uuid, mem, disk, count, exclude)
        if isinstance(found, str):
            reasons.append(f"group {group.get('name')}: {found}")
            continue
        cl.take(found[0], mem, disk)
        for node in found[1:]:
            cl.take(node, 0, disk)
            cl.add_failover(node, found[0], mem)
        return uuid, found
    raise _NoPlace("; ".join(reasons) or "no allocable group")


def _pair(cl: _Cluster, group: str, mem: int, disk: int, count: int,
          exclude: Iterable[str]) -> list[str] | str:
    """The nodes (primary first) for a new instance in ``group``, the
    best primary that has a secondary; or why there are none."""
    candidates = []
    for name in sorted(cl.nodes):
        if name in exclude or cl.nodes[name].get("group") != group \
                or not cl.usable(name) or not cl.keeps_n1(name, mem):
            continue
        score = cl.score(name, mem, disk)
        if score is not None:
            candidates.append((-score, name))
    if not candidates:
        return (f"no node has {mem} MiB memory and {disk} MiB disk free"
                " (keeping N+1 memory redundancy)")
    for _score, primary in sorted(candidates):
        if count < 2:
            return [primary]
        secondary = cl.best(group, 0, disk, [*exclude, primary],
                            primary=primary, failover_mem=mem)
        if secondary is not None:
            return [primary, secondary[1]]
    return (f"no second node has {disk} MiB disk free and {mem} MiB"
            " memory for a failover (N+1)")


def _allocate(cl: _Cluster, req: Mapping[str, Any]) -> list[str]:
    return _place(cl, req, int(req["required_nodes"]), None)[1]


def _relocate(cl: _Cluster, req: Mapping[str, Any]) -> list[str]:
    inst = cl.instances[req["name"]]
    primary = inst["nodes"][0]
    found = cl.best(cl.nodes[primary]["group"], 0,
                    int(req["disk_space_total"]), inst["nodes"],
                    primary=primary, failover_mem=int(inst["memory"]))
    if found is None:
        raise _NoPlace(f"no node of the instance's group has"
                       f" {req['disk_space_total']} MiB disk free and"
                       f" {inst['memory']} MiB memory for a failover (N+1)")
    cl.take(found[1], 0, int(req["disk_space_total"]))
    cl.add_failover(found[1], primary, int(inst["memory"]))
    return [found[1]]


def _new_secondary(cl: _Cluster, name: str, inst: Doc) -> list[str]:
    if inst["disk_template"] not in constants.DTS_NET_MIRROR:
        raise _NoPlace(f"the {inst['disk_template']} template has no"
                       " secondary node")
    primary = inst["nodes"][0]
    found = cl.best(cl.nodes[primary]["group"], 0,
                    int(inst["disk_space_total"]), inst["nodes"],
                    primary=primary, failover_mem=int(inst["memory"]))
    if found is None:
        raise _NoPlace("no other node of its group has"
                       f" {inst['disk_space_total']} MiB disk free and"
                       f" {inst['memory']} MiB memory for a failover (N+1)")
    cl.take(found[1], 0, int(inst["disk_space_total"]))
    cl.add_failover(found[1], primary, int(inst["memory"]))
    return [primary, found[1]]


def _evacuate(cl: _Cluster, req: Mapping[str, Any]) -> list[Any]:
    moved: list[Any] = []
    failed: list[Any] = []
    change_group = req["type"] == constants.IALLOCATOR_MODE_CHG_GROUP
    for name in req["instances"]:
        inst = cl.instances[name]
        try:
            if change_group:
                own = cl.nodes[inst["nodes"][0]]["group"]
                targets = req.get("target_groups") or [
                    u for u in cl.groups if u != own]
                group, nodes = _place(cl, inst, len(inst["nodes"]), targets)
            elif req["evac_mode"] == constants.NODE_EVAC_ALL:
                # Off both of its nodes, within its group (as hail does).
                own = cl.nodes[inst["nodes"][0]]["group"]
                group, nodes = _place(cl, inst, len(inst["nodes"]), [own],
                                      exclude=inst["nodes"])
            elif req["evac_mode"] == constants.NODE_EVAC_PRI:
                if inst["disk_template"] not in constants.DTS_NET_MIRROR:
                    raise _NoPlace(f"the {inst['disk_template']} template"
                                   " cannot fail over")
                nodes = [inst["nodes"][1], inst["nodes"][0]]
                group = cl.nodes[nodes[0]]["group"]
            else:
                nodes = _new_secondary(cl, name, inst)
                group = cl.nodes[nodes[0]]["group"]
        except _NoPlace as err:
            failed.append([name, str(err)])
            continue
        moved.append([name, group, nodes])
    return [moved, failed, []]


def _multi(cl: _Cluster, req: Mapping[str, Any]) -> list[Any]:
    done: list[Any] = []
    failed: list[str] = []
    for spec in req["instances"]:
        try:
            done.append([spec["name"], _allocate(cl, spec)])
        except _NoPlace:
            failed.append(spec["name"])
    return [done, failed]


def answer(doc: Mapping[str, Any]) -> Doc:
    """The answer to the request document ``doc``."""
    cl = _Cluster(doc)
    req = doc["request"]
    mode = req["type"]
    try:
        if mode == constants.IALLOCATOR_MODE_ALLOC:
            result: Any = _allocate(cl, req)
        elif mode == constants.IALLOCATOR_MODE_RELOC:
            result = _relocate(cl, req)
        elif mode in (constants.IALLOCATOR_MODE_NODE_EVAC,
                      constants.IALLOCATOR_MODE_CHG_GROUP):
            result = _evacuate(cl, req)
        elif mode == constants.IALLOCATOR_MODE_MULTI_ALLOC:
            result = _multi(cl, req)
        else:
            return {"success": False, "info": f"unknown mode {mode}",
                    "result": None}
    except _NoPlace as err:
        return {"success": False, "info": str(err), "result": None}
    return {"success": True, "info": "built-in allocator", "result": result}


def answer_text(doc: Mapping[str, Any]) -> str:
    return json.dumps(answer(doc))
