"""Ganeti 2.6+ backend parameters, node parameters and the OS interface
on a real local cluster (2 nodes, RAPI, the demo OS): ``-B maxmem/minmem``
through the CLI and the RAPI, shown by info and list; ``memory`` still
setting both; ``always_failover`` making migrate a failover; an OS with
variants refused without one; names of disks and NICs reaching the OS
scripts; ``--node-parameters``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ganeti.config import journal
from ganeti.localcluster import LocalCluster

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support"]

OS = "ganeti-demo-os+minimal"
DEMO_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"


def gnt(cluster: LocalCluster, command: str, *args: str) -> str:
    res = cluster.gnt(command, *args)
    assert res.returncode == 0, f"{command} {args}: {res.stdout}{res.stderr}"
    return res.stdout


def fails(cluster: LocalCluster, message: str, command: str,
          *args: str) -> None:
    res = cluster.gnt(command, *args)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out


def add(cluster: LocalCluster, name: str, *extra: str) -> None:
    gnt(cluster, "gnt-instance", "add", "-t", "diskless", "--no-nics",
        "-n", cluster.node(1).name, "--no-name-check", "--no-ip-check",
        "--no-start", *extra, name)


def stored(cluster: LocalCluster, name: str) -> dict[str, object]:
    path = cluster.master().paths.cluster_conf_file
    data = journal.read_document(path)
    assert data["version"] == 2060000
    result: dict[str, object] = data["instances"][name]
    return result


def test_maxmem_and_minmem_through_cli_info_and_list(
        rapi_cluster: LocalCluster) -> None:
    c = rapi_cluster
    name = "mem1.example.com"
    add(c, name, "-o", OS, "-B", "maxmem=192,minmem=96")
    assert stored(c, name)["beparams"] == {"maxmem": 192, "minmem": 96}
    info = gnt(c, "gnt-instance", "info", "--static", name)
    assert "- maxmem: 192" in info and "- minmem: 96" in info
    assert "- always_failover: default (False)" in info
    out = gnt(c, "gnt-instance", "list", "--no-headers", "--units=m",
              "--separator=|", "-o", "name,be/maxmem,be/minmem,be/memory",
              name)
    assert out.split() == [f"{name}|192|96|192"]
    # memory, Ganeti's name before 2.6, sets both.
    out = gnt(c, "gnt-instance", "modify", "-B", "memory=160", name)
    assert "be/maxmem -> 160" in out and "be/minmem -> 160" in out
    assert stored(c, name)["beparams"] == {"maxmem": 160, "minmem": 160}
    fails(c, "minmem (200) must not be greater than maxmem (160)",
          "gnt-instance", "modify", "-B", "minmem=200", name)
    assert stored(c, name)["beparams"] == {"maxmem": 160, "minmem": 160}
    gnt(c, "gnt-instance", "remove", "-f", name)


def test_migrate_of_an_always_failover_instance_fails_over(
        rapi_cluster: LocalCluster) -> None:
    """As Ganeti: ``always_failover`` turns a migration into a failover
    (the instance stops on one node and starts on the other)."""
    c = rapi_cluster
    name = "afo1.example.com"
    add(c, name, "-o", OS, "-B", "always_failover=true")
    gnt(c, "gnt-instance", "startup", name)
    out = gnt(c, "gnt-instance", "migrate", "-f", name)
    assert "set to always fail over (always_failover)" in out, out
    assert f"shutting down instance {name}" in out, out
    assert f"starting instance {name} on node {c.node(2).name}" in out, out
    listed = gnt(c, "gnt-instance", "list", "--no-headers", "-o",
                 "pnode,status", name)
    assert listed.split() == [c.node(2).name, "running"]
    gnt(c, "gnt-instance", "remove", "-f", name)


def test_an_os_with_variants_needs_one(rapi_cluster: LocalCluster) -> None:
    c = rapi_cluster
    fails(c, "OS name 'ganeti-demo-os' must include a variant (one of"
          " minimal, full)", "gnt-instance", "add", "-t", "diskless",
          "--no-nics", "-o", "ganeti-demo-os", "-n", c.node(1).name,
          "--no-name-check", "--no-ip-check", "var1.example.com")
    out = gnt(c, "gnt-instance", "list", "--no-headers", "-o", "name")
    assert "var1.example.com" not in out.split()


def test_rapi_bodies_and_answers_speak_maxmem(rapi_cluster: LocalCluster,
                                              rapi: Rapi) -> None:
    node1 = rapi_cluster.node(1).name
    name = "rapimem.example.com"
    job = rapi.wait(rapi.write("POST", "/2/instances", rapi.create_body(
        name, node1, beparams={"maxmem": 96, "minmem": 48})))
    assert job["status"] == "success", job["opresult"]
    inst = rapi.get(f"/2/instances/{name}")
    assert inst["custom_beparams"] == {"maxmem": 96, "minmem": 48}
    assert inst["beparams"]["maxmem"] == 96
    assert inst["beparams"]["minmem"] == 48
    assert inst["beparams"]["memory"] == 96  # for clients of Ganeti 2.1
    assert inst["oper_ram"] == 96
    changes = rapi.run("PUT", f"/2/instances/{name}/modify",
                       {"beparams": {"maxmem": 128}})
    assert ["be/maxmem", 128] in changes
    status, body, _ = rapi.request(
        "PUT", f"/2/instances/{name}/modify",
        {"beparams": {"minmem": 256}}, user=rapi.writer)
    if status == 200:
        job = rapi.wait(body)
        assert job["status"] == "error"
        assert "minmem (256) must not be greater" in json.dumps(
            job["opresult"])
    else:
        assert status == 400, body
    assert rapi.get(f"/2/instances/{name}")["beparams"]["minmem"] == 48
    info = rapi.get("/2/info")
    assert info["ndparams"]["spindle_count"] == 1
    rapi.run("DELETE", f"/2/instances/{name}")


def env_dump_os(cluster: LocalCluster) -> str:
    """An OS on node 1 whose create script prints its environment (into
    the OS log): the demo OS without variants, create replaced."""
    target = Path(cluster.node(1).paths.os_search_path[0]) / "envdump"
    if not target.exists():
        shutil.copytree(DEMO_OS, target)
        (target / "variants.list").unlink()
        create = target / "create"
        create.write_text("#!/bin/sh\nenv | sort\n")
        create.chmod(0o755)
    return "envdump"


def test_disk_and_nic_names_reach_the_os(rapi_cluster: LocalCluster) -> None:
    c = rapi_cluster
    name = "named1.example.com"
    gnt(c, "gnt-instance", "add", "-t", "file", "-o", env_dump_os(c),
        "--disk", "0:size=16M,name=root", "--net",
        "0:mode=routed,link=100,ip=192.0.2.77,name=public",
        "-n", c.node(1).name, "--no-name-check", "--no-ip-check",
        "--no-start", name)
    out = gnt(c, "gnt-instance", "list", "--no-headers", "--separator=|",
              "-o", "disk.names,nic.names", name)
    assert out.split() == ["root|public"]
    logs = sorted(Path(c.node(1).paths.os_log_dir).glob(
        f"add-envdump-{name}-*.log"))
    assert logs, "no OS log of the creation"
    text = logs[-1].read_text().splitlines()
    assert {"DISK_0_NAME=root", "NIC_0_NAME=public", "OS_VARIANT=",
            "DEBUG_LEVEL=0", "INSTANCE_BE_maxmem=128",
            "INSTANCE_BE_minmem=128"} <= set(text)
    fails(c, "Disk name 'a' is used twice", "gnt-instance", "add", "-t",
          "file", "-o", OS, "--disk", "0:size=16M,name=a", "--disk",
          "1:size=16M,name=a", "--no-nics", "-n", c.node(1).name,
          "--no-name-check", "--no-ip-check", "named2.example.com")
    gnt(c, "gnt-instance", "remove", "-f", name)


def test_node_parameters(rapi_cluster: LocalCluster) -> None:
    c = rapi_cluster
    node2 = c.node(2).name
    out = gnt(c, "gnt-node", "modify", "--node-parameters",
              "spindle_count=3", node2)
    assert "ndparams/spindle_count -> 3" in out
    out = gnt(c, "gnt-node", "list", "--no-headers", "-o",
              "custom_ndparams", node2)
    assert "spindle_count" in out and "3" in out
    fails(c, "is global", "gnt-node", "modify", "--node-parameters",
          "exclusive_storage=yes", node2)
    gnt(c, "gnt-cluster", "modify", "--node-parameters", "ssh_port=2022")
    info = gnt(c, "gnt-cluster", "info")
    assert "Default node parameters:" in info and "ssh_port: 2022" in info
    gnt(c, "gnt-cluster", "modify", "--node-parameters", "ssh_port=default")
    gnt(c, "gnt-node", "modify", "--node-parameters", "spindle_count=default",
        node2)
