"""Startup, shutdown, reboot, console and the disk operations through the
processor, on the in-process node backend with the fake hypervisor."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from instance_ops_env import DISKLESS_INST, FILE_INST, Env, env_fixture  # noqa: F401

from ganeti import errors, opcodes, pathutils
from ganeti.hypervisor.fake import FAULT_IGNORE_SOFT_STOP


def start(env: Env, name: str = FILE_INST, **kw: object) -> None:
    env.run(opcodes.OpInstanceStartup(instance_name=name, **kw))


def test_startup_marks_up_and_runs(env: Env) -> None:
    assert not env.inst().admin_up
    start(env, "inst1")  # short names are expanded
    assert env.inst().admin_up
    assert env.running() == [FILE_INST]
    state = env.hv.instance_state(FILE_INST)
    assert state is not None and state["memory"] == 256
    assert state["disks"][0]["path"] == env.disk_path()
    # Starting a running instance is fine and says so.
    start(env)
    assert any("already running" in m for m in env.ctx.messages)


def test_startup_one_shot_params_are_not_saved(env: Env) -> None:
    kernel = env.root / "boot" / "vmlinuz"
    kernel.parent.mkdir()
    kernel.write_text("")
    start(env, hvparams={"kernel_path": "/boot/vmlinuz",
                         "kernel_args": "single"}, beparams={"memory": 128})
    state = env.hv.instance_state(FILE_INST)
    assert state is not None
    assert state["memory"] == 128 and state["hvparams"]["kernel_args"] == "single"
    inst = env.inst()
    assert inst.beparams == {"maxmem": 256, "minmem": 256} and inst.hvparams == {}


@pytest.mark.parametrize(("hvp", "bep", "match"), [
    ({"migration_port": 1}, {}, "global"),
    ({"nope": 1}, {}, "nope"),
    ({"kernel_args": "x"}, {}, "requires 'kernel_path'"),
    ({}, {"memory": "lots"}, "memory"),
    ({}, {"colour": 1}, "colour"),
])
def test_startup_bad_one_shot_params(env: Env, hvp: dict[str, object],
                                     bep: dict[str, object], match: str) -> None:
    env.fails(opcodes.OpInstanceStartup(instance_name=FILE_INST, hvparams=hvp,
                                        beparams=bep),
              errors.ParameterError, match)
    assert not env.inst().admin_up and env.running() == []


def test_startup_memory_check(env: Env) -> None:
    err = env.fails(opcodes.OpInstanceStartup(instance_name=FILE_INST,
                                              beparams={"memory": 4096}),
                    errors.OpPrereqError, "Not enough memory on node")
    assert "needed 4096 MiB, available 1024 MiB" in str(err)
    assert err.code == errors.ErrorCode.NORES
    assert not env.inst().admin_up


def test_startup_missing_bridge_refused(env: Env) -> None:
    inst = env.inst()
    inst.nics[0].nicparams = {"link": "br-missing"}
    env.cfg.update(inst)
    env.fails(opcodes.OpInstanceStartup(instance_name=FILE_INST),
              errors.OpPrereqError, "Missing bridges: br-missing")
    assert env.running() == []
    env.make_bridge("br-missing")
    start(env)
    assert env.running() == [FILE_INST]


def test_startup_failure_deactivates_and_reports(env: Env) -> None:
    env.hv.inject_fault("start_instance", "the fake says no")
    env.fails(opcodes.OpInstanceStartup(instance_name=FILE_INST),
              errors.OpExecError, "Could not start instance .*the fake says no")
    # Ganeti marks the instance up before starting it (the watcher retries).
    assert env.inst().admin_up and env.running() == []


def test_startup_unknown_instance(env: Env) -> None:
    err = env.fails(opcodes.OpInstanceStartup(instance_name="nosuch"),
                    errors.OpPrereqError, "Instance 'nosuch' not known")
    assert err.code == errors.ErrorCode.NOENT


def test_startup_offline_primary_refused(env: Env) -> None:
    node = env.cfg.get_node(env.inst().primary_node)
    node.offline = True
    env.cfg.update(node)
    env.fails(opcodes.OpInstanceStartup(instance_name=FILE_INST),
              errors.OpPrereqError, "is offline")


def test_shutdown_soft_and_hard(env: Env) -> None:
    start(env)
    env.run(opcodes.OpInstanceShutdown(instance_name=FILE_INST, timeout=0))
    assert env.running() == [] and not env.inst().admin_up
    assert not any("stopped hard" in m for m in env.ctx.messages)
    start(env)
    env.hv.inject_fault(FAULT_IGNORE_SOFT_STOP)
    env.run(opcodes.OpInstanceShutdown(instance_name=FILE_INST, timeout=0))
    assert env.running() == []
    assert any("did not stop within 0 seconds; it was stopped hard" in m
               for m in env.ctx.messages)
    # Stopping a stopped instance succeeds.
    env.run(opcodes.OpInstanceShutdown(instance_name=FILE_INST))
    assert not env.inst().admin_up


def test_shutdown_failure_is_a_warning(env: Env) -> None:
    start(env)
    env.hv.inject_fault("stop_instance", "stuck")
    env.run(opcodes.OpInstanceShutdown(instance_name=FILE_INST))
    assert any(m.startswith("Warning: Could not shut down") and "stuck" in m
               for m in env.ctx.messages)
    assert not env.inst().admin_up


@pytest.mark.parametrize("kind", ["soft", "hard", "full"])
def test_reboot(env: Env, kind: str) -> None:
    start(env)
    before = env.hv.instance_state(FILE_INST)
    assert before is not None
    env.cfg.set_instance_admin_up(FILE_INST, False)
    env.run(opcodes.OpInstanceReboot(instance_name=FILE_INST, reboot_type=kind))
    after = env.hv.instance_state(FILE_INST)
    assert after is not None and env.running() == [FILE_INST]
    if kind == "soft":
        assert after["reboots"] == 1 and after["id"] == before["id"]
    else:
        assert after["id"] != before["id"]
    assert env.inst().admin_up


def test_reboot_of_stopped_instance_refused(env: Env) -> None:
    err = env.fails(opcodes.OpInstanceReboot(instance_name=FILE_INST),
                    errors.OpPrereqError, "is not running")
    assert err.code == errors.ErrorCode.STATE


def test_console(env: Env) -> None:
    env.fails(opcodes.OpInstanceConsole(instance_name=FILE_INST),
              errors.OpExecError, "is not running")
    start(env)
    info = env.run(opcodes.OpInstanceConsole(instance_name=FILE_INST))
    node = env.inst().primary_node
    assert info["kind"] == "command" and info["node"] == node
    assert info["node_ip"] == env.cfg.get_node(node).primary_ip
    assert info["command"][0] == "cat"
    assert os.path.exists(info["command"][1])


def test_activate_and_deactivate_disks(env: Env) -> None:
    result = env.run(opcodes.OpInstanceActivateDisks(instance_name=FILE_INST))
    node = env.inst().primary_node
    assert result == [[node, "disk/0", env.disk_path()]]
    assert env.run(opcodes.OpInstanceActivateDisks(
        instance_name=DISKLESS_INST)) == []
    env.run(opcodes.OpInstanceDeactivateDisks(instance_name=FILE_INST))
    start(env)
    env.fails(opcodes.OpInstanceDeactivateDisks(instance_name=FILE_INST),
              errors.OpExecError, "instance is running")


def test_activate_disks_missing_file(env: Env) -> None:
    os.unlink(env.disk_path())
    env.fails(opcodes.OpInstanceActivateDisks(instance_name=FILE_INST),
              errors.OpExecError, "Cannot activate disk/0 of instance .*does not exist")


def test_activate_disks_size_mismatch_warns(env: Env) -> None:
    with open(env.disk_path(), "r+b") as handle:
        handle.truncate(80 * 1024 * 1024)
    env.run(opcodes.OpInstanceActivateDisks(instance_name=FILE_INST))
    assert any("is 80 MiB" in m for m in env.ctx.messages)
    env.run(opcodes.OpInstanceActivateDisks(instance_name=FILE_INST,
                                            ignore_size=True))
    assert not any("MiB" in m for m in env.ctx.messages)


def test_grow_disk(env: Env) -> None:
    path = env.disk_path()
    with open(path, "r+b") as handle:
        handle.write(b"keep me")
    start(env)
    env.run(opcodes.OpInstanceGrowDisk(instance_name=FILE_INST, disk=0,
                                       amount=32))
    assert env.inst().disks[0].size == 96
    assert os.path.getsize(path) == 96 * 1024 * 1024
    with open(path, "rb") as handle:
        assert handle.read(7) == b"keep me"
    assert env.running() == [FILE_INST]


def test_grow_disk_refusals(env: Env) -> None:
    env.fails(opcodes.OpInstanceGrowDisk(instance_name=FILE_INST, disk=3,
                                         amount=1),
              errors.OpPrereqError, "Invalid disk index 3")
    env.fails(opcodes.OpInstanceGrowDisk(instance_name=DISKLESS_INST, disk=0,
                                         amount=1),
              errors.OpPrereqError, "diskless")
    env.fails(opcodes.OpInstanceGrowDisk(instance_name=FILE_INST, disk=0,
                                         amount=1 << 39),
              errors.OpPrereqError, "Not enough disk space")
    env.fails(opcodes.OpInstanceGrowDisk(instance_name=FILE_INST, disk=0,
                                         amount=1 << 40),
              errors.OpPrereqError, "Cannot grow disk/0 of instance"
              f" {FILE_INST} to 1099511627840 MiB: the maximum disk size is"
              " 1099511627776 MiB")
    assert env.inst().disks[0].size == 64


def test_hooks_environment(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "hook.out"
    directory = Path(pathutils.get().hooks_dir) / "instance-stop-pre.d"
    directory.mkdir(parents=True)
    script = directory / "record"
    script.write_text(f"#!/bin/sh\nenv | grep ^GANETI_ | sort > {out}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env.run(opcodes.OpInstanceShutdown(instance_name=FILE_INST, timeout=7))
    lines = set(out.read_text().splitlines())
    assert "GANETI_TIMEOUT=7" in lines
    assert f"GANETI_INSTANCE_NAME={FILE_INST}" in lines
    assert "GANETI_INSTANCE_NIC_COUNT=1" in lines
    assert "GANETI_INSTANCE_DISK0_SIZE=64" in lines
    assert "GANETI_INSTANCE_BE_maxmem=256" in lines
    # Ganeti 2.6+ hooks: both memories, and MEMORY still the maxmem.
    assert {"GANETI_INSTANCE_MAXMEM=256", "GANETI_INSTANCE_MINMEM=256",
            "GANETI_INSTANCE_MEMORY=256"} <= lines
    assert "GANETI_HOOKS_PATH=instance-stop" in lines
