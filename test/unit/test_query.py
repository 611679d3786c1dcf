"""The query field tables and their evaluation (no daemons, no RPC)."""

from __future__ import annotations

from typing import Any

import pytest
from config_builders import make_config

from ganeti import constants, errors, objects, qlang, query


class Cfg:
    """The read side of a ConfigWriter over a ConfigData (enough here)."""

    def __init__(self, data: objects.ConfigData) -> None:
        self.data = data

    def get_cluster(self) -> objects.Cluster:
        return self.data.cluster

    def node_names(self) -> list[str]:
        return sorted(self.data.nodes)

    def instance_names(self) -> list[str]:
        return sorted(self.data.instances)

    def get_node(self, name: str) -> objects.Node | None:
        return self.data.nodes.get(name)

    def view_nodes(self, names: list[str]) -> list[objects.Node]:
        return [self.data.nodes[n] for n in names if n in self.data.nodes]

    def get_instance(self, name: str) -> objects.Instance | None:
        return self.data.instances.get(name)

    def nodegroup_uuids(self) -> list[str]:
        return sorted(self.data.nodegroups,
                      key=lambda u: self.data.nodegroups[u].name)

    def get_nodegroup(self, uuid: str) -> objects.NodeGroup | None:
        return self.data.nodegroups.get(uuid)

    def view_instances(self, names: list[str]) -> list[objects.Instance]:
        return [self.data.instances[n] for n in names
                if n in self.data.instances]


@pytest.mark.parametrize("table", list(query.TABLES.values()),
                         ids=list(query.TABLES))
def test_every_field_has_title_kind_and_doc(table: query.FieldTable) -> None:
    for name, fdef in table.fields.items():
        assert fdef.name == name
        assert fdef.title and " " not in fdef.title
        assert fdef.kind in query.KINDS
        assert fdef.doc
        assert fdef.describe()["kind"] in {"text", "number", "unit", "bool",
                                           "timestamp", "other"}
    assert set(table.default) <= set(table.fields)


def test_ganeti_node_fields_and_headers() -> None:
    titles = {f.name: f.title for f in query.NODE_FIELDS.fields.values()}
    assert titles["name"] == "Node"
    assert titles["pinst_cnt"] == "Pinst"
    assert titles["mfree"] == "MFree"
    assert titles["master_candidate"] == "MasterC"
    for name in ("mtotal", "mnode", "mfree", "dtotal", "dfree"):
        assert query.NODE_FIELDS.fields[name].kind == "unit"
        assert query.NODE_FIELDS.fields[name].live
    assert query.NODE_FIELDS.default == (
        "name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt",
        "sinst_cnt")


def test_unknown_fields_are_named() -> None:
    with pytest.raises(errors.UnknownFieldError) as info:
        query.NODE_FIELDS.resolve(["name", "bogus", "other"])
    assert info.value.message == \
        "Unknown output fields selected: bogus, other"
    assert info.value.exit_code == errors.EXIT_UNKNOWN_FIELD == 14
    with pytest.raises(errors.UnknownFieldError, match=r"disk\.size/x"):
        query.INSTANCE_FIELDS.resolve(["disk.size/x"])


def test_families() -> None:
    fdef = query.INSTANCE_FIELDS.get("nic.mac/3")
    assert fdef is not None and fdef.title == "Nic.mac/3"
    size = query.INSTANCE_FIELDS.get("disk.size/0")
    assert size is not None and size.kind == "unit"


def test_node_rows_config_and_live_statuses() -> None:
    data = make_config(nodes=3, instances=3)
    data.nodes["node3.example.com"].offline = True
    data.nodes["node3.example.com"].master_candidate = False
    data.nodes["node2.example.com"].add_tag("web")
    cfg = Cfg(data)
    live = {"node1.example.com": {"memory_total": 4096, "memory_free": 1024,
                                  "memory_dom0": 512, "vg_size": None,
                                  "file_storage_total": 10000,
                                  "file_storage_free": 5000},
            "node2.example.com": None}
    qdata = query.node_query_data(cfg, live)
    nodes = [cfg.get_node(n) for n in cfg.node_names()]
    fields = ["name", "role", "master", "pinst_cnt", "sinst_list", "mfree",
              "dtotal", "tags", "group"]
    result = query.run_query(query.NODE_FIELDS, qdata, nodes, fields)
    rows = result.query2()["data"]
    assert [r[0][1] for r in rows] == [n.name for n in nodes]
    n1, n2, n3 = rows
    assert n1[1] == [query.RS_NORMAL, "M"] and n1[2] == [0, True]
    assert n1[5] == [0, 1024] and n1[6] == [0, 10000]
    assert n2[5] == [query.RS_NODATA, None]
    assert n2[7] == [0, ["web"]]
    assert n3[1] == [0, "O"] and n3[5] == [query.RS_OFFLINE, None]
    assert n1[8] == [0, "default"]
    counts = sum(r[3][1] for r in rows)
    assert counts == 3
    assert result.old_style()[1][5] is None
    not_gathered = query.run_query(query.NODE_FIELDS,
                                   query.node_query_data(cfg), nodes[:1],
                                   ["mfree"])
    assert not_gathered.rows == [[(query.RS_UNAVAIL, None)]]


def test_filter_on_nodes() -> None:
    cfg = Cfg(make_config(nodes=4))
    nodes = [cfg.get_node(n) for n in cfg.node_names()]
    qdata = query.node_query_data(cfg)
    filt = qlang.parse('name =~ m/node[23]/ and not master')
    result = query.run_query(query.NODE_FIELDS, qdata, nodes, ["name"], filt)
    assert result.old_style() == [["node2.example.com"],
                                  ["node3.example.com"]]
    with pytest.raises(errors.UnknownFieldError, match="nosuch"):
        query.run_query(query.NODE_FIELDS, qdata, nodes, ["name"],
                        ["?", "nosuch"])
    with pytest.raises(errors.OpPrereqError, match="numeric"):
        query.run_query(query.NODE_FIELDS, qdata, nodes, ["name"],
                        ["=", "pinst_cnt", "x"])
    assert query.needs_live(query.NODE_FIELDS, ["name"], [">", "mfree", 1])
    assert not query.needs_live(query.NODE_FIELDS, ["name", "pip"])


def test_instance_fields() -> None:
    data = make_config(nodes=2, instances=[
        {"disk_template": constants.DT_DRBD8,
         "secondary": "node2.example.com", "admin_up": True},
        {"disk_template": constants.DT_PLAIN, "nics": 2}])
    data.cluster.nicparams["default"]["link"] = "br0"
    cfg = Cfg(data)
    insts = [cfg.get_instance(n) for n in cfg.instance_names()]
    live: dict[str, Any] = {"node1.example.com": {
        "inst1.example.com": {"memory": 256, "vcpus": 1}}}
    qdata = query.instance_query_data(cfg, live)
    fields = ["name", "snodes", "disk_usage", "status", "oper_ram",
              "be/memory", "hv/kernel_path", "nic.count", "nic.links",
              "bridge", "nic.mac/1", "disk.size/0", "hv/root_path",
              "oper_state"]
    rows = query.run_query(query.INSTANCE_FIELDS, qdata, insts,
                           fields).old_style()
    i1, i2 = rows
    assert i1[1] == ["node2.example.com"]
    assert i1[2] == 1024 + 128 and i2[2] == 1024
    assert i1[3] == "running" and i2[3] == "ADMIN_down"
    assert i1[4] == 256 and i2[4] is None
    assert i1[5] == 256 and i1[6] == ""
    assert i2[7] == 2 and i2[8] == ["br0", "br0"] and i2[9] == "br0"
    assert i1[10] is None and i2[10] is not None
    assert i1[11] == 1024
    assert i1[12] is None  # not a parameter of the fake hypervisor
    assert i1[13] is True and i2[13] is False
    down = query.instance_query_data(cfg, {"node1.example.com": None})
    assert query.run_query(query.INSTANCE_FIELDS, down, insts[:1],
                           ["status"]).old_style() == [["ERROR_nodedown"]]
    data.nodes["node1.example.com"].offline = True
    offline = query.instance_query_data(cfg, {})
    assert query.run_query(query.INSTANCE_FIELDS, offline, insts[:1],
                           ["status", "oper_ram"]).query2()["data"] == [
        [[0, "ERROR_nodeoffline"], [query.RS_OFFLINE, None]]]
    assert query.instance_needs_live(["status"])
    assert not query.instance_needs_live(["name", "be/memory"])


def test_filled_parameters_are_shared_work_but_not_shared_values() -> None:
    # Filled once per distinct input (the cost of a bulk listing at 10,000
    # instances), yet every row gets its own dictionaries.
    data = make_config(nodes=1, instances=[{}, {}, {}])
    insts = [data.instances[n] for n in sorted(data.instances)]
    insts[2].beparams = {"maxmem": 512, "minmem": 512}
    insts[2].hvparams = {"kernel_args": "ro"}
    insts[1].osparams = {"weird": ["a list"]}  # no key: filled each time
    cfg = Cfg(data)
    fields = ["beparams", "hvparams", "osparams", "be/maxmem",
              "hv/kernel_args", "nic_mode"]
    rows = query.run_query(query.INSTANCE_FIELDS,
                           query.instance_query_data(cfg), insts,
                           fields).old_style()
    cluster = data.cluster
    for inst, row in zip(insts, rows, strict=True):
        assert row[:3] == [cluster.filled_beparams(inst),
                           cluster.filled_hvparams(inst, skip_globals=True),
                           cluster.filled_osparams(inst)]
    first = cluster.filled_beparams(insts[0])["maxmem"]
    assert [row[3] for row in rows] == [first, first, 512]
    assert rows[2][4] == "ro" and rows[0][4] == ""
    assert rows[1][2] == {"weird": ["a list"]}
    rows[0][0]["maxmem"] = 1
    assert rows[1][0]["maxmem"] == first
    filled = query.FilledParams(cluster)
    assert filled.be(insts[0]) is filled.be(insts[1])
    assert filled.be(insts[2]) is not filled.be(insts[0])


def test_table_for_unknown_resource() -> None:
    with pytest.raises(errors.OpPrereqError, match="not supported"):
        query.table_for("lock")


def test_describe() -> None:
    described = query.NODE_FIELDS.describe(["name", "pinst_list"])
    assert described == [
        {"name": "name", "title": "Node", "kind": "text", "doc": "Node name"},
        {"name": "pinst_list", "title": "PriInstances", "kind": "other",
         "doc": "Instances with this node as primary"}]
    assert len(query.NODE_FIELDS.describe()) == len(query.NODE_FIELDS.fields)


def test_group_fields_and_the_groups_of_nodes_and_instances() -> None:
    data = make_config(nodes=3, instances=3)
    rack = objects.NodeGroup(name="rack2", uuid="00000000-0000-4000-a000-"
                             "000000000002", ipolicy={"vcpu-ratio": 2.0},
                             alloc_policy="last_resort")
    data.nodegroups[rack.uuid] = rack
    data.nodes["node2.example.com"].group = rack.uuid
    cfg = Cfg(data)
    groups = [cfg.get_nodegroup(u) for u in cfg.nodegroup_uuids()]
    fields = ["name", "node_cnt", "node_list", "pinst_cnt", "alloc_policy",
              "ipolicy", "custom_ipolicy"]
    rows = query.run_query(query.GROUP_FIELDS, query.group_query_data(cfg),
                           groups, fields).old_style()
    default, rack_row = rows
    assert default[:4] == ["default", 2, ["node1.example.com",
                                          "node3.example.com"], 2]
    assert rack_row[:5] == ["rack2", 1, ["node2.example.com"], 1,
                            "last_resort"]
    assert rack_row[5]["vcpu-ratio"] == 2.0 and default[5]["vcpu-ratio"] == 4.0
    assert rack_row[6] == {"vcpu-ratio": 2.0}
    nodes = [cfg.get_node(n) for n in cfg.node_names()]
    node_rows = query.run_query(query.NODE_FIELDS, query.node_query_data(cfg),
                                nodes, ["group", "group.uuid"]).old_style()
    assert node_rows[1] == ["rack2", rack.uuid]
    insts = [cfg.get_instance(n) for n in cfg.instance_names()]
    inst_rows = query.run_query(
        query.INSTANCE_FIELDS, query.instance_query_data(cfg), insts,
        ["pnode", "pnode.group", "snodes.group"]).old_style()
    assert ["node2.example.com", "rack2", []] in inst_rows
    # inst3 is mirrored from node3 (default) to node1 (default)
    assert ["node3.example.com", "default", ["default"]] in inst_rows


_LIVE_CASES = [
    None,  # no live data gathered
    {},  # every node silent
    {"node1.example.com": None},  # no answer from node1
    {"node1.example.com": {"inst1.example.com": {"memory": 256}},
     "node2.example.com": {}},  # running, one value not reported
    {"node1.example.com": {"inst1.example.com": {"memory": 256,
                                                 "vcpus": 2}},
     "node2.example.com": {"inst2.example.com": {"vcpus": 1}}},
]


@pytest.mark.parametrize("live", _LIVE_CASES)
@pytest.mark.parametrize("offline", [False, True])
def test_old_style_values_are_the_cells_values(live: Any,
                                               offline: bool) -> None:
    # Old-style rows are computed directly (no cells); they must be what
    # the query2 cells say, None wherever a cell is not RS_NORMAL, for
    # every field whether its getter raises, returns a Missing marker or
    # a value.
    data = make_config(nodes=2, instances=[
        {"disk_template": constants.DT_DRBD8,
         "secondary": "node2.example.com", "admin_up": True},
        {"disk_template": constants.DT_PLAIN, "nics": 2}])
    data.nodes["node2.example.com"].offline = offline
    cfg = Cfg(data)
    insts = [cfg.get_instance(n) for n in cfg.instance_names()]
    fields = sorted(query.INSTANCE_FIELDS.fields)
    qdata = query.instance_query_data(cfg, live)
    cells = query.run_query(query.INSTANCE_FIELDS, qdata, insts, fields).rows
    values = query.run_query(query.INSTANCE_FIELDS, qdata, insts,
                             fields).old_style()
    assert values == [[value if status == query.RS_NORMAL else None
                       for status, value in row] for row in cells]
    statuses = {status for row in cells for status, _value in row}
    assert query.RS_NORMAL in statuses and len(statuses) > 1
