"""Hooks: script selection, order, environment, pre-abort, post reports."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ganeti import errors, hooks


def script(directory: Path, name: str, body: str, *, executable: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def env(phase: str = "pre") -> dict[str, str]:
    return hooks.build_env(opcode="OP_TEST_DELAY", object_type="CLUSTER",
                           hpath="test-delay", phase=phase,
                           cluster="c.example.com", master="n1.example.com",
                           lu_env={"INSTANCE_NAME": "i1", "NICS": ["a", "b"],
                                   "FLAG": True, "NONE": None})


def test_build_env() -> None:
    e = env()
    assert e["GANETI_HOOKS_VERSION"] == "2"
    assert e["GANETI_OP_CODE"] == "OP_TEST_DELAY"
    assert e["GANETI_HOOKS_PHASE"] == "pre"
    assert e["GANETI_HOOKS_PATH"] == "test-delay"
    assert e["GANETI_OBJECT_TYPE"] == "CLUSTER"
    assert e["GANETI_CLUSTER"] == "c.example.com"
    assert e["GANETI_MASTER"] == "n1.example.com"
    assert e["GANETI_INSTANCE_NAME"] == "i1"
    assert e["GANETI_NICS"] == "a b"
    assert e["GANETI_FLAG"] == "True"
    assert e["GANETI_NONE"] == ""
    assert "GANETI_DATA_DIR" in e and e["PATH"]


def test_run_local_hooks_order_skip_and_env(tmp_path: Path) -> None:
    d = tmp_path / "test-delay-pre.d"
    out = tmp_path / "seen"
    script(d, "20-second", f'echo second >> {out}; echo "$GANETI_INSTANCE_NAME"')
    script(d, "10-first", f"echo first >> {out}")
    script(d, "with.ext", "exit 1")
    script(d, "notexec", "exit 1", executable=False)
    results = hooks.run_local_hooks("test-delay", "pre", env(),
                                    hooks_dir=str(tmp_path))
    by_name = {r.script: r for r in results}
    assert [r.script for r in results] == ["10-first", "20-second", "notexec",
                                           "with.ext"]
    assert by_name["20-second"].status == hooks.HKR_SUCCESS
    assert by_name["20-second"].output == "i1"
    assert by_name["with.ext"].status == hooks.HKR_SKIP
    assert by_name["notexec"].status == hooks.HKR_SKIP
    assert out.read_text() == "first\nsecond\n"


def test_missing_directory_is_no_scripts(tmp_path: Path) -> None:
    assert hooks.run_local_hooks("node-add", "post", {},
                                 hooks_dir=str(tmp_path)) == []


def test_bad_phase_or_path_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(errors.ProgrammerError):
        hooks.run_local_hooks("x", "middle", {}, hooks_dir=str(tmp_path))
    with pytest.raises(errors.ProgrammerError):
        hooks.run_local_hooks("../etc", "pre", {}, hooks_dir=str(tmp_path))


def make_master(tmp_path: Path, messages: list[str],
                lu_env: dict[str, object]) -> hooks.HooksMaster:
    runner = hooks.LocalHooksRunner("n1", hooks_dir=str(tmp_path))
    return hooks.HooksMaster(
        runner, opcode="OP_TEST_DELAY", hpath="test-delay",
        object_type="CLUSTER", cluster="c", master="n1",
        env_fn=lambda: (dict(lu_env), ["n1", "n2"], ["n1"]),
        feedback=messages.append)


def test_pre_failure_aborts_with_node_script_and_output(tmp_path: Path) -> None:
    script(tmp_path / "test-delay-pre.d", "deny", "echo 'not today'\necho more\nexit 3")
    messages: list[str] = []
    master = make_master(tmp_path, messages, {"X": 1})
    with pytest.raises(errors.HooksAbort) as info:
        master.run_phase("pre")
    text = str(info.value)
    assert "n1: script deny failed: not today more" in text
    assert "\n" not in text
    # The unreachable node is reported, not a deny.
    assert any("n2" in m and "Communication failure" in m for m in messages)


def test_post_failure_is_reported_not_fatal(tmp_path: Path) -> None:
    script(tmp_path / "test-delay-post.d", "log",
           'echo "$GANETI_POST_X $GANETI_X"; exit 1')
    messages: list[str] = []
    lu_env: dict[str, object] = {"X": 1}
    master = make_master(tmp_path, messages, lu_env)
    master.run_phase("pre")
    lu_env["X"] = 2
    results = master.run_phase("post")
    assert results[0].scripts[0].status == hooks.HKR_FAIL
    assert any("Post hook log failed on node n1" in m for m in messages)
    assert results[0].scripts[0].output.startswith("2 1")


def test_script_timeout_is_a_failure(tmp_path: Path) -> None:
    script(tmp_path / "test-delay-pre.d", "slow", "sleep 30")
    results = hooks.run_local_hooks("test-delay", "pre", {},
                                    hooks_dir=str(tmp_path), timeout=0.2)
    assert results[0].status == hooks.HKR_FAIL
    assert "timed out" in results[0].output
    assert os.path.exists(tmp_path)
