"""``gnt-instance modify``: change an instance's parameters, NICs, disks
and OS (``OpInstanceSetParams``).

Everything is validated as instance creation validates it before
anything changes: hypervisor parameters at instance level (global ones
refused) and the driver's rules on the filled result, backend, NIC
parameters with the routed-needs-an-IP rule, MAC addresses unique, the
bridge of a bridged NIC present on the primary node (a warning with
``force``), the OS present on the primary node.  Changes take effect at
the next start of the instance, except added disks, which exist at once
(file and plain disks are created on the primary node; a drbd disk gets
its port, minors and secret, is created on the secondary, then on the
primary, and its initial sync is waited for).  The result is Ganeti's
list of ``[name, new value]`` pairs.
"""

from __future__ import annotations

import os
from typing import Any

from ganeti import (
    constants,
    errors,
    ht,
    hypervisor,
    objects,
    opcodes,
    osdef,
    params,
    pathutils,
)
from ganeti.cmdlib import drbd, drbd_place
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import Feedback, LockRequest
from ganeti.cmdlib.instance_convert import TemplateConversion
from ganeti.cmdlib.instance_ops import InstanceLU, need_running_state
from ganeti.cmdlib.instance_policy import check_instance_policy
from ganeti.storage import templates

EC = errors.ErrorCode

#: Ganeti 2.1's limits on the NICs and disks of one instance.
MAX_NICS = 8
MAX_DISKS = 16


def _nic_summary(nic: objects.NIC, filled: dict[str, Any]) -> str:
    return (f"add:mac={nic.mac},ip={nic.ip or ''},mode={filled.get('mode')},"
            f"link={filled.get('link')}")


class LUInstanceSetParams(InstanceLU):
    """Modify an instance; see the module documentation."""

    OP = opcodes.OpInstanceSetParams
    op: opcodes.OpInstanceSetParams
    HPATH = "instance-modify"

    def expand_names(self) -> LockRequest:
        """A conversion to a mirror also locks the new secondary."""
        request = super().expand_names()
        if self.op.disk_template is not None and \
                self.op.remote_node is not None:
            self.op.remote_node = self.expand_node_name(self.op.remote_node)
            inst = common.get_instance(self, self.op.instance_name)
            request.node = [*inst.all_nodes, self.op.remote_node]
        return request

    def hooks_extra(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.op.os_name is not None:
            extra["NEW_OS_TYPE"] = self.op.os_name
        return extra

    # --- checks ----------------------------------------------------------------

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        self.cluster = self.cfg.get_cluster()
        self.new = inst.copy()
        self.changes: list[list[Any]] = []
        self.warnings: list[str] = []
        self.new_disks: list[objects.Disk] = []
        self.removed_disks: list[objects.Disk] = []
        self.macs: list[str] = []
        self.conversion: TemplateConversion | None = None
        if self.op.disk_template is not None:
            self.conversion = TemplateConversion(
                self, inst, self.op.disk_template, self.op.remote_node)
            self.conversion.check_prereq()
            self.changes.append(["disk_template", self.op.disk_template])
        with_node = bool(self.op.nics or self.op.disks or self.op.os_name
                         or self.op.osparams or self.op.beparams)
        if with_node:
            common.check_node_online(self, inst.primary_node,
                                     f"modify instance {inst.name}")
        self._check_hv()
        self._check_be()
        self._check_os()
        self._check_nics()
        self._check_disks()
        if self.op.beparams or self.op.nics or self.op.disks:
            check_instance_policy(self.cfg, self.new,
                                  ignore=self.op.ignore_ipolicy,
                                  feedback=self.feedback, before=inst)

    def _check_hv(self) -> None:
        if not self.op.hvparams:
            return
        inst = self.new
        with common.param_errors():
            new = params.update_hv_params(inst.hypervisor, inst.hvparams,
                                          self.op.hvparams, level="instance")
            filled = self.cluster.fill_hv(inst.hypervisor, inst.os, new,
                                          skip_globals=True)
            hypervisor.get_hypervisor_class(inst.hypervisor) \
                .check_parameter_syntax(filled, level="instance")
        inst.hvparams = new
        for key in self.op.hvparams:
            self.changes.append([f"hv/{key}", filled.get(key)])

    def _check_be(self) -> None:
        if not self.op.beparams:
            return
        inst = self.new
        with common.param_errors():
            new = params.update_be_params(inst.beparams, self.op.beparams)
            filled = self.cluster.fill_be(new)
            params.check_be_memory(filled)
        old_mem = int(self.cluster.fill_be(inst.beparams)["maxmem"])
        inst.beparams = new
        for key in params.upgrade_be_memory(self.op.beparams):
            self.changes.append([f"be/{key}", filled.get(key)])
        new_mem = int(filled["maxmem"])
        if new_mem <= old_mem or self.op.force:
            return
        # Would the instance still start?  (Ganeti's check, skipped by -f.)
        node = inst.primary_node
        res = self.rpc.call_node_info([node], None, [inst.hypervisor],
                                      self.cluster.file_storage_dir)[node]
        free = None if res.failed else res.payload.get("memory_free")
        if not isinstance(free, int):
            self.warnings.append(f"Can't get info from primary node {node}")
            return
        current = old_mem if need_running_state(self, self.inst) else 0
        missing = new_mem - current - free
        if missing > 0:
            raise errors.OpPrereqError(
                f"This change will prevent the instance from starting, due to"
                f" {missing} MiB of memory missing on its primary node {node}"
                " (use --force to change it anyway)", EC.NORES)

    def _check_os(self) -> None:
        inst = self.new
        node = inst.primary_node
        if self.op.os_name is None and not self.op.osparams:
            return
        os_name = self.op.os_name or inst.os
        res = self.rpc.call_os_get([node], os_name)[node]
        if res.failed:
            raise errors.OpPrereqError(
                f"OS '{os_name}' not in supported OS list for primary node"
                f" {node}: {res.fail_msg}", EC.INVAL)
        definition = res.payload
        _, variant = params.split_os_name(os_name)
        variants = list(definition["variants"])
        if self.op.os_name is not None and not self.op.force_variant:
            if variant and not variants:
                raise errors.OpPrereqError(
                    f"OS '{os_name}' doesn't support variants", EC.INVAL)
            with common.param_errors():
                osdef.require_variant(variants, os_name)
            if variant and variant not in variants:
                raise errors.OpPrereqError(
                    f"Unsupported OS variant '{variant}' of '{os_name}'"
                    " (use --force-variant to accept it)", EC.INVAL)
        declared = [name for name, _ in definition["parameters"]]
        current = inst.osparams
        if self.op.os_name is not None and self.op.os_name != inst.os:
            unknown = sorted(k for k in current if k not in declared)
            if unknown and not self.op.osparams:
                raise errors.OpPrereqError(
                    f"OS '{os_name}' does not declare the instance's OS"
                    f" parameter(s) {', '.join(unknown)}", EC.INVAL)
            inst.os = os_name
            self.changes.append(["os", os_name])
        if self.op.osparams:
            with common.param_errors():
                inst.osparams = params.update_os_params(
                    current, self.op.osparams, declared, os_name=os_name)
            filled = self.cluster.fill_os(os_name, inst.osparams)
            res = self.rpc.call_os_validate([node], True, os_name,
                                            ["parameters"], filled)[node]
            if res.failed:
                raise errors.OpPrereqError(
                    f"OS parameters of '{os_name}' refused on node {node}:"
                    f" {res.fail_msg}", EC.INVAL)
            for key in self.op.osparams:
                self.changes.append([f"os/{key}", filled.get(key)])

    # --- NICs ------------------------------------------------------------------

    def _nic_values(self, values: dict[str, Any], nic: objects.NIC | None,
                    where: str) -> objects.NIC:
        """A NIC with ``values`` applied (a new one when ``nic`` is None)."""
        values = dict(values)
        if "bridge" in values:
            if "link" in values:
                raise errors.OpPrereqError(
                    f"{where}: cannot pass 'bridge' and 'link' at the same"
                    " time", EC.INVAL)
            values["link"] = values.pop("bridge")
        result = nic.copy() if nic is not None else objects.NIC(
            mac=constants.DEFAULT_MAC_PREFIX + ":00:00:00")
        if "ip" in values:
            ip = values["ip"]
            if ip is None or str(ip).lower() == constants.VALUE_NONE:
                result.ip = None
            elif ip == constants.VALUE_AUTO:
                raise errors.OpPrereqError(
                    f"{where}: invalid IP address 'auto' (give an address or"
                    " 'none')", EC.INVAL)
            else:
                result.ip = str(ip)
        if "name" in values:
            result.name = _name_value(values["name"])
        changes = {k: values[k] for k in ("mode", "link") if k in values}
        result.nicparams = params.update_nic_params(result.nicparams, changes)
        filled = self.cluster.fill_nic(result.nicparams)
        params.check_nic(filled, result.ip)
        mac = values.get("mac")
        if nic is None or mac is not None:
            if mac is None or mac in (constants.VALUE_AUTO,
                                      constants.VALUE_GENERATE):
                result.mac = self.cfg.generate_mac(owner=self._owner())
            else:
                self.cfg.reserve_mac(str(mac), owner=self._owner())
                result.mac = str(mac).lower()
            self.macs.append(result.mac)
        if filled.get("mode") == constants.NIC_MODE_BRIDGED and \
                ("link" in changes or "mode" in changes or nic is None):
            self._check_bridge(str(filled.get("link")))
        return result

    def _owner(self) -> str:
        return f"modify/{self.inst.name}"

    def _check_bridge(self, bridge: str) -> None:
        node = self.new.primary_node
        res = self.rpc.call_bridges_exist([node], [bridge])[node]
        if not res.failed:
            return
        msg = f"Error checking bridges on node {node}: {res.fail_msg}"
        if not self.op.force:
            raise errors.OpPrereqError(msg + " (use --force to change it"
                                       " anyway)", EC.ENVIRON)
        self.warnings.append(msg)

    def _check_nics(self) -> None:
        inst = self.new
        try:
            for op, values in self.op.nics:
                if op == constants.DDM_REMOVE:
                    if not inst.nics:
                        raise errors.OpPrereqError(
                            f"Instance {inst.name} has no NICs, cannot remove",
                            EC.INVAL)
                    inst.nics = inst.nics[:-1]
                    self.changes.append([f"nic/{len(inst.nics)}", "remove"])
                elif op == constants.DDM_ADD:
                    if len(inst.nics) >= MAX_NICS:
                        raise errors.OpPrereqError(
                            f"Instance {inst.name} has too many network"
                            f" interfaces ({len(inst.nics)}), cannot add more",
                            EC.STATE)
                    where = f"NIC {len(inst.nics)}"
                    with common.param_errors():
                        nic = self._nic_values(values, None, where)
                    inst.nics = [*inst.nics, nic]
                    self.changes.append([
                        f"nic/{len(inst.nics) - 1}",
                        _nic_summary(nic, self.cluster.fill_nic(nic.nicparams))])
                else:
                    index = int(op)
                    if index >= len(inst.nics):
                        raise errors.OpPrereqError(
                            f"Invalid NIC index {index}, valid values are 0 to"
                            f" {len(inst.nics) - 1}", EC.INVAL)
                    with common.param_errors():
                        nic = self._nic_values(values, inst.nics[index],
                                               f"NIC {index}")
                    nics = list(inst.nics)
                    nics[index] = nic
                    inst.nics = nics
                    filled = self.cluster.fill_nic(nic.nicparams)
                    for key in values:
                        value = {"mac": nic.mac, "ip": nic.ip,
                                 "bridge": filled.get("link")}.get(
                                     key, filled.get(key))
                        self.changes.append([f"nic.{key}/{index}", value])
        except errors.GenericError:
            self._release_macs()
            raise

    def _release_macs(self) -> None:
        for mac in self.macs:
            self.cfg.release_mac(mac)
        self.macs = []

    # --- disks -----------------------------------------------------------------

    def _check_disks(self) -> None:
        inst = self.new
        if not self.op.disks:
            return
        if inst.disk_template == constants.DT_DISKLESS:
            raise errors.OpPrereqError(
                "Disk operations not supported for diskless instances",
                EC.INVAL)
        for op, values in self.op.disks:
            if op == constants.DDM_REMOVE:
                if len(inst.disks) <= 1:
                    raise errors.OpPrereqError(
                        "Cannot remove the last disk of an instance", EC.INVAL)
                if need_running_state(self, self.inst):
                    raise errors.OpPrereqError(
                        f"Instance {inst.name} is running, can't remove"
                        " disks", EC.STATE)
                self.removed_disks.append(inst.disks[-1])
                inst.disks = inst.disks[:-1]
                self.changes.append([f"disk/{len(inst.disks)}", "remove"])
            elif op == constants.DDM_ADD:
                self._add_disk(values)
            else:
                index = int(op)
                if index >= len(inst.disks):
                    raise errors.OpPrereqError(
                        f"Invalid disk index {index}, valid values are 0 to"
                        f" {len(inst.disks) - 1}", EC.INVAL)
                unknown = sorted(set(values) - {"mode"})
                if "size" in unknown:
                    raise errors.OpPrereqError(
                        "Disk size change not possible, use grow-disk",
                        EC.INVAL)
                if unknown:
                    raise errors.ParameterError(
                        f"Disk {index}: only the mode can be changed, not"
                        f" {', '.join(unknown)}", parameter=unknown[0])
                mode = values.get("mode")
                if mode is not None:
                    disks = [d.copy() for d in inst.disks]
                    disks[index].mode = str(mode)
                    inst.disks = disks
                    self.changes.append([f"disk.mode/{index}", mode])

    def _add_disk(self, values: dict[str, Any]) -> None:
        inst = self.new
        if len(inst.disks) >= MAX_DISKS:
            raise errors.OpPrereqError(
                f"Instance {inst.name} has too many disks ({len(inst.disks)}),"
                " cannot add more", EC.STATE)
        if "size" not in values:
            raise errors.OpPrereqError("Required disk parameter size missing",
                                       EC.INVAL)
        if "adopt" in values:
            raise errors.OpPrereqError(
                "Disk adoption is not possible when modifying an instance",
                EC.INVAL)
        directory = templates.file_disks_dir(inst.disks)
        base = (os.path.dirname(directory) if directory is not None
                else self.cluster.file_storage_dir
                or pathutils.CONFIGURED_FILE_STORAGE_DIR)
        driver = (str(inst.disks[0].logical_id[0]) if inst.disks
                  else constants.FD_LOOP)
        spec = {k: v for k, v in values.items() if k in ("size", "mode")}
        mirror = inst.disk_template == constants.DT_DRBD8
        # A mirror's port, minors and secret are allocated when it is
        # created (execute); these stand-ins only shape the checks.
        drbd_nodes = ((inst.primary_node, inst.secondary_nodes[0])
                      if mirror else None)
        with common.param_errors():
            if values.get("params"):
                params.check_disk_params(inst.disk_template, values["params"])
            disk = templates.generate_disks(
                inst.disk_template, [spec], inst.name, base,
                file_driver=driver, base_index=len(inst.disks),
                vg_name=self.cluster.volume_group_name,
                drbd_nodes=drbd_nodes,
                drbd=[templates.DrbdIds(constants.FIRST_DRBD_PORT, 0, 1, "")]
                if mirror else ())[0]
        if values.get("params"):
            disk.params = dict(values["params"])
        disk.name = _name_value(values.get("name"))
        disk.spindles = values.get("spindles")
        if disk.dev_type in (constants.LD_LV, constants.LD_DRBD8):
            for node in inst.all_nodes:
                common.check_vg_free(
                    self, node,
                    common.lv_requests(self, inst.disk_template, [disk]),
                    f"a new disk of instance {inst.name}")
        inst.disks = [*inst.disks, disk]
        self.new_disks.append(disk)
        self.changes.append([f"disk/{len(inst.disks) - 1}",
                             f"add:size={disk.size},mode={disk.mode}"])

    # --- execution -------------------------------------------------------------

    def execute(self, feedback: Feedback) -> list[list[Any]]:
        for msg in self.warnings:
            feedback(f"Warning: {msg}")
        if self.conversion is not None:
            converted = self.conversion.execute(feedback)
            self.new.disks = converted.disks
            self.new.disk_template = converted.disk_template
        ids = self._allocate_mirror_ids()
        created: list[tuple[str, objects.Disk]] = []
        try:
            for disk in self.new_disks:
                # A mirror: the secondary first, then the primary.
                for node in [*self.new.secondary_nodes,
                             self.new.primary_node]:
                    res = common.create_disk(self, self.new, node, disk)
                    if res.failed:
                        raise errors.OpExecError(
                            f"Could not create {disk.iv_name} of instance"
                            f" {self.inst.name} on node {node}:"
                            f" {res.fail_msg}")
                    created.append((node, disk))
            fresh = common.get_instance(self, self.inst.name)
            for attr in ("hvparams", "beparams", "osparams", "os", "nics",
                         "disks", "disk_template"):
                setattr(fresh, attr, getattr(self.new, attr))
            self.cfg.update(fresh)
        except errors.GenericError:
            for node, disk in created:
                self.rpc.call_blockdev_remove(
                    [node], drbd.disk_for_node(self.cfg, disk, node).to_dict())
            drbd_place.release_ports(self.cfg, ids)
            self._release_macs()
            raise
        finally:
            self.cfg.release_reservations(self._owner())
        self.inst = fresh
        self._sync_new_mirrors(feedback)
        self._remove_disks(feedback)
        return self.changes

    def _allocate_mirror_ids(self) -> list[templates.DrbdIds]:
        """The real port, minors and secret of each new mirror."""
        mirrors = [d for d in self.new_disks
                   if d.dev_type == constants.LD_DRBD8]
        if not mirrors:
            return []
        pnode, snode = self.new.primary_node, self.new.secondary_nodes[0]
        ids = drbd_place.allocate_ids(self.cfg, pnode, snode, len(mirrors),
                                      self._owner())
        for disk, ident in zip(mirrors, ids, strict=True):
            disk.logical_id = [pnode, snode, ident.port, ident.minor_a,
                               ident.minor_b, ident.secret]
        return ids

    def _sync_new_mirrors(self, feedback: Feedback) -> None:
        """Wait for the initial sync of added mirrors, then deactivate
        them again unless the instance runs (they come up with it)."""
        mirrors = [d for d in self.new_disks
                   if d.dev_type == constants.LD_DRBD8]
        if not mirrors:
            return
        if not drbd.wait_for_sync(self, self.inst, feedback, mirrors):
            feedback(f"Warning: the new disks of instance {self.inst.name}"
                     " are degraded (see gnt-instance info)")
        if not need_running_state(self, self.inst):
            part = self.inst.copy()
            part.disks = mirrors
            common.shutdown_disks(self, part, feedback, ignore_failures=True)

    def _remove_disks(self, feedback: Feedback) -> None:
        """Remove the removed disks on every node of the instance; the
        ports of removed mirrors go back to the pool (their minors are
        free once the configuration no longer names them)."""
        for disk in self.removed_disks:
            for node in self.inst.all_nodes:
                sent = drbd.disk_for_node(self.cfg, disk, node).to_dict()
                for call in (self.rpc.call_blockdev_shutdown,
                             self.rpc.call_blockdev_remove):
                    call([node], sent)[node].warn_on_fail(
                        feedback, f"Warning: removing {disk.iv_name}")
            if disk.dev_type == constants.LD_DRBD8:
                self.cfg.release_port(int(disk.logical_id[2]))


def _name_value(name: Any) -> str | None:
    """A disk or NIC name as given (``none`` removes it)."""
    if name is None or str(name).lower() == constants.VALUE_NONE:
        return None
    if not ht.TObjectName(name):
        raise errors.OpPrereqError(
            f"Invalid name {str(name)[:40]!r}:"
            f" {ht.describe_failure(ht.TObjectName, name)}", EC.INVAL)
    return str(name)
