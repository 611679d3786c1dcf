"""``gnt-cluster verify-disks``: which instances marked up have disks
that are not active, degraded or missing.

The result has Ganeti 2.1's shape, ``[nodes, instances, missing]``:

- ``nodes``: ``{node: error}`` for nodes that could not be asked;
- ``instances``: instances whose disks are inactive or degraded (their
  volumes exist): the client (and the watcher) activate their disks,
  which reconnects a DRBD mirror;
- ``missing``: ``{instance: [[node, "vg/lv"], ...]}``, volumes that are
  gone (``replace-disks`` or ``recreate-disks`` repair those).

Only instances marked up are looked at (a stopped instance's disks are
expected to be inactive), with the shared locks of every node and
instance, as Ganeti does.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, objects, opcodes
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, NoHooksLU
from ganeti.cmdlib.drbd_net import Mirror


def _volumes(disk: objects.Disk) -> list[str]:
    if disk.dev_type == constants.LD_LV:
        return ["/".join(str(p) for p in disk.logical_id)]
    return [v for child in disk.children for v in _volumes(child)]


class LUClusterVerifyDisks(NoHooksLU):
    """See the module."""

    OP = opcodes.OpClusterVerifyDisks

    def expand_names(self) -> LockRequest:
        return LockRequest(instance=ALL, node=ALL, instance_shared=True,
                           node_shared=True)

    def execute(self, feedback: Feedback) -> list[Any]:
        bad_nodes: dict[str, str] = {}
        to_activate: list[str] = []
        missing: dict[str, list[list[str]]] = {}
        insts = [i for i in (self.cfg.get_instance(n)
                             for n in sorted(self.cfg.instance_names()))
                 if i is not None and i.admin_up and i.disks
                 and i.disk_template != constants.DT_DISKLESS]
        nodes = sorted({n for i in insts for n in i.all_nodes})
        online = [n for n in nodes
                  if (obj := self.cfg.get_node(n)) is not None
                  and not obj.offline]
        have = self._volumes(online, insts, bad_nodes)
        for inst in insts:
            lost = [[node, vol] for disk in inst.disks
                    for node in (inst.all_nodes
                                 if disk.dev_type == constants.LD_DRBD8
                                 else [inst.primary_node])
                    for vol in _volumes(disk)
                    if node in have and vol not in have[node]]
            if lost:
                missing[inst.name] = sorted(lost)
                continue
            if self._needs_activation(inst, bad_nodes):
                to_activate.append(inst.name)
        return [bad_nodes, to_activate, missing]

    def _volumes(self, nodes: list[str], insts: list[objects.Instance],
                 bad_nodes: dict[str, str]) -> dict[str, set[str]]:
        vgs = sorted({v.split("/", 1)[0] for i in insts for d in i.disks
                      for v in _volumes(d)})
        have: dict[str, set[str]] = {n: set() for n in nodes}
        for vg in vgs:
            for node, res in self.rpc.call_node_volumes(nodes, vg).items():
                if res.failed:
                    bad_nodes[node] = str(res.fail_msg)
                    have.pop(node, None)
                elif node in have:
                    have[node] |= {f"{row[0]}/{row[1]}" for row in res.payload}
        return have

    def _needs_activation(self, inst: objects.Instance,
                          bad_nodes: dict[str, str]) -> bool:
        """A disk not active on a node, or degraded on the primary."""
        mirror = Mirror(self, inst, lambda msg: None)
        for node in mirror.nodes:
            obj = self.cfg.get_node(node)
            if node in bad_nodes or obj is None or obj.offline:
                continue
            for disk in inst.disks:
                status = mirror.status(node, disk)
                if status is None:
                    return True
                if node == inst.primary_node and status.is_degraded:
                    return True
        return False
