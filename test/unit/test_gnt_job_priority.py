"""Job priorities and the newer gnt-job commands on the CLI side, against
a fake LUXI client (the process boundary): ``--priority``,
``--print-jobid``, ``--submit``, ``gnt-job change-priority``, ``wait``
and ``list -F``/status selections."""

from __future__ import annotations

from typing import Any

import pytest
from test_gnt_job_debug import _run

from ganeti import cli, constants, errors
from ganeti.client import gnt_debug, gnt_instance, gnt_job

SUCCESS = constants.JOB_STATUS_SUCCESS


class FakeClient:
    """Jobs 1..3 with statuses and priorities; submits are recorded and
    finish with ``outcome``."""

    def __init__(self) -> None:
        self.submitted: list[list[dict[str, Any]]] = []
        self.priority_calls: list[tuple[int, int]] = []
        self.outcome = (SUCCESS, ["success"], [None])
        self.jobs = {1: ("success", 0), 2: ("queued", 10), 3: ("waiting", -10)}

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        return 40 + len(self.submitted)

    def wait_for_job_change(self, job_id: int, fields: list[str],
                            prev: Any, serial: Any, timeout: float = 0) -> Any:
        if job_id == 99:
            return None
        return [[self.outcome[0]], []]

    def query_jobs(self, ids: Any, fields: list[str]) -> Any:
        if fields == ["status", "opstatus", "opresult"]:
            return [list(self.outcome)]
        rows = []
        for job_id in ids or sorted(self.jobs):
            status, prio = self.jobs[job_id]
            values = {"id": job_id, "status": status, "priority": prio,
                      "summary": ["TEST_DELAY(1.0)"]}
            rows.append([values[f] for f in fields])
        return rows

    def change_job_priority(self, job_id: int, priority: int) -> Any:
        self.priority_calls.append((job_id, priority))
        if self.jobs[job_id][0] == "success":
            return [False, f"Job {job_id} is finished"]
        return [True, f"Priorities of pending opcodes for job {job_id} have"
                f" been changed to {priority}"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(cli, "get_client", lambda: client)
    return client


@pytest.mark.parametrize(("name", "value"),
                         [("low", 10), ("normal", 0), ("high", -10)])
def test_priority_names_set_every_opcode(fake: FakeClient, name: str,
                                         value: int) -> None:
    code, out, _ = _run(gnt_debug, "delay", "--priority", name, "1")
    assert code == 0, out
    assert [op["priority"] for op in fake.submitted[0]] == [value]


def test_no_priority_keeps_the_opcode_default(fake: FakeClient) -> None:
    assert _run(gnt_debug, "delay", "1")[0] == 0
    assert fake.submitted[0][0]["priority"] == constants.OP_PRIO_DEFAULT


def test_unknown_priority_name_is_a_usage_error(fake: FakeClient) -> None:
    code, _, err = _run(gnt_debug, "delay", "--priority", "urgent", "1")
    assert code == 2
    assert "invalid choice: 'urgent'" in err
    assert fake.submitted == []


def test_print_jobid_and_submit(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_debug, "delay", "--print-jobid", "1")
    assert code == 0
    assert out.splitlines()[0] == "41"
    code, out, _ = _run(gnt_debug, "delay", "--submit", "--priority", "low",
                        "1")
    assert (code, out) == (0, "JobID: 42\n")
    assert fake.submitted[1][0]["priority"] == 10


def test_multi_instance_submit_honours_priority(fake: FakeClient,
                                                monkeypatch: Any) -> None:
    from ganeti.client import instance_ops

    monkeypatch.setattr(instance_ops, "expand_names",
                        lambda cl, mode, args: ["i1", "i2"])
    code, out, _ = _run(gnt_instance, "startup", "--submit", "--force-multiple",
                        "--priority", "high", "i1", "i2")
    assert code == 0, out
    assert out.splitlines() == ["JobID: 41", "JobID: 42"]
    assert [ops[0]["priority"] for ops in fake.submitted] == [-10, -10]


def test_every_submit_command_offers_the_job_options() -> None:
    from ganeti.client import (
        gnt_backup,
        gnt_cluster,
        gnt_node,
        gnt_os,
    )

    for module in (gnt_backup, gnt_cluster, gnt_debug, gnt_instance,
                   gnt_job, gnt_node, gnt_os):
        for name, cmd in module.commands().items():
            flags = {f for opt in cli.command_options(cmd) for f in opt.flags}
            if "--submit" in flags:
                assert {"--priority", "--print-jobid"} <= flags, name


def test_change_priority(fake: FakeClient) -> None:
    code, out, err = _run(gnt_job, "change-priority", "--priority", "high",
                          "2", "3")
    assert code == 0, err
    assert fake.priority_calls == [(2, -10), (3, -10)]
    assert out.splitlines()[0] == ("Priorities of pending opcodes for job 2"
                                   " have been changed to -10")


def test_change_priority_of_finished_job_fails(fake: FakeClient) -> None:
    code, _, err = _run(gnt_job, "change-priority", "--priority", "low", "1")
    assert code == 1
    assert err == "Job 1 is finished\n"


def test_change_priority_needs_the_option(fake: FakeClient) -> None:
    code, _, err = _run(gnt_job, "change-priority", "2")
    assert code == 2
    assert "--priority option must be given" in err
    assert fake.priority_calls == []


@pytest.mark.parametrize(("outcome", "code"), [
    ((SUCCESS, ["success"], [None]), 0),
    (("error", ["error"], [errors.encode(errors.OpExecError("boom"))]), 1),
    (("canceled", ["canceled"],
      [errors.encode(errors.CancelledError("Job canceled by request"))]), 1),
])
def test_wait_exit_code_is_the_outcome(fake: FakeClient, outcome: Any,
                                       code: int) -> None:
    fake.outcome = outcome
    got, out, err = _run(gnt_job, "wait", "2")
    assert got == code
    assert out == ""
    assert (err == "") == (code == 0)
    if code:
        assert err.startswith("Job 2 failed: ")


def test_wait_unknown_job(fake: FakeClient) -> None:
    code, _, err = _run(gnt_job, "wait", "99")
    assert code != 0
    assert "Job 99 not found" in err


def test_list_filter(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_job, "list", "--no-headers", "-o", "id",
                        "-F", "priority < 5")
    assert (code, out.split()) == (0, ["1", "3"])
    code, out, _ = _run(gnt_job, "list", "--no-headers", "-o", "id",
                        'status == "queued" or id == 1')
    assert (code, out.split()) == (0, ["1", "2"])


def test_list_status_selections(fake: FakeClient) -> None:
    code, out, _ = _run(gnt_job, "list", "--no-headers", "-o", "id",
                        "--pending")
    assert (code, out.split()) == (0, ["2", "3"])
    code, out, _ = _run(gnt_job, "list", "--no-headers", "-o", "id",
                        "--finished", "--waiting")
    assert (code, out.split()) == (0, ["1", "3"])
    code, out, _ = _run(gnt_job, "list", "--no-headers", "-o", "id",
                        "--pending", "-F", "priority >= 0")
    assert (code, out.split()) == (0, ["2"])


def test_list_bad_filter_is_an_error(fake: FakeClient) -> None:
    code, _, err = _run(gnt_job, "list", "-F", "nosuchfield == 1")
    assert code != 0
    assert "nosuchfield" in err
    code, _, err = _run(gnt_job, "list", "-F", "priority ==")
    assert code != 0 and "Invalid query filter: 'priority =='" in err
