"""The processor: LU phases, locks, cancellation, hooks, query LUs."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from config_builders import make_config, write_config

from ganeti import config, constants, errors, hooks, locking, mcpu, opcodes, pathutils
from ganeti.cmdlib.base import LockRequest, LUContext, NoHooksLU
from ganeti.locking.retry import LockAttemptTimeoutStrategy
from ganeti.records import field
from ganeti.rpc.client import LocalTransport, RpcClient


class OpTestProbe(opcodes.OpCode, register=False):
    """Test-only opcode: locks what it is told and records what it held."""

    nodes: list[str] = field(default=[])
    instances: list[str] = field(default=[])
    bgl_shared: bool = field(default=True)
    fail_prereq: bool = field(default=False)


class LUTestProbe(NoHooksLU):
    OP = OpTestProbe
    op: OpTestProbe
    held: ClassVar[list[dict[str, Any]]] = []
    gate: ClassVar[threading.Event | None] = None
    entered: ClassVar[threading.Event | None] = None

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=self.op.bgl_shared,
                           node=list(self.op.nodes) or None,
                           instance=list(self.op.instances) or None)

    def check_prereq(self) -> None:
        if self.op.fail_prereq:
            raise errors.OpPrereqError("prereq says no")
        self.dry_run_result = "dry"

    def execute(self, feedback: Any) -> Any:
        feedback("probing")
        if self.entered is not None:
            self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        self.held.append(dict(self.owned))
        return "done"


class HooksProbe(opcodes.OpCode, register=False):
    pass


class LUHooksProbe(NoHooksLU):
    OP = HooksProbe
    HPATH = "probe"
    HTYPE = constants.HTYPE_CLUSTER

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        master = self.cfg.get_cluster().master_node
        return {"WHAT": "probe"}, [master], [master]

    def execute(self, feedback: Any) -> Any:
        return "executed"


class Ctx:
    def __init__(self, job_id: int = 1) -> None:
        self.job_id = job_id
        self.priority = 0
        self.events: list[str] = []
        self.messages: list[str] = []
        self.canceled = False
        #: With ``canceled``: raise from this many check_cancel calls on.
        self.cancel_from = 1
        self.checks = 0

    def feedback(self, kind: str, message: Any) -> None:
        self.messages.append(str(message))

    def set_lock_status(self, text: str | None) -> None:
        self.events.append(f"lock:{text}")

    def notify_waiting(self) -> None:
        self.events.append("waiting")

    def notify_running(self) -> None:
        self.events.append("running")

    def check_cancel(self) -> None:
        self.checks += 1
        if self.canceled and self.checks >= self.cancel_from:
            raise errors.CancelledError("Job canceled by request")


def fast_strategy() -> LockAttemptTimeoutStrategy:
    return LockAttemptTimeoutStrategy(attempts=3, base=0.01, maximum=0.05,
                                      max_pause=0.0)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[mcpu.Processor, config.ConfigWriter]]:
    pathutils.set_root(str(tmp_path))
    data = make_config(nodes=3, instances=2)
    path = write_config(tmp_path / "config.data", data)
    cfg = config.ConfigWriter(path, lock_file=str(tmp_path / "cfg.lock"))
    glm = locking.GanetiLockManager(nodes=cfg.node_names(),
                                    instances=cfg.instance_names())
    rpc = RpcClient(cfg.get_node, LocalTransport())
    master = cfg.get_cluster().master_node
    proc = mcpu.Processor(LUContext(cfg=cfg, rpc=rpc, master=master), glm,
                          hooks.RpcHooksRunner(rpc), strategy=fast_strategy,
                          sleep=lambda s: None)
    LUTestProbe.held.clear()
    LUTestProbe.gate = LUTestProbe.entered = None
    yield proc, cfg
    rpc.close()
    cfg.close()
    pathutils.set_root(None)


def test_phases_and_locks(env: Any) -> None:
    proc, cfg = env
    node = cfg.node_names()[1]
    inst = cfg.instance_names()[0]
    ctx = Ctx()
    assert proc.execute(OpTestProbe(nodes=[node], instances=[inst]), ctx) == "done"
    assert LUTestProbe.held == [{"cluster": ["BGL"], "instance": [inst],
                                 "node": [node]}]
    assert ctx.events[0] == "waiting"
    assert ctx.events[-2:] == ["lock:None", "running"]
    assert ctx.messages == ["probing"]
    for level in locking.LEVELS:
        assert not proc.glm.is_owned(level)


def test_prereq_failure_releases_locks(env: Any) -> None:
    proc, cfg = env
    with pytest.raises(errors.OpPrereqError, match="prereq says no"):
        proc.execute(OpTestProbe(nodes=cfg.node_names(), fail_prereq=True), Ctx())
    assert all(lock["owners"] == [] for lock in proc.glm.info())


def test_dry_run_stops_after_prereq(env: Any) -> None:
    proc, _ = env
    assert proc.execute(OpTestProbe(dry_run=True), Ctx()) == "dry"
    assert LUTestProbe.held == []


class OpWithoutLu(opcodes.OpCode, register=False):
    pass


def test_opcode_without_lu_is_prereq_error(env: Any) -> None:
    proc, _ = env
    with pytest.raises(errors.OpPrereqError, match="not supported"):
        proc.execute(OpWithoutLu(), Ctx())


def test_waiting_job_can_be_canceled(env: Any) -> None:
    proc, cfg = env
    node = cfg.node_names()[0]
    LUTestProbe.gate = threading.Event()
    LUTestProbe.entered = threading.Event()
    holder = threading.Thread(
        target=proc.execute, args=(OpTestProbe(nodes=[node]), Ctx(1)))
    holder.start()
    try:
        assert LUTestProbe.entered.wait(30)
        waiter_ctx = Ctx(2)
        waiter_ctx.canceled = True
        waiter_ctx.cancel_from = 2  # after the BGL, at the first node retry
        LUTestProbe.entered = None
        with pytest.raises(errors.CancelledError):
            proc.execute(OpTestProbe(nodes=[node]), waiter_ctx)
        assert any("waiting for node locks" in e for e in waiter_ctx.events)
        assert "running" not in waiter_ctx.events
    finally:
        LUTestProbe.gate.set()
        holder.join(30)
    assert len(LUTestProbe.held) == 1


def test_lock_owner_names_are_job_ids(env: Any) -> None:
    proc, cfg = env
    node = cfg.node_names()[0]
    LUTestProbe.gate = threading.Event()
    LUTestProbe.entered = threading.Event()
    holder = threading.Thread(
        target=proc.execute, args=(OpTestProbe(nodes=[node]), Ctx(42)))
    holder.start()
    try:
        assert LUTestProbe.entered.wait(30)
        owners = {lock["name"]: lock["owners"] for lock in proc.glm.info()}
        assert owners[f"node/{node}"] == ["job/42"]
        assert "holding" in (proc.glm.owner_status("job/42") or "")
    finally:
        LUTestProbe.gate.set()
        holder.join(30)


def test_test_delay_on_nodes_runs_through_rpc(env: Any) -> None:
    proc, cfg = env
    ctx = Ctx()
    op = opcodes.OpTestDelay(duration=0, on_nodes=[cfg.node_names()[1]],
                             no_locks=False, repeat=2)
    assert proc.execute(op, ctx) is None
    assert ctx.messages == ["Test delay iteration 0/2", "Test delay iteration 1/2"]


def test_test_delay_unknown_node(env: Any) -> None:
    proc, _ = env
    with pytest.raises(errors.OpPrereqError, match="not known"):
        proc.execute(opcodes.OpTestDelay(duration=0, on_nodes=["nosuch"]), Ctx())


def write_hook(tmp_path: Path, phase: str, body: str) -> None:
    directory = Path(pathutils.get().hooks_dir) / f"probe-{phase}.d"
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "check"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_pre_hook_failure_aborts(env: Any, tmp_path: Path) -> None:
    proc, _ = env
    write_hook(tmp_path, "pre", 'echo "refused $GANETI_WHAT"; exit 1')
    with pytest.raises(errors.HooksAbort, match="refused probe"):
        proc.execute(HooksProbe(), Ctx())


def test_hooks_run_and_post_failure_is_reported(env: Any, tmp_path: Path) -> None:
    proc, _ = env
    marker = tmp_path / "ran"
    write_hook(tmp_path, "pre", f'echo "$GANETI_OP_CODE" > {marker}')
    write_hook(tmp_path, "post", "exit 1")
    ctx = Ctx()
    assert proc.execute(HooksProbe(), ctx) == "executed"
    assert marker.read_text().strip() == "OP_HOOKS_PROBE"
    assert any("Post hook check failed" in m for m in ctx.messages)
    assert os.path.exists(marker)


def test_tags_round_trip(env: Any) -> None:
    proc, cfg = env
    node = cfg.node_names()[0]
    proc.execute(opcodes.OpTagsSet(kind="node", name=node, tags=["a", "b"]), Ctx())
    proc.execute(opcodes.OpTagsSet(kind="cluster", tags=["c"]), Ctx())
    assert proc.execute(opcodes.OpTagsGet(kind="node", name=node), Ctx()) == ["a", "b"]
    found = proc.execute(opcodes.OpTagsSearch(pattern="^[ac]$"), Ctx())
    assert ["/cluster", "c"] in found and [f"/nodes/{node}", "a"] in found
    with pytest.raises(errors.OpPrereqError, match="not found"):
        proc.execute(opcodes.OpTagsDel(kind="node", name=node, tags=["zz"]), Ctx())
    proc.execute(opcodes.OpTagsDel(kind="node", name=node, tags=["a"]), Ctx())
    assert cfg.get_node(node).tags == ["b"]


def test_tag_search_skips_an_instance_removed_meanwhile(
        env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Instance removal holds the BGL shared, as the search does: an
    instance listed can be gone at its lookup."""
    proc, cfg = env
    gone, kept = cfg.instance_names()
    proc.execute(opcodes.OpTagsSet(kind="instance", name=kept, tags=["t"]),
                 Ctx())
    listed = cfg.instance_names()
    cfg.remove_instance(gone)
    monkeypatch.setattr(cfg, "instance_names", lambda: listed)
    found = proc.execute(opcodes.OpTagsSearch(pattern="^t$"), Ctx())
    assert found == [[f"/instances/{kept}", "t"]]


def test_cluster_queries(env: Any) -> None:
    proc, cfg = env
    info = proc.execute_direct(opcodes.OpClusterQuery())
    assert info["name"] == cfg.get_cluster().cluster_name
    assert info["master"] == cfg.get_cluster().master_node
    assert "fake" in info["hvparams"] or info["hvparams"] == {}
    values = proc.execute_direct(opcodes.OpClusterConfigQuery(
        output_fields=["cluster_name", "drain_flag"]))
    assert values == [cfg.get_cluster().cluster_name, False]
    with pytest.raises(errors.UnknownFieldError):
        proc.execute_direct(opcodes.OpClusterConfigQuery(output_fields=["nope"]))


def drop_lock(glm: locking.GanetiLockManager, level: int, name: str) -> None:
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=False)
    try:
        glm.remove(level, [name])
    finally:
        glm.release(locking.LEVEL_CLUSTER)


def test_lock_of_an_instance_removed_meanwhile(env: Any) -> None:
    """An instance removed between name expansion and locking is a
    prerequisite failure naming it, not an internal lock error."""
    proc, cfg = env
    inst = cfg.instance_names()[0]
    cfg.remove_instance(inst)
    drop_lock(proc.glm, locking.LEVEL_INSTANCE, inst)
    with pytest.raises(errors.OpPrereqError,
                       match=f"Instance\\(s\\) {inst} removed meanwhile"):
        proc.execute(OpTestProbe(instances=[inst]), Ctx())
    assert all(lock["owners"] == [] for lock in proc.glm.info())


def test_lock_missing_for_a_configured_node_says_so(env: Any) -> None:
    """Config and lock manager disagreeing is reported as what it is."""
    proc, cfg = env
    node = cfg.node_names()[1]
    drop_lock(proc.glm, locking.LEVEL_NODE, node)
    with pytest.raises(errors.LockError,
                       match=f"no lock for node\\(s\\) {node} of the conf"):
        proc.execute(OpTestProbe(nodes=[node]), Ctx())


def test_observers_hear_lock_waits_and_results(env: Any) -> None:
    proc, cfg = env
    waits: list[tuple[str, float]] = []
    results: list[tuple[str, bool, Any]] = []
    proc.lock_observer = lambda level, seconds: waits.append((level, seconds))
    proc.result_observer = lambda op_id, ok, res: results.append(
        (op_id, ok, res))
    node = cfg.node_names()[1]
    proc.execute(OpTestProbe(nodes=[node]), Ctx())
    with pytest.raises(errors.OpPrereqError):
        proc.execute(OpTestProbe(fail_prereq=True), Ctx())
    assert [level for level, _ in waits] == ["cluster", "node", "cluster"]
    assert all(seconds >= 0 for _, seconds in waits)
    assert results == [(OpTestProbe.OP_ID, True, "done"),
                       (OpTestProbe.OP_ID, False, None)]
