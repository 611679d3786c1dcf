"""verify_config: every class of problem is found, one line each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from config_builders import make_config, make_instance, node_name, write_config

from ganeti import constants, objects
from ganeti.config import ConfigWriter, verify_config

Mutation = Callable[[objects.ConfigData], None]


def inst(data: objects.ConfigData, i: int) -> objects.Instance:
    return data.instances[f"inst{i}.example.com"]


def problems_after(mutate: Mutation, nodes: int = 3,
                   instances: int = 6) -> list[str]:
    data = make_config(nodes, instances)
    assert verify_config(data) == []
    mutate(data)
    return verify_config(data)


def _drop_master(d: objects.ConfigData) -> None:
    d.cluster.master_node = "gone.example.com"


def _dangling_primary(d: objects.ConfigData) -> None:
    inst(d, 1).primary_node = "ghost.example.com"


def _dangling_secondary(d: objects.ConfigData) -> None:
    inst(d, 3).disks[0].logical_id[1] = "ghost2.example.com"


def _dup_node_name(d: objects.ConfigData) -> None:
    node = d.nodes[node_name(2)].copy()
    node.name = "NODE2.example.com"
    node.uuid = "11111111-1111-4111-8111-111111111111"
    node.primary_ip, node.secondary_ip = "192.0.2.50", "192.0.2.51"
    d.nodes[node.name] = node


def _dup_instance_name(d: objects.ConfigData) -> None:
    new = make_instance(40, node_name(1), name="Inst1.example.com")
    d.instances[new.name] = new


def _misfiled(d: objects.ConfigData) -> None:
    d.instances["other.example.com"] = d.instances.pop("inst2.example.com")


def _dup_uuid(d: objects.ConfigData) -> None:
    inst(d, 2).uuid = d.nodes[node_name(1)].uuid


def _dup_nested_uuid(d: objects.ConfigData) -> None:
    inst(d, 2).disks[0].uuid = inst(d, 1).nics[0].uuid


def _dup_mac(d: objects.ConfigData) -> None:
    inst(d, 2).nics[0].mac = inst(d, 1).nics[0].mac.upper()


def _dup_ip_same_link(d: objects.ConfigData) -> None:
    inst(d, 1).nics[0].ip = "203.0.113.5"
    inst(d, 2).nics[0].ip = "203.0.113.5"


def _dup_node_ip(d: objects.ConfigData) -> None:
    d.nodes[node_name(3)].secondary_ip = d.nodes[node_name(2)].primary_ip


def _bad_cluster_hvparams(d: objects.ConfigData) -> None:
    d.cluster.hvparams[constants.HT_FAKE]["bogus_param"] = 1


def _bad_cluster_beparams(d: objects.ConfigData) -> None:
    d.cluster.beparams["default"]["maxmem"] = "a lot"


def _bad_cluster_nicparams(d: objects.ConfigData) -> None:
    d.cluster.nicparams["default"]["mode"] = "tunnelled"


def _bad_cluster_diskparams(d: objects.ConfigData) -> None:
    d.cluster.diskparams[constants.DT_PLAIN]["no_such"] = 1


def _bad_os_hvp(d: objects.ConfigData) -> None:
    d.cluster.os_hvp["debian-image"] = {constants.HT_FAKE: {"nonsense": 1}}


def _bad_instance_hvparams(d: objects.ConfigData) -> None:
    inst(d, 1).hvparams = {"nonsense": True}


def _bad_instance_beparams(d: objects.ConfigData) -> None:
    inst(d, 1).beparams = {"vcpus": 0}


def _bad_nic_params(d: objects.ConfigData) -> None:
    inst(d, 1).nics[0].nicparams = {"colour": "blue"}


def _bad_disk_params(d: objects.ConfigData) -> None:
    inst(d, 1).disks[0].params = {"no_such_disk_param": 1}


def _routed_without_ip(d: objects.ConfigData) -> None:
    inst(d, 1).nics[0].nicparams = {"mode": constants.NIC_MODE_ROUTED}


def _hv_not_enabled(d: objects.ConfigData) -> None:
    inst(d, 1).hypervisor = constants.HT_KVM


def _dup_network_port(d: objects.ConfigData) -> None:
    port = inst(d, 3).disks[0].logical_id[2]
    inst(d, 1).network_port = port


def _dup_drbd_port(d: objects.ConfigData) -> None:
    inst(d, 6).disks[0].logical_id[2] = inst(d, 3).disks[0].logical_id[2]


def _port_in_pool(d: objects.ConfigData) -> None:
    d.cluster.tcpudp_port_pool = [inst(d, 3).disks[0].logical_id[2]]


def _port_above_highest(d: objects.ConfigData) -> None:
    d.cluster.highest_used_port = constants.FIRST_DRBD_PORT - 1


def _too_few_candidates(d: objects.ConfigData) -> None:
    d.nodes[node_name(2)].master_candidate = False


def _drained_candidate(d: objects.ConfigData) -> None:
    d.nodes[node_name(3)].drained = True


def _master_not_candidate(d: objects.ConfigData) -> None:
    d.nodes[node_name(1)].master_candidate = False
    d.cluster.candidate_pool_size = 2


CASES: dict[str, tuple[Mutation, str]] = {
    "master missing": (_drop_master, "cluster: master node gone.example.com "
                       "is not in the configuration"),
    "dangling primary": (_dangling_primary, "instance inst1.example.com: "
                         "primary node ghost.example.com is not in"),
    "dangling secondary": (_dangling_secondary, "instance inst3.example.com:"
                           " secondary node ghost2.example.com is not in"),
    "duplicate node name": (_dup_node_name, "duplicate node name (names are "
                            "case-insensitive): NODE2.example.com, "
                            "node2.example.com"),
    "duplicate instance name": (_dup_instance_name, "duplicate instance name"
                                " (names are case-insensitive): "
                                "Inst1.example.com, inst1.example.com"),
    "misfiled": (_misfiled, "instance inst2.example.com is stored under the "
                 "name other.example.com"),
    "duplicate uuid": (_dup_uuid, "used by node node1.example.com, instance "
                       "inst2.example.com"),
    "duplicate nested uuid": (_dup_nested_uuid, "used by instance "
                              "inst1.example.com nic/0, instance "
                              "inst2.example.com disk disk/0"),
    "duplicate mac": (_dup_mac, "duplicate MAC address aa:00:00:00:01:00 "
                      "used by inst1.example.com nic/0, inst2.example.com"),
    "duplicate ip": (_dup_ip_same_link, "duplicate IP address 203.0.113.5 on"
                     " link xen-br0 used by inst1.example.com nic/0, "
                     "inst2.example.com nic/0"),
    "duplicate node ip": (_dup_node_ip, "duplicate node IP 192.0.2.2 used by"
                          " nodes node2.example.com, node3.example.com"),
    "cluster hvparams": (_bad_cluster_hvparams, "bogus_param"),
    "cluster beparams": (_bad_cluster_beparams, "maxmem"),
    "cluster nicparams": (_bad_cluster_nicparams, "tunnelled"),
    "cluster diskparams": (_bad_cluster_diskparams, "no_such"),
    "os_hvp": (_bad_os_hvp, "os_hvp 'debian-image'"),
    "instance hvparams": (_bad_instance_hvparams,
                          "instance inst1.example.com: Unknown hypervisor "
                          "parameter 'nonsense'"),
    "instance beparams": (_bad_instance_beparams,
                          "instance inst1.example.com: beparams"),
    "nic params": (_bad_nic_params, "instance inst1.example.com nic/0: "
                   "Unknown NIC parameter 'colour'"),
    "disk params": (_bad_disk_params, "instance inst1.example.com disk/0: "
                    "Unknown disk parameter 'no_such_disk_param'"),
    "routed without ip": (_routed_without_ip, "instance inst1.example.com "
                          "nic/0: routed NIC without an IP address"),
    "hypervisor not enabled": (_hv_not_enabled, "instance inst1.example.com:"
                               " hypervisor kvm is not enabled"),
    "duplicate network port": (_dup_network_port, "duplicate port 11000 used"
                               " by inst1.example.com (network port), "
                               "inst3.example.com (DRBD)"),
    "duplicate drbd port": (_dup_drbd_port, "duplicate port 11000 used by "
                            "inst3.example.com (DRBD), inst6.example.com"),
    "port in pool": (_port_in_pool, "cluster: port 11000 is in the free port"
                     " pool but used by inst3.example.com (DRBD)"),
    "port above highest": (_port_above_highest, "cluster: highest_used_port "
                           "is 10999 but port 11001 is in use"),
    "candidate pool": (_too_few_candidates, "cluster: 2 master candidate(s) "
                       "but 3 wanted"),
    "drained candidate": (_drained_candidate, "node node3.example.com: is a "
                          "master candidate but drained"),
    "master not candidate": (_master_not_candidate, "node node1.example.com:"
                             " the master node is not a master candidate"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_reported(case: str) -> None:
    mutate, expected = CASES[case]
    problems = problems_after(mutate)
    assert any(expected in p for p in problems), problems
    assert all(p and "\n" not in p for p in problems)


def test_consistent_configs_have_no_problems() -> None:
    for nodes, instances in [(1, 0), (1, 5), (2, 9), (12, 30)]:
        assert verify_config(make_config(nodes, instances)) == []


def test_candidate_pool_counts_only_eligible_nodes() -> None:
    data = make_config(4, 0, candidate_pool_size=10)
    for name in (node_name(3), node_name(4)):
        data.nodes[name].master_candidate = False
        data.nodes[name].offline = True
    assert verify_config(data) == []  # 2 of min(10, 2 eligible)
    data.nodes[node_name(2)].master_candidate = False
    assert any("1 master candidate(s) but 2 wanted" in p
               for p in verify_config(data))


def test_same_ip_on_different_links_is_fine() -> None:
    data = make_config(2, 2)
    inst(data, 1).nics[0].ip = "203.0.113.9"
    inst(data, 2).nics[0].ip = "203.0.113.9"
    inst(data, 2).nics[0].nicparams = {"link": "br1"}
    assert verify_config(data) == []


def test_several_problems_all_reported() -> None:
    def mutate(d: objects.ConfigData) -> None:
        _dup_mac(d)
        _hv_not_enabled(d)
        _dangling_primary(d)

    problems = problems_after(mutate)
    assert len(problems) >= 3


def test_writer_verify_config(tmp_path: Path) -> None:
    data = make_config(2, 2)
    _dup_mac(data)
    path = write_config(tmp_path / "config.data", data)
    with ConfigWriter(path) as cfg:
        problems = cfg.verify_config()
    assert len(problems) == 1 and "duplicate MAC" in problems[0]
