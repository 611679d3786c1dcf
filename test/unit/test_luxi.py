"""LUXI: framing, request checking, a real server on a unix socket."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from testkit import WAIT

from ganeti import constants, errors, luxi, serializer


def handler(method: luxi.Method, args: list[Any]) -> Any:
    if method.name == "QueryClusterInfo":
        return {"name": "cluster.example.com"}
    if method.name == "SubmitJob":
        return 42
    if method.name == "CancelJob":
        raise errors.OpPrereqError("Job 7 not found", errors.ErrorCode.NOENT)
    if method.name == "ArchiveJob":
        raise KeyError("bug")
    return args


@pytest.fixture
def server(tmp_path: Any) -> Iterator[luxi.Server]:
    path = os.path.join(str(tmp_path), "sock", "master")
    srv = luxi.Server(path, handler, idle_timeout=5)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(WAIT)


def raw_exchange(path: str, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(WAIT)
        sock.connect(path)
        sock.sendall(payload)
        data = b""
        while not data.endswith(luxi.EOM):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_socket_mode(server: luxi.Server) -> None:
    assert os.stat(server.server_address).st_mode & 0o777 == 0o660


def test_client_calls(server: luxi.Server) -> None:
    with luxi.Client(server.server_address, timeout=WAIT) as client:
        assert client.query_cluster_info() == {"name": "cluster.example.com"}
        assert client.submit_job([{"OP_ID": "OP_TEST_DELAY"}]) == 42
        # Several requests on one connection.
        assert client.call("QueryTags", "cluster", "") == ["cluster", ""]


def test_errors_travel_as_their_class(server: luxi.Server) -> None:
    with luxi.Client(server.server_address, timeout=WAIT) as client:
        with pytest.raises(errors.OpPrereqError, match="Job 7") as info:
            client.cancel_job(7)
        assert info.value.code == errors.ErrorCode.NOENT
        with pytest.raises(errors.ProgrammerError, match="KeyError"):
            client.archive_job(1)
        # The connection still works after a failed call.
        assert client.submit_job([]) == 42


def test_bad_arguments_are_refused(server: luxi.Server) -> None:
    with luxi.Client(server.server_address, timeout=WAIT) as client:
        with pytest.raises(errors.OpPrereqError, match="argument 'ops'"):
            client.call("SubmitJob", "not a list")
        with pytest.raises(errors.OpPrereqError, match="expected 1 argument"):
            client.call("SubmitJob")


@pytest.mark.parametrize("payload", [
    b"not json\x03", b"[1,2]\x03", b'{"method": "Nope", "args": []}\x03',
    b'{"method": "SubmitJob", "args": {}}\x03',
    b'{"method": "QueryClusterInfo", "args": [], "version": 1}\x03',
])
def test_malformed_requests_get_error_replies(server: luxi.Server,
                                              payload: bytes) -> None:
    reply = raw_exchange(server.server_address, payload)
    assert reply.endswith(luxi.EOM)
    with pytest.raises(errors.GenericError):
        luxi.parse_response(reply[:-1])
    # ... and the daemon still answers.
    with luxi.Client(server.server_address, timeout=WAIT) as client:
        assert client.submit_job([]) == 42


def test_half_message_then_close(server: luxi.Server) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(server.server_address)
        sock.sendall(b'{"method": "Sub')
    with luxi.Client(server.server_address, timeout=WAIT) as client:
        assert client.submit_job([]) == 42


def test_no_master(tmp_path: Any) -> None:
    client = luxi.Client(os.path.join(str(tmp_path), "absent"), timeout=1)
    with pytest.raises(luxi.NoMasterError, match="master daemon"):
        client.query_cluster_info()


def test_transport_splits_messages() -> None:
    a, b = socket.socketpair()
    with a, b:
        t = luxi.Transport(b, timeout=WAIT)
        a.sendall(b"one\x03two\x03thr")
        assert t.recv() == b"one"
        assert t.recv() == b"two"
        a.sendall(b"ee\x03")
        assert t.recv() == b"three"
        a.close()
        assert t.recv() is None


def test_send_refuses_eom_inside() -> None:
    a, b = socket.socketpair()
    with a, b, pytest.raises(errors.ProtocolError):
        luxi.Transport(a).send(b"x\x03y")


def test_every_method_declares_checked_args() -> None:
    for method in luxi.METHODS.values():
        assert method.doc
        for arg in method.args:
            assert arg.check.desc


def test_request_round_trip() -> None:
    data = luxi.format_request("QueryJobs", [None, ["id"]],
                               constants.PROTOCOL_VERSION)
    method, args = luxi.parse_request(data)
    assert method.name == "QueryJobs" and args == [None, ["id"]]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)


@given(st.sampled_from(sorted(luxi.METHODS)), st.lists(json_values, max_size=6))
def test_handle_message_always_replies(method: str, args: list[Any]) -> None:
    reply = luxi.handle_message(lambda m, a: None,
                                serializer.dumps({"method": method,
                                                  "args": args}))
    resp = serializer.loads(reply)
    assert isinstance(resp["success"], bool)


class _ChunkSocket:
    """A socket stand-in that returns the given chunks, then EOF."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    def settimeout(self, _timeout: float | None) -> None:
        pass

    def recv(self, _size: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


def test_transport_joins_messages_across_many_chunks() -> None:
    body = b"x" * 1000
    wire = body + luxi.EOM + b"\x03" + body[:10] + luxi.EOM
    chunks = [wire[i:i + 7] for i in range(0, len(wire), 7)]
    t = luxi.Transport(_ChunkSocket(chunks))  # type: ignore[arg-type]
    assert t.recv() == body
    assert t.recv() == b""
    assert t.recv() == body[:10]
    assert t.recv() is None


def test_oversized_message_gets_an_error_naming_the_limit(
        server: luxi.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(luxi, "MAX_MESSAGE_SIZE", 1000)
    reply = raw_exchange(server.server_address, b"[" + b" " * 2000)
    assert reply.endswith(luxi.EOM)
    result = serializer.loads(reply[:-1])
    assert result["success"] is False
    assert "limit of 1000 bytes" in str(result["result"])


def test_client_refuses_to_send_an_oversized_message(
        server: luxi.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(luxi, "MAX_MESSAGE_SIZE", 1000)
    with luxi.Client(server.server_address, timeout=WAIT) as client, \
            pytest.raises(errors.ProtocolError, match="exceeds the limit"):
        client.submit_job([{"OP_ID": "OP_TEST_DELAY", "comment": "x" * 2000}])


def test_a_starting_master_is_waited_for(tmp_path: Any) -> None:
    """The master daemon runs (its pid file is locked) but does not
    listen yet: the client waits and connects once it does."""
    from ganeti import daemon

    path = os.path.join(str(tmp_path), "sock", "master")
    pid_file = daemon.PidFile(os.path.join(str(tmp_path), "masterd.pid"))
    servers: list[luxi.Server] = []

    def listen_later() -> None:
        time.sleep(0.3)
        srv = luxi.Server(path, handler, idle_timeout=5)
        servers.append(srv)
        srv.serve_forever(0.05)

    thread = threading.Thread(target=listen_later, daemon=True)
    thread.start()
    try:
        with luxi.Client(path, timeout=WAIT,
                         master_pid_file=pid_file.path) as client:
            assert client.submit_job([]) == 42
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        thread.join(5)
        pid_file.release()


def test_no_waiting_without_a_running_master(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pid file nobody holds (a stopped or crashed master): the error
    comes at once."""
    pid_path = os.path.join(str(tmp_path), "masterd.pid")
    with open(pid_path, "w", encoding="ascii") as handle:
        handle.write("1\n")

    def no_sleep(seconds: float) -> None:
        raise AssertionError("the client waited")

    monkeypatch.setattr(luxi.time, "sleep", no_sleep)
    with pytest.raises(luxi.NoMasterError, match="master daemon"):
        luxi.Client(os.path.join(str(tmp_path), "absent"), timeout=1,
                    master_pid_file=pid_path).query_cluster_info()
