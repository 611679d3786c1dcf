"""From disk templates to disk objects, on the master.

A disk template (``diskless``, ``file``, ``plain``, ``drbd``) decides which
block devices an instance's disks are made of.  :func:`generate_disks`
builds the :class:`~ganeti.objects.Disk` objects of a new instance:

- ``diskless``: no disks at all (there is no diskless device driver; the
  template simply maps to an empty list);
- ``file``: one file device per disk, ``logical_id = [driver, path]`` with
  ``path = <file storage dir>/<instance name>/disk<N>`` (configured paths;
  nodes relocate them under their root, see
  :mod:`ganeti.storage.filestorage`).

- ``plain``: one logical volume per disk in the cluster's volume group,
  ``logical_id = [vg, <unique id>.disk<N>]``; the name does not contain
  the instance name, so renaming an instance leaves its volumes alone.

- ``drbd``: one ``drbd8`` device per disk between the primary and the
  secondary node, ``logical_id = [primary, secondary, port,
  primary minor, secondary minor, secret]`` (the caller allocates
  ports, minors and secrets: :class:`DrbdIds`), over two logical
  volumes in the cluster's volume group, ``<unique id>.disk<N>_data``
  (the disk's size) and ``<unique id>.disk<N>_meta``
  (:data:`~ganeti.storage.drbd_ids.META_SIZE_MIB`).

When an instance with file disks is renamed, its directory is renamed on
the primary node and the disks' logical ids change with it:
:func:`renamed_file_disks` computes the new disks (pure, for the master)
and :func:`rename_disks_for_instance` also renames the directory (node
side).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ganeti import constants, errors, ht, objects
from ganeti.storage import drbd_ids, filestorage
from ganeti.storage.base import StorageContext


def instance_storage_dir(file_storage_dir: str, instance_name: str) -> str:
    """Configured directory holding the file disks of an instance."""
    if not ht.TAbsolutePath(file_storage_dir):
        raise errors.ParameterError(
            f"File storage directory {file_storage_dir!r:.80} is not an"
            " absolute path", parameter="file_storage_dir")
    if not ht.THostname(instance_name):
        raise errors.ParameterError(
            f"Invalid instance name {instance_name!r:.80}",
            parameter="instance_name")
    return os.path.join(os.path.normpath(file_storage_dir), instance_name)


def _disk_size(index: int, spec: Mapping[str, Any]) -> int:
    size = spec.get("size") if isinstance(spec, Mapping) else None
    if not ht.TPositiveInt(size):
        raise errors.ParameterError(
            f"Disk {index}: size: {ht.describe_failure(ht.TPositiveInt, size)}"
            " (MiB)", parameter="disks")
    if size > constants.MAX_DISK_SIZE_MIB:  # type: ignore[operator]
        raise errors.ParameterError(
            f"Disk {index}: size {size} MiB is above the maximum of"
            f" {constants.MAX_DISK_SIZE_MIB} MiB (1 EiB)", parameter="disks")
    return int(size)  # type: ignore[arg-type]


def _disk_mode(index: int, spec: Mapping[str, Any]) -> str:
    mode = spec.get("mode", constants.DISK_RDWR)
    if mode not in constants.DISK_ACCESS_SET:
        check = ht.TElemOf(constants.DISK_ACCESS_SET)
        raise errors.ParameterError(
            f"Disk {index}: mode: {ht.describe_failure(check, mode)}",
            parameter="disks")
    return str(mode)


class DrbdIds(NamedTuple):
    """What the master allocated for one new DRBD disk."""

    port: int
    minor_a: int
    minor_b: int
    secret: str


def generate_disks(template: str, disk_specs: Sequence[Mapping[str, Any]],
                   instance_name: str, file_storage_dir: str, *,
                   file_driver: str = constants.FD_LOOP,
                   base_index: int = 0,
                   vg_name: str | None = None,
                   drbd_nodes: tuple[str, str] | None = None,
                   drbd: Sequence[DrbdIds] = ()) -> list[objects.Disk]:
    """The disks of a new instance (or new disks of an existing one).

    ``disk_specs`` are dictionaries with ``size`` (MiB) and optionally
    ``mode`` (``rw``/``ro``); ``base_index`` numbers the first new disk
    (``disk/<N>``, file ``disk<N>``) when disks are added later.
    ``file_storage_dir`` is the configured directory under which the
    instance's own directory lives; ``vg_name`` the cluster's volume
    group (``plain``, ``drbd``; None: LVM is not enabled);
    ``drbd_nodes`` the (primary, secondary) pair and ``drbd`` the ids of
    each disk (``drbd``).
    """
    if template == constants.DT_DISKLESS:
        if disk_specs:
            raise errors.ParameterError(
                "The diskless template takes no disks", parameter="disks")
        return []
    if template == constants.DT_PLAIN:
        return _plain_disks(disk_specs, vg_name, base_index)
    if template == constants.DT_DRBD8:
        return _drbd_disks(disk_specs, vg_name, base_index, drbd_nodes, drbd)
    if template != constants.DT_FILE:
        raise errors.ParameterError(
            f"Unknown disk template {template!r:.60} (known:"
            f" {', '.join(sorted(constants.DISK_TEMPLATES))})",
            parameter="disk_template")
    if file_driver not in constants.FILE_DRIVERS:
        check = ht.TElemOf(constants.FILE_DRIVERS)
        raise errors.ParameterError(
            f"File driver: {ht.describe_failure(check, file_driver)}",
            parameter="driver")
    if not ht.TNonNegativeInt(base_index):
        raise errors.ProgrammerError(f"Invalid base disk index {base_index!r}")
    directory = instance_storage_dir(file_storage_dir, instance_name)
    disks = []
    for offset, spec in enumerate(disk_specs):
        index = base_index + offset
        disks.append(objects.Disk(
            dev_type=constants.LD_FILE, size=_disk_size(index, spec),
            logical_id=[file_driver, os.path.join(directory, f"disk{index}")],
            iv_name=f"disk/{index}", mode=_disk_mode(index, spec)))
    return disks


def _plain_disks(disk_specs: Sequence[Mapping[str, Any]],
                 vg_name: str | None, base_index: int) -> list[objects.Disk]:
    if not vg_name:
        raise errors.OpPrereqError(
            "The plain template needs LVM, which is not enabled on this"
            " cluster (gnt-cluster modify --vg-name)", errors.ErrorCode.STATE)
    disks = []
    for offset, spec in enumerate(disk_specs):
        index = base_index + offset
        disks.append(objects.Disk(
            dev_type=constants.LD_LV, size=_disk_size(index, spec),
            logical_id=[vg_name, f"{uuid.uuid4()}.disk{index}"],
            iv_name=f"disk/{index}", mode=_disk_mode(index, spec)))
    return disks


def _drbd_disks(disk_specs: Sequence[Mapping[str, Any]],
                vg_name: str | None, base_index: int,
                nodes: tuple[str, str] | None,
                ids: Sequence[DrbdIds]) -> list[objects.Disk]:
    if nodes is None or nodes[0] == nodes[1] or len(ids) != len(disk_specs):
        raise errors.ProgrammerError(
            "DRBD disks need two different nodes and ids for each disk")
    volumes = _plain_disks(disk_specs, vg_name, base_index)
    disks = []
    for volume, ident in zip(volumes, ids, strict=True):
        vg, name = volume.logical_id
        meta = objects.Disk(dev_type=constants.LD_LV,
                            size=drbd_ids.META_SIZE_MIB,
                            logical_id=[vg, f"{name}_meta"])
        volume.logical_id = [vg, f"{name}_data"]
        lid = [nodes[0], nodes[1], ident.port, ident.minor_a, ident.minor_b,
               ident.secret]
        drbd_ids.parse_logical_id(lid)
        disks.append(objects.Disk(
            dev_type=constants.LD_DRBD8, size=volume.size, logical_id=lid,
            children=[objects.Disk(dev_type=constants.LD_LV, size=volume.size,
                                   logical_id=volume.logical_id), meta],
            iv_name=volume.iv_name, mode=volume.mode))
    return disks


def instance_volumes(inst: objects.Instance) -> set[tuple[str, str, str]]:
    """(node, volume group, logical volume) of every LV an instance's
    disks are on: plain disks on the primary, the data and metadata
    volumes of a DRBD disk on both its nodes."""
    found: set[tuple[str, str, str]] = set()

    def walk(disk: objects.Disk, nodes: Sequence[str]) -> None:
        if disk.dev_type == constants.LD_LV and len(disk.logical_id) == 2:
            vg, lv = disk.logical_id
            found.update((node, str(vg), str(lv)) for node in nodes)
        if disk.dev_type == constants.LD_DRBD8 and len(disk.logical_id) > 2:
            nodes = [str(n) for n in disk.logical_id[:2]]
        for child in disk.children:
            walk(child, nodes)

    for disk in inst.disks:
        walk(disk, [inst.primary_node])
    return found


def file_disks_dir(disks: Sequence[objects.Disk]) -> str | None:
    """The one configured directory holding these file disks; None when
    there are no file disks.  Disks spread over several directories are
    an inconsistency and raise."""
    dirs = {os.path.dirname(str(d.logical_id[1])) for d in disks
            if d.dev_type == constants.LD_FILE and len(d.logical_id) == 2}
    if len(dirs) > 1:
        raise errors.BlockDeviceError(
            "File disks of one instance are in several directories: "
            + ", ".join(sorted(dirs)), errors.ErrorCode.CONFIG)
    return dirs.pop() if dirs else None


def renamed_file_disks(disks: Sequence[objects.Disk], new_name: str
                       ) -> tuple[str | None, str | None, list[objects.Disk]]:
    """For an instance rename: (old dir, new dir, copies of ``disks`` with
    file logical ids moved to the new directory).  Non-file disks are
    copied unchanged; without file disks both directories are None."""
    old_dir = file_disks_dir(disks)
    copies = [d.copy() for d in disks]
    if old_dir is None:
        return None, None, copies
    new_dir = instance_storage_dir(os.path.dirname(old_dir), new_name)
    for disk in copies:
        if disk.dev_type == constants.LD_FILE:
            driver, path = disk.logical_id
            disk.logical_id = [driver, os.path.join(new_dir,
                                                    os.path.basename(path))]
    return old_dir, new_dir, copies


def rename_disks_for_instance(disks: Sequence[objects.Disk], new_name: str,
                              context: StorageContext | None = None
                              ) -> list[objects.Disk]:
    """On the primary node: rename the instance's file storage directory
    and return the disks with their new logical ids."""
    old_dir, new_dir, copies = renamed_file_disks(disks, new_name)
    if old_dir is not None and new_dir is not None and old_dir != new_dir:
        filestorage.rename_storage_dir(old_dir, new_dir, context)
    return copies
