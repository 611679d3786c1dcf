"""Master failover on a real 3-node cluster: voting and --no-voting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest_cluster import ssconf_files, wait_for

from ganeti import constants, daemonutil, errors
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

N1, N2, N3 = (f"node{k}.local-cluster.example" for k in (1, 2, 3))


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def masterd_on(cluster: LocalCluster, k: int) -> bool:
    return daemonutil.is_running(constants.MASTERD, cluster.node(k).paths)


def ready_for_failover(cluster: LocalCluster) -> None:
    wait_for(lambda: all(ssconf_files(cluster, k) == ssconf_files(cluster, 1)
                         for k in (2, 3)), "identical ssconf")
    def same_config() -> bool:
        try:
            return all(Path(cluster.node(k).paths.cluster_conf_file)
                       .read_bytes() == Path(cluster.node(1).paths
                                             .cluster_conf_file).read_bytes()
                       for k in (2, 3))
        except OSError:
            return False

    wait_for(same_config, "config.data on the candidates")


def test_failover_with_voting(cluster3: LocalCluster) -> None:
    ready_for_failover(cluster3)
    res = cluster3.gnt("gnt-cluster", "master-failover", node=1)
    assert res.returncode == errors.EXIT_FAILURE
    assert "already the master" in res.stderr
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", node=2))
    assert f"Master role moved from {N1} to {N2}" in out
    assert masterd_on(cluster3, 2)
    assert not masterd_on(cluster3, 1)
    for k in (1, 2, 3):
        assert ssconf_files(cluster3, k)["ssconf_master_node"] == f"{N2}\n"
    assert ok(cluster3.gnt("gnt-cluster", "getmaster", node=3)).strip() == N2
    assert cluster3.master().name == N2
    # The new master works: it removes a node.
    ok(cluster3.gnt("gnt-node", "remove", N3, node=2))
    # The old master cannot start a master daemon any more.
    res = cluster3.gnt("ganeti-masterd", node=1)
    assert res.returncode == errors.EXIT_NOTMASTER, res.stderr
    assert "not the master" in res.stderr
    # And back.
    ok(cluster3.gnt("gnt-cluster", "masterfailover", node=1))
    assert masterd_on(cluster3, 1) and not masterd_on(cluster3, 2)


def test_failover_without_majority_needs_no_voting(
        cluster3: LocalCluster) -> None:
    ready_for_failover(cluster3)
    # The master and node3 die: node2 alone is no majority of 3.
    for k, daemons in ((1, (constants.MASTERD, constants.NODED)),
                       (3, (constants.NODED,))):
        for name in daemons:
            daemonutil.stop(name, cluster3.node(k).paths)
    res = cluster3.gnt("gnt-cluster", "master-failover", node=2)
    assert res.returncode == errors.EXIT_FAILURE
    assert "1 of 3 master candidate(s) agree" in res.stderr
    assert "2 did not answer" in res.stderr
    res = cluster3.gnt("gnt-cluster", "master-failover", "--no-voting", node=2)
    assert res.returncode == errors.EXIT_CONFIRMATION
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", "--no-voting",
                          "--yes-do-it", node=2))
    assert "could not stop the master role" in out
    assert masterd_on(cluster3, 2)
    assert ok(cluster3.gnt("gnt-cluster", "getmaster", node=2)).strip() == N2
