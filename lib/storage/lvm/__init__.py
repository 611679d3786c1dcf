"""LVM storage: the block device driver, the lvm2 command runner and
its parser (see ``doc/design/storage.rst``).

``ganeti.storage.DRIVERS`` maps the ``lvm`` disk type to
:class:`LogicalVolume` here.
"""

from ganeti import pathutils
from ganeti.standins import lvm as simulator
from ganeti.storage.lvm.device import LogicalVolume
from ganeti.storage.lvm.runner import (
    LvInfo,
    LvmCommandError,
    LvmRunner,
    PvInfo,
    VgInfo,
)

__all__ = ["LogicalVolume", "LvInfo", "LvmCommandError", "LvmRunner", "PvInfo",
           "VgInfo", "node_runner"]


def node_runner(paths: pathutils.Paths | None = None) -> LvmRunner:
    """The lvm2 runner of this node: real lvm2, or the simulator on a
    local-cluster node that asks for it (see :mod:`ganeti.standins.lvm`)."""
    return simulator.runner_for_node(paths or pathutils.get()) or LvmRunner()
