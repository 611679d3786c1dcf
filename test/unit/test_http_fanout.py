"""The C engine of node RPC (ganeti.http.fanout, _fanout.c) against real
TLS servers on 127.0.0.1: the behaviour of the Python client
(test_http.py) for what node RPC sends, and the interpreter lock left
free while it waits."""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_http import LIMITS, MALFORMED, WAIT, Pki, canned, echo_app, in_threads

from ganeti import crypto, errors, http, serializer
from ganeti.http import client as http_client
from ganeti.http import fanout, tls
from ganeti.http import server as http_server

if not fanout.built():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs the C engine of node RPC: "
                           "tools/bootstrap-env builds it")
    pytest.skip("the C engine is not built (tools/build-fanout)",
                allow_module_level=True)


@pytest.fixture
def pki(tmp_path: os.PathLike[str]) -> Pki:
    from pathlib import Path
    return Pki(Path(tmp_path))


def engine(pki: Pki, *, cert_file: str | None = None,
           pins: list[str] | None = None, connect_timeout: float = WAIT,
           **kwargs: float) -> fanout.FanoutClient:
    return fanout.FanoutClient(
        cert_file or pki.cluster, [pki.cert_pem],
        [pki.fingerprint] if pins is None else pins,
        connect_timeout=connect_timeout, **kwargs)  # type: ignore[arg-type]


def serve(pki: Pki, app: http.App = echo_app,
          limits: http_server.ServerLimits = LIMITS,
          cert_file: str | None = None) -> http_server.HttpServer:
    ctx = tls.server_context(cert_file or pki.cluster,
                             client_ca_pem=pki.cert_pem)
    return http_server.HttpServer(("127.0.0.1", 0), app, ssl_context=ctx,
                                  client_pin=pki.fingerprint, limits=limits)


@pytest.fixture
def server(pki: Pki) -> Iterator[http_server.HttpServer]:
    with serve(pki) as srv:
        yield srv


def req(srv: http_server.HttpServer | tuple[str, int], path: str = "/x",
        body: bytes = b"", timeout: float = WAIT) -> http_client.Request:
    host, port = srv if isinstance(srv, tuple) else srv.address
    return http_client.Request(host, port, "PUT", path, body, timeout)


def one(client: fanout.FanoutClient, request: http_client.Request
        ) -> http_client.HttpResponse:
    outcome, seconds = client.request_many([request])[0]
    assert seconds >= 0
    if isinstance(outcome, errors.GenericError):
        raise outcome
    return outcome


def test_fan_out_round_trip_and_keep_alive(
        pki: Pki, server: http_server.HttpServer) -> None:
    with engine(pki) as client:
        for _ in range(3):
            outcomes = client.request_many(
                [req(server, f"/p{k}", str(k).encode()) for k in range(5)])
            answers = [outcome.json() for outcome, _s in outcomes
                       if isinstance(outcome, http_client.HttpResponse)]
            assert [(a["path"], a["body"], a["peer"]) for a in answers] == [
                (f"/p{k}", str(k), pki.fingerprint) for k in range(5)]
        # Five in flight at once: five connections, kept for the rounds.
        assert client.connections_opened == 5
        assert client.request_many([]) == []


def test_batch_gives_each_request_its_own_outcome(
        pki: Pki, server: http_server.HttpServer) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        refused = spare.getsockname()
    with socket.socket() as silent, engine(pki, connect_timeout=0.5) as client:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts TCP, never answers the TLS handshake
        batch = [req(server, "/a", b"1"), req(refused), req(silent.getsockname()),
                 req(server, "/b", b"2")]
        first, gone, quiet, last = [o for o, _s in client.request_many(batch)]
        opened = client.connections_opened
        again = [o for o, _s in client.request_many(batch)]
        assert client.connections_opened == opened + 2  # the silent one again
    assert isinstance(first, http_client.HttpResponse)
    assert isinstance(last, http_client.HttpResponse)
    assert (first.json()["path"], last.json()["body"]) == ("/a", "2")
    assert isinstance(gone, errors.NodeUnreachableError)
    assert str(gone) == "Error 111: Connection refused"
    assert gone.details["errno"] == 111
    assert gone.details["port"] == refused[1]
    assert isinstance(quiet, errors.TimeoutError)
    assert str(quiet) == "Timeout after 0.5s connecting (connect limit)"
    assert [type(o) for o in again] == [type(o) for o in (first, gone, quiet,
                                                          last)]


def test_timeouts_name_the_limit_that_fired(pki: Pki) -> None:
    def slow(request: http.Request) -> http.Response:
        time.sleep(float(request.body))
        return http.json_response("late")

    with socket.socket() as silent, serve(pki, slow) as srv, \
            engine(pki, connect_timeout=10) as client:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        outcomes = client.request_many([
            req(silent.getsockname(), timeout=0.3),
            req(srv, body=b"3", timeout=0.3)])
    assert [str(o) for o, _s in outcomes] == [
        "Timeout after 0.3s connecting (call limit)",
        "Timeout after 0.3s waiting for the answer (call limit)"]


@pytest.mark.parametrize(("answer", "error", "message"), [
    *MALFORMED,
    (b"SPDY 200 OK\r\n\r\n", errors.ProtocolError,
     "Invalid HTTP answer: SPDY 200 OK"),
    (b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", errors.ProtocolError,
     "Invalid HTTP answer: invalid header line 'broken'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", errors.ProtocolError,
     "Invalid HTTP answer: invalid Content-Length '1x'"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000, errors.ProtocolError,
     "Answer headers longer than 65536 bytes"),
])
def test_malformed_answers_are_one_line_errors(
        pki: Pki, answer: bytes | list[bytes], error: type[Exception],
        message: str) -> None:
    with canned(pki, answer) as address, \
            engine(pki, max_response=1000) as client:
        outcome, _seconds = client.request_many([req(address)])[0]
    assert isinstance(outcome, error)
    assert str(outcome).startswith(message)
    assert "\n" not in str(outcome)


def test_answers_ended_by_the_connection_or_with_a_head_only(
        pki: Pki) -> None:
    cases = [(b"HTTP/1.0 200 OK\r\nX-A: b\r\n\r\n[1, 2]", 200, b"[1, 2]"),
             (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
             (b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\nnull", 500,
              b"null")]
    with engine(pki) as client:
        for answer, status, body in cases:
            with canned(pki, answer) as address:
                resp = one(client, req(address))
            assert (resp.status, resp.body) == (status, body)


def test_large_bodies_both_ways(pki: Pki) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB

    def app(request: http.Request) -> http.Response:
        if request.path == "/digest":
            return http.json_response(hashlib.sha1(request.body).hexdigest())
        return http.Response(body=big[:int(request.body)])

    limits = http_server.ServerLimits(max_body=4 * 1024 * 1024)
    with serve(pki, app, limits) as srv, engine(pki) as client:
        for size in (len(big), 100, len(big) - 1):
            assert one(client, req(srv, "/big", str(size).encode())).body \
                == big[:size]
        outcomes = client.request_many(
            [req(srv, "/digest", big) for _ in range(4)])
        assert [serializer.loads(o.body) for o, _s in outcomes  # type: ignore[union-attr]
                ] == [hashlib.sha1(big).hexdigest()] * 4


def test_the_peer_must_present_a_trusted_and_pinned_certificate(
        pki: Pki, server: http_server.HttpServer) -> None:
    with engine(pki, pins=["0" * 64]) as client:
        outcome, _s = client.request_many([req(server)])[0]
    assert isinstance(outcome, errors.NodeUnreachableError)
    assert outcome.details.get("tls") is True
    assert str(outcome).startswith(
        "TLS error: peer certificate is not the cluster certificate (sha256 "
        + pki.fingerprint[:16])
    with serve(pki, cert_file=pki.other) as other, engine(pki) as client:
        outcome, _s = client.request_many([req(other)])[0]
    assert isinstance(outcome, errors.NodeUnreachableError)
    assert str(outcome) == ("TLS error: certificate verify failed: "
                            "self-signed certificate")
    # A client presenting a certificate the node does not accept.
    with engine(pki, cert_file=pki.other) as client:
        outcome, _s = client.request_many([req(server)])[0]
    assert isinstance(outcome, errors.GenericError)
    assert "\n" not in str(outcome)


def test_a_connection_closed_while_pooled_is_replaced_once(pki: Pki) -> None:
    limits = http_server.ServerLimits(idle_timeout=1.0)
    with serve(pki, limits=limits) as srv, engine(pki) as client:
        first = one(client, req(srv)).json()["port"]
        time.sleep(1.5)  # the server drops the idle connection
        second = one(client, req(srv)).json()["port"]
        assert first != second and client.connections_opened == 2


def test_restarted_server_with_several_pooled_connections(pki: Pki) -> None:
    srv = serve(pki)
    srv.start()
    address = srv.address
    with engine(pki) as client:
        try:
            client.request_many([req(srv) for _ in range(3)])
            assert client.connections_opened == 3
        finally:
            srv.stop()  # closes the kept-alive connections
        ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
        with http_server.HttpServer(address, echo_app,
                                    ssl_context=ctx) as again:
            assert one(client, req(again, "/after")).json()["path"] == "/after"
            assert client.connections_opened == 4  # the dead ones dropped
            assert one(client, req(again)).status == 200
            assert client.connections_opened == 4
        outcome, _s = client.request_many([req(address)])[0]
        assert str(outcome) == "Error 111: Connection refused"


def test_threads_share_the_pool(pki: Pki,
                                server: http_server.HttpServer) -> None:
    with engine(pki) as client:
        def twenty() -> None:
            for _ in range(20):
                assert one(client, req(server)).status == 200

        assert in_threads(4, twenty) == []
        assert client.connections_opened <= 4


def test_the_interpreter_lock_is_free_while_it_waits(pki: Pki) -> None:
    """A thread runs Python while a fan-out waits for a slow node: the
    engine holds the interpreter lock only to take the requests and to
    build the results, never while it connects, sends, decrypts or
    parses (the Python client holds it for all of that)."""
    def slow(request: http.Request) -> http.Response:
        time.sleep(0.5)
        return http.json_response("done")

    counted = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal counted
        while not stop.is_set():
            counted += 1

    with serve(pki, slow) as srv, engine(pki) as client:
        one(client, req(srv))  # connected and kept
        counter = threading.Thread(target=count)
        counter.start()
        try:
            time.sleep(0.05)
            before = counted
            assert one(client, req(srv)).json() == "done"
            during = counted - before
        finally:
            stop.set()
            counter.join(WAIT)
    assert during > 1000


@pytest.mark.parametrize("forget, opened", [
    # A closed engine keeps no connection: each later call opens one.
    ("close", 3),
    # Dropping the idle ones keeps the pool in use.  Node add used to
    # close the transport's engine for that, and every later call of
    # masterd opened new connections (half the instance creation rate).
    ("drop_idle", 2),
])
def test_connections_after_close_or_drop_idle(
        pki: Pki, server: http_server.HttpServer, forget: str,
        opened: int) -> None:
    client = engine(pki)
    try:
        assert one(client, req(server)).status == 200
        getattr(client, forget)()
        assert one(client, req(server)).status == 200
        assert one(client, req(server)).status == 200
        assert client.connections_opened == opened
    finally:
        client.close()


def test_at_most_eight_idle_connections_per_server(
        pki: Pki, server: http_server.HttpServer) -> None:
    # As the Python client: a burst of parallel requests to one node
    # does not leave all its connections open for good.
    with engine(pki) as client:
        for opened in (10, 12):
            outcomes = client.request_many([req(server) for _ in range(10)])
            assert all(isinstance(o, http_client.HttpResponse)
                       for o, _s in outcomes)
            assert client.connections_opened == opened


def test_bad_arguments_are_clear_errors(pki: Pki, tmp_path: os.PathLike[str]
                                        ) -> None:
    from ganeti.http import _fanout
    broken = os.path.join(tmp_path, "broken.pem")
    with open(broken, "w", encoding="ascii") as handle:
        handle.write("not a certificate\n")
    with pytest.raises(ValueError, match=f"Cannot load certificate file "
                       f"{broken}: "):
        engine(pki, cert_file=broken)
    with pytest.raises(ValueError, match="no certificate"):
        _fanout.Engine(pki.cluster, b"", [], 1.0, 1.0, 10)
    with pytest.raises(ValueError, match="32 bytes"):
        _fanout.Engine(pki.cluster, pki.cert_pem, [b"short"], 1.0, 1.0, 10)
    raw = _fanout.Engine(pki.cluster, pki.cert_pem, [], 1.0, 1.0, 10)
    with pytest.raises(TypeError):
        raw.request_many([("127.0.0.1", 1, "head", b"", 1.0)])
    with pytest.raises(ValueError, match="bad request 0"):
        raw.request_many([("127.0.0.1", 0, b"", b"", 1.0)])
    with pytest.raises(ValueError, match="bad request 0"):
        raw.request_many([("h" * 300, 1811, b"", b"", 1.0)])
    outcome = raw.request_many([("no-such-host.invalid", 1811, b"", b"",
                                 1.0)])[0]
    assert outcome[0] == "unreachable"
    assert outcome[1].startswith("Cannot resolve no-such-host.invalid: ")


def test_the_engine_is_chosen_by_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fanout.ENGINE_ENV, raising=False)
    assert fanout.selected() == "c"  # where it is built (tested here)
    monkeypatch.setenv(fanout.ENGINE_ENV, "python")
    assert fanout.selected() == "python"
    monkeypatch.setenv(fanout.ENGINE_ENV, "C")
    assert fanout.selected() == "c"
    monkeypatch.setenv(fanout.ENGINE_ENV, "curl")
    with pytest.raises(errors.ConfigurationError,
                       match="GANETI_RPC_ENGINE='curl': must be one of c, "
                       "python"):
        fanout.selected()
    monkeypatch.setattr(fanout, "_engine", None)
    monkeypatch.setenv(fanout.ENGINE_ENV, "c")
    with pytest.raises(errors.ConfigurationError, match="not built"):
        fanout.selected()
    monkeypatch.delenv(fanout.ENGINE_ENV)
    assert fanout.selected() == "python"  # not built: the Python client


def test_an_expired_cluster_certificate_is_refused(pki: Pki,
                                                   tmp_path: os.PathLike[str]
                                                   ) -> None:
    """OpenSSL verifies the dates, as the Python client's context does:
    pinning alone would accept an expired certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=3))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))
    expired = os.path.join(tmp_path, "expired.pem")
    crypto.write_pem_file(expired, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), cert)
    ctx = tls.server_context(expired)
    with http_server.HttpServer(("127.0.0.1", 0), echo_app,
                                ssl_context=ctx) as srv, \
            fanout.FanoutClient(pki.cluster, [cert],
                                [crypto.cert_fingerprint(cert)],
                                connect_timeout=WAIT) as client:
        outcome, _s = client.request_many([req(srv)])[0]
    assert str(outcome) == ("TLS error: certificate verify failed: "
                            "certificate has expired")
