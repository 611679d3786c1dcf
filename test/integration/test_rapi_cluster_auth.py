"""Authentication and malformed requests against the RAPI of a real local
cluster: anonymous reads, 401/403, hashed passwords, the users file read
again without a restart, ``--require-authentication``; 400/404/405/413."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ganeti.localcluster import LocalCluster
from ganeti.rapi import users

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support"]

READER = ("viewer", "read-pw")
ROBOT = ("robot", "hashed-pw")


@pytest.fixture
def users_file(rapi_cluster: LocalCluster, rapi: Rapi) -> Iterator[str]:
    """The cluster's users file with the launcher's writer, a reader and a
    writer whose password is stored as {HA1}; restored afterwards."""
    path = rapi_cluster.node(1).paths.rapi_users_file
    with open(path, encoding="utf-8") as handle:
        original = handle.read()
    users.write_users_file(path, [(*rapi.writer, ["write"]),
                                  (*READER, ["read"]),
                                  (*ROBOT, ["write"])])
    yield path
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(original)


def test_anonymous_read_and_refused_writes(rapi: Rapi, users_file: str
                                           ) -> None:
    assert rapi.request("GET", "/2/tags")[0] == 200
    status, body, headers = rapi.request("PUT", "/2/tags?tag=a")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'
    assert body == {"code": 401, "message": "Unauthorized",
                    "explain": body["explain"]}
    assert rapi.request("PUT", "/2/tags?tag=a",
                        user=(rapi.writer[0], "wrong"))[0] == 401
    status, body, _ = rapi.request("PUT", "/2/tags?tag=a", user=READER)
    assert status == 403 and READER[0] in body["explain"]
    # the long poll and the console need write access too
    assert rapi.request("GET", "/2/jobs/1/wait", {"fields": ["status"]},
                        user=READER)[0] == 403


def test_hashed_password(rapi: Rapi, users_file: str) -> None:
    with open(users_file, encoding="utf-8") as handle:
        text = handle.read()
    assert "{HA1}" + users.ha1(*ROBOT) in text and ROBOT[1] not in text
    status, job_id, _ = rapi.request("PUT", "/2/tags?tag=robot", user=ROBOT)
    assert status == 200
    assert rapi.wait(job_id)["status"] == "success"
    assert rapi.request("DELETE", "/2/tags?tag=robot",
                        user=(ROBOT[0], users.ha1(*ROBOT)))[0] == 401


def test_users_file_reload_without_restart(rapi_cluster: LocalCluster,
                                           rapi: Rapi, users_file: str
                                           ) -> None:
    pid_before = rapi_cluster.status()
    assert rapi.request("PUT", "/2/tags?tag=b", user=READER)[0] == 403
    users.write_users_file(users_file, [(*rapi.writer, ["write"]),
                                        (*READER, ["write"])])
    status, job_id, _ = rapi.request("PUT", "/2/tags?tag=b", user=READER)
    assert status == 200 and rapi.wait(job_id)["status"] == "success"
    assert rapi.request("PUT", "/2/tags?tag=c", user=ROBOT)[0] == 401
    assert rapi_cluster.status() == pid_before  # the same daemon


def test_require_authentication(rapi_cluster: LocalCluster, rapi: Rapi,
                                users_file: str) -> None:
    assert rapi_cluster.stop_rapi()
    try:
        rapi_cluster.start_rapi("--require-authentication")
        status, _, headers = rapi.request("GET", "/2/info")
        assert status == 401 and "WWW-Authenticate" in headers
        assert rapi.request("GET", "/2/info", user=READER)[0] == 200
        assert rapi.request("GET", "/2/nodes", user=ROBOT)[0] == 200
        assert rapi.request("PUT", "/2/tags?tag=a", user=READER)[0] == 403
    finally:
        rapi_cluster.stop_rapi()
        rapi_cluster.start_rapi()
    assert rapi.request("GET", "/2/info")[0] == 200


def test_malformed_requests(rapi_cluster: LocalCluster, rapi: Rapi) -> None:
    w = rapi.writer
    status, body, _ = rapi.request("PUT", "/2/modify", raw=b"{bad json",
                                   user=w)
    assert status == 400 and "Invalid request body" in body["explain"]
    status, body, _ = rapi.request("PUT", "/2/modify",
                                   {"candidate_pool_size": "many"}, user=w)
    assert status == 400 and "candidate_pool_size" in body["explain"]
    status, body, _ = rapi.request(
        "PUT", "/2/instances/x.example.com/shutdown", {"timeout": "soon"},
        user=w)
    assert status == 400 and "timeout" in body["explain"]
    status, body, _ = rapi.request("GET", "/2/instances?bulk=yes")
    assert status == 400 and "bulk" in body["explain"]
    status, body, _ = rapi.request("PUT", "/2/modify", raw=b"{}", user=w,
                                   headers={"Content-Type": "text/plain"})
    assert status == 415
    for path in ("/2/nowhere", "/3/info", "/2/instances/nosuch.example.com",
                 "/2/nodes/nosuch.example.com", "/2/jobs/99999"):
        status, body, _ = rapi.request("GET", path)
        assert status == 404 and body["code"] == 404, path
    status, body, headers = rapi.request("DELETE", "/2/info", user=w)
    assert status == 405 and headers["Allow"] == "GET"
    status, _, headers = rapi.request("POST", "/2/instances/x/shutdown",
                                      user=w)
    assert status == 405 and headers["Allow"] == "PUT"
    # (413 for bodies over the limit: test_rapi.py, same daemon code.)
    assert rapi.get("/version") == 2
