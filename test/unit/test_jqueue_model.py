"""The job queue model: status rule, transition table, job records."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import constants, errors, opcodes, serializer
from ganeti.jqueue import model
from ganeti.jqueue.model import (
    JOB_FIELDS,
    OP_TRANSITIONS,
    _QueuedJob,
    calc_job_status,
    check_fields,
    check_transition,
    merge_time,
    split_time,
)

OP_STATUSES = sorted(OP_TRANSITIONS)
statuses = st.lists(st.sampled_from(OP_STATUSES), max_size=12)


def _reference_status(ops: list[str]) -> str:
    """The documented rule, written independently as a cascade."""
    for marker in ("error", "canceling", "canceled"):
        if marker in ops:
            return marker
    if ops and all(s == "success" for s in ops):
        return "success"
    for marker in ("running", "waiting"):
        if marker in ops:
            return marker
    return "queued"


@given(statuses)
def test_job_status_follows_the_rule(ops: list[str]) -> None:
    assert calc_job_status(ops) == _reference_status(ops)


@given(statuses, st.randoms(use_true_random=False))
def test_job_status_ignores_opcode_order(ops: list[str], rnd: Any) -> None:
    shuffled = list(ops)
    rnd.shuffle(shuffled)
    assert calc_job_status(shuffled) == calc_job_status(ops)


@given(statuses)
def test_job_status_is_a_job_status(ops: list[str]) -> None:
    assert calc_job_status(ops) in model.JOB_STATUSES


@given(st.lists(st.sampled_from(["success", "queued"]), min_size=1))
def test_between_opcodes_a_job_is_queued_or_done(ops: list[str]) -> None:
    expected = "success" if set(ops) == {"success"} else "queued"
    assert calc_job_status(ops) == expected


def test_job_status_examples() -> None:
    assert calc_job_status([]) == constants.JOB_STATUS_QUEUED
    assert calc_job_status(["success", "running", "queued"]) == "running"
    assert calc_job_status(["success", "waiting", "queued"]) == "waiting"
    assert calc_job_status(["success", "error", "error"]) == "error"
    assert calc_job_status(["canceled", "canceled"]) == "canceled"
    assert calc_job_status(["canceling", "error"]) == "error"


def test_job_status_rejects_unknown_status() -> None:
    with pytest.raises(errors.ProgrammerError, match="bogus"):
        calc_job_status(["success", "bogus"])


EXPECTED_EDGES = {
    ("queued", "waiting"), ("queued", "canceling"), ("queued", "canceled"),
    ("queued", "error"),
    ("waiting", "running"), ("waiting", "canceling"), ("waiting", "error"),
    ("canceling", "canceled"), ("canceling", "error"),
    ("running", "success"), ("running", "error"),
}


@pytest.mark.parametrize("old", OP_STATUSES)
@pytest.mark.parametrize("new", OP_STATUSES)
def test_transition_table(old: str, new: str) -> None:
    if (old, new) in EXPECTED_EDGES:
        check_transition(old, new)
    else:
        with pytest.raises(errors.ProgrammerError, match="Illegal"):
            check_transition(old, new)


def test_finished_statuses_have_no_way_out() -> None:
    assert {"success", "error", "canceled"} == model.OPS_FINALIZED
    for status in model.OPS_FINALIZED:
        assert not OP_TRANSITIONS[status]


def test_transition_from_unknown_status() -> None:
    with pytest.raises(errors.ProgrammerError, match="Unknown"):
        check_transition("lost", "queued")


def test_running_opcode_can_not_be_canceled() -> None:
    job = _QueuedJob(1, [opcodes.OpTestDelay(duration=0.0)], (1, 0))
    job.ops[0].set_status("waiting")
    job.ops[0].set_status("running")
    with pytest.raises(errors.ProgrammerError):
        job.ops[0].set_status("canceling")


@given(st.floats(min_value=0, max_value=2e9, allow_nan=False))
def test_split_time(value: float) -> None:
    sec, usec = split_time(value)
    assert 0 <= usec < 1000000
    assert abs(merge_time((sec, usec)) - value) <= 1e-6 + abs(value) * 1e-15


# --- job records -----------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
timestamps = st.tuples(st.integers(0, 2**31), st.integers(0, 999999))
maybe_ts = st.none() | timestamps


@st.composite
def jobs(draw: Any) -> _QueuedJob:
    count = draw(st.integers(1, 4))
    ops = [opcodes.OpTestDelay(duration=draw(st.floats(0, 100)),
                               priority=draw(st.integers(-20, 19)))
           for _ in range(count)]
    job = _QueuedJob(draw(st.integers(1, 10**9)), ops, draw(timestamps))
    job.start_timestamp = draw(maybe_ts)
    job.end_timestamp = draw(maybe_ts)
    for op in job.ops:
        op.status = draw(st.sampled_from(OP_STATUSES))
        op.result = draw(json_values)
        op.start_timestamp = draw(maybe_ts)
        op.exec_timestamp = draw(maybe_ts)
        op.end_timestamp = draw(maybe_ts)
    for _ in range(draw(st.integers(0, 5))):
        job.add_log(draw(timestamps),
                    draw(st.sampled_from(sorted(model.ELOG_TYPES))),
                    draw(json_values), draw(st.integers(0, count - 1)))
    return job


@given(jobs())
def test_job_round_trip_through_json(job: _QueuedJob) -> None:
    data = serializer.loads(serializer.dumps(job.to_dict()))
    back = _QueuedJob.from_dict(data)
    assert back.to_dict() == job.to_dict()
    assert back.status == job.status
    assert back.log_serial == job.log_serial
    fields = sorted(JOB_FIELDS)
    assert back.get_info(fields) == job.get_info(fields)


@given(jobs())
def test_job_info_is_plain_json(job: _QueuedJob) -> None:
    fields = sorted(JOB_FIELDS)
    info = job.get_info(fields)
    assert serializer.loads(serializer.dumps(info)) == info


def _good() -> dict[str, Any]:
    job = _QueuedJob(7, [opcodes.OpTestDelay(duration=1.0)], (5, 6))
    return job.to_dict()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("id"), "lacks 'id'"),
    (lambda d: d.update(id=0), "job id"),
    (lambda d: d.update(id="7"), "job id"),
    (lambda d: d.update(ops=[]), "non-empty list"),
    (lambda d: d["ops"][0].update(status="lost"), "unknown opcode status"),
    (lambda d: d["ops"][0].update(input={"OP_ID": "OP_NOPE"}), "bad opcode"),
    (lambda d: d["ops"][0].update(log=[[1, [1, 2], "message"]]), "4-item"),
    (lambda d: d["ops"][0].update(log=[[1, [1, 2], "shout", "x"]]),
     "unknown log entry type"),
    (lambda d: d["ops"][0].update(log=[[1, [1, 2], "message", "a"],
                                       [1, [1, 3], "message", "b"]]),
     "repeats a log serial"),
    (lambda d: d.update(received_timestamp=[1]), "received_timestamp"),
    (lambda d: d.update(end_timestamp=[1, 10**6]), "end_timestamp"),
    (lambda d: d["ops"].append("x"), "not a dictionary"),
])
def test_bad_job_data_is_a_clear_error(mutate: Any, message: str) -> None:
    data = _good()
    mutate(data)
    with pytest.raises(errors.JobQueueError, match=message) as info:
        _QueuedJob.from_dict(data)
    assert "\n" not in str(info.value)


def test_bad_job_data_not_a_dict() -> None:
    with pytest.raises(errors.JobQueueError, match="not a dictionary"):
        _QueuedJob.from_dict([1, 2])


def test_log_entries_newer_than() -> None:
    job = _QueuedJob(1, [opcodes.OpTestDelay(duration=0.0),
                         opcodes.OpTestDelay(duration=0.0)], (1, 0))
    job.add_log((2, 0), constants.ELOG_MESSAGE, "a", 0)
    job.add_log((3, 0), constants.ELOG_PROGRESS, {"done": 1}, 1)
    job.add_log((4, 0), constants.ELOG_MESSAGE, "c", 1)
    assert [e[0] for e in job.log_entries(None)] == [1, 2, 3]
    assert job.log_entries(2) == [[3, [4, 0], "message", "c"]]
    assert job.log_entries(3) == []
    with pytest.raises(errors.ProgrammerError):
        job.add_log((5, 0), "shout", "x", 0)


def test_job_priority_and_summary() -> None:
    job = _QueuedJob(1, [opcodes.OpTestDelay(duration=1.0, priority=-5),
                         opcodes.OpTestDelay(duration=2.0, priority=3)],
                     (1, 0))
    assert job.get_info(["priority", "oppriority", "summary"]) == [
        -5, [-5, 3], ["TEST_DELAY(1.0)", "TEST_DELAY(2.0)"]]
    job.ops[0].status = "success"
    assert job.priority == 3
    job.ops[1].status = "success"
    assert job.priority == 3


def test_check_fields() -> None:
    assert check_fields(["id", "status"]) == ["id", "status"]
    with pytest.raises(errors.UnknownFieldError, match="nope"):
        check_fields(["id", "nope"])
    with pytest.raises(errors.OpPrereqError):
        check_fields("id")


def test_job_needs_opcodes_and_an_id() -> None:
    with pytest.raises(errors.ProgrammerError):
        _QueuedJob(1, [], (1, 0))
    with pytest.raises(errors.ProgrammerError):
        _QueuedJob(0, [opcodes.OpTestDelay(duration=0.0)], (1, 0))
