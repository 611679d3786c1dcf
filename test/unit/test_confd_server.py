"""The confd processor, UDP server, config reloader and client, on
loopback; bad packets (fuzzed with Hypothesis) are dropped and counted."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from confd_fuzz import KEY, OTHER_KEY, broken_requests, valid_requests
from confd_support import config_with_ips, running_server
from config_builders import write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit import WAIT, wait_for

from ganeti import errors
from ganeti.confd import protocol
from ganeti.confd.client import ConfdClient
from ganeti.confd.index import ConfigIndex
from ganeti.confd.protocol import ErrorCode, ReqType, Request, Status
from ganeti.confd.server import ConfdProcessor, ConfigReloader
from ganeti.utils import filewatch

INDEX = ConfigIndex(config_with_ips())


def _ask(processor: ConfdProcessor, rtype: int, query: Any = None,
         rsalt: str = "salt1") -> protocol.Reply | None:
    data = protocol.pack_request(KEY, Request(type=rtype, query=query,
                                              rsalt=rsalt))
    out = processor.process(data)
    if out is None:
        return None
    message, salt = protocol.unpack(KEY, out)
    assert salt == rsalt
    return protocol.parse_reply(message)


# --- the processor ----------------------------------------------------------------

def test_answers_with_the_serial() -> None:
    proc = ConfdProcessor(KEY, INDEX)
    reply = _ask(proc, ReqType.CLUSTER_MASTER)
    assert reply == protocol.Reply(status=Status.OK,
                                   answer="node1.example.com", serial=5)
    assert proc.counters["answered"] == 1


def test_drops_are_counted_per_reason() -> None:
    proc = ConfdProcessor(KEY, INDEX)
    good = protocol.pack_request(KEY, Request(type=ReqType.PING, rsalt="r"))
    assert proc.process(good[:-1]) is None
    assert proc.process(protocol.pack_request(
        OTHER_KEY, Request(type=ReqType.PING, rsalt="r"))) is None
    assert proc.process(protocol.pack_request(
        KEY, Request(type=ReqType.PING, rsalt="r"), now=1.0)) is None
    stats = proc.stats()
    assert stats["received"] == 3
    assert stats["dropped"] == 3
    assert stats["answered"] == 0
    assert stats["dropped_bad_json"] == 1
    assert stats["dropped_bad_signature"] == 1
    assert stats["dropped_outside_window"] == 1


def test_the_window_follows_the_injected_clock() -> None:
    proc = ConfdProcessor(KEY, INDEX, clock=lambda: 10_000.0)
    data = protocol.pack_request(KEY, Request(type=ReqType.PING, rsalt="r"),
                                 now=10_000.0 - 299)
    assert proc.process(data) is not None
    late = ConfdProcessor(KEY, INDEX, clock=lambda: 10_000.0 + 2)
    assert late.process(data) is None


def test_stats_query() -> None:
    proc = ConfdProcessor(KEY, INDEX)
    proc.process(b"junk")
    reply = _ask(proc, ReqType.STATS)
    assert reply is not None
    assert reply.answer["dropped_bad_magic"] == 1
    assert reply.answer["instances"] == 6
    assert reply.answer["serial"] == 5


def test_disabled_without_configuration() -> None:
    proc = ConfdProcessor(KEY, None)
    assert _ask(proc, ReqType.PING) is None
    assert proc.counters["dropped_disabled"] == 1


def test_reply_too_large_becomes_an_error() -> None:
    data = config_with_ips(instances=5000)
    proc = ConfdProcessor(KEY, ConfigIndex(data))
    reply = _ask(proc, ReqType.INSTANCES_IPS_LIST)
    assert reply is not None
    assert (reply.status, reply.answer) == (Status.ERROR, ErrorCode.INTERNAL)
    assert proc.counters["reply_too_large"] == 1


def test_a_handler_bug_is_counted_not_fatal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    index = ConfigIndex(config_with_ips())

    def broken(_query: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setitem(index.handlers, ReqType.PING, broken)  # type: ignore[arg-type]
    proc = ConfdProcessor(KEY, index)
    assert _ask(proc, ReqType.PING) is None
    assert proc.counters["internal_error"] == 1
    assert _ask(proc, ReqType.CLUSTER_MASTER) is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(broken_requests(), min_size=1, max_size=10))
def test_fuzz_processor_never_answers_broken_packets(
        packets: list[bytes]) -> None:
    proc = ConfdProcessor(KEY, INDEX)
    for data in packets:
        assert proc.process(data) is None
    assert proc.counters["dropped"] == len(packets)
    assert _ask(proc, ReqType.PING) is not None


@settings(max_examples=200, deadline=None)
@given(valid_requests())
def test_fuzz_valid_requests_are_answered(data: bytes) -> None:
    proc = ConfdProcessor(KEY, INDEX)
    assert proc.process(data) is not None
    assert proc.counters["answered"] == 1


# --- over UDP ---------------------------------------------------------------------

def test_client_takes_the_highest_serial() -> None:
    """Three candidates on 127.0.0.1-3 (one port): one is behind (serial
    3), one is current (9), one has another key (never answers us)."""
    old = ConfigIndex(config_with_ips(serial=3))
    new = ConfigIndex(config_with_ips(serial=9))
    with running_server(old) as s1:
        port = s1.address[1]
        with running_server(new, address=("127.0.0.2", port)), \
                running_server(new, OTHER_KEY, ("127.0.0.3", port)), \
                ConfdClient(KEY, ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
                            port=port, timeout=0.5) as client:
            answer = client.query(ReqType.NODE_ROLE_BYNAME,
                                  "node2.example.com")
    assert (answer.status, answer.answer, answer.serial) == (0, 1, 9)
    assert answer.peer == f"127.0.0.2:{port}"
    assert sorted(r.serial for r in answer.replies.values()) == [3, 9]
    assert answer.asked == 3


def test_client_ignores_replies_with_another_key() -> None:
    with running_server(INDEX, key=OTHER_KEY) as server, \
            ConfdClient(KEY, ["127.0.0.1"], port=server.address[1],
                        timeout=0.5) as client, \
            pytest.raises(errors.TimeoutError, match="No answer from confd"):
        client.query(ReqType.PING)
    # The other-key server dropped the request: its signature is ours.
    assert server.processor.counters["dropped_bad_signature"] == 1


def test_client_times_out_without_servers() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        with ConfdClient(KEY, ["127.0.0.1"], port=port,
                         timeout=0.2) as client, \
                pytest.raises(errors.TimeoutError, match=rf"127\.0\.0\.1:{port}"):
            client.query(ReqType.PING)


def test_client_needs_peers() -> None:
    with pytest.raises(errors.OpPrereqError, match="No confd servers"):
        ConfdClient(KEY, [])


def test_client_coverage_limits_the_targets() -> None:
    client = ConfdClient(KEY, [f"127.0.0.{i}" for i in range(1, 11)],
                         coverage=4)
    targets = client.targets()
    assert len(targets) == 4
    assert len(set(targets)) == 4


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(broken_requests(), min_size=50, max_size=50))
def test_fuzz_running_server(packets: list[bytes]) -> None:
    """3,000 broken datagrams (60 x 50) to a running server: none is
    answered, each is counted, and a valid query still gets its answer."""
    with running_server(INDEX) as server, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        counters = server.processor.counters
        for sent, data in enumerate(packets, start=1):
            sock.sendto(data[:protocol.MAX_UDP_DATA_SIZE], server.address)
            if sent % 8 == 0 or sent == len(packets):
                # Oversized ones fill a socket buffer fast: let the server
                # catch up, so that none is lost before it is counted.
                wait_for(lambda n=sent: counters["received"] == n,
                         "the server to read every datagram", WAIT)
        # "received" is counted before a datagram is handled, "dropped"
        # after: wait for the last one's verdict.
        wait_for(lambda: counters["dropped"] == len(packets),
                 "every datagram to be dropped", WAIT)
        with ConfdClient(KEY, ["127.0.0.1"], port=server.address[1]) as client:
            assert client.query(ReqType.PING).answer == "ok"
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(70000)


# --- reloading --------------------------------------------------------------------

@pytest.mark.parametrize("use_inotify", [False, True])
def test_reloads_when_the_file_changes(tmp_path: Path,
                                       use_inotify: bool) -> None:
    if use_inotify and filewatch.pyinotify is None:
        pytest.skip("pyinotify is not importable here")
    path = str(tmp_path / "config.data")
    write_config(path, config_with_ips(serial=5))
    proc = ConfdProcessor(KEY)
    reloader = ConfigReloader(path, proc, use_inotify=use_inotify,
                              interval=0.05, min_interval=0).start()
    try:
        assert proc.index is not None and proc.index.serial == 5
        reloader.changed.clear()
        data = config_with_ips(instances=7, serial=6)
        write_config(path, data)
        assert reloader.changed.wait(WAIT)
        assert proc.index is not None and proc.index.serial == 6
        assert _ask(proc, ReqType.NODE_INSTANCES, "node1.example.com") \
            is not None
        # A corrupt file keeps the last good index.
        reloader.changed.clear()
        (tmp_path / "config.data").write_text("{broken")
        assert reloader.load() is True  # still serving
        assert proc.index is not None and proc.index.serial == 6
        # A removed file disables answering.
        os.unlink(path)
        wait_for(lambda: proc.index is None, "confd to disable itself")
        assert _ask(proc, ReqType.PING) is None
    finally:
        reloader.stop()
    assert proc.counters["reloads"] == 2


def _reloader(tmp_path: Path, min_interval: float) -> ConfigReloader:
    path = write_config(tmp_path / "config.data", config_with_ips(serial=5))
    # Not started: the test calls on_change() as the watcher would.
    reloader = ConfigReloader(path, ConfdProcessor(KEY), use_inotify=False,
                              min_interval=min_interval)
    assert reloader.load()
    return reloader


def test_a_notification_for_the_loaded_file_reads_nothing(
        tmp_path: Path) -> None:
    reloader = _reloader(tmp_path, 0)
    reloader.on_change()
    assert reloader.reads == 1
    write_config(reloader.path, config_with_ips(serial=6))
    reloader.on_change()
    assert reloader.reads == 2
    index = reloader.processor.index
    assert index is not None and index.serial == 6


def test_stop_ends_a_rate_limited_wait(tmp_path: Path) -> None:
    reloader = _reloader(tmp_path, 3600)
    write_config(reloader.path, config_with_ips(serial=6))
    reloader.stop()
    reloader.on_change()  # within the hour since the load: waits, stopped
    assert reloader.reads == 1


def test_a_bug_before_the_handler_is_counted_not_fatal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("bug")

    proc = ConfdProcessor(KEY, INDEX)
    monkeypatch.setattr(protocol, "parse_request", broken)
    assert _ask(proc, ReqType.PING) is None
    assert proc.counters["internal_error"] == 1
    monkeypatch.undo()
    assert _ask(proc, ReqType.PING) is not None
