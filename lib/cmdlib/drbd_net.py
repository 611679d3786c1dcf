"""Master-side steps on the DRBD mirrors of one instance, as the daily
operations (failover, migrate, replace-disks, evacuate) chain them.

The node daemon answers single-node ``blockdev_*`` calls about a disk
sent with the physical id for that node (:func:`for_node`), and the
multi-node network calls (``drbd_disconnect_net``, ``drbd_attach_net``,
``drbd_wait_sync``) about disks sent with their logical ids plus the
secondary IP of every node involved: each node computes its own end.

:class:`Mirror` binds one instance's disks and nodes and offers Ganeti
2.1's steps: make a node Secondary (``blockdev_close``), go standalone,
reconnect (single or dual primary), wait for the resync (``drbd_wait_sync``
on both nodes), and the status of one disk on one node.  Every failure
names the node and the disk.  Activation, deactivation and the mirror
status of all disks are :mod:`ganeti.cmdlib.instance_common`'s and
:mod:`ganeti.cmdlib.drbd`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ganeti import errors, objects
from ganeti.cmdlib import drbd
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.storage.base import LdiskStatus, SyncStatus

#: Seconds between two ``drbd_wait_sync`` questions.
SYNC_POLL: Final = 1.0
#: Consecutive failed ``drbd_wait_sync`` answers after which the wait
#: gives up (a node that does not answer cannot be waited for).
SYNC_FAILURES: Final = 10

Sleep = Callable[[float], None]


class Mirror:
    """The DRBD disks of ``inst`` between its primary and its secondary
    (or between ``nodes`` when given: a new secondary being attached).

    ``sleep`` is what the resync wait sleeps with (tests pass a no-op).
    """

    def __init__(self, lu: LogicalUnit, inst: objects.Instance,
                 feedback: Feedback, disks: Sequence[objects.Disk] | None = None,
                 nodes: Sequence[str] | None = None,
                 sleep: Sleep | None = None) -> None:
        self.lu = lu
        self.inst = inst
        self.feedback = feedback
        self.disks = list(inst.disks if disks is None else disks)
        self.nodes = list(inst.all_nodes if nodes is None else nodes)
        self.ips = {n: ip for n, ip in drbd.node_ips(lu.cfg).items()
                    if n in self.nodes}
        self.sleep = sleep or time.sleep

    # --- one node -------------------------------------------------------------

    def for_node(self, disk: objects.Disk, node: str) -> dict[str, Any]:
        return drbd.disk_for_node(self.lu.cfg, disk, node,
                                  self.ips).to_dict()

    def on_node(self, node: str,
                disks: Sequence[objects.Disk] | None = None
                ) -> list[dict[str, Any]]:
        return [self.for_node(d, node)
                for d in (self.disks if disks is None else disks)]

    def ensure_secondary(self, node: str) -> None:
        """Make the disks on ``node`` Secondary (``blockdev_close``)."""
        self.feedback(f"* switching node {node} to secondary mode")
        res = self.lu.rpc.call_blockdev_close([node], self.inst.name,
                                              self.on_node(node))[node]
        if res.failed:
            raise errors.OpExecError(
                f"Cannot change the disks of {self.inst.name} on node {node}"
                f" into secondary mode: {res.fail_msg}")

    def status(self, node: str, disk: objects.Disk) -> SyncStatus | None:
        """The mirror status of ``disk`` on ``node``; None when the node
        does not answer or does not have it."""
        res = self.lu.rpc.call_blockdev_find([node],
                                             self.for_node(disk, node))[node]
        if res.failed or res.payload is None:
            return None
        return SyncStatus.from_dict(res.payload)

    def consistent(self, node: str, disk: objects.Disk,
                   ldisk: bool = False) -> bool:
        """Whether ``disk`` on ``node`` is healthy: not degraded, or with
        ``ldisk`` only its local storage (what a resync source needs)."""
        st = self.status(node, disk)
        if st is None:
            return False
        if ldisk:
            return st.ldisk_status == LdiskStatus.OKAY
        return not st.is_degraded and st.ldisk_status != LdiskStatus.FAULTY

    # --- both nodes -------------------------------------------------------------

    def _multi(self, name: str, *args: Any) -> None:
        dicts = [d.to_dict() for d in self.disks]
        results = self.lu.rpc.call(name, self.nodes, self.ips, dicts, *args)
        bad = [f"{node}: {res.fail_msg}" for node, res in results.items()
               if res.failed]
        if bad:
            raise errors.OpExecError(
                f"Call {name} for the disks of {self.inst.name} failed on "
                + "; ".join(bad))

    def go_standalone(self) -> None:
        self.feedback("* changing the disks into standalone mode")
        self._multi("drbd_disconnect_net")

    def reconnect(self, multimaster: bool) -> None:
        self.feedback("* changing the disks into "
                      + ("dual-master" if multimaster else "single-master")
                      + " mode")
        self._multi("drbd_attach_net", self.inst.name, multimaster)

    def wait_sync(self) -> None:
        """Wait until every node says its disks are in sync, with a
        progress line per answer that still resyncs."""
        self.feedback("* waiting for the disks to synchronize")
        dicts = [d.to_dict() for d in self.disks]
        failures = 0
        while True:
            results = self.lu.rpc.call_drbd_wait_sync(self.nodes, self.ips,
                                                      dicts)
            bad = [f"{n}: {r.fail_msg}" for n, r in results.items()
                   if r.failed]
            if bad:
                failures += 1
                if failures >= SYNC_FAILURES:
                    raise errors.OpExecError(
                        f"Cannot follow the resync of {self.inst.name}: "
                        + "; ".join(bad))
                self.sleep(SYNC_POLL)
                continue
            failures = 0
            done = all(bool(r.payload[0]) for r in results.values())
            if done:
                return
            least = min(float(r.payload[1]) for r in results.values())
            self.feedback(f"- progress: {least:.1f}%")
            self.sleep(SYNC_POLL)
