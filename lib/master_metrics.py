"""The master daemon's Prometheus metrics, updated where work passes.

Nothing here scans: the job queue reports each job status change and
each finished job (:meth:`MasterMetrics.job_status_changed`,
:meth:`MasterMetrics.job_finished`), the processor each lock wait and
each opcode result, the RPC client each call's duration and outcome, the
config writer each new serial.  A scrape (the LUXI call
``QueryMetrics``, which ``ganeti-mond`` on the master node makes) only
formats the current values.

Families (see ``doc/design/monitoring.rst`` for the whole list):
``ganeti_jobs{status}`` (queue depth), ``ganeti_jobs_submitted_total``,
``ganeti_jobs_finished_total{status}``,
``ganeti_job_duration_seconds{opcode}`` (histogram; a job is counted
under its first opcode), ``ganeti_lock_wait_seconds{level}``,
``ganeti_rpc_duration_seconds{node}``, ``ganeti_rpc_failures_total{node}``,
``ganeti_config_serial``, ``ganeti_cluster_verify_success`` and
``ganeti_cluster_verify_timestamp_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from ganeti import constants, metrics

#: Every job status, so the depth gauge shows zeros rather than gaps.
JOB_STATUSES: Final = (
    constants.JOB_STATUS_QUEUED, constants.JOB_STATUS_WAITING,
    constants.JOB_STATUS_CANCELING, constants.JOB_STATUS_RUNNING,
    constants.JOB_STATUS_CANCELED, constants.JOB_STATUS_SUCCESS,
    constants.JOB_STATUS_ERROR)
#: The opcode whose result is the "last verify result".
VERIFY_OP: Final = "OP_CLUSTER_VERIFY"
#: Buckets of RPC durations (seconds): most calls take milliseconds.
RPC_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                      0.5, 1.0, 2.5, 10.0, 60.0)


class MasterMetrics:
    """The master daemon's families and the hooks that update them."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall = wall_clock
        reg = self.registry = metrics.Registry()
        self.jobs = reg.gauge("ganeti_jobs", "Jobs in the queue (not "
                              "archived) by status", ["status"])
        for status in JOB_STATUSES:
            self.jobs.set(0, status)
        self.submitted = reg.counter("ganeti_jobs_submitted_total",
                                     "Jobs accepted by the queue")
        self.submitted.touch()
        self.finished = reg.counter("ganeti_jobs_finished_total",
                                    "Jobs that finished, by final status",
                                    ["status"])
        for status in (constants.JOB_STATUS_SUCCESS,
                       constants.JOB_STATUS_ERROR,
                       constants.JOB_STATUS_CANCELED):
            self.finished.touch(status)
        self.job_duration = reg.histogram(
            "ganeti_job_duration_seconds",
            "Seconds from a job's start to its end, by its first opcode",
            ["opcode"])
        self.lock_wait = reg.histogram(
            "ganeti_lock_wait_seconds",
            "Seconds an opcode waited to acquire one level of locks",
            ["level"])
        self.rpc_duration = reg.histogram(
            "ganeti_rpc_duration_seconds",
            "Seconds node RPC calls took, by node", ["node"], RPC_BUCKETS)
        self.rpc_failures = reg.counter(
            "ganeti_rpc_failures_total", "Node RPC calls that failed, by node",
            ["node"])
        self.config_serial = reg.gauge("ganeti_config_serial",
                                       "Serial number of the configuration")
        self.verify_success = reg.gauge(
            "ganeti_cluster_verify_success",
            "Whether the last cluster verify found no error (1) or some (0)")
        self.verify_time = reg.gauge(
            "ganeti_cluster_verify_timestamp_seconds",
            "When the last cluster verify finished (Unix time)")

    # --- hooks ------------------------------------------------------------

    def job_status_changed(self, old: str | None, new: str | None) -> None:
        """A job entered the queue (``old`` None), changed status, or left
        it (``new`` None: archived, or its submission failed)."""
        if old == new:
            return
        if old is not None:
            self.jobs.add(-1, old)
        if new is not None:
            self.jobs.add(1, new)

    def job_submitted(self, count: int) -> None:
        self.submitted.inc(count)

    def job_finished(self, opcode: str, status: str, seconds: float) -> None:
        self.finished.inc(1, status)
        self.job_duration.observe(max(0.0, seconds), opcode)

    def lock_waited(self, level: str, seconds: float) -> None:
        self.lock_wait.observe(max(0.0, seconds), level)

    def rpc_done(self, node: str, seconds: float, failed: bool) -> None:
        self.rpc_duration.observe(max(0.0, seconds), node)
        if failed:
            self.rpc_failures.inc(1, node)
        else:
            self.rpc_failures.touch(node)

    def config_written(self, serial: int) -> None:
        self.config_serial.set(serial)

    def opcode_done(self, op_id: str, ok: bool, result: Any) -> None:
        if op_id == VERIFY_OP:
            self.verify_success.set(int(ok and result is True))
            self.verify_time.set(round(self._wall(), 3))

    def render(self) -> str:
        return self.registry.render()
