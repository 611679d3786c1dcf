"""What the restarted master plans for an opcode its crash interrupted
(ganeti.crash_recovery), and that the plans do it, through the
processor on a one-node cluster with file disks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import Env, create_op, install_os, lu_env

from ganeti import crash_recovery, opcodes, pathutils

INST = "inst1.example.com"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def disk_dir() -> Path:
    return Path(pathutils.get().file_storage_dir) / INST


def test_an_add_that_created_its_instance_is_rolled_back(env: Env) -> None:
    install_os(env)
    began = time.time()
    env.run(create_op())  # as far as the crash let it get
    assert disk_dir().exists()
    plan = crash_recovery.planner(env.cfg)(create_op(), began)
    assert plan is not None
    assert plan.message == ("Rolled back after a master crash: instance "
                            f"{INST} removed")
    assert isinstance(plan.opcode, opcodes.OpInstanceRemove)
    assert plan.opcode.ignore_failures
    env.run(plan.opcode)
    assert env.cfg.get_instance(INST) is None
    assert not disk_dir().exists()


def test_an_older_instance_of_that_name_is_kept(env: Env) -> None:
    install_os(env)
    env.run(create_op())
    later = env.cfg.get_instance(INST).ctime + 1  # type: ignore[union-attr]
    plan = crash_recovery.planner(env.cfg)(create_op(), later)
    assert plan is not None and plan.opcode is None
    assert plan.message == ("Rolled back after a master crash: instance "
                            f"{INST} was not created")


def test_no_plan_for_adopted_volumes_or_a_dry_run(env: Env) -> None:
    plan = crash_recovery.planner(env.cfg)
    assert plan(create_op(dry_run=True), 0.0) is None
    assert plan(create_op(disk_template="plain",
                          disks=[{"adopt": "vol1"}]), 0.0) is None
    assert plan(opcodes.OpTestDelay(duration=1.0), 0.0) is None


def test_migrate_is_cleaned_up_and_failover_restarts(env: Env) -> None:
    install_os(env)
    env.run(create_op(start=True))
    plan = crash_recovery.planner(env.cfg)
    migrate = plan(opcodes.OpInstanceMigrate(instance_name=INST), 0.0)
    assert migrate is not None
    assert isinstance(migrate.opcode, opcodes.OpInstanceMigrate)
    assert migrate.opcode.cleanup
    failover = plan(opcodes.OpInstanceFailover(instance_name=INST), 0.0)
    assert failover is not None
    assert isinstance(failover.opcode, opcodes.OpInstanceStartup)
    env.run(opcodes.OpInstanceShutdown(instance_name=INST))
    stopped = plan(opcodes.OpInstanceFailover(instance_name=INST), 0.0)
    assert stopped is not None and stopped.opcode is None
    assert plan(opcodes.OpInstanceFailover(instance_name="gone.example.com"),
                0.0) is None
