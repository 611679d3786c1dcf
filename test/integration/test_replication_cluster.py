"""No replica silently falls behind, and a hung node does not stall
verify: real 3-node local clusters (both other nodes master candidates).

Each test leaves every node daemon running (a SIGSTOPped one is
continued in ``finally``); the cluster fixture stops them all.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest_cluster import WAIT, node_file, ok, wait_for

from ganeti import constants, daemon, daemonutil, luxi, pathutils, replica, replication
from ganeti.localcluster import LocalCluster

#: How long a candidate may take to catch up once it answers again: the
#: master retries a failed push after at most the backoff's longest
#: delay (a node down for long, or a slow machine, reaches it).
CATCH_UP = replication.CATCH_UP_BACKOFF[2] + WAIT

pytestmark = pytest.mark.integration

CONF = pathutils.Paths("")


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    return make_cluster(3)


def daemon_pid(cluster: LocalCluster, index: int, name: str) -> int:
    pid = daemon.read_pid(cluster.node(index).paths.pid_file(name))
    assert pid is not None
    return pid


@contextmanager
def stopped(cluster: LocalCluster, *indexes: int) -> Iterator[None]:
    """SIGSTOP the node daemons of ``indexes`` (hung nodes); always
    continued at the end."""
    pids = [daemon_pid(cluster, k, constants.NODED) for k in indexes]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def queue_of(cluster: LocalCluster, index: int) -> dict[str, str]:
    return replica.queue_files(str(node_file(cluster, index, CONF.queue_dir)))


def config_serial(cluster: LocalCluster, index: int) -> int | None:
    return replica.config_serial(
        str(node_file(cluster, index, CONF.cluster_conf_file)))


def submit_delays(cluster: LocalCluster, count: int) -> list[int]:
    """``count`` jobs of one zero-second delay, submitted over LUXI, all
    waited for."""
    with luxi.Client(cluster.node(1).paths.master_socket) as client:
        ids = [client.submit_job([{"OP_ID": "OP_TEST_DELAY", "duration": 0}])
               for _ in range(count)]

        def finished() -> bool:
            rows = client.query_jobs(ids, ["status"])
            return all(row[0] in ("success", "error") for row in rows)
        wait_for(finished, "the jobs to finish")
    return ids


def job_statuses(cluster: LocalCluster, index: int) -> dict[int, str]:
    out = ok(cluster.gnt("gnt-job", "list", "--no-headers", "-o",
                         "id,status", node=index))
    return {int(line.split()[0]): line.split()[1]
            for line in out.splitlines()}


def kill_masterd(cluster: LocalCluster) -> None:
    pid_file = cluster.node(1).paths.pid_file(constants.MASTERD)
    pid = daemon_pid(cluster, 1, constants.MASTERD)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemon.is_running(pid_file), "masterd gone")


def start_daemon(cluster: LocalCluster, index: int, name: str,
                 *args: str) -> None:
    daemonutil.start(name, list(args), env=cluster.env(index))


def replicas_current(cluster: LocalCluster) -> bool:
    ours = queue_of(cluster, 1)
    serial = config_serial(cluster, 1)
    return all(queue_of(cluster, k) == ours and config_serial(cluster, k)
               == serial for k in (2, 3))


def wait_for_catch_up(cluster: LocalCluster, what: str) -> None:
    """Wait until every candidate is current; failing, say how each
    differs and what the master daemon's replicators logged."""
    try:
        wait_for(lambda: replicas_current(cluster), what, CATCH_UP)
    except pytest.fail.Exception:
        ours = queue_of(cluster, 1)
        state = [f"node{k}: config serial {config_serial(cluster, k)}, "
                 f"{sum(queue_of(cluster, k).get(n) != v for n, v in ours.items())}"
                 " job file(s) differ" for k in (1, 2, 3)]
        log = Path(cluster.node(1).paths.log_file(constants.MASTERD))
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if "replicator" in line][-15:]
        pytest.fail(f"Timed out waiting for {what}: " + "; ".join(state)
                    + "\n" + "\n".join(lines))


def verify(cluster: LocalCluster) -> tuple[int, list[str]]:
    res = cluster.gnt("gnt-cluster", "verify", "--error-codes")
    return res.returncode, [line.split(" - ", 1)[1]
                            for line in res.stdout.splitlines()
                            if " - " in line]


def test_kill_9_of_masterd_mid_stream_then_candidates_catch_up(
        cluster: LocalCluster) -> None:
    # The candidates hang while jobs run: the pushes wait in the master
    # daemon's memory, and its kill -9 loses them.
    with stopped(cluster, 2, 3):
        ids = submit_delays(cluster, 40)
        kill_masterd(cluster)
    ours = queue_of(cluster, 1)
    assert all(f"job-{i}" in ours for i in ids)
    missing = [f"job-{i}" for i in ids if f"job-{i}" not in queue_of(cluster, 2)]
    assert missing  # the candidates are behind (at most the in-flight push)
    start_daemon(cluster, 1, constants.MASTERD)
    wait_for_catch_up(cluster, "the candidates to catch up")
    before = job_statuses(cluster, 1)
    assert set(ids) <= set(before)
    # A master failover now loses nothing: node 2 takes over every job as
    # the restarted master had it (a job whose end was not yet durable at
    # the kill is "error" on both, as after any crash).
    ok(cluster.gnt("gnt-cluster", "master-failover", node=2))
    assert job_statuses(cluster, 2) == before


def test_candidate_down_during_changes_catches_up(
        cluster: LocalCluster) -> None:
    pid_file = cluster.node(3).paths.pid_file(constants.NODED)
    os.kill(daemon_pid(cluster, 3, constants.NODED), signal.SIGTERM)
    wait_for(lambda: not daemon.is_running(pid_file), "noded 3 to stop")
    ok(cluster.gnt("gnt-cluster", "add-tags", "while-node3-was-down"))
    submit_delays(cluster, 5)
    assert config_serial(cluster, 3) != config_serial(cluster, 1)
    start_daemon(cluster, 3, constants.NODED, "-b", cluster.node(3).ip)
    wait_for_catch_up(cluster, "node 3 to catch up")
    assert verify(cluster) == (0, [])


def test_verify_reports_a_lagging_candidate_while_it_lags(
        cluster: LocalCluster) -> None:
    ids = submit_delays(cluster, 3)
    wait_for(lambda: replicas_current(cluster), "replication")
    # Files lost on a candidate (no push failed): verify says how far it
    # is behind, and the master daemon then catches it up.
    for job in ids[:2]:
        node_file(cluster, 2, os.path.join(CONF.queue_dir,
                                           f"job-{job}")).unlink()
    code, problems = verify(cluster)
    n2 = cluster.node(2).name
    assert code == 1
    assert problems == [f"ERROR:ENODEREPLICA:node:{n2}:job queue is behind:"
                        " 2 job file(s) missing or outdated"]
    wait_for_catch_up(cluster, "node 2 to catch up")
    assert verify(cluster) == (0, [])


def test_verify_with_a_hung_node_is_bounded(cluster: LocalCluster) -> None:
    n3 = cluster.node(3).name
    with stopped(cluster, 3):
        # Replication to node 3 hangs too (the replicators are busy).
        ok(cluster.gnt("gnt-cluster", "add-tags", "hung-node3"))
        start = time.monotonic()
        res = cluster.gnt("gnt-cluster", "verify", "--error-codes")
        took = time.monotonic() - start
    print(f"verify with a SIGSTOPped node took {took:.1f}s",
          file=sys.stderr)
    assert res.returncode == 1
    assert f"ERROR:ENODERPC:node:{n3}:while contacting node: " in res.stdout
    # Continued, the node catches up with what it missed.
    wait_for_catch_up(cluster, "node 3 to catch up")
