"""replace-disks and recreate-disks of DRBD instances against the fake
DRBD nodes: each mode, the data the instance wrote, refusals, and
reruns after an interruption (the master dying between two steps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drbd_fake_rpc import INST, NODES, Env, drbd_env

from ganeti import constants, errors, opcodes
from ganeti.cmdlib import drbd_net, instance_replace

P, S, NEW = NODES


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path) -> Iterator[Env]:
    yield from drbd_env(tmp_path)


def replace(mode: str, **kwargs: object) -> opcodes.OpInstanceReplaceDisks:
    return opcodes.OpInstanceReplaceDisks(instance_name=INST, mode=mode,
                                          **kwargs)


def lv_names(env: Env, node: str) -> set[str]:
    return {lv.split("/", 1)[1] for lv in env.fake.nodes[node].lvs}


def test_replace_on_secondary_keeps_the_config_and_the_data(env: Env) -> None:
    env.fake.write(INST, "hello")
    before = env.inst().to_dict()
    env.run(replace(constants.REPLACE_DISK_SEC))
    assert env.inst().to_dict()["disks"] == before["disks"]
    assert env.fake.data(INST) == {P: "hello", S: "hello"}
    # Old volumes went away, no leftovers.
    assert not any(n.endswith(("_new", "_replaced")) for n in lv_names(env, S))
    assert ("blockdev_shutdown", S) in env.fake.calls
    assert ("blockdev_shutdown", P) not in env.fake.calls
    env.fake.assert_volumes_exist()


def test_replace_on_primary_of_a_running_instance_is_live(env: Env) -> None:
    env.fake.write(INST, "live data")
    before = env.inst().to_dict()
    env.run(replace(constants.REPLACE_DISK_PRI))
    assert env.inst().to_dict()["disks"] == before["disks"]
    # The device stayed up and the instance running; the new volumes
    # were attached under it and resynced from the secondary.
    names = env.fake.names(P)
    assert "blockdev_shutdown" not in names
    assert "instance_shutdown" not in names
    assert names.index("drbd_detach_disk") < names.index("blockdev_rename") \
        < names.index("drbd_attach_disks")
    assert INST in env.fake.nodes[P].running
    assert env.fake.nodes[P].devs[env.inst().disks[0].uuid].active
    assert env.fake.data(INST) == {P: "live data", S: "live data"}
    assert not any(n.endswith(("_new", "_replaced")) for n in lv_names(env, P))
    env.fake.assert_volumes_exist()


def test_replace_on_primary_of_a_stopped_instance(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, admin_up=False):
        env.fake.nodes[S].lvs = {k: "kept" for k in env.fake.nodes[S].lvs}
        env.run(replace(constants.REPLACE_DISK_PRI))
        assert set(env.fake.data(INST).values()) == {"kept"}
        # The disks are deactivated again afterwards.
        uuid = env.inst().disks[0].uuid
        assert not env.fake.nodes[P].devs[uuid].active


def test_change_secondary_moves_the_mirror_and_the_data(env: Env) -> None:
    env.fake.write(INST, "payload")
    env.run(replace(constants.REPLACE_DISK_CHG, remote_node=NEW))
    inst = env.inst()
    assert inst.primary_node == P and inst.secondary_nodes == [NEW]
    assert env.fake.data(INST) == {P: "payload", NEW: "payload"}
    assert lv_names(env, S) == set()
    lid = inst.disks[0].logical_id
    assert lid[1] == NEW and lid[4] == 0   # first free minor on NEW
    env.fake.assert_volumes_exist()


def test_change_secondary_with_a_dead_old_secondary(env: Env) -> None:
    env.fake.write(INST, "survives")
    env.fake.kill(S)
    env.run(replace(constants.REPLACE_DISK_CHG, remote_node=NEW))
    assert env.inst().secondary_nodes == [NEW]
    assert env.fake.data(INST) == {P: "survives", NEW: "survives"}
    assert any("remove its volumes by hand" in m for m in env.ctx.messages)


@pytest.mark.parametrize("node,match", [
    (P, "is the primary node"),
    ("nowhere", "not known"),
])
def test_change_secondary_bad_nodes(env: Env, node: str, match: str) -> None:
    env.fails(replace(constants.REPLACE_DISK_CHG, remote_node=node),
              errors.OpPrereqError, match)
    assert env.inst().secondary_nodes == [S]


def test_change_secondary_to_a_drained_or_offline_node(env: Env) -> None:
    node = env.cfg.get_node(NEW)
    assert node is not None
    node.drained = True
    env.cfg.update(node)
    env.fails(replace(constants.REPLACE_DISK_CHG, remote_node=NEW),
              errors.OpPrereqError, "drained")
    node.drained, node.offline = False, True
    env.cfg.update(node)
    env.fails(replace(constants.REPLACE_DISK_CHG, remote_node=NEW),
              errors.OpPrereqError, "offline")


def test_iallocator_hail_absent_is_built_in_others_refused(env: Env) -> None:
    env.fails(replace(constants.REPLACE_DISK_CHG, iallocator="dumb"),
              errors.OpPrereqError, "'dumb' not found in the iallocator"
              " search path")
    assert env.inst().secondary_nodes == [S]
    env.run(replace(constants.REPLACE_DISK_CHG, iallocator="hail"))
    assert env.inst().secondary_nodes == [NEW]
    assert any("'hail' is not installed" in m for m in env.ctx.messages)


def test_plain_instance_refused(tmp_path: Path) -> None:
    for env in drbd_env(tmp_path):
        inst = env.inst()
        inst.disk_template = constants.DT_PLAIN
        env.cfg.update(inst)
        env.fails(replace(constants.REPLACE_DISK_SEC), errors.OpPrereqError,
                  "only DRBD instances")


def test_bad_disk_index(env: Env) -> None:
    env.fails(replace(constants.REPLACE_DISK_SEC, disks=[3]),
              errors.OpPrereqError, "Invalid disk index 3")


def test_auto_replaces_the_faulty_side(env: Env) -> None:
    env.fake.write(INST, "auto")
    data = env.inst().disks[0].children[0]
    del env.fake.nodes[S].lvs["/".join(data.logical_id)]  # the disk died
    env.run(replace(constants.REPLACE_DISK_AUTO))
    assert env.fake.data(INST) == {P: "auto", S: "auto"}
    env.fake.assert_volumes_exist()
    env.run(replace(constants.REPLACE_DISK_AUTO))
    assert "No disks of instance inst1.example.com need replacement" in \
        env.ctx.messages


def test_auto_with_both_sides_faulty_is_refused(env: Env) -> None:
    data = "/".join(env.inst().disks[0].children[0].logical_id)
    for node in (P, S):
        del env.fake.nodes[node].lvs[data]
    env.fails(replace(constants.REPLACE_DISK_AUTO), errors.OpPrereqError,
              "faulty disks on both nodes")


class Crash(BaseException):
    """The master dies (not an error the LU handles)."""


def crash_after(env: Env, call: str, count: int = 1) -> None:
    real = env.fake.call
    seen = [0]

    def call_then_die(name: str, nodes: list[str], *args: object) -> object:
        out = real(name, nodes, *args)
        if name == call:
            seen[0] += 1
            if seen[0] == count:
                env.fake.call = real  # type: ignore[method-assign]
                raise Crash(name)
        return out
    env.fake.call = call_then_die  # type: ignore[method-assign]


SEC, PRI = constants.REPLACE_DISK_SEC, constants.REPLACE_DISK_PRI


@pytest.mark.parametrize("mode,call,count", [
    (SEC, "blockdev_shutdown", 1),  # the device stopped
    (SEC, "blockdev_create", 1),    # a device over new volumes, syncing
    (SEC, "drbd_wait_sync", 1),     # in sync
    (SEC, "blockdev_shutdown", 2),  # stopped again for the swap
    (SEC, "blockdev_rename", 1),    # old volumes aside, new ones in place
    (SEC, "blockdev_assemble", 1),  # assembled over the new volumes
    # The primary of the running instance, live:
    (PRI, "blockdev_create", 1),    # one new volume made
    (PRI, "drbd_detach_disk", 1),   # the device runs diskless
    (PRI, "blockdev_rename", 1),    # new volumes under the configured names
    (PRI, "drbd_attach_disks", 1),  # attached, to resync
])
def test_rerun_after_a_crash_on_the_same_node(env: Env, mode: str, call: str,
                                              count: int) -> None:
    node = P if mode == PRI else S
    env.fake.write(INST, "precious")
    crash_after(env, call, count)
    with pytest.raises(Crash):
        env.run(replace(mode))
    env.fake.assert_volumes_exist()
    env.run(replace(mode))
    assert env.fake.data(INST) == {P: "precious", S: "precious"}
    assert not any(n.endswith(("_new", "_replaced"))
                   for n in lv_names(env, node))
    assert env.fake.nodes[node].devs[env.inst().disks[0].uuid].data
    if mode == PRI:  # the device in use was never stopped
        assert "blockdev_shutdown" not in env.fake.names(P)
    env.fake.assert_volumes_exist()


@pytest.mark.parametrize("call,count", [
    ("blockdev_create", 1),        # new volumes and device on NEW
    ("drbd_disconnect_net", 1),    # primary standalone
    ("drbd_attach_net", 1),        # config switched, attached
])
def test_rerun_after_a_crash_changing_the_secondary(env: Env, call: str,
                                                    count: int) -> None:
    env.fake.write(INST, "precious")
    crash_after(env, call, count)
    with pytest.raises(Crash):
        env.run(replace(constants.REPLACE_DISK_CHG, remote_node=NEW))
    env.fake.assert_volumes_exist()
    env.run(replace(constants.REPLACE_DISK_CHG, remote_node=NEW))
    assert env.inst().secondary_nodes == [NEW]
    assert env.fake.data(INST) == {P: "precious", NEW: "precious"}
    env.fake.assert_volumes_exist()


def test_recreate_missing_volumes_of_a_stopped_instance(
        tmp_path: Path) -> None:
    for env in drbd_env(tmp_path, admin_up=False):
        data = "/".join(env.inst().disks[0].children[0].logical_id)
        del env.fake.nodes[S].lvs[data]
        env.run(opcodes.OpInstanceRecreateDisks(instance_name=INST))
        env.fake.assert_volumes_exist()
        assert [c for c, n in env.fake.calls
                if c == "blockdev_create" and n == P] == []


def test_recreate_refuses_a_running_instance(env: Env) -> None:
    env.fails(opcodes.OpInstanceRecreateDisks(instance_name=INST),
              errors.OpPrereqError, "must be stopped")


def test_suffixes_are_documented() -> None:
    doc = instance_replace.__doc__ or ""
    assert instance_replace.NEW_SUFFIX in doc
    assert instance_replace.OLD_SUFFIX in doc


def test_change_secondary_without_room_on_the_new_node(env: Env) -> None:
    env.fake.nodes[NEW].vg_free = 1000   # the mirror needs 1024 + 128
    env.fails(replace(constants.REPLACE_DISK_CHG, remote_node=NEW),
              errors.OpPrereqError,
              f"Not enough free space in volume group xenvg on node {NEW}")
    assert env.fake.nodes[NEW].lvs == {}


def test_new_secondary_dying_mid_sync(env: Env,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drbd_net, "SYNC_POLL", 0.0)
    env.fake.write(INST, "payload")
    real = env.fake._drbd_wait_sync

    def dies(node: Any, *args: Any) -> Any:
        env.fake.kill(NEW)  # the peer dies while the mirror syncs
        return real(node, *args)
    monkeypatch.setattr(env.fake, "_drbd_wait_sync", dies)
    env.fails(replace(constants.REPLACE_DISK_CHG, remote_node=NEW),
              errors.OpExecError, "Cannot follow the resync")
    # Recorded before the sync: the primary's data is intact, the old
    # secondary's volumes are still there (not removed), nothing points
    # at a missing volume on a live node.
    assert env.inst().secondary_nodes == [NEW]
    assert env.fake.data(INST)[P] == "payload"
    assert env.fake.nodes[S].lvs
    assert "STEP 6/6" not in " ".join(env.ctx.messages)
