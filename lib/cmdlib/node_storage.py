"""Storage units: ``gnt-node volumes``, ``list-storage``,
``modify-storage`` and ``repair-storage`` (and their RAPI resources).

The nodes report their units (``storage_list``, ``node_volumes``); the
master adds the node, the type and, for volumes, the instance owning
each one (from the disks in the configuration).
"""

from __future__ import annotations

import abc
from typing import Any, Final

from ganeti import constants, errors, opcodes
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, NoHooksLU
from ganeti.rpc.calls.storage import SO_FIX_CONSISTENCY, STORAGE_FIELDS
from ganeti.rpc.result import RpcResult

EC = errors.ErrorCode

#: Fields of ``gnt-node volumes`` rows (Ganeti's, in its order); a
#: volume on several physical volumes has one row per physical volume.
VOLUMES_FIELDS: Final = ("node", "phys", "vg", "name", "size", "instance")
#: Fields of ``gnt-node list-storage`` rows.
LIST_STORAGE_FIELDS: Final = ("node", "type", *STORAGE_FIELDS)


def _check_fields(fields: list[str], known: tuple[str, ...]) -> None:
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise errors.OpPrereqError(
            f"Unknown output fields selected: {', '.join(unknown)} (known:"
            f" {', '.join(known)})", EC.INVAL)


class _StorageQueryLU(NoHooksLU, abc.ABC):
    """Shared: the fields checked, which nodes (offline ones skipped, all
    when none are given) and their answers."""

    FIELDS: tuple[str, ...] = ()
    op: opcodes.OpNodeQueryvols | opcodes.OpNodeQueryStorage

    def expand_names(self) -> LockRequest:
        _check_fields(list(self.op.output_fields), self.FIELDS)
        names = list(self.op.nodes)
        wanted = ([self.expand_node_name(n) for n in names] if names
                  else self.cfg.node_names())
        self.wanted = [n for n in wanted
                       if (node := self.cfg.get_node(n)) is not None
                       and not node.offline]
        return LockRequest(node=self.wanted or ALL, node_shared=True)

    @abc.abstractmethod
    def units(self) -> list[dict[str, Any]]:
        """Every unit as field -> value (each storage type's LU says how)."""

    def execute(self, feedback: Feedback) -> Any:
        return [[values[f] for f in self.op.output_fields]
                for values in self.units()]

    def _answers(self, results: dict[str, Any]) -> dict[str, list[Any]]:
        answers = {}
        for node, res in sorted(results.items()):
            if res.failed:
                raise errors.OpExecError(
                    f"Cannot get the storage of node {node}: {res.fail_msg}")
            answers[node] = res.payload
        return answers


class LUNodeQueryvols(_StorageQueryLU):
    """The logical volumes of the nodes, with their owning instance."""

    OP = opcodes.OpNodeQueryvols
    op: opcodes.OpNodeQueryvols
    FIELDS = VOLUMES_FIELDS

    def units(self) -> list[dict[str, Any]]:
        vg = self.cfg.get_cluster().volume_group_name
        if not vg:
            raise errors.OpPrereqError(
                "LVM is not enabled on this cluster (no volume group)",
                EC.STATE)
        owners: dict[tuple[str, str, str], str] = {}
        for name in self.cfg.instance_names():
            inst = self.cfg.get_instance(name)
            assert inst is not None
            for disk in inst.disks:
                if disk.dev_type == constants.LD_LV:
                    vg_name, lv_name = map(str, disk.logical_id)
                    owners[(inst.primary_node, vg_name, lv_name)] = name
        answers = self._answers(self.rpc.call_node_volumes(self.wanted, vg))
        return [{"node": node, "phys": phys, "vg": vg_name, "name": lv_name,
                 "size": size,
                 "instance": owners.get((node, vg_name, lv_name), "-")}
                for node, volumes in answers.items()
                for vg_name, lv_name, size, pvs, *_ in volumes
                for phys in (pvs or ["-"])]


class LUNodeQueryStorage(_StorageQueryLU):
    """Storage units of one type on the nodes."""

    OP = opcodes.OpNodeQueryStorage
    op: opcodes.OpNodeQueryStorage
    FIELDS = LIST_STORAGE_FIELDS

    def units(self) -> list[dict[str, Any]]:
        cluster = self.cfg.get_cluster()
        answers = self._answers(self.rpc.call_storage_list(
            self.wanted, self.op.storage_type, self.op.name,
            cluster.file_storage_dir or ""))
        return [{**dict(zip(STORAGE_FIELDS, unit, strict=True)), "node": node,
                 "type": self.op.storage_type}
                for node, units in answers.items() for unit in units]


class _StorageChangeLU(NoHooksLU, abc.ABC):
    """Shared: one unit of the one type that can take the change."""

    #: The storage type, and the verb of the change in two forms.
    TYPE: str = ""
    VERB: tuple[str, str] = ("", "")
    op: opcodes.OpNodeModifyStorage | opcodes.OpRepairNodeStorage

    def expand_names(self) -> LockRequest:
        self.op.node_name = self.expand_node_name(self.op.node_name)
        if self.op.storage_type != self.TYPE:
            raise errors.OpPrereqError(
                f"Storage units of type {self.op.storage_type} cannot be"
                f" {self.VERB[1]} (only {self.TYPE})", EC.INVAL)
        self.check_changes()
        return LockRequest(node=[self.op.node_name])

    def check_changes(self) -> None:
        """Refuse what the unit cannot take (nothing by default)."""

    @abc.abstractmethod
    def call(self, node: str) -> RpcResult:
        """The RPC that changes the unit on ``node`` (per subclass)."""

    def execute(self, feedback: Feedback) -> None:
        res = self.call(self.op.node_name)
        if res.failed:
            raise errors.OpExecError(
                f"Cannot {self.VERB[0]} {self.op.storage_type} {self.op.name} on"
                f" node {self.op.node_name}: {res.fail_msg}")


class LUNodeModifyStorage(_StorageChangeLU):
    """Change a storage unit: an lvm-pv's allocatable flag."""

    OP = opcodes.OpNodeModifyStorage
    op: opcodes.OpNodeModifyStorage
    TYPE, VERB = constants.ST_LVM_PV, ("modify", "modified")

    def check_changes(self) -> None:
        changes = dict(self.op.changes)
        if set(changes) != {"allocatable"} or \
                not isinstance(changes["allocatable"], bool):
            raise errors.OpPrereqError(
                "The only change of an lvm-pv is allocatable (a boolean),"
                f" got {changes!r:.80}", EC.INVAL)

    def call(self, node: str) -> RpcResult:
        return self.rpc.call_storage_modify(
            [node], self.op.storage_type, self.op.name,
            dict(self.op.changes))[node]


class LURepairNodeStorage(_StorageChangeLU):
    """Repair a volume group (``vgreduce --removemissing``)."""

    OP = opcodes.OpRepairNodeStorage
    op: opcodes.OpRepairNodeStorage
    TYPE, VERB = constants.ST_LVM_VG, ("repair", "repaired")

    def call(self, node: str) -> RpcResult:
        return self.rpc.call_storage_execute(
            [node], self.op.storage_type, self.op.name,
            SO_FIX_CONSISTENCY)[node]
