"""Where a DRBD disk's new end goes: the minor on a new secondary, and
the built-in choice of a new secondary node.

Minors live in the disks' logical ids; a minor taken for an operation
that has not yet written the configuration (a new secondary being set
up) is *reserved* here, in the master's memory, until the operation
records it or gives up (:func:`release_minors`), so two operations
running at once never pick the same minor on a node.

Iallocators (external scripts) are not part of this version; the name
``hail`` (the standard one) selects the built-in choice instead: the
online, undrained node that is neither of the instance's nodes nor
excluded and has the most free space in the volume group, counting what
this operation already placed there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from ganeti import constants, errors, objects
from ganeti.storage import drbd_ids

if TYPE_CHECKING:
    from ganeti.cmdlib.base import LogicalUnit
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode

#: The iallocator name that selects the built-in placement.
BUILTIN_ALLOCATOR: Final = "hail"
#: DRBD minors a node may have (DRBD 8's default ``minor_count`` ceiling).
MAX_MINORS: Final = 255

_lock = threading.Lock()
_reserved: dict[tuple[str, int], str] = {}


def _walk(disk: objects.Disk) -> Iterable[objects.Disk]:
    yield disk
    for child in disk.children:
        yield from _walk(child)


def used_minors(cfg: ConfigWriter, node: str) -> set[int]:
    """Minors the configuration gives to DRBD disks on ``node``."""
    used = set()
    for name in cfg.instance_names():
        inst = cfg.get_instance(name)
        if inst is None:
            continue
        for top in inst.disks:
            for disk in _walk(top):
                if disk.dev_type != constants.LD_DRBD8:
                    continue
                lid = drbd_ids.parse_logical_id(disk.logical_id)
                if lid.node_a == node:
                    used.add(lid.minor_a)
                if lid.node_b == node:
                    used.add(lid.minor_b)
    return used


def reserve_minors(cfg: ConfigWriter, node: str, count: int,
                   owner: str) -> list[int]:
    """``count`` free minors on ``node``, reserved for ``owner``."""
    with _lock:
        taken = used_minors(cfg, node) | {m for (n, m) in _reserved
                                          if n == node}
        free = [m for m in range(MAX_MINORS + 1) if m not in taken][:count]
        if len(free) < count:
            raise errors.OpPrereqError(
                f"No free DRBD minor on node {node} (all {MAX_MINORS + 1}"
                " are used)", EC.NORES)
        for minor in free:
            _reserved[(node, minor)] = owner
        return free


def release_minors(owner: str) -> None:
    """Forget the reservations of ``owner`` (recorded or abandoned)."""
    with _lock:
        for key in [k for k, v in _reserved.items() if v == owner]:
            del _reserved[key]


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
