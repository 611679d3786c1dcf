"""Config objects: codec round trip, derived properties, tags."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import constants, errors, objects

names = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.example\.com)?", fullmatch=True)
ips = st.ip_addresses(v=4).map(str)
macs = st.lists(st.integers(0, 255), min_size=3, max_size=3).map(
    lambda b: "aa:00:00:" + ":".join(f"{x:02x}" for x in b))
params = st.dictionaries(
    st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
    st.one_of(st.integers(-5, 10**6), st.booleans(), st.text(max_size=8),
              st.none()), max_size=4)

nics = st.builds(objects.NIC, mac=macs, ip=st.none() | ips, nicparams=params)
leaf_disks = st.builds(
    objects.Disk, dev_type=st.sampled_from(sorted(constants.LOGICAL_DISK_TYPES)),
    size=st.integers(0, 10**7), logical_id=st.lists(st.text(max_size=5),
                                                    max_size=3),
    mode=st.sampled_from(["rw", "ro"]), params=params,
    iv_name=st.text(max_size=6))
disks = st.builds(objects.Disk, dev_type=st.just(constants.LD_DRBD8),
                  size=st.integers(0, 10**7), children=st.lists(leaf_disks,
                                                                max_size=2),
                  logical_id=st.lists(names, min_size=2, max_size=2)) | leaf_disks
tags = st.lists(st.from_regex(r"[a-z:]{1,8}", fullmatch=True), max_size=3,
                unique=True).map(sorted)

instances = st.builds(
    objects.Instance, name=names, primary_node=names,
    hypervisor=st.sampled_from(sorted(constants.HYPER_TYPES)),
    disk_template=st.sampled_from(sorted(constants.DISK_TEMPLATES)),
    os=st.text(max_size=8), hvparams=params, beparams=params,
    osparams=params, admin_up=st.booleans(), nics=st.lists(nics, max_size=3),
    disks=st.lists(disks, max_size=3), tags=tags,
    network_port=st.none() | st.integers(1, 65535))
nodes = st.builds(objects.Node, name=names, primary_ip=ips, secondary_ip=ips,
                  master_candidate=st.booleans(), offline=st.booleans(),
                  drained=st.booleans(), tags=tags)
clusters = st.builds(
    objects.Cluster, cluster_name=names, master_node=names, master_ip=ips,
    hvparams=st.dictionaries(st.sampled_from(["kvm", "fake"]), params),
    nicparams=st.dictionaries(st.just("default"), params),
    diskparams=st.dictionaries(st.sampled_from(["plain", "drbd"]), params),
    osparams=st.dictionaries(names, params, max_size=2), tags=tags,
    redist_files=st.lists(st.builds(
        objects.RedistFile, path=st.just("/etc/x"),
        target=st.sampled_from(["all", "candidates"])), max_size=2))
documents = st.builds(
    objects.ConfigData, cluster=clusters,
    nodes=st.lists(nodes, max_size=3).map(lambda ns: {n.name: n for n in ns}),
    instances=st.lists(instances, max_size=3).map(
        lambda xs: {i.name: i for i in xs}))


@settings(max_examples=60, deadline=None)
@given(documents)
def test_config_document_round_trips_through_json(doc: objects.ConfigData) -> None:
    text = json.dumps(doc.to_dict())
    assert objects.ConfigData.from_dict(json.loads(text)) == doc


def test_secondary_nodes_from_drbd_logical_id() -> None:
    drbd = objects.Disk(dev_type=constants.LD_DRBD8, size=10,
                        logical_id=["n1", "n2", 11000, 0, 0, "secret"],
                        children=[objects.Disk(dev_type="lvm", size=10)])
    inst = objects.Instance(name="i1", primary_node="n1", hypervisor="kvm",
                            disk_template="drbd", disks=[drbd])
    assert inst.secondary_nodes == ["n2"]
    assert inst.all_nodes == ["n1", "n2"]


def test_node_roles() -> None:
    node = objects.Node(name="n1", primary_ip="192.0.2.1",
                        secondary_ip="192.0.2.1")
    assert node.role == "R"
    node.master_candidate = True
    assert node.role == "C"
    node.drained = True
    assert node.role == "D"
    node.offline = True
    assert node.role == "O"


def test_tags() -> None:
    node = objects.Node(name="n1", primary_ip="192.0.2.1",
                        secondary_ip="192.0.2.1")
    node.add_tag("b")
    node.add_tag("a")
    node.add_tag("a")
    assert node.tags == ["a", "b"]
    node.remove_tag("a")
    assert node.tags == ["b"]
    with pytest.raises(errors.TagError, match="not found"):
        node.remove_tag("zzz")
    with pytest.raises(errors.TagError, match="Invalid tag"):
        node.add_tag("has space")


def test_bad_values_are_configuration_errors() -> None:
    with pytest.raises(errors.ConfigurationError, match=r"Instance\.disk_template"):
        objects.Instance.from_dict({"name": "i1", "primary_node": "n1",
                                    "hypervisor": "kvm",
                                    "disk_template": "floppy"})
    with pytest.raises(errors.ConfigurationError, match=r"NIC\.mac"):
        objects.NIC.from_dict({"mac": "nope"})


def test_uuids_are_unique_and_persistent() -> None:
    a = objects.Node(name="n1", primary_ip="192.0.2.1", secondary_ip="192.0.2.1")
    b = objects.Node(name="n2", primary_ip="192.0.2.2", secondary_ip="192.0.2.2")
    assert a.uuid != b.uuid
    assert objects.Node.from_dict(a.to_dict()).uuid == a.uuid
