"""Existing RAPI clients against the RAPI of a real local cluster.

1. :class:`GanetiStyleClient` behaves as Ganeti's documented standalone
   client library (``ganeti.rapi.client``) does on the wire, written here
   from its documentation: URLs ``https://host:5080/2/...`` with query
   arguments urlencoded and booleans as ``1``/``0``; ``Accept`` and
   ``Content-type: application/json`` on every request and a body on every
   ``PUT``/``POST`` (the encoded content, or empty); the answer decoded as
   JSON; any status but 200 raised as an error carrying the status code
   and the error body's message; a job id used as returned; jobs followed
   with ``GET /2/jobs/J/wait`` (a body of ``fields``,
   ``previous_job_info``, ``previous_log_serial``) until finalized;
   ``/2/features`` consulted before the version 1 request formats.
2. ``gnt-monitoring`` 0.3.0 (PyPI; pinned in requirements-dev.txt), a
   monitoring tool that reads ``/2/nodes``, ``/2/nodes/N`` and
   ``/2/instances/X`` with httpx, run as its users run it.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest

from ganeti.localcluster import LocalCluster

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support"]

JOB_FINALIZED = ("success", "error", "canceled")


class ApiError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class GanetiStyleClient:
    """The wire behaviour of Ganeti's RAPI client (see the module doc)."""

    def __init__(self, host: str, port: int, username: str | None = None,
                 password: str | None = None) -> None:
        self.host, self.port = host, port
        # Ganeti's client does not verify the certificate unless given a
        # verification callback.
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.headers = {"Accept": "application/json",
                        "Content-type": "application/json",
                        "User-Agent": "Ganeti RAPI Client"}
        if username is not None:
            token = base64.b64encode(f"{username}:{password}".encode())
            self.headers["Authorization"] = f"Basic {token.decode()}"

    def send(self, method: str, path: str,
             query: list[tuple[str, Any]] | None = None,
             content: Any = None) -> Any:
        url = path
        if query:
            url += "?" + urllib.parse.urlencode(
                [(k, int(v) if isinstance(v, bool) else v) for k, v in query])
        encoded = "" if content is None else json.dumps(content)
        conn = http.client.HTTPSConnection(self.host, self.port,
                                           context=self.context, timeout=60)
        try:
            conn.request(method, url, body=encoded.encode(),
                         headers=self.headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        decoded = json.loads(data) if data else None
        if response.status != 200:
            if isinstance(decoded, dict):
                msg = (f"{decoded['code']} {decoded['message']}: "
                       f"{decoded['explain']}")
            else:
                msg = str(decoded)
            raise ApiError(msg, response.status)
        return decoded

    # --- the calls a provisioning script makes ---------------------------------

    def get_features(self) -> list[str]:
        try:
            features: list[str] = self.send("GET", "/2/features")
        except ApiError as err:
            if err.code == 404:  # older servers have no feature list
                return []
            raise
        return features

    def get_instances(self, bulk: bool = False) -> Any:
        query = [("bulk", 1)] if bulk else []
        result = self.send("GET", "/2/instances", query)
        return result if bulk else [i["id"] for i in result]

    def get_nodes(self, bulk: bool = False) -> Any:
        query = [("bulk", 1)] if bulk else []
        result = self.send("GET", "/2/nodes", query)
        return result if bulk else [n["id"] for n in result]

    def create_instance(self, mode: str, name: str, disk_template: str,
                        disks: list[dict[str, Any]],
                        nics: list[dict[str, Any]], dry_run: bool = False,
                        **kwargs: Any) -> Any:
        if "instance-create-reqv1" not in self.get_features():
            raise ApiError("Server does not support new-style instance "
                           "creation requests", 0)
        body = {"__version__": 1, "mode": mode, "name": name,
                "disk_template": disk_template, "disks": disks,
                "nics": nics, **kwargs}
        query = [("dry-run", 1)] if dry_run else []
        return self.send("POST", "/2/instances", query, body)

    def shutdown_instance(self, name: str, dry_run: bool = False) -> Any:
        query = [("dry-run", 1)] if dry_run else []
        return self.send("PUT", f"/2/instances/{name}/shutdown", query)

    def startup_instance(self, name: str) -> Any:
        return self.send("PUT", f"/2/instances/{name}/startup")

    def reinstall_instance(self, name: str, os_name: str | None = None,
                           no_startup: bool = False,
                           osparams: dict[str, str] | None = None) -> Any:
        if "instance-reinstall-reqv1" in self.get_features():
            body: dict[str, Any] = {"start": not no_startup}
            if os_name is not None:
                body["os"] = os_name
            if osparams is not None:
                body["osparams"] = osparams
            return self.send("POST", f"/2/instances/{name}/reinstall",
                             content=body)
        query: list[tuple[str, Any]] = [("nostartup", no_startup)]
        if os_name:
            query.append(("os", os_name))
        return self.send("POST", f"/2/instances/{name}/reinstall", query)

    def add_instance_tags(self, name: str, tags: list[str]) -> Any:
        return self.send("PUT", f"/2/instances/{name}/tags",
                         [("tag", t) for t in tags])

    def get_instance_tags(self, name: str) -> Any:
        return self.send("GET", f"/2/instances/{name}/tags")

    def delete_instance(self, name: str) -> Any:
        return self.send("DELETE", f"/2/instances/{name}")

    def get_operating_systems(self) -> Any:
        return self.send("GET", "/2/os")

    def get_job_status(self, job_id: Any) -> Any:
        return self.send("GET", f"/2/jobs/{job_id}")

    def wait_for_job_change(self, job_id: Any, fields: list[str],
                            prev_job_info: Any, prev_log_serial: Any) -> Any:
        return self.send("GET", f"/2/jobs/{job_id}/wait", content={
            "fields": fields, "previous_job_info": prev_job_info,
            "previous_log_serial": prev_log_serial})

    def wait_for_job_completion(self, job_id: Any) -> bool:
        """True when the job succeeded (Ganeti's helper of the same
        purpose polls the job status until it is finalized)."""
        info = None
        serial = None
        for _ in range(1000):
            result = self.wait_for_job_change(job_id, ["status"], info,
                                              serial)
            if result is not None:
                info = result["job_info"]
                for entry in result["log_entries"]:
                    serial = entry[0]
            if info is not None and info[0] in JOB_FINALIZED:
                return bool(info[0] == "success")
        raise AssertionError(f"job {job_id} did not finish")


def test_ganeti_style_client_provisions_an_instance(
        rapi_cluster: LocalCluster, rapi: Rapi) -> None:
    host = rapi_cluster.node(1).ip
    anonymous = GanetiStyleClient(host, rapi_cluster.rapi_port)
    client = GanetiStyleClient(host, rapi_cluster.rapi_port, *rapi.writer)
    node = rapi_cluster.node(1).name
    assert "ganeti-demo-os+minimal" in anonymous.get_operating_systems()
    assert anonymous.get_nodes() == [rapi_cluster.node(1).name,
                                     rapi_cluster.node(2).name]
    with pytest.raises(ApiError) as failure:
        anonymous.shutdown_instance("any.example.com")
    assert failure.value.code == 401
    assert str(failure.value).startswith("401 Unauthorized: ")

    name = "client1.example.com"
    job = client.create_instance(
        "create", name, "file", [{"size": 32, "mode": "rw"}], [],
        os="ganeti-demo-os+minimal", pnode=node, beparams={"memory": 48},
        ip_check=False, name_check=False, start=True,
        osparams={"hostname_prefix": "client"})
    assert client.wait_for_job_completion(job)
    assert name in client.get_instances()
    (data,) = [i for i in client.get_instances(bulk=True)
               if i["name"] == name]
    assert data["status"] == "running" and data["oper_ram"] == 48

    dry = client.shutdown_instance(name, dry_run=True)
    assert client.wait_for_job_completion(dry)
    assert rapi.get(f"/2/instances/{name}")["status"] == "running"
    assert client.wait_for_job_completion(client.shutdown_instance(name))
    assert client.wait_for_job_completion(client.reinstall_instance(
        name, "ganeti-demo-os+full", no_startup=True,
        osparams={"fill_size": "1"}))
    assert rapi.get(f"/2/instances/{name}")["os"] == "ganeti-demo-os+full"
    assert client.wait_for_job_completion(client.startup_instance(name))
    assert client.wait_for_job_completion(
        client.add_instance_tags(name, ["a", "b:c"]))
    assert sorted(client.get_instance_tags(name)) == ["a", "b:c"]
    status = client.get_job_status(dry)
    assert status["status"] == "success" and status["ops"][0]["dry_run"]

    # a refused creation: the error carries the status and the explanation
    with pytest.raises(ApiError) as failure:
        client.create_instance("create", "bad.example.com", "file",
                               [{"size": "big"}], [], os="x", pnode=node)
    assert failure.value.code == 400
    # a job that fails is reported by the job, not by the submission
    failing = client.delete_instance("nosuch.example.com")
    assert not client.wait_for_job_completion(failing)
    assert client.get_job_status(failing)["opresult"][0][0] == \
        "OpPrereqError"
    assert client.wait_for_job_completion(client.delete_instance(name))


def _gnt_monitoring(cluster: LocalCluster, rapi: Rapi, *args: str
                    ) -> subprocess.CompletedProcess[str]:
    script = os.path.join(os.path.dirname(sys.executable), "gnt-monitoring")
    user, password = rapi.writer
    return subprocess.run(
        [script, "--rapi-host", cluster.node(1).ip, "--rapi-port",
         str(cluster.rapi_port), "--rapi-user", user,
         f"--rapi-password={password}", *args], capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


def test_gnt_monitoring_reads_the_cluster(rapi_cluster: LocalCluster,
                                          rapi: Rapi) -> None:
    pytest.importorskip("gnt_monitoring",
                        reason="gnt-monitoring is in requirements-dev.txt")
    name = "monitored.example.com"
    node = rapi_cluster.node(2)
    rapi.run("POST", "/2/instances", rapi.create_body(
        name, node.name, beparams={"memory": 80}, start=False))
    try:
        res = _gnt_monitoring(rapi_cluster, rapi, "node-memory")
        assert res.returncode == 0, res.stdout + res.stderr  # OK
        lines = {line.split()[0]: line for line in res.stdout.splitlines()
                 if line.startswith("node")}
        assert set(lines) == {rapi_cluster.node(1).name, node.name}
        assert "80 MiB" in lines[node.name]  # allocated: its maxmem
        assert "OK" in lines[node.name]
        res = _gnt_monitoring(rapi_cluster, rapi, "cluster-memory")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Allocated" in res.stdout and "80 MiB" in res.stdout
    finally:
        rapi.run("DELETE", f"/2/instances/{name}")
