"""gnt-job, gnt-debug and gnt-cluster commands against a fake LUXI client
(the process boundary), through GenericMain."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ganeti import cli
from ganeti.client import gnt_cluster, gnt_debug, gnt_job

TS = [1700000000, 250000]


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.drained = False

    def query_jobs(self, ids: Any, fields: list[str]) -> Any:
        self.calls.append(("query_jobs", (ids, fields)))
        if ids is None:
            ids = [1, 2]
        rows = []
        for job_id in ids:
            if job_id > 2:
                rows.append(None)
                continue
            values = {
                "id": job_id, "status": "success",
                "summary": ["TEST_DELAY(1.0)"], "received_ts": TS,
                "start_ts": TS, "end_ts": [TS[0] + 1, TS[1]],
                "ops": [{"OP_ID": "OP_TEST_DELAY", "duration": 1.0}],
                "opstatus": ["success"], "opresult": [None],
                "oplog": [[[1, TS, "message", "hello"]]],
                "opstart": [TS], "opexec": [TS], "opend": [TS],
                "lock_status": None}
            rows.append([values[f] for f in fields])
        return rows

    def cancel_job(self, job_id: int) -> Any:
        return [job_id == 1, f"Job {job_id} " + (
            "canceled" if job_id == 1 else "not found")]

    def archive_job(self, job_id: int) -> bool:
        return job_id == 1

    def autoarchive_jobs(self, age: float, timeout: float) -> Any:
        self.calls.append(("autoarchive", (age, timeout)))
        return [3, 0]

    def query_locks(self, fields: list[str]) -> Any:
        row = {"name": "node/n1", "mode": "exclusive", "owner": ["job/5"],
               "pending": [["shared", ["job/6", "job/7"]]]}
        return [[row[f] for f in fields]]

    def set_queue_drain_flag(self, flag: bool) -> bool:
        self.drained = flag
        return True

    def query_config_values(self, fields: list[str]) -> Any:
        return [self.drained]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(cli, "get_client", lambda: client)
    return client


def _run(module: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(module.commands(), ["gnt-x", *argv],
                           aliases=getattr(module, "ALIASES", None),
                           stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_job_list_default_and_added_fields(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_job, "list")
    assert code == 0
    assert out.splitlines() == ["ID Status  Summary",
                                " 1 success TEST_DELAY(1.0)",
                                " 2 success TEST_DELAY(1.0)"]
    code, out, _ = _run(gnt_job, "list", "--no-headers", "--separator=,",
                        "-o", "+start_ts", "2")
    assert code == 0
    (line,) = out.splitlines()
    parts = line.split(",")
    assert parts[:3] == ["2", "success", "TEST_DELAY(1.0)"]
    assert parts[3] == cli.format_timestamp(TS)
    assert fake.calls[-1] == ("query_jobs", ([2], ["id", "status", "summary",
                                                   "start_ts"]))


def test_job_list_unknown_field_exit_14(fake: FakeClient) -> None:
    code, _, err = _run(gnt_job, "list", "-o", "bogus")
    assert code == 14
    assert "bogus" in err


def test_job_info_layout(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_job, "info", "1", "9")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["Job ID: 1", "  Status: success",
                         f"  Received:         {cli.format_timestamp(TS)}"]
    assert "  Total processing time: 1.000000 seconds" in lines
    assert "        duration: 1.0" in lines
    assert f"        {cli.format_timestamp(TS)}:message: hello" in lines
    assert lines[-1] == "Job ID: 9 not found"
    # "show" is Ganeti's alias of info.
    assert _run(gnt_job, "show", "1")[1] == _run(gnt_job, "info", "1")[1]


def test_cancel_archive_autoarchive(fake: FakeClient) -> None:
    assert _run(gnt_job, "cancel", "1") == (0, "Job 1 canceled\n", "")
    assert _run(gnt_job, "cancel", "1", "4") == (
        1, "Job 1 canceled\n", "Job 4 not found\n")
    assert _run(gnt_job, "archive", "1")[0] == 0
    assert _run(gnt_job, "archive", "2") == (
        1, "", "Failed to archive job with ID '2'\n")
    assert _run(gnt_job, "autoarchive", "2h") == (
        0, "Archived 3 jobs, 0 unchecked left\n", "")
    assert fake.calls[-1][1][0] == 7200
    _run(gnt_job, "autoarchive", "all")
    assert fake.calls[-1][1][0] == -1


def test_job_id_and_arg_count_errors(fake: FakeClient) -> None:
    assert _run(gnt_job, "archive", "x1") == (2, "", "Error: Invalid job ID"
                                                     " 'x1'\n")
    assert _run(gnt_job, "watch")[0] == 1  # argument count, as Ganeti


def test_locks_table(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_debug, "locks")
    assert code == 0
    assert out.splitlines() == [
        "Name    Mode      Owner Pending",
        "node/n1 exclusive job/5 shared:job/6,job/7"]
    assert _run(gnt_debug, "locks", "-o", "name,owner", "--no-headers") == (
        0, "node/n1 job/5\n", "")
    assert _run(gnt_debug, "locks", "-o", "nosuch")[0] == 14


def test_load_opcode_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 2}]))
    (op,) = gnt_debug.load_opcode_file(str(good))
    assert op["OP_ID"] == "OP_TEST_DELAY" and op["duration"] == 2.0
    for content, reason in [("{", "not valid JSON"),
                            ("{}", "expected a non-empty JSON list"),
                            ("[]", "expected a non-empty JSON list"),
                            ('[{"OP_ID": "OP_NOPE"}]', "opcode 0"),
                            ('[{"OP_ID": "OP_TEST_DELAY", "duration": -1}]',
                             "opcode 0")]:
        path = tmp_path / "bad.json"
        path.write_text(content)
        with pytest.raises(gnt_debug.OpFileError, match=reason):
            gnt_debug.load_opcode_file(str(path))


def test_queue_commands(fake: FakeClient) -> None:
    assert _run(gnt_cluster, "queue", "info") == (
        0, "The drain flag is unset\n", "")
    assert _run(gnt_cluster, "queue", "drain")[0] == 0
    assert _run(gnt_cluster, "queue", "info")[1] == "The drain flag is set\n"
    assert _run(gnt_cluster, "queue", "undrain")[0] == 0
    assert not fake.drained
    code, _, err = _run(gnt_cluster, "queue", "purge")
    assert code == 1 and len(err.splitlines()) == 1


def test_cluster_info_layout() -> None:
    lines = gnt_cluster.format_cluster_info({
        "name": "c.example.com", "uuid": "u-1", "ctime": 0.5, "mtime": None,
        "master": "n1", "architecture": ["64bit", "x86_64"],
        "tags": ["b", "a"], "default_hypervisor": "fake",
        "enabled_hypervisors": ["fake"],
        "hvparams": {"fake": {"kernel_path": "/k"}}, "os_hvp": {},
        "candidate_pool_size": 10, "uid_pool": [[1000, 1000], [2000, 2009]],
        "beparams": {"default": {"memory": 128}},
        "nicparams": {"default": {"mode": "bridged"}}})
    assert lines[0] == "Cluster name: c.example.com"
    assert "Modification time: N/A" in lines
    assert "Architecture (this node): 64bit (x86_64)" in lines
    assert "Tags: a, b" in lines
    assert lines[lines.index("Hypervisor parameters:") + 1:][:2] == [
        "  - fake:", "      kernel_path: /k"]
    assert "  - uid pool: 1000, 2000-2009" in lines
    assert "      memory: 128" in lines
