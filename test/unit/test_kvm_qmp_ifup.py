"""The QMP client against a scripted server, and the ifup script's plan."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ganeti.hypervisor.kvm import ifup, qmp

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2,
                                         "micro": 22}},
                    "capabilities": []}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a one-connection QMP server running ``script(conn_file)``."""
    threads: list[threading.Thread] = []
    socks: list[socket.socket] = []

    def start(script: Callable[[Any], None]) -> str:
        path = str(tmp_path / f"q{len(socks)}.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        socks.append(srv)

        def run() -> None:
            conn, _ = srv.accept()
            with conn, conn.makefile("rw") as f:
                script(f)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return path

    yield start
    for srv in socks:
        srv.close()
    for thread in threads:
        thread.join(5)


def _send(f: Any, obj: Any) -> None:
    f.write(json.dumps(obj) + "\n")
    f.flush()


def _standard(f: Any) -> dict[str, Any]:
    _send(f, GREETING)
    cmd = json.loads(f.readline())
    assert cmd["execute"] == "qmp_capabilities"
    _send(f, {"return": {}, "id": cmd["id"]})
    return dict(cmd)


def test_command_skips_events_and_foreign_answers(
        server: Callable[..., str]) -> None:
    def script(f: Any) -> None:
        _standard(f)
        cmd = json.loads(f.readline())
        assert cmd == {"execute": "query-status", "id": cmd["id"]}
        _send(f, {"event": "RESET", "data": {}})
        _send(f, {"return": "not ours", "id": "other"})
        _send(f, {"return": {"status": "running"}, "id": cmd["id"]})
        cmd = json.loads(f.readline())
        assert cmd["arguments"] == {"protocol": "vnc", "password": "x"}
        _send(f, {"error": {"class": "GenericError",
                            "desc": "Could not set password"},
                  "id": cmd["id"]})
        f.readline()  # wait for the close

    with qmp.QmpClient(server(script)) as client:
        assert client.version == (7, 2, 22)
        assert client.execute("query-status") == {"status": "running"}
        assert [e["event"] for e in client.events] == ["RESET"]
        with pytest.raises(qmp.QmpError,
                           match="qemu refused set_password: Could not set"
                                 " password") as info:
            client.execute("set_password", {"protocol": "vnc",
                                            "password": "x"})
        assert info.value.qmp_class == "GenericError"
        assert client.wait_event("RESET", 1) is not None


def test_wait_event_returns_none_when_qemu_exits(
        server: Callable[..., str]) -> None:
    def script(f: Any) -> None:
        _standard(f)

    with qmp.QmpClient(server(script)) as client:
        assert client.wait_event("SHUTDOWN", 5) is None


@pytest.mark.parametrize(("lines", "match"), [
    (["not json"], "Malformed QMP message"),
    (["[1, 2]"], "Malformed QMP message"),
    ([json.dumps({"hello": 1})], "Not a QMP greeting"),
])
def test_bad_greetings(server: Callable[..., str], lines: list[str],
                       match: str) -> None:
    def script(f: Any) -> None:
        for line in lines:
            f.write(line + "\n")
        f.flush()
        f.readline()

    with pytest.raises(qmp.QmpError, match=match):
        qmp.QmpClient(server(script), timeout=5).connect()


def test_silent_server_times_out(server: Callable[..., str]) -> None:
    def script(f: Any) -> None:
        f.readline()

    with pytest.raises(qmp.QmpError, match="No answer"):
        qmp.QmpClient(server(script), timeout=0.2).connect()


def test_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(qmp.QmpError, match="Cannot connect to the QMP socket"):
        qmp.QmpClient(str(tmp_path / "none")).connect()


# --- ifup ------------------------------------------------------------------

def test_bridged_plan() -> None:
    assert ifup.plan({"INTERFACE": "gnt3", "MODE": "bridged",
                      "LINK": "br0"}) == [
        ["ip", "link", "set", "dev", "gnt3", "up"],
        ["ip", "link", "set", "dev", "gnt3", "master", "br0"]]


def test_routed_plan_with_table() -> None:
    assert ifup.plan({"INTERFACE": "gnt3", "MODE": "routed",
                      "IP": "198.51.100.5", "LINK": "100"}) == [
        ["ip", "link", "set", "dev", "gnt3", "up"],
        ("/proc/sys/net/ipv4/conf/gnt3/proxy_arp", "1"),
        ("/proc/sys/net/ipv4/conf/gnt3/forwarding", "1"),
        ["ip", "-4", "route", "replace", "198.51.100.5/32", "dev", "gnt3",
         "table", "100"]]


def test_routed_ipv6_main_table() -> None:
    steps = ifup.plan({"INTERFACE": "gnt3", "MODE": "routed",
                       "IP": "2001:db8::5"})
    assert ("/proc/sys/net/ipv6/conf/gnt3/proxy_ndp", "1") in steps
    assert steps[-1] == ["ip", "-6", "route", "replace", "2001:db8::5/128",
                         "dev", "gnt3"]


@pytest.mark.parametrize(("env", "match"), [
    ({"MODE": "bridged", "LINK": "br0"}, "INTERFACE"),
    ({"INTERFACE": "gnt0; rm", "MODE": "bridged", "LINK": "br0"},
     "INTERFACE"),
    ({"INTERFACE": "gnt0", "MODE": "bridged"}, "not a bridge name"),
    ({"INTERFACE": "gnt0", "MODE": "routed"}, "needs an IP address"),
    ({"INTERFACE": "gnt0", "MODE": "routed", "IP": "1.2.3.4",
      "LINK": "t a"}, "not a routing table"),
    ({"INTERFACE": "gnt0", "MODE": "openvswitch"},
     "neither bridged nor routed"),
])
def test_bad_environment(env: dict[str, str], match: str) -> None:
    with pytest.raises(ifup.IfupError, match=match):
        ifup.plan(env)


def test_main_reports_one_line(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("os.environ", {"INTERFACE": "gnt0", "MODE": "x"})
    assert ifup.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("kvm-ifup: MODE") and err.count("\n") == 1
