"""Block device drivers: one explicit map from ``dev_type`` to driver,
loaded lazily.

:data:`DRIVERS` names the module and class of every logical disk type.
The file and LVM drivers are part of this build; ``drbd8`` is a known
name whose module arrives later: asking for it gives a clear "not
available in this build" error, and shipping the module is all it takes
to make it work.

The ``diskless`` template has no devices at all, so it has no driver:
:func:`ganeti.storage.templates.generate_disks` maps it to an empty list.
"""

from __future__ import annotations

import importlib
from typing import Final

from ganeti import constants, errors, objects
from ganeti.storage.base import BlockDev, LdiskStatus, StorageContext, SyncStatus

__all__ = ["DRIVERS", "BlockDev", "LdiskStatus", "StorageContext", "SyncStatus",
           "get_device", "get_device_class"]

#: Logical disk type -> (module, class) of its driver.
DRIVERS: Final[dict[str, tuple[str, str]]] = {
    constants.LD_FILE: ("ganeti.storage.filestorage", "FileDevice"),
    constants.LD_LV: ("ganeti.storage.lvm", "LogicalVolume"),
    constants.LD_DRBD8: ("ganeti.storage.drbd", "Drbd8Device"),
}


def get_device_class(dev_type: str) -> type[BlockDev]:
    """The driver class of ``dev_type``.

    Unknown types raise :class:`~ganeti.errors.ParameterError`; known
    types whose driver is not in this build raise
    :class:`~ganeti.errors.OpPrereqError` (code ``environment_error``).
    """
    if not isinstance(dev_type, str) or dev_type not in DRIVERS:
        raise errors.ParameterError(
            f"Unknown disk device type {dev_type!r:.60} (known:"
            f" {', '.join(sorted(DRIVERS))})", parameter="dev_type")
    module_name, class_name = DRIVERS[dev_type]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # a missing import inside a present driver is a real error
        raise errors.OpPrereqError(
            f"Disk device type {dev_type} is not available in this build",
            errors.ErrorCode.ENVIRON, dev_type=dev_type) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BlockDev)
            and dev_type == cls.DEV_TYPE):
        raise errors.ProgrammerError(
            f"{module_name}.{class_name} is not the driver of {dev_type}")
    return cls


def get_device(disk: objects.Disk,
               context: StorageContext | None = None) -> BlockDev:
    """The driver object of ``disk`` on this node (children built first).

    ``context`` gives the node's root and the cluster's file storage
    directory (default: this process's root and the configured directory).
    """
    ctx = context or StorageContext()
    cls = get_device_class(disk.dev_type)
    children = [get_device(child, ctx) for child in disk.children]
    return cls(disk, children=children, context=ctx)
