"""KVM on a real two-node local cluster (qemu under TCG): an instance
with the default NIC starts on the cluster's bridge, migrates live
(diskless, and with a file disk through the block mirror, its content
unchanged), fails over, and stopping the cluster leaves no qemu and no
bridge.  Guests here need no OS (BIOS only); booting a real guest is
test_kvm_guest.py's."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import _free_prefix, ok, short_dir, wait_for
from kvm_guest_support import DEMO_OS, kvm_demo_cluster

from ganeti import constants
from ganeti.localcluster import LocalCluster

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                                 reason=f"{constants.KVM_PATH} missing")]

N1, N2 = "node1.local-cluster.example", "node2.local-cluster.example"


@pytest.fixture(scope="module")
def kvm_cluster() -> Iterator[LocalCluster]:
    with kvm_demo_cluster(2) as cluster:
        yield cluster


def gnt(cluster: LocalCluster, cmd: str, *args: str) -> str:
    return ok(cluster.gnt(cmd, *args))


def _qemus(cluster: LocalCluster) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "kvm-hypervisor"], capture_output=True,
                         text=True, check=False).stdout
    return [line for line in out.splitlines() if cluster.directory in line]


def _primary(cluster: LocalCluster, name: str) -> str:
    return gnt(cluster, "gnt-instance", "list", "--no-headers", "-o", "pnode",
               name).strip()


def _add(cluster: LocalCluster, name: str, *args: str) -> None:
    gnt(cluster, "gnt-instance", "add", "-o", "ganeti-demo-os+minimal",
        "--no-name-check", "--no-ip-check", "-B", "memory=64", "-n", N1,
        *args, name)


def test_default_nic_on_the_cluster_bridge_and_live_migration(
        kvm_cluster: LocalCluster) -> None:
    name = "diskless.example.com"
    _add(kvm_cluster, name, "-t", "diskless")
    status = gnt(kvm_cluster, "gnt-instance", "list", "--no-headers", "-o",
                 "status,oper_ram", name).split()
    assert status == ["running", "64M"]
    ports = subprocess.run(["ip", "-o", "link", "show", "master",
                            kvm_cluster.bridge], capture_output=True,
                           text=True, check=True).stdout
    assert "gnt" in ports
    out = gnt(kvm_cluster, "gnt-instance", "migrate", "-f", name)
    assert "memory transfer complete, downtime" in out
    assert _primary(kvm_cluster, name) == N2
    assert kvm_cluster.gnt("gnt-cluster", "verify").returncode == 0
    out = gnt(kvm_cluster, "gnt-instance", "failover", "-f",
              "--shutdown-timeout=0", name)
    assert _primary(kvm_cluster, name) == N1
    assert gnt(kvm_cluster, "gnt-instance", "list", "--no-headers", "-o",
               "status", name).strip() == "running"
    gnt(kvm_cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        name)


def test_file_disk_migrates_without_shared_storage(
        kvm_cluster: LocalCluster) -> None:
    name = "filedisk.example.com"
    _add(kvm_cluster, name, "-t", "file", "--disk", "0:size=128M")
    disk = f"/srv/ganeti/file-storage/{name}/disk0"
    on1 = Path(kvm_cluster.node(1).paths.under(disk))
    before = hashlib.sha256(on1.read_bytes()).hexdigest()
    out = gnt(kvm_cluster, "gnt-instance", "migrate", "-f", name)
    assert "disks mirrored" in out and "removing the disks" in out
    assert _primary(kvm_cluster, name) == N2
    on2 = Path(kvm_cluster.node(2).paths.under(disk))
    assert hashlib.sha256(on2.read_bytes()).hexdigest() == before
    assert not on1.exists()
    assert kvm_cluster.gnt("gnt-cluster", "verify").returncode == 0
    gnt(kvm_cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        name)


def test_plain_disk_migrates_through_the_block_mirror(
        kvm_cluster: LocalCluster) -> None:
    """An LV (on the local cluster's lvm2 simulator, a file-backed LV) is
    local to its node too: it is created on the target and mirrored."""
    name = "plaindisk.example.com"
    _add(kvm_cluster, name, "-t", "plain", "--disk", "0:size=64M")
    out = gnt(kvm_cluster, "gnt-instance", "migrate", "-f", name)
    assert "disks mirrored" in out and "removing the disks" in out
    assert _primary(kvm_cluster, name) == N2
    info = gnt(kvm_cluster, "gnt-instance", "info", name)
    assert "xenvg/" in info
    assert kvm_cluster.gnt("gnt-cluster", "verify").returncode == 0
    gnt(kvm_cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        name)


def test_failed_migration_names_qemus_reason_and_keeps_the_source(
        kvm_cluster: LocalCluster) -> None:
    name = "blocked.example.com"
    _add(kvm_cluster, name, "-t", "diskless")
    # Node 2 cannot listen: its migration port is taken there.
    import socket

    port = int(gnt(kvm_cluster, "gnt-cluster", "info").split(
        "migration_port: ")[1].split()[0])
    holder = socket.socket()
    # Over a TIME_WAIT left by an earlier migration; a listener still
    # keeps qemu from binding the port.
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((kvm_cluster.node(2).ip, port))
    holder.listen()
    try:
        res = kvm_cluster.gnt("gnt-instance", "migrate", "-f", name)
    finally:
        holder.close()
    assert res.returncode != 0
    assert "Address already in use" in res.stdout + res.stderr
    assert _primary(kvm_cluster, name) == N1
    assert gnt(kvm_cluster, "gnt-instance", "list", "--no-headers", "-o",
               "status", name).strip() == "running"
    gnt(kvm_cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        name)


def test_stopping_the_cluster_leaves_nothing(tmp_path: Path) -> None:
    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, "kvm"), nodes=1,
                           hypervisor=constants.HT_KVM, prefix=_free_prefix(1),
                           rapi=False)
    try:
        cluster.start()
        shutil.copytree(DEMO_OS, cluster.node(1).paths.under(
            "/srv/ganeti/os/ganeti-demo-os"))
        ok(cluster.gnt("gnt-instance", "add", "-t", "diskless", "-n",
                       cluster.node(1).name, "-o", "ganeti-demo-os+minimal",
                       "--no-name-check", "--no-ip-check", "-B", "memory=32",
                       "left.example.com"))
        assert len(_qemus(cluster)) == 1
    finally:
        stopped = cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
    assert "qemu of left.example.com" in stopped
    assert f"bridge {cluster.bridge}" in stopped
    assert _qemus(cluster) == []


def test_watcher_restarts_a_killed_qemu(kvm_cluster: LocalCluster) -> None:
    """ganeti-watcher (doc/design/watcher.rst) on the master: a guest
    whose qemu was killed is started again, and the log says why."""
    name = "watched.example.com"
    _add(kvm_cluster, name, "-t", "diskless")
    (line,) = [q for q in _qemus(kvm_cluster) if f"-name {name}" in q]
    os.kill(int(line.split()[0]), signal.SIGKILL)
    wait_for(lambda: gnt(kvm_cluster, "gnt-instance", "list", "--no-headers",
                         "-o", "status", name).strip() == "ERROR_down",
             "the instance seen down")
    ok(kvm_cluster.gnt("ganeti-watcher"))
    assert gnt(kvm_cluster, "gnt-instance", "list", "--no-headers", "-o",
               "status", name).strip() == "running"
    (again,) = [q for q in _qemus(kvm_cluster) if f"-name {name}" in q]
    assert again.split()[0] != line.split()[0]
    log = Path(kvm_cluster.master().paths.log_file("watcher")).read_text()
    assert f"Restarting instance {name} (should run, found ERROR_down" in log
    gnt(kvm_cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        name)
