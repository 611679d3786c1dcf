"""ganeti-mond on a real local cluster: every node's /metrics and
reports, the master's job/RPC/lock/config/verify metrics, values that
move when jobs run and instances start; promtool on every endpoint."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from conftest_cluster import ok
from metrics_check import promtool_check, samples, value
from rapi_cluster_support import install_demo_os
from testkit import wait_for

from ganeti import constants, daemonutil
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

OS_NAME = "ganeti-demo-os+minimal"
INSTANCE = "web1.example.com"


def listening(ip: str) -> bool:
    try:
        with socket.create_connection((ip, constants.DEFAULT_MOND_PORT),
                                      timeout=2):
            return True
    except OSError:
        return False


def get(ip: str, path: str, method: str = "GET") -> tuple[int, str]:
    conn = http.client.HTTPConnection(ip, constants.DEFAULT_MOND_PORT,
                                      timeout=60)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def scrape(ip: str) -> str:
    status, text = get(ip, "/metrics")
    assert status == 200, text
    promtool_check(text)
    return text


def total(text: str, metric: str, **labels: str) -> float:
    """The sum of a metric's samples that carry ``labels``."""
    wanted = set(labels.items())
    return sum(v for (name, lbls), v in samples(text).items()
               if name == metric and wanted <= lbls)


def test_mond_on_a_local_cluster(cluster3: LocalCluster) -> None:
    install_demo_os(cluster3)
    master = cluster3.master()
    node2 = cluster3.node(2)
    for node in cluster3.nodes:
        wait_for(lambda node=node: listening(node.ip),
                 f"ganeti-mond on {node.ip}")

    before = {node.name: scrape(node.ip) for node in cluster3.nodes}
    for node in cluster3.nodes:
        text = before[node.name]
        assert value(text, "ganeti_node_memory_total_bytes")
        assert value(text, "ganeti_mond_collector_up",
                     collector="inst-status") == 1
        is_master = node.name == master.name
        assert (value(text, "ganeti_config_serial") is not None) == is_master
    master_before = before[master.name]
    assert value(master_before, "ganeti_mond_master_scrape_success") == 1
    serial_before = value(master_before, "ganeti_config_serial")
    assert serial_before is not None

    # A job: the job counters, its duration, its RPCs and locks move.
    ok(cluster3.gnt("gnt-instance", "add", "-t", "diskless", "-n", node2.name,
                    "-o", OS_NAME, "--no-name-check", "--no-ip-check",
                    "-B", "memory=32", INSTANCE))
    after = scrape(master.ip)
    assert total(after, "ganeti_jobs_finished_total", status="success") > \
        total(master_before, "ganeti_jobs_finished_total", status="success")
    assert total(after, "ganeti_jobs_submitted_total") > \
        total(master_before, "ganeti_jobs_submitted_total")
    assert value(after, "ganeti_job_duration_seconds_count",
                 opcode="OP_INSTANCE_CREATE") == 1
    assert total(after, "ganeti_rpc_duration_seconds_count",
                 node=node2.name) > total(master_before,
                                          "ganeti_rpc_duration_seconds_count",
                                          node=node2.name)
    assert total(after, "ganeti_lock_wait_seconds_count", level="cluster") \
        > total(master_before, "ganeti_lock_wait_seconds_count",
                level="cluster")
    assert value(after, "ganeti_config_serial") > serial_before
    assert value(after, "ganeti_jobs", status="running") == 0

    # The instance shows up on its node, and only there.
    text = scrape(node2.ip)
    assert value(text, "ganeti_instance_running", name=INSTANCE) == 1
    assert value(text, "ganeti_instance_admin_up", name=INSTANCE) == 1
    assert value(text, "ganeti_instance_memory_bytes",
                 name=INSTANCE) == 32 << 20
    assert value(scrape(cluster3.node(3).ip), "ganeti_instance_running",
                 name=INSTANCE) is None
    status, body = get(node2.ip, "/1/report/instance/inst-status")
    assert status == 200
    report = json.loads(body)
    assert [(r["name"], r["admin_state"], r["actual_state"])
            for r in report["data"]["instances"]] == [(INSTANCE, "up", "up")]
    assert report["data"]["status"]["code"] == 0

    ok(cluster3.gnt("gnt-instance", "shutdown", INSTANCE))
    text = scrape(node2.ip)
    assert value(text, "ganeti_instance_running", name=INSTANCE) == 0
    assert value(text, "ganeti_instance_admin_up", name=INSTANCE) == 0

    # The last verify result.
    assert value(scrape(master.ip), "ganeti_cluster_verify_success") is None
    cluster3.gnt("gnt-cluster", "verify")
    assert value(scrape(master.ip), "ganeti_cluster_verify_success") \
        in (0, 1)

    # Ganeti's paths and the refusals.
    status, body = get(node2.ip, "/1/list/collectors")
    assert status == 200
    assert [c[2] for c in json.loads(body)] == [
        "cpu-load", "diskstats", "inst-status", "lv"]
    status, body = get(node2.ip, "/1/report/all")
    assert [r["name"] for r in json.loads(body)] == [
        "cpu-load", "diskstats", "inst-status", "lv"]
    assert get(node2.ip, "/nonexistent")[0] == 404
    assert get(node2.ip, "/metrics", method="POST")[0] == 405

    # The watcher restarts a dead monitoring daemon.
    node3 = cluster3.node(3)
    assert daemonutil.stop(constants.MOND, node3.paths)
    ok(cluster3.gnt("ganeti-watcher", node=3))
    wait_for(lambda: listening(node3.ip), "the restarted ganeti-mond")
    assert value(scrape(node3.ip), "ganeti_node_cpus")

    # After a master failover the new master's mond serves the master's
    # metrics, the old one's no longer.
    ok(cluster3.gnt("gnt-cluster", "master-failover", node=2))
    assert value(scrape(node2.ip), "ganeti_mond_master_scrape_success") == 1
    assert value(scrape(node2.ip), "ganeti_config_serial") is not None
    assert value(scrape(master.ip), "ganeti_config_serial") is None

    # A node that leaves the cluster stops its monitoring daemon.
    assert daemonutil.running_pid(constants.MOND, node3.paths) is not None
    ok(cluster3.gnt("gnt-node", "remove", node3.name, node=2))
    wait_for(lambda: daemonutil.running_pid(constants.MOND, node3.paths)
             is None, "ganeti-mond of the removed node to stop")
