"""Moving instances off a node: ``gnt-node evacuate`` and ``gnt-node
migrate`` (``gnt-node failover`` is the client submitting one failover
per primary instance, as in Ganeti 2.1).

Both run their per-instance work inside the one LU, holding the locks of
every instance concerned and of all nodes (Ganeti 2.1's tasklets): each
instance is migrated, failed over or given a new secondary by the same
code as ``gnt-instance migrate``/``failover``/``replace-disks -n``,
without that LU's own hooks.

Evacuation (``mode``):

- secondary instances (the node is their secondary) get a new secondary:
  ``remote_node`` for all, or the one an iallocator chooses (``-I``, or
  the cluster's default iallocator; one ``node-evacuate`` request in
  ``secondary-only`` mode for all of them, asked before anything moves,
  see :func:`ganeti.cmdlib.iallocator.new_secondaries`);
- primary instances (DRBD only: other templates have their disks on this
  node alone and are refused, pointing at ``gnt-instance move``) move to
  their secondary first, live if they run (a stopped one fails over),
  and then get a new secondary like the others.
"""

from __future__ import annotations

import abc
from typing import Any

from ganeti import constants, errors, objects, opcodes
from ganeti.cmdlib import iallocator
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.instance_replace import DiskReplacer
from ganeti.iallocator import BUILTIN

EC = errors.ErrorCode


def run_instance_op(lu: LogicalUnit, op: opcodes.OpCode,
                    feedback: Feedback) -> Any:
    """Run ``op`` inside ``lu``, which holds every lock it needs (no lock
    requests, no hooks of its own)."""
    from ganeti.cmdlib import lu_for  # the registry imports this module
    sub = lu_for(op)(lu.ctx, op, feedback)
    sub.expand_names()
    sub.check_prereq()
    return sub.execute(feedback)


class _NodeInstancesLU(LogicalUnit, abc.ABC):
    """Locks a node's instances (as found when the job starts) and every
    node; refuses when the set changed before the locks were held."""

    HTYPE = constants.HTYPE_NODE
    op: Any

    def instances_of(self, node: str) -> tuple[list[str], list[str]]:
        """(primary instances, secondary instances) of ``node``."""
        prim, sec = [], []
        for name in sorted(self.cfg.instance_names()):
            inst = self.cfg.get_instance(name)
            if inst is None:
                continue
            if inst.primary_node == node:
                prim.append(name)
            elif node in inst.secondary_nodes:
                sec.append(name)
        return prim, sec

    @abc.abstractmethod
    def wanted(self) -> list[str]:
        """The instances to lock and move, sorted."""

    def expand_names(self) -> LockRequest:
        self.op.node_name = self.expand_node_name(self.op.node_name)
        self.locked = self.wanted()
        return LockRequest(instance=list(self.locked), node=ALL)

    def check_prereq(self) -> None:
        if self.wanted() != self.locked:
            raise errors.OpPrereqError(
                f"The instances of node {self.op.node_name} changed while"
                " the job waited for its locks; run it again", EC.STATE)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        master = self.cfg.get_master_node()
        env: dict[str, object] = {"OP_TARGET": self.op.node_name,
                                  "NODE_NAME": self.op.node_name}
        return env, [master], [master, self.op.node_name]

    def inst(self, name: str) -> objects.Instance:
        inst = self.cfg.get_instance(name)
        assert inst is not None
        return inst


class LUNodeEvacuate(_NodeInstancesLU):
    """Move a node's instances away (see the module)."""

    OP = opcodes.OpNodeEvacuate
    op: opcodes.OpNodeEvacuate
    HPATH = "node-evacuate"

    def wanted(self) -> list[str]:
        prim, sec = self.instances_of(self.op.node_name)
        if self.op.mode == constants.NODE_EVAC_PRI:
            return prim
        if self.op.mode == constants.NODE_EVAC_SEC:
            return sec
        return sorted(prim + sec)

    def check_prereq(self) -> None:
        super().check_prereq()
        node = self.op.node_name
        remote = self.op.remote_node
        if remote is not None:
            remote = self.op.remote_node = self.expand_node_name(remote)
            if remote == node:
                raise errors.OpPrereqError(
                    f"Cannot evacuate node {node} onto itself", EC.INVAL)
        prim, sec = self.instances_of(node)
        self.primaries = [n for n in prim if n in self.locked]
        for name in self.primaries:
            inst = self.inst(name)
            if inst.disk_template not in constants.DTS_NET_MIRROR:
                raise errors.OpPrereqError(
                    f"Instance {name} (disk template {inst.disk_template})"
                    f" has its disks on node {node} only and cannot be"
                    " evacuated; use gnt-instance move", EC.STATE)
        self.secondaries = [n for n in sec if n in self.locked]
        needs_new = self.op.mode != constants.NODE_EVAC_PRI
        allocator = iallocator.default_allocator(self, self.op.iallocator)
        if needs_new and (self.primaries or self.secondaries) \
                and remote is None and allocator is None:
            raise errors.OpPrereqError(
                "Give the new secondary node (-n/remote_node) or an"
                f" iallocator (-I {BUILTIN}, -I hail)", EC.INVAL)
        for name in self.primaries:
            if remote is not None and remote in self.inst(name).all_nodes:
                raise errors.OpPrereqError(
                    f"Node {remote} is already a node of instance {name};"
                    " choose another new secondary", EC.INVAL)
        for name in self.secondaries:
            if self.inst(name).primary_node == remote:
                raise errors.OpPrereqError(
                    f"Node {remote} is the primary node of instance {name};"
                    " it cannot also be its secondary", EC.INVAL)
        moving = sorted(set(self.primaries) | set(self.secondaries))
        #: The new secondary of each instance.
        self.targets: dict[str, str] = {}
        if needs_new and moving:
            self.targets = (
                dict.fromkeys(moving, remote) if remote is not None
                else iallocator.new_secondaries(self, str(allocator), node,
                                                moving))

    def execute(self, feedback: Feedback) -> list[list[str]]:
        """Returns ``[[instance, new secondary], ...]`` as Ganeti 2.1's
        evacuation strategy does (primary-only: ``[instance, new primary]``)."""
        node = self.op.node_name
        done: list[list[str]] = []
        for name in self.primaries:
            inst = self.inst(name)
            running = self._runs(inst)
            feedback(f"* {'migrating' if running else 'failing over'}"
                     f" instance {name} away from node {node}")
            if running:
                run_instance_op(self, opcodes.OpInstanceMigrate(
                    instance_name=name), feedback)
            else:
                run_instance_op(self, opcodes.OpInstanceFailover(
                    instance_name=name), feedback)
            if self.op.mode == constants.NODE_EVAC_PRI:
                done.append([name, self.inst(name).primary_node])
        if self.op.mode == constants.NODE_EVAC_PRI:
            return done
        for name in sorted(self.targets):
            task = DiskReplacer(self, name, constants.REPLACE_DISK_CHG, [],
                                self.targets[name], None)
            task.check_prereq()
            assert task.new_node is not None
            task.execute(feedback)
            done.append([name, task.new_node])
        return done

    def _runs(self, inst: objects.Instance) -> bool:
        node = inst.primary_node
        res = self.rpc.call_instance_info([node], inst.name,
                                          inst.hypervisor)[node]
        return not res.failed and res.payload is not None


class LUNodeMigrate(_NodeInstancesLU):
    """Live-migrate (or, with ``mode``/``live``, non-live) every running
    primary instance of a node to its secondary; stopped ones are listed
    and left (``gnt-node failover`` moves them)."""

    OP = opcodes.OpNodeMigrate
    op: opcodes.OpNodeMigrate
    HPATH = "node-migrate"

    def wanted(self) -> list[str]:
        return self.instances_of(self.op.node_name)[0]

    def execute(self, feedback: Feedback) -> list[str]:
        """The instances migrated."""
        moved = []
        for name in self.locked:
            inst = self.inst(name)
            if not inst.admin_up:
                feedback(f"* instance {name} is stopped; not migrated (use"
                         " gnt-node failover)")
                continue
            feedback(f"* migrating instance {name}")
            run_instance_op(self, opcodes.OpInstanceMigrate(
                instance_name=name, live=self.op.live, mode=self.op.mode),
                feedback)
            moved.append(name)
        return moved


class LUNodeEvacStrategy(LogicalUnit):
    """Where the secondary instances of ``nodes`` would go (Ganeti 2.1's
    evacuation strategy; nothing moves): ``[[instance, new secondary],
    ...]``, all to ``remote_node`` or spread by the built-in placement."""

    OP = opcodes.OpNodeEvacStrategy
    op: opcodes.OpNodeEvacStrategy

    def expand_names(self) -> LockRequest:
        self.op.nodes = [self.expand_node_name(n) for n in self.op.nodes]
        if self.op.remote_node is not None:
            self.op.remote_node = self.expand_node_name(self.op.remote_node)
        return LockRequest(node=ALL, node_shared=True)

    def check_prereq(self) -> None:
        self.allocator = iallocator.default_allocator(self,
                                                      self.op.iallocator)
        if self.op.remote_node is None and self.allocator is None:
            raise errors.OpPrereqError(
                "Give the new secondary node (remote_node) or an iallocator"
                f" ({BUILTIN}, hail)", EC.INVAL)
        if self.op.remote_node in self.op.nodes:
            raise errors.OpPrereqError(
                f"Node {self.op.remote_node} is one of the nodes to evacuate",
                EC.INVAL)

    def execute(self, feedback: Feedback) -> list[list[str]]:
        evacuated = set(self.op.nodes)
        moving = []
        for name in sorted(self.cfg.instance_names()):
            inst = self.cfg.get_instance(name)
            if inst is not None and evacuated & set(inst.secondary_nodes):
                moving.append(inst)
        if self.op.remote_node is not None:
            return [[inst.name, self.op.remote_node] for inst in moving]
        if not moving:
            return []
        targets = iallocator.new_secondaries(
            self, str(self.allocator), self.op.nodes[0],
            [inst.name for inst in moving])
        bad = sorted(n for n, t in targets.items() if t in evacuated)
        if bad:
            raise errors.OpPrereqError(
                f"Iallocator '{self.allocator}' placed instance(s)"
                f" {', '.join(bad)} on a node being evacuated", EC.NORES)
        return [[inst.name, targets[inst.name]] for inst in moving]
