"""The watcher's master duties against a recording LUXI client, its state
file and its pause file (no daemons)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from ganeti import errors, opcodes
from ganeti.watcher import parse_options
from ganeti.watcher.master import MasterWatcher, busy_instances
from ganeti.watcher.state import MAX_RESTARTS, WatcherState, paused_until


class FakeMaster:
    """Answers the watcher's queries from lists; records archiving."""

    def __init__(self, instances: list[list[Any]],
                 nodes: list[list[Any]] | None = None,
                 jobs: list[list[Any]] | None = None) -> None:
        self.instances = instances
        self.node_rows = nodes or [["n1", "boot-1", False]]
        self.jobs = jobs or []
        self.archived: list[float] = []

    def call(self, method: str, *args: Any) -> Any:
        return {"QueryInstances": self.instances,
                "QueryNodes": self.node_rows}[method]

    def query_jobs(self, job_ids: Any, fields: list[str]) -> Any:
        assert fields == ["status", "ops"]
        return self.jobs

    def autoarchive_jobs(self, age: float, timeout: float) -> Any:
        self.archived.append(age)
        return [3, 0]

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        raise AssertionError("the runner is injected")

    def wait_for_job_change(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the runner is injected")


def inst(name: str, admin: bool = True, oper: bool = False,
         status: str = "ERROR_down", snodes: list[str] | None = None,
         template: str = "file") -> list[Any]:
    return [name, admin, oper, "n1", snodes or [], template, status]


class Runner:
    """Records the submitted opcodes; a job succeeds (with the result
    ``results`` holds for its opcode's class, else None) unless ``ok`` is
    False."""

    def __init__(self, ok: bool = True,
                 results: dict[type, Any] | None = None) -> None:
        self.ok = ok
        self.results = results or {}
        self.ops: list[opcodes.OpCode] = []

    def __call__(self, cl: Any, ops: list[opcodes.OpCode], what: str
                 ) -> list[Any] | None:
        self.ops += ops
        if not self.ok:
            return None
        return [self.results.get(type(op)) for op in ops]


def run(master: FakeMaster, state: WatcherState, runner: Runner,
        **kwargs: Any) -> Any:
    return MasterWatcher(master, state, runner=runner, **kwargs).execute()


def test_restarts_only_instances_that_should_run() -> None:
    master = FakeMaster([inst("down"), inst("up", oper=True, status="running"),
                         inst("stopped", admin=False, status="ADMIN_down"),
                         inst("nodedown", status="ERROR_nodedown")])
    runner = Runner()
    report = run(master, WatcherState(), runner)
    assert [op.instance_name for op in runner.ops] == ["down"]  # type: ignore[attr-defined]
    assert isinstance(runner.ops[0], opcodes.OpInstanceStartup)
    assert report.restarted == ["down"]
    assert master.archived == [6 * 3600]
    assert report.archived == 3


def test_instance_named_by_a_pending_job_is_left_alone() -> None:
    jobs = [["running", [{"OP_ID": "OP_INSTANCE_SHUTDOWN",
                          "instance_name": "busy"}]],
            ["success", [{"OP_ID": "OP_INSTANCE_STARTUP",
                          "instance_name": "done"}]]]
    master = FakeMaster([inst("busy"), inst("done")], jobs=jobs)
    assert busy_instances(master) == {"busy"}
    runner = Runner()
    report = run(master, WatcherState(), runner)
    assert report.busy == ["busy"]
    assert report.restarted == ["done"]


def test_gives_up_after_the_limit_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    state = WatcherState()
    runner = Runner(ok=False)
    master = FakeMaster([inst("bad")])
    for _ in range(MAX_RESTARTS):
        report = run(master, state, runner)
        assert report.failed == ["bad"]
    assert len(runner.ops) == MAX_RESTARTS
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            report = run(master, state, runner)
            assert report.given_up == ["bad"]
    assert len(runner.ops) == MAX_RESTARTS
    giving_up = [r for r in caplog.records if "giving up" in r.getMessage()]
    assert len(giving_up) == 1
    assert "Could not restart instance bad after 5 attempts" in \
        giving_up[0].getMessage()
    # Once it runs again (an administrator fixed it) the count is reset.
    master.instances = [inst("bad", oper=True, status="running")]
    run(master, state, runner)
    assert state.restart_count("bad") == 0


def test_count_survives_a_save_and_load(tmp_path: Path) -> None:
    state = WatcherState()
    state.record_restart("x", now=1.0)
    state.record_restart("x", now=2.0)
    state.set_node_boot_id("n1", "abc")
    path = str(tmp_path / "watcher.data")
    state.save(path)
    again = WatcherState.load(path)
    assert again.restart_count("x") == 2
    assert again.node_boot_id("n1") == "abc"


def test_unreadable_state_is_an_empty_state(tmp_path: Path) -> None:
    path = tmp_path / "watcher.data"
    path.write_text("{not json")
    assert WatcherState.load(str(path)).restart_count("x") == 0


def test_rebooted_secondary_gets_the_disks_reactivated() -> None:
    state = WatcherState()
    state.set_node_boot_id("n2", "old")
    master = FakeMaster(
        [inst("mirrored", oper=True, status="running", snodes=["n2"],
              template="drbd"),
         inst("other", oper=True, status="running")],
        nodes=[["n1", "b1", False], ["n2", "new", False]])
    runner = Runner()
    report = run(master, state, runner)
    assert report.disks_activated == ["mirrored"]
    kinds = [type(op).__name__ for op in runner.ops]
    assert kinds == ["OpInstanceActivateDisks", "OpClusterVerifyDisks"]
    assert state.node_boot_id("n2") == "new"
    # Same boot id next time: nothing more.
    runner.ops.clear()
    run(master, state, runner)
    assert [type(op).__name__ for op in runner.ops] == ["OpClusterVerifyDisks"]


def test_verify_disks_result_activates_the_disks_of_instances_to_run(
        caplog: pytest.LogCaptureFixture) -> None:
    mirrored = {"snodes": ["n2"], "template": "drbd"}
    master = FakeMaster(
        [inst("up", oper=True, status="running", **mirrored),
         inst("admin-down", admin=False, status="ADMIN_down", **mirrored),
         inst("busy", oper=True, status="running", **mirrored),
         inst("restarted", **mirrored),
         inst("healthy", oper=True, status="running", **mirrored)],
        nodes=[["n1", "b1", False], ["n2", "b2", False]],
        jobs=[["running", [{"OP_ID": "OP_INSTANCE_MIGRATE",
                            "instance_name": "busy"}]]])
    verify_result = [{}, ["up", "admin-down", "busy", "restarted", "gone"],
                     {}]
    runner = Runner(results={opcodes.OpClusterVerifyDisks: verify_result})
    with caplog.at_level(logging.INFO):
        report = run(master, WatcherState(), runner)
    assert [(type(op).__name__, getattr(op, "instance_name", None))
            for op in runner.ops] == [
        ("OpInstanceStartup", "restarted"),
        ("OpClusterVerifyDisks", None),
        ("OpInstanceActivateDisks", "up")]
    assert report.disks_activated == ["up"]
    assert "Activated the disks of instance up" in caplog.text
    assert "Not activating the disks of instance admin-down" in caplog.text
    assert "Not activating the disks of instance busy" in caplog.text


def test_failed_verify_disks_activates_nothing() -> None:
    master = FakeMaster([inst("up", oper=True, status="running",
                              snodes=["n2"], template="drbd")])
    runner = Runner(ok=False)
    report = run(master, WatcherState(), runner)
    assert [type(op).__name__ for op in runner.ops] == [
        "OpClusterVerifyDisks"]
    assert report.disks_activated == []


def test_no_mirrored_disks_no_verify_disks() -> None:
    runner = Runner()
    run(FakeMaster([inst("up", oper=True, status="running")]), WatcherState(),
        runner)
    assert runner.ops == []


def test_pause_file(tmp_path: Path) -> None:
    path = tmp_path / "watcher.pause"
    assert paused_until(now=100.0, path=str(path)) is None
    path.write_text("200\n")
    assert paused_until(now=100.0, path=str(path)) == 200.0
    assert paused_until(now=300.0, path=str(path)) is None
    path.write_text("garbage")
    assert paused_until(now=100.0, path=str(path)) is None


def test_job_age_option() -> None:
    assert parse_options(["--job-age", "30m"]).job_age == 1800
    assert parse_options([]).job_age == 6 * 3600
    with pytest.raises(SystemExit):
        parse_options(["--job-age", "soon"])


def test_master_unreachable_is_a_clear_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from ganeti import pathutils
    from ganeti.watcher import _run_master

    monkeypatch.setattr(pathutils, "_current", pathutils.Paths(str(tmp_path)))

    def connect() -> Any:
        raise errors.LuxiError("Cannot communicate with the master daemon")

    code = _run_master(parse_options([]), connect)
    assert code == errors.EXIT_FAILURE
    assert "cannot reach the master daemon" in capsys.readouterr().err


def test_not_a_cluster_node_exits_5(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from ganeti import pathutils
    from ganeti.watcher import run as run_watcher

    monkeypatch.setattr(pathutils, "_current", pathutils.Paths(str(tmp_path)))
    assert run_watcher(parse_options([])) == errors.EXIT_NOTCLUSTER
    assert "this node is not part of a cluster" in capsys.readouterr().err
