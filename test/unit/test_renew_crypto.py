"""Cluster certificate renewal pieces: the node-side steps (stage,
switch, finish, abort) and the TLS state that follows the files
(:mod:`ganeti.http.tlsreload`), with real TLS handshakes on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganeti import backend, crypto, errors, pathutils, redist
from ganeti.http import HTTP_OK, Response, fanout, tlsreload
from ganeti.http import server as http_server
from ganeti.rpc.transport import HttpsTransport


@pytest.fixture
def node(tmp_path: Path) -> Iterator[pathutils.Paths]:
    paths = pathutils.set_root(str(tmp_path / "node"))
    os.makedirs(os.path.dirname(paths.noded_cert_file), exist_ok=True)
    crypto.write_pem_file(paths.noded_cert_file,
                          *crypto.generate_self_signed("old.example.com"))
    yield paths
    pathutils.set_root(None)


def _pem() -> tuple[bytes, str]:
    key, cert = crypto.generate_self_signed("new.example.com")
    return key + cert, crypto.cert_fingerprint(cert)


def _fp(path: str) -> str:
    return crypto.cert_fingerprint(crypto.load_cert_file(path))


def _call(name: str, *args: object) -> object:
    return backend.dispatch(name, list(args))


def test_stage_switch_finish(node: pathutils.Paths) -> None:
    current = node.noded_cert_file
    new, old = tlsreload.companions(current)
    before = _fp(current)
    data, fingerprint = _pem()
    assert _call("cluster_cert_stage", redist.encode_data(data)) == fingerprint
    assert _fp(new) == fingerprint and _fp(current) == before
    assert {crypto.cert_fingerprint(c)
            for c in tlsreload.trusted_certs(current)} == {before, fingerprint}
    _call("cluster_cert_switch", fingerprint)
    assert (_fp(current), _fp(old), os.path.exists(new)) == (
        fingerprint, before, False)
    assert oct(os.stat(current).st_mode & 0o777) == "0o400"
    _call("cluster_cert_switch", fingerprint)  # repeated: nothing happens
    assert _fp(old) == before
    _call("cluster_cert_finish", fingerprint)
    assert not os.path.exists(old)
    assert [crypto.cert_fingerprint(c)
            for c in tlsreload.trusted_certs(current)] == [fingerprint]


def test_switch_without_staging_and_early_finish_are_refused(
        node: pathutils.Paths) -> None:
    before = _fp(node.noded_cert_file)
    _data, fingerprint = _pem()
    with pytest.raises(errors.OpPrereqError, match="No staged"):
        _call("cluster_cert_switch", fingerprint)
    with pytest.raises(errors.OpPrereqError, match="does not present"):
        _call("cluster_cert_finish", fingerprint)
    assert _fp(node.noded_cert_file) == before


def test_abort_drops_the_staged_certificate(node: pathutils.Paths) -> None:
    data, _fingerprint = _pem()
    _call("cluster_cert_stage", redist.encode_data(data))
    _call("cluster_cert_abort")
    assert not os.path.exists(tlsreload.companions(node.noded_cert_file)[0])
    _call("cluster_cert_abort")  # nothing staged: fine


@pytest.mark.parametrize("bad", [b"garbage", b""])
def test_stage_refuses_bad_pem(node: pathutils.Paths, bad: bytes) -> None:
    with pytest.raises(errors.OpExecError, match="must hold one private key"):
        _call("cluster_cert_stage", redist.encode_data(bad))
    assert not os.path.exists(tlsreload.companions(node.noded_cert_file)[0])


def test_half_written_companion_is_ignored(node: pathutils.Paths) -> None:
    new = tlsreload.companions(node.noded_cert_file)[0]
    Path(new).write_bytes(b"-----BEGIN PRIVATE KEY-----\ntrunc")
    assert len(tlsreload.trusted_certs(node.noded_cert_file)) == 1


def test_a_broken_presented_file_keeps_the_last_good_state(
        node: pathutils.Paths) -> None:
    files = tlsreload.CertFiles(node.noded_cert_file,
                                tlsreload.mutual_server_context)
    good = files.current()
    os.chmod(node.noded_cert_file, 0o600)
    Path(node.noded_cert_file).write_bytes(b"broken")
    assert files.current() is good
    with pytest.raises(errors.OpExecError):
        tlsreload.CertFiles(node.noded_cert_file,
                            tlsreload.mutual_server_context)


def test_files_changing_while_read_are_read_again(
        node: pathutils.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """A switch between the reading of ``server.pem`` and that of its
    companions must not leave the moved certificate out."""
    current = node.noded_cert_file
    data, fingerprint = _pem()
    _call("cluster_cert_stage", redist.encode_data(data))
    before = _fp(current)
    real = tlsreload.trusted_certs
    calls: list[int] = []

    def racing(path: str) -> list[bytes]:
        first = crypto.load_cert_file(path)  # server.pem read: still old
        if not calls:
            _call("cluster_cert_switch", fingerprint)  # ... then switched
        calls.append(1)
        found = real(path)
        return [first, *found[1:]] if len(calls) == 1 else found

    monkeypatch.setattr(tlsreload, "trusted_certs", racing)
    files = tlsreload.CertFiles(current, tlsreload.mutual_server_context)
    pins = files.current()[1]
    assert pins == {before, fingerprint}
    assert len(calls) == 2


def test_a_switch_during_the_build_is_built_again(
        node: pathutils.Paths) -> None:
    """OpenSSL reads the presented file twice; replaced in between, the
    key does not match the certificate: the build is done again."""
    current = node.noded_cert_file
    data, fingerprint = _pem()
    _call("cluster_cert_stage", redist.encode_data(data))
    builds: list[int] = []

    def build(cert_file: str, trusted: list[bytes]) -> object:
        builds.append(1)
        if len(builds) == 1:
            _call("cluster_cert_switch", fingerprint)
            raise errors.OpExecError("key values mismatch")
        return tlsreload.mutual_server_context(cert_file, trusted)

    files = tlsreload.CertFiles(current, build)  # type: ignore[arg-type]
    assert len(builds) == 2
    assert fingerprint in (files.current()[1] or ())
    # A file that stays broken is not retried for ever.
    calls: list[int] = []

    def broken(cert_file: str, trusted: list[bytes]) -> object:
        calls.append(1)
        raise errors.OpExecError("key values mismatch")

    with pytest.raises(errors.OpExecError):
        tlsreload.CertFiles(current, broken)  # type: ignore[arg-type]
    assert calls == [1]


def test_certificates_of_one_name_have_subjects_of_their_own() -> None:
    from cryptography import x509

    subjects = {x509.load_pem_x509_certificate(
        crypto.generate_self_signed("ganeti.example.com")[1]).subject
        for _ in range(3)}
    assert len(subjects) == 3


def _version(transport: HttpsTransport, address: str) -> object:
    res = transport("n1", address, "version", [], 30)
    return res.fail_msg or res.payload


def _version_server(cert_file: str) -> http_server.HttpServer:
    """A started HTTPS server answering every call with version 1; it
    presents ``cert_file`` and follows it and its companions."""
    def app(request: object) -> Response:
        return Response(status=HTTP_OK, body=b"[true, 1]")

    files = tlsreload.CertFiles(cert_file, tlsreload.mutual_server_context)
    srv = http_server.HttpServer(("127.0.0.1", 0), app,  # type: ignore[arg-type]
                                 tls_source=files.current)
    srv.start()
    return srv


def test_server_and_client_follow_the_files(tmp_path: Path) -> None:
    """A server and a client, each with its own copy of the files, keep
    talking through every step of a renewal; a client left on the old
    certificate is refused after the finish."""
    server_pem = str(tmp_path / "server" / "server.pem")
    client_pem = str(tmp_path / "client" / "server.pem")
    # The same name for both certificates, as on a cluster: OpenSSL looks
    # trusted self-signed certificates up by subject.
    key, cert = crypto.generate_self_signed("ganeti.example.com")
    for path in (server_pem, client_pem):
        os.makedirs(os.path.dirname(path))
        crypto.write_pem_file(path, key, cert)
    stale_pem = str(tmp_path / "stale.pem")
    crypto.write_pem_file(stale_pem, key, cert)

    srv = _version_server(server_pem)
    client = HttpsTransport(client_pem, port=srv.address[1])
    try:
        assert _version(client, "127.0.0.1") == 1
        new_key, new_cert = crypto.generate_self_signed("ganeti.example.com")
        steps = [
            (server_pem + ".new", new_key, new_cert),   # stage, server
            (client_pem + ".new", new_key, new_cert),   # stage, client
            (client_pem + ".old", key, cert),           # switch, client
            (client_pem, new_key, new_cert),
            (server_pem + ".old", key, cert),           # switch, server
            (server_pem, new_key, new_cert),
        ]
        for path, k, c in steps:
            crypto.write_pem_file(path, k, c, mode=0o600)
            fresh = HttpsTransport(client_pem, port=srv.address[1])
            assert _version(fresh, "127.0.0.1") == 1, path
            fresh.close()
        for path in (server_pem + ".new", server_pem + ".old",
                     client_pem + ".new", client_pem + ".old"):
            os.unlink(path)
        assert _version(client, "127.0.0.1") == 1
        stale = HttpsTransport(stale_pem, port=srv.address[1])
        refused = _version(stale, "127.0.0.1")
        assert isinstance(refused, str), refused  # a fail_msg, not 1
        stale.close()
    finally:
        client.close()
        srv.stop()


@pytest.mark.parametrize("engine", fanout.ENGINES)
def test_a_call_racing_the_switch_is_sent_again(
        tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller read its files before the staged certificate reached
    them, the node switched before the connection was made: the TLS
    failure is retried once with the files as they are now (with either
    engine of node RPC)."""
    if engine == "c" and not fanout.built():
        pytest.skip("the C engine is not built")
    monkeypatch.setenv(fanout.ENGINE_ENV, engine)
    server_pem = str(tmp_path / "server" / "server.pem")
    client_pem = str(tmp_path / "client" / "server.pem")
    key, cert = crypto.generate_self_signed("ganeti.example.com")
    new_key, new_cert = crypto.generate_self_signed("ganeti.example.com")
    os.makedirs(os.path.dirname(server_pem))
    os.makedirs(os.path.dirname(client_pem))
    crypto.write_pem_file(server_pem, new_key, new_cert)   # switched
    crypto.write_pem_file(server_pem + ".old", key, cert)
    crypto.write_pem_file(client_pem, key, cert)           # not staged yet

    srv = _version_server(server_pem)
    client = HttpsTransport(client_pem, port=srv.address[1])
    sender = type(client._sender()[1])  # one class for every TLS state
    sent: list[int] = []
    real = sender.request_many

    def staged_meanwhile(self: object, requests: list[object]) -> object:
        outcomes = real(self, requests)  # type: ignore[arg-type]
        sent.append(len(requests))
        if len(sent) == 1:  # the stage reaches the caller's files now
            crypto.write_pem_file(client_pem + ".new", new_key, new_cert,
                                  mode=0o600)
        return outcomes

    try:
        from unittest import mock

        with mock.patch.object(sender, "request_many", staged_meanwhile):
            assert _version(client, "127.0.0.1") == 1
        assert sent == [1, 1]
        # Without a change of the files, a TLS failure is not retried.
        os.unlink(client_pem + ".new")
        sent.clear()
        with mock.patch.object(sender, "request_many",
                               lambda self, reqs: sent.append(len(reqs))
                               or real(self, reqs)):
            refused = _version(client, "127.0.0.1")
        assert isinstance(refused, str) and "TLS error" in refused
        assert sent == [1]
    finally:
        client.close()
        srv.stop()
