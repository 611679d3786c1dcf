"""gnt-cluster verify's instance checks, each fed stand-in RPC answers,
and the node's half (``node_verify`` listing what runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_verify_support import (
    N1,
    N2,
    N3,
    StandInRpc,
    make_env,
    problems,
    run_verify,
)
from config_builders import instance_name, seq_uuid
from test_backend_instance_support import call, on_node

from ganeti import constants, objects, storage
from ganeti.hypervisor import fake
from ganeti.rpc.result import RpcResult

FILE = constants.DT_FILE
UP1, UP2, DOWN3 = instance_name(1), instance_name(2), instance_name(3)


def disk_path(name: str, idx: int = 0) -> str:
    return f"/srv/ganeti/file-storage/{name}/disk{idx}"


#: inst1 (up, N1), inst2 (up, N2), inst3 (down, N1): file disks.
INSTANCES = [
    {"primary": N1, "disk_template": FILE, "admin_up": True},
    {"primary": N2, "disk_template": FILE, "admin_up": True},
    {"primary": N1, "disk_template": FILE, "admin_up": False},
]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    yield from make_env(tmp_path, INSTANCES)


def verify_codes(cfg: Any, rpc: Any, **kwargs: Any) -> tuple[bool, list[str]]:
    """The verdict and the problems (not the notes), with error codes."""
    ok, lines = run_verify(cfg, rpc, error_codes=True, **kwargs)
    return ok, [line[4:] for line in problems(lines)
                if not line.startswith("  - NOTICE:")]


def failing(cfg: Any, rpc: Any, **kwargs: Any) -> list[str]:
    """The problems of a verify that must find an error."""
    ok, found = verify_codes(cfg, rpc, **kwargs)
    assert not ok, found
    return found


def test_clean_cluster_with_instances(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc, verbose=True)
    assert ok, lines
    assert problems(lines) == [
        "  - NOTICE: 3 non-redundant instance(s) found."]
    for title in ("* Verifying instance status",
                  "* Verifying orphan instances",
                  "* Verifying instance disks"):
        assert title in lines
    # One node_verify for everything, one disk query per node with disks.
    assert sorted(rpc.calls) == ["blockdev_getsizes", "blockdev_getsizes",
                                 "fingerprint_files", "hooks_runner",
                                 "node_info", "node_verify", "node_volumes",
                                 "replica_state"]
    assert {node: [d["logical_id"][1] for d in disks]
            for node, disks in rpc.disk_queries.items()} == {
        N1: [disk_path(UP1), disk_path(DOWN3)], N2: [disk_path(UP2)]}


def _stopped_behind_the_back(rpc: StandInRpc) -> None:
    rpc.running[N2].discard(UP2)


def _started_behind_the_back(rpc: StandInRpc) -> None:
    rpc.running[N1].add(DOWN3)


def _orphan(rpc: StandInRpc) -> None:
    rpc.running[N3] = {"ghost.example.com"}


def _files_removed(rpc: StandInRpc) -> None:
    rpc.missing_disks = {(N1, disk_path(UP1)), (N1, disk_path(DOWN3))}


@pytest.mark.parametrize(("change", "expected"), [
    (_stopped_behind_the_back, [
        f"ERROR:EINSTANCEDOWN:instance:{UP2}:instance not running on its "
        f"primary node {N2}"]),
    (_started_behind_the_back, [
        f"ERROR:EINSTANCEUPWHENDOWN:instance:{DOWN3}:instance is marked as "
        f"down but runs on its primary node {N1}"]),
    (_orphan, [
        f"ERROR:ENODEORPHANINSTANCE:node:{N3}:instance ghost.example.com on "
        f"node {N3} should not exist"]),
    # Missing disks count also for an instance marked down (Ganeti).
    (_files_removed, [
        f"ERROR:EINSTANCEMISSINGDISK:instance:{UP1}:volume {disk_path(UP1)} "
        f"missing on node {N1} (disk/0)",
        f"ERROR:EINSTANCEMISSINGDISK:instance:{DOWN3}:volume "
        f"{disk_path(DOWN3)} missing on node {N1} (disk/0)"]),
])
def test_one_problem_each(env: Any, change: Callable[[StandInRpc], None],
                          expected: list[str]) -> None:
    cfg, rpc = env
    change(rpc)
    assert failing(cfg, rpc) == expected


def test_instance_running_on_another_node(env: Any) -> None:
    cfg, rpc = env
    rpc.running[N3] = {UP1, DOWN3}
    ok, lines = run_verify(cfg, rpc)
    assert not ok
    assert problems(lines) == [
        f"  - ERROR: instance {UP1}: instance should not run on node {N3}",
        f"  - ERROR: instance {DOWN3}: instance should not run on node {N3}",
        "  - NOTICE: 3 non-redundant instance(s) found."]


def test_disk_query_failure(env: Any) -> None:
    cfg, rpc = env
    rpc.fail[(N1, "blockdev_getsizes")] = "Error 111: Connection refused"
    # Only the instance marked up counts its disks as faulty (Ganeti).
    assert failing(cfg, rpc) == [
        f"ERROR:ENODERPC:node:{N1}:while getting disk information: Error "
        "111: Connection refused",
        f"ERROR:EINSTANCEFAULTYDISK:instance:{UP1}:couldn't retrieve status"
        f" for disk/0 on {N1}: Error 111: Connection refused"]


def test_unreachable_primary_is_not_judged(env: Any) -> None:
    cfg, rpc = env
    rpc.fail[(N2, "node_verify")] = "Error 111: Connection refused"
    found = failing(cfg, rpc)
    assert found[:2] == [
        f"ERROR:ENODERPC:node:{N2}:while contacting node: Error 111: "
        "Connection refused",
        f"ERROR:ENODERPC:node:{N2}:instance {UP2}, connection to primary "
        "node failed"]
    assert not any("EINSTANCEDOWN" in line for line in found)
    assert N2 not in rpc.disk_queries


def test_offline_primary(tmp_path: Path) -> None:
    def offline(data: objects.ConfigData) -> None:
        data.nodes[N2].offline = True
        data.nodes[N2].master_candidate = False
        data.cluster.candidate_pool_size = 1

    for cfg, rpc in make_env(tmp_path, INSTANCES, offline):
        assert failing(cfg, rpc) == [
            f"ERROR:EINSTANCEBADNODE:instance:{UP2}:instance lives on offline"
            f" node(s) {N2}"]
        assert N2 not in rpc.disk_queries


@pytest.mark.parametrize(("answer", "reason"), [
    ({"instances": None, "instances_error": "state directory unreadable"},
     "state directory unreadable"),
    ({"instances": "inst2"}, "no instance list in the answer"),
])
def test_node_that_cannot_list_its_instances(
        env: Any, answer: dict[str, Any], reason: str) -> None:
    cfg, rpc = env
    rpc.per_node[N2] = answer
    # Not judged: inst2 is not called down.
    assert failing(cfg, rpc) == [
        f"ERROR:ENODEHV:node:{N2}:rpc call to node failed (instancelist): "
        f"{reason}"]


def test_invalid_disk_answer(env: Any) -> None:
    cfg, rpc = env

    def short_answer(nodes: list[str], disks: list[Any]
                     ) -> dict[str, RpcResult]:
        return {nodes[0]: RpcResult(nodes[0], "blockdev_getsizes",
                                    payload=[])}

    rpc.call_blockdev_getsizes = short_answer
    assert failing(cfg, rpc) == [
        f"ERROR:ENODERPC:node:{N1}:while getting disk information: invalid "
        "answer from the node",
        f"ERROR:ENODERPC:node:{N2}:while getting disk information: invalid "
        "answer from the node",
        f"ERROR:EINSTANCEFAULTYDISK:instance:{UP1}:couldn't retrieve status"
        f" for disk/0 on {N1}: invalid answer from the node",
        f"ERROR:EINSTANCEFAULTYDISK:instance:{UP2}:couldn't retrieve status"
        f" for disk/0 on {N2}: invalid answer from the node"]


def test_disks_without_a_driver_are_not_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A build without the drbd8 driver module.
    monkeypatch.setitem(storage.DRIVERS, constants.LD_DRBD8,
                        ("ganeti.storage.not_built", "Drbd8Device"))
    specs = [{"primary": N1, "disk_template": constants.DT_DRBD8,
              "secondary": N2, "admin_up": True,
              "disks": [_drbd(N1, N2, 11000)]}]

    def ports(data: objects.ConfigData) -> None:
        data.cluster.highest_used_port = 11000

    for cfg, rpc in make_env(tmp_path, specs, ports):
        assert failing(cfg, rpc) == [
            f"ERROR:EINSTANCEFAULTYDISK:instance:{UP1}:couldn't retrieve "
            f"status for disk/0 on {node}: Disk device type drbd8 is not "
            "available in this build" for node in (N1, N2)]
        assert rpc.disk_queries == {}


def _drbd(primary: str, secondary: str, port: int) -> objects.Disk:
    return objects.Disk(dev_type=constants.LD_DRBD8, size=64,
                        logical_id=[primary, secondary, port, 0, 0, "s"],
                        iv_name="disk/0", uuid=seq_uuid())


def test_multiple_secondaries_is_a_layout_warning(tmp_path: Path) -> None:
    specs = [{"primary": N1, "disk_template": constants.DT_DRBD8,
              "secondary": N2, "admin_up": False,
              "disks": [_drbd(N1, N2, 11000), _drbd(N1, N3, 11001)]}]

    def ports(data: objects.ConfigData) -> None:
        data.cluster.highest_used_port = 11001

    for cfg, rpc in make_env(tmp_path, specs, ports):
        ok, found = verify_codes(cfg, rpc)
        assert ok, found
        assert found == [
            f"WARNING:EINSTANCELAYOUT:instance:{UP1}:instance has multiple "
            f"secondary nodes: {N2}, {N3}"]


def test_simulated_errors_cover_the_instance_checks(env: Any) -> None:
    cfg, rpc = env
    rpc.running[N3] = {"ghost.example.com"}
    found = failing(cfg, rpc, debug_simulate_errors=True)
    codes = {line.split(":")[1] for line in found}
    assert {"EINSTANCEDOWN", "EINSTANCEUPWHENDOWN", "EINSTANCEWRONGNODE",
            "ENODEORPHANINSTANCE", "EINSTANCEMISSINGDISK",
            "EINSTANCEBADNODE", "EINSTANCELAYOUT"} <= codes


# --- the node's half -------------------------------------------------------------

def test_node_verify_lists_the_running_instances(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "4096")
    with on_node(tmp_path / "node1"):
        hv = fake.FakeHypervisor()
        for name in ("b.example.com", "a.example.com"):
            inst = objects.Instance(name=name, primary_node="n1",
                                    hypervisor=constants.HT_FAKE,
                                    disk_template=constants.DT_DISKLESS)
            hv.start_instance(inst, [], {}, {"maxmem": 64, "vcpus": 1}, [])
        answer = call("node_verify", [constants.HT_FAKE])
        assert answer["instances"] == ["a.example.com", "b.example.com"]
        assert "instances_error" not in answer
        hv.inject_fault("list_instances", "state directory unreadable")
        answer = call("node_verify", [constants.HT_FAKE])
        assert answer["instances_error"] == "state directory unreadable"
        assert "instances" not in answer
        assert answer["protocol"] == constants.PROTOCOL_VERSION


def test_volume_groups_and_orphan_volumes(tmp_path: Path) -> None:
    specs = [{"primary": N1, "disk_template": FILE, "admin_up": False}]
    for cfg, rpc in make_env(tmp_path, specs):
        rpc.vg_info[N2] = {"vg_size": 1024, "vg_free": 1024}
        rpc.vg_info[N3] = {"vg_size": None, "vg_free": None,
                           "vg_error": "volume group xenvg does not exist"}
        rpc.extra_volumes[N1] = [["xenvg", "leftover.disk0", 64, ["/dev/sda1"]]]
        assert sorted(failing(cfg, rpc)) == [
            f"ERROR:ENODELVM:node:{N2}:volume group xenvg is too small"
            " (1024 MiB < 20480 MiB)",
            f"ERROR:ENODELVM:node:{N3}:volume group xenvg does not exist",
            f"ERROR:ENODEORPHANLV:node:{N1}:volume xenvg/leftover.disk0 is"
            " unknown"]


def test_plain_disks_are_known_volumes(tmp_path: Path) -> None:
    disk = objects.Disk(dev_type=constants.LD_LV, size=64,
                        logical_id=["xenvg", "u1.disk0"], iv_name="disk/0",
                        uuid=seq_uuid())
    specs = [{"primary": N1, "disk_template": constants.DT_PLAIN,
              "admin_up": False, "disks": [disk]}]
    for cfg, rpc in make_env(tmp_path, specs):
        ok, found = verify_codes(cfg, rpc)
        assert ok and found == [], found
        # The same volume on another node than the primary is an orphan.
        rpc.extra_volumes[N2] = [["xenvg", "u1.disk0", 64, ["/dev/sda1"]]]
        assert failing(cfg, rpc) == [
            f"ERROR:ENODEORPHANLV:node:{N2}:volume xenvg/u1.disk0 is unknown"]


def _narrow_policy(data: Any) -> None:
    """A policy of instances with 512 MiB of memory at least (the
    builder's have 256) in the group of every node."""
    from config_builders import GROUP_UUID
    data.nodegroups[GROUP_UUID].ipolicy = {"minmax": [{
        "min": {"memory-size": 512, "cpu-count": 1, "disk-count": 1,
                "disk-size": 1, "nic-count": 1, "spindle-use": 1},
        "max": {"memory-size": 32768, "cpu-count": 8, "disk-count": 16,
                "disk-size": 1048576, "nic-count": 8, "spindle-use": 12}}],
        "std": {"memory-size": 512}}


def test_instance_policy_violations_are_reported(tmp_path: Path) -> None:
    for cfg, rpc in make_env(tmp_path, INSTANCES, tweak=_narrow_policy):
        found = failing(cfg, rpc)
        assert [line for line in found if "EINSTANCEPOLICY" in line] == [
            f"ERROR:EINSTANCEPOLICY:instance:{name}:instance violates "
            "policy: memory-size value 256 is not in range [512, 32768]"
            for name in ("inst1.example.com", "inst2.example.com",
                         "inst3.example.com")]
        ok, _ = verify_codes(cfg, rpc, ignore_errors=["EINSTANCEPOLICY"])
        assert ok


def test_each_group_policy_is_filled_once(tmp_path: Path) -> None:
    # 10,000 instances took 2.5 s of verify: the group (a deep copy) and
    # its filled policy were taken again for every instance.
    from unittest import mock

    for cfg, rpc in make_env(tmp_path, INSTANCES, tweak=_narrow_policy):
        real = objects.Cluster.fill_ipolicy
        with mock.patch.object(objects.Cluster, "fill_ipolicy",
                               autospec=True, side_effect=real) as fill:
            found = failing(cfg, rpc)
        assert len([line for line in found if "EINSTANCEPOLICY" in line]) == 3
        # Once per group (one here) by the configuration check and by the
        # policy check; not once per instance.
        assert fill.call_count == 2
