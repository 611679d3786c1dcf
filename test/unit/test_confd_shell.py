"""``gnt-debug confd`` through GenericMain, against confd servers on
loopback (the key and ssconf files under a temporary root)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confd_fuzz import KEY
from confd_support import config_with_ips, running_server

from ganeti import cli, pathutils
from ganeti.client import gnt_debug
from ganeti.confd.client import ConfdClient
from ganeti.confd.index import ConfigIndex
from ganeti.confd.protocol import ReqType
from ganeti.confd.server import UdpServer

INDEX = ConfigIndex(config_with_ips())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[UdpServer]:
    paths = pathutils.set_root(str(tmp_path))
    try:
        Path(paths.data_dir).mkdir(parents=True)
        Path(paths.confd_hmac_key).write_bytes(KEY)
        Path(paths.ssconf_file("node_primary_ips")).write_text(
            "node1.example.com 127.0.0.1\n")
        Path(paths.ssconf_file("master_candidates_ips")).write_text(
            "127.0.0.1\n")
        with running_server(INDEX) as srv:
            yield srv
    finally:
        pathutils.set_root(None)


def run(server: UdpServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(
        gnt_debug.commands(),
        ["gnt-debug", "confd", "--port", str(server.address[1]),
         "--timeout", "5", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("argv", "output"), [
    (["ping"], "ok\n"),
    (["node-role", "node2.example.com"], "candidate\n"),
    (["cluster-master", "--fields", "mnode_pip,name"],
     "192.0.2.1\nnode1.example.com\n"),
    (["mc-pip-list"], "192.0.2.1\n192.0.2.2\n192.0.2.3\n"),
    (["node-pip-by-instance-ip", "10.1.0.2"], "192.0.2.2\n"),
    (["node-pip-by-instance-ip", "10.1.0.2", "10.9.9.9"],
     "10.1.0.2 192.0.2.2\n10.9.9.9 -\n"),
    (["node-instances", "node1.example.com"],
     "primary: inst1.example.com inst4.example.com\nsecondary: "
     "inst3.example.com inst6.example.com\n"),
    (["node-instances", "node2.example.com"],
     "primary: inst2.example.com inst5.example.com\nsecondary:\n"),
    (["--node", "node1.example.com", "ping"], "ok\n"),
    (["--node", "127.0.0.1", "ping"], "ok\n"),
])
def test_queries(server: UdpServer, argv: list[str], output: str) -> None:
    assert run(server, *argv) == (0, output, "")


def test_json_and_verbose(server: UdpServer) -> None:
    code, out, err = run(server, "--json", "-v", "node-role",
                         "node1.example.com")
    assert code == 0
    assert json.loads(out) == {"protocol": 1, "status": 0, "answer": 0,
                               "serial": 5}
    port = server.address[1]
    assert err == (f"Answer from 127.0.0.1:{port}, config serial 5 (1 of 1"
                   " asked answered)\n")


def test_instance_disks(server: UdpServer) -> None:
    code, out, _ = run(server, "instance-disks", "inst1.example.com")
    assert code == 0
    disks = [json.loads(line) for line in out.splitlines()]
    assert [d["iv_name"] for d in disks] == ["disk/0"]


def test_stats(server: UdpServer) -> None:
    code, out, _ = run(server, "stats")
    assert code == 0
    assert "received 1" in out.splitlines()


@pytest.mark.parametrize(("argv", "code", "error"), [
    (["node-role", "nope"], 1, "Error: node-role 'nope': unknown entry\n"),
    (["nosuch"], 2, "Error: Unknown confd query type 'nosuch' (known: "),
    (["ping", "x"], 2, "Error: This query type takes 0 argument(s), not 1"),
    (["node-role"], 2, "Error: This query type takes 1 argument(s), not 0"),
    (["ping", "--fields", "name"], 2,
     "Error: --fields applies to cluster-master only"),
    (["cluster-master", "--fields", "name,bogus"], 2,
     "Error: Unknown field(s) bogus; known: name, ip, mnode_pip"),
    (["ping", "--link", "br0"], 2, "Error: --link applies to"),
    (["ping", "--timeout", "0"], 2, "Error: The timeout must be positive"),
    (["ping", "--node", "nosuch.example.com"], 2,
     "Error: Unknown node nosuch.example.com"),
])
def test_errors(server: UdpServer, argv: list[str], code: int,
                error: str) -> None:
    got, out, err = run(server, *argv)
    assert (got, out) == (code, "")
    assert err.startswith(error), err
    assert len(err.splitlines()) == 1


def test_no_answer(server: UdpServer) -> None:
    got, _out, err = run(server, "--node", "127.0.0.2", "--timeout", "0.2",
                         "ping")
    assert got == 1
    port = server.address[1]
    assert err == (f"Error: No answer from confd within 0.2s (asked "
                   f"127.0.0.2:{port})\n")


def test_client_from_cluster(server: UdpServer) -> None:
    """The key in hmac.key and the candidates from ssconf."""
    with ConfdClient.from_cluster(port=server.address[1]) as client:
        assert client.peers == ["127.0.0.1"]
        assert client.query(ReqType.CLUSTER_MASTER).answer == \
            "node1.example.com"
