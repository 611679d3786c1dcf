"""The RAPI of a real local cluster (tools/local-cluster), driven as the
Ganeti RAPI documentation describes: listings, instance creation with a
version 1 request, the instance operations, jobs and their long poll,
tags, OSes and the generic queries."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from ganeti import localcluster
from ganeti.localcluster import LocalCluster
from ganeti.rapi import rinstances, rnodes

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support"]

#: Bulk fields that may be null, and when (documented in
#: doc/design/rapi.rst): no console port for the fake hypervisor, no
#: bridge for a routed NIC, no live values of a stopped instance.
NULLABLE_STOPPED = {"network_port", "oper_ram", "oper_vcpus"}


def node_name(cluster: LocalCluster, index: int) -> str:
    return cluster.node(index).name


def test_local_cluster_runs_the_rapi(rapi_cluster: LocalCluster,
                                     rapi: Rapi) -> None:
    env_file = os.path.join(rapi_cluster.directory, localcluster.ENV_FILE)
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    script = (f". {shlex.quote(env_file)}; echo \"$GANETI_RAPI_URL\"; "
              "echo \"$GANETI_RAPI_USER\"; echo \"$GANETI_RAPI_PASSWORD\"")
    url, user, password = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True,
        timeout=30).stdout.split()
    assert url == f"https://{rapi_cluster.node(1).ip}:5080"
    assert (user, password) == rapi.writer
    status = subprocess.run(
        [sys.executable, "-c", "import sys; from ganeti.localcluster import "
         "main; sys.exit(main(sys.argv[1:]))", "status",
         rapi_cluster.directory], capture_output=True, text=True,
        env=rapi_cluster.env(), timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    assert f"RAPI {url} (user rapi): running" in status.stdout
    assert "ganeti-rapi (pid" in status.stdout
    info = rapi.get("/2/info")  # anonymous read
    assert info["master"] == node_name(rapi_cluster, 1)
    assert rapi.get("/version") == 2


def test_nodes_bulk_and_single(rapi_cluster: LocalCluster, rapi: Rapi) -> None:
    listing = rapi.get("/2/nodes")
    names = [node_name(rapi_cluster, k) for k in (1, 2)]
    assert listing == [{"id": n, "uri": f"/2/nodes/{n}"} for n in names]
    bulk = rapi.get("/2/nodes?bulk=1")
    assert [n["name"] for n in bulk] == names
    group = rapi.get("/2/groups/default")
    for node in bulk:
        assert set(node) == set(rnodes.N_FIELDS)
        # every field has a real value for an online node
        assert all(value is not None for value in node.values()), node
        for key in ("mtotal", "mfree", "dtotal", "dfree", "ctotal",
                    "cnodes", "csockets"):
            assert isinstance(node[key], int) and node[key] > 0, (key, node)
        assert 0 <= node["mnode"] <= node["mtotal"]
        assert node["mfree"] <= node["mtotal"]
        assert node["group.uuid"] == group["uuid"]
        assert node == rapi.get(f"/2/nodes/{node['name']}") | {
            "mfree": node["mfree"], "dfree": node["dfree"]}
    assert bulk[0]["role"] == "M" and bulk[1]["role"] == "C"
    assert rapi.get(f"/2/nodes/{names[0]}/role") == "master"
    assert rapi.request("GET", "/2/nodes/nosuch.example/role")[0] == 404
    assert group["node_list"] == names


def test_os_list_has_variants(rapi: Rapi) -> None:
    assert sorted(rapi.get("/2/os")) == ["ganeti-demo-os+full",
                                         "ganeti-demo-os+minimal"]


def _instance(rapi: Rapi, name: str) -> dict[str, Any]:
    data: dict[str, Any] = rapi.get(f"/2/instances/{name}")
    return data


def test_instance_life_through_the_rapi(rapi_cluster: LocalCluster,
                                        rapi: Rapi) -> None:
    node1 = node_name(rapi_cluster, 1)
    name = "web1.example.com"
    path = f"/2/instances/{name}"
    job_id = rapi.write("POST", "/2/instances", rapi.create_body(
        name, node1, osparams={"hostname_prefix": "web"}))
    job = rapi.wait(job_id)
    assert job["status"] == "success", job["opresult"]
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_CREATE"
    assert job["ops"][0]["instance_name"] == name

    assert {"id": name, "uri": path} in rapi.get("/2/instances")
    (bulk,) = [i for i in rapi.get("/2/instances?bulk=1")
               if i["name"] == name]
    assert set(bulk) == set(rinstances.I_FIELDS)
    assert bulk == _instance(rapi, name)
    assert bulk["status"] == "running" and bulk["oper_state"] is True
    assert bulk["admin_state"] is True
    assert bulk["pnode"] == node1 and bulk["snodes"] == []
    assert bulk["os"] == "ganeti-demo-os+minimal"
    assert bulk["disk.sizes"] == [32] and bulk["disk_usage"] == 32
    assert bulk["oper_ram"] == 64 and bulk["oper_vcpus"] == 1
    assert bulk["beparams"]["memory"] == 64
    assert bulk["beparams"]["maxmem"] == bulk["beparams"]["minmem"] == 64
    assert bulk["custom_beparams"] == {"maxmem": 64, "minmem": 64}
    assert bulk["custom_nicparams"] == [{"mode": "routed", "link": "100"}]
    assert bulk["nic.ips"] == ["192.0.2.10"]
    assert bulk["nic.modes"] == ["routed"] and bulk["nic.bridges"] == [None]
    assert bulk["tags"] == [] and bulk["serial_no"] >= 1
    assert bulk["network_port"] is None  # the fake hypervisor has no VNC
    assert all(bulk[k] is not None for k in set(bulk) - {"network_port"})
    node = rapi.get(f"/2/nodes/{node1}")
    assert name in node["pinst_list"]

    console = rapi.get(f"{path}/console", user=rapi.writer)
    assert console["instance"] == name and console["kind"] == "command"
    assert console["node"] == node1

    # shutdown with a body, then startup and reboot with query arguments
    rapi.run("PUT", f"{path}/shutdown", {"timeout": 5})
    stopped = _instance(rapi, name)
    assert stopped["status"] == "ADMIN_down"
    assert stopped["oper_state"] is False
    assert {k for k, v in stopped.items() if v is None} <= NULLABLE_STOPPED
    rapi.run("PUT", f"{path}/startup")  # no body, no Content-Type
    assert _instance(rapi, name)["status"] == "running"
    rapi.run("POST", f"{path}/reboot?type=soft&ignore_secondaries=0")
    assert _instance(rapi, name)["status"] == "running"

    # modify: memory and an OS parameter; then grow the disk
    changes = rapi.run("PUT", f"{path}/modify",
                       {"beparams": {"memory": 96},
                        "osparams": {"hostname_prefix": "www"}})
    assert ["be/maxmem", 96] in changes
    rapi.run("POST", f"{path}/disk/0/grow", {"amount": 16})
    after = _instance(rapi, name)
    assert after["beparams"]["memory"] == 96
    assert after["disk.sizes"] == [48]

    # reinstall with OS parameters (body format), then the old format
    rapi.run("PUT", f"{path}/shutdown")
    rapi.run("POST", f"{path}/reinstall",
             {"os": "ganeti-demo-os+full", "start": False,
              "osparams": {"fill_size": "1"}})
    query = rapi.get("/2/query/instance?fields=name,os,custom_osparams,"
                     "status")
    row = next(r for r in query["data"] if r[0][1] == name)
    assert row[1] == [0, "ganeti-demo-os+full"]
    assert row[2] == [0, {"fill_size": "1", "hostname_prefix": "www"}]
    assert row[3] == [0, "ADMIN_down"]
    job = rapi.wait(rapi.write(
        "POST", f"{path}/reinstall?os=ganeti-demo-os%2Bminimal&nostartup=0"))
    assert job["status"] == "success", job["opresult"]
    assert [op["OP_ID"] for op in job["ops"]] == [
        "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"]
    assert _instance(rapi, name)["os"] == "ganeti-demo-os+minimal"
    assert _instance(rapi, name)["status"] == "running"

    # disks, detailed information (a job), tags
    rapi.run("PUT", f"{path}/shutdown")
    rapi.run("PUT", f"{path}/activate-disks")
    rapi.run("PUT", f"{path}/deactivate-disks")
    info = rapi.run("GET", f"{path}/info?static=1")
    assert info[name]["disk_template"] == "file"
    assert rapi.run("PUT", f"{path}/tags?tag=prod&tag=web") is None
    assert sorted(rapi.get(f"{path}/tags")) == ["prod", "web"]
    rapi.run("DELETE", f"{path}/tags?tag=prod")
    assert rapi.get(f"{path}/tags") == ["web"]
    assert _instance(rapi, name)["tags"] == ["web"]

    # rename, then remove
    new = "web2.example.com"
    assert rapi.run("PUT", f"{path}/rename",
                    {"new_name": new, "ip_check": False,
                     "name_check": False}) == new
    assert rapi.request("GET", path)[0] == 404
    rapi.run("DELETE", f"/2/instances/{new}")
    assert rapi.request("GET", f"/2/instances/{new}")[0] == 404
    assert all(i["id"] != new for i in rapi.get("/2/instances"))


def test_migrate_and_failover_answer_jobs(rapi_cluster: LocalCluster,
                                          rapi: Rapi) -> None:
    """File disks cannot follow an instance: the jobs fail in their
    prerequisites with the logical unit's message, as in Ganeti."""
    name = "mig.example.com"
    rapi.run("POST", "/2/instances", rapi.create_body(
        name, node_name(rapi_cluster, 2), start=False))
    for action, body in (("migrate", {"mode": "live"}),
                         ("failover", {"ignore_consistency": False})):
        job = rapi.wait(rapi.write("PUT", f"/2/instances/{name}/{action}",
                                   body))
        assert job["status"] == "error"
        error_class, (message, _code) = job["opresult"][0]
        assert error_class == "OpPrereqError"
        assert "file disks are local" in message
    rapi.run("DELETE", f"/2/instances/{name}")


def test_create_refusals_name_the_field(rapi_cluster: LocalCluster,
                                        rapi: Rapi) -> None:
    node = node_name(rapi_cluster, 1)
    status, body, _ = rapi.request(
        "POST", "/2/instances", rapi.create_body("x.example.com", node,
                                            disk_template="floppy"),
        user=rapi.writer)
    assert status == 400 and "disk_template" in body["explain"]
    status, body, _ = rapi.request(
        "POST", "/2/instances", rapi.create_body("x.example.com", node,
                                            colour="blue"),
        user=rapi.writer)
    assert status == 400 and "colour" in body["explain"]
    old = rapi.create_body("x.example.com", node)
    del old["__version__"]
    status, body, _ = rapi.request("POST", "/2/instances", old,
                                   user=rapi.writer)
    assert status == 400 and "__version__" in body["explain"]
    # dry-run checks everything and creates nothing
    job = rapi.wait(rapi.write("POST", "/2/instances?dry-run=1",
                               rapi.create_body("dry.example.com", node)))
    assert job["status"] == "success"
    assert rapi.request("GET", "/2/instances/dry.example.com")[0] == 404


def test_jobs_and_long_poll(rapi: Rapi) -> None:
    job_id = rapi.write("PUT", "/2/tags?tag=polled")
    job = rapi.wait(job_id)
    assert job["id"] == int(job_id) and job["status"] == "success"
    assert set(job) >= {"id", "ops", "status", "summary", "opstatus",
                        "received_ts", "start_ts", "end_ts", "oplog",
                        "opresult"}
    assert {"id": int(job_id), "uri": f"/2/jobs/{job_id}"} in \
        rapi.get("/2/jobs")
    # a finished job with the caller's last view: answered at once
    status, change, _ = rapi.request(
        "GET", f"/2/jobs/{job_id}/wait",
        {"fields": ["status"], "previous_job_info": None,
         "previous_log_serial": None}, user=rapi.writer)
    assert status == 200 and change["job_info"] == ["success"]
    status, body, _ = rapi.request("GET", f"/2/jobs/{job_id}/wait",
                                   {"fields": "status"}, user=rapi.writer)
    assert status == 400 and "fields" in body["explain"]
    assert "polled" in rapi.get("/2/tags")


def test_generic_query_and_fields(rapi_cluster: LocalCluster,
                                  rapi: Rapi) -> None:
    result = rapi.get("/2/query/node?fields=name,mfree,group.uuid")
    assert [f["name"] for f in result["fields"]] == ["name", "mfree",
                                                      "group.uuid"]
    assert [row[0] for row in result["data"]] == [
        [0, node_name(rapi_cluster, 1)], [0, node_name(rapi_cluster, 2)]]
    status, filtered, _ = rapi.request(
        "PUT", "/2/query/node",
        {"fields": ["name"], "qfilter": ["=", "name",
                                         node_name(rapi_cluster, 2)]})
    assert status == 200
    assert filtered["data"] == [[[0, node_name(rapi_cluster, 2)]]]
    fields = rapi.get("/2/query/instance/fields?fields=name,oper_ram")
    assert [(f["name"], f["kind"]) for f in fields["fields"]] == [
        ("name", "text"), ("oper_ram", "unit")]
    everything = rapi.get("/2/query/instance/fields")
    names = {f["name"] for f in everything["fields"]}
    assert set(rinstances.I_FIELDS) - {"nic.ips", "nic.macs", "nic.modes",
                                       "nic.links", "nic.bridges"} <= names
    status, body, _ = rapi.request("GET", "/2/query/instance?fields=nosuch")
    assert status == 400 and "nosuch" in body["explain"]
    assert rapi.request("GET", "/2/query/nothing?fields=name")[0] == 404
