"""The gnt-instance operation helpers that need no master: selection of
instances, console commands, --net/--disk parsing."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from ganeti import errors
from ganeti.client import instance_ops as io_cli

INSTANCES = [["a", "n1", [], ["web"]], ["b", "n2", ["n1"], []],
             ["c", "n2", [], ["web", "db"]]]
NODES = [["n1", ["rack1"]], ["n2", []]]


class FakeLuxi:
    def call(self, method: str, names: list[str], fields: list[str],
             locking: bool) -> Any:
        rows = INSTANCES if method == "QueryInstances" else NODES
        rows = [r for r in rows if not names or r[0] in names]
        if fields == ["name"]:
            return [[r[0]] for r in rows]
        return rows


@pytest.mark.parametrize(("mode", "names", "expected"), [
    ("instance", ["b"], ["b"]),
    ("all", [], ["a", "b", "c"]),
    ("node", ["n1"], ["a", "b"]),
    ("primary", ["n1"], ["a"]),
    ("secondary", ["n1"], ["b"]),
    ("tags", ["web"], ["a", "c"]),
    ("node-tags", ["rack1"], ["a", "b"]),
    ("pri-node-tags", ["rack1"], ["a"]),
    ("sec-node-tags", ["rack1"], ["b"]),
])
def test_expand_names(mode: str, names: list[str], expected: list[str]) -> None:
    assert io_cli.expand_names(FakeLuxi(), mode, names) == expected


def test_expand_names_refusals() -> None:
    with pytest.raises(errors.OpPrereqError, match="No names allowed"):
        io_cli.expand_names(FakeLuxi(), "all", ["x"])
    with pytest.raises(errors.OpPrereqError, match="No instance names"):
        io_cli.expand_names(FakeLuxi(), "instance", [])


def test_selected_mode() -> None:
    opts = argparse.Namespace(select_all=True, select_node=False)
    assert io_cli.selected_mode(opts) == "all"
    assert io_cli.selected_mode(argparse.Namespace()) == "instance"
    with pytest.raises(errors.OpPrereqError, match="Only one of"):
        io_cli.selected_mode(argparse.Namespace(select_all=True,
                                                select_tags=True))


def test_console_argv() -> None:
    info = {"kind": "command", "instance": "i", "command": ["cat", "/x y"],
            "node": "node2.example.com", "node_ip": "192.0.2.2"}
    argv = io_cli.console_argv(info)
    assert argv[0] == "ssh" and "-t" in argv
    assert argv[-2:] == ["root@node2.example.com", "cat '/x y'"]
    assert io_cli.console_argv(dict(info, node_ip="127.3.4.2")) == \
        ["cat", "/x y"]
    with pytest.raises(errors.OpExecError, match="not running"):
        io_cli.console_argv({"kind": "message", "message": "i is not running"})
    with pytest.raises(errors.OpExecError, match="VNC viewer to h:5901"):
        io_cli.console_argv({"kind": "vnc", "host": "h", "port": 5901})


def test_console_vnc_note() -> None:
    info = {"kind": "command", "instance": "i", "command": ["socat"],
            "host": "192.0.2.2", "port": 5901}
    assert io_cli.console_vnc_note(info) == "VNC console of i: 192.0.2.2:5901"
    assert io_cli.console_vnc_note(dict(info, host="", port=None)) is None
    assert io_cli.console_vnc_note(dict(info, kind="ssh")) is None


def test_device_mods() -> None:
    mods = io_cli._device_mods("--disk", [("add", {"size": "1G"}),
                                          ("0", {"mode": "ro"})])
    io_cli._sizes(mods)
    assert mods == [["add", {"size": 1024}], [0, {"mode": "ro"}]]
    with pytest.raises(errors.OpPrereqError, match="add, remove or an index"):
        io_cli._device_mods("--net", [("frob", {})])
    with pytest.raises(errors.OpPrereqError, match="takes no parameters"):
        io_cli._device_mods("--net", [("remove", {"ip": "x"})])
    with pytest.raises(errors.OpPrereqError, match="Invalid disk size"):
        io_cli._sizes([["add", {"size": "lots"}]])
