"""Real ganeti-noded processes on 127.0.0.1-3, each under its own root."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import wait_for

from ganeti import crypto, daemon, errors, pathutils
from ganeti.http import client as http_client
from ganeti.http import tls
from ganeti.rpc.client import RpcClient
from ganeti.rpc.transport import HttpsTransport

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = str(ROOT / "daemons" / "ganeti-noded")
PYLIB = str(ROOT / "pylib")
WAIT = 30.0  # bound on every wait; reached only when something is broken


@dataclasses.dataclass
class Node:
    name: str
    primary_ip: str
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    offline: bool = False

    @property
    def paths(self) -> pathutils.Paths:
        return pathutils.Paths(str(self.root))


def free_port(addresses: list[str]) -> int:
    """A port free on every address (bound once to check)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for addr in addresses:
                with socket.socket() as sock:
                    sock.bind((addr, port))
        except OSError:
            continue
        return port
    raise AssertionError("no free port")


def accepts(addr: str, port: int) -> bool:
    try:
        socket.create_connection((addr, port), timeout=WAIT).close()
    except OSError:
        return False
    return True


def start_noded(node: Node, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=PYLIB, GANETI_ROOTDIR=str(node.root),
               GANETI_HOSTNAME=node.name)
    log = open(node.root / "noded.out", "wb")  # noqa: SIM115
    with log:
        return subprocess.Popen(
            [sys.executable, LAUNCHER, "-f", "-b", node.primary_ip, "-p",
             str(port), *extra], env=env, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@dataclasses.dataclass
class Cluster:
    nodes: dict[str, Node]
    port: int
    cert_file: str
    cert_pem: bytes


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cert_file = str(tmp_path / "server.pem")
    key_pem, cert_pem = crypto.generate_self_signed("cluster", validity_days=1)
    crypto.write_pem_file(cert_file, key_pem, cert_pem)
    nodes = {f"node{i}": Node(f"node{i}", f"127.0.0.{i}", tmp_path / f"node{i}")
             for i in (1, 2, 3)}
    port = free_port([n.primary_ip for n in nodes.values()])
    try:
        for node in nodes.values():
            os.makedirs(node.paths.data_dir)
            shutil.copy(cert_file, node.paths.noded_cert_file)
            node.proc = start_noded(node, port)
        for node in nodes.values():
            assert node.proc is not None
            wait_for(lambda n=node: accepts(n.primary_ip, port)  # type: ignore[misc]
                     or n.proc.poll() is not None, f"{node.name} to listen")
            assert node.proc.poll() is None, (node.root / "noded.out").read_text()
        yield Cluster(nodes, port, cert_file, cert_pem)
    finally:
        for node in nodes.values():
            if node.proc is not None:
                stop(node.proc)


def client_for(cluster: Cluster) -> tuple[RpcClient, HttpsTransport]:
    transport = HttpsTransport(cluster.cert_file, port=cluster.port)
    return RpcClient(cluster.nodes.get, transport), transport


def test_calls_in_parallel_on_three_nodes(cluster: Cluster) -> None:
    rpc, transport = client_for(cluster)
    try:
        names = list(cluster.nodes)
        for _ in range(3):
            results = rpc.call_version(names)
            assert {n: r.payload for n, r in results.items()} == dict.fromkeys(
                names, 30)
        results = rpc.call_test_delay(names, 0.05)
        assert all(r.fail_msg is None and r.payload is None
                   for r in results.values())
        assert transport.connections_opened <= 2 * len(names)
    finally:
        rpc.close()
        transport.close()


def test_bad_requests_get_error_answers(cluster: Cluster) -> None:
    node = cluster.nodes["node2"]
    ctx = tls.client_context(cluster.cert_pem, cert_file=cluster.cert_file)
    pin = crypto.cert_fingerprint(cluster.cert_pem)
    cases = [
        ("/version", b"[1, 2", "RPC version: Invalid JSON"),
        ("/version", b'{"a": 1}', "RPC version: expected 0 argument(s), got no"),
        ("/version", b"[1]", "RPC version: expected 0 argument(s), got 1"),
        ("/test_delay", b'["soon"]', "RPC test_delay: argument 'duration'"),
        ("/test_delay", b"[]", "RPC test_delay: expected 1 argument(s), got 0"),
        ("/no_such_call", b"[]", "Unknown RPC call 'no_such_call'"),
        ("/Bad/Path", b"[]", "Invalid RPC call path"),
        ("/version", b"\xff\xfe", "RPC version: Invalid JSON: not UTF-8"),
    ]
    with http_client.HttpClient(ctx, server_pin=pin) as client:
        for path, body, message in cases:
            resp = client.request(node.primary_ip, cluster.port, "PUT", path,
                                  body, timeout=WAIT)
            assert resp.status == 200
            success, text = resp.json()
            assert success is False and text.startswith(message), (path, text)
        resp = client.request(node.primary_ip, cluster.port, "GET", "/version",
                              timeout=WAIT)
        assert resp.status == 405 and resp.json()[0] is False
        resp = client.request(node.primary_ip, cluster.port, "PUT", "/version",
                              b" " * (65 * 1024 * 1024), timeout=WAIT)
        assert resp.status == 413 and resp.json()[0] is False
    # Garbage on the socket, with and without TLS.
    with ctx.wrap_socket(socket.create_connection(
            (node.primary_ip, cluster.port), timeout=WAIT)) as sock:
        sock.sendall(b"\x00\xffnot http at all\r\n\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ") and b"[false," in answer
    with socket.create_connection((node.primary_ip, cluster.port),
                                  timeout=WAIT) as sock:
        sock.sendall(b"PUT /version HTTP/1.1\r\n\r\n" + bytes(range(256)) * 8)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(4096):
                data += chunk
        assert not data.startswith(b"HTTP")  # at most a TLS alert
    rpc, transport = client_for(cluster)
    try:
        assert rpc.call_version(["node2"])["node2"].payload == 30
    finally:
        rpc.close()
        transport.close()


def test_only_the_cluster_certificate_is_accepted(cluster: Cluster,
                                                   tmp_path: Path) -> None:
    node = cluster.nodes["node3"]
    pin = crypto.cert_fingerprint(cluster.cert_pem)
    other = str(tmp_path / "other.pem")
    crypto.write_pem_file(other, *crypto.generate_self_signed(
        "cluster", validity_days=1))
    for cert_file in (None, other):
        ctx = tls.client_context(cluster.cert_pem, cert_file=cert_file)
        with http_client.HttpClient(ctx, server_pin=pin) as client, \
                pytest.raises(errors.NodeUnreachableError):
            client.request(node.primary_ip, cluster.port, "PUT", "/version",
                           b"[]", timeout=WAIT)
    # A master with another cluster's certificate refuses the node too.
    rpc = RpcClient(cluster.nodes.get, HttpsTransport(other, port=cluster.port))
    result = rpc.call_version(["node3"])["node3"]
    rpc.close()
    assert result.fail_msg is not None and "TLS error" in result.fail_msg


def test_sigterm_stops_the_daemons(cluster: Cluster) -> None:
    for node in cluster.nodes.values():
        assert node.proc is not None
        pid_file = node.paths.pid_file("ganeti-noded")
        assert daemon.read_pid(pid_file) == node.proc.pid
        assert stop(node.proc) == 0
        assert not os.path.exists(pid_file)
        assert not accepts(node.primary_ip, cluster.port)
        log = Path(node.paths.log_file("ganeti-noded")).read_text()
        assert "Traceback" not in log


def test_missing_certificate_is_a_clear_error(tmp_path: Path) -> None:
    node = Node("lonely", "127.0.0.1", tmp_path)
    proc = start_noded(node, free_port(["127.0.0.1"]))
    assert proc.wait(timeout=WAIT) != 0
    out = (tmp_path / "noded.out").read_text()
    assert "server.pem" in out and "No such file" in out
    assert "Traceback" not in out
