"""The RAPI application: routing, bodies, opcodes built, errors.

LUXI is the process boundary: a fake client records the calls and jobs
and answers what a master would.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ganeti import errors, http, serializer
from ganeti.rapi import auth, connector, users

WRITER = ("admin", "adminpw")


class FakeLuxi:
    """Answers like a master daemon; records what was asked."""

    def __init__(self) -> None:
        self.jobs: list[list[dict[str, Any]]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.fail: errors.GenericError | None = None
        self.results: dict[str, Any] = {}

    def __call__(self) -> FakeLuxi:
        return self

    def close(self) -> None:
        pass

    def _answer(self, name: str, *args: Any) -> Any:
        self.calls.append((name, *args))
        if self.fail is not None:
            raise self.fail
        return self.results.get(name)

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self._answer("SubmitJob", ops)
        self.jobs.append(ops)
        return 16 + len(self.jobs)

    def call(self, method: str, *args: Any) -> Any:
        return self._answer(method, *args)

    def call_raw(self, method: str, *args: Any) -> bytes:
        return serializer.dumps(self._answer(method, *args))

    def query_cluster_info(self) -> Any:
        return self._answer("QueryClusterInfo")

    def query_jobs(self, job_ids: Any, fields: list[str]) -> Any:
        result = self._answer("QueryJobs", job_ids, fields)
        return result if result is not None else [None]

    def cancel_job(self, job_id: int) -> Any:
        self._answer("CancelJob", job_id)
        return [True, f"Job {job_id} canceled"]

    def wait_for_job_change(self, *args: Any) -> Any:
        return self._answer("WaitForJobChange", *args)


class Client:
    def __init__(self, tmp_path: Path, *, require_auth: bool = False) -> None:
        path = str(tmp_path / "rapi_users")
        users.write_users_file(path, [(*WRITER, ["write"]),
                                      ("viewer", "viewpw", [])])
        self.luxi = FakeLuxi()
        self.app = connector.RapiApp(
            auth.Authenticator(auth.UsersFile(path),
                               require_authentication=require_auth),
            self.luxi)

    def request(self, method: str, path: str, body: Any = None, *,
                raw: bytes | None = None, user: tuple[str, str] | None = WRITER,
                headers: dict[str, str] | None = None) -> tuple[int, Any,
                                                                 dict[str, str]]:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if user is not None:
            token = base64.b64encode(":".join(user).encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        data = raw if raw is not None else (
            b"" if body is None else json.dumps(body).encode())
        request = http.Request(method=method, path=path, headers=hdrs,
                               body=data, client_address=("127.0.0.1", 1))
        try:
            response = self.app(request)
        except http.HttpError as err:
            return (err.status,
                    json.loads(connector.error_body(err.status, err.message)),
                    dict(err.headers))
        return response.status, json.loads(response.body), dict(response.headers)

    def ops(self, index: int = -1) -> list[dict[str, Any]]:
        return self.luxi.jobs[index]


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path)


# --- routing ---------------------------------------------------------------------

def test_version_features_and_roots(client: Client) -> None:
    assert client.request("GET", "/version", user=None)[:2] == (200, 2)
    _, features, _ = client.request("GET", "/2/features", user=None)
    assert "instance-create-reqv1" in features
    _, root, _ = client.request("GET", "/", user=None)
    assert {"name": "version", "uri": "/version"} in root
    assert {"name": "2", "uri": "/2"} in root
    _, v2, _ = client.request("GET", "/2/", user=None)
    names = [item["name"] for item in v2]
    assert {"info", "features", "instances", "nodes", "jobs", "os"} <= set(names)
    assert not any("{" in item["uri"] for item in v2)


def test_unknown_path_is_404(client: Client) -> None:
    status, body, _ = client.request("GET", "/2/nonsense")
    assert status == 404
    assert body["code"] == 404 and body["message"] == "Not Found"
    assert "/2/nonsense" in body["explain"]
    assert client.request("GET", "/2/jobs/abc")[0] == 404
    assert client.request("GET", "/3/info")[0] == 404


def test_wrong_method_is_405_with_allow(client: Client) -> None:
    status, _, headers = client.request("POST", "/2/info")
    assert status == 405
    assert headers["Allow"] == "GET"
    status, _, headers = client.request("PATCH", "/2/tags")
    assert status == 405 and headers["Allow"] == "GET, PUT, DELETE"


def test_percent_encoded_names(client: Client) -> None:
    client.request("PUT", "/2/instances/inst%2Done.example.com/startup")
    assert client.ops()[0]["instance_name"] == "inst-one.example.com"
    assert client.request("GET", "/2/instances/%ff/info")[0] == 400


# --- jobs as answers -----------------------------------------------------------

def test_tags_put_answers_the_job_id_as_string(client: Client) -> None:
    status, body, _ = client.request("PUT", "/2/tags?tag=a&tag=b&dry-run=1")
    assert (status, body) == (200, "17")
    (op,) = client.ops()
    assert op["OP_ID"] == "OP_TAGS_SET"
    assert op["kind"] == "cluster" and op["tags"] == ["a", "b"]
    assert op["dry_run"] is True and op["name"] is None


def test_tags_delete_and_body_list(client: Client) -> None:
    client.request("DELETE", "/2/nodes/node1/tags?tag=x")
    (op,) = client.ops()
    assert (op["OP_ID"], op["kind"], op["name"], op["tags"]) == \
        ("OP_TAGS_DEL", "node", "node1", ["x"])
    client.request("PUT", "/2/instances/i1/tags", ["t1"])
    assert client.ops()[0]["tags"] == ["t1"]
    status, body, _ = client.request("DELETE", "/2/tags")
    assert status == 400 and "'tag'" in body["explain"]


@pytest.mark.parametrize("body", [[["nested"]], ["a", 1], {"tags": ["a"]}])
def test_tags_put_refuses_a_bad_body_even_with_query_tags(
        client: Client, body: Any) -> None:
    """Found by the RAPI fuzzer: a declared body was ignored when the
    query named the tags."""
    status, answer, _ = client.request("PUT", "/2/tags?tag=a", body)
    assert status == 400 and "list of tags" in answer["explain"]
    assert client.luxi.jobs == []


def test_tags_get_queries(client: Client) -> None:
    client.luxi.results["QueryTags"] = ["a"]
    assert client.request("GET", "/2/instances/i1/tags", user=None)[1] == ["a"]
    assert client.luxi.calls[-1] == ("QueryTags", "instance", "i1")


def test_generic_boolean_arguments_are_integers(client: Client) -> None:
    status, body, _ = client.request("PUT", "/2/redistribute-config?dry-run=yes")
    assert status == 400 and "dry-run" in body["explain"]
    status, body, _ = client.request(
        "PUT", "/2/redistribute-config?dry-run=1&dry-run=0")
    assert status == 400 and "Only one value" in body["explain"]
    client.request("PUT", "/2/redistribute-config?dry-run=0")
    assert client.ops()[0]["dry_run"] is False


# --- bodies ------------------------------------------------------------------------

def test_bad_json_is_400(client: Client) -> None:
    status, body, _ = client.request("PUT", "/2/modify", raw=b"{nope")
    assert status == 400 and "Invalid request body" in body["explain"]


def test_body_must_be_an_object(client: Client) -> None:
    status, body, _ = client.request("PUT", "/2/modify", [1])
    assert status == 400 and "JSON object" in body["explain"]


def test_wrong_content_type_is_415(client: Client) -> None:
    status, _, _ = client.request("PUT", "/2/modify", {},
                                  headers={"Content-Type": "text/plain"},
                                  raw=b"{}")
    assert status == 415


def test_field_errors_name_the_field(client: Client) -> None:
    status, body, _ = client.request("PUT", "/2/modify",
                                     {"candidate_pool_size": "ten"})
    assert status == 400 and "candidate_pool_size" in body["explain"]
    status, body, _ = client.request("PUT", "/2/modify", {"bogus": 1})
    assert status == 400 and "'bogus'" in body["explain"]
    status, body, _ = client.request("PUT", "/2/instances/i1/shutdown",
                                     {"timeout": "soon"})
    assert status == 400 and "timeout" in body["explain"]
    status, body, _ = client.request("PUT", "/2/instances/i1/shutdown",
                                     {"instance_name": "other"})
    assert status == 400 and "instance_name" in body["explain"]
    assert client.luxi.jobs == []


def test_cluster_modify(client: Client) -> None:
    client.request("PUT", "/2/modify", {"candidate_pool_size": 5})
    (op,) = client.ops()
    assert op["OP_ID"] == "OP_CLUSTER_SET_PARAMS"
    assert op["candidate_pool_size"] == 5


# --- instances ------------------------------------------------------------------

CREATE = {"__version__": 1, "mode": "create", "name": "inst1.example.com",
          "disk_template": "plain", "disks": [{"size": 1024}],
          "nics": [{"ip": "198.51.100.4"}], "os": "debootstrap+default",
          "pnode": "node1.example.com", "start": False}


def test_instance_create_v1(client: Client) -> None:
    status, job, _ = client.request("POST", "/2/instances?dry-run=1", CREATE)
    assert (status, job) == (200, "17")
    (op,) = client.ops()
    assert op["OP_ID"] == "OP_INSTANCE_CREATE"
    assert op["instance_name"] == "inst1.example.com"
    assert op["os_type"] == "debootstrap+default"
    assert op["disks"] == [{"size": 1024}] and op["start"] is False
    assert op["dry_run"] is True


def test_instance_create_errors(client: Client) -> None:
    old = {k: v for k, v in CREATE.items() if k != "__version__"}
    status, body, _ = client.request("POST", "/2/instances", old)
    assert status == 400 and "__version__" in body["explain"]
    status, body, _ = client.request("POST", "/2/instances",
                                     {**CREATE, "disks": [{"size": "big"}]})
    assert status == 400 and "disks" in body["explain"]
    status, body, _ = client.request("POST", "/2/instances",
                                     {**CREATE, "mode": "clone"})
    assert status == 400 and "mode" in body["explain"]


def test_instance_lifecycle_opcodes(client: Client) -> None:
    client.request("PUT", "/2/instances/i1/startup?force=1")
    assert client.ops()[0]["force"] is True
    client.request("PUT", "/2/instances/i1/shutdown", {"timeout": 30})
    assert client.ops()[0]["timeout"] == 30
    client.request("POST", "/2/instances/i1/reboot?type=soft"
                           "&ignore_secondaries=1")
    op = client.ops()[0]
    assert (op["reboot_type"], op["ignore_secondaries"]) == ("soft", True)
    client.request("DELETE", "/2/instances/i1")
    assert client.ops()[0]["OP_ID"] == "OP_INSTANCE_REMOVE"
    client.request("PUT", "/2/instances/i1/activate-disks?ignore_size=1")
    assert client.ops()[0]["ignore_size"] is True
    client.request("POST", "/2/instances/i1/disk/2/grow", {"amount": 512})
    op = client.ops()[0]
    assert (op["OP_ID"], op["disk"], op["amount"]) == \
        ("OP_INSTANCE_GROW_DISK", 2, 512)
    client.request("PUT", "/2/instances/i1/rename", {"new_name": "i2"})
    assert client.ops()[0]["new_name"] == "i2"
    client.request("PUT", "/2/instances/i1/migrate", {"mode": "non-live"})
    assert client.ops()[0]["mode"] == "non-live"
    client.request("PUT", "/2/instances/i1/modify",
                   {"beparams": {"memory": 256}})
    assert client.ops()[0]["beparams"] == {"memory": 256}
    client.request("GET", "/2/instances/i1/info?static=1", user=None)
    op = client.ops()[0]
    assert (op["instances"], op["static"]) == (["i1"], True)


def test_reinstall_body_and_query_forms(client: Client) -> None:
    client.request("POST", "/2/instances/i1/reinstall",
                   {"os": "lenny", "osparams": {"a": "b"}})
    assert [op["OP_ID"] for op in client.ops()] == [
        "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"]
    assert client.ops()[1]["os_type"] == "lenny"
    assert client.ops()[1]["osparams"] == {"a": "b"}
    client.request("POST", "/2/instances/i1/reinstall?os=etch&nostartup=1")
    assert [op["OP_ID"] for op in client.ops()] == [
        "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL"]
    status, body, _ = client.request(
        "POST", "/2/instances/i1/reinstall?os=etch", {"os": "lenny"})
    assert status == 400 and "combine" in body["explain"]


def test_replace_disks_from_query_or_body(client: Client) -> None:
    client.request("POST", "/2/instances/i1/replace-disks"
                           "?mode=replace_on_primary&disks=0,1")
    op = client.ops()[0]
    assert (op["mode"], op["disks"]) == ("replace_on_primary", [0, 1])
    client.request("POST", "/2/instances/i1/replace-disks",
                   {"mode": "replace_new_secondary", "remote_node": "n3"})
    assert client.ops()[0]["remote_node"] == "n3"
    status, body, _ = client.request("POST", "/2/instances/i1/replace-disks",
                                     {"disks": "0,x", "mode": "replace_auto"})
    assert status == 400 and "disks" in body["explain"]


def test_instance_list_and_bulk(client: Client) -> None:
    client.luxi.results["QueryInstances"] = [["i1"], ["i2"]]
    _, body, _ = client.request("GET", "/2/instances", user=None)
    assert body == [{"id": "i1", "uri": "/2/instances/i1"},
                    {"id": "i2", "uri": "/2/instances/i2"}]
    assert client.luxi.calls[-1] == ("QueryInstances", [], ["name"], False)
    # bulk: the master's encoded items are the body as they are
    client.luxi.results["QueryInstancesBulk"] = [{"name": "i1", "x": [1]}]
    _, body, _ = client.request("GET", "/2/instances?bulk=1&lock=1",
                                user=None)
    assert body == [{"name": "i1", "x": [1]}]
    assert client.luxi.calls[-1] == ("QueryInstancesBulk", [], True)


# --- nodes ---------------------------------------------------------------------

def test_node_role(client: Client) -> None:
    client.luxi.results["QueryNodes"] = [["C"]]
    assert client.request("GET", "/2/nodes/n1/role", user=None)[1] == \
        "master-candidate"
    client.request("PUT", "/2/nodes/n1/role?force=1", "drained")
    op = client.ops()[0]
    assert (op["OP_ID"], op["drained"], op["force"]) == \
        ("OP_NODE_SET_PARAMS", True, True)
    client.request("PUT", "/2/nodes/n1/role", "regular")
    op = client.ops()[0]
    assert (op["master_candidate"], op["offline"], op["drained"]) == \
        (False, False, False)
    status, body, _ = client.request("PUT", "/2/nodes/n1/role", "master")
    assert status == 400 and "master" in body["explain"]


def test_node_operations(client: Client) -> None:
    client.request("POST", "/2/nodes/n1/evacuate?iallocator=hail")
    assert client.ops()[0]["iallocator"] == "hail"
    client.request("POST", "/2/nodes/n1/migrate?live=0")
    assert client.ops()[0]["live"] is False
    client.request("POST", "/2/nodes/n1/powercycle?force=1")
    op = client.ops()[0]
    assert (op["OP_ID"], op["node_name"], op["force"]) == \
        ("OP_NODE_POWERCYCLE", "n1", True)
    client.request("POST", "/2/nodes/n1/powercycle", {"force": False})
    assert client.ops()[0]["force"] is False
    submitted = len(client.luxi.jobs)
    for body in ({"force": "yes"}, {"forse": True}):
        status, answer, _ = client.request("POST", "/2/nodes/n1/powercycle",
                                           body)
        assert status == 400, answer
    assert len(client.luxi.jobs) == submitted  # nothing submitted
    client.request("GET", "/2/nodes/n1/storage?storage_type=lvm-vg"
                          "&output_fields=name,size")
    op = client.ops()[0]
    assert (op["storage_type"], op["output_fields"]) == ("lvm-vg",
                                                         ["name", "size"])
    status, body, _ = client.request("GET", "/2/nodes/n1/storage")
    assert status == 400 and "output_fields" in body["explain"]
    client.request("PUT", "/2/nodes/n1/storage/modify?storage_type=lvm-pv"
                          "&name=/dev/sda&allocatable=0")
    assert client.ops()[0]["changes"] == {"allocatable": False}


# --- jobs ------------------------------------------------------------------------

def test_job_status_and_cancel(client: Client) -> None:
    status, body, _ = client.request("GET", "/2/jobs/5", user=None)
    assert status == 404
    row = ["5", [], "success", [], [], None, None, None, [], [], -10]
    client.luxi.results["QueryJobs"] = [row]
    status, body, _ = client.request("GET", "/2/jobs/5", user=None)
    assert body["status"] == "success" and set(body) >= {
        "id", "ops", "opstatus", "opresult", "oplog", "summary"}
    assert body["priority"] == -10
    status, body, _ = client.request("DELETE", "/2/jobs/5")
    assert body == [True, "Job 5 canceled"]


def test_body_priority_applies_to_every_opcode(client: Client) -> None:
    client.request("PUT", "/2/instances/i1/shutdown", {"priority": -10})
    assert [op["priority"] for op in client.ops()] == [-10]
    client.request("POST", "/2/instances/i1/reinstall",
                   {"os": "debian", "priority": 10})
    assert [op["priority"] for op in client.ops()] == [10, 10, 10]
    client.request("PUT", "/2/instances/i1/startup?force=1")
    assert client.ops()[0]["priority"] == 0


@pytest.mark.parametrize("bad", [20, -21, "high", True, 1.5])
def test_body_priority_out_of_range_is_400(client: Client, bad: Any) -> None:
    before = len(client.luxi.jobs)
    status, body, _ = client.request("PUT", "/2/instances/i1/shutdown",
                                     {"priority": bad})
    assert status == 400
    assert "priority" in body["explain"]
    assert len(client.luxi.jobs) == before


def test_job_wait(client: Client) -> None:
    client.luxi.results["WaitForJobChange"] = "nochange"
    status, body, _ = client.request("GET", "/2/jobs/3/wait",
                                     {"fields": ["status"]})
    assert (status, body) == (200, None)
    client.luxi.results["WaitForJobChange"] = [["running"], [[1, [0, 0],
                                                               "message", "m"]]]
    _, body, _ = client.request("GET", "/2/jobs/3/wait", {
        "fields": ["status"], "previous_job_info": ["queued"],
        "previous_log_serial": 0})
    assert body == {"job_info": ["running"],
                    "log_entries": [[1, [0, 0], "message", "m"]]}
    assert client.luxi.calls[-1][1:5] == (3, ["status"], ["queued"], 0)
    for bad in ({}, {"fields": "status"}, {"fields": ["status"],
                                            "previous_log_serial": "1"}):
        status, body, _ = client.request("GET", "/2/jobs/3/wait", bad)
        assert status == 400
    # Long polls need write access.
    assert client.request("GET", "/2/jobs/3/wait", {"fields": ["id"]},
                          user=None)[0] == 401


# --- errors from the master -------------------------------------------------

def test_master_errors_become_http_errors(client: Client) -> None:
    client.luxi.fail = errors.OpPrereqError("Instance 'x' not known",
                                            errors.ErrorCode.NOENT)
    status, body, _ = client.request("GET", "/2/instances/x", user=None)
    assert status == 404 and body["explain"] == "Instance 'x' not known"
    client.luxi.fail = errors.OpPrereqError(
        "Operation OP_NODE_QUERY is not supported by this version",
        errors.ErrorCode.INVAL)
    status, body, _ = client.request("GET", "/2/nodes", user=None)
    assert status == 400 and "not supported" in body["explain"]
    client.luxi.fail = errors.LuxiError("Cannot communicate with the master")
    assert client.request("GET", "/2/info", user=None)[0] == 502


def test_auth_in_the_app(tmp_path: Path) -> None:
    client = Client(tmp_path)
    assert client.request("PUT", "/2/tags?tag=a", user=None)[0] == 401
    assert client.request("PUT", "/2/tags?tag=a",
                          user=("viewer", "viewpw"))[0] == 403
    assert client.request("GET", "/2/info", user=None)[0] == 200
    (tmp_path / "strict").mkdir()
    strict = Client(tmp_path / "strict", require_auth=True)
    assert strict.request("GET", "/version", user=None)[0] == 401
    assert strict.request("GET", "/version")[0] == 200


def test_groups(client: Client) -> None:
    from ganeti.rapi import rgroups
    client.luxi.results["QueryGroups"] = [["default"], ["rack2"]]
    assert client.request("GET", "/2/groups", user=None)[1] == [
        {"name": "default", "uri": "/2/groups/default"},
        {"name": "rack2", "uri": "/2/groups/rack2"}]
    row = [f"value-{f}" for f in rgroups.G_FIELDS]
    client.luxi.results["QueryGroups"] = [row]
    _, group, _ = client.request("GET", "/2/groups/rack2", user=None)
    assert group == dict(zip(rgroups.G_FIELDS, row, strict=True))
    assert client.luxi.calls[-1] == ("QueryGroups", ["rack2"],
                                     rgroups.G_FIELDS, False)
    client.luxi.results["QueryGroups"] = []
    assert client.request("GET", "/2/groups/other", user=None)[0] == 404


def test_group_writes_are_jobs(client: Client) -> None:
    assert client.request("POST", "/2/groups?dry-run=1", {
        "group_name": "rack2", "alloc_policy": "last_resort",
        "ipolicy": {"vcpu-ratio": 2}})[:2] == (200, "17")
    (op,) = client.ops()
    assert op["OP_ID"] == "OP_GROUP_ADD" and op["group_name"] == "rack2"
    assert op["dry_run"] is True and op["ipolicy"] == {"vcpu-ratio": 2}
    client.request("POST", "/2/groups", {"name": "old-style"})
    assert client.ops()[0]["group_name"] == "old-style"
    client.request("PUT", "/2/groups/rack2/rename", {"new_name": "rack3"})
    assert client.ops()[0]["OP_ID"] == "OP_GROUP_RENAME"
    assert client.ops()[0]["new_name"] == "rack3"
    client.request("PUT", "/2/groups/rack2/assign-nodes?force=1",
                   {"nodes": ["node1.example.com"]})
    (op,) = client.ops()
    assert (op["OP_ID"], op["nodes"], op["force"]) == (
        "OP_GROUP_ASSIGN_NODES", ["node1.example.com"], True)
    client.request("PUT", "/2/groups/rack2/modify",
                   {"alloc_policy": "unallocable"})
    assert client.ops()[0]["OP_ID"] == "OP_GROUP_SET_PARAMS"
    client.request("DELETE", "/2/groups/rack2")
    assert client.ops()[0]["OP_ID"] == "OP_GROUP_REMOVE"
    client.request("PUT", "/2/groups/rack2/tags?tag=a")
    assert client.ops()[0]["kind"] == "nodegroup"
    status, body, _ = client.request("POST", "/2/groups", {"group_name": "x",
                                                           "alloc_policy": 5})
    assert status == 400 and "alloc_policy" in body["explain"]
    assert client.request("POST", "/2/groups", {"group_name": "x"},
                          user=("viewer", "viewpw"))[0] == 403


def test_query_resource_checks(client: Client) -> None:
    assert client.request("GET", "/2/query/nonsense?fields=name")[0] == 404
    status, body, _ = client.request("GET", "/2/query/node")
    assert status == 400 and "fields" in body["explain"]
    status, body, _ = client.request("PUT", "/2/query/node", {"fields": ["name"],
                                                             "filter": [],
                                                             "qfilter": []})
    assert status == 400


def test_query_is_answered_without_a_job(client: Client) -> None:
    # Each GET /2/query was a job: the web console's instance list filled
    # the job list, and paid for the job's round trips.
    answer = {"fields": [{"name": "name", "title": "Instance",
                          "kind": "text", "doc": "Instance name"}],
              "data": [[[0, "i1"]]]}
    client.luxi.results["Query"] = answer
    status, body, _ = client.request("GET", "/2/query/instance?fields=name,"
                                     "oper_state", user=("viewer", "viewpw"))
    assert (status, body) == (200, answer)
    status, _, _ = client.request("PUT", "/2/query/node", {
        "fields": ["name"], "qfilter": ["=", "name", "n1"]})
    assert status == 200
    client.luxi.results["QueryFields"] = {"fields": []}
    assert client.request("GET", "/2/query/node/fields")[:2] == (
        200, {"fields": []})
    assert client.luxi.jobs == []
    assert client.luxi.calls == [
        ("Query", "instance", ["name", "oper_state"], None),
        ("Query", "node", ["name"], ["=", "name", "n1"]),
        ("QueryFields", "node", None)]


def test_export_and_prepare_export(client: Client) -> None:
    client.request("PUT", "/2/instances/i1/export",
                   {"mode": "local", "destination": "node2",
                    "shutdown": False, "remove_instance": False})
    op = client.ops()[0]
    assert (op["OP_ID"], op["instance_name"], op["target_node"],
            op["shutdown"], op["mode"]) == \
        ("OP_BACKUP_EXPORT", "i1", "node2", False, "local")
    client.request("PUT", "/2/instances/i1/prepare-export?mode=local")
    op = client.ops()[0]
    assert (op["OP_ID"], op["mode"]) == ("OP_BACKUP_PREPARE", "local")
    for path, body in (("/2/instances/i1/prepare-export?mode=remote", None),
                       ("/2/instances/i1/export",
                        {"mode": "remote", "destination": [[1, 2, 3]]}),
                       ("/2/instances/i1/export",
                        {"destination": "n", "x509_key_name": ["k", "h"]})):
        status, answer, _ = client.request("PUT", path, body)
        assert status == 400, answer
        assert "emote" in answer["explain"] and "not support" in \
            answer["explain"], answer
    status, answer, _ = client.request("PUT", "/2/instances/i1/prepare-export")
    assert status == 400 and "'mode'" in answer["explain"]


def test_iallocator_fields_of_the_bodies(client: Client) -> None:
    body = {k: v for k, v in CREATE.items() if k != "pnode"}
    client.request("POST", "/2/instances", {**body, "iallocator": "hail"})
    (op,) = client.ops()
    assert (op["iallocator"], op.get("pnode")) == ("hail", None)
    for action in ("migrate", "failover"):
        client.request("PUT", f"/2/instances/i1/{action}",
                       {"iallocator": "builtin"})
        assert client.ops()[0]["iallocator"] == "builtin"
    client.request("PUT", "/2/modify", {"default_iallocator": "hail"})
    assert client.ops()[0]["default_iallocator"] == "hail"
    status, body_, _ = client.request("PUT", "/2/modify",
                                      {"default_iallocator": "../x"})
    assert status == 400 and "default_iallocator" in body_["explain"]
