"""Where a DRBD disk's new end goes: its logical id on a new secondary
(the minor comes from the configuration's minor map,
``ConfigWriter.allocate_drbd_minors``).  Which node that is comes from
the caller or an instance allocator (:mod:`ganeti.cmdlib.iallocator`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ganeti import errors, objects
from ganeti.storage import drbd_ids, templates

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode

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
