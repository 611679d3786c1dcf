"""``gnt-node powercycle``: hard-reboot a node through its node daemon.

As in Ganeti 2.1 the operation takes no node lock (it is the last resort
for a node whose operations hang, whose locks may be held forever) and
runs no hooks.  The master node needs ``force``.  The node daemon
answers first and reboots a few seconds later
(:mod:`ganeti.backend.power`); the job's result is its answer.
"""

from __future__ import annotations

from ganeti import errors, opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU

EC = errors.ErrorCode


class LUNodePowercycle(NoHooksLU):
    """Hard-reboot a node (no locks: see the module documentation)."""

    OP = opcodes.OpNodePowercycle
    op: opcodes.OpNodePowercycle

    def expand_names(self) -> LockRequest:
        self.op.node_name = self.expand_node_name(self.op.node_name)
        return LockRequest(bgl_shared=True)

    def check_prereq(self) -> None:
        if self.op.node_name == self.cfg.get_master_node() \
                and not self.op.force:
            raise errors.OpPrereqError(
                f"Node {self.op.node_name} is the master node: power-cycling"
                " it needs force (--force)", EC.INVAL)

    def execute(self, feedback: Feedback) -> str:
        cluster = self.cfg.get_cluster()
        name = cluster.enabled_hypervisors[0]
        node = self.op.node_name
        res = self.rpc.call_node_powercycle([node], name,
                                            dict(cluster.fill_hv(name)))[node]
        return str(res.raise_on_fail(f"Cannot power-cycle node {node}"))
