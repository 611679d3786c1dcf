"""The configuration objects: Cluster, Node, Instance, Disk, NIC.

Each is a typed :class:`~ganeti.records.Record`; one generic codec
(``to_dict``/``from_dict``) serializes them, and :class:`ConfigData` is the
versioned document stored in ``config.data``.  Parameter dictionaries keep
only what was set at their level; the effective values come from the
inheritance rule in :mod:`ganeti.params` (cluster default -> per-OS /
per-hypervisor / per-template default -> per-instance, per-NIC, per-disk).
"""

from __future__ import annotations

import time
import uuid as _uuid
from collections.abc import Mapping
from typing import Any

from ganeti import constants, errors, ht, ipolicy, params
from ganeti.records import Record, field

#: A parameter dictionary (one level of it): name -> value.
ParamDict = dict[str, Any]


def new_uuid() -> str:
    return str(_uuid.uuid4())


def now() -> float:
    return time.time()


class ConfigObject(Record):
    """Base of config objects: errors are :class:`ConfigurationError`."""

    ERROR = errors.ConfigurationError


class TaggableObject(ConfigObject):
    """An object that carries tags (cluster, node, instance)."""

    tags: list[str] = field(default=[], doc="Tags, sorted, unique")

    def add_tag(self, tag: str) -> None:
        if not ht.TTag(tag):
            raise errors.TagError(f"Invalid tag {tag!r}: "
                                  f"{ht.describe_failure(ht.TTag, tag)}")
        if tag in self.tags:
            return
        if len(self.tags) >= constants.MAX_TAGS_PER_OBJ:
            raise errors.TagError("Too many tags on this object",
                                  errors.ErrorCode.NORES)
        self.tags = sorted([*self.tags, tag])

    def remove_tag(self, tag: str) -> None:
        if tag not in self.tags:
            raise errors.TagError(f"Tag {tag!r} not found",
                                  errors.ErrorCode.NOENT)
        self.tags = [t for t in self.tags if t != tag]


class NIC(ConfigObject):
    """A network interface of an instance."""

    mac: str = field(check=ht.TMacAddress, doc="MAC address")
    ip: str | None = field(default=None, check=ht.TIPAddress,
                           doc="IP address (required in routed mode)")
    nicparams: ParamDict = field(default={},
                                 doc="Overrides of the cluster nicparams")
    name: str | None = field(default=None, check=ht.TMaybeObjectName,
                             doc="User-given name (DISK/NIC name parameter)")
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")


class Disk(ConfigObject):
    """A disk (a block device, possibly built from children)."""

    dev_type: str = field(check=ht.TElemOf(constants.LOGICAL_DISK_TYPES),
                          doc="Block device type (lvm, drbd8, file)")
    size: int = field(check=ht.TNonNegativeInt, doc="Size in MiB")
    logical_id: list[Any] = field(default=[],
                                  doc="Type-specific identity of the device")
    physical_id: list[Any] = field(default=[],
                                   doc="Type-specific runtime identity")
    children: list[Disk] = field(default=[], doc="Component devices")
    iv_name: str = field(default="", doc="Name inside the instance (disk/0)")
    mode: str = field(default=constants.DISK_RDWR,
                      check=ht.TElemOf(constants.DISK_ACCESS_SET),
                      doc="Access mode")
    params: ParamDict = field(default={},
                              doc="Overrides of the template's diskparams")
    name: str | None = field(default=None, check=ht.TMaybeObjectName,
                             doc="User-given name (DISK/NIC name parameter)")
    spindles: int | None = field(default=None, check=ht.TMaybePositiveInt,
                                 doc="Spindles the disk uses (exclusive"
                                     " storage); None when not given")
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")


class Instance(TaggableObject):
    """A virtual machine."""

    name: str = field(check=ht.THostname, doc="Instance name (FQDN)")
    primary_node: str = field(check=ht.TNonEmptyString, doc="Primary node name")
    os: str = field(default="", doc="OS name, maybe with +variant")
    hypervisor: str = field(check=ht.TElemOf(constants.HYPER_TYPES),
                            doc="Hypervisor")
    hvparams: ParamDict = field(default={}, doc="Hypervisor parameter overrides")
    beparams: ParamDict = field(default={}, doc="Backend parameter overrides")
    osparams: ParamDict = field(default={}, doc="OS parameter overrides")
    admin_up: bool = field(default=False, doc="Administratively running")
    nics: list[NIC] = field(default=[], doc="Network interfaces")
    disks: list[Disk] = field(default=[], doc="Disks")
    disk_template: str = field(check=ht.TElemOf(constants.DISK_TEMPLATES),
                               doc="Disk template")
    network_port: int | None = field(default=None,
                                     doc="Console port (VNC) if allocated")
    serial_no: int = field(default=1, check=ht.TNonNegativeInt)
    ctime: float = field(default_factory=now)
    mtime: float = field(default_factory=now)
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")

    @property
    def secondary_nodes(self) -> list[str]:
        """Secondary nodes from DRBD disks' logical ids (node_a, node_b, ...)."""
        nodes: set[str] = set()

        def walk(disk: Disk) -> None:
            if disk.dev_type == constants.LD_DRBD8 and len(disk.logical_id) >= 2:
                nodes.update(str(n) for n in disk.logical_id[:2])
            for child in disk.children:
                walk(child)

        for disk in self.disks:
            walk(disk)
        nodes.discard(self.primary_node)
        return sorted(nodes)

    @property
    def all_nodes(self) -> list[str]:
        return [self.primary_node, *self.secondary_nodes]


class Node(TaggableObject):
    """A physical node."""

    name: str = field(check=ht.THostname, doc="Node name (FQDN)")
    primary_ip: str = field(check=ht.TIPAddress, doc="Primary IP")
    secondary_ip: str = field(check=ht.TIPAddress,
                              doc="Secondary (replication) IP")
    master_candidate: bool = field(default=False)
    offline: bool = field(default=False)
    drained: bool = field(default=False)
    group: str = field(default="", doc="UUID of the node's group")
    ndparams: ParamDict = field(default={},
                                doc="Node parameter overrides (ndparams)")
    serial_no: int = field(default=1, check=ht.TNonNegativeInt)
    ctime: float = field(default_factory=now)
    mtime: float = field(default_factory=now)
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")

    @property
    def role(self) -> str:
        """The one-letter role of ``gnt-node list`` (without master)."""
        if self.offline:
            return constants.NR_OFFLINE
        if self.drained:
            return constants.NR_DRAINED
        if self.master_candidate:
            return constants.NR_MCANDIDATE
        return constants.NR_REGULAR


class NodeGroup(TaggableObject):
    """A node group: nodes sharing allocation policy and parameters.

    ``ipolicy`` and ``diskparams`` hold only the group's overrides of the
    cluster's (see :func:`ganeti.ipolicy.fill`); ``ndparams`` likewise.
    """

    name: str = field(check=ht.TNonEmptyString, doc="Group name")
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")
    alloc_policy: str = field(
        default=constants.ALLOC_POLICY_PREFERRED,
        check=ht.TElemOf(constants.VALID_ALLOC_POLICIES),
        doc="preferred, last_resort or unallocable")
    ndparams: ParamDict = field(default={}, doc="Node parameter overrides")
    diskparams: dict[str, ParamDict] = field(
        default={}, doc="Per-disk-template overrides: template -> params")
    ipolicy: ParamDict = field(default={},
                               doc="Instance policy overrides")
    serial_no: int = field(default=1, check=ht.TNonNegativeInt)
    ctime: float = field(default_factory=now)
    mtime: float = field(default_factory=now)


class RedistFile(ConfigObject):
    """A cluster-listed extra file pushed by ``redist-conf``."""

    path: str = field(check=ht.TAbsolutePath, doc="Absolute path on nodes")
    target: str = field(default="all",
                        check=ht.TElemOf(["all", "candidates"]),
                        doc="Which nodes get it: all, or master candidates")


class Cluster(TaggableObject):
    """Cluster-wide settings and parameter defaults."""

    cluster_name: str = field(check=ht.THostname)
    uuid: str = field(default_factory=new_uuid, doc="Persistent UUID")
    serial_no: int = field(default=1, check=ht.TNonNegativeInt)
    ctime: float = field(default_factory=now)
    mtime: float = field(default_factory=now)
    master_node: str = field(check=ht.TNonEmptyString)
    master_ip: str = field(check=ht.TIPAddress)
    master_netdev: str = field(default="")
    mac_prefix: str = field(default=constants.DEFAULT_MAC_PREFIX,
                            check=ht.TMacPrefix)
    volume_group_name: str | None = field(default=None)
    file_storage_dir: str = field(default="", doc="File storage directory")
    highest_used_port: int = field(default=constants.FIRST_DRBD_PORT - 1)
    tcpudp_port_pool: list[int] = field(default=[])
    rsahostkeypub: str = field(default="")
    enabled_hypervisors: list[str] = field(
        default=list(constants.DEFAULT_ENABLED_HYPERVISORS),
        check=ht.TListOf(ht.TElemOf(constants.HYPER_TYPES)))
    hvparams: dict[str, ParamDict] = field(
        default={}, doc="Per-hypervisor defaults: hv -> params")
    os_hvp: dict[str, dict[str, ParamDict]] = field(
        default={}, doc="Per-OS hypervisor overrides: os -> hv -> params")
    beparams: dict[str, ParamDict] = field(
        default={}, doc="Backend defaults: 'default' -> params")
    nicparams: dict[str, ParamDict] = field(
        default={}, doc="NIC defaults: 'default' -> params")
    diskparams: dict[str, ParamDict] = field(
        default={}, doc="Per-disk-template defaults: template -> params")
    ndparams: ParamDict = field(default={}, doc="Node parameter defaults")
    osparams: dict[str, ParamDict] = field(
        default={}, doc="Per-OS parameter defaults: os -> params")
    candidate_pool_size: int = field(
        default=constants.DEFAULT_CANDIDATE_POOL_SIZE, check=ht.TPositiveInt)
    modify_etc_hosts: bool = field(default=True)
    modify_ssh_setup: bool = field(default=True)
    maintain_node_health: bool = field(default=False)
    uid_pool: list[list[int]] = field(default=[],
                                      doc="User-id ranges [lo, hi]")
    hidden_os: list[str] = field(default=[])
    blacklisted_os: list[str] = field(default=[])
    redist_files: list[RedistFile] = field(
        default=[], doc="Extra files redist-conf distributes")
    ipolicy: ParamDict = field(default_factory=ipolicy.default_policy,
                               doc="Instance policy (complete)")
    default_iallocator: str = field(
        default="", doc="Iallocator used when no node and no -I is given"
        " (empty: none)")

    # --- Parameter inheritance (the rule itself lives in ganeti.params) ---

    def fill_hv(self, hv: str, os_name: str | None = None,
                inst_hvparams: Mapping[str, Any] | None = None, *,
                skip_globals: bool = False) -> ParamDict:
        """Effective hypervisor parameters: declared defaults -> cluster
        ``hvparams[hv]`` -> ``os_hvp[os][hv]`` (base name, then
        ``os+variant``) -> instance.

        Global-only parameters come from the cluster alone: values an old
        configuration still has at OS or instance level are ignored.
        ``skip_globals`` drops them from the result (instance queries).
        """
        levels: list[Mapping[str, Any] | None] = [self.hvparams.get(hv)]
        for key in params.os_levels(os_name):
            levels.append(params.strip_globals(
                self.os_hvp.get(key, {}).get(hv)))
        levels.append(params.strip_globals(inst_hvparams))
        result = params.fill(params.hv_defaults(hv), *levels)
        if skip_globals:
            return params.strip_globals(result)
        return result

    def fill_be(self, beparams: Mapping[str, Any] | None = None) -> ParamDict:
        """Declared defaults -> cluster ``beparams["default"]`` -> given."""
        return params.fill(params.be_defaults(),
                           self.beparams.get(params.PP_DEFAULT), beparams)

    def fill_nd(self, *levels: Mapping[str, Any] | None) -> ParamDict:
        """Declared defaults -> cluster ``ndparams`` -> the given levels
        (a node group's, then the node's own)."""
        return params.fill(params.nd_defaults(), self.ndparams, *levels)

    def filled_ndparams(self, node: Node,
                        group: NodeGroup | None = None) -> ParamDict:
        """A node's effective parameters: the cluster's, its group's
        (when given), its own."""
        return self.fill_nd(group.ndparams if group is not None else None,
                            node.ndparams)

    def fill_nic(self, nicparams: Mapping[str, Any] | None = None) -> ParamDict:
        """Declared defaults -> cluster ``nicparams["default"]`` -> given."""
        return params.fill(params.nic_defaults(),
                           self.nicparams.get(params.PP_DEFAULT), nicparams)

    def fill_disk(self, template: str,
                  diskparams: Mapping[str, Any] | None = None) -> ParamDict:
        """Declared template defaults -> cluster ``diskparams[template]``
        -> given (a disk's own ``params``)."""
        return params.fill(params.disk_defaults(template),
                           self.diskparams.get(template), diskparams)

    def fill_os(self, os_name: str,
                osparams: Mapping[str, Any] | None = None) -> ParamDict:
        """Cluster ``osparams`` of the base OS name, then of ``os+variant``,
        then the given (instance) values."""
        levels = [self.osparams.get(key) for key in params.os_levels(os_name)]
        return params.fill({}, *levels, osparams)

    def filled_hvparams(self, instance: Instance, *,
                        skip_globals: bool = False) -> ParamDict:
        return self.fill_hv(instance.hypervisor, instance.os,
                            instance.hvparams, skip_globals=skip_globals)

    def fill_ipolicy(self, group: NodeGroup | None) -> ParamDict:
        """The cluster's instance policy with the group's overrides."""
        return ipolicy.fill(self.ipolicy, group.ipolicy if group else None)

    def filled_beparams(self, instance: Instance) -> ParamDict:
        return self.fill_be(instance.beparams)

    def filled_osparams(self, instance: Instance) -> ParamDict:
        return self.fill_os(instance.os, instance.osparams)

    def filled_nicparams(self, nic: NIC) -> ParamDict:
        return self.fill_nic(nic.nicparams)

    def filled_diskparams(self, instance: Instance, disk: Disk) -> ParamDict:
        return self.fill_disk(instance.disk_template, disk.params)

    def upgrade_defaults(self) -> None:
        """Complete the cluster-level parameter dictionaries in place.

        Every enabled (or already configured) hypervisor gets a complete
        ``hvparams`` entry, ``beparams``/``nicparams`` get a complete
        ``default`` group and every disk template a complete
        ``diskparams`` entry: missing keys come from the declarations,
        values written as text (``"true"``) are converted.  Global-only
        names are dropped from ``os_hvp`` (they have no effect there).
        Unknown names and bad values are kept for verify to report.
        """
        for hv in dict.fromkeys([*self.enabled_hypervisors, *self.hvparams]):
            spec = params.HV_PARAMETERS.get(hv)
            if spec is not None:
                current = params.normalize(self.hvparams.get(hv, {}), spec)
                self.hvparams[hv] = params.fill(params.defaults_of(spec),
                                                current)
        for os_name, per_hv in self.os_hvp.items():
            self.os_hvp[os_name] = {hv: params.strip_globals(values)
                                    for hv, values in per_hv.items()}
        default = params.PP_DEFAULT
        self.beparams[default] = params.fill(
            params.be_defaults(),
            params.normalize(self.beparams.get(default, {}),
                             params.BE_PARAMETERS))
        self.nicparams[default] = params.fill(
            params.nic_defaults(),
            params.normalize(self.nicparams.get(default, {}),
                             params.NIC_PARAMETERS))
        self.ndparams = params.fill(
            params.nd_defaults(),
            params.normalize(self.ndparams, params.ND_PARAMETERS))
        for template, spec in params.DISK_PARAMETERS.items():
            current = params.normalize(self.diskparams.get(template, {}), spec)
            self.diskparams[template] = params.fill(params.defaults_of(spec),
                                                    current)

    def verify_params(self) -> list[str]:
        """Problems of the cluster-level parameters, one line each."""
        problems: list[str] = []
        for hv, values in sorted(self.hvparams.items()):
            spec = params.HV_PARAMETERS.get(hv)
            if spec is None:
                problems.append(f"hvparams: unknown hypervisor {hv!r}")
                continue
            problems += params.find_problems(
                values, component=params.hv_component(hv), spec=spec)
        for os_name, per_hv in sorted(self.os_hvp.items()):
            for hv, values in sorted(per_hv.items()):
                spec = params.HV_PARAMETERS.get(hv)
                if spec is None:
                    problems.append(f"os_hvp {os_name!r}: unknown hypervisor"
                                    f" {hv!r}")
                    continue
                problems += [f"os_hvp {os_name!r}: {msg}"
                             for msg in params.find_problems(
                                 values, component=params.hv_component(hv),
                                 spec=spec, allow_global=False, level="os")]
        for _, values in sorted(self.beparams.items()):
            problems += params.find_problems(
                values, component=params.BE_COMPONENT, spec=params.BE_PARAMETERS)
        problems += params.find_problems(
            self.ndparams, component=params.ND_COMPONENT,
            spec=params.ND_PARAMETERS)
        for _, values in sorted(self.nicparams.items()):
            problems += params.find_problems(
                values, component=params.NIC_COMPONENT,
                spec=params.NIC_PARAMETERS)
        for template, values in sorted(self.diskparams.items()):
            spec = params.DISK_PARAMETERS.get(template)
            if spec is None:
                problems.append(f"diskparams: unknown disk template"
                                f" {template!r}")
                continue
            problems += params.find_problems(
                values, component=params.disk_component(template), spec=spec)
        for os_name, values in sorted(self.osparams.items()):
            problems += [
                f"osparams {os_name!r}: parameter {name!r}: "
                f"{ht.describe_failure(params.OS_VALUE_CHECK, value)}"
                for name, value in sorted(values.items())
                if not params.OS_VALUE_CHECK(value)]
        return problems


class ConfigData(ConfigObject):
    """The whole configuration document (``config.data``)."""

    version: int = field(default=constants.CONFIG_VERSION)
    cluster: Cluster
    nodes: dict[str, Node] = field(default={}, doc="By node name")
    instances: dict[str, Instance] = field(default={}, doc="By instance name")
    nodegroups: dict[str, NodeGroup] = field(default={}, doc="By group UUID")
    serial_no: int = field(default=1, check=ht.TNonNegativeInt)
    ctime: float = field(default_factory=now)
    mtime: float = field(default_factory=now)
