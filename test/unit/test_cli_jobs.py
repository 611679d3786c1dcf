"""The CLI job layer: submit_opcode, poll_job, job outcomes, parsing
helpers.  The master daemon is replaced at the process boundary by a fake
LUXI client that replays scripted WaitForJobChange answers."""

from __future__ import annotations

import argparse
import io
import time
from typing import Any

import pytest

from ganeti import cli, errors, opcodes


class FakeClient:
    """Answers like masterd: one scripted WaitForJobChange reply per call,
    then the final QueryJobs row."""

    def __init__(self, changes: list[Any], final: list[Any] | None,
                 job_id: int = 7) -> None:
        self.changes = list(changes)
        self.final = final
        self.job_id = job_id
        self.submitted: list[list[dict[str, Any]]] = []
        self.waits: list[tuple[Any, ...]] = []

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        return self.job_id

    def wait_for_job_change(self, job_id: int, fields: list[str],
                            prev_info: Any, prev_serial: Any) -> Any:
        self.waits.append((job_id, fields, prev_info, prev_serial))
        return self.changes.pop(0)

    def query_jobs(self, ids: list[int], fields: list[str]) -> Any:
        return [self.final]


def _entry(serial: int, text: str) -> list[Any]:
    return [serial, [1700000000 + serial, 0], "message", text]


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> tuple[io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli._streams, "out", stdout)
    monkeypatch.setattr(cli._streams, "err", stderr)
    return stdout, stderr


def test_poll_job_prints_log_as_it_arrives(out: Any) -> None:
    cl = FakeClient(
        [[["queued"], []], cli.JOB_NOTCHANGED,
         [["running"], [_entry(1, "first"), _entry(2, "second")]],
         [["success"], [_entry(3, "third")]]],
        ["success", ["success"], [{"answer": 42}]])
    assert cli.poll_job(7, cl) == [{"answer": 42}]  # type: ignore[arg-type]
    stdout, stderr = out
    lines = stdout.getvalue().splitlines()
    assert lines == [f"{time.ctime(1700000000 + n)} {text}"
                     for n, text in ((1, "first"), (2, "second"), (3, "third"))]
    assert stderr.getvalue() == "Job 7 is waiting in queue\n"
    # The serial of the last seen entry is passed back each time.
    assert [w[3] for w in cl.waits] == [None, None, None, 2]


def test_submit_opcode_returns_the_single_result(out: Any) -> None:
    cl = FakeClient([[["success"], []]], ["success", ["success"], [5]])
    op = opcodes.OpTestDelay(duration=0)
    assert cli.submit_opcode(op, cl) == 5  # type: ignore[arg-type]
    assert cl.submitted == [[op.to_dict()]]
    cl2 = FakeClient([[["success"], []]],
                     ["success", ["success", "success"], [1, 2]])
    assert cli.submit_opcode([op, op], cl2) == [1, 2]  # type: ignore[arg-type]


def test_submit_only_raises_job_submitted(out: Any) -> None:
    cl = FakeClient([], None, job_id=12)
    opts = argparse.Namespace(submit_only=True)
    with pytest.raises(cli.JobSubmittedException) as info:
        cli.submit_opcode(opcodes.OpTestDelay(duration=0), cl,  # type: ignore[arg-type]
                          opts=opts)
    assert cli.format_error(info.value) == (0, "JobID: 12")
    assert cl.waits == []


def test_failed_job_raises_the_decoded_error(out: Any) -> None:
    encoded = errors.encode(errors.OpPrereqError("Node 'x' not known",
                                                 errors.ErrorCode.NOENT))
    cl = FakeClient([[["error"], []]], ["error", ["error"], [encoded]])
    with pytest.raises(errors.OpPrereqError) as info:
        cli.poll_job(3, cl)  # type: ignore[arg-type]
    assert str(info.value) == "Node 'x' not known"
    assert cli.format_error(info.value) == (
        1, "Failure: prerequisites not met for this operation:\n"
           "Node 'x' not known")


def test_partial_failure_and_cancel() -> None:
    bad = errors.encode(errors.OpExecError("disk full"))
    with pytest.raises(errors.OpExecError, match=r"Partial failure \(opcode 1\)"
                       r": disk full"):
        cli.job_outcome(4, "error", ["success", "error"], [None, bad])
    with pytest.raises(errors.OpExecError, match="Job 4 was canceled"):
        cli.job_outcome(4, "canceled", ["canceled"], [None])
    with pytest.raises(errors.OpExecError, match="plain text"):
        cli.job_outcome(4, "error", ["error"], ["plain text"])


def test_unknown_job_is_lost(out: Any) -> None:
    cl = FakeClient([None], None)
    with pytest.raises(errors.JobLost, match="Job with id 7 lost"):
        cli.poll_job(7, cl)  # type: ignore[arg-type]


def test_no_master_message_and_exit_code(tmp_path: Any) -> None:
    from ganeti import luxi

    cl = luxi.Client(str(tmp_path / "no-socket"))
    with pytest.raises(luxi.NoMasterError) as info:
        cli.submit_opcode(opcodes.OpTestDelay(duration=0), cl)
    code, text = cli.format_error(info.value)
    assert code == 1
    assert text.startswith("Cannot communicate with the master daemon.")


@pytest.mark.parametrize(("given", "expected"), [
    (None, ["id", "status"]), ("+a,b", ["id", "status", "a", "b"]),
    ("x,y", ["x", "y"]), ("", [])])
def test_parse_fields(given: str | None, expected: list[str]) -> None:
    assert cli.parse_fields(given, ("id", "status")) == expected


@pytest.mark.parametrize(("spec", "seconds"), [
    ("3600", 3600), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400),
    ("1w", 604800)])
def test_parse_timespec(spec: str, seconds: int) -> None:
    assert cli.parse_timespec(spec) == seconds


@pytest.mark.parametrize("spec", ["", "d", "1x", "-1", "1.5h"])
def test_parse_timespec_rejects(spec: str) -> None:
    with pytest.raises(errors.UsageError):
        cli.parse_timespec(spec)


def test_format_timestamp() -> None:
    text = cli.format_timestamp([0, 5])
    assert text.endswith(".000005") and len(text) == 26
    assert cli.format_timestamp(None) == "?"
    assert cli.format_timestamp(["a", 1]) == "?"


def test_usage_error_is_one_line_exit_2() -> None:
    assert cli.format_error(errors.UsageError("Invalid job ID 'x'")) == (
        2, "Error: Invalid job ID 'x'")
