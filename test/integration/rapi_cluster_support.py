"""A local cluster with its RAPI running, and a plain HTTPS client for it
(a pytest plugin: ``pytest_plugins = ["rapi_cluster_support"]``; import
it at run time only through that, so that its asserts are rewritten).

The cluster (``tools/local-cluster``'s :class:`LocalCluster`, 2 nodes,
fake hypervisor) starts ``ganeti-rapi`` on node 1 with one ``write``
user; the demo OS of ``doc/examples/os`` is installed in every node's OS
search path.  :class:`Rapi` speaks plain HTTP/1.1 over TLS (the cluster's
``rapi.pem`` is the trust anchor) the way the RAPI documentation
describes: JSON bodies, Basic authentication, job ids as strings.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_cluster import _free_prefix, short_dir
from testkit import basic_auth, json_exchange

from ganeti import crypto, localcluster
from ganeti.http import tls
from ganeti.localcluster import LocalCluster

DEMO_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
TIMEOUT = 60.0
FINISHED = ("success", "error", "canceled")


def install_demo_os(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        search = Path(node.paths.os_search_path[0])
        search.mkdir(parents=True, exist_ok=True)
        shutil.copytree(DEMO_OS, search / "ganeti-demo-os")


class Rapi:
    """HTTPS requests to a cluster's RAPI (one connection per request)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.host = cluster.node(1).ip
        self.port = cluster.rapi_port
        _key, self.cert_pem = crypto.load_pem_file(
            cluster.node(1).paths.rapi_cert_file)
        assert cluster.rapi_password is not None
        self.writer = (localcluster.RAPI_USER, cluster.rapi_password)

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, context=tls.client_context(self.cert_pem),
            timeout=TIMEOUT)

    def request(self, method: str, path: str, body: Any = None, *,
                user: tuple[str, str] | None = None,
                raw: bytes | None = None,
                headers: dict[str, str] | None = None
                ) -> tuple[int, Any, dict[str, str]]:
        """(status, decoded JSON body or None, headers)."""
        sent = {"Accept": "application/json"}
        data = raw if raw is not None else (
            None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = "application/json"
        if user is not None:
            sent["Authorization"] = basic_auth(user)
        sent.update(headers or {})
        return json_exchange(self.connection(), method, path, data, sent)

    @staticmethod
    def create_body(name: str, node: str, **extra: Any) -> dict[str, Any]:
        return create_body(name, node, **extra)

    def get(self, path: str, **kwargs: Any) -> Any:
        status, body, _ = self.request("GET", path, **kwargs)
        assert status == 200, (path, status, body)
        return body

    def write(self, method: str, path: str, body: Any = None) -> str:
        """A write as the ``write`` user; the job id it answered."""
        status, job_id, _ = self.request(method, path, body, user=self.writer)
        assert status == 200, (method, path, status, job_id)
        assert isinstance(job_id, str) and job_id.isdigit(), job_id
        return job_id

    def wait(self, job_id: str) -> dict[str, Any]:
        """Follow a job with the long poll (``/2/jobs/J/wait``) until it
        finishes; its ``/2/jobs/J`` fields."""
        info: list[Any] | None = None
        serial: int | None = None
        for _ in range(1000):  # bounded: each poll waits up to 10 s
            if info is not None and info[0] in FINISHED:
                break
            status, change, _ = self.request(
                "GET", f"/2/jobs/{job_id}/wait",
                {"fields": ["status"], "previous_job_info": info,
                 "previous_log_serial": serial}, user=self.writer)
            assert status == 200, change
            if change is not None:
                info = change["job_info"]
                for entry in change["log_entries"]:
                    serial = max(serial or 0, entry[0])
        job: dict[str, Any] = self.get(f"/2/jobs/{job_id}")
        return job

    def run(self, method: str, path: str, body: Any = None) -> Any:
        """A write whose job must succeed; the last opcode's result."""
        job = self.wait(self.write(method, path, body))
        assert job["status"] == "success", job["opresult"]
        return job["opresult"][-1]


def create_body(name: str, node: str, **extra: Any) -> dict[str, Any]:
    """A creation request in the format of ``instance-create-reqv1``
    (also :meth:`Rapi.create_body`)."""
    body: dict[str, Any] = {
        "__version__": 1, "mode": "create", "name": name,
        "disk_template": "file", "disks": [{"size": 32, "mode": "rw"}],
        "nics": [{"mac": "generate", "ip": "192.0.2.10", "mode": "routed",
                  "link": "100"}],
        "os": "ganeti-demo-os+minimal", "osparams": {}, "pnode": node,
        "hypervisor": "fake", "hvparams": {}, "beparams": {"memory": 64},
        "no_install": False, "start": True, "ip_check": False,
        "name_check": False}
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def rapi_cluster() -> Iterator[LocalCluster]:
    """A 2-node cluster with the RAPI and the demo OS, for one module."""
    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, "c"), nodes=2,
                           prefix=_free_prefix())
    try:
        cluster.start()
        install_demo_os(cluster)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def rapi(rapi_cluster: LocalCluster) -> Rapi:
    return Rapi(rapi_cluster)
