"""The build lists in Makefile.am match the launchers in the tree."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _make_list(name: str) -> list[str]:
    with open(os.path.join(ROOT, "Makefile.am"), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    match = re.search(rf"^{name} =(.*)$", text, re.M)
    assert match, f"Makefile.am does not define {name}"
    return match.group(1).split()


def _launchers_in(directory: str, prefix: str) -> list[str]:
    path = os.path.join(ROOT, directory)
    if not os.path.isdir(path):  # git keeps no empty directory
        return []
    return sorted(f"{directory}/{name}" for name in os.listdir(path)
                  if name.startswith(prefix) and not name.endswith(".gen")
                  and os.path.isfile(os.path.join(path, name)))


def test_every_gnt_script_is_installed() -> None:
    assert sorted(_make_list("GNT_COMMANDS")) == _launchers_in("scripts", "gnt-")


def test_every_daemon_is_installed() -> None:
    assert sorted(_make_list("DAEMON_COMMANDS")) == sorted(
        _launchers_in("daemons", "ganeti-")
        + _launchers_in("daemons", "daemon-util"))


def test_listed_launchers_are_executable_python() -> None:
    for rel in (_make_list("GNT_COMMANDS") + _make_list("DAEMON_COMMANDS")
                + _make_list("TOOL_COMMANDS")):
        path = os.path.join(ROOT, rel)
        assert os.access(path, os.X_OK), f"{rel} is not executable"
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            body = f.read()
        assert first.startswith("#!") and "python" in first, rel
        # gen-launcher puts code before the body: no __future__ imports.
        assert "from __future__" not in body, rel
