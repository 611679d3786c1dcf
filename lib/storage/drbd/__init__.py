"""DRBD storage: the ``drbd8`` block device driver over two LVs, its
command builder, the parsers of DRBD's status formats and the runner
(see ``doc/design/drbd.rst``).

``ganeti.storage.DRIVERS`` maps the ``drbd8`` disk type to
:class:`Drbd8Device` here.
"""

from ganeti import pathutils
from ganeti.standins import drbd as simulator
from ganeti.storage.drbd.device import Drbd8Device
from ganeti.storage.drbd.runner import DrbdCommandError, DrbdRunner
from ganeti.storage.drbd.status import DrbdState

__all__ = ["Drbd8Device", "DrbdCommandError", "DrbdRunner", "DrbdState",
           "node_runner"]


def node_runner(paths: pathutils.Paths | None = None) -> DrbdRunner:
    """The DRBD runner of this node: the real tools, or the simulator on a
    local-cluster node that asks for it (see :mod:`ganeti.standins.drbd`)."""
    return simulator.runner_for_node(paths or pathutils.get()) or DrbdRunner()
