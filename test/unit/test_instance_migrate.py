"""Migrate, failover and move through the processor: refusals, rollback
and failover.  With one in-process backend for every node a successful
migration or move cannot happen here (source and target share one fake
hypervisor and one file storage directory); those run on a real local
cluster in test/integration/test_instance_ops_cluster.py."""

from __future__ import annotations

from instance_ops_env import DISKLESS_INST, FILE_INST, Env, env_fixture  # noqa: F401

from ganeti import errors, opcodes
from ganeti.cmdlib.instance_migrate import FILE_DISKS_MSG

NODE2 = "node2.example.com"


def start(env: Env, name: str) -> None:
    env.run(opcodes.OpInstanceStartup(instance_name=name))


def test_file_disks_refused(env: Env) -> None:
    start(env, FILE_INST)
    for op in (opcodes.OpInstanceMigrate(instance_name=FILE_INST),
               opcodes.OpInstanceFailover(instance_name=FILE_INST)):
        err = env.fails(op, errors.OpPrereqError, FILE_DISKS_MSG)
        assert err.code == errors.ErrorCode.STATE
    assert env.inst().primary_node != NODE2


def test_migrate_not_running_refused(env: Env) -> None:
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST),
              errors.OpPrereqError, "Can't migrate instance .* not running")


def test_migrate_rolls_back_when_the_target_refuses(env: Env) -> None:
    start(env, DISKLESS_INST)
    before = env.hv.instance_state(DISKLESS_INST)
    # Same backend for both nodes: the "target" already has the instance,
    # so accept_instance fails and the source must keep running it.
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST),
              errors.OpExecError, "Pre-migration failed on node")
    after = env.hv.instance_state(DISKLESS_INST)
    assert after is not None and after["status"] == "running"
    assert after["id"] == before["id"]
    assert env.inst(DISKLESS_INST).primary_node != NODE2


def test_migrate_rolls_back_an_injected_failure(env: Env) -> None:
    start(env, DISKLESS_INST)
    env.hv.inject_fault("accept_instance", "no room at the inn")
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                        live=False),
              errors.OpExecError, "no room at the inn")
    assert env.running() == [DISKLESS_INST]


def test_migrate_memory_check_on_target(env: Env) -> None:
    start(env, DISKLESS_INST)
    inst = env.inst(DISKLESS_INST)
    inst.beparams = {"maxmem": 900}
    env.cfg.update(inst)
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST),
              errors.OpPrereqError, f"Not enough memory on node {NODE2}")


def test_migrate_cleanup_refuses_an_instance_seen_twice(env: Env) -> None:
    start(env, DISKLESS_INST)
    # One backend answers for both nodes: the instance "runs on both".
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                        cleanup=True),
              errors.OpExecError, "running on two nodes")
    assert env.running() == [DISKLESS_INST]


def test_migrate_cleanup_of_an_instance_running_nowhere(env: Env) -> None:
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                        cleanup=True),
              errors.OpExecError, "does not seem to run anywhere")


def test_failover_diskless(env: Env) -> None:
    start(env, DISKLESS_INST)
    env.run(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST,
                                       shutdown_timeout=0))
    inst = env.inst(DISKLESS_INST)
    assert inst.primary_node == NODE2 and inst.admin_up
    assert env.running() == [DISKLESS_INST]
    assert any("starting instance" in m for m in env.ctx.messages)


def test_migrate_of_an_always_failover_instance_fails_over(env: Env) -> None:
    """As Ganeti: ``always_failover`` turns a migration into a failover
    (which succeeds where this one-backend setup makes a migration fail)."""
    start(env, DISKLESS_INST)
    inst = env.inst(DISKLESS_INST)
    inst.beparams = {**inst.beparams, "always_failover": True}
    env.cfg.update(inst)
    env.run(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST))
    inst = env.inst(DISKLESS_INST)
    assert inst.primary_node == NODE2 and inst.admin_up
    assert env.running() == [DISKLESS_INST]
    assert any("always fail over" in m for m in env.ctx.messages)
    assert any("shutting down instance" in m for m in env.ctx.messages)


def test_failover_of_stopped_instance_only_moves_config(env: Env) -> None:
    env.run(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST))
    assert env.inst(DISKLESS_INST).primary_node == NODE2
    assert env.running() == []


def test_failover_shutdown_failure(env: Env) -> None:
    start(env, DISKLESS_INST)
    env.hv.inject_fault("stop_instance", "wedged")
    env.fails(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST),
              errors.OpExecError, "wedged")
    assert env.inst(DISKLESS_INST).primary_node != NODE2
    env.hv.inject_fault("stop_instance", "wedged")
    env.run(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST,
                                       ignore_consistency=True))
    assert env.inst(DISKLESS_INST).primary_node == NODE2
    assert any("Proceeding anyway" in m for m in env.ctx.messages)


def test_failover_to_drained_or_offline_node_refused(env: Env) -> None:
    node = env.cfg.get_node(NODE2)
    node.drained = True
    env.cfg.update(node)
    env.fails(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST),
              errors.OpPrereqError, "no other online, undrained node")


def test_move_refusals(env: Env) -> None:
    primary = env.inst().primary_node
    env.fails(opcodes.OpInstanceMove(instance_name=FILE_INST,
                                     target_node=primary),
              errors.OpPrereqError, "already on node")
    env.fails(opcodes.OpInstanceMove(instance_name=FILE_INST,
                                     target_node="nowhere"),
              errors.OpPrereqError, "Node 'nowhere' not known")
    node = env.cfg.get_node(NODE2)
    node.offline = True
    env.cfg.update(node)
    env.fails(opcodes.OpInstanceMove(instance_name=FILE_INST,
                                     target_node=NODE2),
              errors.OpPrereqError, "is offline")


def test_move_memory_check_when_up(env: Env) -> None:
    start(env, FILE_INST)
    inst = env.inst()
    inst.beparams = {"maxmem": 2048}
    env.cfg.update(inst)
    env.fails(opcodes.OpInstanceMove(instance_name=FILE_INST,
                                     target_node=NODE2),
              errors.OpPrereqError, "Not enough memory")


def test_move_diskless(env: Env) -> None:
    env.run(opcodes.OpInstanceMove(instance_name=DISKLESS_INST,
                                   target_node=NODE2))
    assert env.inst(DISKLESS_INST).primary_node == NODE2


def test_migrate_with_allow_failover_fails_over_a_stopped_instance(
        env: Env) -> None:
    """Ganeti 2.6+'s ``allow_failover`` (hbal sends it): an instance
    marked down cannot be migrated, so it is failed over instead."""
    env.run(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                      allow_failover=True))
    assert env.inst(DISKLESS_INST).primary_node == NODE2
    assert env.running() == []
    assert any("is marked down (allow_failover): failing over instead" in m
               for m in env.ctx.messages)


def test_migrate_with_allow_failover_fails_over_an_unmigratable_one(
        env: Env) -> None:
    """Marked up but not running on its node: the hypervisor says it
    cannot be migrated; ``allow_failover`` makes it a failover."""
    start(env, DISKLESS_INST)
    env.hv.stop_instance(DISKLESS_INST, force=True)
    env.fails(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST),
              errors.OpPrereqError, "Can't migrate instance")
    env.run(opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                      allow_failover=True))
    inst = env.inst(DISKLESS_INST)
    assert inst.primary_node == NODE2 and inst.admin_up
    assert any("cannot be migrated" in m and "allow_failover" in m
               for m in env.ctx.messages)


def test_a_move_into_a_stricter_group_needs_ignore_ipolicy(env: Env) -> None:
    """The target node's group policy (disk templates: plain only) refuses
    the diskless instance; ``ignore_ipolicy`` makes it a warning."""
    env.run(opcodes.OpGroupAdd(group_name="strict",
                               ipolicy={"disk-templates": ["plain"]}))
    env.run(opcodes.OpGroupAssignNodes(group_name="strict", nodes=[NODE2],
                                       force=True))
    for op in (opcodes.OpInstanceFailover(instance_name=DISKLESS_INST),
               opcodes.OpInstanceMigrate(instance_name=DISKLESS_INST,
                                         allow_failover=True)):
        err = env.fails(op, errors.OpPrereqError,
                        "violates the instance policy of group strict")
        assert "override with --ignore-ipolicy" in str(err)
    assert env.inst(DISKLESS_INST).primary_node != NODE2
    env.run(opcodes.OpInstanceFailover(instance_name=DISKLESS_INST,
                                       ignore_ipolicy=True))
    assert env.inst(DISKLESS_INST).primary_node == NODE2
    assert any("Warning: Cannot fail over instance" in m
               and "(ignored: --ignore-ipolicy)" in m
               for m in env.ctx.messages)
