"""ganeti-confd on a real local cluster: it runs on every candidate, the
shell queries answer with the config serial, a change made by a job is
served after the reload, a demoted node stops serving, and broken
datagrams to a running daemon (250 per ``GANETI_FUZZ_EXAMPLES``) are
dropped and counted while a valid query still gets its answer.  Both
tests use one 3-node cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confd_fuzz import broken_requests
from conftest_cluster import ok, running_cluster, wait_for
from fuzz_support import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganeti import constants, daemonutil
from ganeti.confd import protocol
from ganeti.confd.client import ConfdClient
from ganeti.confd.protocol import ReqType
from ganeti.localcluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_OS = ROOT / "doc" / "examples" / "os" / "ganeti-demo-os"
OS_NAME = "ganeti-demo-os+minimal"
#: Hypothesis examples of 50 broken datagrams each.
FUZZ_EXAMPLES = 5 * EXAMPLES


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalCluster]:
    with running_cluster("confd", 3) as cluster:
        yield cluster


def confd(cluster: LocalCluster, *args: str, node: int | None = None
          ) -> subprocess.CompletedProcess[str]:
    return cluster.gnt("gnt-debug", "confd", *args, node=node)


def _serial(cluster: LocalCluster) -> int:
    res = confd(cluster, "-v", "ping")
    ok(res)
    # "Answer from IP:PORT, config serial N (...)"
    return int(res.stderr.split("config serial ")[1].split()[0])


def test_confd_on_a_cluster(shared: LocalCluster) -> None:
    cluster = shared
    n1, n2, n3 = cluster.nodes
    for node in cluster.nodes:
        assert daemonutil.is_running(constants.CONFD, node.paths), node.name
    assert ok(confd(cluster, "ping")) == "ok\n"
    assert ok(confd(cluster, "cluster-master", "--fields",
                    "name,ip,mnode_pip")).split() == [
        n1.name, cluster.master_ip, n1.ip]
    assert ok(confd(cluster, "mc-pip-list")).split() == [n1.ip, n2.ip, n3.ip]
    assert ok(confd(cluster, "node-role", n2.name, node=2)) == "candidate\n"
    res = confd(cluster, "node-role", "nosuch.example.com")
    assert res.returncode == 1
    assert res.stderr.strip() == \
        "Error: node-role 'nosuch.example.com': unknown entry"
    res = confd(cluster, "bogus-type")
    assert res.returncode == 2 and "Unknown confd query type" in res.stderr

    # A job changes the configuration: every daemon serves the new one.
    before = _serial(cluster)
    shutil.copytree(EXAMPLE_OS, Path(n2.paths.os_search_path[0])
                    / "ganeti-demo-os")
    ok(cluster.gnt("gnt-instance", "add", "-t", "diskless", "--no-start",
                   "--no-name-check", "--no-ip-check", "-o", OS_NAME,
                   "--net", "0:ip=192.0.2.77", "-n", n2.name,
                   "web.example.com"))
    for index in (1, 2, 3):
        wait_for(lambda i=index: confd(
            cluster, "node-pip-by-instance-ip", "192.0.2.77",
            "--node", cluster.node(i).ip).stdout == f"{n2.ip}\n",
            f"confd on node {index} to serve the new instance")
    assert _serial(cluster) > before
    assert ok(confd(cluster, "node-instances", n2.name)).splitlines() == [
        "primary: web.example.com", "secondary:"]

    # A demoted node stops its confd; the others no longer list it.
    ok(cluster.gnt("gnt-node", "modify", "-C", "no", n3.name))
    wait_for(lambda: not daemonutil.is_running(constants.CONFD, n3.paths),
             "confd on the demoted node to stop")
    wait_for(lambda: confd(cluster, "mc-pip-list").stdout.split()
             == [n1.ip, n2.ip], "the candidates list without node 3")
    assert ok(confd(cluster, "node-role", n3.name)) == "regular\n"
    res = confd(cluster, "--node", n3.ip, "--timeout", "0.3", "ping")
    assert res.returncode == 1
    assert res.stderr.startswith("Error: No answer from confd within 0.3s")

    # Promoted again, it receives the configuration and starts confd.
    ok(cluster.gnt("gnt-node", "modify", "-C", "yes", n3.name))
    wait_for(lambda: daemonutil.is_running(constants.CONFD, n3.paths),
             "confd on the promoted node")
    assert ok(confd(cluster, "--node", n3.ip, "node-role", n3.name)) == \
        "candidate\n"


def test_confd_daemon_drops_fuzz(shared: LocalCluster) -> None:
    cluster = shared
    node = cluster.node(1)
    key = protocol.load_key(node.paths.confd_hmac_key)
    client = ConfdClient(key, [node.ip])
    sent = {"broken": 0, "pings": 0}
    # The daemon's counters since it started (other tests queried it);
    # this query is received and, once answered, counted as answered.
    base = client.query(ReqType.STATS).answer

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((node.ip, 0))

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(broken_requests(key), min_size=50, max_size=50))
        def fuzz(packets: list[bytes]) -> None:
            for start in range(0, len(packets), 10):
                for data in packets[start:start + 10]:
                    sock.sendto(data[:protocol.MAX_UDP_DATA_SIZE],
                                (node.ip, constants.DEFAULT_CONFD_PORT))
                    sent["broken"] += 1
                # The daemon reads in order: once this is answered, the
                # datagrams before it were read (none lost to a full
                # buffer) and dropped.
                assert client.query(ReqType.PING).answer == "ok"
                sent["pings"] += 1

        fuzz()
        stats = client.query(ReqType.STATS).answer
        sock.setblocking(False)
        try:
            reply = sock.recv(70000)
        except BlockingIOError:
            reply = b""
        assert reply == b"", "a broken packet was answered"
    client.close()
    assert sent["broken"] >= 50 * FUZZ_EXAMPLES
    # (a drop reason is counted from its first drop on)
    delta = {key: stats[key] - base.get(key, 0) for key in stats}
    assert delta["dropped"] == sent["broken"]
    assert delta["answered"] == sent["pings"] + 1
    assert delta["received"] == sent["broken"] + sent["pings"] + 1
    assert delta["dropped_bad_signature"] > 0
    assert delta["dropped_outside_window"] > 0
    assert daemonutil.is_running(constants.CONFD, node.paths)
    assert ok(confd(cluster, "ping")) == "ok\n"
