"""``maintain_node_health`` on a real 2-node local cluster (fake
hypervisor, confd on the candidates): the watcher on a node the cluster
marks offline stops the instances it still runs, once the cluster asks
for it; without it the node is left alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_cluster import running_cluster, wait_for

from ganeti.confd.protocol import NodeRole
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

INSTANCE = "health1.example.com"
DEMO_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"


def ok(cluster: LocalCluster, command: str, *args: str,
       node: int | None = None) -> str:
    res = cluster.gnt(command, *args, node=node)
    assert res.returncode == 0, f"{command} {args}: {res.stdout}{res.stderr}"
    return res.stdout + res.stderr


def runs_on_node2(cluster: LocalCluster) -> bool:
    hv = FakeHypervisor(cluster.node(2).paths.fake_hv_dir)
    return INSTANCE in hv.list_instances()


def confd_role(cluster: LocalCluster, node: str) -> int:
    """Node ``node``'s role as the candidates' confd answer it (they
    reload the configuration a moment after it changed)."""
    env = cluster.env(2)
    code = ("from ganeti.confd.client import ConfdClient\n"
            "from ganeti.confd.protocol import ReqType\n"
            "with ConfdClient.from_cluster() as c:\n"
            f"    print(c.query(ReqType.NODE_ROLE_BYNAME, {node!r}).answer)")
    res = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                         capture_output=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr
    return int(res.stdout)


def offline_watch_online(cluster: LocalCluster) -> str:
    """Mark node 2 offline, run its watcher once confd knows, bring it
    back (until confd knows that too); the watcher log of that run."""
    node2 = cluster.node(2).name
    ok(cluster, "gnt-node", "modify", "-O", "yes", node2)
    wait_for(lambda: confd_role(cluster, node2) == NodeRole.OFFLINE,
             "confd to know node 2 is offline")
    log = Path(cluster.node(2).paths.log_file("watcher"))
    before = log.read_text() if log.exists() else ""
    ok(cluster, "ganeti-watcher", node=2)
    text = log.read_text()[len(before):]
    ok(cluster, "gnt-node", "modify", "-O", "no", node2)
    # confd reloads at most once a second: a watcher run before it
    # knows would still see the node offline.
    wait_for(lambda: confd_role(cluster, node2) != NodeRole.OFFLINE,
             "confd to know node 2 is online again")
    return text


def test_an_offline_node_stops_what_it_runs() -> None:
    with running_cluster("health", 2, rapi=False) as cluster:
        for node in cluster.nodes:
            shutil.copytree(DEMO_OS, Path(node.paths.os_search_path[0])
                            / "ganeti-demo-os")
        ok(cluster, "gnt-instance", "add", "-t", "diskless", "--no-nics",
           "-o", "ganeti-demo-os+minimal", "-n", cluster.node(2).name,
           "--no-name-check", "--no-ip-check", INSTANCE)
        assert runs_on_node2(cluster)

        # Not asked for: an offline node keeps running what it runs.
        text = offline_watch_online(cluster)
        assert runs_on_node2(cluster), text
        assert "Node health" not in text

        ok(cluster, "gnt-cluster", "modify", "--maintain-node-health", "yes")
        text = offline_watch_online(cluster)
        assert not runs_on_node2(cluster), text
        assert "is offline in the cluster's configuration" in text, text
        assert f"Node health: stopped instance {INSTANCE}" in text, text
        status = ok(cluster, "gnt-instance", "list", "--no-headers", "-o",
                    "status", INSTANCE).strip()
        assert status == "ERROR_down"
        # An online node is left alone.
        ok(cluster, "gnt-instance", "startup", INSTANCE)
        ok(cluster, "ganeti-watcher", node=2)
        assert runs_on_node2(cluster)
