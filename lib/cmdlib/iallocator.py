"""The master's side of instance allocators (:mod:`ganeti.iallocator`):
collect the nodes' free resources by RPC, build the request, run the
allocator (an external program or the built-in one), check its answer.

Logical units call :func:`allocate`, :func:`relocate`, :func:`evacuate`
and :func:`change_group` from their checks, before anything changes, so
that a failing or lying allocator leaves the cluster as it was.
:class:`LUTestAllocator` is ``gnt-debug iallocator``.

The timeout of an external allocator is :data:`TIMEOUT_ENV` in the
master daemon's environment (seconds), default
:data:`ganeti.iallocator.DEFAULT_TIMEOUT`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Final

from ganeti import constants, errors, objects, opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, LogicalUnit
from ganeti.iallocator import BUILTIN, DEFAULT_TIMEOUT, HAIL, answer, builtin, runner
from ganeti.iallocator import request as ireq

EC = errors.ErrorCode

#: Environment variable of the master daemon: allocator timeout (seconds).
TIMEOUT_ENV: Final = "GANETI_IALLOCATOR_TIMEOUT"


def timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def snapshot(lu: LogicalUnit, hv: str | None = None) -> ireq.Snapshot:
    """The configuration and every online node's free resources; a node
    that does not answer stops the allocation (as in Ganeti)."""
    cfg = lu.cfg
    cluster = cfg.get_cluster()
    nodes = [n for n in (cfg.get_node(name) for name in cfg.node_names())
             if n is not None]
    instances = [i for i in (cfg.get_instance(name)
                             for name in cfg.instance_names())
                 if i is not None]
    groups = [g for g in (cfg.get_nodegroup(u) for u in cfg.nodegroup_uuids())
              if g is not None]
    online = [n.name for n in nodes if not n.offline]
    hv = hv or cluster.enabled_hypervisors[0]
    results = lu.rpc.call_node_info(online, cluster.volume_group_name or None,
                                    [hv], cluster.file_storage_dir)
    live: dict[str, dict[str, Any]] = {}
    for name in online:
        res = results[name]
        if res.failed:
            raise errors.OpPrereqError(
                f"Cannot get the free resources of node {name} for the"
                f" iallocator: {res.fail_msg}", EC.ENVIRON)
        live[name] = dict(res.payload)
    return ireq.Snapshot(cluster, nodes, groups, instances, live)


def resolve(name: str, feedback: Feedback | None) -> str | None:
    """The program of allocator ``name``; None: the built-in one."""
    if name == BUILTIN:
        return None
    path = runner.find(name)
    if path is not None:
        return path
    where = ":".join(runner.search_path())
    if name == HAIL:
        if feedback is not None:
            feedback(f"Iallocator '{HAIL}' is not installed (search path"
                     f" {where}); using the built-in allocator")
        return None
    raise errors.OpPrereqError(
        f"Iallocator '{name}' not found in the iallocator search path"
        f" ({where}); '{BUILTIN}' is always available", EC.NOENT)


def run_text(name: str, doc: dict[str, Any],
             feedback: Feedback | None) -> str:
    """The allocator's raw answer to ``doc``."""
    path = resolve(name, feedback)
    if path is None:
        return builtin.answer_text(doc)
    return runner.run(name, path, json.dumps(doc, indent=1), timeout())


def run(lu: LogicalUnit, name: str, req: dict[str, Any], *,
        storage: str = ireq.STORAGE_VG, snap: ireq.Snapshot | None = None,
        hv: str | None = None) -> answer.Answer:
    """Ask allocator ``name`` the request ``req``; the checked answer."""
    doc = ireq.document(snap or snapshot(lu, hv), req, storage)
    text = run_text(name, doc, lu.feedback)
    result = answer.parse(name, doc, text)
    lu.feedback(f"Iallocator '{name}': {result.info[:200]}")
    return result


def allocate(lu: LogicalUnit, name: str, new: ireq.NewInstance) -> list[str]:
    """The nodes (primary first) for a new instance."""
    return run(lu, name, ireq.allocate(new),
               storage=ireq.storage_of(new.disk_template),
               hv=new.hypervisor).nodes


def relocate(lu: LogicalUnit, name: str, inst: objects.Instance,
             old: str) -> str:
    """A new secondary for ``inst`` instead of ``old``."""
    return run(lu, name, ireq.relocate(inst, [old])).nodes[0]


def _failures(name: str, failed: Sequence[tuple[str, str]]) -> None:
    if failed:
        first, why = failed[0]
        raise errors.OpPrereqError(
            f"Iallocator '{name}' cannot move {len(failed)} instance(s):"
            f" {first}: {why or 'no reason given'}"
            + (f" (and {', '.join(n for n, _ in failed[1:])})"
               if len(failed) > 1 else ""), EC.NORES)


def new_secondaries(lu: LogicalUnit, name: str, node: str,
                    instances: Sequence[str]) -> dict[str, str]:
    """A new secondary for each DRBD instance of ``instances`` (a
    ``node-evacuate`` request in ``secondary-only`` mode).  Instances
    whose primary is ``node`` are shown to the allocator as already
    failed over (``node`` their secondary), which is what the caller
    does first."""
    snap = snapshot(lu)
    moved = set(instances)
    adjusted = []
    for inst in snap.instances:
        if inst.name in moved and inst.primary_node == node \
                and inst.secondary_nodes:
            inst = inst.copy()
            inst.primary_node = inst.secondary_nodes[0]
        adjusted.append(inst)
    snap.instances = adjusted
    result = run(lu, name, ireq.node_evacuate(
        list(instances), constants.NODE_EVAC_SEC), snap=snap)
    _failures(name, result.failed)
    targets = {}
    for move in result.moves:
        if len(move.nodes) != 2:
            raise answer.answer_error(
                name, f"answered {len(move.nodes)} node(s) for the DRBD"
                f" instance {move.instance}; 2 needed")
        if node in move.nodes:
            raise answer.answer_error(
                name, f"answered node {node}, which is being evacuated,"
                f" for instance {move.instance}")
        targets[move.instance] = move.nodes[1]
    return targets


def change_group(lu: LogicalUnit, name: str, instances: Sequence[str],
                 target_groups: Sequence[str]) -> list[answer.Move]:
    """Each instance's nodes in one of ``target_groups``."""
    result = run(lu, name, ireq.change_group(instances, target_groups))
    _failures(name, result.failed)
    return result.moves


def default_allocator(lu: LogicalUnit, given: str | None) -> str | None:
    """``given``, or the cluster's default iallocator (may be None)."""
    if given is not None:
        return given
    value = getattr(lu.cfg.get_cluster(), "default_iallocator", "")
    return value or None


# --- gnt-debug iallocator ---------------------------------------------------------

class LUTestAllocator(LogicalUnit):
    """Build a request (direction ``in``: returned as JSON text) or run an
    allocator on it (``out``: its raw answer).  Nothing changes."""

    OP = opcodes.OpTestAllocator
    op: opcodes.OpTestAllocator

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True)

    def _request(self) -> tuple[dict[str, Any], str]:
        op = self.op
        mode = op.mode
        if mode in (constants.IALLOCATOR_MODE_ALLOC,
                    constants.IALLOCATOR_MODE_MULTI_ALLOC):
            assert op.disk_template is not None and op.os is not None
            cluster = self.cfg.get_cluster()
            names = ([op.name] if mode == constants.IALLOCATOR_MODE_ALLOC
                     else [f"{op.name}-{k}" for k in range(op.count)])
            new = [ireq.NewInstance(
                name=n, disk_template=op.disk_template,
                memory=int(op.mem_size or 0), vcpus=int(op.vcpus or 1),
                disks=list(op.disks or []), nics=list(op.nics or []),
                os=op.os, tags=list(op.tags or []),
                hypervisor=op.hypervisor or cluster.enabled_hypervisors[0],
                spindle_use=op.spindle_use) for n in names]
            req = (ireq.allocate(new[0])
                   if mode == constants.IALLOCATOR_MODE_ALLOC
                   else ireq.multi_allocate(new))
            return req, ireq.storage_of(op.disk_template)
        names = [self.expand_instance_name(n)
                 for n in (op.instances or [op.name])]
        if mode == constants.IALLOCATOR_MODE_RELOC:
            inst = self.cfg.get_instance(names[0])
            assert inst is not None
            old = [self.expand_node_name(n)
                   for n in (op.relocate_from or inst.secondary_nodes)]
            return ireq.relocate(inst, old), ireq.STORAGE_VG
        if mode == constants.IALLOCATOR_MODE_NODE_EVAC:
            return (ireq.node_evacuate(names, op.evac_mode),
                    ireq.STORAGE_VG)
        groups = [self.expand_group_name(g) for g in op.target_groups or []]
        return ireq.change_group(names, groups), ireq.STORAGE_VG

    def execute(self, feedback: Feedback) -> str:
        req, storage = self._request()
        doc = ireq.document(snapshot(self, self.op.hypervisor), req, storage)
        if self.op.direction == constants.IALLOCATOR_DIR_IN:
            return json.dumps(doc, indent=2, sort_keys=True)
        assert self.op.allocator is not None
        return run_text(self.op.allocator, doc, feedback)
