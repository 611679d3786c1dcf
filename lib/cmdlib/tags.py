"""Tags of the cluster, node groups, nodes and instances."""

from __future__ import annotations

import re
from typing import Any

from ganeti import constants, errors, opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU
from ganeti.objects import Cluster, Instance, Node, NodeGroup, TaggableObject


class _TagsLU(NoHooksLU):
    """Resolves the tagged object; locks it for changes."""

    op: opcodes.OpTagsGet | opcodes.OpTagsSet | opcodes.OpTagsDel
    exclusive = True

    def expand_names(self) -> LockRequest:
        kind = self.op.kind
        if kind == constants.TAG_CLUSTER:
            return LockRequest(bgl_shared=not self.exclusive)
        if self.op.name is None:
            raise errors.OpPrereqError(f"The {kind} name is required")
        if kind == constants.TAG_NODE:
            self.op.name = self.expand_node_name(self.op.name)
            return LockRequest(node=[self.op.name],
                               node_shared=not self.exclusive)
        if kind == constants.TAG_NODEGROUP:
            self.group_uuid = self.expand_group_name(self.op.name)
            return LockRequest(nodegroup=[self.group_uuid],
                               nodegroup_shared=not self.exclusive)
        self.op.name = self.expand_instance_name(self.op.name)
        return LockRequest(instance=[self.op.name],
                           instance_shared=not self.exclusive)

    def check_prereq(self) -> None:
        kind, name = self.op.kind, self.op.name
        target: Cluster | Node | Instance | NodeGroup | None
        if kind == constants.TAG_CLUSTER:
            target = self.cfg.get_cluster()
        elif name is None:  # expand_names refused it already
            target = None
        elif kind == constants.TAG_NODE:
            target = self.cfg.get_node(name)
        elif kind == constants.TAG_NODEGROUP:
            target = self.cfg.get_nodegroup(self.group_uuid)
        else:
            target = self.cfg.get_instance(name)
        if target is None:
            raise errors.OpPrereqError(f"{kind.capitalize()} {name!r} not found",
                                       errors.ErrorCode.NOENT)
        self.target = target


class LUTagsGet(_TagsLU):
    OP = opcodes.OpTagsGet
    exclusive = False

    def execute(self, feedback: Feedback) -> Any:
        return sorted(self.target.tags)


class LUTagsSet(_TagsLU):
    OP = opcodes.OpTagsSet
    op: opcodes.OpTagsSet

    def execute(self, feedback: Feedback) -> Any:
        for tag in self.op.tags:
            self.target.add_tag(tag)
        self.cfg.update(self.target)
        return None


class LUTagsDel(_TagsLU):
    OP = opcodes.OpTagsDel
    op: opcodes.OpTagsDel

    def check_prereq(self) -> None:
        super().check_prereq()
        missing = sorted(set(self.op.tags) - set(self.target.tags))
        if missing:
            raise errors.OpPrereqError(
                f"Tag(s) {', '.join(repr(t) for t in missing)} not found",
                errors.ErrorCode.NOENT)

    def execute(self, feedback: Feedback) -> Any:
        for tag in self.op.tags:
            self.target.remove_tag(tag)
        self.cfg.update(self.target)
        return None


class LUTagsSearch(NoHooksLU):
    """Every (path, tag) whose tag matches: ``/cluster``, ``/nodes/N``,
    ``/instances/I``, ``/nodegroup/G`` as Ganeti reports them."""

    OP = opcodes.OpTagsSearch
    op: opcodes.OpTagsSearch

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        rx = re.compile(self.op.pattern)
        found: list[list[str]] = []
        objects: list[tuple[str, TaggableObject | None]] = [
            ("/cluster", self.cfg.get_cluster())]
        objects += [(f"/nodes/{n}", self.cfg.get_node(n))
                    for n in self.cfg.node_names()]
        # The BGL (shared) does not keep an instance from being removed
        # between the listing and the lookup: skip what is gone.
        objects += [(f"/instances/{i}", self.cfg.get_instance(i))
                    for i in self.cfg.instance_names()]
        objects += [(f"/nodegroup/{g.name}", g) for g in
                    map(self.cfg.get_nodegroup, self.cfg.nodegroup_uuids())
                    if g is not None]
        for path, obj in objects:
            if obj is None:
                continue
            found.extend([path, tag] for tag in obj.tags if rx.search(tag))
        return found
