"""redist-conf, verify and file replication on a real 3-node cluster."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from conftest_cluster import (
    node_file,
    node_rpc,
    ok,
    running_cluster,
    wait_for,
    write_master,
)

from ganeti import bootstrap, constants, daemon, daemonutil, pathutils, redist
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

CONF = pathutils.Paths("")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A started 3-node local cluster, shared by the tests (each leaves
    every daemon running and the files verify checks in sync)."""
    with running_cluster("redist", 3) as started:
        yield started


def run(cluster: LocalCluster, command: str, *args: str
        ) -> subprocess.CompletedProcess[str]:
    return cluster.gnt(command, *args)


def verify(cluster: LocalCluster) -> tuple[int, list[str]]:
    res = run(cluster, "gnt-cluster", "verify", "--error-codes")
    return res.returncode, [line.split(" - ", 1)[1]
                            for line in res.stdout.splitlines()
                            if " - " in line]


def test_redist_conf_tampering_drift_and_a_stopped_node(
        cluster: LocalCluster) -> None:
    vnc = CONF.vnc_password_file
    # kvm is not in this build; its cluster default still names a file.
    ok(run(cluster, "gnt-cluster", "modify", "-H",
           f"kvm:vnc_password_file={vnc}"))
    write_master(cluster, vnc, "secret-1\n")
    write_master(cluster, CONF.rapi_users_file, "admin pw1 write\n")
    out = ok(run(cluster, "gnt-cluster", "redist-conf"))
    # Nodes joined without SSH: no known_hosts, and no warning about it.
    assert "known_hosts" not in out
    for k in (2, 3):
        assert node_file(cluster, k, vnc).read_text() == "secret-1\n"
        assert node_file(cluster, k, CONF.rapi_users_file).read_text() == \
            "admin pw1 write\n"
    code, problems = verify(cluster)
    assert (code, problems) == (0, [])

    # A changed password file that was not redistributed is reported.
    write_master(cluster, vnc, "secret-2\n")
    node_file(cluster, 3, CONF.rapi_users_file).write_text("intruder x w\n")
    code, problems = verify(cluster)
    n2, n3 = cluster.node(2).name, cluster.node(3).name
    assert code == 1
    assert (f"ERROR:ENODEFILECHECK:node:{n3}:file '{CONF.rapi_users_file}' "
            "has wrong checksum") in "\n".join(problems)
    for name in (n2, n3):
        assert f"ERROR:ENODEFILECHECK:node:{name}:file '{vnc}' has wrong " \
            "checksum" in "\n".join(problems)
    ok(run(cluster, "gnt-cluster", "redist-conf"))
    assert verify(cluster) == (0, [])

    # ssconf drift on one node.
    drifted = node_file(cluster, 2, CONF.ssconf_file("cluster_tags"))
    drifted.chmod(0o644)
    drifted.write_text("bogus-tag\n")
    code, problems = verify(cluster)
    assert code == 1
    assert problems == [f"ERROR:ENODEFILECHECK:node:{n2}:ssconf files out "
                        "of sync with the configuration: "
                        f"{CONF.ssconf_file('cluster_tags')}"]
    ok(run(cluster, "gnt-cluster", "redist-conf"))
    assert verify(cluster) == (0, [])

    # A stopped node daemon.
    pid = daemon.read_pid(cluster.node(3).paths.pid_file("ganeti-noded"))
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not daemon.is_running(
        cluster.node(3).paths.pid_file("ganeti-noded")), "noded to stop")
    code, problems = verify(cluster)
    assert code == 1
    assert problems[0].startswith(f"ERROR:ENODERPC:node:{n3}:while "
                                  "contacting node: ")
    # Started again, the node answers and verify is clean.
    node3 = cluster.node(3)
    daemonutil.start(constants.NODED, ["-b", node3.ip], env=cluster.env(node3))
    # The daemon holds its pid file before it listens: wait until it answers.
    bootstrap.wait_for_noded(node3.name, node3.ip, paths=node3.paths,
                             cert_file=cluster.node(1).paths.noded_cert_file)
    assert verify(cluster) == (0, [])


def test_upload_off_the_list_is_refused(cluster: LocalCluster) -> None:
    target = cluster.node(2).name
    with node_rpc(cluster) as rpc:
        args = (redist.encode_data(b"x"), 0o644, -1, -1, 0, 0)
        res = rpc.call_upload_file([target], "/etc/passwd", *args)[target]
        assert res.fail_msg is not None and "refused" in res.fail_msg
        assert not node_file(cluster, 2, "/etc/passwd").exists()
        res = rpc.call_upload_file([target], "/var/lib/ganeti/../../../etc/x",
                                   *args)[target]
        assert res.fail_msg is not None
        # The same file through copyfile (the admin's tool) is written.
        res = rpc.call_copyfile([target], "/srv/copied", *args)[target]
        assert res.fail_msg is None
        assert node_file(cluster, 2, "/srv/copied").read_bytes() == b"x"


def test_copyfile_and_command(cluster: LocalCluster) -> None:
    write_master(cluster, "/srv/note.txt", "hello\n")
    ok(run(cluster, "gnt-cluster", "copyfile",
           cluster.node(1).paths.under("/srv/note.txt")))
    for k in (2, 3):
        assert node_file(cluster, k, "/srv/note.txt").read_text() == "hello\n"
    out = ok(run(cluster, "gnt-cluster", "command", "-n",
                 cluster.node(2).name, "echo", "hi there"))
    assert f"node: {cluster.node(2).name}" in out
    assert "hi there" in out and "return code = 0" in out
    res = run(cluster, "gnt-cluster", "command", "false")
    assert res.returncode == 1 and res.stdout.count("return code = 1") == 3


def test_job_queue_reaches_the_candidates(cluster: LocalCluster) -> None:
    out = ok(run(cluster, "gnt-debug", "delay", "--submit", "0"))
    job_id = out.strip().split()[-1]
    name = f"job-{job_id}"
    master_job = node_file(cluster, 1, os.path.join(CONF.queue_dir, name))
    wait_for(lambda: all(
        node_file(cluster, k, os.path.join(CONF.queue_dir, name)).exists()
        and node_file(cluster, k, os.path.join(CONF.queue_dir, name))
        .read_bytes() == master_job.read_bytes()
        for k in (2, 3)), "the job file on both candidates")
