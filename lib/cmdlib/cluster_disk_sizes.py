"""``gnt-cluster repair-disk-sizes``: correct recorded disk sizes from
the nodes.

Each instance's primary node reports the actual size of its disks
(``blockdev_getsizes``, one call per node); a recorded size that differs
is replaced by the actual one, logged, and returned as ``[instance,
disk index, new size]``.  Disks a node cannot find, and nodes that
cannot answer, are reported and left alone.
"""

from __future__ import annotations

from typing import Any

from ganeti import objects, opcodes
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, NoHooksLU


class LUClusterRepairDiskSizes(NoHooksLU):
    """Recorded disk sizes made equal to the nodes' actual ones."""

    OP = opcodes.OpClusterRepairDiskSizes
    op: opcodes.OpClusterRepairDiskSizes

    def expand_names(self) -> LockRequest:
        self.wanted = ([self.expand_instance_name(n)
                        for n in self.op.instances] if self.op.instances
                       else None)
        return LockRequest(instance=self.wanted or ALL, node=ALL,
                           node_shared=True)

    def execute(self, feedback: Feedback) -> list[list[Any]]:
        names = self.wanted or self.cfg.instance_names()
        by_node: dict[str, list[objects.Instance]] = {}
        for name in names:
            inst = self.cfg.get_instance(name)
            if inst is not None and inst.disks:
                by_node.setdefault(inst.primary_node, []).append(inst)
        changed: list[list[Any]] = []
        for node, insts in sorted(by_node.items()):
            node_obj = self.cfg.get_node(node)
            if node_obj is None or node_obj.offline:
                feedback(f"Warning: node {node} is offline, skipping the"
                         f" disks of {', '.join(i.name for i in insts)}")
                continue
            disks = [(inst.name, index, disk) for inst in insts
                     for index, disk in enumerate(inst.disks)]
            res = self.rpc.call_blockdev_getsizes(
                [node], [disk.to_dict() for _, _, disk in disks])[node]
            if res.failed or len(res.payload) != len(disks):
                feedback(f"Warning: cannot get the disk sizes of node {node}:"
                         f" {res.fail_msg or 'invalid answer'}")
                continue
            for (name, index, disk), size in zip(disks, res.payload,
                                                 strict=True):
                if size is None:
                    feedback(f"Warning: disk/{index} of instance {name} not"
                             f" found on node {node}")
                elif size != disk.size:
                    feedback(f"Instance {name}, disk/{index}: recorded size"
                             f" {disk.size} MiB, actual {size} MiB: fixed")
                    fresh = self.cfg.get_instance(name)
                    assert fresh is not None
                    fresh.disks[index].size = size
                    self.cfg.update(fresh)
                    changed.append([name, index, size])
        return changed
