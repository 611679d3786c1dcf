"""The contract every block device driver fulfils.

A :class:`BlockDev` stands for one :class:`~ganeti.objects.Disk` (or one
child of a composite disk) *on this node*.  It is built from the disk's
configuration (``dev_type``, ``logical_id``, ``size``) by
:func:`ganeti.storage.get_device`; the object holds no resources, so
building one is cheap and never touches the system.  The operations do.

Sizes are MiB everywhere.  Failures raise
:class:`~ganeti.errors.BlockDeviceError` with a code that says why
(``already_exists``, ``unknown_entity``, ``wrong_input``,
``environment_error``...).

:meth:`BlockDev.get_sync_status` returns a :class:`SyncStatus`, the record
the mirror status call (``blockdev_getmirrorstatus``) will carry over the
node RPC; devices that are not mirrors report themselves in sync.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any, ClassVar

from ganeti import constants, errors, ht, objects, pathutils
from ganeti.records import Record, field

if TYPE_CHECKING:
    from ganeti.storage.drbd.runner import DrbdRunner
    from ganeti.storage.lvm.runner import LvmRunner


class LdiskStatus(enum.StrEnum):
    """Health of a device's local storage (for DRBD: its backing disk)."""

    OKAY = "okay"
    UNKNOWN = "unknown"
    FAULTY = "faulty"


class SyncStatus(Record):
    """Synchronization state of a device (mirror status)."""

    ERROR = errors.ProtocolError

    dev_path: str = field(default="", doc="Device path on the node")
    sync_percent: float | None = field(
        default=None, check=ht.TNonNegativeNumber,
        doc="Resync progress; None when not resyncing")
    estimated_time: int | None = field(
        default=None, check=ht.TNonNegativeInt,
        doc="Seconds until the resync ends; None if unknown or not resyncing")
    is_degraded: bool = field(default=False,
                              doc="The device lacks redundancy it should have")
    ldisk_status: str = field(default=LdiskStatus.OKAY,
                              check=ht.TElemOf(list(LdiskStatus)),
                              doc="Health of the local storage")


@dataclass(frozen=True)
class StorageContext:
    """What drivers need to know about this node, given by the caller.

    ``paths`` is the node's root (configured paths in logical ids are
    relocated with ``paths.under``); ``file_storage_dir`` is the
    *configured* file storage directory of the cluster, which file disks
    must stay within (the node daemon passes the cluster's value; the
    default is the one configure chose).  ``lvm_runner`` runs lvm2 for
    the LVM driver and ``drbd_runner`` DRBD's tools for the DRBD driver
    (None: the real programs).
    """

    paths: pathutils.Paths = dc_field(default_factory=pathutils.get)
    file_storage_dir: str = pathutils.CONFIGURED_FILE_STORAGE_DIR
    lvm_runner: LvmRunner | None = None
    drbd_runner: DrbdRunner | None = None


class BlockDev(abc.ABC):
    """One block device of a disk on this node."""

    #: The ``dev_type`` this driver handles (``constants.LD_*``).
    DEV_TYPE: ClassVar[str]

    def __init__(self, disk: objects.Disk, *,
                 children: list[BlockDev] | None = None,
                 context: StorageContext | None = None) -> None:
        if disk.dev_type != self.DEV_TYPE:
            raise errors.ProgrammerError(
                f"{type(self).__name__} cannot handle a {disk.dev_type} disk")
        self.disk = disk
        self.logical_id: list[Any] = list(disk.logical_id)
        self.children = list(children or [])
        self.context = context or StorageContext()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.logical_id!r}>"

    @property
    @abc.abstractmethod
    def dev_path(self) -> str:
        """The path the hypervisor and the OS scripts use on this node."""

    @property
    @abc.abstractmethod
    def size_mib(self) -> int:
        """The device's actual size on this node (it must exist)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the device exists on this node."""

    @abc.abstractmethod
    def create(self, size_mib: int) -> None:
        """Create the device; an existing device is an error."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Remove the device; a missing device is fine."""

    @abc.abstractmethod
    def grow(self, amount_mib: int) -> None:
        """Grow the device by ``amount_mib``; shrinking is refused."""

    @abc.abstractmethod
    def activate(self) -> None:
        """Make the device usable on this node (assemble it)."""

    @abc.abstractmethod
    def deactivate(self) -> None:
        """Stop using the device on this node (keep its data)."""

    @abc.abstractmethod
    def rename(self, new_id: list[Any]) -> None:
        """Give the device a new logical id (its data stays)."""

    def get_sync_status(self) -> SyncStatus:
        """Not a mirror: always in sync while the device exists."""
        present = self.exists()
        return SyncStatus(
            dev_path=self.dev_path, is_degraded=not present,
            ldisk_status=LdiskStatus.OKAY if present else LdiskStatus.FAULTY)

    @staticmethod
    def _check_size(what: str, size_mib: Any, *, allow_zero: bool) -> int:
        check = ht.TNonNegativeInt if allow_zero else ht.TPositiveInt
        if not check(size_mib):
            raise errors.BlockDeviceError(
                f"Invalid {what}: {ht.describe_failure(check, size_mib)}",
                errors.ErrorCode.INVAL)
        if size_mib > constants.MAX_DISK_SIZE_MIB:
            raise errors.BlockDeviceError(
                f"Invalid {what}: {size_mib} MiB is above the maximum of"
                f" {constants.MAX_DISK_SIZE_MIB} MiB (1 EiB)",
                errors.ErrorCode.INVAL)
        return int(size_mib)
