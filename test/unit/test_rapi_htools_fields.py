"""The RAPI answers every key Ganeti's htools read (their RAPI loader
loads ``/2/groups?bulk=1``, ``/2/nodes?bulk=1``, ``/2/instances?bulk=1``
and ``/2/info`` and stops at the first key missing), and current
Ganeti's ``/2/info`` keys.  The real tools run against a local cluster
in ``test/integration/test_htools_cluster.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from config_builders import make_instance
from test_node_query import N1, N2, Master

from ganeti import constants, opcodes, query
from ganeti.rapi import rgroups, rinstances, rnodes

#: Keys htools' RAPI loader requires in each resource (Ganeti 3.0's
#: ``Ganeti.HTools.Backend.Rapi``; ``sptotal`` is read only with
#: exclusive storage, ``spfree`` and ``forthcoming`` have defaults).
HTOOLS_NODE_KEYS = ["name", "offline", "drained", "vm_capable", "ndparams",
                    "group.uuid", "sptotal", "spfree", "mtotal", "mnode",
                    "mfree", "dtotal", "dfree", "ctotal", "cnos", "tags"]
HTOOLS_INSTANCE_KEYS = ["name", "disk_usage", "disk.sizes", "disk.spindles",
                        "beparams", "oper_ram", "pnode", "snodes", "status",
                        "tags", "disk_template"]
HTOOLS_GROUP_KEYS = ["name", "uuid", "alloc_policy", "ipolicy", "tags"]
HTOOLS_INFO_KEYS = ["master", "tags", "ipolicy", "default_hypervisor"]
#: Keys of Ganeti 3.0's ``/2/info`` that clients (and the issue) name.
CURRENT_INFO_KEYS = ["ipolicy", "ndparams", "enabled_disk_templates",
                     "max_running_jobs", "hvparams", "beparams", "osparams",
                     "diskparams", "nicparams", "master_netdev",
                     "master_netmask", "primary_ip_version", "tags", "uuid",
                     "ctime", "mtime", "candidate_pool_size", "hidden_os",
                     "blacklisted_os", "reserved_lvs", "prealloc_wipe_disks",
                     "use_external_mip_script", "modify_ssh_setup"]


@pytest.mark.parametrize(("fields", "table", "needed"), [
    (rnodes.N_FIELDS, query.NODE_FIELDS, HTOOLS_NODE_KEYS),
    (rinstances.I_FIELDS, query.INSTANCE_FIELDS, HTOOLS_INSTANCE_KEYS),
    (rgroups.G_FIELDS, query.GROUP_FIELDS, HTOOLS_GROUP_KEYS),
], ids=["nodes", "instances", "groups"])
def test_bulk_fields_cover_htools(fields: list[str], table: query.FieldTable,
                                  needed: list[str]) -> None:
    assert [key for key in needed if key not in fields] == []
    # Every bulk field is a query field (the LUXI query would refuse it).
    assert len(table.resolve(fields)) == len(fields)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Master]:
    m = Master(tmp_path, nodes=2, instances=0)
    yield m
    m.close()


def test_spindle_and_cpu_fields(master: Master) -> None:
    """``sptotal`` is the node's ``spindle_count``, ``spfree`` what its
    instances' disks leave of it; ``cnos`` the CPUs the node OS sees."""
    master.cfg.add_instance(make_instance(
        1, N1, secondary=N2, disk_template=constants.DT_DRBD8, port=11000))
    inst = master.cfg.view_instances(master.cfg.instance_names())[0]
    inst.disks[0].spindles = 3
    master.cfg.update(inst)
    master.run(opcodes.OpNodeSetParams(node_name=N1,
                                       ndparams={"spindle_count": 4}))
    rows = master.run(opcodes.OpNodeQuery(
        output_fields=["name", "sptotal", "spfree", "cnos", "ctotal",
                       "ndparams"]))
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name[N1][:2] == [4, 1]
    assert by_name[N2][:2] == [1, 0]  # over-committed: none free
    assert by_name[N1][2] == by_name[N1][3] > 0
    assert by_name[N1][4]["spindle_count"] == 4


def test_cluster_info_has_current_keys(master: Master) -> None:
    info = master.run(opcodes.OpClusterQuery())
    assert [key for key in HTOOLS_INFO_KEYS + CURRENT_INFO_KEYS
            if key not in info] == []
    assert info["master_netmask"] == 32
    assert info["primary_ip_version"] == 4
    assert set(info["enabled_disk_templates"]) <= \
        set(info["ipolicy"]["disk-templates"])
    assert info["max_running_jobs"] > 0


#: Fields htools' LUXI loader (``-L``) asks through the generic query.
HTOOLS_LUXI_FIELDS = {
    "node": ["name", "mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal",
             "cnos", "offline", "drained", "vm_capable", "ndp/spindle_count",
             "group.uuid", "tags", "ndp/exclusive_storage", "sptotal",
             "spfree", "ndp/cpu_speed"],
    "instance": ["name", "disk_usage", "be/memory", "be/vcpus", "status",
                 "pnode", "snodes", "tags", "oper_ram", "be/auto_balance",
                 "disk_template", "be/spindle_use", "disk.sizes",
                 "disk.spindles", "forthcoming"],
    "group": ["uuid", "name", "alloc_policy", "ipolicy", "tags"],
}


@pytest.mark.parametrize("what", sorted(HTOOLS_LUXI_FIELDS))
def test_generic_query_answers_htools_luxi_fields(master: Master,
                                                  what: str) -> None:
    master.cfg.add_instance(make_instance(1, N1))
    fields = HTOOLS_LUXI_FIELDS[what]
    result = master.run(opcodes.OpQuery(what=what, output_fields=fields))
    assert [f["name"] for f in result["fields"]] == fields
    assert result["data"]
    for row in result["data"]:
        # Every value answered (status 0) but the memory of an instance
        # that does not run (htools then read be/memory).
        assert [name for name, (status, _value) in zip(fields, row,
                                                       strict=True)
                if status != query.RS_NORMAL] in ([], ["oper_ram"])
    if what == "node":
        row = dict(zip(fields, (v for _s, v in result["data"][0]),
                       strict=True))
        assert row["ndp/spindle_count"] == 1
        assert row["ndp/exclusive_storage"] is False
    if what == "instance":
        assert result["data"][0][-1] == [query.RS_NORMAL, False]
