"""Node groups: ``gnt-group add/remove/rename/modify/assign-nodes/
evacuate/list`` (Ganeti 2.4+; see ``doc/design/groups.rst``).

Groups are locked at their own level (``LEVEL_NODEGROUP``, by UUID);
moving nodes also locks the nodes.  The hooks are Ganeti's
(``group-add``, ``group-remove``, ``group-rename``, ``group-modify``;
object type ``GROUP``, ``GANETI_GROUP_NAME`` in the environment).
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, errors, ipolicy, objects, opcodes, params, query
from ganeti.cmdlib.base import (
    ALL,
    Feedback,
    LockRequest,
    LogicalUnit,
    NoHooksLU,
)
from ganeti.cmdlib.node_query import query_groups
from ganeti.locking import manager as lockmgr
from ganeti.utils.text import nice_sort

EC = errors.ErrorCode


def _group_locks_changed(lu: LogicalUnit, added: list[str],
                         removed: list[str]) -> None:
    glm = lu.ctx.glm
    if glm is None:
        return
    if added:
        glm.add(lockmgr.LEVEL_NODEGROUP, added)
    if removed:
        glm.remove(lockmgr.LEVEL_NODEGROUP, removed)


def checked_ipolicy(cluster: objects.Cluster, own: dict[str, Any]
                    ) -> dict[str, Any]:
    """A group's own policy, checked alone and filled with the
    cluster's (min above max, std outside min/max... are refused)."""
    own = ipolicy.check_policy(own, complete=False)
    ipolicy.check_policy(ipolicy.fill(cluster.ipolicy, own), complete=True)
    return own


def _checked_diskparams(values: dict[str, dict[str, Any]]
                        ) -> dict[str, dict[str, Any]]:
    return {template: params.check_disk_params(template, given)
            for template, given in values.items()}


class _GroupHooksLU(LogicalUnit):
    """Hooks of a group operation: on the master, before and after."""

    HTYPE = constants.HTYPE_GROUP
    group_name: str

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        master = [self.cfg.get_master_node()]
        return ({"OP_TARGET": self.group_name,
                 "GROUP_NAME": self.group_name}, master, master)


class _OneGroupLU(_GroupHooksLU):
    """An operation on one existing group, holding its lock."""

    op: opcodes.OpGroupRemove | opcodes.OpGroupRename | \
        opcodes.OpGroupSetParams

    def expand_names(self) -> LockRequest:
        self.uuid = self.expand_group_name(self.op.group_name)
        self.group_name = self.op.group_name
        return LockRequest(nodegroup=[self.uuid])


class LUGroupAdd(_GroupHooksLU):
    OP = opcodes.OpGroupAdd
    op: opcodes.OpGroupAdd
    HPATH = "group-add"

    def expand_names(self) -> LockRequest:
        self.group_name = self.op.group_name
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        op = self.op
        try:
            existing = self.cfg.lookup_nodegroup(op.group_name)
        except errors.OpPrereqError:
            existing = None
        if existing is not None:
            raise errors.OpPrereqError(
                f"Desired group name '{op.group_name}' already exists as a "
                f"node group (UUID: {existing})", EC.EXISTS)
        cluster = self.cfg.get_cluster()
        self.new = objects.NodeGroup(
            name=op.group_name,
            alloc_policy=op.alloc_policy or constants.ALLOC_POLICY_PREFERRED,
            ndparams=params.check_nd_params(op.ndparams or {}, level="group"),
            diskparams=_checked_diskparams(op.diskparams or {}),
            ipolicy=checked_ipolicy(cluster, ipolicy.merge(
                {}, op.ipolicy or {}, group=True, base=cluster.ipolicy)))

    def execute(self, feedback: Feedback) -> Any:
        self.cfg.add_nodegroup(self.new)
        _group_locks_changed(self, [self.new.uuid], [])
        return self.new.uuid


class LUGroupRemove(_OneGroupLU):
    """Remove a group without nodes (never the last one)."""

    OP = opcodes.OpGroupRemove
    op: opcodes.OpGroupRemove
    HPATH = "group-remove"

    def check_prereq(self) -> None:
        members = self.cfg.group_members(self.uuid)
        if members:
            raise errors.OpPrereqError(
                f"Group '{self.group_name}' not empty, has the following "
                f"node(s): {', '.join(members)}", EC.STATE)
        if len(self.cfg.nodegroup_uuids()) == 1:
            raise errors.OpPrereqError(
                f"Group '{self.group_name}' is the only group, cannot be "
                "removed", EC.STATE)

    def execute(self, feedback: Feedback) -> Any:
        self.cfg.remove_nodegroup(self.uuid)
        _group_locks_changed(self, [], [self.uuid])


class LUGroupRename(_OneGroupLU):
    OP = opcodes.OpGroupRename
    op: opcodes.OpGroupRename
    HPATH = "group-rename"

    def check_prereq(self) -> None:
        try:
            other = self.cfg.lookup_nodegroup(self.op.new_name)
        except errors.OpPrereqError:
            other = None
        if other is not None:
            raise errors.OpPrereqError(
                f"Desired new name '{self.op.new_name}' clashes with "
                f"existing node group (UUID: {other})", EC.EXISTS)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env, pre, post = super().build_hooks_env()
        env.update({"OLD_NAME": self.group_name, "NEW_NAME": self.op.new_name})
        return env, pre, post

    def execute(self, feedback: Feedback) -> Any:
        self.cfg.rename_nodegroup(self.uuid, self.op.new_name)
        return self.op.new_name


class LUGroupSetParams(_OneGroupLU):
    OP = opcodes.OpGroupSetParams
    op: opcodes.OpGroupSetParams
    HPATH = "group-modify"

    def check_prereq(self) -> None:
        op = self.op
        group = self.cfg.get_nodegroup(self.uuid)
        if group is None:
            raise errors.OpPrereqError(f"Node group '{op.group_name}' not "
                                       "found", EC.NOENT)
        if op.alloc_policy is not None:
            group.alloc_policy = op.alloc_policy
        if op.ndparams is not None:  # "default" goes back to the cluster's
            group.ndparams = params.update_nd_params(
                group.ndparams, op.ndparams, level="group")
        if op.diskparams is not None:
            merged = {t: {**group.diskparams.get(t, {}), **values}
                      for t, values in op.diskparams.items()}
            group.diskparams = {**group.diskparams,
                                **_checked_diskparams(merged)}
        if op.ipolicy is not None:
            cluster = self.cfg.get_cluster()
            group.ipolicy = checked_ipolicy(
                cluster, ipolicy.merge(group.ipolicy, op.ipolicy, group=True,
                                       base=cluster.ipolicy))
        self.group = group

    def execute(self, feedback: Feedback) -> Any:
        self.cfg.update(self.group)
        changes: list[list[str]] = []
        for name in ("alloc_policy", "ndparams", "diskparams", "ipolicy"):
            value = getattr(self.op, name)
            if value is not None:
                changes.append([name, str(getattr(self.group, name))])
        return changes


class LUGroupAssignNodes(NoHooksLU):
    """Move nodes into a group.  A mirrored instance whose nodes would
    end up in different groups is refused unless ``force``."""

    OP = opcodes.OpGroupAssignNodes
    op: opcodes.OpGroupAssignNodes

    def expand_names(self) -> LockRequest:
        self.uuid = self.expand_group_name(self.op.group_name)
        self.nodes = [self.expand_node_name(n) for n in self.op.nodes]
        # The nodes' current groups change too: lock them all.
        return LockRequest(nodegroup=ALL, node=list(self.nodes))

    def check_prereq(self) -> None:
        moving = set(self.nodes)
        group_of = {n: (node.group if n not in moving else self.uuid)
                    for n in self.cfg.node_names()
                    if (node := self.cfg.get_node(n)) is not None}
        split = []
        for name in self.cfg.instance_names():
            inst = self.cfg.get_instance(name)
            if inst is None or not inst.secondary_nodes or \
                    not moving & set(inst.all_nodes):
                continue
            if len({group_of.get(n) for n in inst.all_nodes}) > 1:
                split.append(inst.name)
        if split:
            msg = (f"Moving the node(s) would split instance(s) "
                   f"{', '.join(nice_sort(split))} between node groups")
            if not self.op.force:
                raise errors.OpPrereqError(
                    msg + "; use --force to move them anyway", EC.STATE)
            self.feedback(f"Warning: {msg}")

    def execute(self, feedback: Feedback) -> Any:
        self.cfg.assign_group_nodes((n, self.uuid) for n in self.nodes)


class LUGroupQuery(NoHooksLU):
    """Rows of group fields, in the order of the names given (all groups,
    by name, when none are)."""

    OP = opcodes.OpGroupQuery
    op: opcodes.OpGroupQuery

    def expand_names(self) -> LockRequest:
        query.GROUP_FIELDS.resolve(self.op.output_fields)
        self.wanted = ([self.expand_group_name(n) for n in self.op.names]
                       if self.op.names else None)
        if self.op.use_locking:
            return LockRequest(nodegroup=self.wanted or ALL,
                               nodegroup_shared=True)
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        return query_groups(self, self.wanted,
                            list(self.op.output_fields)).old_style()
