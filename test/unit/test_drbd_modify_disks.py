"""gnt-instance modify --disk add / --disk remove on a drbd instance
against the fake DRBD nodes: a new mirror gets its own port, minors on
both nodes and a secret, exists on both nodes and is synced; a removed
one goes from both nodes and gives its port back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drbd_fake_rpc import INST, NODES, Env, drbd_env

from ganeti import constants, opcodes
from ganeti.storage import drbd_ids

P, S, _ = NODES


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path) -> Iterator[Env]:
    yield from drbd_env(tmp_path, admin_up=False)


def modify(*disks: tuple[str, dict[str, object]]
           ) -> opcodes.OpInstanceSetParams:
    return opcodes.OpInstanceSetParams(instance_name=INST,
                                       disks=[list(d) for d in disks])


def test_add_then_remove_a_mirrored_disk(env: Env) -> None:
    old = drbd_ids.parse_logical_id(env.inst().disks[0].logical_id)
    result = env.run(modify((constants.DDM_ADD, {"size": 512})))
    assert result == [["disk/1", "add:size=512,mode=rw"]]
    inst = env.inst()
    assert len(inst.disks) == 2
    new = inst.disks[1]
    assert new.dev_type == constants.LD_DRBD8 and new.size == 512
    lid = drbd_ids.parse_logical_id(new.logical_id)
    assert (lid.node_a, lid.node_b) == (P, S)
    assert lid.port != old.port
    assert lid.minor_a != old.minor_a and lid.minor_b != old.minor_b
    assert lid.secret and lid.secret != old.secret
    assert lid.port not in env.cfg.get_cluster().tcpudp_port_pool
    # Created on both nodes, the secondary first, and synced.
    creates = [n for c, n in env.fake.calls if c == "blockdev_create"]
    assert creates == [S, P]
    names = env.fake.names(P)
    assert names.index("blockdev_create") < \
        names.index("blockdev_getmirrorstatus")
    for node in (P, S):
        assert new.uuid in env.fake.nodes[node].devs
        # The instance is stopped: the new mirror is not left active.
        assert not env.fake.nodes[node].devs[new.uuid].active
    env.fake.assert_volumes_exist()

    env.run(modify((constants.DDM_REMOVE, {})))
    inst = env.inst()
    assert [d.uuid for d in inst.disks] == [env.inst().disks[0].uuid]
    for node in (P, S):
        assert new.uuid not in env.fake.nodes[node].devs
        assert not any(lv.endswith(("disk1_data", "disk1_meta"))
                       for lv in env.fake.nodes[node].lvs)
    assert lid.port in env.cfg.get_cluster().tcpudp_port_pool
    minors = env.cfg.drbd_minor_map()
    assert lid.minor_a not in minors.get(P, {})
    assert lid.minor_b not in minors.get(S, {})
    env.fake.assert_volumes_exist()


def test_failed_add_leaves_nothing_behind(env: Env) -> None:
    pool = list(env.cfg.get_cluster().tcpudp_port_pool)
    assert not pool
    highest = env.cfg.get_cluster().highest_used_port
    before = {n: dict(env.fake.nodes[n].lvs) for n in (P, S)}
    env.fake.fail_next("blockdev_create")
    env.fails(modify((constants.DDM_ADD, {"size": 512})), Exception,
              "Could not create disk/1")
    assert len(env.inst().disks) == 1
    for node in (P, S):
        assert env.fake.nodes[node].lvs == before[node]
    cluster = env.cfg.get_cluster()
    taken = range(highest + 1, cluster.highest_used_port + 1)
    assert set(taken) <= set(cluster.tcpudp_port_pool) | set(pool)
    minors = env.cfg.drbd_minor_map()
    assert {m: u for m, u in minors[S].items()} == {
        int(env.inst().disks[0].logical_id[4]): INST}
