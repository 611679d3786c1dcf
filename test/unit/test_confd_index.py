"""The confd answers, from a real configuration (config_builders)."""

from __future__ import annotations

from typing import Any

import pytest
from config_builders import make_config, make_node

from ganeti import constants, objects
from ganeti.confd import protocol
from ganeti.confd.index import ConfigIndex
from ganeti.confd.protocol import ErrorCode, NodeRole, ReqType, Status

OK = Status.OK
UNKNOWN = (Status.ERROR, ErrorCode.UNKNOWN_ENTRY)
ARGUMENT = (Status.ERROR, ErrorCode.ARGUMENT)
N1, N2, N3 = (f"node{i}.example.com" for i in (1, 2, 3))


def _config() -> objects.ConfigData:
    """3 candidates + a drained, an offline and a regular node; instances
    with IPs on the default link, one NIC on another link."""
    data = make_config(nodes=3, instances=4)
    for i, (name, kwargs) in enumerate((
            ("node4.example.com", {"drained": True}),
            ("node5.example.com", {"offline": True}),
            ("node6.example.com", {}))):
        data.nodes[name] = make_node(4 + i, master_candidate=False, **kwargs)
    insts = [data.instances[f"inst{k}.example.com"] for k in (1, 2, 3, 4)]
    insts[0].nics[0].ip = "10.0.0.1"
    insts[1].nics[0].ip = "10.0.0.2"
    insts[2].nics[0].ip = "10.0.0.1"  # same IP, other link
    insts[2].nics[0].nicparams = {"link": "br-other"}
    data.serial_no = 42
    return data


@pytest.fixture(scope="module")
def index() -> ConfigIndex:
    return ConfigIndex(_config())


def ask(index: ConfigIndex, rtype: ReqType, query: Any = None) -> Any:
    return index.handlers[rtype](query)


def test_every_request_type_has_a_handler(index: ConfigIndex) -> None:
    assert set(index.handlers) == {int(t) for t in ReqType} - {ReqType.STATS}


def test_ping(index: ConfigIndex) -> None:
    assert ask(index, ReqType.PING) == (OK, "ok")
    assert ask(index, ReqType.PING, "x")[0] == Status.ERROR


@pytest.mark.parametrize(("name", "role"), [
    (N1, NodeRole.MASTER), (N2, NodeRole.CANDIDATE),
    ("node4.example.com", NodeRole.DRAINED),
    ("node5.example.com", NodeRole.OFFLINE),
    ("node6.example.com", NodeRole.REGULAR)])
def test_node_role(index: ConfigIndex, name: str, role: NodeRole) -> None:
    assert ask(index, ReqType.NODE_ROLE_BYNAME, name) == (OK, role)


def test_node_role_errors(index: ConfigIndex) -> None:
    assert ask(index, ReqType.NODE_ROLE_BYNAME, "nope") == UNKNOWN
    assert ask(index, ReqType.NODE_ROLE_BYNAME, ["x"]) == ARGUMENT


def test_pip_lists(index: ConfigIndex) -> None:
    assert ask(index, ReqType.NODE_PIP_LIST) == (
        OK, [f"192.0.2.{i}" for i in range(1, 7)])
    assert ask(index, ReqType.MC_PIP_LIST) == (
        OK, ["192.0.2.1", "192.0.2.2", "192.0.2.3"])


def test_cluster_master(index: ConfigIndex) -> None:
    assert ask(index, ReqType.CLUSTER_MASTER) == (OK, N1)
    fields = {protocol.REQQ_FIELDS: [protocol.REQFIELD_MNODE_PIP,
                                     protocol.REQFIELD_IP,
                                     protocol.REQFIELD_NAME]}
    assert ask(index, ReqType.CLUSTER_MASTER, fields) == (
        OK, ["192.0.2.1", "192.0.2.254", N1])
    assert ask(index, ReqType.CLUSTER_MASTER,
               {protocol.REQQ_FIELDS: ["9"]}) == ARGUMENT
    assert ask(index, ReqType.CLUSTER_MASTER, "x") == ARGUMENT


def test_node_pip_by_instance_ip(index: ConfigIndex) -> None:
    # instK is on node((K-1) mod 3 + 1)
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, "10.0.0.1") == (
        OK, "192.0.2.1")
    other = {protocol.REQQ_LINK: "br-other", protocol.REQQ_IP: "10.0.0.1"}
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, other) == (
        OK, "192.0.2.3")
    many = {protocol.REQQ_IPLIST: ["10.0.0.2", "10.9.9.9", 5]}
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, many) == (
        OK, [[OK, "192.0.2.2"], list(UNKNOWN), list(ARGUMENT)])
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, "10.9.9.9") == UNKNOWN
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, {}) == ARGUMENT
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP, None) == ARGUMENT
    assert ask(index, ReqType.NODE_PIP_BY_INSTANCE_IP,
               {protocol.REQQ_LINK: 3, protocol.REQQ_IP: "x"}) == ARGUMENT


def test_instances_ips_list(index: ConfigIndex) -> None:
    default = index.default_link
    assert default == constants.DEFAULT_BRIDGE
    assert ask(index, ReqType.INSTANCES_IPS_LIST) == (
        OK, ["10.0.0.1", "10.0.0.2"])
    assert ask(index, ReqType.INSTANCES_IPS_LIST, default) == (
        OK, ["10.0.0.1", "10.0.0.2"])
    assert ask(index, ReqType.INSTANCES_IPS_LIST, "br-other") == (
        OK, ["10.0.0.1"])
    assert ask(index, ReqType.INSTANCES_IPS_LIST, "none") == (OK, [])
    assert ask(index, ReqType.INSTANCES_IPS_LIST, 1) == ARGUMENT


def test_node_instances(index: ConfigIndex) -> None:
    # inst3 is DRBD: primary node3, secondary node1
    assert ask(index, ReqType.NODE_INSTANCES, N1) == (
        OK, [["inst1.example.com", "inst4.example.com"],
             ["inst3.example.com"]])
    assert ask(index, ReqType.NODE_INSTANCES, N2) == (
        OK, [["inst2.example.com"], []])
    assert ask(index, ReqType.NODE_INSTANCES, "node6.example.com") == (
        OK, [[], []])
    assert ask(index, ReqType.NODE_INSTANCES, "nope") == UNKNOWN
    assert ask(index, ReqType.NODE_INSTANCES, None) == ARGUMENT


def test_instance_disks(index: ConfigIndex) -> None:
    status, disks = ask(index, ReqType.INSTANCE_DISKS, "inst3.example.com")
    assert status == OK
    assert [d["dev_type"] for d in disks] == [constants.LD_DRBD8]
    assert disks[0]["params"] == index.cluster.fill_disk(constants.DT_DRBD8)
    assert ask(index, ReqType.INSTANCE_DISKS, "nope") == UNKNOWN
    assert ask(index, ReqType.INSTANCE_DISKS, 1) == ARGUMENT


def test_serial(index: ConfigIndex) -> None:
    assert index.serial == 42
