"""Node roles and membership on a real local cluster: a promoted master
candidate receives the candidates' files, a demoted one drops them, the
upload list follows the configuration, and a removed node can be added
again at once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from conftest_cluster import (
    node_file,
    node_rpc,
    ok,
    pid_alive,
    ssconf_files,
    wait_for,
    write_master,
)

from ganeti import constants, daemon, daemonutil, pathutils, redist
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

CONF = pathutils.Paths("")
EXTRA_MC = "/etc/ganeti/extra-for-candidates"
VNC = "/etc/ganeti/vnc-x"


def fingerprints(cluster: LocalCluster, index: int,
                 paths: list[str]) -> dict[str, Any]:
    name = cluster.node(index).name
    with node_rpc(cluster) as rpc:
        res = rpc.call_fingerprint_files([name], paths)[name]
    assert res.fail_msg is None, res.fail_msg
    return dict(res.payload)


def queue_names(cluster: LocalCluster, index: int) -> list[str]:
    try:
        return sorted(os.listdir(cluster.node(index).paths.queue_dir))
    except FileNotFoundError:
        return []


def test_promotion_ships_files_and_demotion_drops_them(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(3, init_args=["-C", "1"])
    n3 = cluster.node(3)
    ok(cluster.gnt("gnt-cluster", "modify", "--add-redist-file",
                   f"{EXTRA_MC}:candidates", "-H",
                   f"kvm:vnc_password_file={VNC}"))
    write_master(cluster, CONF.rapi_users_file, "admin pw1 write\n")
    write_master(cluster, EXTRA_MC, "for candidates\n")
    write_master(cluster, VNC, "vnc secret\n")
    # The upload list on the nodes names both (ssconf, pushed in the
    # background): the cluster-level VNC file is not the default one.
    wait_for(lambda: ssconf_files(cluster, 3).get("ssconf_redist_files", "")
             .splitlines() == [f"{EXTRA_MC} candidates", f"{VNC} all"],
             "the redist_files ssconf value on node3")
    assert not node_file(cluster, 3, CONF.cluster_conf_file).exists()
    assert not node_file(cluster, 3, EXTRA_MC).exists()

    ok(cluster.gnt("gnt-node", "modify", "-C", "yes", n3.name))
    # No redist-conf: the promotion itself shipped every file.
    files = [p for p, _ in redist.static_files()] + [EXTRA_MC, VNC]
    master_sums = fingerprints(cluster, 1, files)
    assert master_sums[EXTRA_MC] is not None and master_sums[VNC] is not None
    # config.data may be replaced by a later write meanwhile: poll.
    wait_for(lambda: fingerprints(cluster, 3, files)
             == fingerprints(cluster, 1, files),
             "node3's files to match the master's")
    assert {"serial"} <= set(queue_names(cluster, 3))
    assert any(name.startswith("job-") for name in queue_names(cluster, 3))
    # node2 (no candidate) gets the VNC file from redist-conf; it accepts
    # the upload because ssconf_redist_files lists it.
    assert not node_file(cluster, 2, VNC).exists()
    ok(cluster.gnt("gnt-cluster", "redist-conf"))
    assert node_file(cluster, 2, VNC).read_text() == "vnc secret\n"
    assert not node_file(cluster, 2, EXTRA_MC).exists()
    res = cluster.gnt("gnt-cluster", "verify", "--error-codes")
    assert res.returncode == 0, res.stdout + res.stderr

    ok(cluster.gnt("gnt-node", "modify", "-C", "no", n3.name))
    for path in (CONF.cluster_conf_file, CONF.rapi_cert_file,
                 CONF.rapi_users_file, EXTRA_MC):
        assert not node_file(cluster, 3, path).exists(), path
    assert node_file(cluster, 3, VNC).read_text() == "vnc secret\n"
    assert [n for n in queue_names(cluster, 3)
            if n == "serial" or n.startswith("job-")] == []
    res = cluster.gnt("gnt-cluster", "verify", "--error-codes")
    assert res.returncode == 0, res.stdout + res.stderr


def test_removed_node_can_be_added_again_at_once(
        cluster3: LocalCluster) -> None:
    """The removed node's daemon stops itself a moment after answering
    node_leave_cluster; adding the node again right away must not keep
    that dying daemon but start a new one."""
    n3 = cluster3.node(3)
    pid_file = n3.paths.pid_file(constants.NODED)
    old_pid = daemon.read_pid(pid_file)
    assert old_pid is not None
    ok(cluster3.gnt("gnt-node", "remove", n3.name))
    cluster3.add_node(n3)
    new_pid = daemonutil.running_pid(constants.NODED, n3.paths)
    assert new_pid is not None and new_pid != old_pid
    assert not pid_alive(old_pid)
    with node_rpc(cluster3) as rpc:
        res = rpc.call_version([n3.name])[n3.name]
    assert res.fail_msg is None and res.payload == constants.PROTOCOL_VERSION
    out = ok(cluster3.gnt("gnt-node", "list", "--no-headers", "-o",
                          "name,pinst_cnt"))
    assert n3.name in out.split()
    wait_for(lambda: ssconf_files(cluster3, 3).get("ssconf_node_list", "")
             .split() == [n.name for n in cluster3.nodes],
             "node3's ssconf files")
