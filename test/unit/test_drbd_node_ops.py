"""gnt-node evacuate / migrate and gnt-cluster verify-disks against the
fake DRBD nodes."""

from __future__ import annotations

from pathlib import Path

from drbd_fake_rpc import NODES, drbd_env

from ganeti import constants, errors, opcodes

P, S, NEW = NODES
NAMES = [f"inst{i}.example.com" for i in (1, 2, 3)]


def test_evacuate_secondaries_to_a_node(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, instances=3):
        for name in NAMES:
            env.fake.write(name, f"data-{name}")
        result = env.run(opcodes.OpNodeEvacuate(node_name=S, remote_node=NEW))
        assert result == [[n, NEW] for n in NAMES]
        for name in NAMES:
            assert env.inst(name).secondary_nodes == [NEW]
            assert env.fake.data(name) == {P: f"data-{name}",
                                           NEW: f"data-{name}"}
        assert env.fake.nodes[S].lvs == {}
        env.fake.assert_volumes_exist()
        # Distinct minors on the new node.
        minors = {env.inst(n).disks[0].logical_id[4] for n in NAMES}
        assert len(minors) == 3


def test_evacuate_all_with_hail_moves_primaries_first(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, instances=2):
        for name in NAMES[:2]:
            env.fake.write(name, "x")
        env.run(opcodes.OpNodeEvacuate(node_name=P, iallocator="hail",
                                       mode=constants.NODE_EVAC_ALL))
        for name in NAMES[:2]:
            inst = env.inst(name)
            assert P not in inst.all_nodes
            assert inst.primary_node == S and inst.secondary_nodes == [NEW]
            assert env.fake.data(name) == {S: "x", NEW: "x"}
            assert name in env.fake.nodes[S].running
        env.fake.assert_volumes_exist()


def test_evacuate_needs_a_target(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path):
        env.fails(opcodes.OpNodeEvacuate(node_name=S), errors.OpPrereqError,
                  "Give the new secondary node")
        env.fails(opcodes.OpNodeEvacuate(node_name=S, remote_node=S),
                  errors.OpPrereqError, "onto itself")
        env.fails(opcodes.OpNodeEvacuate(node_name=S, remote_node=P),
                  errors.OpPrereqError, "is the primary node")
        env.fails(opcodes.OpNodeEvacuate(node_name=S, iallocator="other"),
                  errors.OpPrereqError, "'other' not found")


def test_evacuate_refuses_plain_primaries(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path):
        inst = env.inst()
        inst.disk_template = constants.DT_PLAIN
        env.cfg.update(inst)
        env.fails(opcodes.OpNodeEvacuate(node_name=P, remote_node=NEW,
                                         mode=constants.NODE_EVAC_PRI),
                  errors.OpPrereqError, "gnt-instance move")


def test_node_migrate_moves_running_primaries(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, instances=2):
        assert env.run(opcodes.OpNodeMigrate(node_name=P)) == NAMES[:2]
        for name in NAMES[:2]:
            assert env.inst(name).primary_node == S
        assert env.fake.nodes[S].running == set(NAMES[:2])


def test_verify_disks_finds_inactive_degraded_and_missing(
        tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, instances=3):
        assert env.run(opcodes.OpClusterVerifyDisks()) == [{}, [], {}]
        i1, i2, i3 = (env.inst(n) for n in NAMES)
        env.fake.nodes[S].devs[i1.disks[0].uuid].active = False
        env.fake.degrade(P, i2.disks[0].uuid)
        meta = "/".join(i3.disks[0].children[1].logical_id)
        del env.fake.nodes[S].lvs[meta]
        bad, activate, missing = env.run(opcodes.OpClusterVerifyDisks())
        assert bad == {}
        assert activate == NAMES[:2]
        assert missing == {NAMES[2]: [[S, meta]]}
        env.fake.kill(NEW)  # not a node of any instance: not asked
        env.fake.kill(S)
        bad, _, _ = env.run(opcodes.OpClusterVerifyDisks())
        assert set(bad) == {S}


def test_grow_disk_grows_the_secondary_first_and_waits(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path):
        env.run(opcodes.OpInstanceGrowDisk(instance_name=NAMES[0], disk=0,
                                           amount=512))
        assert env.inst(NAMES[0]).disks[0].size == 1024 + 512
        grows = [n for c, n in env.fake.calls if c == "blockdev_grow"]
        assert grows == [S, P]
        assert "blockdev_getmirrorstatus" in env.fake.names(P)
        assert "* instance inst1.example.com's disks are in sync" in \
            env.ctx.messages


def test_grow_disk_degraded_mirror_warns(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path):
        env.fake.degrade(P, env.inst(NAMES[0]).disks[0].uuid)
        env.run(opcodes.OpInstanceGrowDisk(instance_name=NAMES[0], disk=0,
                                           amount=512))
        assert any("did not report a healthy mirror" in m
                   for m in env.ctx.messages)


def test_evacuation_strategy_spreads_by_free_space(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, instances=2):
        # node1 is everyone's primary: node3 is the only candidate.
        result = env.run(opcodes.OpNodeEvacStrategy(nodes=[S],
                                                    iallocator="hail"))
        assert result == [[NAMES[0], NEW], [NAMES[1], NEW]]
        assert env.run(opcodes.OpNodeEvacStrategy(
            nodes=[S], remote_node=NEW)) == [[n, NEW] for n in NAMES[:2]]
        env.fake.nodes[NEW].vg_free = 1500   # room for one mirror only
        env.fails(opcodes.OpNodeEvacStrategy(nodes=[S], iallocator="hail"),
                  errors.OpPrereqError, f"cannot move 1 instance\\(s\\):"
                  f" {NAMES[1]}: no other node of its group has")
        env.fails(opcodes.OpNodeEvacStrategy(nodes=[S], remote_node=S),
                  errors.OpPrereqError, "one of the nodes to evacuate")
        # Nothing moved.
        assert env.inst(NAMES[0]).secondary_nodes == [S]
