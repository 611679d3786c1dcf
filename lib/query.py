"""Query fields: every listable field of nodes and instances, declared once.

A field is a :class:`FieldDef`: its name (what ``-o`` and ``/2/query``
take), its title (the column header Ganeti prints), its kind, the function
computing it from the configuration object (and, for *live* fields, the
data the nodes reported), and whether it needs that live data.  The node
list, ``gnt-node list``'s headers and units, the RAPI query resource and
``QueryFields`` all read these tables.

Kinds are ``text``, ``number``, ``unit`` (MiB, shown with ``--units``),
``bool``, ``timestamp``, ``list`` and ``other`` (dictionaries).  On the
query2 wire ``list`` travels as Ganeti's ``other``.

Each value comes with a status (Ganeti's query2 ``RS_*``): normal, no
data (the node did not answer), unavailable (not applicable, or live data
not gathered), offline (the node is marked offline).  The old-style
results of ``QueryNodes``/``QueryInstances`` carry None for every
non-normal value.

Live data is gathered by the logical units (node RPC ``node_info`` for
nodes; for instances a source the instance code registers with
:func:`set_instance_live_source`) only when a requested or filtered field
needs it; this module is pure computation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ganeti import constants, errors, objects, params, qlang
from ganeti import query_engine as _engine

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter

# The engine (ganeti.query_engine); callers use these names as query.X.
RS_NORMAL = _engine.RS_NORMAL
RS_UNKNOWN = _engine.RS_UNKNOWN
RS_NODATA = _engine.RS_NODATA
RS_UNAVAIL = _engine.RS_UNAVAIL
RS_OFFLINE = _engine.RS_OFFLINE
KINDS = _engine.KINDS
KIND_NAMES = _engine.KIND_NAMES
WIRE_KIND = _engine.WIRE_KIND
Getter = _engine.Getter
FieldDef = _engine.FieldDef
FieldFamily = _engine.FieldFamily
FieldTable = _engine.FieldTable
Cell = _engine.Cell
QueryResult = _engine.QueryResult
compile_filter_for = _engine.compile_filter_for
needs_live = _engine.needs_live
run_query = _engine.run_query
row_values = _engine.row_values
unavailable = _engine.unavailable
_Status = _engine._Status
_table = _engine._table


# --- Nodes ------------------------------------------------------------------------

@dataclass
class NodeQueryData:
    """What node fields are computed from.

    ``live`` maps node names to the ``node_info`` payload (None: the node
    did not answer); ``live`` None means live data was not gathered.
    """

    cluster: objects.Cluster
    primary: Mapping[str, list[str]]
    secondary: Mapping[str, list[str]]
    live: Mapping[str, Mapping[str, Any] | None] | None = None
    groups: Mapping[str, objects.NodeGroup] = field(default_factory=dict)
    #: node -> spindles the disks of its instances take (where given).
    spindles_used: Mapping[str, int] = field(default_factory=dict)

    def ndparams(self, node: objects.Node) -> dict[str, Any]:
        return self.cluster.filled_ndparams(node, self.groups.get(node.group))

    def spindles_total(self, node: objects.Node) -> int:
        return int(self.ndparams(node)["spindle_count"])

    def group_name(self, uuid: str) -> str:
        group = self.groups.get(uuid)
        if group is None:
            raise _Status(RS_UNAVAIL)
        return group.name

    def live_status(self, node: objects.Node) -> int:
        if node.offline:
            return RS_OFFLINE
        if self.live is None:
            return RS_UNAVAIL
        if self.live.get(node.name) is None:
            return RS_NODATA
        return RS_NORMAL

    def payload(self, node: objects.Node) -> Mapping[str, Any]:
        assert self.live is not None
        data = self.live[node.name]
        assert data is not None
        return data


def _live_key(key: str, *fallbacks: str) -> Getter:
    def get(data: NodeQueryData, node: objects.Node) -> Any:
        payload = data.payload(node)
        for name in (key, *fallbacks):
            value = payload.get(name)
            if value is not None:
                return value
        raise _Status(RS_UNAVAIL)
    return get


#: Field kinds of the parameter kinds (``hv/``, ``be/``, ``ndp/`` fields).
_PARAM_KIND: Final = {"bool": "bool", "int": "number", "size": "unit",
                      "float": "number", "string": "text",
                      "maybe-string": "text"}


def _param_title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _nd_param(name: str) -> Getter:
    return lambda data, node: data.ndparams(node)[name]


def _role(data: NodeQueryData, node: objects.Node) -> str:
    if node.name == data.cluster.master_node:
        return constants.NR_MASTER
    return node.role


def _cfg(attr: str) -> Getter:
    return lambda data, obj: getattr(obj, attr)


def _n(name: str, title: str, kind: str, getter: Getter, doc: str,
       live: bool = False) -> FieldDef:
    return FieldDef(name, title, kind, getter, live, doc)


NODE_FIELDS: Final = _table(constants.QR_NODE, [
    _n("name", "Node", "text", _cfg("name"), "Node name"),
    _n("pinst_cnt", "Pinst", "number",
       lambda d, n: len(d.primary.get(n.name, [])),
       "Number of instances with this node as primary"),
    _n("sinst_cnt", "Sinst", "number",
       lambda d, n: len(d.secondary.get(n.name, [])),
       "Number of instances with this node as secondary"),
    _n("pinst_list", "PriInstances", "list",
       lambda d, n: list(d.primary.get(n.name, [])),
       "Instances with this node as primary"),
    _n("sinst_list", "SecInstances", "list",
       lambda d, n: list(d.secondary.get(n.name, [])),
       "Instances with this node as secondary"),
    _n("pip", "PrimaryIP", "text", _cfg("primary_ip"), "Primary IP address"),
    _n("sip", "SecondaryIP", "text", _cfg("secondary_ip"),
       "Secondary (replication) IP address"),
    _n("tags", "Tags", "list", lambda d, n: list(n.tags), "Tags"),
    _n("serial_no", "SerialNo", "number", _cfg("serial_no"),
       "Serial number of the node's configuration"),
    _n("ctime", "CTime", "timestamp", _cfg("ctime"), "Creation time"),
    _n("mtime", "MTime", "timestamp", _cfg("mtime"), "Modification time"),
    _n("uuid", "UUID", "text", _cfg("uuid"), "Node UUID"),
    _n("ndparams", "NodeParameters", "other", lambda d, n: d.ndparams(n),
       "Effective node parameters (cluster, node group, then the node's"
       " own)"),
    _n("custom_ndparams", "CustomNodeParameters", "other",
       lambda d, n: dict(n.ndparams), "Node parameters set on the node itself"),
    _n("master_candidate", "MasterC", "bool", _cfg("master_candidate"),
       "Whether the node is a master candidate"),
    _n("master", "IsMaster", "bool",
       lambda d, n: n.name == d.cluster.master_node,
       "Whether the node is the master"),
    _n("offline", "Offline", "bool", _cfg("offline"),
       "Whether the node is marked offline"),
    _n("drained", "Drained", "bool", _cfg("drained"),
       "Whether the node is drained (no new instances)"),
    _n("role", "Role", "text", _role,
       "Role: M master, C candidate, R regular, D drained, O offline"),
    _n("group", "Group", "text", lambda d, n: d.group_name(n.group),
       "Name of the node group"),
    _n("group.uuid", "GroupUUID", "text", _cfg("group"),
       "UUID of the node group"),
    _n("master_capable", "MasterCapable", "bool", lambda d, n: True,
       "Whether the node can become master candidate (always)"),
    _n("vm_capable", "VMCapable", "bool", lambda d, n: True,
       "Whether the node can host instances (always)"),
    _n("mtotal", "MTotal", "unit", _live_key("memory_total"),
       "Total memory of the node (MiB)", live=True),
    _n("mnode", "MNode", "unit", _live_key("memory_dom0"),
       "Memory used by the node itself (MiB)", live=True),
    _n("mfree", "MFree", "unit", _live_key("memory_free"),
       "Memory available for instances (MiB)", live=True),
    _n("dtotal", "DTotal", "unit",
       _live_key("vg_size", "file_storage_total"),
       "Total disk space for instances (volume group, else file storage;"
       " MiB)", live=True),
    _n("dfree", "DFree", "unit", _live_key("vg_free", "file_storage_free"),
       "Free disk space for instances (volume group, else file storage;"
       " MiB)", live=True),
    _n("ctotal", "CTotal", "number", _live_key("cpu_total"),
       "Number of physical CPUs", live=True),
    _n("cnodes", "CNodes", "number", _live_key("cpu_nodes"),
       "Number of NUMA domains", live=True),
    _n("csockets", "CSockets", "number", _live_key("cpu_sockets"),
       "Number of CPU sockets", live=True),
    _n("cnos", "CNOs", "number", _live_key("cpu_total"),
       "Number of CPUs the node OS uses (all of them: no hypervisor here"
       " confines it)", live=True),
    _n("sptotal", "SpindlesTotal", "number", lambda d, n: d.spindles_total(n),
       "Spindles of the node (its spindle_count node parameter)"),
    _n("spfree", "SpindlesFree", "number",
       lambda d, n: max(0, d.spindles_total(n)
                        - d.spindles_used.get(n.name, 0)),
       "Spindles not taken by the disks of the node's instances"),
    *[_n(f"ndp/{name}", _param_title(name), _PARAM_KIND[spec.kind],
         _nd_param(name), f"Node parameter {name}: {spec.doc}")
      for name, spec in sorted(params.ND_PARAMETERS.items())],
    _n("bootid", "BootID", "text", _live_key("bootid"),
       "Random identifier of the node's current boot", live=True),
], default=("name", "dtotal", "dfree", "mtotal", "mnode", "mfree",
            "pinst_cnt", "sinst_cnt"))


def node_query_data(cfg: ConfigWriter, live: Mapping[str, Mapping[str, Any] | None]
                    | None = None) -> NodeQueryData:
    """Config-side data of node fields from a ConfigWriter."""
    primary: dict[str, list[str]] = {}
    secondary: dict[str, list[str]] = {}
    spindles: dict[str, int] = {}
    for inst in cfg.view_instances(cfg.instance_names()):
        primary.setdefault(inst.primary_node, []).append(inst.name)
        for snode in inst.secondary_nodes:
            secondary.setdefault(snode, []).append(inst.name)
        used = sum(disk.spindles or 0 for disk in inst.disks)
        for node in (inst.primary_node, *inst.secondary_nodes):
            spindles[node] = spindles.get(node, 0) + used
    return NodeQueryData(cfg.get_cluster(), primary, secondary, live,
                         _groups(cfg), spindles)


def _groups(cfg: ConfigWriter) -> dict[str, objects.NodeGroup]:
    return {uuid: group for uuid in cfg.nodegroup_uuids()
            if (group := cfg.get_nodegroup(uuid)) is not None}


# --- Instances --------------------------------------------------------------------

#: Live data of instances: node -> {instance name -> {"memory": MiB,
#: "vcpus": n, ...}} for the running instances, or None when the node
#: did not answer.
InstanceLive = Mapping[str, Mapping[str, Mapping[str, Any]] | None]
#: ``source(lu, node_names, hypervisors) -> InstanceLive``.
InstanceLiveSource = Callable[[Any, list[str], list[str]], InstanceLive]

_instance_live_source: InstanceLiveSource | None = None


def set_instance_live_source(source: InstanceLiveSource | None) -> None:
    """Register how live instance data is gathered (the instance code does
    this at import; without a source, live instance fields are
    unavailable)."""
    global _instance_live_source
    _instance_live_source = source


def instance_live_source() -> InstanceLiveSource | None:
    return _instance_live_source


#: The key of a parameter dictionary no memo can hold (unhashable values).
_UNHASHABLE: Final = object()


def _params_key(values: Mapping[str, Any] | None) -> Any:
    """A hashable key of a parameter dictionary, or :data:`_UNHASHABLE`."""
    if not values:
        return ()
    key = tuple(sorted(values.items()))
    try:
        hash(key)
    except TypeError:
        return _UNHASHABLE
    return key


class FilledParams:
    """The filled parameters of one query, each computed once per distinct
    input: at 10,000 instances nearly all of them share their hypervisor,
    OS and (empty) own parameters, and filling them for every row was
    most of the cost of ``/2/instances?bulk=1``.  Callers get copies of
    the whole dictionaries (rows must not share one)."""

    def __init__(self, cluster: objects.Cluster) -> None:
        self.cluster = cluster
        self._memo: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _get(self, key: tuple[Any, ...],
             compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if _UNHASHABLE in key:
            return compute()
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = compute()
        return found

    def be(self, inst: objects.Instance) -> dict[str, Any]:
        return self._get(("be", _params_key(inst.beparams)),
                         lambda: self.cluster.filled_beparams(inst))

    def hv(self, inst: objects.Instance) -> dict[str, Any]:
        """Hypervisor parameters without the global-only ones."""
        return self._get(("hv", inst.hypervisor, inst.os,
                          _params_key(inst.hvparams)),
                         lambda: self.cluster.filled_hvparams(
                             inst, skip_globals=True))

    def os(self, inst: objects.Instance) -> dict[str, Any]:
        return self._get(("os", inst.os, _params_key(inst.osparams)),
                         lambda: self.cluster.filled_osparams(inst))

    def nic(self, nic: objects.NIC) -> dict[str, Any]:
        return self._get(("nic", _params_key(nic.nicparams)),
                         lambda: self.cluster.filled_nicparams(nic))


@dataclass
class InstanceQueryData:
    """What instance fields are computed from (see :class:`NodeQueryData`)."""

    cluster: objects.Cluster
    nodes: Mapping[str, objects.Node]
    live: InstanceLive | None = None
    groups: Mapping[str, objects.NodeGroup] = field(default_factory=dict)
    filled: FilledParams = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.filled = FilledParams(self.cluster)

    def node_group(self, node_name: str) -> objects.NodeGroup | None:
        node = self.nodes.get(node_name)
        return None if node is None else self.groups.get(node.group)

    def live_status(self, inst: objects.Instance) -> int:
        node = self.nodes.get(inst.primary_node)
        if node is not None and node.offline:
            return RS_OFFLINE
        if self.live is None:
            return RS_UNAVAIL
        if self.live.get(inst.primary_node) is None:
            return RS_NODATA
        return RS_NORMAL

    def running(self, inst: objects.Instance) -> Mapping[str, Any] | None:
        """The live info of ``inst`` (None: not running); only after
        :meth:`live_status` said normal."""
        assert self.live is not None
        per_node = self.live[inst.primary_node]
        assert per_node is not None
        return per_node.get(inst.name)


def _status(data: InstanceQueryData, inst: objects.Instance) -> str:
    status = data.live_status(inst)
    if status == RS_OFFLINE:
        return "ERROR_nodeoffline"
    if status == RS_NODATA:
        return "ERROR_nodedown"
    if status != RS_NORMAL:
        raise _Status(status)
    if data.running(inst) is not None:
        return "running" if inst.admin_up else "ERROR_up"
    return "ERROR_down" if inst.admin_up else "ADMIN_down"


def _running_key(key: str) -> Getter:
    """A value of the running instance: unavailable while it does not
    run, no data when the node did not report it."""
    def get(data: InstanceQueryData, inst: objects.Instance) -> Any:
        info = data.running(inst)
        if info is None:
            return _engine.MISSING_UNAVAIL
        value = info.get(key)
        return _engine.MISSING_NODATA if value is None else value
    return get


#: Size of the DRBD metadata volume of each disk (MiB).
_DRBD_META_MIB: Final = 128


def _disk_usage(inst: objects.Instance) -> int:
    sizes = [d.size for d in inst.disks]
    if inst.disk_template == constants.DT_DRBD8:
        return sum(s + _DRBD_META_MIB for s in sizes)
    if inst.disk_template == constants.DT_DISKLESS:
        return 0
    return sum(sizes)


def _nic_param(data: InstanceQueryData, nic: objects.NIC, key: str) -> Any:
    return data.filled.nic(nic).get(key)


def _nic_bridge(data: InstanceQueryData, nic: objects.NIC) -> str | None:
    filled = data.filled.nic(nic)
    if filled.get("mode") == constants.NIC_MODE_BRIDGED:
        return str(filled.get("link"))
    return None


def _first_nic(getter: Callable[[InstanceQueryData, objects.NIC], Any]
               ) -> Getter:
    def get(data: InstanceQueryData, inst: objects.Instance) -> Any:
        if not inst.nics:
            raise _Status(RS_UNAVAIL)
        return getter(data, inst.nics[0])
    return get


def _all_nics(getter: Callable[[InstanceQueryData, objects.NIC], Any]
              ) -> Getter:
    return lambda data, inst: [getter(data, nic) for nic in inst.nics]


def _disk_size(index: int) -> Getter:
    def get(data: InstanceQueryData, inst: objects.Instance) -> Any:
        if index >= len(inst.disks):
            raise _Status(RS_UNAVAIL)
        return inst.disks[index].size
    return get


_NIC_ATTRS: Final[dict[str, tuple[str, str,
                                  Callable[[InstanceQueryData, objects.NIC],
                                           Any]]]] = {
    "mac": ("MAC address", "text", lambda d, nic: nic.mac),
    "ip": ("IP address", "text", lambda d, nic: nic.ip),
    "mode": ("mode", "text", lambda d, nic: _nic_param(d, nic, "mode")),
    "link": ("link", "text", lambda d, nic: _nic_param(d, nic, "link")),
    "bridge": ("bridge", "text", _nic_bridge),
}


def _nic_getter(getter: Callable[[InstanceQueryData, objects.NIC], Any]
                ) -> Callable[[int], Getter]:
    def getter_for(index: int) -> Getter:
        def get(data: InstanceQueryData, inst: objects.Instance) -> Any:
            if index >= len(inst.nics):
                raise _Status(RS_UNAVAIL)
            return getter(data, inst.nics[index])
        return get
    return getter_for


def _nic_families() -> list[FieldFamily]:
    return [FieldFamily(f"nic.{attr}/{{n}}", f"Nic.{attr}/{{n}}", kind,
                        _nic_getter(getter), f"The {what} of NIC {{n}}")
            for attr, (what, kind, getter) in _NIC_ATTRS.items()]


def _hv_param(name: str) -> Getter:
    def get(data: InstanceQueryData, inst: objects.Instance) -> Any:
        filled = data.filled.hv(inst)
        if name not in filled:
            raise _Status(RS_UNAVAIL)
        return filled[name]
    return get


def _be_param(name: str) -> Getter:
    return lambda data, inst: data.filled.be(inst).get(name)


def _hv_fields() -> list[FieldDef]:
    specs: dict[str, params.ParamSpec] = {}
    for table in params.HV_PARAMETERS.values():
        for name, spec in table.items():
            if name not in params.HVC_GLOBALS:
                specs.setdefault(name, spec)
    return [FieldDef(f"hv/{name}", _param_title(name),
                     _PARAM_KIND[spec.kind], _hv_param(name),
                     doc=f"Hypervisor parameter {name}: {spec.doc}")
            for name, spec in sorted(specs.items())]


_BE_TITLES: Final = {"maxmem": "ConfigMaxMem", "minmem": "ConfigMinMem",
                     "vcpus": "VCPUs", "auto_balance": "Auto_balance"}


def _be_fields() -> list[FieldDef]:
    fields = [FieldDef(f"be/{name}", _BE_TITLES.get(name, _param_title(name)),
                       _PARAM_KIND[spec.kind], _be_param(name),
                       doc=f"Backend parameter {name}: {spec.doc}")
              for name, spec in sorted(params.BE_PARAMETERS.items())]
    # Ganeti keeps the name of 2.1 as an alias of maxmem.
    fields.append(FieldDef("be/memory", "ConfigMaxMem", "unit",
                           _be_param("maxmem"),
                           doc="Backend parameter memory: the maxmem"))
    return fields


_RAISE: Final = object()


def _group_attr(data: InstanceQueryData, node: str, attr: str,
                missing: Any = _RAISE) -> Any:
    group = data.node_group(node)
    if group is None:
        if missing is _RAISE:
            raise _Status(RS_UNAVAIL)
        return missing
    return getattr(group, attr)


def _i(name: str, title: str, kind: str, getter: Getter, doc: str,
       live: bool = False) -> FieldDef:
    return FieldDef(name, title, kind, getter, live, doc)


INSTANCE_FIELDS: Final = _table(constants.QR_INSTANCE, [
    _i("name", "Instance", "text", _cfg("name"), "Instance name"),
    _i("os", "OS", "text", _cfg("os"), "Operating system (name+variant)"),
    _i("pnode", "Primary_node", "text", _cfg("primary_node"), "Primary node"),
    _i("snodes", "Secondary_Nodes", "list",
       lambda d, i: list(i.secondary_nodes), "Secondary nodes"),
    _i("pnode.group", "PrimaryNodeGroup", "text",
       lambda d, i: _group_attr(d, i.primary_node, "name"),
       "Node group of the primary node"),
    _i("pnode.group.uuid", "PrimaryNodeGroupUUID", "text",
       lambda d, i: _group_attr(d, i.primary_node, "uuid"),
       "UUID of the node group of the primary node"),
    _i("snodes.group", "SecondaryNodesGroups", "list",
       lambda d, i: [_group_attr(d, n, "name", None)
                     for n in i.secondary_nodes],
       "Node groups of the secondary nodes"),
    _i("snodes.group.uuid", "SecondaryNodesGroupsUUID", "list",
       lambda d, i: [_group_attr(d, n, "uuid", None)
                     for n in i.secondary_nodes],
       "UUIDs of the node groups of the secondary nodes"),
    _i("admin_state", "Autostart", "bool", _cfg("admin_up"),
       "Whether the instance should run"),
    _i("forthcoming", "Forthcoming", "bool", lambda d, i: False,
       "Whether the instance is only planned (Ganeti 2.16; never here)"),
    _i("disk_template", "Disk_template", "text", _cfg("disk_template"),
       "Disk template"),
    _i("hypervisor", "Hypervisor", "text", _cfg("hypervisor"), "Hypervisor"),
    _i("network_port", "Network_port", "number",
       lambda d, i: i.network_port, "Console (VNC) port, if allocated"),
    _i("beparams", "Backend_parameters", "other",
       lambda d, i: dict(d.filled.be(i)),
       "Effective backend parameters"),
    _i("hvparams", "Hypervisor_parameters", "other",
       lambda d, i: dict(d.filled.hv(i)),
       "Effective hypervisor parameters"),
    _i("custom_hvparams", "CustomHypervisorParameters", "other",
       lambda d, i: dict(i.hvparams),
       "Hypervisor parameters set on the instance itself"),
    _i("custom_beparams", "CustomBackendParameters", "other",
       lambda d, i: dict(i.beparams),
       "Backend parameters set on the instance itself"),
    _i("custom_nicparams", "CustomNicParameters", "list",
       lambda d, i: [dict(nic.nicparams) for nic in i.nics],
       "NIC parameters set on each NIC itself"),
    _i("osparams", "OpSysParameters", "other",
       lambda d, i: dict(d.filled.os(i)),
       "Effective OS parameters"),
    _i("custom_osparams", "CustomOpSysParameters", "other",
       lambda d, i: dict(i.osparams),
       "OS parameters set on the instance itself"),
    _i("vcpus", "VCPUs", "number", _be_param("vcpus"),
       "Configured virtual CPUs"),
    _i("ip", "IP_address", "text", _first_nic(lambda d, nic: nic.ip),
       "IP address of the first NIC"),
    _i("mac", "MAC_address", "text", _first_nic(lambda d, nic: nic.mac),
       "MAC address of the first NIC"),
    _i("nic_mode", "NIC_Mode", "text",
       _first_nic(lambda d, nic: _nic_param(d, nic, "mode")),
       "Mode of the first NIC"),
    _i("nic_link", "NIC_Link", "text",
       _first_nic(lambda d, nic: _nic_param(d, nic, "link")),
       "Link of the first NIC"),
    _i("bridge", "Bridge", "text", _first_nic(_nic_bridge),
       "Bridge of the first NIC (bridged mode)"),
    _i("sda_size", "Disk/0", "unit", _disk_size(0), "Size of disk 0 (MiB)"),
    _i("sdb_size", "Disk/1", "unit", _disk_size(1), "Size of disk 1 (MiB)"),
    _i("disk_usage", "DiskUsage", "unit", lambda d, i: _disk_usage(i),
       "Disk space the instance takes on each of its nodes (MiB)"),
    _i("disk.count", "Disks", "number", lambda d, i: len(i.disks),
       "Number of disks"),
    _i("disk.sizes", "Disk_sizes", "list",
       lambda d, i: [disk.size for disk in i.disks], "Disk sizes (MiB)"),
    _i("disk.names", "Disk_names", "list",
       lambda d, i: [disk.name for disk in i.disks], "Disk names"),
    _i("disk.spindles", "Disk_spindles", "list",
       lambda d, i: [disk.spindles for disk in i.disks],
       "Spindles of the disks (None where not given)"),
    _i("disk.uuids", "Disk_UUIDs", "list",
       lambda d, i: [disk.uuid for disk in i.disks], "UUIDs of the disks"),
    _i("nic.uuids", "NIC_UUIDs", "list", _all_nics(lambda d, nic: nic.uuid),
       "UUIDs of the NICs"),
    _i("nic.networks", "NIC_networks", "list",
       _all_nics(lambda d, nic: None),
       "Networks of the NICs (None each: this cluster has no network"
       " objects)"),
    _i("nic.networks.names", "NIC_networks_names", "list",
       _all_nics(lambda d, nic: None),
       "Names of the networks of the NICs (None each, as nic.networks)"),
    _i("nic.count", "NICs", "number", lambda d, i: len(i.nics),
       "Number of NICs"),
    _i("nic.macs", "NIC_MACs", "list", _all_nics(lambda d, nic: nic.mac),
       "MAC addresses of the NICs"),
    _i("nic.ips", "NIC_IPs", "list", _all_nics(lambda d, nic: nic.ip),
       "IP addresses of the NICs"),
    _i("nic.names", "NIC_Names", "list", _all_nics(lambda d, nic: nic.name),
       "Names of the NICs"),
    _i("nic.modes", "NIC_modes", "list",
       _all_nics(lambda d, nic: _nic_param(d, nic, "mode")),
       "Modes of the NICs"),
    _i("nic.links", "NIC_links", "list",
       _all_nics(lambda d, nic: _nic_param(d, nic, "link")),
       "Links of the NICs"),
    _i("nic.bridges", "NIC_bridges", "list", _all_nics(_nic_bridge),
       "Bridges of the NICs (None where not bridged)"),
    _i("tags", "Tags", "list", lambda d, i: list(i.tags), "Tags"),
    _i("serial_no", "SerialNo", "number", _cfg("serial_no"),
       "Serial number of the instance's configuration"),
    _i("ctime", "CTime", "timestamp", _cfg("ctime"), "Creation time"),
    _i("mtime", "MTime", "timestamp", _cfg("mtime"), "Modification time"),
    _i("uuid", "UUID", "text", _cfg("uuid"), "Instance UUID"),
    _i("oper_state", "Running", "bool",
       lambda d, i: d.running(i) is not None,
       "Whether the instance runs", live=True),
    FieldDef("oper_ram", "Memory", "unit", _running_key("memory"), True,
             "Memory of the running instance (MiB); - when it does not run",
             stopped="-"),
    FieldDef("oper_vcpus", "VCPUs", "number", _running_key("vcpus"), True,
             "Virtual CPUs of the running instance; - when it does not run",
             stopped="-"),
    _i("status", "Status", "text", _status,
       "running, ADMIN_down, ERROR_up, ERROR_down, ERROR_nodedown or"
       " ERROR_nodeoffline", live=False),
    *_hv_fields(),
    *_be_fields(),
], families=[
    FieldFamily("disk.size/{n}", "Disk/{n}", "unit", _disk_size,
                "Size of disk {n} (MiB)"),
    *_nic_families(),
], default=("name", "hypervisor", "os", "pnode", "status", "oper_ram"),
   running="oper_state")

#: Fields computed from live data although not flagged live above because
#: they also report node problems (``status``).
_INSTANCE_LIVE_USERS: Final = frozenset(["status"])


def instance_needs_live(fields: Iterable[str],
                        filt: qlang.Filter | None = None) -> bool:
    names = list(fields)
    if filt is not None:
        names += [n for n in qlang.referenced_fields(filt)
                  if INSTANCE_FIELDS.get(n)]
    return any(f.live or f.name in _INSTANCE_LIVE_USERS
               for f in INSTANCE_FIELDS.resolve(names))


def instance_query_data(cfg: ConfigWriter, live: InstanceLive | None = None
                        ) -> InstanceQueryData:
    # Read-only views: a query of 10,000 instances copies no node.
    nodes = {node.name: node for node in cfg.view_nodes(cfg.node_names())}
    return InstanceQueryData(cfg.get_cluster(), nodes, live, _groups(cfg))


# --- Node groups ------------------------------------------------------------------

@dataclass
class GroupQueryData:
    """What group fields are computed from: group UUID -> member node
    names, and -> names of the instances whose primary node is a member."""

    cluster: objects.Cluster
    members: Mapping[str, list[str]]
    primaries: Mapping[str, list[str]]


_g = _n  # the same declaration helper as the nodes'


def _group_diskparams(cluster: objects.Cluster, group: objects.NodeGroup
                      ) -> dict[str, Any]:
    return {template: cluster.fill_disk(template, group.diskparams.get(template))
            for template in sorted(constants.DISK_TEMPLATES)}


GROUP_FIELDS: Final = _table(constants.QR_GROUP, [
    _g("name", "Group", "text", _cfg("name"), "Group name"),
    _g("uuid", "UUID", "text", _cfg("uuid"), "Group UUID"),
    _g("alloc_policy", "AllocPolicy", "text", _cfg("alloc_policy"),
       "Allocation policy: preferred, last_resort or unallocable"),
    _g("node_cnt", "Nodes", "number",
       lambda d, g: len(d.members.get(g.uuid, [])), "Number of nodes"),
    _g("node_list", "NodeList", "list",
       lambda d, g: list(d.members.get(g.uuid, [])), "Nodes of the group"),
    _g("pinst_cnt", "Instances", "number",
       lambda d, g: len(d.primaries.get(g.uuid, [])),
       "Number of primary instances on the group's nodes"),
    _g("pinst_list", "InstanceList", "list",
       lambda d, g: list(d.primaries.get(g.uuid, [])),
       "Primary instances on the group's nodes"),
    _g("ndparams", "NDParams", "other",
       lambda d, g: d.cluster.fill_nd(g.ndparams), "Node parameters"),
    _g("custom_ndparams", "CustomNDParams", "other",
       lambda d, g: dict(g.ndparams), "Node parameters set on the group"),
    _g("ipolicy", "InstancePolicy", "other",
       lambda d, g: d.cluster.fill_ipolicy(g), "Effective instance policy"),
    _g("custom_ipolicy", "CustomInstancePolicy", "other",
       lambda d, g: dict(g.ipolicy), "Instance policy set on the group"),
    _g("diskparams", "DiskParameters", "other",
       lambda d, g: _group_diskparams(d.cluster, g),
       "Effective disk parameters"),
    _g("custom_diskparams", "CustomDiskParameters", "other",
       lambda d, g: dict(g.diskparams), "Disk parameters set on the group"),
    _g("networks", "Networks", "list", lambda d, g: [],
       "Networks connected to the group (none: this cluster has no network"
       " objects)"),
    _g("tags", "Tags", "list", lambda d, g: list(g.tags), "Tags"),
    _g("serial_no", "SerialNo", "number", _cfg("serial_no"),
       "Serial number of the group's configuration"),
    _g("ctime", "CTime", "timestamp", _cfg("ctime"), "Creation time"),
    _g("mtime", "MTime", "timestamp", _cfg("mtime"), "Modification time"),
], default=("name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"))


def group_query_data(cfg: ConfigWriter) -> GroupQueryData:
    members: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}
    for name in cfg.node_names():
        node = cfg.get_node(name)
        if node is not None:
            members.setdefault(node.group, []).append(name)
            group_of[name] = node.group
    primaries: dict[str, list[str]] = {}
    for name in cfg.instance_names():
        inst = cfg.get_instance(name)
        if inst is not None and inst.primary_node in group_of:
            primaries.setdefault(group_of[inst.primary_node], []).append(name)
    return GroupQueryData(cfg.get_cluster(), members, primaries)


# --- Jobs ---------------------------------------------------------------------------

def _from_row(name: str) -> Getter:
    return lambda data, row: row[name]


def _j(name: str, title: str, kind: str, doc: str) -> FieldDef:
    return FieldDef(name, title, kind, _from_row(name), doc=doc)


#: The job fields (``gnt-job list -o``).  The job queue computes them
#: (:data:`ganeti.jqueue.model.JOB_FIELDS`, a test checks both name the
#: same fields with the same titles); this table is what the listings say
#: about them, and its getters read a ``{field: value}`` row.
JOB_FIELDS: Final = _table(constants.QR_JOB, [
    _j("id", "ID", "number", "Job ID"),
    _j("status", "Status", "text", "Job status (queued, waiting, running,"
       " success, error, canceling, canceled)"),
    _j("priority", "Prio", "number", "Current priority of the job"),
    _j("ops", "OpCodes", "list", "The job's opcodes"),
    _j("opresult", "OpCode_result", "list", "Result of each opcode"),
    _j("opstatus", "OpCode_status", "list", "Status of each opcode"),
    _j("oplog", "OpCode_log", "list", "Log entries of each opcode"),
    _j("oppriority", "OpCode_prio", "list", "Priority of each opcode"),
    _j("summary", "Summary", "list", "One-line summary of each opcode"),
    _j("received_ts", "Received", "other", "When the job was submitted"),
    _j("start_ts", "Start", "other", "When the job started"),
    _j("end_ts", "End", "other", "When the job ended"),
    _j("opstart", "OpCode_start", "list",
       "When each opcode started (before its locks were acquired)"),
    _j("opexec", "OpCode_exec", "list",
       "When each opcode started executing (its locks acquired)"),
    _j("opend", "OpCode_end", "list", "When each opcode ended"),
    _j("lock_status", "LockStatus", "text",
       "What the running opcode waits for, if it waits for locks"),
], default=("id", "status", "summary"))


#: The lock fields (``gnt-debug locks -o``), computed by the master
#: daemon's ``QueryLocks``; getters read a ``{field: value}`` row.
LOCK_FIELDS: Final = _table(constants.QR_LOCK, [
    _j("name", "Name", "text", "Lock name"),
    _j("mode", "Mode", "text", "Mode in which the lock is held (shared or"
       " exclusive; - when free)"),
    _j("owner", "Owner", "list", "The jobs holding the lock"),
    _j("pending", "Pending", "list",
       "The jobs waiting for the lock, with the mode each wants"),
], default=("name", "mode", "owner", "pending"))


#: The tables of the query2 resources (``/2/query/<what>``).
TABLES: Final[dict[str, FieldTable]] = {
    constants.QR_NODE: NODE_FIELDS,
    constants.QR_INSTANCE: INSTANCE_FIELDS,
    constants.QR_GROUP: GROUP_FIELDS,
}


def table_for(what: str) -> FieldTable:
    table = TABLES.get(what)
    if table is None:
        raise errors.OpPrereqError(
            f"Queries of resource {what!r} are not supported (supported:"
            f" {', '.join(sorted(TABLES))})", errors.ErrorCode.INVAL)
    return table
