"""Nodes joining and leaving: OpNodeAdd, OpNodeRemove, the candidate pool.

The node side is prepared before ``OpNodeAdd`` is submitted (the command
copies the cluster certificate to the node and starts its node daemon,
over SSH or under a local root directory, see ``doc/design/bootstrap.rst``);
the logical unit only talks to the node over RPC.

Lock manager: both LUs hold the BGL exclusively, so no other job holds a
node lock while they run.  They tell the master's lock manager about the
node through the context: the master daemon's ``LUContext`` carries its
lock manager as ``glm``; :func:`node_locks_changed` adds or removes the
node-level lock there (a context without one, as in unit tests, has no
lock manager to update).

Master candidates: :func:`maintain_candidate_pool` promotes nodes until
the cluster has ``candidate_pool_size`` candidates (or every eligible
node is one); other LUs (node modify, cluster modify) call it too.  A
promoted node gets the candidates' files (:func:`distribute_to`, i.e.
``redist.distribute_files`` with the job queue); a demoted online node is
told to drop them (:func:`drop_candidate_files`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ganeti import constants, errors, ht, objects, opcodes, params, ssconf
from ganeti.cmdlib.base import Feedback, LockRequest, LogicalUnit, LUContext
from ganeti.locking import manager as lockmgr
from ganeti.rpc.client import RpcClient

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter
from ganeti.utils.text import nice_sort

EC = errors.ErrorCode


# --- The master candidate pool -------------------------------------------------

def _eligible(node: objects.Node) -> bool:
    return not node.offline and not node.drained


def candidate_stats(cfg: ConfigWriter, exceptions: Iterable[str] = ()
                    ) -> tuple[int, int, int]:
    """(current candidates, wanted candidates, eligible nodes), leaving the
    ``exceptions`` out of every count.  Wanted is the pool size, or the
    number of eligible nodes when there are fewer."""
    skip = set(exceptions)
    nodes = [cfg.get_node(n) for n in cfg.node_names() if n not in skip]
    eligible = [n for n in nodes if n is not None and _eligible(n)]
    current = sum(1 for n in eligible if n.master_candidate)
    pool = int(cfg.get_cluster().candidate_pool_size)
    return current, min(pool, len(eligible)), len(eligible)


def maintain_candidate_pool(cfg: ConfigWriter, exceptions: Iterable[str] = (),
                            feedback: Callable[[str], None] | None = None
                            ) -> list[str]:
    """Promote eligible nodes (online, not drained; in name order) until
    the pool is full; returns the promoted names.  The ``exceptions`` are
    neither counted nor promoted (a node being removed or demoted)."""
    skip = set(exceptions)
    current, wanted, _ = candidate_stats(cfg, skip)
    promoted: list[str] = []
    for name in cfg.node_names():
        if current >= wanted:
            break
        node = cfg.get_node(name)
        if (node is None or name in skip or node.master_candidate
                or not _eligible(node)):
            continue
        node.master_candidate = True
        cfg.update(node)
        promoted.append(name)
        current += 1
        if feedback is not None:
            feedback(f"Promoted node {name} to master candidate")
    return promoted


def distribute_to(ctx: LUContext, nodes: list[str], feedback: Feedback) -> None:
    """Push the cluster's files to ``nodes`` (``redist``); failures are
    reported, not fatal (``gnt-cluster redist-conf`` repeats it)."""
    if not nodes:
        return
    from ganeti import redist  # deferred: redist imports much of cmdlib

    try:
        redist.distribute_files(ctx, nodes=nodes, feedback=feedback)
    except errors.GenericError as err:
        feedback(f"Warning: distributing files to {', '.join(nodes)} "
                 f"failed: {err}; run 'gnt-cluster redist-conf'")


def drop_candidate_files(ctx: LUContext, name: str, feedback: Feedback) -> None:
    """Tell a demoted node to remove the files only candidates keep
    (``node_demote_from_mc``); a failure is reported, not fatal (verify
    then reports a ``config.data`` left there).  Pending replication
    pushes are waited for first, so none lands after the removal."""
    from ganeti import replication  # deferred like redist

    replication.flush_all(ctx.cfg)
    res = ctx.rpc.call_node_demote_from_mc([name])[name]
    if res.failed:
        feedback(f"Warning: node {name} could not drop the master "
                 f"candidates' files: {res.fail_msg}")


def node_locks_changed(ctx: LUContext, added: Iterable[str] = (),
                       removed: Iterable[str] = ()) -> None:
    """Tell the master's lock manager (``ctx.glm``) about nodes."""
    glm = ctx.glm
    if glm is None:
        return
    added, removed = list(added), list(removed)
    if added:
        glm.add(lockmgr.LEVEL_NODE, added)
    if removed:
        glm.remove(lockmgr.LEVEL_NODE, removed)


def drop_idle_connections(ctx: LUContext) -> None:
    """Forget the transport's kept-alive connections: a node daemon that
    was (re)started since they were opened would not answer on them.
    Node add and remove are rare; reconnecting costs a handshake.  The
    pools stay in use (closing the C engine's made every later call
    open new connections: half the master's instance creation rate)."""
    drop = getattr(ctx.rpc.transport, "drop_idle", None)
    if drop is not None:
        drop()


def rpc_to(ctx: LUContext, name: str, ip: str) -> RpcClient:
    """An RPC client for one node that the config may not know (yet or
    any more), through the master's transport; close it after use."""
    from ganeti.bootstrap import NodeAddress

    def lookup(node: str) -> NodeAddress | None:
        return NodeAddress(name, ip) if node == name else None

    return RpcClient(lookup, ctx.rpc.transport, max_workers=1)


def _resolve(name: str) -> str:
    try:
        return socket.gethostbyname(name)
    except (OSError, UnicodeError):
        raise errors.ResolverError(
            f"Cannot resolve node name '{name}'; give its primary IP "
            "(gnt-node add --primary-ip)", EC.RESOLVER) from None


# --- OpNodeAdd -------------------------------------------------------------------

class LUNodeAdd(LogicalUnit):
    """Add a node (or re-add a known one) whose node daemon already runs."""

    OP = opcodes.OpNodeAdd
    op: opcodes.OpNodeAdd
    HPATH = "node-add"
    HTYPE = constants.HTYPE_NODE

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        op = self.op
        existing = self.cfg.get_node(op.node_name)
        if existing is not None and not op.readd:
            raise errors.OpPrereqError(
                f"Node {existing.name} is already in the configuration "
                "(use --readd to add it again)", EC.EXISTS)
        if existing is None and op.readd:
            raise errors.OpPrereqError(
                f"Node {op.node_name} is not in the configuration; it cannot"
                " be re-added", EC.NOENT)
        self.existing = existing
        self.name = existing.name if existing is not None else op.node_name
        # The group of a new node: the one given (-g), else the only one.
        self.group = (self.cfg.lookup_nodegroup(op.group)
                      if existing is None else existing.group)
        self.ndparams = (None if op.ndparams is None
                         else params.check_nd_params(op.ndparams, level="node"))
        if existing is not None:
            primary = op.primary_ip or existing.primary_ip
            secondary = op.secondary_ip or existing.secondary_ip
            if (primary, secondary) != (existing.primary_ip,
                                        existing.secondary_ip):
                raise errors.OpPrereqError(
                    f"Re-added node {self.name} must keep its addresses "
                    f"({existing.primary_ip}/{existing.secondary_ip}), got "
                    f"{primary}/{secondary}", EC.INVAL)
        else:
            primary = op.primary_ip or _resolve(op.node_name)
            secondary = op.secondary_ip or primary
            for ip in {primary, secondary}:
                if not ht.TIPAddress(ip):
                    raise errors.OpPrereqError(f"Invalid IP address '{ip}'",
                                               EC.INVAL)
            for name in self.cfg.node_names():
                other = self.cfg.get_node(name)
                if other is not None and {primary, secondary} & {
                        other.primary_ip, other.secondary_ip}:
                    raise errors.OpPrereqError(
                        f"New node {self.name} uses an IP address of node "
                        f"{other.name} ({other.primary_ip}/"
                        f"{other.secondary_ip})", EC.NOTUNIQUE)
        master = self.cfg.get_node(self.cfg.get_master_node())
        if master is not None:
            master_dual = master.primary_ip != master.secondary_ip
            if master_dual != (primary != secondary):
                raise errors.OpPrereqError(
                    "The master has " + ("a" if master_dual else "no")
                    + " separate secondary IP; the new node must have "
                    + ("one too (-s)" if master_dual else "none either"),
                    EC.INVAL)
        self.primary_ip, self.secondary_ip = primary, secondary
        drop_idle_connections(self.ctx)
        client = rpc_to(self.ctx, self.name, primary)
        try:
            res = client.call_version([self.name])[self.name]
        finally:
            client.close()
        if res.failed:
            raise errors.OpPrereqError(
                f"Cannot contact the node daemon of {self.name} at "
                f"{primary}: {res.fail_msg}", EC.ENVIRON)
        if res.payload != constants.PROTOCOL_VERSION:
            raise errors.OpPrereqError(
                f"Node {self.name} speaks protocol version {res.payload}, "
                f"the master {constants.PROTOCOL_VERSION}", EC.ENVIRON)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env: dict[str, object] = {
            "OP_TARGET": self.name, "NODE_NAME": self.name,
            "NODE_PIP": self.primary_ip, "NODE_SIP": self.secondary_ip}
        others = [n for n in self.cfg.node_names() if n != self.name]
        return env, others, [*others, self.name]

    def execute(self, feedback: Feedback) -> None:
        current, _, _ = candidate_stats(self.cfg, [self.name])
        pool = int(self.cfg.get_cluster().candidate_pool_size)
        candidate = current < pool
        if self.existing is not None:
            node = self.cfg.get_node(self.name)
            assert node is not None
            node.offline = node.drained = False
            node.master_candidate = candidate
            if self.ndparams is not None:
                node.ndparams = self.ndparams
            self.cfg.update(node)
            feedback(f"Re-added node {self.name}")
        else:
            node = objects.Node(name=self.name, primary_ip=self.primary_ip,
                                secondary_ip=self.secondary_ip,
                                master_candidate=candidate, group=self.group,
                                ndparams=self.ndparams or {})
            self.cfg.add_node(node)
            node_locks_changed(self.ctx, added=[self.name])
        if candidate:
            feedback(f"Node {self.name} is a master candidate")
        values = ssconf.compute_values(self.cfg)
        res = self.rpc.call_write_ssconf_files([self.name], values)[self.name]
        res.warn_on_fail(feedback, "Writing the ssconf files")
        distribute_to(self.ctx, [self.name], feedback)
        if self.existing is not None and not candidate:
            # It may keep copies from an earlier time as a candidate.
            drop_candidate_files(self.ctx, self.name, feedback)
        # Every node's ssconf files list the new node before the command
        # returns (ssconf pushes are batched).
        from ganeti import replication  # deferred like redist

        replication.flush_all(self.cfg)


# --- OpNodeRemove ----------------------------------------------------------------

class LUNodeRemove(LogicalUnit):
    """Remove a node without instances; the node leaves the cluster."""

    OP = opcodes.OpNodeRemove
    op: opcodes.OpNodeRemove
    HPATH = "node-remove"
    HTYPE = constants.HTYPE_NODE

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        self.name = self.expand_node_name(self.op.node_name)
        node = self.cfg.get_node(self.name)
        assert node is not None
        self.node = node
        if self.name == self.cfg.get_master_node():
            raise errors.OpPrereqError(
                f"Node {self.name} is the master node; fail the master role "
                "over to another node first (gnt-cluster master-failover)",
                EC.STATE)
        primary, secondary = self.cfg.get_node_instances(self.name)
        users = nice_sort(set(primary) | set(secondary))
        if users:
            raise errors.OpPrereqError(
                f"Node {self.name} still has instance(s) "
                f"{', '.join(users)}; remove or move them first", EC.STATE)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env: dict[str, object] = {"OP_TARGET": self.name,
                                  "NODE_NAME": self.name}
        others = [n for n in self.cfg.node_names() if n != self.name]
        return env, others, others

    def execute(self, feedback: Feedback) -> None:
        self.cfg.remove_node(self.name)
        node_locks_changed(self.ctx, removed=[self.name])
        if self.node.master_candidate:
            promoted = maintain_candidate_pool(self.cfg, feedback=feedback)
            distribute_to(self.ctx, promoted, feedback)
        from ganeti import replication  # deferred like redist

        replication.flush_all(self.cfg)  # ssconf without the node, now
        if self.node.offline:
            feedback(f"Node {self.name} is offline; not telling it to leave")
            return
        client = rpc_to(self.ctx, self.name, self.node.primary_ip)
        try:
            res = client.call_node_leave_cluster([self.name])[self.name]
        finally:
            client.close()
        res.warn_on_fail(feedback, f"Node {self.name} could not leave the "
                         "cluster cleanly")
        drop_idle_connections(self.ctx)
