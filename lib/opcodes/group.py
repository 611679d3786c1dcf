"""Node group opcodes (Ganeti 2.4+): add, remove, rename, modify, assign
nodes, evacuate, query."""

from __future__ import annotations

from typing import Any

from ganeti import constants, ht
from ganeti.opcodes.base import (
    OpCode,
    TDiskParamsByTemplate,
    TFieldList,
    TGroupName,
    TIallocatorName,
    TNameList,
    TNonEmptyList,
    TParamDict,
)
from ganeti.records import field

TAllocPolicy = ht.TElemOf(constants.VALID_ALLOC_POLICIES)


def _params_field(check: ht.Check, doc: str) -> Any:
    """An optional parameter dictionary of add and modify."""
    return field(default=None, check=check, doc=doc)


_ND_DOC = "Node parameter overrides (\"default\": back to the cluster's)"
_DISK_DOC = "Per-disk-template parameter overrides"
_IPOLICY_DOC = ("Instance policy overrides of the cluster's (\"default\" "
                "as a value: back to the cluster's)")


class OpGroupAdd(OpCode):
    """Add a node group (``gnt-group add``, RAPI ``POST /2/groups``)."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Name of the new group")
    alloc_policy: str | None = field(
        default=None, check=TAllocPolicy,
        doc="preferred (default), last_resort or unallocable")
    ndparams: dict[str, Any] | None = _params_field(TParamDict, _ND_DOC)
    diskparams: dict[str, dict[str, Any]] | None = _params_field(
        TDiskParamsByTemplate, _DISK_DOC)
    ipolicy: dict[str, Any] | None = _params_field(TParamDict, _IPOLICY_DOC)


class OpGroupRemove(OpCode):
    """Remove an empty node group."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Group to remove")


class OpGroupRename(OpCode):
    """Rename a node group."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Group to rename")
    new_name: str = field(check=TGroupName, doc="New name")


class OpGroupSetParams(OpCode):
    """Change a node group's parameters (``gnt-group modify``).  None
    leaves a field unchanged; in ``ipolicy`` and ``ndparams`` a value of
    ``"default"`` removes the group's override."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Group to change")
    alloc_policy: str | None = field(default=None, check=TAllocPolicy,
                                     doc="New allocation policy")
    ndparams: dict[str, Any] | None = _params_field(TParamDict, _ND_DOC)
    diskparams: dict[str, dict[str, Any]] | None = _params_field(
        TDiskParamsByTemplate, _DISK_DOC)
    ipolicy: dict[str, Any] | None = _params_field(TParamDict, _IPOLICY_DOC)

    def check_consistency(self) -> None:
        if all(getattr(self, name) is None for name in
               ("alloc_policy", "ndparams", "diskparams", "ipolicy")):
            self.reject("group_name", "no modification requested (set "
                        "alloc_policy, ndparams, diskparams or ipolicy)")


class OpGroupAssignNodes(OpCode):
    """Move nodes into a group (``gnt-group assign-nodes``)."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Target group")
    nodes: list[str] = field(check=ht.TAnd(TNameList, TNonEmptyList),
                             doc="Nodes to move")
    force: bool = field(default=False, check=ht.TBool,
                        doc="Move even if mirrored instances end up split "
                            "between groups")


class OpGroupEvacuate(OpCode):
    """Move all instances off a group's nodes (``gnt-group evacuate``)."""

    SUMMARY_FIELD = "group_name"

    group_name: str = field(check=TGroupName, doc="Group to evacuate")
    early_release: bool = field(default=False, check=ht.TBool,
                                doc="Release locks early")
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc="Iallocator choosing the new nodes")
    target_groups: list[str] | None = field(
        default=None, check=ht.TListOf(TGroupName),
        doc="Groups the instances may move to (default: all others)")


class OpGroupQuery(OpCode):
    """Rows of node group fields (``gnt-group list``, LUXI
    ``QueryGroups``)."""

    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")
    names: list[str] = field(default=[], check=ht.TListOf(TGroupName),
                             doc="Groups to list (empty: all)")
    use_locking: bool = field(default=False, check=ht.TBool,
                              doc="Take the group locks")
