"""The master daemon's metrics: the job queue, RPC client and processor
tell ganeti.master_metrics what passes; a scrape only formats."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from metrics_check import promtool_check, value
from test_jqueue import wait_status
from testkit import WAIT, FakeClock

from ganeti import constants, errors, master_metrics, opcodes
from ganeti.jqueue import JobQueue, OpContext
from ganeti.rpc.client import LocalTransport, RpcClient

OP_ID = "OP_TEST_DELAY"


class Processor:
    """Runs an OpTestDelay: ``fail`` raises, ``hold`` blocks until
    released; the fake clock advances by the opcode's duration."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.release = threading.Event()

    def __call__(self, op: opcodes.OpCode, ctx: OpContext) -> Any:
        ctx.notify_running()
        if op.comment == "hold":
            assert self.release.wait(WAIT)
        self.clock.sleep(op.duration)
        if op.comment == "fail":
            raise errors.OpExecError("boom")
        return op.duration


def submit(queue: JobQueue, duration: float, comment: str | None = None
           ) -> int:
    return queue.submit_job([opcodes.OpTestDelay(
        duration=duration, comment=comment).to_dict()])


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    clock = FakeClock()
    proc = Processor(clock)
    queue = JobQueue(proc, queue_dir=str(tmp_path / "queue"), workers=1,
                     clock=clock.time)
    metrics = master_metrics.MasterMetrics(wall_clock=clock.time)
    queue.set_observer(metrics)
    yield queue, proc, metrics
    proc.release.set()
    queue.shutdown()


def test_job_counters_follow_the_queue(setup: Any) -> None:
    queue, proc, metrics = setup
    text = metrics.render()
    promtool_check(text)
    assert value(text, "ganeti_jobs", status="queued") == 0
    assert value(text, "ganeti_jobs_submitted_total") == 0
    held = submit(queue, 1.0, "hold")
    wait_status(queue, held, constants.JOB_STATUS_RUNNING)
    queued = submit(queue, 2.0)
    text = metrics.render()
    assert value(text, "ganeti_jobs", status="running") == 1
    assert value(text, "ganeti_jobs", status="queued") == 1
    proc.release.set()
    wait_status(queue, queued, constants.JOB_STATUS_SUCCESS)
    failing = submit(queue, 4.0, "fail")
    wait_status(queue, failing, constants.JOB_STATUS_ERROR)
    text = metrics.render()
    promtool_check(text)
    assert value(text, "ganeti_jobs", status="success") == 2
    assert value(text, "ganeti_jobs", status="error") == 1
    assert value(text, "ganeti_jobs", status="running") == 0
    assert value(text, "ganeti_jobs", status="queued") == 0
    assert value(text, "ganeti_jobs_submitted_total") == 3
    assert value(text, "ganeti_jobs_finished_total", status="success") == 2
    assert value(text, "ganeti_jobs_finished_total", status="error") == 1
    assert value(text, "ganeti_job_duration_seconds_count",
                 opcode=OP_ID) == 3
    assert value(text, "ganeti_job_duration_seconds_sum",
                 opcode=OP_ID) == pytest.approx(7.0)
    assert value(text, "ganeti_job_duration_seconds_bucket", opcode=OP_ID,
                 le="1") == 1
    assert queue.archive_job(held)
    text = metrics.render()
    assert value(text, "ganeti_jobs", status="success") == 1
    assert value(text, "ganeti_jobs_finished_total", status="success") == 2


def test_cancel_of_a_queued_job_is_counted(tmp_path: Path) -> None:
    clock = FakeClock()
    queue = JobQueue(Processor(clock), queue_dir=str(tmp_path / "q"),
                     clock=clock.time, start=False)
    metrics = master_metrics.MasterMetrics()
    try:
        job = submit(queue, 1.0)
        queue.set_observer(metrics)  # picks up the job already queued
        assert value(metrics.render(), "ganeti_jobs", status="queued") == 1
        assert queue.cancel_job(job)[0]
        text = metrics.render()
        assert value(text, "ganeti_jobs", status="queued") == 0
        assert value(text, "ganeti_jobs", status="canceled") == 1
        assert value(text, "ganeti_jobs_finished_total",
                     status="canceled") == 1
    finally:
        queue.shutdown()


class Node:
    def __init__(self, name: str) -> None:
        self.name, self.primary_ip, self.offline = name, "127.0.0.1", False


def test_rpc_latency_and_failures_per_node() -> None:
    metrics = master_metrics.MasterMetrics()
    nodes = {n: Node(n) for n in ("node1", "node2")}
    client = RpcClient(nodes.get, LocalTransport(["node1"]))
    client.observer = metrics.rpc_done
    try:
        results = client.call_version(["node1", "node2"])
    finally:
        client.close()
    assert results["node1"].fail_msg is None
    assert results["node2"].fail_msg
    text = metrics.render()
    promtool_check(text)
    assert value(text, "ganeti_rpc_failures_total", node="node1") == 0
    assert value(text, "ganeti_rpc_failures_total", node="node2") == 1
    for node in nodes:
        assert value(text, "ganeti_rpc_duration_seconds_count",
                     node=node) == 1


def test_verify_result_config_serial_and_lock_wait() -> None:
    clock = FakeClock(5000.0)
    metrics = master_metrics.MasterMetrics(wall_clock=clock.time)
    assert value(metrics.render(), "ganeti_cluster_verify_success") is None
    metrics.opcode_done("OP_CLUSTER_VERIFY", True, False)  # errors found
    assert value(metrics.render(), "ganeti_cluster_verify_success") == 0
    metrics.opcode_done("OP_INSTANCE_STARTUP", True, None)  # not a verify
    clock.sleep(10)
    metrics.opcode_done("OP_CLUSTER_VERIFY", True, True)
    metrics.config_written(42)
    metrics.lock_waited("instance", 0.2)
    text = metrics.render()
    promtool_check(text)
    assert value(text, "ganeti_cluster_verify_success") == 1
    assert value(text, "ganeti_cluster_verify_timestamp_seconds") == 5010
    assert value(text, "ganeti_config_serial") == 42
    assert value(text, "ganeti_lock_wait_seconds_count", level="instance") == 1
