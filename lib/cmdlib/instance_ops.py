"""Instance operations: startup, shutdown, reboot, console, activate and
deactivate disks, grow a disk.

Every LU here locks its instance exclusively and the instance's nodes
(``FROM_INSTANCES``) with the BGL shared, as Ganeti 2.1 does.  The
administrative state lives in the configuration: startup records the
instance as up (before starting it, so a failed start is retried by the
watcher), shutdown records it as down; a reboot records it as up again.

The helpers at the top (filled parameters, the node memory check, the
bridge check, disk assembly) are shared by the operation modules
(``instance_ops_move``, ``instance_migrate``, ``instance_modify``).
See doc/design/instance-operations.rst.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganeti import constants, errors, hypervisor, objects, opcodes, params
from ganeti.cmdlib import drbd
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import FROM_INSTANCES, Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.instance_policy import check_instance_policy

EC = errors.ErrorCode


# --- Shared helpers (on top of instance_common) ------------------------------------

def on_node(inst: objects.Instance, node: str) -> objects.Instance:
    """A copy of ``inst`` with ``node`` as primary: the instance_common
    helpers act on the primary node, and moves, failovers and migrations
    act on the old and the new one in turn."""
    moved = inst.copy()
    moved.primary_node = node
    return moved


def need_running_state(lu: LogicalUnit, inst: objects.Instance) -> bool:
    """Whether the primary node runs ``inst``; a node that cannot say is
    an error here (the answer decides what to do)."""
    running = common.is_running(lu, inst)
    if running is None:
        res = lu.rpc.call_instance_info([inst.primary_node], inst.name,
                                        inst.hypervisor)[inst.primary_node]
        raise errors.OpPrereqError(
            f"Cannot check whether instance {inst.name} runs on node"
            f" {inst.primary_node}: {res.fail_msg}", EC.ENVIRON)
    return running


def check_start_resources(lu: LogicalUnit, inst: objects.Instance,
                          memory: int | None = None) -> None:
    """The bridges and the memory needed to start ``inst`` on its
    primary node (``memory`` overrides the filled value)."""
    filled = common.filled_params(lu.cfg, inst)
    node = inst.primary_node
    common.check_bridges(lu, node, filled.nics)
    needed = int(filled.be["maxmem"]) if memory is None else memory
    common.check_free_memory(lu, node, needed, inst.hypervisor,
                             f"starting instance {inst.name}")


def start_or_clean(lu: LogicalUnit, inst: objects.Instance,
                   feedback: Feedback,
                   hvparams: Mapping[str, Any] | None = None,
                   beparams: Mapping[str, Any] | None = None) -> None:
    """Start ``inst`` on its primary node (checks done by the caller);
    on a failure deactivate its disks there again and re-raise."""
    try:
        common.start_instance(lu, inst, None, hvparams, beparams,
                              check_memory=False)
    except errors.OpExecError:
        common.shutdown_disks(lu, inst, feedback, ignore_failures=True)
        raise


class InstanceLU(LogicalUnit):
    """An LU acting on one instance: locks it exclusively and its nodes;
    hooks run on the master and the instance's nodes."""

    HTYPE = constants.HTYPE_INSTANCE
    #: Every opcode here has ``instance_name``; subclasses narrow the type.
    op: Any
    inst: objects.Instance

    def expand_names(self) -> LockRequest:
        self.op.instance_name = self.expand_instance_name(
            self.op.instance_name)
        return LockRequest(instance=[self.op.instance_name],
                           node=FROM_INSTANCES)

    def expand_with_target(self) -> LockRequest:
        """Locks of an LU sending the instance's data to
        ``op.target_node`` (move, export): the instance, its nodes and
        the target node."""
        self.op.instance_name = self.expand_instance_name(
            self.op.instance_name)
        self.op.target_node = self.expand_node_name(self.op.target_node)
        inst = common.get_instance(self, self.op.instance_name)
        return LockRequest(instance=[self.op.instance_name],
                           node=[*inst.all_nodes, self.op.target_node])

    def read_instance(self) -> objects.Instance:
        return common.get_instance(self, self.op.instance_name)

    def hooks_extra(self) -> dict[str, object]:
        return {}

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env = common.instance_hooks_env(self.cfg, self.inst,
                                        **self.hooks_extra())
        pre, post = common.hook_nodes(self.cfg, self.inst)
        return env, pre, post


# --- startup / shutdown / reboot ---------------------------------------------------

class LUInstanceStartup(InstanceLU):
    """Start an instance: mark it up, check bridges and memory, activate
    its disks and start it.  One-shot ``hvparams``/``beparams`` apply to
    this start only and are not saved."""

    OP = opcodes.OpInstanceStartup
    op: opcodes.OpInstanceStartup
    HPATH = "instance-start"

    def hooks_extra(self) -> dict[str, object]:
        return {"FORCE": self.op.force}

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        cluster = self.cfg.get_cluster()
        # One-shot parameters are checked as an instance's own would be.
        self.hv_once: dict[str, Any] = {}
        if self.op.hvparams:
            self.hv_once = params.check_hv_params(
                inst.hypervisor, self.op.hvparams, level="instance")
            filled = cluster.filled_hvparams(inst)
            filled.update(self.hv_once)
            hypervisor.get_hypervisor_class(inst.hypervisor) \
                .check_parameter_syntax(params.strip_globals(filled),
                                        level="instance")
        self.be_once = params.check_be_params(self.op.beparams)
        common.check_node_online(self, inst.primary_node,
                                 f"start instance {inst.name}")
        self.running = need_running_state(self, inst)
        if not self.running:
            be = cluster.filled_beparams(inst)
            be.update(self.be_once)
            check_start_resources(self, inst, int(be["maxmem"]))

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        self.cfg.set_instance_admin_up(inst.name, True)
        if self.running:
            feedback(f"Instance {inst.name} is already running")
            return
        start_or_clean(self, inst, feedback, self.hv_once, self.be_once)


class LUInstanceShutdown(InstanceLU):
    """Stop an instance (soft, hard after the timeout), mark it down and
    deactivate its disks."""

    OP = opcodes.OpInstanceShutdown
    op: opcodes.OpInstanceShutdown
    HPATH = "instance-stop"

    def hooks_extra(self) -> dict[str, object]:
        return {"TIMEOUT": self.op.timeout}

    def check_prereq(self) -> None:
        self.inst = self.read_instance()
        common.check_node_online(self, self.inst.primary_node,
                                 f"shut down instance {self.inst.name}")

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        self.cfg.set_instance_admin_up(inst.name, False)
        try:
            outcome = common.shutdown_instance(self, inst, self.op.timeout)
        except errors.OpExecError as err:
            feedback(f"Warning: {err}")
        else:
            if outcome == "hard":
                feedback(f"Instance {inst.name} did not stop within"
                         f" {self.op.timeout} seconds; it was stopped hard")
        common.shutdown_disks(self, inst, feedback, ignore_failures=True)


class LUInstanceReboot(InstanceLU):
    """Reboot a running instance: ``soft`` (inside the guest), ``hard``
    (the hypervisor stops and starts it), ``full`` (stop, deactivate and
    activate the disks, start)."""

    OP = opcodes.OpInstanceReboot
    op: opcodes.OpInstanceReboot
    HPATH = "instance-reboot"

    def hooks_extra(self) -> dict[str, object]:
        return {"IGNORE_SECONDARIES": self.op.ignore_secondaries,
                "REBOOT_TYPE": self.op.reboot_type,
                "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout}

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        common.check_node_online(self, inst.primary_node,
                                 f"reboot instance {inst.name}")
        self.filled = common.filled_params(self.cfg, inst)
        common.check_bridges(self, inst.primary_node, self.filled.nics)
        if not need_running_state(self, inst):
            raise errors.OpPrereqError(
                f"Instance {inst.name} is not running on its primary node"
                f" {inst.primary_node}; use startup instead", EC.STATE)

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        node = inst.primary_node
        filled = self.filled
        if self.op.reboot_type == constants.INSTANCE_REBOOT_FULL:
            common.shutdown_instance(self, inst, self.op.shutdown_timeout)
            common.shutdown_disks(self, inst, feedback, ignore_failures=True)
            start_or_clean(self, inst, feedback)
        else:
            res = self.rpc.call_instance_reboot(
                [node], inst.to_dict(), self.op.reboot_type,
                self.op.shutdown_timeout, filled.hv, filled.be,
                filled.nics)[node]
            if res.failed:
                raise errors.OpExecError(
                    f"Could not reboot instance {inst.name}: {res.fail_msg}")
        self.cfg.set_instance_admin_up(inst.name, True)


# --- console -------------------------------------------------------------------------

class LUInstanceConsole(InstanceLU):
    """How to reach the console: the hypervisor's description plus the
    primary node's name and address, for the client to run it there."""

    OP = opcodes.OpInstanceConsole
    op: opcodes.OpInstanceConsole

    def expand_names(self) -> LockRequest:
        self.op.instance_name = self.expand_instance_name(
            self.op.instance_name)
        return LockRequest(instance=[self.op.instance_name],
                           instance_shared=True, node=FROM_INSTANCES,
                           node_shared=True)

    def check_prereq(self) -> None:
        self.inst = self.read_instance()
        self.node = common.check_node_online(
            self, self.inst.primary_node, f"connect to {self.inst.name}")

    def execute(self, feedback: Feedback) -> dict[str, Any]:
        inst = self.inst
        node = inst.primary_node
        if not need_running_state(self, inst):
            # As Ganeti, found out at execution; the code says it is a
            # state problem (RAPI answers 409, not 500).
            raise errors.OpExecError(f"Instance {inst.name} is not running",
                                     errors.ErrorCode.STATE)
        hv = self.cfg.get_cluster().filled_hvparams(inst)
        res = self.rpc.call_instance_console_info([node], inst.to_dict(),
                                                  hv)[node]
        info = res.raise_on_fail(f"Console of instance {inst.name}")
        return {**info, "node": node, "node_ip": self.node.primary_ip}


# --- disks -------------------------------------------------------------------------

class LUInstanceActivateDisks(InstanceLU):
    """Activate the disks on the instance's nodes; returns
    ``[node, iv_name, path]`` for each disk."""

    OP = opcodes.OpInstanceActivateDisks
    op: opcodes.OpInstanceActivateDisks

    def check_prereq(self) -> None:
        self.inst = self.read_instance()
        common.check_node_online(self, self.inst.primary_node,
                                 f"activate the disks of {self.inst.name}")

    def execute(self, feedback: Feedback) -> list[list[str]]:
        inst = self.inst
        paths = common.assemble_disks(self, inst, feedback)
        result = [[inst.primary_node, disk.iv_name, path]
                  for disk, path in zip(inst.disks, paths, strict=True)]
        if not self.op.ignore_size and inst.disks:
            node = inst.primary_node
            res = self.rpc.call_blockdev_getsizes(
                [node], [d.to_dict() for d in inst.disks])[node]
            if not res.failed:
                for disk, size in zip(inst.disks, res.payload, strict=False):
                    if size is not None and size != disk.size:
                        feedback(f"Warning: disk {disk.iv_name} of"
                                 f" {inst.name} is {size} MiB on node {node}"
                                 f" but {disk.size} MiB in the configuration")
        return result


class LUInstanceDeactivateDisks(InstanceLU):
    """Deactivate the disks; refused while the instance runs."""

    OP = opcodes.OpInstanceDeactivateDisks
    op: opcodes.OpInstanceDeactivateDisks

    def check_prereq(self) -> None:
        self.inst = self.read_instance()
        common.check_node_online(self, self.inst.primary_node,
                                 f"deactivate the disks of {self.inst.name}")

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        if need_running_state(self, inst):
            raise errors.OpExecError(
                f"Cannot shutdown disks of instance {inst.name}: the"
                " instance is running")
        common.shutdown_disks(self, inst, feedback)


class LUInstanceGrowDisk(InstanceLU):
    """Grow one disk by ``amount`` MiB on every node holding it; the
    instance may run (the new size is seen at its next start)."""

    OP = opcodes.OpInstanceGrowDisk
    op: opcodes.OpInstanceGrowDisk
    HPATH = "disk-grow"

    def hooks_extra(self) -> dict[str, object]:
        return {"DISK": self.op.disk, "AMOUNT": self.op.amount}

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        if inst.disk_template == constants.DT_DISKLESS:
            raise errors.OpPrereqError(
                f"Instance {inst.name} is diskless: it has no disk to grow",
                EC.INVAL)
        if self.op.disk >= len(inst.disks):
            raise errors.OpPrereqError(
                f"Invalid disk index {self.op.disk}: instance {inst.name}"
                f" has {len(inst.disks)} disk(s)", EC.INVAL)
        self.disk = inst.disks[self.op.disk]
        if self.disk.size + self.op.amount > constants.MAX_DISK_SIZE_MIB:
            raise errors.OpPrereqError(
                f"Cannot grow {self.disk.iv_name} of instance {inst.name} to"
                f" {self.disk.size + self.op.amount} MiB: the maximum disk"
                f" size is {constants.MAX_DISK_SIZE_MIB} MiB (1 EiB)",
                EC.INVAL)
        grown = inst.copy()
        grown.disks[self.op.disk].size += self.op.amount
        check_instance_policy(self.cfg, grown, ignore=self.op.ignore_ipolicy,
                              feedback=self.feedback, before=inst)
        cluster = self.cfg.get_cluster()
        for node in inst.all_nodes:
            common.check_node_online(self, node, "grow the disk")
            if self.disk.dev_type in (constants.LD_LV, constants.LD_DRBD8):
                # A drbd8 disk grows its data volume (the first request).
                stripes = common.lv_requests(self, inst.disk_template,
                                             [self.disk])[0][1]
                common.check_vg_free(self, node, [(self.op.amount, stripes)],
                                     f"growing {self.disk.iv_name} of"
                                     f" instance {inst.name}")
            if self.disk.dev_type != constants.LD_FILE:
                continue
            res = self.rpc.call_node_info([node], cluster.volume_group_name,
                                          [inst.hypervisor],
                                          cluster.file_storage_dir or "")[node]
            if res.failed:
                raise errors.OpPrereqError(
                    f"Can't get data from node {node}: {res.fail_msg}",
                    EC.ENVIRON)
            free = res.payload.get("file_storage_free")
            if isinstance(free, int) and self.op.amount > free:
                raise errors.OpPrereqError(
                    f"Not enough disk space on target node {node}: required"
                    f" {self.op.amount} MiB, available {free} MiB", EC.NORES)

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        # A mirror grows on the secondary first: the primary's device
        # then resizes over two grown volumes.
        nodes = [inst.primary_node] if self.disk.dev_type == constants.LD_FILE \
            else [*inst.secondary_nodes, inst.primary_node]
        for node in nodes:
            sent = drbd.disk_for_node(self.cfg, self.disk, node)
            res = self.rpc.call_blockdev_grow([node], sent.to_dict(),
                                              self.op.amount)[node]
            if res.failed:
                raise errors.OpExecError(
                    f"Grow request failed on node {node}: {res.fail_msg}")
        fresh = self.read_instance()
        fresh.disks[self.op.disk].size += self.op.amount
        self.cfg.update(fresh)
        self.inst = fresh
        feedback(f"Disk {self.disk.iv_name} of {inst.name} is now"
                 f" {fresh.disks[self.op.disk].size} MiB")
        if self.op.wait_for_sync and drbd.is_mirrored(fresh) \
                and not drbd.wait_for_sync(self, fresh, feedback,
                                           [fresh.disks[self.op.disk]]):
            feedback(f"Warning: disk {self.disk.iv_name} of {inst.name} did"
                     " not report a healthy mirror after growing; check it"
                     " with gnt-instance info")
