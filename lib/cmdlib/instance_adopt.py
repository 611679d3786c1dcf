"""Adopting existing logical volumes as a new instance's disks
(``gnt-instance add -t plain --disk 0:adopt=LV``, Ganeti 2.2+).

Only the ``plain`` template adopts, and then every disk of the request
(the opcode refuses mixing, other templates, a size given with ``adopt``,
an iallocator and imports).  :func:`check_volumes` runs on the master
before anything changes: each volume must exist in the cluster's volume
group on the primary node, appear once in the request, belong to no disk
of the configuration, be neither open (in use) nor a snapshot; the
disk's size is the volume's.  :func:`rename_volumes` then gives the
volumes the generated names (``[vg, <uuid>.disk<N>]``), so that every
later operation treats them as any other plain disk; a failure half-way
renames the done ones back.  The OS create script is not run: adopted
volumes already hold their data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ganeti import constants, errors, objects
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.storage.lvm.device import check_name

EC = errors.ErrorCode

#: ``lv_attr`` letters: volume type (first) and device open (sixth).
_SNAPSHOT_TYPES = frozenset("sS")
_OPEN = "o"


def _lv_ids(disks: Sequence[objects.Disk]) -> Iterator[tuple[str, str]]:
    for disk in disks:
        if disk.dev_type == constants.LD_LV and len(disk.logical_id) == 2:
            yield str(disk.logical_id[0]), str(disk.logical_id[1])
        yield from _lv_ids(disk.children)


def _owners(lu: LogicalUnit) -> dict[tuple[str, str], str]:
    """(VG, LV) -> instance, for every volume a disk of the config is."""
    owners = {}
    for name in lu.cfg.instance_names():
        inst = lu.cfg.get_instance(name)
        assert inst is not None
        for lv_id in _lv_ids(inst.disks):
            owners[lv_id] = name
    return owners


def check_volumes(lu: LogicalUnit, node: str, vg: str | None,
                  specs: Sequence[Mapping[str, Any]]) -> list[int]:
    """The sizes (MiB) of the volumes ``specs`` adopt on ``node``, or a
    one-line OpPrereqError naming the node, the VG and the volume."""
    if not vg:
        raise errors.OpPrereqError(
            "Cannot adopt volumes: LVM is not enabled on this cluster"
            " (gnt-cluster modify --vg-name)", EC.STATE)
    names = []
    for idx, spec in enumerate(specs):
        try:
            names.append(check_name(spec["adopt"], "logical volume name"))
        except errors.BlockDeviceError as err:
            raise errors.OpPrereqError(f"Disk {idx}: {err}",
                                       EC.INVAL) from None
        if names.index(names[-1]) != idx:
            raise errors.OpPrereqError(
                f"Disk {idx}: logical volume {vg}/{names[-1]} is given twice"
                " for adoption", EC.INVAL)
    owners = _owners(lu)
    res = common.single(lu.rpc.call_node_volumes([node], vg), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"Cannot adopt logical volume(s) {', '.join(names)} of volume"
            f" group {vg} on node {node}: {res.fail_msg}", EC.ENVIRON)
    found = {str(row[1]): row for row in res.payload if row[0] == vg}
    sizes = []
    for idx, lv in enumerate(names):
        where = f"logical volume {vg}/{lv} on node {node}"
        if (vg, lv) in owners:
            raise errors.OpPrereqError(
                f"Disk {idx}: {where} is already a disk of instance"
                f" {owners[(vg, lv)]}", EC.NOTUNIQUE)
        if lv not in found:
            raise errors.OpPrereqError(
                f"Disk {idx}: {where} does not exist", EC.NOENT)
        attr = str(found[lv][4]) if len(found[lv]) > 4 else ""
        if attr[:1] in _SNAPSHOT_TYPES:
            raise errors.OpPrereqError(
                f"Disk {idx}: {where} is a snapshot and cannot be adopted",
                EC.INVAL)
        if attr[5:6] == _OPEN:
            raise errors.OpPrereqError(
                f"Disk {idx}: {where} is open (in use); close it before"
                " adopting it", EC.STATE)
        sizes.append(int(found[lv][2]))
    return sizes


def rename_volumes(lu: LogicalUnit, node: str, disks: Sequence[objects.Disk],
                   adopted: Sequence[str], reverse: bool = False) -> None:
    """Rename the adopted volumes to the disks' generated names (or back,
    ``reverse``); a failure renames the done ones back and raises."""
    pairs = []
    for disk, lv in zip(disks, adopted, strict=True):
        old = [disk.logical_id[0], lv]
        pairs.append((old, list(disk.logical_id)))
    if reverse:
        pairs = [(new, old) for old, new in pairs]
    done: list[tuple[list[Any], list[Any]]] = []
    for (old, new), disk in zip(pairs, disks, strict=True):
        source = disk.copy()
        source.logical_id = old
        res = common.single(lu.rpc.call_blockdev_rename(
            [node], [[source.to_dict(), new]]), node)
        if res.failed:
            if not reverse:
                _undo(lu, node, disks, done)
            raise errors.OpExecError(
                f"Cannot rename logical volume {old[0]}/{old[1]} to {new[1]}"
                f" on node {node}: {res.fail_msg}")
        done.append((old, new))


def _undo(lu: LogicalUnit, node: str, disks: Sequence[objects.Disk],
          done: Sequence[tuple[list[Any], list[Any]]]) -> None:
    for (old, new), disk in zip(done, disks, strict=False):
        source = disk.copy()
        source.logical_id = new
        lu.rpc.call_blockdev_rename([node], [[source.to_dict(), old]])


def release_volumes(lu: LogicalUnit, inst: objects.Instance,
                    adopted: Sequence[str], feedback: Feedback) -> None:
    """After a failure past the renames: give the volumes their names
    back (adopted data is never removed)."""
    feedback(f"Giving the adopted volumes of instance {inst.name} their"
             " names back")
    try:
        rename_volumes(lu, inst.primary_node, inst.disks, adopted,
                       reverse=True)
    except errors.OpExecError as err:
        feedback(f"Warning: {err}")
