"""Property tests: any valid ConfigData survives save/load unchanged, and
the incremental encoder always equals a full encode."""

from __future__ import annotations

import os
import tempfile

from config_builders import make_config, make_instance, node_name, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import constants, ipolicy, objects, serializer
from ganeti.config import ConfigWriter, DocumentEncoder, NameIndex, journal

labels = st.from_regex(r"[a-z][a-z0-9-]{0,6}[a-z0-9]", fullmatch=True)
names = st.builds(lambda a, b: f"{a}.{b}", labels, st.sampled_from(
    ["example.com", "example.org", "test"]))
ips = st.ip_addresses(v=4).map(str)
macs = st.binary(min_size=3, max_size=3).map(
    lambda b: "aa:00:00:" + ":".join(f"{x:02x}" for x in b))
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
serials = st.integers(0, 10**6)
values = st.one_of(st.integers(-10**6, 10**6), st.booleans(),
                   st.text(max_size=8), st.none(),
                   st.floats(allow_nan=False, allow_infinity=False))
params = st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
                         values, max_size=3)
tags = st.lists(st.from_regex(r"[a-z0-9:]{1,8}", fullmatch=True),
                max_size=3, unique=True).map(sorted)

nics = st.builds(objects.NIC, mac=macs, ip=st.none() | ips, nicparams=params)
lv_disks = st.builds(
    objects.Disk, dev_type=st.just(constants.LD_LV), size=st.integers(0, 10**7),
    logical_id=st.lists(st.text(max_size=6), max_size=2),
    mode=st.sampled_from(sorted(constants.DISK_ACCESS_SET)), params=params,
    iv_name=st.text(max_size=6))
drbd_disks = st.builds(
    objects.Disk, dev_type=st.just(constants.LD_DRBD8),
    size=st.integers(0, 10**7), children=st.lists(lv_disks, max_size=2),
    logical_id=st.tuples(names, names, st.integers(11000, 14999),
                         st.integers(0, 20), st.integers(0, 20),
                         st.text(max_size=8)).map(list))
instances = st.builds(
    objects.Instance, name=names, primary_node=names,
    hypervisor=st.sampled_from(sorted(constants.HYPER_TYPES)),
    disk_template=st.sampled_from(sorted(constants.DISK_TEMPLATES)),
    os=st.text(max_size=8), hvparams=params, beparams=params, osparams=params,
    admin_up=st.booleans(), nics=st.lists(nics, max_size=2),
    disks=st.lists(lv_disks | drbd_disks, max_size=2), tags=tags,
    network_port=st.none() | st.integers(1, 65535), serial_no=serials,
    ctime=times, mtime=times)
nodes = st.builds(objects.Node, name=names, primary_ip=ips, secondary_ip=ips,
                  master_candidate=st.booleans(), offline=st.booleans(),
                  drained=st.booleans(), tags=tags, serial_no=serials,
                  ctime=times, mtime=times)
spec_values = st.fixed_dictionaries({
    name: st.integers(0, 10**6) for name in ipolicy.SPEC_NAMES})
ratios = st.floats(min_value=0.01, max_value=1000, allow_nan=False)
group_policies = st.fixed_dictionaries({}, optional={
    "minmax": st.lists(st.fixed_dictionaries(
        {"min": spec_values, "max": spec_values}), min_size=1, max_size=2),
    "std": st.dictionaries(st.sampled_from(ipolicy.SPEC_NAMES),
                           st.integers(0, 10**6), max_size=3),
    "disk-templates": st.lists(st.sampled_from(sorted(
        constants.DISK_TEMPLATES)), unique=True).map(sorted),
    "vcpu-ratio": ratios, "spindle-ratio": ratios})
groups = st.builds(
    objects.NodeGroup, name=labels, uuid=st.uuids().map(str),
    alloc_policy=st.sampled_from(constants.VALID_ALLOC_POLICIES),
    ndparams=params, diskparams=st.dictionaries(st.sampled_from(sorted(
        constants.DISK_TEMPLATES)), params, max_size=2),
    ipolicy=group_policies, tags=tags, serial_no=serials, ctime=times,
    mtime=times)
clusters = st.builds(
    objects.Cluster, cluster_name=names, master_node=names, master_ip=ips,
    hvparams=st.dictionaries(st.sampled_from(sorted(constants.HYPER_TYPES)),
                             params, max_size=2),
    os_hvp=st.dictionaries(labels, st.dictionaries(
        st.sampled_from(sorted(constants.HYPER_TYPES)), params, max_size=1),
        max_size=1),
    beparams=st.dictionaries(st.just("default"), params),
    nicparams=st.dictionaries(st.just("default"), params),
    diskparams=st.dictionaries(st.sampled_from(sorted(
        constants.DISK_TEMPLATES)), params, max_size=2),
    tcpudp_port_pool=st.lists(st.integers(11000, 14999), max_size=3),
    highest_used_port=st.integers(10999, 14999),
    candidate_pool_size=st.integers(1, 20), tags=tags, serial_no=serials,
    ctime=times, mtime=times, ipolicy=st.builds(
        lambda changes: {**ipolicy.default_policy(), **changes},
        group_policies))


def _with_master(data: objects.ConfigData) -> objects.ConfigData:
    """Make the master node exist (the writer keeps that invariant)."""
    master = data.cluster.master_node
    if master not in data.nodes:
        data.nodes[master] = objects.Node(name=master, primary_ip="192.0.2.1",
                                          secondary_ip="192.0.2.1")
    return data


def _grouped(data: objects.ConfigData, members: list[int]
             ) -> objects.ConfigData:
    """At least one group (the writer keeps that invariant), each node in
    one of them; the values of the groups (and the nodes' choices) are
    drawn, consistent or not: the codec must carry them unchanged."""
    if not data.nodegroups:
        default = objects.NodeGroup(name="default")
        data.nodegroups[default.uuid] = default
    uuids = sorted(data.nodegroups)
    for idx, name in enumerate(sorted(data.nodes)):
        data.nodes[name].group = uuids[members[idx % len(members)]
                                       % len(uuids)] if members else uuids[0]
    return data


documents = st.builds(
    _grouped,
    st.builds(
        objects.ConfigData, cluster=clusters,
        nodes=st.lists(nodes, max_size=4).map(
            lambda ns: {n.name: n for n in ns}),
        instances=st.lists(instances, max_size=4).map(
            lambda xs: {i.name: i for i in xs}),
        nodegroups=st.lists(groups, max_size=3).map(
            lambda gs: {g.uuid: g for g in gs}),
        serial_no=serials, ctime=times, mtime=times).map(_with_master),
    st.lists(st.integers(0, 5), max_size=4))


@settings(max_examples=60, deadline=None)
@given(documents)
def test_config_round_trips_through_save_and_load(
        data: objects.ConfigData) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(os.path.join(tmp, "config.data"), data)
        with ConfigWriter(path, offline=True) as cfg:
            assert cfg.get_config_data() == data
            cluster = cfg.get_cluster()
            cfg.update(cluster)  # forces a save through the writer
            saved = cfg.get_config_data()
            assert journal.read_document(path) == saved.to_dict()
            cfg.compact()
        with open(path, "rb") as handle:
            assert handle.read() == serializer.dumps(saved.to_dict())
        with ConfigWriter(path, offline=True) as again:
            assert again.get_config_data() == saved
        expected = data.copy()
        expected.serial_no += 1
        expected.mtime = saved.mtime
        expected.cluster.serial_no += 1
        expected.cluster.mtime = saved.cluster.mtime
        assert saved == expected


@settings(max_examples=40, deadline=None)
@given(documents, st.lists(st.integers(0, 3), max_size=6))
def test_incremental_encoding_equals_full_encoding(
        data: objects.ConfigData, edits: list[int]) -> None:
    encoder = DocumentEncoder()
    assert encoder.encode(data) == serializer.dumps(data.to_dict())
    for step, edit in enumerate(edits):
        names = sorted(data.instances)
        if edit == 0 and names:  # replace an object
            inst = data.instances[names[0]].copy()
            inst.serial_no += 1
            data.instances[inst.name] = inst
        elif edit == 1 and names:  # remove one
            del data.instances[names[-1]]
        elif edit == 2:  # add one
            new = make_instance(100 + step, node_name(1))
            data.instances[new.name] = new
        elif data.nodes:  # change in place, with explicit invalidation
            name = sorted(data.nodes)[0]
            data.nodes[name].drained = not data.nodes[name].drained
            encoder.invalidate("nodes", name)
        data.serial_no += 1
        assert encoder.encode(data) == serializer.dumps(data.to_dict())


@given(st.lists(names, max_size=8, unique_by=str.lower), names)
def test_name_index_expansion_is_unique_or_none(stored: list[str],
                                                query: str) -> None:
    index = NameIndex(stored)
    for name in stored:
        assert index.lookup(name.upper()) == name
        assert index.expand(name) == name
    short = query.split(".")[0]
    result = index.expand(short)
    candidates = [n for n in stored if n.lower() == short.lower()
                  or n.lower().startswith(short.lower() + ".")]
    if len(candidates) == 1 or short.lower() in (n.lower() for n in stored):
        assert result is not None and result in candidates
    else:
        assert result is None


def test_large_config_loads_and_saves(tmp_path: object) -> None:
    """A 1,000-instance config goes through a writer intact (the 5,000
    instance timing is measured outside the test suite)."""
    data = make_config(20, 1000)
    path = write_config(os.path.join(str(tmp_path), "config.data"), data)
    with ConfigWriter(path) as cfg:
        assert cfg.get_config_data() == data
        inst = cfg.get_instance("inst500.example.com")
        assert inst is not None
        inst.add_tag("x")
        cfg.update(inst)
        cfg.compact()
        with open(path, "rb") as handle:
            assert handle.read() == serializer.dumps(
                cfg.get_config_data().to_dict())
