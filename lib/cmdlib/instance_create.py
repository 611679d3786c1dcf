"""Instances coming and going: create, remove, reinstall, rename.

- :class:`LUInstanceCreate` (hooks ``instance-add``): checks names, the
  node, the OS and every parameter before anything is created; creates
  the disks (or adopts existing volumes, see
  :mod:`ganeti.cmdlib.instance_adopt`), adds the instance to the
  configuration, runs the OS create script and starts the instance.
  What was created is removed again when the disks or the OS
  installation fail (adopted volumes get their names back); when only
  the start fails the instance stays, stopped (admin down) and with its
  lock.
- :class:`LUInstanceRemove` (``instance-remove``): stops the instance,
  removes its disks, drops it from the configuration.
- :class:`LUInstanceReinstall` (``instance-reinstall``): runs the OS
  create script again (``INSTANCE_REINSTALL=1``), optionally with
  another OS; see :func:`reinstall_osparams` for the OS parameter rule.
- :class:`LUInstanceRename` (``instance-rename``): renames the instance
  in the configuration, its file storage directory and runs the OS
  rename script.

Locks.  Creation takes the BGL shared; the new instance's lock is added
to the lock manager held (which also keeps a concurrent creation of the
same name out), then the primary node's lock is acquired, from
:meth:`LUInstanceCreate.check_prereq`.  Both go away with the other locks
at the end of the opcode; on failure the instance lock is removed again
unless the instance is in the configuration (the lock set follows the
configuration).
Removal holds the instance and its nodes and drops the instance lock
after releasing the nodes.  Rename holds the BGL exclusively (it replaces
one lock name by another).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ganeti import (
    constants,
    errors,
    ht,
    hypervisor,
    objects,
    opcodes,
    osdef,
    params,
)
from ganeti.cmdlib import drbd, drbd_place, iallocator, instance_adopt
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import FROM_INSTANCES, Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.instance_policy import check_instance_policy
from ganeti.iallocator import request as ireq
from ganeti.locking import manager as lockmgr
from ganeti.storage import templates

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter

EC = errors.ErrorCode

# --- Names ------------------------------------------------------------------------

#: ``resolver(name) -> (full name, IPv4 address)``; raises ResolverError.
Resolver = Callable[[str], tuple[str, str]]
#: ``ip_answers(ip) -> bool``: whether something answers at the address.
Pinger = Callable[[str], bool]


def system_resolver(name: str) -> tuple[str, str]:
    """Resolve ``name`` with the system resolver."""
    try:
        full, _, addresses = socket.gethostbyname_ex(name)
    except (OSError, UnicodeError):
        raise errors.ResolverError(
            f"Cannot resolve instance name '{name}' (use --no-name-check"
            " to create it without)", EC.RESOLVER, hostname=name) from None
    return full, addresses[0]


def tcp_ping(ip: str, port: int = constants.DEFAULT_NODED_PORT,
             timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``ip:port`` is accepted or refused
    (both mean the address is in use), as Ganeti's IP check does."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


_resolver: Resolver = system_resolver
_pinger: Pinger = tcp_ping


def set_name_services(resolver: Resolver | None = None,
                      pinger: Pinger | None = None) -> None:
    """Replace the resolver and the IP check (tests); None restores."""
    global _resolver, _pinger
    _resolver = resolver or system_resolver
    _pinger = pinger or tcp_ping


def check_name(name: str, name_check: bool, ip_check: bool
               ) -> tuple[str, str | None]:
    """The name to use and its IP (None without the name check).

    With the name check the name must resolve, and the full name found
    must start with the given one; with the IP check the address must not
    answer already."""
    if not ht.THostname(name):
        raise errors.OpPrereqError(f"Invalid instance name '{name:.80}'",
                                   EC.INVAL)
    if not name_check:
        return name, None
    full, ip = _resolver(name)
    if full != name and not full.startswith(name + "."):
        raise errors.OpPrereqError(
            f"Resolved name '{full}' does not match the given name '{name}'",
            EC.INVAL)
    if ip_check and _pinger(ip):
        raise errors.OpPrereqError(
            f"IP address {ip} of instance {full} is already in use",
            EC.NOTUNIQUE)
    return full, ip


# --- OS definitions seen from the master ------------------------------------------

def get_os(lu: LogicalUnit, node: str, os_name: str) -> osdef.OsDefinition:
    """The definition of ``os_name`` (variant ignored) on ``node``."""
    res = common.single(lu.rpc.call_os_get([node], os_name), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"OS '{params.split_os_name(os_name)[0]}' not usable on node"
            f" {node}: {res.fail_msg}", EC.ENVIRON)
    data = res.payload
    return osdef.OsDefinition(
        name=data["name"], path=data["path"],
        api_versions=tuple(data["api_versions"]),
        api_version=int(data["api_version"]), scripts={},
        variants=tuple(data["variants"]),
        parameters={k: v for k, v in data["parameters"]})


def check_os(lu: LogicalUnit, node: str, os_name: str, force_variant: bool,
             osparams: Mapping[str, Any], *,
             variant_required: bool = True) -> osdef.OsDefinition:
    """Check the OS, its variant and the instance-level ``osparams``
    (declared names, safe values); then let the OS's ``verify`` script
    judge the filled parameters on ``node``.

    An OS with variants needs one in ``os_name`` (unless
    ``force_variant`` or not ``variant_required``).  OS parameters given
    for an OS whose API has none (below 20) are accepted without checks
    and never reach its scripts, as in Ganeti."""
    definition = get_os(lu, node, os_name)
    cluster = lu.cfg.get_cluster()
    base = params.split_os_name(os_name)[0]
    if base in cluster.blacklisted_os:
        raise errors.OpPrereqError(
            f"OS '{base}' is blacklisted on this cluster", EC.STATE)
    with common.param_errors():
        if variant_required and not force_variant:
            osdef.require_variant(definition.variants, os_name)
        osdef.resolve_variant(definition, os_name, force_variant)
        if not definition.supports_parameters:
            return definition
        params.check_os_params(osparams, definition.parameters,
                               os_name=base)
        filled = cluster.fill_os(os_name, osparams)
        params.check_os_params(filled, definition.parameters, os_name=base)
    res = common.single(lu.rpc.call_os_validate(
        [node], True, os_name, ["parameters"], filled), node)
    if res.failed:
        raise errors.OpPrereqError(
            f"OS parameters of '{base}' refused on node {node}:"
            f" {res.fail_msg}", EC.INVAL)
    return definition


def reinstall_osparams(current_os: str, current: Mapping[str, Any],
                       new_os: str, declared: Mapping[str, str],
                       changes: Mapping[str, Any] | None,
                       keep_known: bool) -> dict[str, Any]:
    """The instance-level OS parameters after a reinstall.

    The same OS keeps them; another OS starts from none (its cluster
    defaults apply), or with ``keep_known`` from those of the current
    values that it declares too.  ``changes`` (``-O``) apply last, the
    word ``default`` removing a value.
    """
    same = params.split_os_name(current_os)[0] == \
        params.split_os_name(new_os)[0]
    if same:
        base = dict(current)
    elif keep_known:
        base = {k: v for k, v in current.items() if k in declared}
    else:
        base = {}
    if changes:
        base = params.update_os_params(base, changes, declared,
                                       os_name=params.split_os_name(new_os)[0])
    return base


# --- Parameters of a new instance -----------------------------------------------

def build_nics(cfg: ConfigWriter, specs: list[dict[str, Any]], name_ip: str | None,
               owner: str) -> list[objects.NIC]:
    """NIC objects from opcode specifications: MACs generated or
    reserved, ``ip=auto`` replaced by the name's address, nicparams
    checked (routed needs an IP)."""
    cluster = cfg.get_cluster()
    nics = []
    try:
        for idx, spec in enumerate(specs):
            ip = spec.get("ip")
            if ip == constants.VALUE_NONE:
                ip = None
            elif ip == constants.VALUE_AUTO:
                if name_ip is None:
                    raise errors.OpPrereqError(
                        f"NIC {idx}: ip=auto needs the name check",
                        EC.INVAL)
                ip = name_ip
            changes = {k: v for k, v in spec.items() if k in ("mode", "link")}
            if "bridge" in spec:
                if "link" in spec and spec["link"] != spec["bridge"]:
                    raise errors.OpPrereqError(
                        f"NIC {idx}: bridge and link differ", EC.INVAL)
                changes.setdefault("mode", constants.NIC_MODE_BRIDGED)
                changes["link"] = spec["bridge"]
            try:
                nicparams = params.update_nic_params({}, changes)
                params.check_nic(cluster.fill_nic(nicparams), ip)
            except errors.ParameterError as err:
                raise errors.OpPrereqError(f"NIC {idx}: {err.message}",
                                           EC.INVAL) from None
            mac = spec.get("mac", constants.VALUE_AUTO)
            if mac in (constants.VALUE_AUTO, constants.VALUE_GENERATE):
                mac = cfg.generate_mac(owner)
            else:
                cfg.reserve_mac(mac, owner)
            nics.append(objects.NIC(mac=str(mac).lower(), ip=ip,
                                    nicparams=nicparams,
                                    name=spec.get("name")))
        check_unique_names("NIC", [nic.name for nic in nics])
    except BaseException:
        cfg.release_reservations(owner)
        raise
    return nics


def disk_specs(template: str, specs: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Checked disk specifications: size, mode, template parameters (an
    adopted volume's size is filled in later, from the node)."""
    result = []
    for idx, spec in enumerate(specs):
        if "adopt" in spec:
            result.append({"adopt": spec["adopt"],
                           "mode": spec.get("mode", constants.DISK_RDWR),
                           "params": {}})
            continue
        try:
            disk_params = params.check_disk_params(template,
                                                   spec.get("params", {}))
        except errors.ParameterError as err:
            raise errors.OpPrereqError(f"Disk {idx}: {err.message}",
                                       EC.INVAL) from None
        size = spec.get("size")
        if not ht.TPositiveInt(size):
            raise errors.OpPrereqError(
                f"Disk {idx}: size must be a positive number of MiB, got"
                f" {size!r}", EC.INVAL)
        result.append({"size": size,
                       "mode": spec.get("mode", constants.DISK_RDWR),
                       "params": disk_params})
    for spec, checked in zip(specs, result, strict=True):
        checked.update({k: spec[k] for k in ("name", "spindles") if k in spec})
    check_unique_names("Disk", [spec.get("name") for spec in specs])
    return result


def check_unique_names(what: str, names: list[Any]) -> None:
    """Refuse two disks (or NICs) of one instance with the same name."""
    seen: set[Any] = set()
    for name in names:
        if name is not None and name in seen:
            raise errors.OpPrereqError(
                f"{what} name '{name}' is used twice in this instance",
                EC.NOTUNIQUE)
        seen.add(name)


def instance_file_dir(cluster: objects.Cluster, subdir: str | None) -> str:
    """The configured directory holding new instances' directories."""
    base = cluster.file_storage_dir
    if not base:
        raise errors.OpPrereqError(
            "File storage is not enabled on this cluster (no file storage"
            " directory)", EC.STATE)
    return os.path.normpath(os.path.join(base, subdir)) if subdir else base


# --- Create ----------------------------------------------------------------------

class LUInstanceCreate(LogicalUnit):
    """Create an instance (``gnt-instance add``)."""

    OP = opcodes.OpInstanceCreate
    op: opcodes.OpInstanceCreate
    HPATH = "instance-add"
    HTYPE = constants.HTYPE_INSTANCE

    def expand_names(self) -> LockRequest:
        op = self.op
        self.src_node: str | None = None
        if op.mode == constants.INSTANCE_IMPORT:
            if op.src_node is None:
                raise errors.OpPrereqError(
                    "Importing needs the node holding the export"
                    " (--src-node)", EC.INVAL)
            self.src_node = self.expand_node_name(op.src_node)
        #: The iallocator choosing the nodes (None: they were given).
        self.allocator = (None if op.pnode is not None else
                          iallocator.default_allocator(self, op.iallocator))
        if op.pnode is None and self.allocator is None:
            raise errors.OpPrereqError(
                "No primary node given (-n) and no iallocator (-I; the"
                " cluster has no default iallocator)", EC.INVAL)
        if self.allocator is not None and \
                any("adopt" in d for d in op.disks):
            raise errors.OpPrereqError(
                "Disk adoption needs an explicit node (-n), not an"
                " iallocator", EC.INVAL)
        self.snode: str | None = None
        if op.disk_template in constants.DTS_NET_MIRROR and \
                self.allocator is None:
            if op.snode is None:
                raise errors.OpPrereqError(
                    f"The {op.disk_template} template needs a secondary node"
                    " (-n PRIMARY:SECONDARY)", EC.INVAL)
            self.snode = self.expand_node_name(op.snode)
        self.name, self.name_ip = check_name(op.instance_name, op.name_check,
                                             op.ip_check)
        self.pnode = ("" if op.pnode is None
                      else self.expand_node_name(op.pnode))
        if self.snode == self.pnode:
            raise errors.OpPrereqError(
                f"The secondary node cannot be the primary node ({self.pnode})",
                EC.INVAL)
        self._claimed = False
        self._owner = f"create-{self.name}"
        #: Volumes adopted as the disks (``adopt=``), in disk order.
        self.adopted: list[str] = []
        return LockRequest(bgl_shared=True)

    # -- locks (see the module docstring) --

    def _claim_locks(self) -> None:
        if self._claimed or self.op.dry_run:
            return
        glm = getattr(self.ctx, "glm", None)
        if glm is not None:
            try:
                glm.add(lockmgr.LEVEL_INSTANCE, [self.name], acquired=True)
            except errors.LockError:
                raise errors.OpPrereqError(
                    f"Instance {self.name} already exists or is being"
                    " created", EC.EXISTS) from None
            self._claimed = True
            nodes = sorted({self.pnode, *([self.snode] if self.snode else [])})
            try:
                glm.acquire(lockmgr.LEVEL_NODE, nodes, shared=False)
            except BaseException:
                self._drop_lock()
                raise
            self.owned["instance"] = [self.name]
            self.owned["node"] = nodes
        self._claimed = True

    def _drop_lock(self) -> None:
        glm = getattr(self.ctx, "glm", None)
        if glm is None or not self._claimed:
            return
        if glm.is_owned(lockmgr.LEVEL_NODE):
            glm.release(lockmgr.LEVEL_NODE)
        glm.remove(lockmgr.LEVEL_INSTANCE, [self.name])
        self._claimed = False

    def _fail_cleanup(self) -> None:
        """After any failure: give back the reservations, and drop the
        instance lock unless the instance is in the configuration (then
        the lock must stay, or no later job could lock the instance)."""
        self.cfg.release_reservations(self._owner)
        if self.cfg.get_instance(self.name) is None:
            for port in getattr(self, "_drbd_ports", []):
                self.cfg.release_port(port)
            self._drbd_ports: list[int] = []
            self._drbd_ids: list[templates.DrbdIds] | None = None
            self._drop_lock()

    # -- phases --

    def check_prereq(self) -> None:
        if self.cfg.get_instance(self.name) is not None:
            raise errors.OpPrereqError(
                f"Instance {self.name} is already in the cluster", EC.EXISTS)
        if not self.pnode:
            self._allocate_nodes()
        self._claim_locks()
        try:
            self._check()
        except BaseException:
            self._fail_cleanup()
            raise

    def _allocate_nodes(self) -> None:
        """Ask the iallocator for the nodes (before any lock is held; the
        checks under the locks then apply to its choice as to a given
        one).  Nothing is reserved when it fails."""
        op = self.op
        assert self.allocator is not None
        if self.src_node is not None:
            self._read_export(self.src_node)
        cluster = self.cfg.get_cluster()
        hv = op.hypervisor or cluster.enabled_hypervisors[0]
        with common.param_errors():
            be = cluster.fill_be(params.update_be_params({}, op.beparams))
        specs = disk_specs(op.disk_template, list(op.disks))
        nodes = iallocator.allocate(self, self.allocator, ireq.NewInstance(
            name=self.name, disk_template=op.disk_template,
            memory=int(be["maxmem"]), vcpus=int(be["vcpus"]),
            disks=[{"size": int(s["size"]), "mode": s["mode"],
                    "spindles": s.get("spindles")} for s in specs],
            nics=list(op.nics), os=op.os_type or "", hypervisor=hv,
            spindle_use=int(be.get("spindle_use", 1))))
        self.pnode = nodes[0]
        self.snode = nodes[1] if len(nodes) > 1 else None
        self.feedback(f"Selected node(s) {', '.join(nodes)} for instance"
                      f" {self.name} (iallocator {self.allocator})")

    def _check(self) -> None:
        op = self.op
        cluster = self.cfg.get_cluster()
        if self.src_node is not None and not hasattr(self, "export"):
            self._read_export(self.src_node)
        pnode = common.check_node_online(self, self.pnode,
                                         f"create instance {self.name}")
        if pnode.drained:
            raise errors.OpPrereqError(
                f"Cannot create instance {self.name}: node {pnode.name} is"
                " drained", EC.STATE)
        hv = op.hypervisor or cluster.enabled_hypervisors[0]
        if hv not in cluster.enabled_hypervisors:
            raise errors.OpPrereqError(
                f"Hypervisor {hv} is not enabled on this cluster (enabled:"
                f" {', '.join(cluster.enabled_hypervisors)})", EC.STATE)
        with common.param_errors():
            hvparams = params.update_hv_params(hv, {}, op.hvparams,
                                               level="instance")
            hypervisor.get_hypervisor_class(hv).check_parameter_syntax(
                cluster.fill_hv(hv, op.os_type, hvparams),
                level="cluster")
            beparams = params.update_be_params({}, op.beparams)
            params.check_be_memory(cluster.fill_be(beparams))
        specs = disk_specs(op.disk_template, list(op.disks))
        self.adopted = [str(s["adopt"]) for s in specs if "adopt" in s]
        if self.adopted:
            sizes = instance_adopt.check_volumes(
                self, self.pnode, cluster.volume_group_name, specs)
            for spec, size in zip(specs, sizes, strict=True):
                spec["size"] = size
        fsd = "/"
        if op.disk_template == constants.DT_FILE:
            if not specs:
                raise errors.OpPrereqError(
                    "The file template needs at least one disk", EC.INVAL)
            fsd = instance_file_dir(cluster, op.file_storage_dir)
        drbd_nodes, drbd_ids = None, []
        if self.snode is not None:
            drbd_nodes = (self.pnode, self.snode)
            drbd_ids = self._check_mirror(cluster, specs)
        with common.param_errors():
            disks = templates.generate_disks(
                op.disk_template, specs, self.name, fsd,
                file_driver=op.file_driver,
                vg_name=cluster.volume_group_name, drbd_nodes=drbd_nodes,
                drbd=drbd_ids)
        for disk, spec in zip(disks, specs, strict=True):
            disk.params = spec["params"]
            disk.name = spec.get("name")
            disk.spindles = spec.get("spindles")
        if (op.disk_template == constants.DT_DRBD8
                or (op.disk_template == constants.DT_PLAIN
                    and not self.adopted)):
            requests = common.lv_requests(self, op.disk_template, disks)
            for node in [self.pnode, *([self.snode] if self.snode else [])]:
                common.check_vg_free(self, node, requests,
                                     f"the disks of instance {self.name}")
        assert op.os_type is not None
        self.osdef = check_os(self, self.pnode, op.os_type, op.force_variant,
                              op.osparams)
        if not hasattr(self, "nics"):
            self.nics = build_nics(self.cfg, list(op.nics), self.name_ip,
                                   self._owner)
        inst = objects.Instance(
            name=self.name, primary_node=self.pnode, os=op.os_type,
            hypervisor=hv, hvparams=hvparams, beparams=beparams,
            osparams=dict(op.osparams), admin_up=False, nics=self.nics,
            disks=disks, disk_template=op.disk_template)
        check_instance_policy(self.cfg, inst, ignore=op.ignore_ipolicy,
                              feedback=self.feedback)
        filled = common.filled_params(self.cfg, inst, cluster)
        if op.start:
            common.check_bridges(self, self.pnode, filled.nics)
            common.check_free_memory(self, self.pnode, int(filled.be["maxmem"]),
                                     hv, f"starting instance {self.name}")
        self.inst = inst
        self.dry_run_result = [self.pnode, *([self.snode] if self.snode
                                             else [])]
        if op.dry_run:
            self.cfg.release_reservations(self._owner)

    def _check_mirror(self, cluster: objects.Cluster,
                      specs: list[dict[str, Any]]) -> list[templates.DrbdIds]:
        """The secondary node can take the mirror; the DRBD minors (both
        nodes), ports and secrets of the new disks (reserved, given back
        on failure; a dry run takes nothing)."""
        assert self.snode is not None
        snode = common.check_node_online(
            self, self.snode, f"create instance {self.name} with its mirror"
            f" on node {self.snode}")
        if snode.drained:
            raise errors.OpPrereqError(
                f"Cannot create instance {self.name}: secondary node"
                f" {snode.name} is drained", EC.STATE)
        if not cluster.volume_group_name:
            raise errors.OpPrereqError(
                "The drbd template needs LVM, which is not enabled on this"
                " cluster (gnt-cluster modify --vg-name)", EC.STATE)
        if self.op.dry_run:
            return [templates.DrbdIds(constants.FIRST_DRBD_PORT, 0, 1, "")
                    for _ in specs]
        ids = getattr(self, "_drbd_ids", None)
        if ids is None:
            ids = self._drbd_ids = drbd_place.allocate_ids(
                self.cfg, self.pnode, self.snode, len(specs), self._owner)
            self._drbd_ports = [ident.port for ident in ids]
        return list(ids)

    def _read_export(self, src_node: str) -> None:
        """Import mode: read the export's config.ini from ``src_node``;
        the OS, disk sizes and NIC count default to the export's."""
        from ganeti.cmdlib import backup
        op = self.op
        assert op.src_path is not None
        self.export_name = os.path.basename(op.src_path.rstrip("/"))
        self.src_ip = common.check_node_online(
            self, src_node, f"import instance {self.name}").primary_ip
        res = common.single(self.rpc.call_export_info(
            [src_node], self.export_name), src_node)
        if res.failed:
            raise errors.OpPrereqError(
                f"Cannot read the export {self.export_name} on node"
                f" {src_node}: {res.fail_msg}", EC.NOENT)
        self.export = exp = backup.parse_export_config(
            str(res.payload), f"{self.export_name} on node {src_node}")
        if op.os_type is None:
            op.os_type = exp["os"]
        if not op.disks:
            op.disks = [{"size": d["size"]} for d in exp["disks"]]
        if len(op.disks) != len(exp["disks"]):
            raise errors.OpPrereqError(
                f"The export {self.export_name} has {len(exp['disks'])}"
                f" disk(s), {len(op.disks)} given", EC.INVAL)
        for idx, (spec, dumped) in enumerate(zip(op.disks, exp["disks"],
                                                 strict=True)):
            if int(spec.get("size", dumped["size"])) < dumped["size"]:
                raise errors.OpPrereqError(
                    f"Disk {idx} of {spec['size']} MiB is smaller than the"
                    f" exported one ({dumped['size']} MiB)", EC.INVAL)
        if not op.nics:
            op.nics = [{} for _ in exp["nics"]]

    def _import_disks(self, inst: objects.Instance,
                      filled: common.FilledParams, feedback: Feedback) -> None:
        from ganeti.cmdlib import backup, disk_copy
        from ganeti.rpc.result import RpcResult
        src = self.src_node
        assert src is not None
        peer = "" if src == self.pnode else self.src_ip
        for idx, disk in enumerate(inst.disks):
            dump = self.export["disks"][idx]["dump"]
            feedback(f"* importing {disk.iv_name} from {self.export_name}"
                     f" on node {src}")
            progress = disk_copy.CopyProgress(disk.iv_name, disk.size * 2**20,
                                              feedback)
            def run(idx: int = idx, dump: str = dump) -> RpcResult:
                return self.rpc.call_import_disk(
                    [self.pnode], inst.to_dict(), idx, peer, self.export_name,
                    dump, filled.hv, filled.be, filled.nics,
                    filled.os)[self.pnode]
            try:
                backup.watch_transfer(self.rpc, progress, self.pnode,
                                      self.export_name, dump, run)
            except errors.GenericError as err:
                raise errors.OpExecError(
                    f"Could not import {disk.iv_name} of instance {inst.name}"
                    f" on node {self.pnode}: {err}") from None

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env = common.instance_hooks_env(
            self.cfg, self.inst, ADD_MODE=self.op.mode,
            INSTANCE_STATUS=(constants.ADMINST_UP if self.op.start
                             else constants.ADMINST_DOWN))
        pre, post = common.hook_nodes(self.cfg, self.inst)
        return env, pre, post

    def execute(self, feedback: Feedback) -> Any:
        try:
            return self._execute(feedback)
        except BaseException:
            self._fail_cleanup()
            raise

    def _create_disks(self, feedback: Feedback) -> None:
        inst, node = self.inst, self.pnode
        if not inst.disks:
            return
        if self.adopted:
            feedback("* adopting existing volumes: "
                     + ", ".join(self.adopted))
            instance_adopt.rename_volumes(self, node, inst.disks,
                                          self.adopted)
            return
        feedback("* creating instance disks...")
        if inst.disk_template == constants.DT_FILE:
            directory = templates.file_disks_dir(inst.disks)
            assert directory is not None
            res = common.single(self.rpc.call_file_storage_dir_create(
                [node], directory), node)
            if res.failed:
                raise errors.OpExecError(
                    f"Cannot create file storage directory {directory} on"
                    f" node {node}: {res.fail_msg}")
        for disk in inst.disks:
            for target in [*inst.secondary_nodes, node]:
                res = common.create_disk(self, inst, target, disk)
                if res.failed:
                    common.remove_disks(self, inst, feedback)
                    raise errors.OpExecError(
                        f"Cannot create {disk.iv_name} of instance"
                        f" {inst.name} on node {target}: {res.fail_msg}")

    def _execute(self, feedback: Feedback) -> Any:
        op, inst = self.op, self.inst
        hv_class = inst.hypervisor in (constants.HT_KVM, constants.HT_XEN_HVM)
        if self.adopted:
            # The volumes are the user's: renamed first, so that a failure
            # (or a crash) never removes them with the instance.
            self._create_disks(feedback)
        try:
            if hv_class:
                inst.network_port = self.cfg.allocate_port()
            feedback(f"adding instance {inst.name} to cluster config")
            self.cfg.add_instance(inst)
        except BaseException:
            if self.adopted:
                instance_adopt.release_volumes(self, inst, self.adopted,
                                               feedback)
            raise
        if not self.adopted:
            # Recorded before any disk is made: after a master crash at
            # any later step the restarted master finds the instance and
            # removes it with whatever disks it has (crash_recovery).
            try:
                self._create_disks(feedback)
            except BaseException:
                self.cfg.remove_instance(inst.name)
                raise
        self.cfg.release_reservations(self._owner)
        self._drbd_ports = []
        inst = common.get_instance(self, inst.name)
        self._check_synced(inst, feedback)
        filled = common.filled_params(self.cfg, inst)
        if inst.disk_template == constants.DT_DISKLESS:
            feedback("* diskless instance: no OS to install")
        elif self.adopted:
            feedback("* adopted disks hold their data: no OS to install")
        elif self.src_node is not None:
            try:
                self._import_disks(inst, filled, feedback)
            except errors.OpExecError:
                self._rollback(inst, feedback)
                raise
        elif not op.no_install:
            feedback("* running the instance OS create scripts...")
            res = common.single(self.rpc.call_instance_os_add(
                [self.pnode], inst.to_dict(), False, op.debug_level,
                filled.hv, filled.be, filled.nics, filled.os), self.pnode)
            if res.failed:
                self._rollback(inst, feedback)
                raise errors.OpExecError(
                    f"Could not add OS to instance {inst.name} on node"
                    f" {self.pnode}: {res.fail_msg}")
        if op.start:
            self._start(inst, feedback)
        else:
            common.shutdown_disks(self, inst, feedback, ignore_failures=True)
        return [self.pnode]

    def _check_synced(self, inst: objects.Instance,
                      feedback: Feedback) -> None:
        """Mirrors: wait for the initial sync (or, with
        ``--no-wait-for-sync``, look once that no disk is degraded)."""
        if not drbd.is_mirrored(inst):
            return
        try:
            if self.op.wait_for_sync:
                healthy = drbd.wait_for_sync(self, inst, feedback)
            else:
                feedback("* checking mirrors status (syncing is fine)")
                healthy = not any(
                    s.is_degraded for s in drbd.mirror_status(
                        self, inst, inst.primary_node))
        except errors.GenericError:
            self._rollback(inst, feedback)
            raise
        if not healthy:
            self._rollback(inst, feedback)
            raise errors.OpExecError(
                f"There are some degraded disks for instance {inst.name}")

    def _start(self, inst: objects.Instance, feedback: Feedback) -> None:
        """The first start.  When it fails the instance stays, created
        and stopped (admin down), for the administrator to fix the cause
        and start it, or to remove it."""
        self.cfg.set_instance_admin_up(inst.name, True)
        inst = common.get_instance(self, inst.name)
        feedback("* starting instance...")
        try:
            common.start_instance(self, inst, check_memory=False)
        except errors.GenericError as err:
            self.cfg.set_instance_admin_up(inst.name, False)
            common.shutdown_disks(self, inst, feedback, ignore_failures=True)
            raise errors.OpExecError(
                f"{err}; instance {inst.name} was created but is stopped"
                " (fix the cause and use 'gnt-instance startup', or"
                " 'gnt-instance remove')") from err

    def _rollback(self, inst: objects.Instance, feedback: Feedback) -> None:
        feedback(f"Removing instance {inst.name} again after the failure")
        common.shutdown_disks(self, inst, feedback, ignore_failures=True)
        common.remove_disks(self, inst, feedback)
        self.cfg.remove_instance(inst.name)


# --- Remove -------------------------------------------------------------------------

class LUInstanceRemove(LogicalUnit):
    """Remove an instance: stop it, remove its disks, forget it."""

    OP = opcodes.OpInstanceRemove
    op: opcodes.OpInstanceRemove
    HPATH = "instance-remove"
    HTYPE = constants.HTYPE_INSTANCE

    def expand_names(self) -> LockRequest:
        self.name = self.expand_instance_name(self.op.instance_name)
        return LockRequest(instance=[self.name], node=FROM_INSTANCES)

    def check_prereq(self) -> None:
        self.inst = common.get_instance(self, self.name)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env = common.instance_hooks_env(self.cfg, self.inst)
        master = self.cfg.get_master_node()
        return env, [master], [master]

    def execute(self, feedback: Feedback) -> None:
        inst, op = self.inst, self.op
        feedback(f"Shutting down instance {inst.name} on node"
                 f" {inst.primary_node}")
        try:
            common.shutdown_instance(self, inst, op.shutdown_timeout)
        except errors.OpExecError as err:
            if not op.ignore_failures:
                raise errors.OpExecError(
                    f"Could not shut down instance {inst.name}: {err}"
                    " (use --ignore-failures to remove it anyway)") from None
            feedback(f"Warning: {err}; continuing (--ignore-failures)")
        remove_instance(self, inst, feedback, op.ignore_failures)


def remove_instance(lu: LogicalUnit, inst: objects.Instance,
                    feedback: Feedback, ignore_failures: bool) -> None:
    """Remove a stopped instance's disks, then the instance from the
    configuration and its lock (instance remove, export with removal)."""
    feedback(f"Removing block devices for instance {inst.name}")
    common.shutdown_disks(lu, inst, feedback, ignore_failures=True)
    if not common.remove_disks(lu, inst, feedback):
        if not ignore_failures:
            raise errors.OpExecError(
                f"Cannot remove the disks of instance {inst.name} (use"
                " --ignore-failures to remove it anyway)")
        feedback("Warning: some disks were not removed; continuing")
    feedback(f"Removing instance {inst.name} out of cluster config")
    lu.cfg.remove_instance(inst.name)
    glm = getattr(lu.ctx, "glm", None)
    if glm is not None:
        if glm.is_owned(lockmgr.LEVEL_NODE):
            glm.release(lockmgr.LEVEL_NODE)
        glm.remove(lockmgr.LEVEL_INSTANCE, [inst.name])


# --- Reinstall -----------------------------------------------------------------------

class LUInstanceReinstall(LogicalUnit):
    """Run the OS create script again, maybe with another OS."""

    OP = opcodes.OpInstanceReinstall
    op: opcodes.OpInstanceReinstall
    HPATH = "instance-reinstall"
    HTYPE = constants.HTYPE_INSTANCE

    def expand_names(self) -> LockRequest:
        self.name = self.expand_instance_name(self.op.instance_name)
        return LockRequest(instance=[self.name], node=FROM_INSTANCES)

    def check_prereq(self) -> None:
        op = self.op
        inst = common.get_instance(self, self.name)
        if inst.disk_template == constants.DT_DISKLESS:
            raise errors.OpPrereqError(
                f"Instance {inst.name} is diskless; there is nothing to"
                " reinstall", EC.INVAL)
        common.check_node_online(self, inst.primary_node,
                                 f"reinstall instance {inst.name}")
        common.check_instance_stopped(self, inst, "be reinstalled")
        new_os = op.os_type or inst.os
        definition = get_os(self, inst.primary_node, new_os)
        with common.param_errors():
            osparams = reinstall_osparams(
                inst.os, inst.osparams, new_os, definition.parameters,
                op.osparams, op.keep_known_os_parameters)
        check_os(self, inst.primary_node, new_os, op.force_variant, osparams,
                 variant_required=op.os_type is not None)
        self.inst = inst
        self.new_os = new_os
        self.osparams = osparams

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env = common.instance_hooks_env(self.cfg, self.inst,
                                        INSTANCE_OS_TYPE=self.new_os)
        pre, post = common.hook_nodes(self.cfg, self.inst)
        return env, pre, post

    def execute(self, feedback: Feedback) -> None:
        inst = common.get_instance(self, self.name)
        if inst.os != self.new_os or inst.osparams != self.osparams:
            inst.os = self.new_os
            inst.osparams = self.osparams
            self.cfg.update(inst)
            inst = common.get_instance(self, self.name)
        filled = common.filled_params(self.cfg, inst)
        common.assemble_disks(self, inst, feedback)
        try:
            feedback(f"Running the instance OS create scripts on node"
                     f" {inst.primary_node}")
            res = common.single(self.rpc.call_instance_os_add(
                [inst.primary_node], inst.to_dict(), True,
                self.op.debug_level, filled.hv, filled.be, filled.nics,
                filled.os), inst.primary_node)
            if res.failed:
                raise errors.OpExecError(
                    f"Could not install OS for instance {inst.name} on node"
                    f" {inst.primary_node}: {res.fail_msg}")
        finally:
            common.shutdown_disks(self, inst, feedback, ignore_failures=True)


# --- Rename --------------------------------------------------------------------------

class LUInstanceRename(LogicalUnit):
    """Rename a stopped instance."""

    OP = opcodes.OpInstanceRename
    op: opcodes.OpInstanceRename
    HPATH = "instance-rename"
    HTYPE = constants.HTYPE_INSTANCE

    def expand_names(self) -> LockRequest:
        self.name = self.expand_instance_name(self.op.instance_name)
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        op = self.op
        inst = common.get_instance(self, self.name)
        new_name, _ = check_name(op.new_name, op.name_check, op.ip_check)
        if new_name == inst.name:
            raise errors.OpPrereqError(
                f"Instance {inst.name} already has this name", EC.INVAL)
        other = self.cfg.get_instance(new_name)
        if other is not None and other.uuid != inst.uuid:
            raise errors.OpPrereqError(
                f"Instance {new_name} is already in the cluster", EC.EXISTS)
        common.check_node_online(self, inst.primary_node,
                                 f"rename instance {inst.name}")
        common.check_instance_stopped(self, inst, "be renamed")
        self.inst = inst
        self.new_name = new_name

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env = common.instance_hooks_env(self.cfg, self.inst,
                                        INSTANCE_NEW_NAME=self.new_name)
        pre, post = common.hook_nodes(self.cfg, self.inst)
        return env, pre, post

    def execute(self, feedback: Feedback) -> str:
        old = self.inst
        node = old.primary_node
        old_dir, new_dir, _ = templates.renamed_file_disks(old.disks,
                                                           self.new_name)
        self.cfg.rename_instance(old.name, self.new_name)
        common.instance_locks_changed(self, added=[self.new_name],
                                      removed=[old.name])
        if old_dir is not None and new_dir is not None and old_dir != new_dir:
            res = common.single(self.rpc.call_file_storage_dir_rename(
                [node], old_dir, new_dir), node)
            if res.failed:
                self.cfg.rename_instance(self.new_name, old.name)
                common.instance_locks_changed(self, added=[old.name],
                                              removed=[self.new_name])
                raise errors.OpExecError(
                    f"Could not rename the file storage directory {old_dir}"
                    f" to {new_dir} on node {node}: {res.fail_msg}")
        inst = common.get_instance(self, self.new_name)
        filled = common.filled_params(self.cfg, inst)
        try:
            res = common.single(self.rpc.call_instance_run_rename(
                [node], inst.to_dict(), old.name, self.op.debug_level,
                filled.hv, filled.be, filled.nics, filled.os), node)
            if res.failed:
                feedback(f"Warning: could not run the OS rename script for"
                         f" instance {inst.name} on node {node} (but the"
                         f" instance has been renamed): {res.fail_msg}")
        finally:
            common.shutdown_disks(self, inst, feedback, ignore_failures=True)
        return inst.name
