"""gnt-instance modify -t plain / -t drbd -n SNODE of a stopped instance
against the fake DRBD nodes: the data follows, the configuration only
names existing volumes, ports go back to the pool; refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drbd_fake_rpc import INST, NODES, Env, drbd_env

from ganeti import constants, errors, opcodes

P, S, NEW = NODES


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path) -> Iterator[Env]:
    yield from drbd_env(tmp_path, admin_up=False)


def convert(template: str, node: str | None = None
            ) -> opcodes.OpInstanceSetParams:
    return opcodes.OpInstanceSetParams(instance_name=INST,
                                       disk_template=template,
                                       remote_node=node)


def test_drbd_to_plain_and_back(env: Env) -> None:
    disk = env.inst().disks[0]
    data_lv = "/".join(disk.children[0].logical_id)
    for node in (P, S):
        env.fake.nodes[node].lvs[data_lv] = "keep"
    port = disk.logical_id[2]

    assert env.run(convert(constants.DT_PLAIN)) == [["disk_template",
                                                     "plain"]]
    inst = env.inst()
    assert inst.disk_template == constants.DT_PLAIN
    assert inst.secondary_nodes == []
    assert inst.disks[0].dev_type == constants.LD_LV
    assert "/".join(inst.disks[0].logical_id) == data_lv
    assert inst.disks[0].iv_name == "disk/0" and inst.disks[0].size == 1024
    assert env.fake.nodes[P].lvs == {data_lv: "keep"}
    assert env.fake.nodes[S].lvs == {}
    assert port in env.cfg.get_cluster().tcpudp_port_pool

    env.run(convert(constants.DT_DRBD8, NEW))
    inst = env.inst()
    assert inst.disk_template == constants.DT_DRBD8
    assert inst.primary_node == P and inst.secondary_nodes == [NEW]
    assert env.fake.data(INST) == {P: "keep", NEW: "keep"}
    assert data_lv not in env.fake.nodes[P].lvs   # the plain volume went
    env.fake.assert_volumes_exist()
    # Stopped: its mirrors are not left active.
    assert not any(d.active for d in env.fake.nodes[P].devs.values())


def test_failed_conversion_to_drbd_leaves_the_plain_disk(env: Env) -> None:
    env.run(convert(constants.DT_PLAIN))
    before = env.inst().to_dict()
    pool = list(env.cfg.get_cluster().tcpudp_port_pool)
    env.fake.fail_next("blockdev_write_chunk", "disk full")
    env.fake.nodes[P].lvs = {k: "keep" for k in env.fake.nodes[P].lvs}
    env.fails(convert(constants.DT_DRBD8, NEW), errors.OpExecError,
              "disk full")
    assert env.inst().to_dict()["disks"] == before["disks"]
    assert env.inst().disk_template == constants.DT_PLAIN
    assert len(env.fake.nodes[P].lvs) == 1 and env.fake.nodes[NEW].lvs == {}
    assert set(pool) <= set(env.cfg.get_cluster().tcpudp_port_pool)
    env.fake.assert_volumes_exist()


@pytest.mark.parametrize("template,node,match", [
    (constants.DT_DRBD8, S, "already has disk template drbd"),
])
def test_conversion_refusals(env: Env, template: str, node: str,
                             match: str) -> None:
    env.fails(convert(template, node), errors.OpPrereqError, match)


def test_conversion_to_drbd_refusals(env: Env) -> None:
    env.run(convert(constants.DT_PLAIN))
    env.fails(convert(constants.DT_DRBD8, P), errors.OpPrereqError,
              "cannot be the primary node")
    node = env.cfg.get_node(NEW)
    assert node is not None
    node.drained = True
    env.cfg.update(node)
    env.fails(convert(constants.DT_DRBD8, NEW), errors.OpPrereqError,
              "is drained")


def test_conversion_of_a_running_instance_is_refused(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, admin_up=True):
        env.fails(convert(constants.DT_PLAIN), errors.OpPrereqError,
                  "must be stopped to convert its disks")
