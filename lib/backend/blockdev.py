"""Block devices of this node: the ``blockdev_*`` and
``file_storage_dir_*`` calls, and the helpers the instance calls use to
decode disks and activate them.

Disks arrive as dictionaries and are rebuilt with ``Disk.from_dict``; a
bad one is a one-line failure naming the argument.  Drivers get a
:class:`~ganeti.storage.StorageContext` with this node's root and the
cluster's file storage directory: the value of the ssconf file
``file_storage_dir`` when the node has one, else the configured default
(a node not yet in a cluster).  File disks must lie inside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Final

from ganeti import constants, errors, ht, objects, pathutils, ssconf, storage
from ganeti.backend import handler
from ganeti.standins import drbd as drbd_simulator
from ganeti.standins import lvm as lvm_simulator
from ganeti.storage import drbd_ids, filestorage, lvm
from ganeti.storage.drbd import Drbd8Device

#: The ssconf key naming the cluster's file storage directory.
SSCONF_FILE_STORAGE_DIR: Final = "file_storage_dir"


def cluster_file_storage_dir() -> str:
    """The cluster's configured file storage directory, as this node
    knows it (ssconf), else the configured default."""
    path = pathutils.get().ssconf_prefix + SSCONF_FILE_STORAGE_DIR
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except FileNotFoundError:
        return pathutils.CONFIGURED_FILE_STORAGE_DIR
    except OSError as err:
        raise errors.BlockDeviceError(
            f"Cannot read {path}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    if not ht.TAbsolutePath(value):
        raise errors.BlockDeviceError(
            f"Invalid file storage directory {value!r:.80} in {path}",
            errors.ErrorCode.CONFIG)
    return value


def storage_context() -> storage.StorageContext:
    """The storage context of this node, read afresh for every call (the
    lvm2 simulator only on a local-cluster node that asks for it)."""
    paths = pathutils.get()
    return storage.StorageContext(
        paths=paths, file_storage_dir=cluster_file_storage_dir(),
        lvm_runner=lvm_simulator.runner_for_node(paths),
        drbd_runner=drbd_simulator.runner_for_node(paths))


def decode(cls: type[objects.ConfigObject], value: Any, what: str) -> Any:
    """``cls.from_dict(value)``; a bad value fails naming ``what``."""
    try:
        return cls.from_dict(value)
    except errors.GenericError as err:
        raise errors.ParameterError(f"Invalid {what}: {err}",
                                    parameter=what) from None


def decode_disk(value: Any, what: str = "disk") -> objects.Disk:
    disk: objects.Disk = decode(objects.Disk, value, what)
    return disk


def disk_name(disk: objects.Disk) -> str:
    """How messages name a disk: ``disk/0`` or its logical id."""
    return disk.iv_name or f"{disk.dev_type} {disk.logical_id!r:.100}"


def _needs_physical_id(disk: objects.Disk) -> bool:
    return any(d.dev_type == constants.LD_DRBD8 and not d.physical_id
               for d in [disk, *disk.children])


def with_physical_ids(disk: objects.Disk) -> objects.Disk:
    """``disk`` as the driver needs it: a DRBD disk sent without its
    physical id (inside an instance, by a call that does not set it) gets
    this node's, from the node's name and the cluster's secondary IPs
    (ssconf ``node_secondary_ips``)."""
    if not _needs_physical_id(disk):
        return disk
    if disk.dev_type == constants.LD_DRBD8:
        drbd_ids.parse_logical_id(disk.logical_id)  # a bad one says so first
    try:
        ips = ssconf.SimpleStore().get_node_secondary_ips()
    except errors.GenericError as err:
        raise errors.BlockDeviceError(
            f"Cannot find the replication addresses of {disk_name(disk)}:"
            f" {err}", errors.ErrorCode.ENVIRON) from None
    return drbd_ids.for_node(disk, pathutils.hostname(), ips)


def device(disk: objects.Disk,
           context: storage.StorageContext | None = None) -> storage.BlockDev:
    return storage.get_device(with_physical_ids(disk),
                              context or storage_context())


def mirror(dev: storage.BlockDev) -> Drbd8Device | None:
    """The DRBD device ``dev`` is, or None (not a mirror)."""
    return dev if isinstance(dev, Drbd8Device) else None


def _check_owner(disk: objects.Disk, dev: storage.BlockDev, owner: str,
                 on_primary: bool) -> None:
    """File disks live on the primary, in their owner's directory."""
    if not isinstance(dev, filestorage.FileDevice):
        return
    if not on_primary:
        raise errors.BlockDeviceError(
            f"File disk {disk_name(disk)} of {owner} can only be used on the"
            " instance's primary node", errors.ErrorCode.INVAL)
    directory = os.path.basename(os.path.dirname(
        os.path.normpath(dev.configured_path)))
    if directory != owner:
        raise errors.BlockDeviceError(
            f"File disk {dev.configured_path} is not in the directory of"
            f" instance {owner}", errors.ErrorCode.INVAL)


def assemble_disks(disks: Sequence[objects.Disk],
                   context: storage.StorageContext | None = None,
                   on_primary: bool = True
                   ) -> list[tuple[str, objects.Disk]]:
    """Activate ``disks`` here, in order; returns (path, disk) pairs.
    Mirrors become Primary when this is the ``on_primary`` node."""
    ctx = context or storage_context()
    result = []
    for disk in disks:
        dev = device(disk, ctx)
        try:
            dev.activate()
            drbd = mirror(dev)
            if drbd is not None and on_primary:
                drbd.set_primary()
        except errors.GenericError as err:
            raise errors.BlockDeviceError(
                f"Cannot activate {disk_name(disk)}: {err}", err.code) from None
        result.append((dev.dev_path, disk))
    return result


def deactivate_disks(disks: Sequence[objects.Disk]) -> None:
    ctx = storage_context()
    for disk in disks:
        device(disk, ctx).deactivate()


# --- Handlers ------------------------------------------------------------------

@handler("blockdev_create")
def blockdev_create(disk: dict[str, Any], size: int, owner: str,
                    on_primary: bool) -> str:
    obj = decode_disk(disk)
    dev = device(obj)
    _check_owner(obj, dev, owner, on_primary)
    dev.create(size)
    drbd = mirror(dev)
    if drbd is not None:
        # Ganeti 2.1: a new mirror is assembled on both nodes; the primary
        # overwrites its peer, which starts the initial sync towards it.
        try:
            drbd.activate()
            if on_primary:
                drbd.set_primary(force=True)
        except BaseException:
            drbd.remove()
            raise
    return dev.dev_path


@handler("blockdev_remove")
def blockdev_remove(disk: dict[str, Any]) -> None:
    device(decode_disk(disk)).remove()


@handler("blockdev_grow")
def blockdev_grow(disk: dict[str, Any], amount: int) -> int:
    dev = device(decode_disk(disk))
    dev.grow(amount)
    return dev.size_mib


@handler("blockdev_rename")
def blockdev_rename(devlist: list[list[Any]]) -> None:
    ctx = storage_context()
    pending = [(decode_disk(pair[0], f"disk {index}"), pair[1])
               for index, pair in enumerate(devlist)]
    failures = []
    for disk, new_id in pending:
        try:
            device(disk, ctx).rename(new_id)
        except errors.GenericError as err:
            failures.append(f"{disk_name(disk)}: {err}")
    if failures:
        raise errors.BlockDeviceError("Cannot rename " + "; ".join(failures))


@handler("blockdev_assemble")
def blockdev_assemble(disk: dict[str, Any], owner: str,
                      on_primary: bool) -> str:
    obj = decode_disk(disk)
    dev = device(obj)
    _check_owner(obj, dev, owner, on_primary)
    return assemble_disks([obj], on_primary=on_primary)[0][0]


@handler("blockdev_shutdown")
def blockdev_shutdown(disk: dict[str, Any]) -> None:
    device(decode_disk(disk)).deactivate()


@handler("blockdev_find")
def blockdev_find(disk: dict[str, Any]) -> dict[str, Any] | None:
    dev = device(decode_disk(disk))
    if not dev.exists():
        return None
    return dev.get_sync_status().to_dict()


@handler("blockdev_getmirrorstatus")
def blockdev_getmirrorstatus(disks: list[dict[str, Any]]
                             ) -> list[dict[str, Any]]:
    ctx = storage_context()
    result = []
    for index, value in enumerate(disks):
        disk = decode_disk(value, f"disk {index}")
        dev = device(disk, ctx)
        if not dev.exists():
            raise errors.BlockDeviceError(
                f"Cannot find {disk_name(disk)} on this node",
                errors.ErrorCode.NOENT)
        result.append(dev.get_sync_status().to_dict())
    return result


@handler("blockdev_snapshot")
def blockdev_snapshot(disk: dict[str, Any]) -> list[str]:
    obj = decode_disk(disk)
    dev = device(obj)
    if not isinstance(dev, lvm.LogicalVolume):
        raise errors.BlockDeviceError(
            f"Cannot snapshot {disk_name(obj)}: only logical volumes have"
            " snapshots", errors.ErrorCode.INVAL)
    return dev.snapshot()


@handler("blockdev_getsizes")
def blockdev_getsizes(disks: list[dict[str, Any]]) -> list[int | None]:
    ctx = storage_context()
    devices = [device(decode_disk(value, f"disk {index}"), ctx)
               for index, value in enumerate(disks)]
    # A mirror's size is its data volume's, there while DRBD is down too.
    return [dev.size_mib if (dev.data.exists() if isinstance(
        dev, Drbd8Device) else dev.exists()) else None for dev in devices]


@handler("file_storage_dir_create")
def file_storage_dir_create(file_storage_dir: str) -> None:
    filestorage.create_storage_dir(file_storage_dir, storage_context())


@handler("file_storage_dir_remove")
def file_storage_dir_remove(file_storage_dir: str) -> None:
    filestorage.remove_storage_dir(file_storage_dir, storage_context())


@handler("file_storage_dir_rename")
def file_storage_dir_rename(old_file_storage_dir: str,
                            new_file_storage_dir: str) -> None:
    filestorage.rename_storage_dir(old_file_storage_dir, new_file_storage_dir,
                                   storage_context())

