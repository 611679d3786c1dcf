"""Master-side helpers for mirrored (``drbd``) instances.

The node daemons do not know the cluster's addresses: before a disk
goes to a node it gets that node's *physical id* (local and remote
replication address, port, local minor, secret), computed from its
logical id and the nodes' secondary IPs (:mod:`ganeti.storage.drbd_ids`).
The ``drbd_*`` calls instead carry the address map and let each node
compute its own.

- :func:`node_ips(cfg)`: node name -> secondary IP of every node.
- :func:`disk_for_node(cfg, disk, node)` / :func:`disks_for_node`: copies
  with the physical ids for ``node`` (any template: LVs and files get
  their logical id as physical id) and, for DRBD disks, the effective
  disk parameters, ready for ``to_dict()``.
- :func:`mirror_status(lu, inst, node)`: the
  :class:`~ganeti.storage.base.SyncStatus` of each disk on ``node``.
- :func:`wait_for_sync(lu, inst, feedback)`: poll the primary until the
  resync ends, with progress lines in the job log; returns whether the
  disks are healthy (not degraded) at the end.
- :func:`check_disks_consistent(lu, inst, node, ...)`: whether every
  disk is in sync on ``node`` (Ganeti's disk consistency check).
- :func:`check_mirrors_healthy(lu, inst, node, what, ignore_consistency,
  feedback)`: refuse an operation that needs ``node``'s copy when a
  disk is degraded there, unless ``ignore_consistency`` (then warn).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ganeti import constants, errors, objects
from ganeti.storage import drbd_ids
from ganeti.storage.base import LdiskStatus, SyncStatus

if TYPE_CHECKING:
    from ganeti.cmdlib.base import Feedback, LogicalUnit
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode

#: Longest pause between two polls of the mirror status (seconds).
MAX_POLL_INTERVAL: Final = 5.0
#: Failed polls in a row before :func:`wait_for_sync` gives up.
MAX_POLL_FAILURES: Final = 10


def is_mirrored(inst: objects.Instance) -> bool:
    return inst.disk_template in constants.DTS_NET_MIRROR


def node_ips(cfg: ConfigWriter) -> dict[str, str]:
    """Node name -> secondary (replication) IP, for every node."""
    ips = {}
    for name in cfg.node_names():
        node = cfg.get_node(name)
        if node is not None:
            ips[name] = node.secondary_ip
    return ips


def disk_for_node(cfg: ConfigWriter, disk: objects.Disk, node: str,
                  ips: dict[str, str] | None = None) -> objects.Disk:
    """A copy of ``disk`` with the physical ids ``node`` must get; a DRBD
    disk also with its effective parameters (the cluster's drbd
    diskparams under the disk's own), which its driver applies whenever
    it sets the device up."""
    sent = drbd_ids.for_node(disk, node, ips if ips is not None
                             else node_ips(cfg))
    if sent.dev_type == constants.LD_DRBD8:
        sent.params = cfg.get_cluster().fill_disk(constants.DT_DRBD8,
                                                  disk.params)
    return sent


def disks_for_node(cfg: ConfigWriter, disks: Sequence[objects.Disk],
                   node: str) -> list[objects.Disk]:
    ips = node_ips(cfg)
    return [disk_for_node(cfg, disk, node, ips) for disk in disks]


def mirror_status(lu: LogicalUnit, inst: objects.Instance, node: str,
                  disks: Sequence[objects.Disk] | None = None
                  ) -> list[SyncStatus]:
    """The sync status of ``disks`` (default: all of ``inst``) on ``node``;
    a failed call raises :class:`~ganeti.errors.RpcError`."""
    sent = disks_for_node(lu.cfg, inst.disks if disks is None else disks,
                          node)
    res = lu.rpc.call_blockdev_getmirrorstatus(
        [node], [d.to_dict() for d in sent])[node]
    payload = res.raise_on_fail(
        f"Mirror status of instance {inst.name}'s disks")
    return [SyncStatus.from_dict(item) for item in payload]


def _progress_line(disk: objects.Disk, status: SyncStatus) -> str:
    eta = ("no time estimate" if status.estimated_time is None
           else f"{status.estimated_time}s remaining (estimated)")
    return (f"- device {disk.iv_name or 'disk'}: {status.sync_percent:.2f}%"
            f" done, {eta}")


def wait_for_sync(lu: LogicalUnit, inst: objects.Instance, feedback: Feedback,
                  disks: Sequence[objects.Disk] | None = None, *,
                  oneshot: bool = False,
                  sleep: Callable[[float], Any] = time.sleep) -> bool:
    """Wait until the primary says the resync of ``disks`` (default: all)
    ended, reporting progress; True when no disk is degraded then.

    ``oneshot`` looks once.  A node that cannot be asked is retried
    :data:`MAX_POLL_FAILURES` times before :class:`OpExecError`.
    """
    disks = list(inst.disks if disks is None else disks)
    if not disks:
        return True
    node = inst.primary_node
    if not oneshot:
        feedback(f"* waiting for instance {inst.name} to sync disks")
    failures = 0
    while True:
        try:
            statuses = mirror_status(lu, inst, node, disks)
        except errors.GenericError as err:
            failures += 1
            if failures >= MAX_POLL_FAILURES:
                raise errors.OpExecError(
                    f"Cannot get the mirror status of instance {inst.name}"
                    f" from node {node}: {err}") from None
            feedback(f"- warning: cannot get mirror status from node {node},"
                     f" retrying ({failures}/{MAX_POLL_FAILURES})")
            sleep(min(MAX_POLL_INTERVAL, 6.0))
            continue
        failures = 0
        done, degraded, wait = True, False, 0.0
        for disk, status in zip(disks, statuses, strict=True):
            if status.sync_percent is not None:
                done = False
                feedback(_progress_line(disk, status))
                if status.estimated_time is not None:
                    wait = max(wait, float(status.estimated_time))
            elif status.is_degraded:
                degraded = True
        if done or oneshot:
            break
        sleep(min(MAX_POLL_INTERVAL, max(wait, 1.0)))
    if done:
        feedback(f"* instance {inst.name}'s disks are in sync"
                 if not degraded else
                 f"- warning: instance {inst.name} has degraded disks")
    return not degraded and done


def check_disks_consistent(lu: LogicalUnit, inst: objects.Instance, node: str,
                           *, ldisk: bool = False) -> bool:
    """Whether every disk of ``inst`` is healthy on ``node``: not degraded
    (``ldisk``: only the local disk must be fine, as on a node that will
    take over while its peer is gone)."""
    try:
        statuses = mirror_status(lu, inst, node)
    except errors.GenericError:
        return False
    for status in statuses:
        if ldisk:
            if status.ldisk_status != LdiskStatus.OKAY:
                return False
        elif status.is_degraded or status.sync_percent is not None:
            return False
    return True


def check_mirrors_healthy(lu: LogicalUnit, inst: objects.Instance, node: str,
                          what: str, ignore_consistency: bool,
                          feedback: Feedback | None = None) -> None:
    """Refuse ``what`` (e.g. "fail over") when a disk of ``inst`` is not
    consistent on ``node`` (the node taking over), unless
    ``ignore_consistency`` (then a warning goes to ``feedback``)."""
    if not is_mirrored(inst):
        return
    if check_disks_consistent(lu, inst, node, ldisk=False):
        return
    msg = (f"Disks of instance {inst.name} are degraded or not in sync on"
           f" node {node}")
    if not ignore_consistency:
        raise errors.OpPrereqError(
            f"{msg}; cannot {what} (use --ignore-consistency to go on"
            " anyway)", EC.STATE)
    if feedback is not None:
        feedback(f"- warning: {msg}; going on (--ignore-consistency)")
