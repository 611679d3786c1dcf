"""Node opcodes: membership, roles, storage units, evacuation."""

from __future__ import annotations

from typing import Any

from ganeti import constants, ht
from ganeti.opcodes.base import (
    OpCode,
    TFieldList,
    TIallocatorName,
    TMigrationMode,
    TName,
    TNameList,
    TNonEmptyList,
    TParamDict,
    TStorageType,
)
from ganeti.records import field


class OpNodeAdd(OpCode):
    """Add a node to the cluster, or re-add one (``gnt-node add``)."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to add; expanded to its FQDN")
    primary_ip: str | None = field(
        default=None, check=ht.TIPAddress,
        doc="Primary IP; filled in from the name during the operation")
    secondary_ip: str | None = field(
        default=None, check=ht.TIPAddress,
        doc="Replication IP; required on dual-network clusters only")
    readd: bool = field(default=False, check=ht.TBool,
                        doc="Re-add a node that is already in the cluster")
    group: str | None = field(
        default=None, check=ht.TNonEmptyString,
        doc="Node group of the new node (name or UUID); default: the only "
            "group")
    ndparams: dict[str, Any] | None = field(
        default=None, check=TParamDict,
        doc="Node parameters of the node (over the cluster's)")


class OpNodeRemove(OpCode):
    """Remove a node that has no instances left."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to remove")


class OpNodeQuery(OpCode):
    """List nodes with the requested fields (``gnt-node list``)."""

    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")
    names: list[str] = field(default=[], check=TNameList,
                             doc="Nodes to list (empty: all)")
    use_locking: bool = field(default=False, check=ht.TBool,
                              doc="Take locks for consistent live data")


class OpNodeQueryvols(OpCode):
    """List the logical volumes on nodes (``gnt-node volumes``)."""

    nodes: list[str] = field(default=[], check=TNameList,
                             doc="Nodes to query (empty: all)")
    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")


class OpNodeQueryStorage(OpCode):
    """List storage units of nodes (``gnt-node list-storage``)."""

    nodes: list[str] = field(default=[], check=TNameList,
                             doc="Nodes to query (empty: all)")
    storage_type: str = field(check=TStorageType, doc="Kind of storage unit")
    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")
    name: str | None = field(default=None, check=ht.TNonEmptyString,
                             doc="Only this storage unit")


class OpNodeModifyStorage(OpCode):
    """Change a storage unit (``gnt-node modify-storage``)."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node holding the storage unit")
    storage_type: str = field(check=TStorageType, doc="Kind of storage unit")
    name: str = field(check=ht.TNonEmptyString, doc="Storage unit to change")
    changes: dict[str, Any] = field(
        check=TParamDict,
        doc="Properties to set, e.g. {\"allocatable\": false} for a PV")


class OpRepairNodeStorage(OpCode):
    """Repair a storage unit, e.g. a volume group (``repair-storage``)."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node holding the storage unit")
    storage_type: str = field(check=TStorageType, doc="Kind of storage unit")
    name: str = field(check=ht.TNonEmptyString, doc="Storage unit to repair")
    ignore_consistency: bool = field(
        default=False, check=ht.TBool,
        doc="Repair even if instance disks on the node are degraded")


class OpNodeSetParams(OpCode):
    """Change a node's role or secondary IP (``gnt-node modify``, RAPI
    ``role``).

    The flags are tri-state: None leaves the flag unchanged.
    """

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to change")
    force: bool = field(default=False, check=ht.TBool,
                        doc="Change the role even if that is unsafe")
    master_candidate: bool | None = field(
        default=None, check=ht.TBool, doc="Make or unmake a master candidate")
    offline: bool | None = field(default=None, check=ht.TBool,
                                 doc="Mark the node offline or online")
    drained: bool | None = field(
        default=None, check=ht.TBool,
        doc="Mark the node drained (no new instances) or not")
    auto_promote: bool = field(
        default=False, check=ht.TBool,
        doc="Promote other nodes if the candidate pool gets too small")
    secondary_ip: str | None = field(
        default=None, check=ht.TIPAddress,
        doc="New secondary (replication) IP of the node")
    ndparams: dict[str, Any] | None = field(
        default=None, check=TParamDict,
        doc="Changes to the node's parameters ('default' removes one)")

    def check_consistency(self) -> None:
        flags = [self.master_candidate, self.offline, self.drained]
        if (all(f is None for f in flags) and self.secondary_ip is None
                and not self.ndparams):
            self.reject("node_name", "no modification requested (set "
                       "master_candidate, offline, drained, secondary_ip or"
                       " ndparams)")
        if sum(1 for f in flags if f) > 1:
            self.reject("master_candidate", "only one of master_candidate, "
                       "offline and drained can be set to true")


class OpNodePowercycle(OpCode):
    """Hard-reboot a node through its node daemon."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to power-cycle")
    force: bool = field(default=False, check=ht.TBool,
                        doc="Allowed on the master node only with force")


class OpNodeEvacuate(OpCode):
    """Move instances away from a node (``gnt-node evacuate``): secondary
    instances get a new secondary; primary (DRBD) instances move to their
    secondary first (``mode``)."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to evacuate")
    remote_node: str | None = field(default=None, check=TName,
                                    doc="New secondary node for all instances")
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc="Iallocator choosing new secondaries")
    mode: str = field(default=constants.NODE_EVAC_SEC,
                      check=ht.TElemOf(constants.NODE_EVAC_MODES),
                      doc="Instances to move: secondary-only (as Ganeti"
                          " 2.1), primary-only or all")

    def check_consistency(self) -> None:
        if self.remote_node is not None and self.iallocator is not None:
            self.reject("iallocator", "give either iallocator or remote_node, "
                       "not both")


class OpNodeMigrate(OpCode):
    """Migrate all primary instances away from a node."""

    SUMMARY_FIELD = "node_name"

    node_name: str = field(check=TName, doc="Node to migrate from")
    live: bool | None = field(
        default=None, check=ht.TBool,
        doc="Live migration (False: non-live); None: the hypervisor default")
    mode: str | None = field(default=None, check=TMigrationMode,
                             doc="Migration mode; replaces live")

    def check_consistency(self) -> None:
        if self.live is not None and self.mode is not None:
            self.reject("mode", "give either live or mode, not both")


class OpNodeEvacStrategy(OpCode):
    """Compute where the secondaries of nodes would go on evacuation."""

    SUMMARY_FIELD = "nodes"

    nodes: list[str] = field(check=ht.TAnd(TNameList, TNonEmptyList),
                             doc="Nodes to evacuate")
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc="Iallocator choosing new secondaries")
    remote_node: str | None = field(default=None, check=TName,
                                    doc="New secondary node for all instances")

    def check_consistency(self) -> None:
        if self.remote_node is not None and self.iallocator is not None:
            self.reject("iallocator", "give either iallocator or remote_node, "
                       "not both")
