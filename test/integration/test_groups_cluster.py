"""Node groups and instance policies on a real local cluster (2 nodes,
its RAPI running): gnt-group and the /2/groups resources, nodes moved
between groups, group fields of nodes and instances, and an instance
policy refusing an instance until --ignore-ipolicy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ganeti.localcluster import LocalCluster
from ganeti.rapi import rgroups

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support"]

OS_NAME = "ganeti-demo-os+minimal"


def ok(lc: LocalCluster, command: str, *args: str) -> str:
    res = lc.gnt(command, *args)
    assert res.returncode == 0, f"{command} {args}: {res.stdout}{res.stderr}"
    return res.stdout


def refused(lc: LocalCluster, command: str, *args: str) -> str:
    res = lc.gnt(command, *args)
    assert res.returncode != 0, f"{command} {args}: {res.stdout}"
    return res.stderr


def rows(lc: LocalCluster, command: str, *args: str) -> list[list[str]]:
    return [line.split() for line in ok(lc, command, *args).splitlines()
            if line.strip()]


def test_groups_and_policies(rapi_cluster: LocalCluster, rapi: Rapi) -> None:
    lc = rapi_cluster
    n1, n2 = lc.node(1).name, lc.node(2).name
    # A new cluster: one group, "default", holding both nodes.
    assert rows(lc, "gnt-group", "list", "--no-headers", "-o",
                "name,node_cnt,alloc_policy") == [["default", "2",
                                                   "preferred"]]
    ok(lc, "gnt-group", "add", "--alloc-policy", "last_resort",
       "--ipolicy-vcpu-ratio", "2", "rack2")
    ok(lc, "gnt-group", "assign-nodes", "rack2", n2)
    assert rows(lc, "gnt-node", "list", "--no-headers", "-o",
                "name,group") == [[n1, "default"], [n2, "rack2"]]
    info = ok(lc, "gnt-group", "info", "rack2")
    assert "Allocation policy: last_resort" in info
    assert f"Nodes: {n2}" in info and "vcpu-ratio: 2" in info
    ok(lc, "gnt-group", "add-tags", "rack2", "rack:2")
    assert ok(lc, "gnt-group", "list-tags", "rack2").split() == ["rack:2"]

    # Bad input: one line, nothing changed.
    err = refused(lc, "gnt-group", "modify", "--ipolicy-bounds-specs",
                  "min:cpu-count=4/max:cpu-count=2", "rack2")
    assert "min 4 is above max 2" in err.splitlines()[-1]
    assert "not empty" in refused(lc, "gnt-group", "remove", "rack2")

    # The RAPI sees and changes the same groups.
    listing = rapi.get("/2/groups")
    assert [g["name"] for g in listing] == ["default", "rack2"]
    group = rapi.get("/2/groups/rack2")
    assert set(group) == set(rgroups.G_FIELDS)
    assert group["node_list"] == [n2] and group["tags"] == ["rack:2"]
    assert group["ipolicy"]["vcpu-ratio"] == 2.0
    rapi.run("POST", "/2/groups", {"group_name": "spare"})
    rapi.run("PUT", "/2/groups/spare/rename", {"new_name": "spare2"})
    rapi.run("PUT", "/2/groups/spare2/assign-nodes", {"nodes": [n2]})
    assert rapi.get("/2/groups/spare2")["node_list"] == [n2]
    rapi.run("PUT", "/2/groups/rack2/assign-nodes", {"nodes": [n2]})
    rapi.run("DELETE", "/2/groups/spare2")
    assert [g["name"] for g in rapi.get("/2/groups")] == ["default", "rack2"]
    nodes = {n["name"]: n for n in rapi.get("/2/nodes?bulk=1")}
    assert nodes[n2]["group.uuid"] == group["uuid"]

    # A policy: at least 2 virtual CPUs in rack2; the instance's group is
    # its primary node's.
    ok(lc, "gnt-group", "modify", "--specs-cpu-count", "min=2,std=2",
       "rack2")
    add = ("gnt-instance", "add", "-t", "diskless", "--no-nics",
           "--no-name-check", "--no-ip-check", "--no-start", "-o", OS_NAME)
    err = refused(lc, *add, "-n", n2, "small.example.com")
    assert "cpu-count value 1 is not in range [2," in err
    assert "--ignore-ipolicy" in err
    ok(lc, *add, "-n", n1, "other.example.com")  # default group: fine
    ok(lc, *add, "-n", n2, "--ignore-ipolicy", "small.example.com")
    assert rows(lc, "gnt-instance", "list", "--no-headers", "-o",
                "name,pnode.group") == [["other.example.com", "default"],
                                        ["small.example.com", "rack2"]]
    verify = lc.gnt("gnt-cluster", "verify", "--error-codes")
    assert verify.returncode != 0
    assert ("ERROR:EINSTANCEPOLICY:instance:small.example.com:instance "
            "violates policy: cpu-count value 1 is not in range [2, 256]"
            in verify.stdout + verify.stderr)
    ok(lc, "gnt-instance", "modify", "-B", "vcpus=2", "small.example.com")
    ok(lc, "gnt-cluster", "verify")
    cluster_info = ok(lc, "gnt-cluster", "info")
    assert "Instance policy - limits for instances:" in cluster_info
    assert rapi.get("/2/info")["ipolicy"]["vcpu-ratio"] == 4.0
