"""Where a DRBD disk's new end goes: its logical id on a new secondary
(the minor comes from the configuration's minor map,
``ConfigWriter.allocate_drbd_minors``), and the built-in choice of a new
secondary node.

Iallocators (external scripts) are not part of this version; the name
``hail`` (the standard one) selects the built-in choice instead: the
online, undrained node that is neither of the instance's nodes nor
excluded and has the most free space in the volume group, counting what
this operation already placed there.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from ganeti import errors, objects
from ganeti.storage import drbd_ids, templates

if TYPE_CHECKING:
    from ganeti.cmdlib.base import LogicalUnit
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode

#: The iallocator name that selects the built-in placement.
BUILTIN_ALLOCATOR: Final = "hail"


def allocate_ids(cfg: ConfigWriter, pnode: str, snode: str, count: int,
                 owner: str) -> list[templates.DrbdIds]:
    """The ids of ``count`` new DRBD disks between ``pnode`` and
    ``snode``: a minor on each node (reserved for ``owner`` until
    ``cfg.release_reservations(owner)``; the instance holds them once
    its disks are in the configuration), a port each (taken from the
    pool: give back with :func:`release_ports` if the disks never make
    it into the configuration) and a fresh shared secret each."""
    minors = cfg.allocate_drbd_minors([pnode, snode] * count, owner)
    ids: list[templates.DrbdIds] = []
    try:
        for i in range(count):
            ids.append(templates.DrbdIds(
                cfg.allocate_port(), minors[2 * i], minors[2 * i + 1],
                secrets.token_hex(16)))
    except errors.GenericError:
        release_ports(cfg, ids)
        cfg.release_reservations(owner)
        raise
    return ids


def release_ports(cfg: ConfigWriter,
                  ids: Iterable[templates.DrbdIds]) -> None:
    """Give back the ports of :func:`allocate_ids` no disk got."""
    for ident in ids:
        cfg.release_port(ident.port)


def with_new_secondary(disk: objects.Disk, old: str, new: str,
                       minor: int) -> objects.Disk:
    """A copy of the drbd8 ``disk`` whose end on ``old`` moves to ``new``
    with ``minor``; the port and the secret stay."""
    lid = drbd_ids.parse_logical_id(disk.logical_id)
    copy = disk.copy()
    if lid.node_a == old:
        copy.logical_id = [new, lid.node_b, lid.port, minor, lid.minor_b,
                           lid.secret]
    elif lid.node_b == old:
        copy.logical_id = [lid.node_a, new, lid.port, lid.minor_a, minor,
                           lid.secret]
    else:
        raise errors.ProgrammerError(
            f"Disk {disk.iv_name} is not on node {old}")
    return copy


def disk_space(inst: objects.Instance) -> int:
    """MiB of volume group a secondary of ``inst`` needs (data + meta)."""
    return sum(d.size + drbd_ids.META_SIZE_MIB for d in inst.disks)


def check_allocator(name: str) -> None:
    if name != BUILTIN_ALLOCATOR:
        raise errors.OpPrereqError(
            f"Iallocator '{name}' is not available: this version has no"
            f" external iallocators, only the built-in"
            f" '{BUILTIN_ALLOCATOR}' placement (or give the node with -n)",
            EC.INVAL)


def vg_free(lu: LogicalUnit, nodes: Iterable[str]) -> dict[str, int]:
    """Free MiB in the cluster's volume group of each node that answers."""
    vg = lu.cfg.get_cluster().volume_group_name
    free = {}
    for node in nodes:
        res = lu.rpc.call_node_info([node], vg, [], "")[node]
        value = None if res.failed else res.payload.get("vg_free")
        if isinstance(value, int):
            free[node] = value
    return free


def choose_secondary(lu: LogicalUnit, inst: objects.Instance,
                     exclude: Iterable[str],
                     free: dict[str, int],
                     placed: Mapping[str, int] | None = None) -> str:
    """The built-in choice of a new secondary for ``inst``; ``free`` is
    the free space per candidate (:func:`vg_free`), ``placed`` what this
    operation already put on each node (MiB)."""
    placed = placed or {}
    skip = set(exclude) | set(inst.all_nodes)
    need = disk_space(inst)
    best: tuple[int, str] | None = None
    for name in lu.cfg.node_names():
        node = lu.cfg.get_node(name)
        if node is None or name in skip or node.offline or node.drained \
                or name not in free:
            continue
        left = free[name] - placed.get(name, 0)
        if left >= need and (best is None or left > best[0]):
            best = (left, name)
    if best is None:
        raise errors.OpPrereqError(
            f"No node can take the secondary of instance {inst.name}"
            f" ({need} MiB of volume group, online and undrained, not one"
            " of its nodes)", EC.NORES)
    return best[1]
