"""The LVM block device driver: one logical volume in a volume group.

A ``lvm`` disk's ``logical_id`` is ``[vg_name, lv_name]``.  The volume is
created with the disk's ``stripes`` and ``stripe_size`` (KiB) from
``disk.params``: the master sends the disk with its effective parameters
(cluster default of the template, per-disk override); missing ones take
the ``plain`` template's defaults.

Before allocating, :meth:`LogicalVolume.create` and
:meth:`LogicalVolume.grow` check the volume group exists, has enough free
space and (for striped volumes) enough allocatable physical volumes;
every refusal and every lvm2 failure is one line naming the node, the VG
and the LV.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ganeti import constants, errors, ht, objects, params, pathutils
from ganeti.storage.base import BlockDev, StorageContext
from ganeti.storage.lvm.runner import (
    LvInfo,
    LvmCommandError,
    LvmRunner,
    VgInfo,
    allocated_mib,
)

#: Names lvm2 accepts for volume groups and logical volumes.
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$")

#: Suffix of the snapshot volume made for an export.
SNAPSHOT_SUFFIX: Final = ".snap"


def check_name(value: Any, what: str) -> str:
    """A valid lvm2 VG or LV name, or a one-line error."""
    if not (isinstance(value, str) and _NAME_RE.match(value)
            and value not in (".", "..")):
        raise errors.BlockDeviceError(
            f"Invalid {what} {value!r:.80}: lvm2 names use letters, digits"
            " and '+_.-', not starting with '-'", errors.ErrorCode.INVAL)
    return value


def split_logical_id(logical_id: Any) -> tuple[str, str]:
    """``[vg_name, lv_name]`` checked."""
    if not (isinstance(logical_id, (list, tuple)) and len(logical_id) == 2):
        raise errors.BlockDeviceError(
            f"Invalid logical id of an LVM disk {logical_id!r:.100}: expected"
            " [volume group, logical volume]", errors.ErrorCode.INVAL)
    return (check_name(logical_id[0], "volume group name"),
            check_name(logical_id[1], "logical volume name"))


def effective_stripes(disk: objects.Disk) -> tuple[int, int]:
    """(stripes, stripe size in KiB) of ``disk``."""
    defaults = params.disk_defaults(constants.DT_PLAIN)
    stripes = disk.params.get("stripes", defaults["stripes"])
    stripe_size = disk.params.get("stripe_size", defaults["stripe_size"])
    if not (ht.TPositiveInt(stripes) and ht.TPositiveInt(stripe_size)):
        raise errors.BlockDeviceError(
            f"Invalid stripes {stripes!r:.20} or stripe_size"
            f" {stripe_size!r:.20} of an LVM disk", errors.ErrorCode.INVAL)
    return int(stripes), int(stripe_size)


class LogicalVolume(BlockDev):
    """A logical volume ``/dev/<vg>/<lv>``."""

    DEV_TYPE = constants.LD_LV

    def __init__(self, disk: objects.Disk, *,
                 children: list[BlockDev] | None = None,
                 context: StorageContext | None = None) -> None:
        super().__init__(disk, children=children, context=context)
        self.vg_name, self.lv_name = split_logical_id(self.logical_id)
        self.runner = self.context.lvm_runner or LvmRunner()

    # Naming and errors

    @property
    def full_name(self) -> str:
        return f"{self.vg_name}/{self.lv_name}"

    def _where(self) -> str:
        return (f"on node {pathutils.hostname()}, volume group {self.vg_name},"
                f" logical volume {self.lv_name}")

    def _error(self, what: str, code: errors.ErrorCode) -> errors.BlockDeviceError:
        return errors.BlockDeviceError(f"{what} ({self._where()})", code)

    def _run(self, what: str, action: Any, *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except LvmCommandError as err:
            raise self._error(f"Cannot {what}: {err}", err.code) from None

    # Queries

    def _info(self) -> LvInfo | None:
        try:
            return self.runner.find_lv(self.vg_name, self.lv_name)
        except LvmCommandError as err:
            raise self._error(f"Cannot list logical volumes: {err}",
                              err.code) from None

    def info(self) -> LvInfo:
        """The volume as ``lvs`` reports it; missing is an error."""
        found = self._info()
        if found is None:
            raise self._error("Logical volume not found",
                              errors.ErrorCode.NOENT)
        return found

    @property
    def dev_path(self) -> str:
        return self.runner.device_path(self.vg_name, self.lv_name)

    @property
    def size_mib(self) -> int:
        return self.info().size_mib

    def exists(self) -> bool:
        return self._info() is not None

    # Allocation checks

    def _require_vg(self) -> VgInfo:
        try:
            vg = self.runner.find_vg(self.vg_name)
        except LvmCommandError as err:
            raise self._error(f"Cannot query volume groups: {err}",
                              err.code) from None
        if vg is None:
            raise self._error(
                f"Volume group {self.vg_name} does not exist",
                errors.ErrorCode.ENVIRON)
        return vg

    def _check_free(self, needed_mib: int, stripes: int) -> None:
        """The VG exists and lvm2 can allocate ``needed_mib`` there.

        lvm2 allocates whole extents, a multiple of ``stripes`` of them,
        only on allocatable PVs, and a striped segment needs its share on
        each of ``stripes`` PVs; the check counts the same way, so that
        it never passes a request lvm2 then refuses.
        """
        vg = self._require_vg()
        try:
            pvs = self.runner.list_pvs(self.vg_name)
        except LvmCommandError as err:
            raise self._error(f"Cannot query physical volumes: {err}",
                              err.code) from None
        usable = [pv for pv in pvs if pv.allocatable and not pv.missing]
        free = min(vg.free_mib, sum(pv.free_mib for pv in usable))
        needed = allocated_mib(needed_mib, vg.extent_kib, stripes)
        if free < needed:
            rounded = (f" ({needed_mib} MiB in whole {vg.extent_kib} KiB"
                       " extents)" if needed != needed_mib else "")
            raise self._error(
                f"Not enough free space in volume group {self.vg_name}:"
                f" {needed} MiB needed{rounded}, {free} MiB free",
                errors.ErrorCode.NORES)
        share = needed // stripes
        holding = [pv for pv in usable if pv.free_mib >= max(share, 1)]
        if stripes > 1 and stripes > len(holding):
            raise self._error(
                f"Cannot make {stripes} stripes: volume group {self.vg_name}"
                f" has {len(holding)} physical volume(s) with free space"
                f" for {share} MiB each", errors.ErrorCode.NORES)

    # Operations

    def create(self, size_mib: int) -> None:
        size = self._check_size("size", size_mib, allow_zero=False)
        stripes, stripe_size = effective_stripes(self.disk)
        self._require_vg()
        if self.exists():
            raise self._error("Logical volume already exists",
                              errors.ErrorCode.EXISTS)
        self._check_free(size, stripes)
        self._run("create logical volume", self.runner.lvcreate,
                  self.vg_name, self.lv_name, size, stripes=stripes,
                  stripe_size_kib=stripe_size if stripes > 1 else 0)

    def remove(self) -> None:
        if not self.exists():
            return
        self._run("remove logical volume", self.runner.lvremove,
                  self.vg_name, self.lv_name)

    def grow(self, amount_mib: int) -> None:
        if ht.TInt(amount_mib) and amount_mib < 0:
            raise self._error(f"Cannot shrink by {-amount_mib} MiB: disks can"
                              " only grow", errors.ErrorCode.INVAL)
        amount = self._check_size("growth amount", amount_mib, allow_zero=True)
        current = self.info()
        if amount == 0:
            return
        self._check_free(amount, current.stripes)
        self._run("grow logical volume", self.runner.lvextend,
                  self.vg_name, self.lv_name, amount)

    def activate(self) -> None:
        if not self.info().active:
            self._run("activate logical volume", self.runner.lvchange_active,
                      self.vg_name, self.lv_name, True)

    def deactivate(self) -> None:
        if self.exists():
            self._run("deactivate logical volume",
                      self.runner.lvchange_active, self.vg_name, self.lv_name,
                      False)

    def rename(self, new_id: list[Any]) -> None:
        new_vg, new_lv = split_logical_id(new_id)
        if new_vg != self.vg_name:
            raise self._error(
                f"Cannot move a logical volume to volume group {new_vg}",
                errors.ErrorCode.INVAL)
        if new_lv == self.lv_name:
            return
        if self.runner.find_lv(new_vg, new_lv) is not None:
            raise self._error(f"Cannot rename to {new_lv}: it already exists",
                              errors.ErrorCode.EXISTS)
        self.info()
        self._run(f"rename logical volume to {new_lv}", self.runner.lvrename,
                  self.vg_name, self.lv_name, new_lv)
        self.logical_id = [new_vg, new_lv]
        self.lv_name = new_lv

    def snapshot(self, size_mib: int | None = None) -> list[str]:
        """Snapshot the volume (for an export); the snapshot's logical id.

        The snapshot is ``<lv>.snap`` with room for ``size_mib`` of changes
        (default: the volume's size); an existing one is an error.
        """
        current = self.info()
        size = self._check_size("snapshot size",
                                current.size_mib if size_mib is None
                                else size_mib, allow_zero=False)
        snap = self.lv_name + SNAPSHOT_SUFFIX
        if self.runner.find_lv(self.vg_name, snap) is not None:
            raise self._error(f"Snapshot {snap} already exists",
                              errors.ErrorCode.EXISTS)
        self._check_free(size, 1)
        self._run(f"snapshot logical volume as {snap}",
                  self.runner.lvsnapshot, self.vg_name, self.lv_name, snap,
                  size)
        return [self.vg_name, snap]
