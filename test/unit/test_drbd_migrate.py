"""Failover and migration of DRBD instances against the fake DRBD nodes
(drbd_fake_rpc): the call sequence of Ganeti 2.1, the primary/secondary
swap, refusals, rollback and cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drbd_fake_rpc import INST, NODES, Env, drbd_env

from ganeti import errors, opcodes

P, S, OTHER = NODES


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path) -> Iterator[Env]:
    yield from drbd_env(tmp_path)


def _subseq(calls: list[str], wanted: list[str]) -> bool:
    it = iter(calls)
    return all(any(c == w for c in it) for w in wanted)


def test_migrate_goes_dual_primary_and_back(env: Env) -> None:
    env.run(opcodes.OpInstanceMigrate(instance_name=INST))
    inst = env.inst()
    assert inst.primary_node == S and inst.secondary_nodes == [P]
    assert env.fake.nodes[S].running == {INST}
    assert env.fake.nodes[P].running == set()
    assert _subseq(env.fake.names(), [
        "blockdev_getmirrorstatus", "blockdev_close", "drbd_disconnect_net",
        "drbd_attach_net", "drbd_wait_sync", "migration_info",
        "accept_instance", "instance_migrate", "finalize_migration",
        "finalize_migration_source", "blockdev_close", "drbd_wait_sync",
        "drbd_disconnect_net", "drbd_attach_net", "drbd_wait_sync"])
    # Single-master again, the old primary demoted.
    for node in (P, S):
        dev = env.fake.nodes[node].devs[inst.disks[0].uuid]
        assert dev.connected and not dev.dual
    assert not env.fake.nodes[P].devs[inst.disks[0].uuid].primary
    assert "* done" in env.ctx.messages
    env.fake.assert_volumes_exist()


@pytest.mark.parametrize("place", [{"target_node": OTHER},
                                   {"iallocator": "builtin"}])
def test_migrate_to_another_node_makes_it_the_secondary_first(
        env: Env, place: dict[str, str]) -> None:
    env.fake.write(INST, "x")
    env.run(opcodes.OpInstanceMigrate(instance_name=INST, **place))
    inst = env.inst()
    assert inst.primary_node == OTHER and inst.secondary_nodes == [P]
    assert env.fake.data(INST) == {OTHER: "x", P: "x"}
    assert env.fake.nodes[S].lvs == {}
    assert any(f"making node {OTHER} the secondary" in m
               for m in env.ctx.messages)
    env.fake.assert_volumes_exist()


def test_failover_to_another_node_checks_it_first(env: Env) -> None:
    env.fake.nodes[OTHER].vg_free = 10
    env.fails(opcodes.OpInstanceFailover(instance_name=INST,
                                         target_node=OTHER),
              errors.OpPrereqError, f"on node {OTHER}")
    assert env.inst().primary_node == P
    assert env.inst().secondary_nodes == [S]


def test_migrate_refuses_a_degraded_target(env: Env) -> None:
    env.fake.degrade(S, env.inst().disks[0].uuid)
    env.fails(opcodes.OpInstanceMigrate(instance_name=INST),
              errors.OpExecError, f"degraded .* on node {S}")
    assert env.inst().primary_node == P
    assert "drbd_disconnect_net" not in env.fake.names()


def test_failed_migration_returns_to_single_master(env: Env) -> None:
    env.fake.fail_next("accept_instance", "no room")
    env.fails(opcodes.OpInstanceMigrate(instance_name=INST),
              errors.OpExecError, "no room")
    inst = env.inst()
    assert inst.primary_node == P
    assert env.fake.nodes[P].running == {INST}
    for node in (P, S):
        dev = env.fake.nodes[node].devs[inst.disks[0].uuid]
        assert dev.connected and not dev.dual
    assert not env.fake.nodes[S].devs[inst.disks[0].uuid].primary


def test_cleanup_after_the_master_died_mid_migration(env: Env) -> None:
    # The instance reached the target but the config was not updated.
    env.fake.nodes[P].running.clear()
    env.fake.nodes[S].running.add(INST)
    for node in (P, S):
        env.fake.nodes[node].devs[env.inst().disks[0].uuid].dual = True
    env.run(opcodes.OpInstanceMigrate(instance_name=INST, cleanup=True))
    inst = env.inst()
    assert inst.primary_node == S
    for node in (P, S):
        assert not env.fake.nodes[node].devs[inst.disks[0].uuid].dual
    assert ("blockdev_close", P) in env.fake.calls


def test_failover_swaps_primary_and_secondary(env: Env) -> None:
    env.run(opcodes.OpInstanceFailover(instance_name=INST))
    inst = env.inst()
    assert inst.primary_node == S and inst.secondary_nodes == [P]
    assert env.fake.nodes[S].running == {INST}
    assert env.fake.nodes[S].devs[inst.disks[0].uuid].primary
    assert not env.fake.nodes[P].devs[inst.disks[0].uuid].primary
    env.fake.assert_volumes_exist()


def test_failover_of_a_degraded_mirror_needs_ignore_consistency(
        env: Env) -> None:
    env.fake.degrade(S, env.inst().disks[0].uuid)
    env.fails(opcodes.OpInstanceFailover(instance_name=INST),
              errors.OpPrereqError, "degraded or not in sync on node")
    assert env.inst().primary_node == P
    assert env.fake.nodes[P].running == {INST}


def test_failover_with_a_dead_primary(env: Env) -> None:
    env.fake.kill(P)
    env.fails(opcodes.OpInstanceFailover(instance_name=INST),
              errors.OpExecError, "shut down")
    assert env.inst().primary_node == P
    env.run(opcodes.OpInstanceFailover(instance_name=INST,
                                       ignore_consistency=True))
    assert env.inst().primary_node == S
    assert env.fake.nodes[S].running == {INST}
    assert any("make sure node" in m for m in env.ctx.messages)


def test_failover_of_a_stopped_instance_only_moves_the_config(
        tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, admin_up=False):
        env.run(opcodes.OpInstanceFailover(instance_name=INST))
        assert env.inst().primary_node == S
        assert env.fake.nodes[S].running == set()
        assert "blockdev_assemble" not in env.fake.names()
