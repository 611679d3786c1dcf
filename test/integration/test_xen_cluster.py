"""Xen on two-node local clusters (xen-pvm and xen-hvm), the drivers'
real code driving the xl stand-in (ganeti.standins.xl) on every node:
an instance's whole life cycle through the gnt-* commands (add, start,
stop, reboot, migrate live and non-live, failover, remove), a plain
instance's disk in the domain configuration, bad input refused with one
line naming the instance and the node and leaving no domain behind, and
stopping the cluster leaving no migration receiver."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest_cluster import ok

from ganeti import constants
from ganeti.hypervisor.xen import xlcfg
from ganeti.localcluster import LocalCluster
from ganeti.standins import xl as standin

pytestmark = [pytest.mark.integration]

OS_SRC = Path(__file__).resolve().parents[2] / "doc/examples/os/ganeti-demo-os"
N1, N2 = "node1.local-cluster.example", "node2.local-cluster.example"


def xen_cluster(make_cluster: Callable[..., LocalCluster],
                hv: str) -> LocalCluster:
    cluster = make_cluster(2, hypervisor=hv, rapi=False)
    for node in cluster.nodes:
        shutil.copytree(OS_SRC, node.paths.under(
            "/srv/ganeti/os/ganeti-demo-os"), dirs_exist_ok=True)
    return cluster


def gnt(cluster: LocalCluster, cmd: str, *args: str) -> str:
    return ok(cluster.gnt(cmd, *args))


def domains(cluster: LocalCluster, index: int) -> dict[str, str]:
    """Domain name -> state flags on node ``index``, from ``xl list``."""
    state = standin.domains(standin.state_dir(cluster.node(index).paths))
    return {name: dom["flags"] for name, dom in state.items()}


def field(cluster: LocalCluster, name: str, fields: str) -> list[str]:
    return gnt(cluster, "gnt-instance", "list", "--no-headers", "-o", fields,
               name).split()


def xl_calls(cluster: LocalCluster, index: int, command: str) -> list[list[str]]:
    return [argv for argv in standin.recorded_argv(standin.state_dir(
        cluster.node(index).paths)) if argv[1] == command]


@pytest.mark.parametrize("hv", [constants.HT_XEN_PVM, constants.HT_XEN_HVM])
def test_instance_life_cycle(make_cluster: Callable[..., LocalCluster],
                             hv: str) -> None:
    cluster = xen_cluster(make_cluster, hv)
    name = "x1.example.com"
    gnt(cluster, "gnt-instance", "add", "-t", "diskless", "-o",
        "ganeti-demo-os+minimal", "--no-name-check", "--no-ip-check", "-B",
        "memory=96,vcpus=2", "-n", N1, name)
    assert field(cluster, name, "status,oper_ram,oper_vcpus,pnode") == [
        "running", "96M", "2", N1]
    assert domains(cluster, 1) == {name: "r"}
    gnt(cluster, "gnt-instance", "reboot", "--type=soft", name)
    assert xl_calls(cluster, 1, "reboot") == [
        ["xl", "reboot", *(["-F"] if hv == constants.HT_XEN_HVM else []),
         name]]
    # Node memory from xl info and xl list (16 GiB, 1 GiB for Domain-0).
    assert gnt(cluster, "gnt-node", "list", "--no-headers", "-o",
               "mtotal,mnode", N1).split() == ["16.0G", "1.0G"]
    gnt(cluster, "gnt-instance", "migrate", "-f", name)
    assert field(cluster, name, "pnode,status") == [N2, "running"]
    assert domains(cluster, 1) == {} and domains(cluster, 2) == {name: "r"}
    (migrate,) = xl_calls(cluster, 1, "migrate")
    assert migrate[2:4] == ["-s", f"socat - TCP:{cluster.node(2).ip}:8002 #"]
    gnt(cluster, "gnt-instance", "migrate", "-f", "--non-live", name)
    assert field(cluster, name, "pnode,status") == [N1, "running"]
    assert xl_calls(cluster, 2, "pause") == [["xl", "pause", name]]
    assert domains(cluster, 1) == {name: "r"} and domains(cluster, 2) == {}
    gnt(cluster, "gnt-instance", "failover", "-f", name)
    assert field(cluster, name, "pnode,status") == [N2, "running"]
    assert domains(cluster, 1) == {} and domains(cluster, 2) == {name: "r"}
    gnt(cluster, "gnt-instance", "shutdown", name)
    assert field(cluster, name, "status") == ["ADMIN_down"]
    assert domains(cluster, 2) == {}
    gnt(cluster, "gnt-instance", "startup", name)
    assert domains(cluster, 2) == {name: "r"}
    gnt(cluster, "gnt-instance", "remove", "-f", name)
    assert domains(cluster, 1) == domains(cluster, 2) == {}
    for node_index in (1, 2):
        run = Path(cluster.node(node_index).paths.run_dir) / "xen-hypervisor"
        assert not [p for p in run.rglob("*") if p.is_file() or p.is_symlink()]


def test_plain_disk_and_bad_input(make_cluster: Callable[..., LocalCluster]
                                  ) -> None:
    cluster = xen_cluster(make_cluster, constants.HT_XEN_PVM)
    name = "p1.example.com"
    gnt(cluster, "gnt-instance", "add", "-t", "plain", "--disk", "0:size=64m",
        "-o", "ganeti-demo-os+minimal", "--no-name-check", "--no-ip-check",
        "-H", "kernel_args=ro quiet", "-n", N1, name)
    paths = cluster.node(1).paths
    config = xlcfg.parse(Path(paths.run_dir, "xen-hypervisor", "conf",
                              f"{name}.cfg").read_text())
    link = os.path.join(paths.run_dir, "xen-hypervisor", "disks", f"{name}:0")
    assert config["disk"] == [f"phy:{link},sda,w"]
    assert os.path.exists(os.readlink(link))
    assert config["extra"] == "ro quiet"
    assert config["vif"] == [f"mac={field(cluster, name, 'nic.mac/0')[0]},"
                             "bridge=xen-br0"]
    gnt(cluster, "gnt-instance", "remove", "-f", name)

    # A kernel the node does not have: one line, nothing left behind.
    res = cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o",
                      "ganeti-demo-os+minimal", "--no-name-check", "--no-ip-check",
                      "-H", "kernel_path=/boot/vmlinuz-missing", "-n", N1,
                      "bad.example.com")
    assert res.returncode != 0
    assert (f"Instance bad.example.com on node {N1}: hvparams 'xen-pvm':"
            " parameter 'kernel_path': /boot/vmlinuz-missing is not an"
            " existing file on this node") in res.stderr
    assert domains(cluster, 1) == {}
    gnt(cluster, "gnt-instance", "remove", "-f", "bad.example.com")
    # xl itself failing: its stderr tail is in the error.
    standin.arm_failure(standin.state_dir(paths), "create",
                        "xc_dom_boot_image: out of memory", leave_domain=True)
    res = cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o",
                      "ganeti-demo-os+minimal", "--no-name-check", "--no-ip-check",
                      "-n", N1, "bad2.example.com")
    assert res.returncode != 0
    assert (f"Instance bad2.example.com: 'xl create' failed on node {N1}:"
            " libxl: error: xc_dom_boot_image: out of memory") in res.stderr
    assert domains(cluster, 1) == {}
    assert xl_calls(cluster, 1, "destroy")[-1] == ["xl", "destroy",
                                                   "bad2.example.com"]
