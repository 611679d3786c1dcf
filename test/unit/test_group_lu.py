"""Node group operations and instance policy enforcement, through the
processor (real ConfigWriter, lock manager and in-process RPC)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import NODE1, NODE2, Env, create_op, install_os, lu_env

from ganeti import constants, errors, locking, opcodes

INST = "inst1.example.com"
#: A policy whose bounds refuse disks under 1 GiB and over 2 CPUs.
NARROW = {"minmax": [{
    "min": {"memory-size": 128, "cpu-count": 1, "disk-count": 1,
            "disk-size": 1024, "nic-count": 1, "spindle-use": 1},
    "max": {"memory-size": 32768, "cpu-count": 2, "disk-count": 16,
            "disk-size": 1048576, "nic-count": 8, "spindle-use": 12}}]}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def fails(env: Env, op: opcodes.OpCode, fragment: str,
          exc: type[Exception] = errors.OpPrereqError) -> None:
    serial = env.cfg.get_serial_no()
    with pytest.raises(exc) as info:
        env.run(op)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert env.cfg.get_serial_no() == serial


def group_rows(env: Env, *fields: str) -> list[list[Any]]:
    rows: list[list[Any]] = env.run(opcodes.OpGroupQuery(
        output_fields=list(fields)))
    return rows


def test_group_life_cycle(env: Env) -> None:
    uuid = env.run(opcodes.OpGroupAdd(group_name="rack2",
                                      alloc_policy="last_resort",
                                      ipolicy={"vcpu-ratio": 2}))
    assert uuid in env.proc.glm.names(locking.LEVEL_NODEGROUP)
    env.run(opcodes.OpGroupAssignNodes(group_name="rack2", nodes=[NODE2]))
    assert group_rows(env, "name", "node_list", "alloc_policy") == [
        ["default", [NODE1], "preferred"],
        ["rack2", [NODE2], "last_resort"]]
    env.run(opcodes.OpGroupRename(group_name="rack2", new_name="rack3"))
    env.run(opcodes.OpGroupSetParams(group_name="rack3",
                                     ipolicy={"vcpu-ratio": "default",
                                              "std": {"memory-size": 256}},
                                     alloc_policy="unallocable"))
    ((own, policy),) = [r[1:] for r in group_rows(
        env, "name", "custom_ipolicy", "ipolicy") if r[0] == "rack3"]
    assert own == {"std": {"memory-size": 256}}
    assert policy["vcpu-ratio"] == 4.0 and policy["std"]["cpu-count"] == 1
    env.run(opcodes.OpTagsSet(kind=constants.TAG_NODEGROUP, name="rack3",
                              tags=["rack:3"]))
    assert env.run(opcodes.OpTagsGet(kind=constants.TAG_NODEGROUP,
                                     name="rack3")) == ["rack:3"]
    rows = env.run(opcodes.OpNodeQuery(output_fields=["name", "group"]))
    assert rows == [[NODE1, "default"], [NODE2, "rack3"]]
    fails(env, opcodes.OpGroupRemove(group_name="rack3"), "not empty")
    env.run(opcodes.OpGroupAssignNodes(group_name="default", nodes=[NODE2]))
    env.run(opcodes.OpGroupRemove(group_name="rack3"))
    assert group_rows(env, "name") == [["default"]]


def test_bad_group_input_changes_nothing(env: Env) -> None:
    fails(env, opcodes.OpGroupAdd(group_name="default"), "already exists")
    fails(env, opcodes.OpGroupAdd(group_name="g", ipolicy={"minmax": [{
        "min": {**NARROW["minmax"][0]["min"], "cpu-count": 4},
        "max": NARROW["minmax"][0]["max"]}]}), "min 4 is above max 2")
    fails(env, opcodes.OpGroupAdd(group_name="g", ipolicy={
        "std": {"memory-sise": 1}}), "unknown spec name(s) memory-sise")
    fails(env, opcodes.OpGroupAdd(group_name="g", ipolicy={
        "spindle-ratio": -1}), "spindle-ratio must be a positive number")
    fails(env, opcodes.OpGroupAdd(group_name="g", ipolicy={
        "std": {"memory-size": 64}, **NARROW}),
        "std memory-size 64 is not within")
    fails(env, opcodes.OpGroupRemove(group_name="default"), "not empty")
    fails(env, opcodes.OpGroupRemove(group_name="nosuch"), "not found")
    fails(env, opcodes.OpGroupAssignNodes(group_name="nosuch",
                                          nodes=[NODE1]), "not found")
    fails(env, opcodes.OpGroupEvacuate(group_name="default",
                                       target_groups=["default"]),
          "own evacuation")
    fails(env, opcodes.OpClusterSetParams(ipolicy={"vcpu-ratio": 0}),
          "vcpu-ratio must be a positive number")


def test_cluster_policy_change_is_checked_against_groups(env: Env) -> None:
    env.run(opcodes.OpGroupAdd(group_name="rack2",
                               ipolicy={"std": {"cpu-count": 4}}))
    fails(env, opcodes.OpClusterSetParams(ipolicy=NARROW),
          "in node group rack2")
    env.run(opcodes.OpClusterSetParams(ipolicy={"vcpu-ratio": 8}))
    assert env.cfg.get_cluster().ipolicy["vcpu-ratio"] == 8.0


def test_group_node_parameters_are_checked_and_filled(env: Env) -> None:
    fails(env, opcodes.OpGroupAdd(group_name="g", ndparams={"no_such": 1}),
          "no_such")
    fails(env, opcodes.OpGroupAdd(group_name="g",
                                  ndparams={"spindle_count": "many"}),
          "spindle_count")
    # Like the cluster (and unlike a node), a group may set the global
    # exclusive_storage.
    env.run(opcodes.OpGroupAdd(group_name="rack2", ndparams={
        "spindle_count": "3", "exclusive_storage": True}))
    env.run(opcodes.OpGroupAssignNodes(group_name="rack2", nodes=[NODE2]))
    ((own, filled),) = [r[1:] for r in group_rows(
        env, "name", "custom_ndparams", "ndparams") if r[0] == "rack2"]
    assert own == {"spindle_count": 3, "exclusive_storage": True}
    assert filled["spindle_count"] == 3 and filled["ssh_port"] == 22
    env.run(opcodes.OpNodeSetParams(node_name=NODE2,
                                    ndparams={"ssh_port": 2222}))
    rows = env.run(opcodes.OpNodeQuery(output_fields=["name", "ndparams"]))
    nd = dict((name, value) for name, value in rows)
    assert nd[NODE2]["spindle_count"] == 3  # the group's
    assert nd[NODE2]["exclusive_storage"] is True
    assert nd[NODE2]["ssh_port"] == 2222  # the node's own
    assert nd[NODE1]["spindle_count"] == 1  # the declared default
    fails(env, opcodes.OpGroupSetParams(group_name="rack2",
                                        ndparams={"ssh_port": 0}), "ssh_port")
    env.run(opcodes.OpGroupSetParams(group_name="rack2",
                                     ndparams={"spindle_count": "default"}))
    assert group_rows(env, "name", "custom_ndparams")[1] == [
        "rack2", {"exclusive_storage": True}]


def test_instance_policy_judges_maxmem_and_spindle_use(env: Env) -> None:
    install_os(env)
    env.run(opcodes.OpClusterSetParams(ipolicy={"minmax": [{
        "min": {**NARROW["minmax"][0]["min"], "disk-size": 1},
        "max": {**NARROW["minmax"][0]["max"], "memory-size": 512,
                "spindle-use": 2}}]}))
    fails(env, create_op(beparams={"maxmem": 1024, "minmem": 256}),
          "memory-size value 1024 is not in range [128, 512]")
    fails(env, create_op(beparams={"memory": 1024}),
          "memory-size value 1024 is not in range [128, 512]")
    fails(env, create_op(beparams={"spindle_use": 3}),
          "spindle-use value 3 is not in range [1, 2]")
    env.run(create_op(beparams={"maxmem": 512, "minmem": 256}))
    fails(env, opcodes.OpInstanceSetParams(instance_name=INST,
                                           beparams={"maxmem": 768}),
          "memory-size value 768")


def test_instance_policy_refusal_and_override(env: Env) -> None:
    install_os(env)
    env.run(opcodes.OpClusterSetParams(ipolicy=NARROW))
    fails(env, create_op(), "disk-size value 64 is not in range [1024, "
          "1048576]")
    assert env.cfg.get_instance(INST) is None
    env.run(create_op(ignore_ipolicy=True))
    assert any("violates the instance policy" in m
               for m in env.ctx.messages)
    # A change that brings a new violation is refused; others pass.
    fails(env, opcodes.OpInstanceSetParams(instance_name=INST,
                                           beparams={"vcpus": 4}),
          "cpu-count value 4 is not in range [1, 2]")
    env.run(opcodes.OpInstanceSetParams(instance_name=INST,
                                         beparams={"vcpus": 2}))
    fails(env, opcodes.OpInstanceGrowDisk(instance_name=INST, disk=0,
                                          amount=2 << 20),
          "disk-size value")
    # The group of the primary node decides: its own bounds apply.
    env.run(opcodes.OpGroupSetParams(group_name="default", ipolicy={
        "minmax": [{"min": {**NARROW["minmax"][0]["min"], "disk-size": 1},
                    "max": NARROW["minmax"][0]["max"]}],
        "disk-templates": ["file", "plain"]}))
    env.run(create_op(name="inst2.example.com",
                      nics=[{"mode": "routed", "ip": "192.0.2.51"}]))
    fails(env, create_op(name="inst3.example.com",
                         nics=[{"mode": "routed", "ip": "192.0.2.52"}],
                         disk_template=constants.DT_DISKLESS, disks=[]),
          "Disk template diskless is not allowed")


def test_generic_group_query_and_tag_search(env: Env) -> None:
    env.run(opcodes.OpGroupAdd(group_name="rack_2"))  # not a host name
    env.run(opcodes.OpTagsSet(kind=constants.TAG_NODEGROUP, name="rack_2",
                              tags=["site:a"]))
    result = env.run(opcodes.OpQuery(what="group",
                                     output_fields=["name", "node_cnt"]))
    assert result["data"] == [[[0, "default"], [0, 2]],
                              [[0, "rack_2"], [0, 0]]]
    assert env.run(opcodes.OpTagsSearch(pattern="^site:")) == [
        ["/nodegroup/rack_2", "site:a"]]
    fails(env, opcodes.OpGroupEvacuate(group_name="nosuch"), "not found")
    assert env.run(opcodes.OpGroupEvacuate(group_name="rack_2")) == []
    # A node's tags still need a host name.
    with pytest.raises(errors.OpPrereqError, match="expected a host name"):
        opcodes.OpTagsSet(kind=constants.TAG_NODE, name="rack_2",
                          tags=["x"]).validate_all()


def test_evacuating_a_group_with_instances_is_refused(env: Env) -> None:
    install_os(env)
    env.run(create_op())
    fails(env, opcodes.OpGroupEvacuate(group_name="default"),
          "needs an iallocator to place 1 instance(s)")


def test_assign_nodes_refuses_to_split_a_mirror_unless_forced(
        env: Env) -> None:
    from config_builders import make_instance
    inst = make_instance(7, NODE1, secondary=NODE2,
                         disk_template=constants.DT_DRBD8,
                         port=env.cfg.allocate_port())
    env.cfg.add_instance(inst)
    glm = env.proc.glm
    glm.acquire(locking.LEVEL_CLUSTER, None)
    try:
        glm.add(locking.LEVEL_INSTANCE, [inst.name])
    finally:
        glm.release(locking.LEVEL_CLUSTER)
    env.run(opcodes.OpGroupAdd(group_name="rack2"))
    fails(env, opcodes.OpGroupAssignNodes(group_name="rack2", nodes=[NODE2]),
          f"would split instance(s) {inst.name} between node groups; use "
          "--force")
    env.run(opcodes.OpGroupAssignNodes(group_name="rack2", nodes=[NODE2],
                                       force=True))
    assert any("would split" in m for m in env.ctx.messages)
    rows = env.run(opcodes.OpInstanceQuery(
        names=[inst.name], output_fields=["pnode.group", "snodes.group"]))
    assert rows == [["default", ["rack2"]]]
