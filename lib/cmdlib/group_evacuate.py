"""``gnt-group evacuate``: move every instance with a node in a group to
nodes of other groups, where an instance allocator says (a
``change-group`` request, asked before anything moves; ``-I``, or the
cluster's default iallocator).

Each instance then moves the way Ganeti's jobs move it, one instance
after the other inside this LU (which holds the instances' locks and
every node's):

- a DRBD instance to ``[P', S']``: its secondary becomes ``P'``
  (replace-disks), it migrates there (fails over when stopped), then its
  secondary becomes ``S'``;
- an instance of another template to ``[P']``: ``gnt-instance move``
  (its disks are copied, it is stopped and started again).

A failure stops the evacuation; the instances moved so far stay moved.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, errors, objects, opcodes
from ganeti.cmdlib import iallocator
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, NoHooksLU
from ganeti.cmdlib.node_evacuate import run_instance_op
from ganeti.iallocator import BUILTIN
from ganeti.utils.text import nice_sort

EC = errors.ErrorCode


class LUGroupEvacuate(NoHooksLU):
    """Move a group's instances away (see the module)."""

    OP = opcodes.OpGroupEvacuate
    op: opcodes.OpGroupEvacuate

    def _instances(self) -> list[str]:
        members = set(self.cfg.group_members(self.uuid))
        return nice_sort(i for i in self.cfg.instance_names()
                         if (inst := self.cfg.get_instance(i)) is not None
                         and members & set(inst.all_nodes))

    def expand_names(self) -> LockRequest:
        self.uuid = self.expand_group_name(self.op.group_name)
        self.targets = []
        for target in self.op.target_groups or []:
            uuid = self.expand_group_name(target)
            if uuid == self.uuid:
                raise errors.OpPrereqError(
                    f"Group '{self.op.group_name}' cannot be a target of its"
                    " own evacuation", EC.INVAL)
            self.targets.append(uuid)
        self.locked = self._instances()
        return LockRequest(instance=list(self.locked), node=ALL,
                           nodegroup=ALL, nodegroup_shared=True)

    def check_prereq(self) -> None:
        if self._instances() != self.locked:
            raise errors.OpPrereqError(
                f"The instances of group '{self.op.group_name}' changed"
                " while the job waited for its locks; run it again",
                EC.STATE)
        self.moves: list[Any] = []
        if not self.locked:
            return
        allocator = iallocator.default_allocator(self, self.op.iallocator)
        if allocator is None:
            raise errors.OpPrereqError(
                f"Evacuating group '{self.op.group_name}' needs an iallocator"
                f" to place {len(self.locked)} instance(s) (-I {BUILTIN}, -I"
                " hail, or gnt-cluster modify --default-iallocator)",
                EC.INVAL)
        targets = self.targets or [u for u in self.cfg.nodegroup_uuids()
                                   if u != self.uuid]
        if not targets:
            raise errors.OpPrereqError(
                f"Group '{self.op.group_name}' is the only group: there is"
                " nowhere to move its instances", EC.STATE)
        self.moves = iallocator.change_group(self, allocator, self.locked,
                                             targets)
        members = set(self.cfg.group_members(self.uuid))
        for move in self.moves:
            if members & set(move.nodes):
                raise errors.OpPrereqError(
                    f"Iallocator '{allocator}' kept instance {move.instance}"
                    f" in group '{self.op.group_name}'", EC.NORES)

    def _inst(self, name: str) -> objects.Instance:
        inst = self.cfg.get_instance(name)
        assert inst is not None
        return inst

    def _move_drbd(self, name: str, nodes: list[str],
                   feedback: Feedback) -> None:
        first, second = nodes
        run_instance_op(self, opcodes.OpInstanceReplaceDisks(
            instance_name=name, mode=constants.REPLACE_DISK_CHG,
            remote_node=first), feedback)
        if self._inst(name).admin_up:
            run_instance_op(self, opcodes.OpInstanceMigrate(
                instance_name=name), feedback)
        else:
            run_instance_op(self, opcodes.OpInstanceFailover(
                instance_name=name), feedback)
        run_instance_op(self, opcodes.OpInstanceReplaceDisks(
            instance_name=name, mode=constants.REPLACE_DISK_CHG,
            remote_node=second), feedback)

    def execute(self, feedback: Feedback) -> list[list[Any]]:
        """``[[instance, group name, [nodes]], ...]`` of the moves made."""
        if not self.moves:
            feedback(f"Group '{self.op.group_name}' has no instances to move")
            return []
        done: list[list[Any]] = []
        for move in self.moves:
            group = self.cfg.get_nodegroup(move.group)
            group_name = group.name if group is not None else move.group
            feedback(f"* moving instance {move.instance} to group"
                     f" '{group_name}' (node(s) {', '.join(move.nodes)})")
            if self._inst(move.instance).disk_template in \
                    constants.DTS_NET_MIRROR:
                self._move_drbd(move.instance, move.nodes, feedback)
            else:
                run_instance_op(self, opcodes.OpInstanceMove(
                    instance_name=move.instance, target_node=move.nodes[0]),
                    feedback)
            done.append([move.instance, group_name, move.nodes])
        return done
