"""``gnt-cluster verify`` finds what happened to instances behind the
cluster's back, on a real 3-node local cluster: the fake hypervisor's
state on a node changed directly (a stopped instance, an orphan, an
instance on the wrong node, one marked down that runs) and a disk file
removed from its node."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest_cluster import ok

from ganeti import constants, objects, pathutils
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

EXAMPLE_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
OS_NAME = "ganeti-demo-os+minimal"
WEB, DB, OFF = ("web1.local-cluster.example", "db1.local-cluster.example",
                "off1.local-cluster.example")
GHOST = "ghost.local-cluster.example"


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster],
            monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "1024")
    lc = make_cluster(3)
    for node in lc.nodes:
        target = Path(node.paths.os_search_path[0]) / "ganeti-demo-os"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXAMPLE_OS, target)
    return lc


def hv(lc: LocalCluster, index: int) -> FakeHypervisor:
    return FakeHypervisor(state_dir=lc.node(index).paths.fake_hv_dir)


def run_behind_the_back(lc: LocalCluster, index: int, name: str) -> None:
    """Start ``name`` in node ``index``'s fake hypervisor directly."""
    inst = objects.Instance(name=name, primary_node=lc.node(index).name,
                            hypervisor=constants.HT_FAKE,
                            disk_template=constants.DT_DISKLESS)
    hv(lc, index).start_instance(inst, [], {}, {"maxmem": 32, "vcpus": 1}, [])


def verify(lc: LocalCluster) -> tuple[int, list[str]]:
    """Exit code and problem lines (notes left out) of verify."""
    res = lc.gnt("gnt-cluster", "verify", "--error-codes")
    lines = [line.split(" - ", 1)[1] for line in res.stdout.splitlines()
             if " - " in line]
    return res.returncode, [line for line in lines
                            if not line.startswith("NOTICE:")]


def test_instances_changed_behind_the_clusters_back(
        cluster: LocalCluster) -> None:
    lc = cluster
    n1, n2, n3 = (lc.node(k).name for k in (1, 2, 3))

    def add(name: str, node: str, ip: str, *extra: str) -> None:
        ok(lc.gnt("gnt-instance", "add", "--no-name-check", "--no-ip-check",
                  "-o", OS_NAME, "-n", node, "-B", "memory=64", "--net",
                  f"0:mode=routed,link=100,ip={ip}", *extra, name))

    add(WEB, n1, "198.51.100.10", "-t", "file", "--disk", "0:size=8M")
    add(DB, n2, "198.51.100.11", "-t", "diskless")
    add(OFF, n1, "198.51.100.12", "-t", "file", "--disk", "0:size=8M",
        "--no-start")
    res = lc.gnt("gnt-cluster", "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ERROR" not in res.stdout and "WARNING" not in res.stdout
    assert "NOTICE: 3 non-redundant instance(s) found." in res.stdout

    # Stopped on its node while marked up.
    hv(lc, 1).stop_instance(WEB, force=True)
    assert verify(lc) == (1, [
        f"ERROR:EINSTANCEDOWN:instance:{WEB}:instance not running on its "
        f"primary node {n1}"])
    ok(lc.gnt("gnt-instance", "startup", WEB))
    assert verify(lc) == (0, [])

    # An instance the configuration does not know, and one running on a
    # node other than its primary.
    run_behind_the_back(lc, 3, GHOST)
    run_behind_the_back(lc, 3, DB)
    assert verify(lc) == (1, [
        f"ERROR:EINSTANCEWRONGNODE:instance:{DB}:instance should not run "
        f"on node {n3}",
        f"ERROR:ENODEORPHANINSTANCE:node:{n3}:instance {GHOST} on node {n3}"
        " should not exist"])
    for name in (GHOST, DB):
        hv(lc, 3).stop_instance(name, force=True)

    # Marked down, yet running on its primary node.
    run_behind_the_back(lc, 1, OFF)
    assert verify(lc) == (1, [
        f"ERROR:EINSTANCEUPWHENDOWN:instance:{OFF}:instance is marked as "
        f"down but runs on its primary node {n1}"])
    hv(lc, 1).stop_instance(OFF, force=True)
    assert verify(lc) == (0, [])

    # A disk file removed from the node.
    configured = f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{OFF}/disk0"
    os.remove(lc.node(1).paths.under(configured))
    assert verify(lc) == (1, [
        f"ERROR:EINSTANCEMISSINGDISK:instance:{OFF}:volume {configured} "
        f"missing on node {n1} (disk/0)"])
