"""Node queries and node roles: ``gnt-node list``/``modify``, generic query.

- :class:`LUNodeQuery`: rows of node fields (LUXI ``QueryNodes``).
- :class:`LUNodeSetParams`: master candidate / drained / offline flags
  with Ganeti's rules (see the class).
- :class:`LUQuery` / :class:`LUQueryFields`: the query2 resources behind
  ``/2/query/<what>`` for nodes and instances.

Fields are declared in :mod:`ganeti.query`; live data is asked from the
nodes (``node_info`` RPC) only when a requested or filtered field needs
it, and never from nodes marked offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ganeti import (
    constants,
    errors,
    objects,
    opcodes,
    params,
    qlang,
    query,
    replication,
)
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, LogicalUnit, NoHooksLU
from ganeti.cmdlib.node_membership import (
    candidate_stats,
    distribute_to,
    drop_candidate_files,
    maintain_candidate_pool,
)

EC = errors.ErrorCode


# --- Live data ------------------------------------------------------------------

def gather_node_live(lu: LogicalUnit, nodes: Iterable[objects.Node]
                     ) -> dict[str, Mapping[str, Any] | None]:
    """``node_info`` of the online nodes among ``nodes``: name -> payload
    (None for a node whose call failed)."""
    online = [n.name for n in nodes if not n.offline]
    if not online:
        return {}
    cluster = lu.cfg.get_cluster()
    hypervisors = list(cluster.enabled_hypervisors[:1])
    results = lu.rpc.call_node_info(online, cluster.volume_group_name or None,
                                    hypervisors, cluster.file_storage_dir)
    return {name: (None if res.failed else res.payload)
            for name, res in results.items()}


def gather_instance_live(lu: LogicalUnit, instances: Iterable[objects.Instance]
                         ) -> query.InstanceLive | None:
    """Live data of the primary nodes of ``instances`` from the registered
    source (:func:`ganeti.query.set_instance_live_source`); None when no
    source is registered."""
    source = query.instance_live_source()
    if source is None:
        return None
    insts = list(instances)
    nodes = sorted({i.primary_node for i in insts})
    online = [n for n in nodes if (node := lu.cfg.get_node(n)) is not None
              and not node.offline]
    hypervisors = sorted({i.hypervisor for i in insts})
    return source(lu, online, hypervisors) if online else {}


def _expand_nodes(lu: LogicalUnit, names: list[str]) -> list[str]:
    return [lu.expand_node_name(n) for n in names]


def query_nodes(lu: LogicalUnit, names: list[str] | None, fields: list[str],
                filt: qlang.Filter | None = None) -> query.QueryResult:
    """Node fields for ``names`` (None: all nodes, nice-sorted)."""
    wanted = names if names is not None else lu.cfg.node_names()
    nodes = lu.cfg.view_nodes(wanted)  # read-only: no copy per node
    live = (gather_node_live(lu, nodes)
            if query.needs_live(query.NODE_FIELDS, fields, filt) else None)
    data = query.node_query_data(lu.cfg, live)
    return query.run_query(query.NODE_FIELDS, data, nodes, fields, filt)


def query_groups(lu: LogicalUnit, uuids: list[str] | None, fields: list[str],
                 filt: qlang.Filter | None = None) -> query.QueryResult:
    """Group fields for ``uuids`` (None: all groups, by name)."""
    wanted = uuids if uuids is not None else lu.cfg.nodegroup_uuids()
    groups = [g for g in map(lu.cfg.get_nodegroup, wanted) if g is not None]
    return query.run_query(query.GROUP_FIELDS, query.group_query_data(lu.cfg),
                           groups, fields, filt)


def query_instances(lu: LogicalUnit, names: list[str] | None,
                    fields: list[str], filt: qlang.Filter | None = None
                    ) -> query.QueryResult:
    """Instance fields for ``names`` (None: all instances, nice-sorted);
    the instance code's ``LUInstanceQuery`` can return
    ``query_instances(...).old_style()``."""
    data, insts = instance_query_input(lu, names, fields, filt)
    return query.run_query(query.INSTANCE_FIELDS, data, insts, fields, filt)


def instance_query_input(lu: LogicalUnit, names: list[str] | None,
                         fields: list[str], filt: qlang.Filter | None = None
                         ) -> tuple[query.InstanceQueryData,
                                    list[objects.Instance]]:
    """What the instance fields of ``names`` are computed from: the query
    data (live data gathered when a field needs it) and the stored
    instances (read-only: no copy each)."""
    wanted = names if names is not None else lu.cfg.instance_names()
    insts = lu.cfg.view_instances(wanted)
    live = (gather_instance_live(lu, insts)
            if query.instance_needs_live(fields, filt) else None)
    return query.instance_query_data(lu.cfg, live), insts


# --- gnt-node list ------------------------------------------------------------------

class LUNodeQuery(NoHooksLU):
    """Rows of node fields, in the order of the names given (all nodes,
    nice-sorted, when none are).  Unknown fields are refused before any
    lock is taken."""

    OP = opcodes.OpNodeQuery
    op: opcodes.OpNodeQuery

    def expand_names(self) -> LockRequest:
        query.NODE_FIELDS.resolve(self.op.output_fields)
        self.wanted = (_expand_nodes(self, self.op.names) if self.op.names
                       else None)
        if self.op.use_locking:
            return LockRequest(node=self.wanted if self.wanted else ALL,
                               node_shared=True)
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        return query_nodes(self, self.wanted,
                           list(self.op.output_fields)).old_style()


# --- gnt-node modify ------------------------------------------------------------------

def _exclusive_flag(node: objects.Node, cause: str,
                    other: str) -> list[list[str]]:
    """A node just set offline or drained stops being a candidate and
    loses the other flag (the two are exclusive), as Ganeti does."""
    changes = []
    if node.master_candidate:
        node.master_candidate = False
        changes.append(["master_candidate", f"auto-demotion due to {cause}"])
    if getattr(node, other):
        setattr(node, other, False)
        changes.append([other, f"clear {other} status due to {cause}"])
    return changes


class LUNodeSetParams(LogicalUnit):
    """Change a node's role flags.

    Ganeti's rules: at least one flag, at most one set to true (opcode);
    the master's role changes only through master failover; demoting a
    candidate (``-C no``, ``-O yes``, ``-D yes``) must not leave fewer
    candidates than the pool wants unless ``auto_promote`` lets other
    nodes be promoted; an offline or drained node becomes a candidate only
    if that flag is cleared at the same time; offline and drained clear
    each other and the candidate flag; a node brought back online or
    undrained promotes itself when the pool has room.  Every promoted
    node (this one, or others by ``auto_promote``) gets the candidates'
    files as a node added does; a demoted online node is told to drop
    them.  Returns the changes as ``[[parameter, new value or reason],
    ...]``.
    """

    OP = opcodes.OpNodeSetParams
    op: opcodes.OpNodeSetParams
    HPATH = "node-modify"
    HTYPE = constants.HTYPE_NODE

    def expand_names(self) -> LockRequest:
        self.op.node_name = self.expand_node_name(self.op.node_name)
        if self.op.auto_promote:
            return LockRequest(node=ALL)
        return LockRequest(node=[self.op.node_name])

    def _demotes(self, node: objects.Node) -> bool:
        op = self.op
        return node.master_candidate and (op.master_candidate is False
                                          or op.offline is True
                                          or op.drained is True)

    def check_prereq(self) -> None:
        op = self.op
        node = self.cfg.get_node(op.node_name)
        if node is None:
            raise errors.OpPrereqError(f"Node '{op.node_name}' not known",
                                       EC.NOENT)
        self.node = node
        self.ndparams = (None if not op.ndparams else params.update_nd_params(
            node.ndparams, op.ndparams, level="node"))
        master = self.cfg.get_master_node()
        if node.name == master and (op.master_candidate is False
                                    or op.offline is True
                                    or op.drained is True):
            raise errors.OpPrereqError(
                f"The master role can be changed only via master-failover"
                f" ({node.name} is the master node)", EC.INVAL)
        if self._demotes(node) and not op.auto_promote:
            current, wanted, _ = candidate_stats(self.cfg, [node.name])
            if current < wanted:
                raise errors.OpPrereqError(
                    f"Not enough master candidates (would be {current}, the"
                    f" pool wants {wanted}); pass --auto-promote to allow"
                    " promoting other nodes", EC.STATE)
        if op.master_candidate and (
                (node.offline and op.offline is not False)
                or (node.drained and op.drained is not False)):
            raise errors.OpPrereqError(
                f"Node '{node.name}' is offline or drained, can't set it as"
                " master candidate", EC.STATE)
        if op.secondary_ip is not None:
            self._check_secondary_ip(node, op.secondary_ip)
        self.self_promote = False
        comes_back = op.offline is False or op.drained is False
        goes_away = op.offline is True or op.drained is True
        if (comes_back and not goes_away and op.master_candidate is None
                and not node.master_candidate
                and (node.offline or node.drained)):
            still_out = ((node.offline and op.offline is not False)
                         or (node.drained and op.drained is not False))
            if not still_out:
                current, _, eligible = candidate_stats(self.cfg, [node.name])
                pool = self.cfg.get_cluster().candidate_pool_size
                self.self_promote = current < min(eligible + 1, pool)

    def _check_secondary_ip(self, node: objects.Node, address: str) -> None:
        """The replication address may change while no mirror of this node
        runs (on an offline node: any time), must be unused, and must keep
        the cluster's homing: separate secondary IPs exactly when the
        master has one (as ``gnt-node add`` wants)."""
        master = self.cfg.get_node(self.cfg.get_master_node())
        if master is not None:
            master_ip, master_sec = (master.primary_ip, master.secondary_ip)
            if master.name == node.name:
                master_sec = address
            if (master_ip != master_sec) != (node.primary_ip != address):
                raise errors.OpPrereqError(
                    f"Cannot give node {node.name} the secondary IP"
                    f" {address}: the master has "
                    + ("a separate secondary IP, so must every node"
                       if master_ip != master_sec else
                       "no separate secondary IP (single-homed cluster)"),
                    EC.INVAL)
        for other in self.cfg.node_names():
            found = self.cfg.get_node(other)
            if found is not None and found.name != node.name and address in (
                    found.primary_ip, found.secondary_ip):
                raise errors.OpPrereqError(
                    f"IP address {address} is already used by node"
                    f" {found.name}", EC.NOTUNIQUE)
        if node.offline:
            return
        primaries, secondaries = self.cfg.get_node_instances(node.name)
        for name in sorted({*primaries, *secondaries}):
            inst = self.cfg.get_instance(name)
            if inst is not None and inst.disk_template in \
                    constants.DTS_NET_MIRROR and inst.admin_up:
                raise errors.OpPrereqError(
                    f"Cannot change the secondary IP of node {node.name}:"
                    f" mirrored instance {name} is running (stop it first,"
                    " or mark the node offline)", EC.STATE)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env: dict[str, object] = {
            "OP_TARGET": self.op.node_name,
            "MASTER_CANDIDATE": str(self.op.master_candidate),
            "OFFLINE": str(self.op.offline),
            "DRAINED": str(self.op.drained),
            "SECONDARY_IP": str(self.op.secondary_ip),
        }
        nodes = [self.cfg.get_master_node(), self.op.node_name]
        return env, nodes, nodes

    def execute(self, feedback: Feedback) -> Any:
        op = self.op
        node = self.node
        demoted = self._demotes(node)
        was_candidate = node.master_candidate
        was_offline = node.offline
        changes: list[list[str]] = []
        if op.offline is not None:
            node.offline = op.offline
            changes.append(["offline", str(op.offline)])
            if op.offline:
                changes += _exclusive_flag(node, "offline", "drained")
        if op.master_candidate is not None:
            node.master_candidate = op.master_candidate
            changes.append(["master_candidate", str(op.master_candidate)])
        if op.drained is not None:
            node.drained = op.drained
            changes.append(["drained", str(op.drained)])
            if op.drained:
                changes += _exclusive_flag(node, "drain", "offline")
        if op.secondary_ip is not None:
            node.secondary_ip = op.secondary_ip
            changes.append(["secondary_ip", op.secondary_ip])
        if self.ndparams is not None:
            node.ndparams = self.ndparams
            filled = self.cfg.get_cluster().filled_ndparams(
                node, self.cfg.get_nodegroup(node.group))
            changes += [[f"ndparams/{key}", str(filled.get(key))]
                        for key in op.ndparams or {}]
        if self.self_promote:
            feedback("Autopromoting node to master candidate")
            node.master_candidate = True
            changes.append(["master_candidate", "auto-promotion"])
        self.cfg.update(node)
        promoted = []
        if node.master_candidate and not was_candidate:
            promoted.append(node.name)
        if demoted and op.auto_promote:
            promoted += maintain_candidate_pool(self.cfg, [node.name],
                                                feedback)
        # A new candidate gets the candidates' files (config.data, RAPI
        # certificate and users, the job queue...) as a node added.
        distribute_to(self.ctx, promoted, feedback)
        # A demoted node (or one back online that is no candidate) drops
        # them; an offline node is not contacted (verify skips it).
        if not node.master_candidate and not node.offline and (
                was_candidate or was_offline):
            drop_candidate_files(self.ctx, node.name, feedback)
        # Every node's ssconf files (roles, secondary IPs) carry the
        # change before the command returns.
        replication.flush_all(self.cfg)
        return changes


# --- Generic query (query2) ----------------------------------------------------------

def _resolve_query(what: str, fields: list[str],
                   filt: qlang.Filter | None) -> query.FieldTable:
    table = query.table_for(what)
    table.resolve(fields)
    query.compile_filter_for(table, filt)
    return table


class LUQuery(NoHooksLU):
    """``/2/query/<what>``: fields with their status, items filtered by a
    list-form filter (see :mod:`ganeti.qlang`)."""

    OP = opcodes.OpQuery
    op: opcodes.OpQuery

    def expand_names(self) -> LockRequest:
        _resolve_query(self.op.what, list(self.op.output_fields),
                       self.op.filter)
        if not self.op.use_locking:
            return LockRequest(bgl_shared=True)
        if self.op.what == constants.QR_NODE:
            return LockRequest(node=ALL, node_shared=True)
        if self.op.what == constants.QR_GROUP:
            return LockRequest(nodegroup=ALL, nodegroup_shared=True)
        return LockRequest(instance=ALL, instance_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        fields = list(self.op.output_fields)
        if self.op.what == constants.QR_NODE:
            result = query_nodes(self, None, fields, self.op.filter)
        elif self.op.what == constants.QR_GROUP:
            result = query_groups(self, None, fields, self.op.filter)
        else:
            result = query_instances(self, None, fields, self.op.filter)
        return result.query2()


class LUQueryFields(NoHooksLU):
    """``/2/query/<what>/fields``: the field definitions."""

    OP = opcodes.OpQueryFields
    op: opcodes.OpQueryFields

    def expand_names(self) -> LockRequest:
        self.table = query.table_for(self.op.what)
        self.table.describe(self.op.output_fields)
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        return {"fields": self.table.describe(self.op.output_fields)}
