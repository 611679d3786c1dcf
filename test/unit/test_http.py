"""HTTPS server and client on 127.0.0.1: pinning, keep-alive, limits."""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ganeti import crypto, errors, http, serializer
from ganeti.http import client as http_client
from ganeti.http import server as http_server
from ganeti.http import tls

WAIT = 30.0  # bound on every blocking step; never reached when all is well


class Pki:
    def __init__(self, root: Path) -> None:
        self.cluster = str(root / "server.pem")
        self.other = str(root / "other.pem")
        key, self.cert_pem = crypto.generate_self_signed("cluster",
                                                         validity_days=1)
        crypto.write_pem_file(self.cluster, key, self.cert_pem)
        key2, self.other_pem = crypto.generate_self_signed("cluster",
                                                           validity_days=1)
        crypto.write_pem_file(self.other, key2, self.other_pem)
        self.fingerprint = crypto.cert_fingerprint(self.cert_pem)

    def client(self, *, cert_file: str | None = "cluster",
               **kwargs: object) -> http_client.HttpClient:
        path = {"cluster": self.cluster, "other": self.other, None: None}[cert_file]
        ctx = tls.client_context(self.cert_pem, cert_file=path)
        return http_client.HttpClient(ctx, server_pin=self.fingerprint,
                                      **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def echo_app(request: http.Request) -> http.Response:
    if request.path == "/boom":
        raise RuntimeError("kaboom")
    if request.path == "/teapot":
        raise http.HttpError(418, "short and stout")
    return http.json_response({
        "method": request.method, "path": request.path,
        "body": request.body.decode(), "port": request.client_address[1],
        "peer": request.peer_fingerprint})


# Time limits are the defaults (generous): the requests of these tests
# must not fail on a loaded machine.  The one test of the deadlines has a
# server of its own (SHORT).
LIMITS = http_server.ServerLimits(max_body=1024)
#: Deadlines that expire in the test of slow and silent clients, but leave
#: ample time to the clients that must get through meanwhile.
SHORT = http_server.ServerLimits(max_body=1024, handshake_timeout=2.0,
                                 request_timeout=2.0)


@pytest.fixture
def server(pki: Pki) -> Iterator[http_server.HttpServer]:
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    srv = http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx,
                                 client_pin=pki.fingerprint, limits=LIMITS)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def get(client: http_client.HttpClient, srv: http_server.HttpServer,
        path: str = "/x", body: bytes = b"", method: str = "PUT"
        ) -> http_client.HttpResponse:
    host, port = srv.address
    return client.request(host, port, method, path, body, timeout=WAIT)


def raw_tls(pki: Pki, srv: http_server.HttpServer) -> ssl.SSLSocket:
    ctx = tls.client_context(pki.cert_pem, cert_file=pki.cluster)
    sock = socket.create_connection(srv.address, timeout=WAIT)
    return ctx.wrap_socket(sock)


def in_threads(count: int, work: Callable[[], object]) -> list[BaseException]:
    """Run ``work`` in ``count`` threads at once; what they raised."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:  # reported to the caller
            failures.append(err)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return failures


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_round_trip_and_keep_alive(pki: Pki, server: http_server.HttpServer) -> None:
    with pki.client() as client:
        answers = [get(client, server, f"/call{i}", b"[%d]" % i).json()
                   for i in range(5)]
        assert client.connections_opened == 1
    assert [a["path"] for a in answers] == [f"/call{i}" for i in range(5)]
    assert answers[3]["body"] == "[3]"
    assert len({a["port"] for a in answers}) == 1  # one connection
    assert answers[0]["peer"] == pki.fingerprint


def test_pool_is_thread_safe(pki: Pki, server: http_server.HttpServer) -> None:
    results: list[int] = []
    with pki.client() as client:
        def worker() -> None:
            for _ in range(5):
                results.append(get(client, server).status)
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert client.connections_opened <= 8
    assert results == [200] * 40


def test_body_too_large_is_413(pki: Pki, server: http_server.HttpServer) -> None:
    with pki.client() as client:
        resp = get(client, server, body=b"x" * 2048)
        assert resp.status == 413
        assert "exceeds the limit of 1024" in resp.json()["message"]
        assert get(client, server, body=b"x" * 1024).status == 200


def test_app_errors(pki: Pki, server: http_server.HttpServer) -> None:
    with pki.client() as client:
        resp = get(client, server, "/boom")
        assert resp.status == 500
        assert resp.json()["message"] == "Internal error: RuntimeError"
        resp = get(client, server, "/teapot")
        assert (resp.status, resp.json()["message"]) == (418, "short and stout")
        assert get(client, server).status == 200


def test_protocol_errors(pki: Pki, server: http_server.HttpServer) -> None:
    cases = {
        b"PUT /x HTTP/1.1\r\nHost: a\r\n\r\n": b" 411 ",
        b"PUT /x HTTP/1.1\r\nContent-Length: x\r\n\r\n": b" 400 ",
        b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n": b" 501 ",
        b"\x00\x01garbage\xff\r\n\r\n": b" 400 ",
    }
    for request, status in cases.items():
        with raw_tls(pki, server) as sock:
            sock.sendall(request)
            answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1") and status in answer.split(b"\r\n")[0]
    with pki.client() as client:
        assert get(client, server).status == 200


def test_over_long_request_line_is_414_without_a_traceback(
        capfd: pytest.CaptureFixture[str]) -> None:
    with http_server.HttpServer(("127.0.0.1", 0), echo_app) as srv, \
            socket.create_connection(srv.address, timeout=WAIT) as sock:
        sock.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
        answer = read_all(sock)  # to EOF: the handler has finished
    assert answer.split(b"\r\n")[0] == b"HTTP/1.1 414 Request-URI Too Long"
    err = capfd.readouterr().err
    assert "Traceback" not in err and "AttributeError" not in err


def test_slow_client_times_out_without_blocking_others(pki: Pki) -> None:
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    with http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx,
                                client_pin=pki.fingerprint,
                                limits=SHORT) as server, \
            contextlib.closing(raw_tls(pki, server)) as slow, \
            socket.create_connection(server.address, timeout=WAIT) as silent:
        slow.sendall(b"PUT /x HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
        # "silent" speaks no TLS at all.
        with pki.client() as client:
            for _ in range(3):
                assert get(client, server).status == 200
        answer = read_all(slow)  # the server gives up on it
        assert answer.split(b"\r\n")[0].endswith(b"408 Request Timeout")
        assert silent.recv(100) == b""  # handshake deadline: closed


def test_client_without_certificate_refused(pki: Pki,
                                            server: http_server.HttpServer) -> None:
    with pki.client(cert_file=None) as client, \
            pytest.raises(errors.NodeUnreachableError) as info:
        get(client, server)
    assert "\n" not in str(info.value)


def test_client_with_other_certificate_refused(
        pki: Pki, server: http_server.HttpServer) -> None:
    with pki.client(cert_file="other") as client, \
            pytest.raises(errors.NodeUnreachableError):
        get(client, server)
    with pki.client() as client:
        assert get(client, server).status == 200


def test_server_with_other_certificate_refused(pki: Pki) -> None:
    ctx = tls.server_context(pki.other, client_ca_pem=pki.cert_pem)
    with http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx,
                                limits=LIMITS) as srv, pki.client() as client, \
            pytest.raises(errors.NodeUnreachableError,
                          match="TLS error: certificate verify failed"):
        get(client, srv)


def test_pin_is_checked_beyond_the_chain(pki: Pki,
                                         server: http_server.HttpServer) -> None:
    ctx = tls.client_context(pki.cert_pem, cert_file=pki.cluster)
    wrong_pin = "0" * 64
    with http_client.HttpClient(ctx, server_pin=wrong_pin) as client, \
            pytest.raises(errors.NodeUnreachableError,
                          match="not the cluster certificate"):
        get(client, server)


def test_stale_pooled_connection_is_replaced(pki: Pki) -> None:
    # Long enough for the first request to start in time on a loaded
    # machine; the test then waits for the server to drop the connection.
    limits = http_server.ServerLimits(idle_timeout=1.0)
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    with http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx,
                                limits=limits) as srv, pki.client() as client:
        first = get(client, srv).json()["port"]
        # Wait (bounded) until the server has dropped the idle connection.
        idle = client._idle[srv.address][0]
        assert idle.sock is not None
        idle.sock.settimeout(WAIT)
        assert idle.sock.recv(1) == b""
        second = get(client, srv).json()["port"]
        assert first != second and client.connections_opened == 2


def test_restarted_server_with_several_pooled_connections(pki: Pki) -> None:
    """Every pooled connection is dead after a restart: the retry must use
    a fresh one (not the next dead one from the pool) and drop the rest."""
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    barrier = threading.Barrier(3, timeout=WAIT)

    def together(request: http.Request) -> http.Response:
        if request.path == "/together":
            barrier.wait()  # three requests in flight: three connections
        return echo_app(request)

    srv = http_server.HttpServer(("127.0.0.1", 0), together, ssl_context=ctx)
    srv.start()
    address = srv.address
    with pki.client() as client:
        try:
            assert in_threads(3, lambda: get(client, srv, "/together")) == []
            assert len(client._idle[address]) == 3
        finally:
            srv.stop()  # closes the kept-alive connections
        with http_server.HttpServer(address, echo_app,
                                    ssl_context=ctx) as again:
            opened = client.connections_opened
            assert get(client, again, "/after").json()["path"] == "/after"
            assert client.connections_opened == opened + 1
            # The dead ones are gone; only the fresh one went back.
            assert len(client._idle[address]) == 1
            assert get(client, again, "/next").status == 200
            assert client.connections_opened == opened + 1


def test_failure_on_a_fresh_connection_after_a_stale_one_is_reported(
        pki: Pki) -> None:
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    srv = http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx)
    srv.start()
    with pki.client() as client:
        assert get(client, srv).status == 200
        srv.stop()  # the pooled connection dies and nothing listens
        with pytest.raises(errors.NodeUnreachableError, match="Error 111"):
            get(client, srv)
        assert not client._idle.get(srv.address)


def test_plain_http_and_default_error_body() -> None:
    with http_server.HttpServer(("127.0.0.1", 0), echo_app) as srv, \
            http_client.HttpClient() as client:
        resp = get(client, srv, "/teapot", method="GET")
        assert resp.status == 418
        assert serializer.loads(resp.body) == {
            "code": 418, "message": "short and stout", "explain": ""}


def test_stop_closes_kept_alive_connections(pki: Pki) -> None:
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    srv = http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx)
    srv.start()
    with pki.client() as client:
        assert get(client, srv).status == 200
        srv.stop()
        with pytest.raises(errors.NodeUnreachableError, match="Error 111"):
            get(client, srv)


def test_listen_error_is_clear(pki: Pki, server: http_server.HttpServer) -> None:
    with pytest.raises(errors.OpExecError, match=r"Cannot listen on 127\.0\.0\.1:"):
        http_server.HttpServer(server.address, echo_app)


def test_json_helpers() -> None:
    req = http.Request("PUT", "/", {}, b"[1, 2", ("127.0.0.1", 1))
    with pytest.raises(http.HttpError) as info:
        http.parse_json_body(req)
    assert info.value.status == 400 and "Invalid JSON" in info.value.message
    assert http.json_response([1]).body == b"[1]"


def test_batch_gives_each_request_its_own_outcome(
        pki: Pki, server: http_server.HttpServer) -> None:
    host, port = server.address
    with socket.socket() as spare:  # a port nobody listens on
        spare.bind(("127.0.0.1", 0))
        refused_port = spare.getsockname()[1]
    with socket.socket() as silent, pki.client(connect_timeout=0.5) as client:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts TCP, never answers the TLS handshake
        silent_port = silent.getsockname()[1]

        def batch() -> list[http_client.Outcome]:
            return client.request_many([
                http_client.Request(host, port, "PUT", "/a", b"1", WAIT),
                http_client.Request("127.0.0.1", refused_port, "PUT", "/",
                                    b"", WAIT),
                http_client.Request("127.0.0.1", silent_port, "PUT", "/",
                                    b"", WAIT),
                http_client.Request(host, port, "PUT", "/b", b"2", WAIT)])

        outcomes = [outcome for outcome, _seconds in batch()]
        opened = client.connections_opened
        again = [outcome for outcome, _seconds in batch()]
    first, refused, timed_out, last = outcomes
    assert isinstance(first, http_client.HttpResponse)
    assert isinstance(last, http_client.HttpResponse)
    assert (first.json()["path"], first.json()["body"]) == ("/a", "1")
    assert (last.json()["path"], last.json()["body"]) == ("/b", "2")
    assert isinstance(refused, errors.NodeUnreachableError)
    assert str(refused) == "Error 111: Connection refused"
    assert isinstance(timed_out, errors.TimeoutError)
    # The two kept-alive connections to the server were reused.
    assert client.connections_opened == opened + 2
    assert [type(outcome) for outcome in again] == [type(o) for o in outcomes]


@contextlib.contextmanager
def canned(pki: Pki, answer: bytes | list[bytes]
           ) -> Iterator[tuple[str, int]]:
    """A TLS server that answers one request with ``answer`` (a list: its
    parts in TLS records of their own) and closes."""
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)

    def serve() -> None:
        with contextlib.suppress(OSError), ctx.wrap_socket(
                listener.accept()[0], server_side=True) as conn:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                data += chunk
            for part in answer if isinstance(answer, list) else [answer]:
                conn.sendall(part)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        thread.join(WAIT)
        listener.close()


#: Answers that break the protocol, the error each is, and how its
#: message starts (with a client limited to answers of 1000 bytes); the
#: C engine of node RPC gives the same (test_http_fanout.py).
MALFORMED: list[tuple[bytes | list[bytes], type[Exception], str]] = [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     errors.ProtocolError, "Chunked answers are not supported"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
     errors.ProtocolError, "Answer of 5000 bytes exceeds the limit of 1000"
     " bytes"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
     errors.ProtocolError, "Answer cut short by the server"),
    (b"SPDY 200 OK\r\n\r\n", errors.ProtocolError, "Invalid HTTP answer: "),
    ([b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 600, b"x" * 600],
     errors.ProtocolError, "Answer exceeds the limit of 1000 bytes"),
    (b"", errors.NodeUnreachableError,
     "Connection closed by the server before it answered"),
]


@pytest.mark.parametrize(("answer", "error", "message"), MALFORMED)
def test_malformed_answers_are_one_line_errors(
        pki: Pki, answer: bytes | list[bytes], error: type[Exception],
        message: str) -> None:
    with canned(pki, answer) as (host, port), \
            pki.client(max_response=1000) as client, \
            pytest.raises(error) as info:
        client.request(host, port, "PUT", "/", b"", timeout=WAIT)
    assert str(info.value).startswith(message)


def test_answer_ended_by_the_connection_is_read_whole(pki: Pki) -> None:
    with canned(pki, b"HTTP/1.0 200 OK\r\nX-A: b\r\n\r\n[1, 2]") as (host, port), \
            pki.client() as client:
        resp = client.request(host, port, "PUT", "/", b"", timeout=WAIT)
    assert (resp.status, resp.headers["X-A"], resp.json()) == (200, "b", [1, 2])


def test_a_fan_out_shares_one_copy_of_a_large_body(pki: Pki) -> None:
    # The ssconf files go to every node (250 KB at 10,000 instances):
    # a copy of the body per request was 25 MB for 100 nodes, and each
    # TLS record sent copied what was left of it.
    def digest_app(request: http.Request) -> http.Response:
        return http.json_response({
            "length": len(request.body),
            "sha1": hashlib.sha1(request.body).hexdigest()})

    big = bytes(range(256)) * 1200  # 300 KiB
    small = b"[1, 2, 3]"
    encode = http_client.request_encoder()
    heads = [encode(http_client.Request(f"127.0.0.{k}", 1811, "PUT", "/c",
                                        big, WAIT)) for k in (1, 2)]
    assert heads[0][1] is big and heads[1][1] is big
    assert all(len(head) < 1024 for head, _body in heads)
    head, body = encode(http_client.Request("127.0.0.1", 1811, "PUT", "/s",
                                            small, WAIT))
    assert head.endswith(b"\r\n\r\n" + small) and body == b""

    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    srv = http_server.HttpServer(
        ("127.0.0.1", 0), digest_app, ssl_context=ctx,
        client_pin=pki.fingerprint,
        limits=http_server.ServerLimits(max_body=1024 * 1024))
    srv.start()
    try:
        host, port = srv.address
        with pki.client() as client:
            outcomes = client.request_many(
                [http_client.Request(host, port, "PUT", "/c", big, WAIT)
                 for _ in range(6)]
                + [http_client.Request(host, port, "PUT", "/s", small, WAIT)])
    finally:
        srv.stop()
    answers = [outcome.json() for outcome, _seconds in outcomes
               if isinstance(outcome, http_client.HttpResponse)]
    assert answers == (
        [{"length": len(big), "sha1": hashlib.sha1(big).hexdigest()}] * 6
        + [{"length": len(small), "sha1": hashlib.sha1(small).hexdigest()}])


def test_pooled_connections_serve_every_thread(
        pki: Pki, server: http_server.HttpServer) -> None:
    # A kept-alive connection stays registered with the epoll of the
    # thread that used it last; another thread takes it over.
    with pki.client() as client:
        def twenty() -> None:
            for _ in range(20):
                assert get(client, server).status == 200

        assert get(client, server).status == 200
        assert client.connections_opened == 1
        worker = threading.Thread(target=get, args=(client, server))
        worker.start()
        worker.join(WAIT)
        assert get(client, server).status == 200
        assert client.connections_opened == 1  # one connection, 3 threads
        assert in_threads(4, twenty) == []
        assert client.connections_opened <= 5


def test_idle_connection_closed_by_its_server_leaves_the_poller(
        pki: Pki, server: http_server.HttpServer) -> None:
    limits = http_server.ServerLimits(idle_timeout=1.0)
    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    with http_server.HttpServer(("127.0.0.1", 0), echo_app, ssl_context=ctx,
                                limits=limits) as closing, \
            pki.client() as client:
        assert get(client, closing).status == 200
        idle = client._idle[closing.address][0]
        assert idle.poller is not None
        # Wait (bounded) until the server has closed the idle connection.
        ready = select.select([idle.sock.raw], [], [], WAIT)[0]
        assert ready
        # A request elsewhere wakes on it once and unregisters it (it
        # would wake every later wait of this thread otherwise).
        assert get(client, server).status == 200
        assert idle.poller is None
        assert get(client, closing).status == 200
        assert client.connections_opened == 3


def test_a_repeated_head_is_parsed_once_and_shared_read_only(
        pki: Pki) -> None:
    # The nodes of a fan-out answer with the same head: it is parsed
    # once, so the answers share headers that nobody may change.
    head = b"HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 2\r\n\r\n"
    with pki.client() as client:
        answers = []
        for body in (b"[]", b"{}"):
            with canned(pki, head + body) as (host, port):
                answers.append(client.request(host, port, "PUT", "/", b"",
                                              timeout=WAIT))
        first, second = answers
        assert (first.body, second.body) == (b"[]", b"{}")
        assert first.headers is second.headers
        assert dict(first.headers) == {"X-A": "b", "Content-Length": "2"}
        with pytest.raises(TypeError):
            first.headers["X-A"] = "c"  # type: ignore[index]
        with canned(pki, b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n") as address, \
                pytest.raises(errors.ProtocolError,
                              match="invalid header line 'broken'"):
            client.request(*address, "PUT", "/", b"", timeout=WAIT)


def test_large_answers_arrive_whole_on_a_kept_alive_connection(
        pki: Pki) -> None:
    # Many TLS records per read of the socket, several reads per answer;
    # the connection is reused for the next one.
    big = bytes(range(256)) * 8192  # 2 MiB

    def large_app(request: http.Request) -> http.Response:
        return http.Response(body=big[:int(request.body)])

    ctx = tls.server_context(pki.cluster, client_ca_pem=pki.cert_pem)
    with http_server.HttpServer(("127.0.0.1", 0), large_app,
                                ssl_context=ctx) as srv, \
            pki.client() as client:
        for size in (len(big), 100, len(big) - 1):
            assert get(client, srv, body=str(size).encode()).body == \
                big[:size]
        assert client.connections_opened == 1
