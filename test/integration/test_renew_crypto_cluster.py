"""``gnt-cluster renew-crypto`` on a real 3-node cluster: every variant
keeps every node reachable (RPC traffic runs through the renewal and
none of it fails), the certificates change on every node, and bad input
changes nothing."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import node_file, node_rpc, ok

from ganeti import constants, crypto, pathutils
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

CONF = pathutils.Paths("")
NODED_PORT = constants.DEFAULT_NODED_PORT


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    from conftest_cluster import running_cluster

    with running_cluster("renew", 3) as started:
        yield started


def _fingerprints(cluster: LocalCluster, path: str) -> list[str]:
    return [crypto.cert_fingerprint(crypto.load_cert_file(
        str(node_file(cluster, k, path)))) for k in (1, 2, 3)]


def _everyone_answers(cluster: LocalCluster) -> None:
    """verify is clean and a job runs on every node."""
    ok(cluster.gnt("gnt-cluster", "verify"))
    names = [n.name for n in cluster.nodes]
    ok(cluster.gnt("gnt-debug", "delay", *(a for n in names
                                           for a in ("-n", n)), "0.01"))


class Traffic:
    """RPC calls to every node, each on a new connection, in a loop
    until stopped; every failure is kept."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.failures: list[str] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        names = [n.name for n in self.cluster.nodes]
        while not self._stop.is_set():
            with node_rpc(self.cluster) as rpc:
                for name, res in rpc.call_version(names).items():
                    if res.fail_msg is not None:
                        self.failures.append(f"{name}: {res.fail_msg}")
            self.rounds += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)


def _renew(cluster: LocalCluster, *args: str) -> tuple[str, Traffic]:
    traffic = Traffic(cluster)
    try:
        out = ok(cluster.gnt("gnt-cluster", "renew-crypto", "-f", *args))
    finally:
        traffic.stop()
    return out, traffic


def test_new_cluster_certificate(cluster: LocalCluster,
                                 tmp_path: Path) -> None:
    old_copy = tmp_path / "old-server.pem"
    old_copy.write_bytes(
        node_file(cluster, 1, CONF.noded_cert_file).read_bytes())
    assert _handshake(cluster.node(2).ip, old_copy) is not None
    before = _fingerprints(cluster, CONF.noded_cert_file)
    assert len(set(before)) == 1
    out, traffic = _renew(cluster, "--new-cluster-certificate")
    assert traffic.failures == []
    assert traffic.rounds > 0
    assert "Every node presents the new cluster certificate" in out
    after = _fingerprints(cluster, CONF.noded_cert_file)
    assert len(set(after)) == 1 and after[0] != before[0]
    for k in (1, 2, 3):  # the renewal companions are gone
        for suffix in (".new", ".old"):
            assert not node_file(cluster, k,
                                 CONF.noded_cert_file + suffix).exists()
    _everyone_answers(cluster)
    # The old certificate no longer opens any node.
    for k in (1, 2, 3):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(cluster.node(k).ip, old_copy)


def _handshake(host: str, cert_file: Path) -> str:
    """Call ``version`` on a node daemon presenting ``cert_file``; the
    node's certificate fingerprint."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(str(cert_file))
    with socket.create_connection((host, NODED_PORT), timeout=30) as raw, \
            ctx.wrap_socket(raw) as conn:
        conn.sendall(b"PUT /version HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 2\r\n\r\n[]")
        if not conn.recv(1):
            raise ConnectionError("closed by the node")
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        return crypto.der_fingerprint(der)


def _rapi_fingerprint(cluster: LocalCluster) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((cluster.node(1).ip, cluster.rapi_port),
                                  timeout=30) as raw, \
            ctx.wrap_socket(raw) as conn:
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        return crypto.der_fingerprint(der)


def test_new_rapi_certificate_and_hmac_key(cluster: LocalCluster) -> None:
    rapi_before = _fingerprints(cluster, CONF.rapi_cert_file)
    hmac_before = [node_file(cluster, k, CONF.confd_hmac_key).read_bytes()
                   for k in (1, 2, 3)]
    assert _rapi_fingerprint(cluster) == rapi_before[0]
    _out, traffic = _renew(cluster, "--new-rapi-certificate",
                           "--new-confd-hmac-key")
    assert traffic.failures == []
    rapi_after = _fingerprints(cluster, CONF.rapi_cert_file)
    assert len(set(rapi_after)) == 1 and rapi_after[0] != rapi_before[0]
    assert _rapi_fingerprint(cluster) == rapi_after[0]
    hmac_after = [node_file(cluster, k, CONF.confd_hmac_key).read_bytes()
                  for k in (1, 2, 3)]
    assert len(set(hmac_after)) == 1 and hmac_after[0] != hmac_before[0]
    _everyone_answers(cluster)


def test_given_rapi_certificate(cluster: LocalCluster,
                                tmp_path: Path) -> None:
    key, cert = crypto.generate_self_signed("rapi.example.com")
    given = tmp_path / "rapi.pem"
    given.write_bytes(key + cert)
    _renew(cluster, "--rapi-certificate", str(given))
    wanted = crypto.cert_fingerprint(cert)
    assert _fingerprints(cluster, CONF.rapi_cert_file) == [wanted] * 3
    assert _rapi_fingerprint(cluster) == wanted
    _everyone_answers(cluster)


@pytest.mark.parametrize("content", [b"not a certificate\n", b"",
                                     b"cert-only"])
def test_bad_rapi_certificate_file_changes_nothing(
        cluster: LocalCluster, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pem"
    if content == b"cert-only":
        content = crypto.generate_self_signed("x.example.com")[1]
    bad.write_bytes(content)
    before = _fingerprints(cluster, CONF.rapi_cert_file)
    jobs_before = ok(cluster.gnt("gnt-job", "list", "--no-headers"))
    res = cluster.gnt("gnt-cluster", "renew-crypto", "-f",
                      "--new-cluster-certificate", "--rapi-certificate",
                      str(bad))
    assert res.returncode != 0
    assert f"RAPI certificate file {bad} must hold one private key and one " \
        "certificate" in res.stderr
    assert _fingerprints(cluster, CONF.rapi_cert_file) == before
    assert ok(cluster.gnt("gnt-job", "list", "--no-headers")) == jobs_before


def test_nothing_to_renew_and_conflicting_options(
        cluster: LocalCluster, tmp_path: Path) -> None:
    res = cluster.gnt("gnt-cluster", "renew-crypto", "-f")
    assert res.returncode != 0 and "Nothing to renew" in res.stderr
    res = cluster.gnt("gnt-cluster", "renew-crypto", "-f",
                      "--new-rapi-certificate", "--rapi-certificate",
                      str(tmp_path / "x.pem"))
    assert res.returncode != 0 and "Only one of" in res.stderr



def _secrets(cluster: LocalCluster) -> list[str]:
    return [node_file(cluster, k, CONF.cluster_domain_secret_file).read_text()
            for k in (1, 2, 3)]


def test_cluster_domain_secret(cluster: LocalCluster, tmp_path: Path) -> None:
    """init created one secret, the same on every node (0400); a new one
    replaces it everywhere; a given file's secret is installed; bad input
    changes nothing."""
    before = _secrets(cluster)
    assert len(set(before)) == 1 and len(before[0].strip()) >= 32
    path = node_file(cluster, 2, CONF.cluster_domain_secret_file)
    assert oct(path.stat().st_mode & 0o777) == "0o400"
    _out, traffic = _renew(cluster, "--new-cluster-domain-secret")
    assert traffic.failures == []
    renewed = _secrets(cluster)
    assert len(set(renewed)) == 1 and renewed[0] != before[0]
    given = tmp_path / "cds"
    given.write_text("  our-shared-domain-secret-0123456789  \n")
    _renew(cluster, "--cluster-domain-secret", str(given))
    assert _secrets(cluster) == ["our-shared-domain-secret-0123456789\n"] * 3
    given.write_text("short\n")
    res = cluster.gnt("gnt-cluster", "renew-crypto", "-f",
                      "--cluster-domain-secret", str(given))
    assert res.returncode != 0
    assert f"Cluster domain secret file {given} must hold one line" \
        in res.stderr
    res = cluster.gnt("gnt-cluster", "renew-crypto", "-f",
                      "--new-cluster-domain-secret",
                      "--cluster-domain-secret", str(given))
    assert res.returncode != 0 and "Only one of" in res.stderr
    assert _secrets(cluster) == ["our-shared-domain-secret-0123456789\n"] * 3
    _everyone_answers(cluster)
