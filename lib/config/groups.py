"""Node groups in the configuration: the :class:`GroupsMixin` of
:class:`~ganeti.config.writer.ConfigWriter`.

Groups are stored by UUID (``ConfigData.nodegroups``); every node names
its group's UUID in ``Node.group``.  Names are unique (exact match, as
Ganeti's).  The same rules as for nodes and instances hold: lookups
return copies, changes are checked and written at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ganeti import errors, ipolicy, objects, params
from ganeti.utils.text import nice_sort

EC = errors.ErrorCode


def check_group_params(group: objects.NodeGroup) -> None:
    """The group's own parameters: its ipolicy overrides and diskparams
    (:class:`errors.OpPrereqError` / :class:`errors.ParameterError`)."""
    group.ipolicy = ipolicy.check_policy(group.ipolicy, complete=False)
    for template, values in group.diskparams.items():
        params.check_disk_params(template, values)


class GroupsMixin:
    """Node group lookups and changes (see the module documentation)."""

    _lock: threading.RLock
    _data: objects.ConfigData

    # Provided by ConfigWriter, the only class using this mixin.
    _write: Callable[[], int]
    _need_node: Callable[[str], objects.Node]

    # --- lookups ------------------------------------------------------------

    def _group_by_name(self, name: str) -> objects.NodeGroup | None:
        for group in self._data.nodegroups.values():
            if group.name == name:
                return group
        return None

    def _resolve_group(self, target: str | None) -> objects.NodeGroup:
        groups = self._data.nodegroups
        if target is None:
            if len(groups) == 1:
                return next(iter(groups.values()))
            raise errors.OpPrereqError(
                "More than one node group exists; give the target group "
                "explicitly", EC.INVAL)
        found = groups.get(target) or self._group_by_name(target)
        if found is None:
            raise errors.OpPrereqError(f"Node group '{target}' not found",
                                       EC.NOENT)
        return found

    def lookup_nodegroup(self, target: str | None) -> str:
        """The UUID of the group named (or with UUID) ``target``; None:
        the only group (an error when there are several)."""
        with self._lock:
            return self._resolve_group(target).uuid

    def get_nodegroup(self, uuid: str) -> objects.NodeGroup | None:
        with self._lock:
            group = self._data.nodegroups.get(uuid)
            return None if group is None else group.copy()

    def nodegroup_uuids(self) -> list[str]:
        """Group UUIDs, in the nice-sorted order of their names."""
        with self._lock:
            by_name = {g.name: g.uuid for g in self._data.nodegroups.values()}
            return [by_name[n] for n in nice_sort(by_name)]

    def group_members(self, uuid: str) -> list[str]:
        """Names of the nodes of a group, nice-sorted."""
        with self._lock:
            return nice_sort(n.name for n in self._data.nodes.values()
                             if n.group == uuid)

    def node_group_of(self, node_name: str) -> objects.NodeGroup | None:
        """A copy of the group of a node (None if unknown)."""
        with self._lock:
            node = self._need_node(node_name)
            group = self._data.nodegroups.get(node.group)
            return None if group is None else group.copy()

    def group_ipolicy(self, uuid: str | None) -> ipolicy.Policy:
        """The effective instance policy of a group (the cluster's when
        the group is unknown)."""
        with self._lock:
            group = self._data.nodegroups.get(uuid or "")
            return self._data.cluster.fill_ipolicy(group)

    # --- changes ------------------------------------------------------------

    def add_nodegroup(self, group: objects.NodeGroup) -> None:
        """Add a group: its name and UUID must be unused, its parameters
        valid.  Sets its serial number and times (on ``group`` too)."""
        with self._lock:
            new = group.copy()
            if self._group_by_name(new.name) is not None:
                raise errors.OpPrereqError(
                    f"Desired group name '{new.name}' already exists as a "
                    "node group", EC.EXISTS)
            if new.uuid in self._data.nodegroups:
                raise errors.OpPrereqError(
                    f"UUID {new.uuid} of group {new.name} is already used",
                    EC.NOTUNIQUE)
            check_group_params(new)
            new.serial_no = 1
            new.ctime = new.mtime = objects.now()
            self._data.nodegroups[new.uuid] = new
            self._write()
            group.serial_no, group.ctime, group.mtime = 1, new.ctime, new.mtime

    def remove_nodegroup(self, uuid: str) -> None:
        """Remove an empty group; the last group cannot be removed."""
        with self._lock:
            group = self._resolve_group(uuid)
            members = [n.name for n in self._data.nodes.values()
                       if n.group == group.uuid]
            if members:
                raise errors.OpPrereqError(
                    f"Group '{group.name}' still has {len(members)} node(s)"
                    f" ({', '.join(nice_sort(members))}); assign them to "
                    "another group first", EC.STATE)
            if len(self._data.nodegroups) == 1:
                raise errors.OpPrereqError(
                    f"Group '{group.name}' is the last group of the cluster"
                    " and cannot be removed", EC.STATE)
            del self._data.nodegroups[group.uuid]
            self._write()

    def rename_nodegroup(self, uuid: str, new_name: str) -> None:
        with self._lock:
            group = self._resolve_group(uuid)
            other = self._group_by_name(new_name)
            if other is not None and other.uuid != group.uuid:
                raise errors.OpPrereqError(
                    f"Desired new name '{new_name}' clashes with existing "
                    "node group", EC.EXISTS)
            renamed = group.copy()
            renamed.name = new_name
            renamed.validate()
            renamed.serial_no += 1
            renamed.mtime = objects.now()
            self._data.nodegroups[group.uuid] = renamed
            self._write()

    def assign_group_nodes(self, moves: Iterable[tuple[str, str]]) -> None:
        """Move nodes to groups: ``(node name, group UUID)`` pairs, all
        in one write (the nodes' and groups' serial numbers go up)."""
        with self._lock:
            data = self._data
            changed: dict[str, objects.Node] = {}
            touched: set[str] = set()
            for node_name, uuid in moves:
                node = self._need_node(node_name)
                if uuid not in data.nodegroups:
                    raise errors.OpPrereqError(
                        f"Node group {uuid} not found", EC.NOENT)
                if node.group == uuid:
                    continue
                new = changed.get(node.name) or node.copy()
                touched.update({new.group, uuid})
                new.group = uuid
                changed[node.name] = new
            if not changed:
                return
            now = objects.now()
            for new in changed.values():
                new.serial_no += 1
                new.mtime = now
                data.nodes[new.name] = new
            for uuid in touched:
                group = data.nodegroups.get(uuid)
                if group is not None:
                    group = group.copy()
                    group.serial_no += 1
                    group.mtime = now
                    data.nodegroups[uuid] = group
            self._write()


__all__ = ["GroupsMixin", "check_group_params"]
