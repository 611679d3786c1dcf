"""Test and debugging operations (``gnt-debug delay``)."""

from __future__ import annotations

import time
from typing import Any

from ganeti import opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU


class LUTestDelay(NoHooksLU):
    """Sleep on the master and/or on nodes.

    Locks: with ``no_locks`` only the cluster lock, shared.  Otherwise the
    cluster lock shared and the nodes of ``on_nodes`` exclusively, or,
    without nodes, the cluster lock exclusively.
    """

    OP = opcodes.OpTestDelay
    op: opcodes.OpTestDelay

    def expand_names(self) -> LockRequest:
        self.op.on_nodes = [self.expand_node_name(n) for n in self.op.on_nodes]
        if self.op.no_locks:
            return LockRequest(bgl_shared=True)
        if self.op.on_nodes:
            return LockRequest(bgl_shared=True, node=list(self.op.on_nodes))
        return LockRequest(bgl_shared=False)

    def _delay_once(self) -> None:
        if self.op.on_master:
            time.sleep(self.op.duration)
        if self.op.on_nodes:
            results = self.rpc.call_test_delay(self.op.on_nodes,
                                               self.op.duration)
            for res in results.values():
                res.raise_on_fail("Test delay")

    def execute(self, feedback: Feedback) -> Any:
        if self.op.repeat == 0:
            self._delay_once()
            return None
        for i in range(self.op.repeat):
            feedback(f"Test delay iteration {i}/{self.op.repeat}")
            self._delay_once()
        return None
