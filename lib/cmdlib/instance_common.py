"""Helpers shared by the instance logical units.

Every instance LU (create/remove/reinstall/rename, the queries, and the
start/stop/migrate/disk LUs) builds on these; the API below is stable.

Lookups and checks (raise :class:`~ganeti.errors.OpPrereqError`):

- :func:`get_instance(lu, name)`: the instance (a fresh copy), or "not
  known".
- :func:`check_instance_stopped(lu, inst, reason)`: refuses an instance
  marked up or found running on its primary node ("... must be stopped
  to <reason>").
- :func:`is_running(lu, inst)`: whether its primary node runs it (None
  when the node cannot be asked).
- :func:`check_node_online(lu, node, what)`: refuses an offline or
  unknown node.
- :func:`check_free_memory(lu, node, needed_mib, hypervisor, reason)`:
  the node's ``node_info`` says enough memory is free.
- :func:`check_bridges(lu, node, nic_params)`: every bridged NIC's bridge
  exists on ``node`` (``bridges_exist``).
- :func:`param_errors()`: a context manager turning
  :class:`~ganeti.errors.ParameterError` into a one-line
  ``OpPrereqError`` (code ``INVAL``) that keeps the whole message.

Parameters:

- :func:`filled_params(cfg, inst)` -> :class:`FilledParams` with the
  effective ``hv``, ``be``, ``nics`` (one dict per NIC) and ``os``
  dictionaries, exactly what the instance RPC calls take.

Disks on the instance's nodes (the primary; mirrored disks also on
the secondary, each node getting its physical ids, see
:mod:`ganeti.cmdlib.drbd`; every RPC call names the node and the disk in
its error):

- :func:`assemble_disks(lu, inst, feedback, ignore_secondaries=False)`
  -> device paths on the primary.
- :func:`shutdown_disks(lu, inst, feedback, ignore_failures=False)`.
- :func:`create_disk(lu, inst, node, disk)` -> the node's RpcResult.
- :func:`remove_disks(lu, inst, feedback)` -> True when everything
  (disks and the file storage directory) went away.

Running:

- :func:`start_instance(lu, inst, feedback, hvparams=None, beparams=None)`:
  memory and bridge checks, mirrored disks assembled on all nodes, then
  ``instance_start`` with filled
  parameters (the overrides apply to this start only).  It does not
  change ``admin_up``; callers do (``cfg.set_instance_admin_up``).
- :func:`shutdown_instance(lu, inst, timeout, feedback)` -> the outcome
  word of the node (``not-running``, ``soft``, ``hard``).

Hooks and locks:

- :func:`instance_hooks_env(cfg, inst, **override)`: Ganeti's
  ``INSTANCE_*`` hooks variables (without the ``GANETI_`` prefix).
- :func:`hook_nodes(cfg, inst)`: (pre nodes, post nodes): the master and
  the instance's nodes.
- :func:`instance_locks_changed(lu, added=(), removed=())`: tell the
  master's lock manager (``lu.ctx.glm``; None in unit tests) about
  instances that appeared or went away.
- :func:`single(results, node)`: the one :class:`RpcResult` of a
  single-node call.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ganeti import constants, errors, objects
from ganeti.cmdlib import drbd
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.locking import manager as lockmgr
from ganeti.rpc.result import RpcResult
from ganeti.storage import templates
from ganeti.storage.lvm.runner import allocated_mib

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode


# --- Small helpers -------------------------------------------------------------

def single(results: Mapping[str, RpcResult], node: str) -> RpcResult:
    """The result of ``node`` in a call sent to it alone."""
    return results[node]


@contextlib.contextmanager
def param_errors() -> Iterator[None]:
    """Re-raise parameter errors as ``OpPrereqError`` keeping the message
    (the CLI would otherwise only show the parameter's name)."""
    try:
        yield
    except errors.ParameterError as err:
        raise errors.OpPrereqError(err.message, EC.INVAL) from None


def get_instance(lu: LogicalUnit, name: str) -> objects.Instance:
    """A fresh copy of the instance called ``name`` (any case, short)."""
    full = lu.cfg.expand_instance_name(name) or name
    inst = lu.cfg.get_instance(full)
    if inst is None:
        raise errors.OpPrereqError(f"Instance '{name}' not known", EC.NOENT)
    assert isinstance(inst, objects.Instance)
    return inst


def check_node_online(lu: LogicalUnit, node: str, what: str) -> objects.Node:
    """The node ``node``; refuses an unknown or offline one."""
    obj = lu.cfg.get_node(node)
    if obj is None:
        raise errors.OpPrereqError(f"Node '{node}' not known", EC.NOENT)
    if obj.offline:
        raise errors.OpPrereqError(
            f"Cannot {what}: node {obj.name} is offline", EC.STATE)
    assert isinstance(obj, objects.Node)
    return obj


# --- Parameters ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FilledParams:
    """The effective parameters of an instance, as RPC calls take them."""

    hv: dict[str, Any]
    be: dict[str, Any]
    nics: list[dict[str, Any]]
    os: dict[str, Any]


def filled_params(cfg: ConfigWriter, inst: objects.Instance,
                  cluster: objects.Cluster | None = None) -> FilledParams:
    """Effective hypervisor, backend, per-NIC and OS parameters."""
    cluster = cluster if cluster is not None else cfg.get_cluster()
    return FilledParams(
        hv=cluster.filled_hvparams(inst),
        be=cluster.filled_beparams(inst),
        nics=[cluster.filled_nicparams(nic) for nic in inst.nics],
        os=cluster.filled_osparams(inst))


# --- State checks --------------------------------------------------------------

def _instance_info(lu: LogicalUnit, inst: objects.Instance) -> RpcResult:
    return single(lu.rpc.call_instance_info([inst.primary_node], inst.name,
                                            inst.hypervisor),
                  inst.primary_node)


def is_running(lu: LogicalUnit, inst: objects.Instance) -> bool | None:
    """Whether the primary node runs ``inst``; None if it cannot say."""
    live = live_info(lu, inst)
    return None if live is None else bool(live)


def live_info(lu: LogicalUnit, inst: objects.Instance
              ) -> dict[str, Any] | None:
    """What the primary node's hypervisor says of ``inst`` (an
    ``InstanceInfo`` as a dict; empty when it does not run there); None
    if the node cannot say."""
    res = _instance_info(lu, inst)
    if res.failed:
        return None
    return dict(res.payload) if res.payload is not None else {}


def check_instance_stopped(lu: LogicalUnit, inst: objects.Instance,
                           reason: str) -> None:
    """Refuse an instance marked up, or running on its primary node."""
    if inst.admin_up:
        raise errors.OpPrereqError(
            f"Instance {inst.name} is marked to be up; it must be stopped to"
            f" {reason}", EC.STATE)
    res = _instance_info(lu, inst)
    if res.failed:
        raise errors.OpPrereqError(
            f"Cannot check whether instance {inst.name} runs on node"
            f" {inst.primary_node}: {res.fail_msg}", EC.ENVIRON)
    if res.payload is not None:
        raise errors.OpPrereqError(
            f"Instance {inst.name} is running on node {inst.primary_node};"
            f" it must be stopped to {reason}", EC.STATE)


def check_free_memory(lu: LogicalUnit, node: str, needed_mib: int,
                      hypervisor: str, reason: str) -> None:
    """Refuse unless ``node`` has ``needed_mib`` MiB of free memory."""
    cluster = lu.cfg.get_cluster()
    res = single(lu.rpc.call_node_info([node], None, [hypervisor],
                                       cluster.file_storage_dir), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"Cannot get the free memory of node {node}: {res.fail_msg}",
            EC.ENVIRON)
    free = res.payload.get("memory_free")
    if not isinstance(free, int):
        raise errors.OpPrereqError(
            f"Node {node} did not report its free memory", EC.ENVIRON)
    if needed_mib > free:
        raise errors.OpPrereqError(
            f"Not enough memory on node {node} for {reason}: needed"
            f" {needed_mib} MiB, available {free} MiB", EC.NORES)


def lv_requests(lu: LogicalUnit, template: str,
                disks: Sequence[objects.Disk]) -> list[tuple[int, int]]:
    """(MiB, stripes) of each LVM volume of ``disks`` (a drbd8 disk has
    two: data and metadata), stripes from their effective parameters (for
    :func:`check_vg_free`)."""
    cluster = lu.cfg.get_cluster()
    requests: list[tuple[int, int]] = []
    for disk in disks:
        filled = cluster.fill_disk(template, disk.params)
        if disk.dev_type == constants.LD_LV:
            requests.append((disk.size, int(filled.get("stripes", 1) or 1)))
        elif disk.dev_type == constants.LD_DRBD8:
            # The data volume, then the metadata volume (drbd_ids).
            for child, key in zip(disk.children,
                                  ("data_stripes", "meta_stripes"), strict=False):
                requests.append((child.size, int(filled.get(key, 1) or 1)))
    return requests


def check_vg_free(lu: LogicalUnit, node: str,
                  requests: Sequence[tuple[int, int]], reason: str) -> None:
    """Refuse unless the cluster's volume group on ``node`` exists and lvm2
    can allocate each (MiB, stripes) request there: every volume takes
    whole extents (a multiple of its stripes), as lvm2 allocates them."""
    vg = lu.cfg.get_cluster().volume_group_name
    if not vg:
        raise errors.OpPrereqError(
            "LVM is not enabled on this cluster (gnt-cluster modify"
            " --vg-name)", EC.STATE)
    res = single(lu.rpc.call_node_info([node], vg, [], ""), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"Cannot get the free space of volume group {vg} on node {node}:"
            f" {res.fail_msg}", EC.ENVIRON)
    free = res.payload.get("vg_free")
    if not isinstance(free, int):
        raise errors.OpPrereqError(
            f"Node {node}: {res.payload.get('vg_error') or 'no volume group'}"
            f" (needed for {reason})", EC.ENVIRON)
    extent = res.payload.get("vg_extent_kib")
    extent = extent if isinstance(extent, int) and extent > 0 else 1
    asked = sum(size for size, _ in requests)
    needed = sum(allocated_mib(size, extent, stripes)
                 for size, stripes in requests)
    if needed > free:
        rounded = (f" ({asked} MiB in whole {extent} KiB extents)"
                   if needed != asked else "")
        raise errors.OpPrereqError(
            f"Not enough free space in volume group {vg} on node {node} for"
            f" {reason}: needed {needed} MiB{rounded}, available {free} MiB",
            EC.NORES)


def bridges_of(nic_params: Sequence[Mapping[str, Any]]) -> list[str]:
    """The bridges that bridged NICs (filled nicparams) join."""
    return list(dict.fromkeys(
        str(p.get("link")) for p in nic_params
        if p.get("mode") == constants.NIC_MODE_BRIDGED and p.get("link")))


def check_bridges(lu: LogicalUnit, node: str,
                  nic_params: Sequence[Mapping[str, Any]]) -> None:
    """Refuse when a bridge of a bridged NIC is missing on ``node``."""
    bridges = bridges_of(nic_params)
    if not bridges:
        return
    res = single(lu.rpc.call_bridges_exist([node], bridges), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"Bridged NICs need their bridges on node {node}: {res.fail_msg}",
            EC.ENVIRON)


# --- Disks -------------------------------------------------------------------------

def _sent(lu: LogicalUnit, disk: objects.Disk, node: str) -> dict[str, Any]:
    """``disk`` as ``node`` must get it (its physical ids set)."""
    return drbd.disk_for_node(lu.cfg, disk, node).to_dict()


def _on_nodes(lu: LogicalUnit, inst: objects.Instance, nodes: Sequence[str],
              call: Callable[[str, dict[str, Any]], Mapping[str, RpcResult]],
              what: str, tolerate: bool, feedback: Feedback | None
              ) -> tuple[bool, list[Any]]:
    """``call(node, disk)`` for every disk on every node in ``nodes``;
    (all went well, payloads).  A failure raises ``OpExecError`` unless
    ``tolerate`` (then it is a warning through ``feedback``)."""
    ok, payloads = True, []
    for node in nodes:
        for disk in inst.disks:
            res = single(call(node, _sent(lu, disk, node)), node)
            if not res.failed:
                payloads.append(res.payload)
                continue
            msg = (f"Cannot {what} {disk.iv_name or 'disk'} of instance"
                   f" {inst.name} on node {node}: {res.fail_msg}")
            if not tolerate:
                raise errors.OpExecError(msg)
            ok = False
            if feedback is not None:
                feedback(f"Warning: {msg}")
    return ok, payloads


def assemble_disks(lu: LogicalUnit, inst: objects.Instance,
                   feedback: Feedback | None = None,
                   ignore_secondaries: bool = False) -> list[str]:
    """Activate the instance's disks; their paths on the primary node.

    Mirrored disks are activated on the secondary nodes first (as
    secondaries, connected), then on the primary; a failure on a
    secondary is only a warning with ``ignore_secondaries``."""
    _on_nodes(lu, inst, inst.secondary_nodes,
              lambda node, disk: lu.rpc.call_blockdev_assemble(
                  [node], disk, inst.name, False),
              "activate", ignore_secondaries, feedback)
    _, paths = _on_nodes(lu, inst, [inst.primary_node],
                         lambda node, disk: lu.rpc.call_blockdev_assemble(
                             [node], disk, inst.name, True),
                         "activate", False, feedback)
    return [str(path) for path in paths]


def shutdown_disks(lu: LogicalUnit, inst: objects.Instance,
                   feedback: Feedback | None = None,
                   ignore_failures: bool = False) -> bool:
    """Deactivate the instance's disks on all its nodes (mirrored disks:
    the primary and the secondaries).  Failures raise ``OpExecError``
    unless ``ignore_failures`` (then they are reported through
    ``feedback``); returns True when all went well."""
    ok, _ = _on_nodes(lu, inst, inst.all_nodes,
                      lambda node, disk: lu.rpc.call_blockdev_shutdown(
                          [node], disk),
                      "deactivate", ignore_failures, feedback)
    return ok


def create_disk(lu: LogicalUnit, inst: objects.Instance, node: str,
                disk: objects.Disk) -> RpcResult:
    """``blockdev_create`` of ``disk`` on ``node``.  The disk goes with its
    effective parameters (the cluster's defaults for the template filled
    in): the LVM driver creates the volume with their stripes, the DRBD
    driver sets up the mirror with its options.  Mirrored disks are made
    on the secondary first (``on_primary`` False), then on the primary,
    which starts the initial sync towards the secondary."""
    sent = drbd.disk_for_node(lu.cfg, disk, node)
    cluster = lu.cfg.get_cluster()
    sent.params = cluster.fill_disk(inst.disk_template, disk.params)
    on_primary = (node == inst.primary_node
                  or inst.disk_template not in constants.DTS_NET_MIRROR)
    return single(lu.rpc.call_blockdev_create(
        [node], sent.to_dict(), disk.size, inst.name, on_primary), node)


def create_disks(lu: LogicalUnit, inst: objects.Instance, node: str) -> None:
    """Create ``inst``'s disks (empty, their full size) on ``node``: where
    a move copies them to, or a migration mirrors them into."""
    directory = templates.file_disks_dir(inst.disks)
    if directory is not None:
        lu.rpc.call_file_storage_dir_create(
            [node], directory)[node].raise_on_fail(f"Creating {directory}")
    for disk in inst.disks:
        create_disk(lu, inst, node, disk).raise_on_fail(
            f"Creating {disk.iv_name}")


def remove_disks(lu: LogicalUnit, inst: objects.Instance,
                 feedback: Feedback | None = None) -> bool:
    """Remove the instance's disks on all its nodes and its file storage
    directory on the primary node, reporting failures; True when
    everything went away."""
    node = inst.primary_node
    ok, _ = _on_nodes(lu, inst, inst.all_nodes,
                      lambda target, disk: lu.rpc.call_blockdev_remove(
                          [target], disk),
                      "remove", True, feedback)
    if inst.disk_template == constants.DT_FILE:
        directory = templates.file_disks_dir(inst.disks)
        if directory is not None:
            res = single(lu.rpc.call_file_storage_dir_remove([node],
                                                             directory), node)
            if res.failed:
                ok = False
                if feedback is not None:
                    feedback(f"Warning: cannot remove directory {directory}"
                             f" on node {node}: {res.fail_msg}")
    return ok


# --- Running -------------------------------------------------------------------

def start_instance(lu: LogicalUnit, inst: objects.Instance,
                   feedback: Feedback | None = None,
                   hvparams: Mapping[str, Any] | None = None,
                   beparams: Mapping[str, Any] | None = None,
                   check_memory: bool = True) -> None:
    """Start ``inst`` on its primary node with its filled parameters
    (``hvparams``/``beparams`` override them for this start only).
    Refuses when memory does not suffice or a bridge is missing."""
    filled = filled_params(lu.cfg, inst)
    hv = dict(filled.hv, **(hvparams or {}))
    be = dict(filled.be, **(beparams or {}))
    node = inst.primary_node
    check_bridges(lu, node, filled.nics)
    if check_memory:
        check_free_memory(lu, node, int(be["maxmem"]), inst.hypervisor,
                          f"starting instance {inst.name}")
    if drbd.is_mirrored(inst):
        # Ganeti 2.1: the mirror is assembled on every node first (the
        # secondary connected), a missing secondary is only a warning.
        assemble_disks(lu, inst, feedback, ignore_secondaries=True)
    if feedback is not None:
        feedback(f"* starting instance {inst.name} on node {node}")
    res = single(lu.rpc.call_instance_start([node], inst.to_dict(), hv, be,
                                            filled.nics), node)
    if res.failed:
        raise errors.OpExecError(
            f"Could not start instance {inst.name} on node {node}:"
            f" {res.fail_msg}")


def shutdown_instance(lu: LogicalUnit, inst: objects.Instance, timeout: int,
                      feedback: Feedback | None = None) -> str:
    """Stop ``inst`` on its primary node; the node's outcome word."""
    node = inst.primary_node
    res = single(lu.rpc.call_instance_shutdown([node], inst.to_dict(),
                                               int(timeout)), node)
    if res.failed:
        raise errors.OpExecError(
            f"Could not shut down instance {inst.name} on node {node}:"
            f" {res.fail_msg}")
    return str(res.payload)


# --- Hooks -----------------------------------------------------------------------

def instance_hooks_env(cfg: ConfigWriter, inst: objects.Instance,
                       **override: Any) -> dict[str, object]:
    """Ganeti's instance hooks variables (without ``GANETI_``):
    ``INSTANCE_NAME``, ``_PRIMARY``, ``_SECONDARIES``, ``_OS_TYPE``,
    ``_STATUS`` (up/down), ``_MEMORY``, ``_VCPUS``, ``_DISK_TEMPLATE``,
    ``_HYPERVISOR``, ``_NIC_COUNT``, ``_NIC<n>_{IP,MAC,MODE,LINK,BRIDGE}``,
    ``_DISK_COUNT``, ``_DISK<n>_{SIZE,MODE}``, ``_TAGS``, ``_BE_<p>``,
    ``_HV_<p>``; ``override`` replaces or adds variables (by name)."""
    filled = filled_params(cfg, inst)
    env: dict[str, object] = {
        "OP_TARGET": inst.name,
        "INSTANCE_NAME": inst.name,
        "INSTANCE_PRIMARY": inst.primary_node,
        "INSTANCE_SECONDARIES": " ".join(inst.secondary_nodes),
        "INSTANCE_OS_TYPE": inst.os,
        "INSTANCE_STATUS": (constants.ADMINST_UP if inst.admin_up
                            else constants.ADMINST_DOWN),
        # Ganeti 2.6+: both memories, and the old name for maxmem.
        "INSTANCE_MEMORY": filled.be.get("maxmem"),
        "INSTANCE_MAXMEM": filled.be.get("maxmem"),
        "INSTANCE_MINMEM": filled.be.get("minmem"),
        "INSTANCE_VCPUS": filled.be.get("vcpus"),
        "INSTANCE_DISK_TEMPLATE": inst.disk_template,
        "INSTANCE_HYPERVISOR": inst.hypervisor,
        "INSTANCE_NIC_COUNT": len(inst.nics),
        "INSTANCE_DISK_COUNT": len(inst.disks),
        "INSTANCE_TAGS": " ".join(inst.tags),
    }
    for idx, (nic, params) in enumerate(zip(inst.nics, filled.nics,
                                            strict=True)):
        env[f"INSTANCE_NIC{idx}_IP"] = nic.ip or ""
        env[f"INSTANCE_NIC{idx}_MAC"] = nic.mac
        env[f"INSTANCE_NIC{idx}_MODE"] = params.get("mode")
        env[f"INSTANCE_NIC{idx}_LINK"] = params.get("link")
        if params.get("mode") == constants.NIC_MODE_BRIDGED:
            env[f"INSTANCE_NIC{idx}_BRIDGE"] = params.get("link")
    for idx, disk in enumerate(inst.disks):
        env[f"INSTANCE_DISK{idx}_SIZE"] = disk.size
        env[f"INSTANCE_DISK{idx}_MODE"] = disk.mode
    for prefix, values in (("INSTANCE_BE_", filled.be),
                           ("INSTANCE_HV_", filled.hv)):
        for key, value in values.items():
            env[prefix + key] = "" if value is None else value
    env.update(override)
    return env


def hook_nodes(cfg: ConfigWriter, inst: objects.Instance
               ) -> tuple[list[str], list[str]]:
    """Hooks run on the master and the instance's nodes, both phases."""
    nodes = list(dict.fromkeys([cfg.get_master_node(), *inst.all_nodes]))
    return nodes, list(nodes)


# --- Locks -----------------------------------------------------------------------

def instance_locks_changed(lu: LogicalUnit, added: Iterable[str] = (),
                           removed: Iterable[str] = ()) -> None:
    """Tell the master's lock manager about instances that appeared or
    went away (a context without one, as in unit tests, is skipped).
    The caller holds the BGL; to add, it holds no node locks."""
    glm = lu.ctx.glm
    if glm is None:
        return
    removed, added = list(removed), list(added)
    if removed:
        glm.remove(lockmgr.LEVEL_INSTANCE, removed)
    if added:
        glm.add(lockmgr.LEVEL_INSTANCE, added)
