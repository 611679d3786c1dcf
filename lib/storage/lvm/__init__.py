"""LVM storage: the block device driver, the lvm2 command runner and
its parser (see ``doc/design/storage.rst``).

``ganeti.storage.DRIVERS`` maps the ``lvm`` disk type to
:class:`LogicalVolume` here.
"""

from ganeti.storage.lvm.device import LogicalVolume
from ganeti.storage.lvm.runner import (
    LvInfo,
    LvmCommandError,
    LvmRunner,
    PvInfo,
    VgInfo,
)

__all__ = ["LogicalVolume", "LvInfo", "LvmCommandError", "LvmRunner", "PvInfo",
           "VgInfo"]
