"""``gnt-node add`` and ``gnt-cluster init`` refuse what they cannot use
before touching any node, file or the master: a name that does not
resolve (the error names the flag that gives the address instead) and
malformed addresses."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ganeti import cli, pathutils
from ganeti.client import cluster_init, collect_commands


@pytest.fixture(autouse=True)
def empty_root(tmp_path: Path) -> Iterator[Path]:
    pathutils.set_root(str(tmp_path))  # no cluster files at all
    yield tmp_path
    pathutils.set_root(None)


def gnt(commands: Any, *argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(commands, ["gnt-x", *argv], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def gnt_node(*argv: str) -> tuple[int, str]:
    return gnt(collect_commands("node_"), *argv)


@pytest.mark.parametrize(("hostname", "argv", "message"), [
    ("", ("--primary-ip", "127.0.0.1", "cluster9.invalid"),
     "Cannot resolve the cluster name 'cluster9.invalid'; give its address"
     " with --master-ip"),
    ("node9.invalid", ("--master-ip", "127.0.0.254", "cluster.example"),
     "Cannot resolve this node's name 'node9.invalid'; give its address"
     " with --primary-ip"),
])
def test_init_with_an_unresolvable_name_names_the_flag(
        empty_root: Path, monkeypatch: pytest.MonkeyPatch, hostname: str,
        argv: tuple[str, ...], message: str) -> None:
    if hostname:
        monkeypatch.setenv(pathutils.HOSTNAME_ENV, hostname)
    code, out = gnt(cluster_init.COMMANDS, "init", "--no-lvm-storage", *argv)
    assert code == 1 and message in out, out
    assert not (empty_root / "var").exists()


def test_unresolvable_name_names_the_primary_ip_flag() -> None:
    code, out = gnt_node("add", "node9.invalid")
    assert code == 1
    assert ("Cannot resolve the node name 'node9.invalid'; give its address"
            " with --primary-ip") in out


@pytest.mark.parametrize(("argv", "message"), [
    (("--primary-ip", "notanip"),
     "Invalid IP address 'notanip' given with --primary-ip"),
    (("--primary-ip", "127.0.0.9", "-s", "300.1.1.1"),
     "Invalid IP address '300.1.1.1' given with -s/--secondary-ip"),
])
def test_malformed_addresses_refused_first(argv: tuple[str, ...],
                                           message: str) -> None:
    code, out = gnt_node("add", *argv, "node9.invalid")
    assert code == 1 and message in out, out
    assert "server.pem" not in out
