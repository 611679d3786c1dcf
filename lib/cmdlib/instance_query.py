"""Instance queries: ``gnt-instance list`` and ``gnt-instance info``.

- :class:`LUInstanceQuery` (LUXI ``QueryInstances``): rows of the fields
  declared in :data:`ganeti.query.INSTANCE_FIELDS`, computed by
  :func:`ganeti.cmdlib.node_query.query_instances`.  Live fields
  (``oper_state``, ``oper_ram``, ``status``...) need the primary nodes'
  ``all_instances_info``; this module registers that source with
  :func:`ganeti.query.set_instance_live_source`, so it is asked only when
  such a field is requested, once per node, in one parallel fan-out.
- :class:`LUInstanceQueryData`: the detailed description of
  ``gnt-instance info`` (and RAPI ``/2/instances/X/info``): Ganeti's keys
  (``name``, ``config_state``, ``run_state``, ``pnode``, ``snodes``,
  ``os``, ``nics``, ``disk_template``, ``disks``, ``hypervisor``,
  ``network_port``, ``hv_instance``, ``hv_actual``, ``be_instance``,
  ``be_actual``, ``ctime``, ``mtime``, ``uuid``) plus ``os_instance``,
  ``os_actual``, ``tags`` and ``serial_no``.  With ``static`` no node is
  asked and ``run_state`` and the disks' status are None.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, errors, luxi, objects, opcodes, query, query_bulk
from ganeti.cmdlib import drbd
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import (
    ALL,
    FROM_INSTANCES,
    Feedback,
    LockRequest,
    LogicalUnit,
    NoHooksLU,
)
from ganeti.cmdlib.node_query import instance_query_input, query_instances

EC = errors.ErrorCode


def gather_live(lu: LogicalUnit, nodes: list[str], hypervisors: list[str]
                ) -> query.InstanceLive:
    """``all_instances_info`` of ``nodes``: node -> {instance -> info},
    None for a node that did not answer."""
    results = lu.rpc.call_all_instances_info(nodes, hypervisors)
    return {node: (None if res.failed else res.payload)
            for node, res in results.items()}


query.set_instance_live_source(gather_live)


def _expand(lu: LogicalUnit, names: list[str]) -> list[str] | None:
    if not names:
        return None
    return list(dict.fromkeys(lu.expand_instance_name(n) for n in names))


class LUInstanceQuery(NoHooksLU):
    """Rows of instance fields, in the order of the names given (all
    instances, nice-sorted, when none are)."""

    OP = opcodes.OpInstanceQuery
    op: opcodes.OpInstanceQuery

    def expand_names(self) -> LockRequest:
        query.INSTANCE_FIELDS.resolve(self.op.output_fields)
        self.wanted = _expand(self, list(self.op.names))
        if self.op.use_locking:
            return LockRequest(instance=self.wanted or ALL,
                               instance_shared=True, node=FROM_INSTANCES,
                               node_shared=True)
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        return query_instances(self, self.wanted,
                               list(self.op.output_fields)).old_style()


class LUInstanceQueryBulk(LUInstanceQuery):
    """:class:`LUInstanceQuery` of :data:`ganeti.query_bulk.FIELDS`
    answering the RAPI's bulk items already encoded (LUXI
    ``QueryInstancesBulk``; not registered: the master picks it)."""

    def execute(self, feedback: Feedback) -> Any:
        data, insts = instance_query_input(self, self.wanted,
                                           list(self.op.output_fields))
        return luxi.RawResult(query_bulk.CACHE.encode(
            data, insts, complete=self.wanted is None))


def _disk_info(lu: LogicalUnit, inst: objects.Instance, disk: objects.Disk,
               static: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "iv_name": disk.iv_name, "dev_type": disk.dev_type,
        "size": disk.size, "mode": disk.mode,
        "logical_id": list(disk.logical_id), "params": dict(disk.params),
        "params_actual": lu.cfg.get_cluster().fill_disk(inst.disk_template,
                                                        disk.params),
        "uuid": disk.uuid, "name": disk.name, "spindles": disk.spindles,
        "pstatus": None}
    if static:
        return info
    info["pstatus"] = _disk_status(lu, disk, inst.primary_node)
    if inst.secondary_nodes:
        info["snode"] = inst.secondary_nodes[0]
        info["sstatus"] = _disk_status(lu, disk, inst.secondary_nodes[0])
    return info


def _disk_status(lu: LogicalUnit, disk: objects.Disk,
                 node: str) -> dict[str, Any] | None:
    """``blockdev_find`` of ``disk`` on ``node`` (its physical id set)."""
    sent = drbd.disk_for_node(lu.cfg, disk, node)
    res = common.single(lu.rpc.call_blockdev_find([node], sent.to_dict()),
                        node)
    if res.failed:
        return {"error": res.fail_msg}
    payload: dict[str, Any] | None = res.payload
    return payload


def instance_data(lu: LogicalUnit, inst: objects.Instance,
                  static: bool) -> dict[str, Any]:
    """The ``gnt-instance info`` description of one instance."""
    cluster = lu.cfg.get_cluster()
    filled = common.filled_params(lu.cfg, inst, cluster)
    run_state = None
    run_uid = None
    if not static:
        node = lu.cfg.get_node(inst.primary_node)
        if node is not None and not node.offline:
            live = common.live_info(lu, inst)
            if live is not None:
                run_state = (constants.ADMINST_UP if live
                             else constants.ADMINST_DOWN)
                run_uid = live.get("uid") if live else None
    nics = [[nic.ip, nic.mac, params.get("mode"), params.get("link"), nic.name]
            for nic, params in zip(inst.nics, filled.nics, strict=True)]
    return {
        "name": inst.name,
        "config_state": (constants.ADMINST_UP if inst.admin_up
                         else constants.ADMINST_DOWN),
        "run_state": run_state,
        "run_uid": run_uid,
        "pnode": inst.primary_node,
        "snodes": list(inst.secondary_nodes),
        "os": inst.os,
        "nics": nics,
        "disk_template": inst.disk_template,
        "disks": [_disk_info(lu, inst, d, static) for d in inst.disks],
        "hypervisor": inst.hypervisor,
        "network_port": inst.network_port,
        "hv_instance": dict(inst.hvparams),
        "hv_actual": cluster.filled_hvparams(inst, skip_globals=True),
        "be_instance": dict(inst.beparams),
        "be_actual": filled.be,
        "os_instance": dict(inst.osparams),
        "os_actual": filled.os,
        "tags": list(inst.tags),
        "serial_no": inst.serial_no,
        "ctime": inst.ctime,
        "mtime": inst.mtime,
        "uuid": inst.uuid,
    }


class LUInstanceQueryData(NoHooksLU):
    """Detailed data of instances: name -> description."""

    OP = opcodes.OpInstanceQueryData
    op: opcodes.OpInstanceQueryData

    def expand_names(self) -> LockRequest:
        self.wanted = _expand(self, list(self.op.instances))
        if self.op.static:
            return LockRequest(bgl_shared=True)
        return LockRequest(instance=self.wanted or ALL, instance_shared=True,
                           node=FROM_INSTANCES, node_shared=True)

    def execute(self, feedback: Feedback) -> dict[str, Any]:
        names = self.wanted if self.wanted is not None \
            else self.cfg.instance_names()
        result = {}
        for name in names:
            inst = self.cfg.get_instance(name)
            if inst is None:
                raise errors.OpPrereqError(f"Instance '{name}' not known",
                                           EC.NOENT)
            result[inst.name] = instance_data(self, inst, self.op.static)
        return result
