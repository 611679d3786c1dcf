"""A real 3-node cluster on loopback: init, launcher, membership, ssconf."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest_cluster import (
    _free_prefix,
    cluster_pids,
    pid_alive,
    ssconf_files,
    wait_for,
)

from ganeti import constants, daemonutil, errors, localcluster
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def identical_ssconf(cluster: LocalCluster, nodes: list[int]) -> bool:
    first = ssconf_files(cluster, nodes[0])
    return bool(first) and all(ssconf_files(cluster, k) == first
                               for k in nodes[1:])


def test_launcher_start_status_stop_leaves_nothing() -> None:
    from conftest_cluster import _free_prefix, short_dir

    base = short_dir()
    directory = Path(base) / "lc"
    tool = [sys.executable, str(REPO / "tools" / "local-cluster")]
    prefix = _free_prefix()
    started = subprocess.run([*tool, "start", str(directory), "--nodes", "3",
                              "--prefix", prefix], capture_output=True,
                             text=True, timeout=300, check=False)
    cluster = LocalCluster.load(str(directory))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        status = subprocess.run([*tool, "status", str(directory)],
                                capture_output=True, text=True, timeout=60,
                                check=False)
        assert status.returncode == 0
        *lines, rapi_line = status.stdout.splitlines()
        assert len(lines) == 3
        assert "ganeti-masterd (pid" in lines[0]
        assert "ganeti-rapi (pid" in lines[0]
        assert all("ganeti-noded (pid" in line for line in lines)
        assert all("ganeti-mond (pid" in line for line in lines)
        assert all("ganeti-confd (pid" in line for line in lines)
        assert f"{prefix}3" in lines[2]
        assert rapi_line == (f"RAPI https://{prefix}1:5080 (user rapi): "
                             "running")
        env_sh = directory / "env.sh"
        out = subprocess.run(
            ["bash", "-c", f". {env_sh} && gnt-cluster getmaster && "
             "echo $GANETI_ROOTDIR"], capture_output=True, text=True,
            timeout=60, check=False, env={"PATH": os.environ["PATH"]})
        assert out.stdout.split() == ["node1.local-cluster.example",
                                      str(directory / "node1")], out.stderr
        pids = cluster_pids(cluster)
        assert len(pids) == 11  # 3 noded, 3 mond, 3 confd, masterd, rapi
    finally:
        stopped = subprocess.run([*tool, "stop", str(directory)],
                                 capture_output=True, text=True, timeout=300,
                                 check=False)
    assert stopped.returncode == 0
    assert len(stopped.stdout.splitlines()) == 11
    assert not any(pid_alive(pid) for pid in pids)
    status = subprocess.run([*tool, "status", str(directory)],
                            capture_output=True, text=True, timeout=60,
                            check=False)
    assert status.returncode == 1
    assert status.stdout.count("not running") == 4  # 3 noded, the RAPI
    shutil.rmtree(base)


def test_cluster_files_and_ssconf_everywhere(cluster3: LocalCluster) -> None:
    master = cluster3.node(1).paths
    for name in ("config.data", "server.pem", "rapi.pem", "hmac.key"):
        assert os.path.exists(os.path.join(master.data_dir, name)), name
    wait_for(lambda: identical_ssconf(cluster3, [1, 2, 3]),
             "identical ssconf files on all nodes")
    files = ssconf_files(cluster3, 3)
    assert files["ssconf_master_node"] == "node1.local-cluster.example\n"
    assert files["ssconf_node_list"].split() == [
        f"node{k}.local-cluster.example" for k in (1, 2, 3)]
    assert files["ssconf_cluster_name"] == "cluster.local-cluster.example\n"
    # The candidates hold the configuration too (default pool size 10).
    assert files["ssconf_master_candidates"].split() == files[
        "ssconf_node_list"].split()
    wait_for(lambda: os.path.exists(cluster3.node(2).paths.cluster_conf_file),
             "config.data on node2")


def test_init_refuses_an_existing_cluster(cluster3: LocalCluster) -> None:
    res = cluster3.gnt("gnt-cluster", "init", "--no-lvm-storage",
                       "--master-ip", "127.0.0.254", "--primary-ip",
                       cluster3.node(1).ip, "again.example")
    assert res.returncode == errors.EXIT_FAILURE
    assert "already initialised" in res.stderr


def test_remove_add_readd(cluster3: LocalCluster) -> None:
    node3 = cluster3.node(3)
    out = ok(cluster3.gnt("gnt-node", "remove", node3.name))
    assert "left the cluster" not in out  # remove reports problems only
    wait_for(lambda: not daemonutil.is_running(constants.NODED, node3.paths),
             "node3's node daemon to stop after leaving")
    assert not os.path.exists(node3.paths.noded_cert_file)
    assert not os.path.exists(node3.paths.ssconf_file("master_node"))
    wait_for(lambda: ssconf_files(cluster3, 1)["ssconf_node_list"].split()
             == ["node1.local-cluster.example", "node2.local-cluster.example"],
             "node3 gone from the ssconf files")
    wait_for(lambda: identical_ssconf(cluster3, [1, 2]), "identical ssconf")
    res = cluster3.gnt("gnt-node", "remove", node3.name)
    assert res.returncode == errors.EXIT_FAILURE
    assert "not known" in res.stderr
    res = cluster3.gnt("gnt-node", "remove", cluster3.node(1).name)
    assert res.returncode == errors.EXIT_FAILURE
    assert "master node" in res.stderr
    # Back again (the node daemon is started anew), then re-added.
    cluster3.add_node(node3)
    wait_for(lambda: identical_ssconf(cluster3, [1, 2, 3]),
             "identical ssconf after the add")
    res = cluster3.gnt("gnt-node", "add", "--root-dir", node3.root,
                       "--primary-ip", node3.ip, node3.name)
    assert res.returncode == errors.EXIT_FAILURE
    assert "already in the configuration" in res.stderr
    out = ok(cluster3.gnt("gnt-node", "add", "--readd", "--root-dir",
                          node3.root, "--primary-ip", node3.ip, node3.name))
    assert "Re-adding node" in out
    wait_for(lambda: identical_ssconf(cluster3, [1, 2, 3]),
             "identical ssconf after the readd")


def test_candidate_promotion_follows_the_pool(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(3, init_args=["-C", "2"])
    wait_for(lambda: identical_ssconf(cluster, [1, 2, 3]), "identical ssconf")
    assert ssconf_files(cluster, 3)["ssconf_master_candidates"].split() == [
        "node1.local-cluster.example", "node2.local-cluster.example"]
    assert not os.path.exists(cluster.node(3).paths.cluster_conf_file)
    ok(cluster.gnt("gnt-node", "remove", cluster.node(2).name))
    wait_for(lambda: ssconf_files(cluster, 3)["ssconf_master_candidates"]
             .split() == ["node1.local-cluster.example",
                          "node3.local-cluster.example"],
             "node3 promoted to master candidate")
    # The promoted node received the candidates' files.
    wait_for(lambda: os.path.exists(cluster.node(3).paths.cluster_conf_file),
             "config.data on the promoted node")


def test_add_fails_clearly_when_node_daemon_is_down(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(2)
    extra = cluster.node(5)
    res = cluster.gnt("gnt-node", "add", "--no-node-setup", "--primary-ip",
                      extra.ip, extra.name)
    assert res.returncode == errors.EXIT_FAILURE
    assert f"Cannot contact the node daemon of {extra.name}" in res.stderr
    assert "Connection refused" in res.stderr
    # A node prepared and then stopped fails the same way.
    node2 = cluster.node(2)
    ok(cluster.gnt("gnt-node", "remove", node2.name))
    wait_for(lambda: not daemonutil.is_running(constants.NODED, node2.paths),
             "node2's daemon to stop")
    res = cluster.gnt("gnt-node", "add", "--no-node-setup", "--primary-ip",
                      node2.ip, node2.name)
    assert res.returncode == errors.EXIT_FAILURE
    assert "Cannot contact the node daemon" in res.stderr
    assert "node_list" not in res.stderr
    assert ssconf_files(cluster, 1)["ssconf_node_list"].split() == [
        "node1.local-cluster.example"]


def test_rename_and_destroy(cluster3: LocalCluster) -> None:
    res = cluster3.gnt("gnt-cluster", "rename", "renamed.local-cluster.example")
    assert res.returncode == errors.EXIT_CONFIRMATION
    ok(cluster3.gnt("gnt-cluster", "rename", "-f",
                    "renamed.local-cluster.example"))
    wait_for(lambda: all(
        ssconf_files(cluster3, k)["ssconf_cluster_name"]
        == "renamed.local-cluster.example\n" for k in (1, 2, 3)),
        "the new name on every node")
    pids = cluster_pids(cluster3)
    res = cluster3.gnt("gnt-cluster", "destroy")
    assert res.returncode == errors.EXIT_FAILURE
    ok(cluster3.gnt("gnt-cluster", "destroy", "--yes-do-it"))
    for node in cluster3.nodes:
        wait_for(lambda node=node: not os.path.exists(
            node.paths.cluster_conf_file) and not os.path.exists(
            node.paths.noded_cert_file), f"{node.name} cleaned up")
        wait_for(lambda node=node: not daemonutil.is_running(
            constants.NODED, node.paths), f"{node.name} daemon stopped")
    assert not daemonutil.is_running(constants.MASTERD,
                                     cluster3.node(1).paths)
    wait_for(lambda: not any(pid_alive(p) for p in pids), "no process left")


def test_a_fresh_cluster_verifies_clean(cluster3: LocalCluster) -> None:
    # Every candidate file (the RAPI users file included) reached every
    # node while the cluster was being built.
    res = cluster3.gnt("gnt-cluster", "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ERROR" not in res.stdout


def _hold(address: str, port: int) -> socket.socket | None:
    """A listening socket on ``address:port``, or None when something else
    holds it already."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


def test_prefix_checks_name_what_is_wrong() -> None:
    for bad in ("127.0.201", "10.0.0.", "127.0.300.", "127.0.", "x.y.z."):
        with pytest.raises(errors.OpPrereqError, match="Invalid address "
                           "prefix"):
            localcluster.check_prefix(bad)
    assert localcluster.check_prefix("127.0.201.") == "127.0.201."
    taken, free = _free_prefix(2), _free_prefix(2)
    held = _hold(f"{taken}2", constants.DEFAULT_NODED_PORT)
    assert held is not None
    with held:
        assert (localcluster.prefix_taken(taken, 2)
                == f"{taken}2:{constants.DEFAULT_NODED_PORT}")
        assert localcluster.prefix_taken(taken, 1) is None
        assert localcluster.free_prefix([taken, free], 2) == free
        with pytest.raises(errors.OpPrereqError, match=f"{taken} is in use"):
            localcluster.choose_prefix(taken, 2)
        with pytest.raises(errors.OpPrereqError, match="No free"):
            localcluster.free_prefix([taken], 2)


def test_launcher_picks_a_free_prefix_when_the_default_is_taken() -> None:
    from conftest_cluster import short_dir

    # Take the default's node 1 address unless something already holds it.
    held = _hold(f"{localcluster.DEFAULT_PREFIX}1",
                 constants.DEFAULT_NODED_PORT)
    base = short_dir()
    directory = Path(base) / "lc"
    tool = [sys.executable, str(REPO / "tools" / "local-cluster")]
    try:
        started = subprocess.run([*tool, "start", str(directory), "--nodes",
                                  "1", "--no-rapi"], capture_output=True,
                                 text=True, timeout=300, check=False)
        assert started.returncode == 0, started.stdout + started.stderr
        prefix = LocalCluster.load(str(directory)).prefix
        assert prefix != localcluster.DEFAULT_PREFIX
        assert prefix in localcluster.default_prefixes()
        status = subprocess.run([*tool, "status", str(directory)],
                                capture_output=True, text=True, timeout=60,
                                check=False)
        assert status.returncode == 0
        assert status.stdout.startswith(
            f"node1.local-cluster.example {prefix}1: ganeti-noded (pid")
        # Asked for explicitly, a taken prefix is refused, naming why.
        again = subprocess.run([*tool, "start", f"{directory}2", "--nodes",
                                "1", "--prefix", prefix], capture_output=True,
                               text=True, timeout=60, check=False)
        assert again.returncode == 1
        assert again.stderr == (
            f"local-cluster: Address prefix {prefix} is in use ({prefix}1:"
            f"{constants.DEFAULT_NODED_PORT} is taken); give another with "
            "--prefix, or none to pick a free one\n")
        assert not os.path.exists(f"{directory}2")
    finally:
        subprocess.run([*tool, "stop", str(directory)], capture_output=True,
                       timeout=300, check=False)
        if held is not None:
            held.close()
        shutil.rmtree(base)


def test_demo_refuses_a_bad_prefix_before_touching_anything(
        tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "keep").write_text("")
    res = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"),
                          str(directory), "--prefix", "10.1.2."],
                         capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1].endswith(
        "Invalid address prefix '10.1.2.': give the first three octets of a "
        "loopback address and a dot, e.g. 127.0.201.")
    assert (directory / "keep").exists()
