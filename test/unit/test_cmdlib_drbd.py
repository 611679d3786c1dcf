"""The master's DRBD helpers: physical ids per node, the wait for the
resync with its progress lines, the health check before an operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from config_builders import make_config, node_name

from ganeti import constants, errors, objects
from ganeti.cmdlib import drbd
from ganeti.rpc.result import RpcResult
from ganeti.storage.base import LdiskStatus, SyncStatus


class FakeCfg:
    def __init__(self) -> None:
        self.data = make_config(3, [{"disk_template": constants.DT_DRBD8,
                                     "primary": node_name(1),
                                     "secondary": node_name(2)}])

    def node_names(self) -> list[str]:
        return sorted(self.data.nodes)

    def get_node(self, name: str) -> objects.Node | None:
        return self.data.nodes.get(name)

    def get_cluster(self) -> objects.Cluster:
        return self.data.cluster


class FakeRpc:
    """blockdev_getmirrorstatus answers from a script (one list of
    statuses, or an error string, per call)."""

    def __init__(self, script: list[Any]) -> None:
        self.script: Iterator[Any] = iter(script)
        self.sent: list[tuple[str, list[dict[str, Any]]]] = []

    def call_blockdev_getmirrorstatus(self, nodes: list[str],
                                      disks: list[dict[str, Any]]
                                      ) -> dict[str, RpcResult]:
        self.sent.append((nodes[0], disks))
        answer = next(self.script)
        if isinstance(answer, str):
            return {nodes[0]: RpcResult(nodes[0], "blockdev_getmirrorstatus",
                                        fail_msg=answer)}
        return {nodes[0]: RpcResult(nodes[0], "blockdev_getmirrorstatus",
                                    payload=[s.to_dict() for s in answer])}


class FakeLu:
    def __init__(self, script: list[Any]) -> None:
        self.cfg: Any = FakeCfg()
        self.rpc: Any = FakeRpc(script)
        self.inst = next(iter(self.cfg.data.instances.values()))


def syncing(percent: float, eta: int | None) -> SyncStatus:
    return SyncStatus(dev_path="/dev/drbd0", sync_percent=percent,
                      estimated_time=eta)


OK = SyncStatus(dev_path="/dev/drbd0")
DEGRADED = SyncStatus(dev_path="/dev/drbd0", is_degraded=True,
                      ldisk_status=LdiskStatus.OKAY)


def test_disks_get_the_physical_id_of_their_node() -> None:
    lu = FakeLu([])
    disk = lu.inst.disks[0]
    ips = drbd.node_ips(lu.cfg)
    for node, other in ((node_name(1), node_name(2)),
                        (node_name(2), node_name(1))):
        sent = drbd.disk_for_node(lu.cfg, disk, node)
        assert sent.physical_id[:4] == [ips[node], disk.logical_id[2],
                                        ips[other], disk.logical_id[2]]
        assert sent.children[0].physical_id == disk.children[0].logical_id
    assert disk.physical_id == []  # the config's disk is not changed


def test_drbd_disks_go_with_their_effective_parameters() -> None:
    lu = FakeLu([])
    lu.cfg.data.cluster.diskparams = {constants.DT_DRBD8:
                                      {"resync_rate": 2000}}
    disk = lu.inst.disks[0]
    disk.params = {"c_max_rate": 4096}
    sent = drbd.disk_for_node(lu.cfg, disk, node_name(1))
    assert sent.params["resync_rate"] == 2000  # the cluster's
    assert sent.params["c_max_rate"] == 4096  # the disk's own
    assert sent.params["meta_flushes"] is True  # declared default
    assert disk.params == {"c_max_rate": 4096}


def test_wait_for_sync_reports_progress() -> None:
    lu = FakeLu([[syncing(10.0, 30)], "node down", [syncing(60.5, None)],
                 [OK]])
    lines: list[str] = []
    sleeps: list[float] = []
    assert drbd.wait_for_sync(lu, lu.inst, lines.append, sleep=sleeps.append)
    assert lines == [
        f"* waiting for instance {lu.inst.name} to sync disks",
        "- device disk/0: 10.00% done, 30s remaining (estimated)",
        f"- warning: cannot get mirror status from node {node_name(1)},"
        " retrying (1/10)",
        "- device disk/0: 60.50% done, no time estimate",
        f"* instance {lu.inst.name}'s disks are in sync"]
    assert sleeps == [drbd.MAX_POLL_INTERVAL, drbd.MAX_POLL_INTERVAL, 1.0]
    assert lu.rpc.sent[0][1][0]["physical_id"][4] == 0


def test_wait_for_sync_gives_up_and_sees_degraded_disks() -> None:
    lu = FakeLu(["down"] * drbd.MAX_POLL_FAILURES)
    with pytest.raises(errors.OpExecError, match="Cannot get the mirror"
                       " status of instance"):
        drbd.wait_for_sync(lu, lu.inst, lambda _: None, sleep=lambda _: None)
    lu = FakeLu([[DEGRADED]])
    lines: list[str] = []
    assert not drbd.wait_for_sync(lu, lu.inst, lines.append)
    assert lines[-1] == f"- warning: instance {lu.inst.name} has degraded disks"
    lu = FakeLu([[syncing(1.0, 5)]])
    lines = []
    assert not drbd.wait_for_sync(lu, lu.inst, lines.append, oneshot=True)
    assert lines == ["- device disk/0: 1.00% done, 5s remaining (estimated)"]


def test_mirrors_must_be_healthy_unless_told() -> None:
    lu = FakeLu([[OK]])
    drbd.check_mirrors_healthy(lu, lu.inst, node_name(2), "fail over", False)
    lu = FakeLu([[syncing(50.0, 3)], [DEGRADED]])
    with pytest.raises(errors.OpPrereqError,
                       match=r"degraded or not in sync on node .*; cannot fail"
                             r" over \(use --ignore-consistency"):
        drbd.check_mirrors_healthy(lu, lu.inst, node_name(2), "fail over",
                                   False)
    warnings: list[str] = []
    drbd.check_mirrors_healthy(lu, lu.inst, node_name(2), "fail over", True,
                               warnings.append)
    assert "going on (--ignore-consistency)" in warnings[0]
    assert lu.rpc.sent[-1][0] == node_name(2)
