"""OS diagnosis (gnt-os list/diagnose/info) through the processor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import NODE1, NODE2, Env, install_os, lu_env

from ganeti import errors, opcodes
from ganeti.cmdlib.os import merge_diagnoses


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def _diag(name: str, path: str, valid: bool, variants: list[str]
          ) -> dict[str, Any]:
    return {"name": name, "path": path, "valid": valid,
            "error": "" if valid else "broken", "shadowed": False,
            "api_versions": [20, 15], "variants": variants,
            "parameters": [["p", "doc"]]}


def test_merge_uses_first_copy_and_common_variants() -> None:
    merged = merge_diagnoses({
        "n1": [_diag("deb", "/a/deb", True, ["x", "y"]),
               _diag("deb", "/b/deb", False, [])],
        "n2": [_diag("deb", "/a/deb", True, ["y", "z"])],
        "n3": []})
    deb = merged["deb"]
    assert deb.variants() == ["y"]
    assert deb.api_versions() == [20, 15]
    assert not deb.valid(["n1", "n2", "n3"])
    assert deb.valid(["n1", "n2"])
    assert len(deb.node_status["n1"]) == 2 and deb.node_status["n3"] == []


def test_os_diagnose(env: Env) -> None:
    install_os(env, variants="a\nb\n", parameters="color c\n")
    install_os(env, name="broken", omit=["create"])
    rows = env.run(opcodes.OpOsDiagnose(
        output_fields=["name", "valid", "variants", "parameters",
                       "api_versions", "hidden"]))
    assert rows == [
        ["broken", False, [], [], [], False],
        ["testos", True, ["a", "b"], [["color", "c"]], [20, 15, 10], False]]
    status = env.run(opcodes.OpOsDiagnose(output_fields=["node_status"],
                                          names=["broken"]))[0][0]
    assert sorted(status) == [NODE1, NODE2]
    assert "create script missing" in status[NODE1][0][2]
    missing = env.run(opcodes.OpOsDiagnose(output_fields=["name", "valid"],
                                           names=["nosuch"]))
    assert missing == [["nosuch", False]]
    with pytest.raises(errors.UnknownFieldError):
        env.run(opcodes.OpOsDiagnose(output_fields=["bogus"]))
