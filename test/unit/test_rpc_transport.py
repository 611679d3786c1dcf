"""HttpsTransport against an in-process noded server, and error mapping."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganeti import crypto, serializer
from ganeti.http import fanout
from ganeti.http import server as http_server
from ganeti.rpc.transport import HttpsTransport, decode_answer
from ganeti.server import noded


@pytest.fixture(autouse=True, params=["c", "python"])
def rpc_engine(request: pytest.FixtureRequest,
               monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test with both engines of node RPC (the C one where built)."""
    if request.param == "c" and not fanout.built():
        pytest.skip("the C engine is not built")
    monkeypatch.setenv(fanout.ENGINE_ENV, request.param)
    return str(request.param)


@pytest.fixture
def cert_file(tmp_path: Path) -> str:
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, *crypto.generate_self_signed(
        "cluster", validity_days=1))
    return path


@pytest.fixture
def node(cert_file: str) -> Iterator[http_server.HttpServer]:
    srv = noded.build_server(("127.0.0.1", 0), cert_file)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_calls_and_connection_reuse(cert_file: str,
                                    node: http_server.HttpServer) -> None:
    with HttpsTransport(cert_file, port=node.address[1]) as transport:
        for _ in range(3):
            res = transport("n1", "127.0.0.1", "version", [], 30)
            assert (res.payload, res.fail_msg) == (30, None)
        res = transport("n1", "127.0.0.1", "test_delay", [0], 30)
        assert (res.payload, res.fail_msg) == (None, None)
        res = transport("n1", "127.0.0.1", "test_delay", ["x"], 30)
        assert res.fail_msg == ("RPC test_delay: argument 'duration': expected "
                                "a non-negative number, got 'x'")
        res = transport("n1", "127.0.0.1", "no_such_call", [], 30)
        assert res.fail_msg == "Unknown RPC call 'no_such_call'"
        assert transport.connections_opened == 1


def test_kept_alive_connections_go_on_after_drop_idle_and_close(
        cert_file: str, node: http_server.HttpServer) -> None:
    # Node add drops the idle connections; on the C engine that closed
    # the engine, and no connection was kept alive after it.
    with HttpsTransport(cert_file, port=node.address[1]) as transport:
        def works() -> bool:
            res = transport("n1", "127.0.0.1", "version", [], 30)
            return res.fail_msg is None

        assert works()
        transport.drop_idle()
        assert works() and works()
        assert transport.connections_opened == 2
        transport.close()
        before = transport.connections_opened
        assert works() and works()
        assert transport.connections_opened == before + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_names_the_node(cert_file: str) -> None:
    port = free_port()
    with HttpsTransport(cert_file, port=port) as transport:
        res = transport("node7", "127.0.0.1", "version", [], 30)
    assert res.fail_msg == (f"Error 111: Connection refused (node node7 at "
                            f"127.0.0.1:{port})")


@pytest.mark.parametrize(("connect_timeout", "call_timeout", "limit"), [
    (10.0, 0.2, "call"),  # the call's own limit is the smaller one
    (0.2, 300.0, "connect"),  # a 300 s call whose connect limit fired
])
def test_timeout_names_the_limit_that_fired(
        cert_file: str, connect_timeout: float, call_timeout: float,
        limit: str) -> None:
    with socket.socket() as listener:  # accepts TCP, never speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with HttpsTransport(cert_file, port=port,
                            connect_timeout=connect_timeout) as transport:
            res = transport("node2", "127.0.0.1", "version", [], call_timeout)
    assert res.fail_msg == (f"Timeout after 0.2s connecting ({limit} limit)"
                            f" (node node2 at 127.0.0.1:{port})")


def test_timeout_waiting_for_the_answer_names_the_call_limit(
        cert_file: str, node: http_server.HttpServer) -> None:
    with HttpsTransport(cert_file, port=node.address[1]) as transport:
        res = transport("n1", "127.0.0.1", "test_delay", [5], 0.3)
    assert res.fail_msg == (
        f"Timeout after 0.3s waiting for the answer (call limit)"
        f" (node n1 at 127.0.0.1:{node.address[1]})")


def test_unencodable_arguments(cert_file: str) -> None:
    with HttpsTransport(cert_file, port=free_port()) as transport:
        res = transport("n", "127.0.0.1", "version", [{1, 2}], 1)
    assert res.fail_msg is not None and "Cannot encode" in res.fail_msg


@pytest.mark.parametrize(("status", "body", "payload", "fail_msg"), [
    (200, [True, {"a": 1}], {"a": 1}, None),
    (200, [False, "disk full"], None, "disk full"),
    (200, [False, ""], None, "failed (no message)"),
    (200, [False, 3], None, "3"),
    (413, [False, "too big"], None, "HTTP 413: too big"),
    (200, {"a": 1}, None, "invalid answer: b'{\"a\":1}'"),
    (200, [1, 2], None, "invalid answer: b'[1,2]'"),
    (502, "x", None, "HTTP 502: invalid answer: b'\"x\"'"),
])
def test_decode_answer(status: int, body: object, payload: object,
                       fail_msg: str | None) -> None:
    res = decode_answer("n", "c", status, serializer.dumps(body))
    assert (res.payload, res.fail_msg) == (payload, fail_msg)


def test_decode_garbage() -> None:
    res = decode_answer("n", "c", 200, b"\xff<html>")
    assert res.fail_msg == "invalid answer: Invalid JSON: not UTF-8 at byte 0"


def test_handler_exception_is_logged_and_answered(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from ganeti import backend, http

    def broken() -> int:
        raise KeyError("disk0")

    backend.load_handlers()
    monkeypatch.setitem(backend.HANDLERS, "version", broken)
    req = http.Request("PUT", "/version", {}, b"[]", ("127.0.0.1", 1))
    resp = noded.handle_request(req)
    assert (resp.status, serializer.loads(resp.body)) == (
        200, [False, "KeyError: 'disk0'"])
    assert "Traceback" in caplog.text and "RPC version failed" in caplog.text


def test_calls_go_through_the_selected_engine(
        cert_file: str, node: http_server.HttpServer, rpc_engine: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    with HttpsTransport(cert_file, port=node.address[1]) as transport:
        assert transport.engine == rpc_engine
        assert transport("n1", "127.0.0.1", "version", [], 30).fail_msg \
            is None
    if rpc_engine != "c":
        return
    # Files the C engine cannot load (a renewal replacing the key between
    # two reads): the batch goes through the Python client, said once.
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ValueError("Cannot load certificate file x: key values "
                         "mismatch")

    monkeypatch.setattr(fanout, "FanoutClient", refuse)
    with HttpsTransport(cert_file, port=node.address[1]) as transport:
        res = transport("n1", "127.0.0.1", "version", [], 30)
    assert (res.payload, res.fail_msg) == (30, None)
    assert "Node RPC through the Python client for now: Cannot load " \
        "certificate file x" in caplog.text
