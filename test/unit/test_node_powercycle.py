"""``gnt-node powercycle``: the Linux way on files that stand for
``/proc/sysrq-trigger`` and ``reboot`` (never the real ones), Xen's
fallback, the node daemon's choice (a node under a root never reboots
the machine), the forked grandchild, and the logical unit.

Every test here replaces ``_fork_and_cycle`` unless it tests it with a
harmless action, so that nothing can reboot the machine running them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from instance_ops_env import Env, env_fixture  # noqa: F401

from ganeti import errors, opcodes, pathutils
from ganeti.backend import power as backend_power
from ganeti.hypervisor import power
from ganeti.standins import power as power_standin

NODE2 = "node2.example.com"


@pytest.fixture(autouse=True)
def no_real_powercycle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("a test reached the real power cycle")
    monkeypatch.setattr(backend_power, "_fork_and_cycle", refuse)


def test_linux_powercycle_writes_b_to_the_trigger(tmp_path: Path) -> None:
    trigger = tmp_path / "sysrq-trigger"
    trigger.write_bytes(b"")
    why = power.linux_powercycle(str(trigger), str(tmp_path / "reboot"))
    assert trigger.read_bytes() == b"b"
    assert "yet the node still runs" in why  # a file does not reboot


def test_linux_powercycle_falls_back_to_reboot(tmp_path: Path) -> None:
    why = power.linux_powercycle(str(tmp_path / "none" / "trigger"),
                                 str(tmp_path / "no-reboot"))
    assert why.startswith(f"cannot write {tmp_path}/none/trigger:")
    assert f"cannot run {tmp_path}/no-reboot:" in why


def test_xen_tries_xl_after_linux(monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    from ganeti.hypervisor.xen.pvm import XenPvmHypervisor
    from ganeti.hypervisor.xen.xl import Xl

    calls: list[tuple[str, ...]] = []

    class RecordingXl(Xl):
        def try_run(self, *args: str, timeout: float = 0.0) -> Any:
            calls.append(args)
            from ganeti.utils import process
            return process.RunResult(
                cmd=["xl", *args], exit_code=1, signal=None, stdout="",
                stderr="xl: unknown command", failed=True,
                fail_reason="exited with exit code 1")

    monkeypatch.setattr(power, "linux_powercycle", lambda: "sysrq failed")
    pathutils.set_root(str(tmp_path))
    try:
        driver = XenPvmHypervisor(xl=RecordingXl())
        why = driver.powercycle_node({})
    finally:
        pathutils.set_root(None)
    assert calls == [("debug-keys", "R")]
    assert why.startswith("sysrq failed; 'xl debug-keys R' failed:")


def test_a_node_under_a_root_never_reboots_the_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pathutils.set_root(str(tmp_path))
    monkeypatch.delenv(power_standin.ENABLE_ENV, raising=False)
    try:
        with pytest.raises(errors.OpExecError, match="never reboots the"
                           " machine, and the power stand-in is not enabled"):
            backend_power.node_powercycle("fake", {})
        with pytest.raises(errors.ParameterError):
            backend_power.node_powercycle("nosuch", {})
        started: list[list[str]] = []
        monkeypatch.setenv(power_standin.ENABLE_ENV, "1")
        monkeypatch.setattr(backend_power.subprocess, "Popen",
                            lambda argv, **_kw: started.append(argv))
        assert backend_power.node_powercycle("fake", {}) \
            == "Reboot scheduled in 5 seconds"
        assert started and started[0][-3:] == ["ganeti.standins.power",
                                               "fake", "5"]
    finally:
        pathutils.set_root(None)


def test_the_stand_in_refuses_outside_a_root(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(power_standin.ENABLE_ENV, "1")
    pathutils.set_root(None)
    monkeypatch.delenv(pathutils.ROOT_ENV, raising=False)
    assert power_standin.command("fake", 5) is None
    assert power_standin.main(["fake", "0"]) == 2


def test_the_grandchild_runs_the_cycle_after_the_delay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real fork, with a harmless cycle: a file written."""
    monkeypatch.undo()  # the real _fork_and_cycle
    mark = tmp_path / "cycled"
    started = time.monotonic()
    backend_power._fork_and_cycle(lambda: mark.write_text(str(os.getpid())),
                                  0.2)
    assert time.monotonic() - started < 0.2  # did not wait for it
    deadline = time.monotonic() + 10
    while not mark.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert int(mark.read_text()) != os.getpid()


def test_lu_refuses_the_master_without_force(env: Env) -> None:
    master = env.cfg.get_master_node()
    env.fails(opcodes.OpNodePowercycle(node_name=master),
              errors.OpPrereqError, "is the master node: power-cycling it"
              " needs force")


def test_lu_returns_the_node_answer(env: Env,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process node backends under the test's root: the stand-in is
    started (recorded here, not run)."""
    assert pathutils.get().root  # never the real path
    started: list[list[str]] = []
    monkeypatch.setenv(power_standin.ENABLE_ENV, "1")
    monkeypatch.setattr(backend_power.subprocess, "Popen",
                        lambda argv, **_kw: started.append(argv))
    node = next(n for n in env.cfg.node_names()
                if n != env.cfg.get_master_node())
    assert env.run(opcodes.OpNodePowercycle(node_name=node)) \
        == "Reboot scheduled in 5 seconds"
    assert len(started) == 1
    monkeypatch.delenv(power_standin.ENABLE_ENV)
    env.fails(opcodes.OpNodePowercycle(node_name=node), errors.RpcError,
              "never reboots the machine")


def test_the_stand_in_boots_even_when_it_cannot_stop_instances(
        tmp_path: Path) -> None:
    pathutils.set_root(str(tmp_path))
    try:
        log: list[str] = []
        daemons = power_standin.power_off(pathutils.get(), "nosuch", log)
        assert daemons == []
        assert any("cannot list the nosuch instances" in line for line in log)
    finally:
        pathutils.set_root(None)
