"""tools/burnin's logic against a scripted LUXI client: which steps run
for a template, the jobs of a step, parallel submission, a failed job
dropping its instance and the summary's exit code."""

from __future__ import annotations

from typing import Any

import pytest

from ganeti import burnin, constants

NODES = ["n1", "n2", "n3"]


class FakeClient:
    """Answers jobs at once; ops whose OP_ID is in ``fail`` fail."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.fail = fail
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.many: list[int] = []

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        job_id = len(self.jobs) + 1
        self.jobs[job_id] = ops
        return job_id

    def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> Any:
        self.many.append(len(jobs))
        return [[True, self.submit_job(ops)] for ops in jobs]

    def wait_for_job_change(self, job_id: int, *_args: Any) -> Any:
        status = (constants.JOB_STATUS_ERROR if self._failing(job_id)
                  else constants.JOB_STATUS_SUCCESS)
        return [[status], []]

    def _failing(self, job_id: int) -> bool:
        return any(op["OP_ID"] in self.fail for op in self.jobs[job_id])

    def _result(self, op: dict[str, Any]) -> Any:
        if op["OP_ID"] == "OP_NODE_QUERY":
            return [[n, False] for n in NODES]
        if op["OP_ID"] == "OP_INSTANCE_QUERY":
            values = {"pnode": "n1", "snodes": ["n2"], "disk.sizes": [256],
                      "name": None}
            names = op["names"] or ["i1", "i2"]
            return [[name if f == "name" else values[f]
                     for f in op["output_fields"]] for name in names]
        return None

    def query_jobs(self, ids: list[int], _fields: list[str]) -> Any:
        job_id = ids[0]
        ops = self.jobs[job_id]
        if self._failing(job_id):
            return [[constants.JOB_STATUS_ERROR,
                     [constants.OP_STATUS_ERROR] * len(ops),
                     [["OpExecError", ["simulated failure", 0]]] * len(ops)]]
        return [[constants.JOB_STATUS_SUCCESS,
                 [constants.OP_STATUS_SUCCESS] * len(ops),
                 [self._result(op) for op in ops]]]

    def query_cluster_info(self) -> Any:
        return {"default_hypervisor": constants.HT_FAKE}

    def op_ids(self) -> list[str]:
        return [op["OP_ID"] for ops in self.jobs.values() for op in ops
                if op["OP_ID"] not in ("OP_NODE_QUERY", "OP_INSTANCE_QUERY")]


def run(capsys: pytest.CaptureFixture[str], client: FakeClient,
        *args: str) -> tuple[int, str]:
    code = burnin.main(["-o", "os+v", "--no-name-check", *args],
                       client=client)  # type: ignore[arg-type]
    return code, capsys.readouterr().out


def test_drbd_runs_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    code, out = run(capsys, client, "-t", "drbd", "--rename", "r1", "i1", "i2")
    assert code == 0 and out.rstrip().endswith("Burnin passed"), out
    skipped = [line.split()[0] for line in out.split("Summary:")[1]
               .splitlines() if "skipped" in line]
    assert skipped == ["move"], out
    ops = client.op_ids()
    for op_id in ("OP_INSTANCE_CREATE", "OP_INSTANCE_REPLACE_DISKS",
                  "OP_INSTANCE_FAILOVER", "OP_INSTANCE_MIGRATE",
                  "OP_BACKUP_EXPORT", "OP_INSTANCE_RENAME",
                  "OP_INSTANCE_REMOVE"):
        assert op_id in ops, (op_id, ops)
    assert not client.many  # without -p, one job at a time
    create = [op for ops in client.jobs.values() for op in ops
              if op["OP_ID"] == "OP_INSTANCE_CREATE"]
    assert [(c["pnode"], c["snode"]) for c in create[:2]] == [
        ("n1", "n2"), ("n2", "n3")]
    # The import recreates the disks at the size the query reported.
    assert create[-1]["mode"] == constants.INSTANCE_IMPORT
    assert create[-1]["disks"] == [{"size": 256}], create[-1]


def test_diskless_skips_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    code, out = run(capsys, client, "-t", "diskless", "-p", "i1", "i2")
    assert code == 0, out
    assert "- grow-disk: skipped (the diskless template has no disks)" in out
    assert "- failover: skipped (the diskless template is not mirrored)" in out
    assert "- rename: skipped (no --rename name given)" in out
    assert "OP_INSTANCE_GROW_DISK" not in client.op_ids()
    assert client.many and set(client.many) == {2}  # -p: both together


def test_a_failure_drops_the_instance_and_exits_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(fail=frozenset(["OP_INSTANCE_GROW_DISK"]))
    code, out = run(capsys, client, "-t", "plain", "i1")
    assert code == 1, out
    assert "    FAILED i1: job " in out and "simulated failure" in out, out
    assert "- reboot: skipped (no instance left)" in out, out
    # Still removed at the end.
    assert client.op_ids()[-1] == "OP_INSTANCE_REMOVE", client.op_ids()
    assert out.rstrip().endswith("Burnin FAILED: 1 failed job(s)"), out
