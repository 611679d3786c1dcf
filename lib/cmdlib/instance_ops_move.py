"""``gnt-instance move``: copy an instance's disks to another node and
make that node its primary.

The instance is stopped for the copy (it starts again on the target if it
was marked up).  Disks are copied through the master by
:mod:`ganeti.cmdlib.disk_copy`: only data moves (holes are skipped on the
source and stay holes on the target, created sparse at full size), in
chunks of at most 4 MiB, with progress lines in the job log.  Every data
byte crosses the master twice, base64-encoded: fine for the file disks
of test and small clusters, slow for big full disks (see
doc/design/instance-operations.rst).  File, plain (LVM) and diskless
instances move; DRBD instances are refused (use failover/migrate), as in
Ganeti.
"""

from __future__ import annotations

import os

from ganeti import constants, errors, opcodes
from ganeti.cmdlib import disk_copy
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import Feedback, LockRequest
from ganeti.cmdlib.instance_ops import (
    InstanceLU,
    need_running_state,
    on_node,
    start_or_clean,
)

EC = errors.ErrorCode
MIB = disk_copy.MIB


class LUInstanceMove(InstanceLU):
    """Move an instance to any node, copying its disks (stop + start)."""

    OP = opcodes.OpInstanceMove
    op: opcodes.OpInstanceMove
    HPATH = "instance-move"

    def expand_names(self) -> LockRequest:
        return self.expand_with_target()

    def hooks_extra(self) -> dict[str, object]:
        return {"TARGET_NODE": self.op.target_node,
                "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout}

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env, pre, _ = super().build_hooks_env()
        nodes = list(dict.fromkeys([*pre, self.op.target_node]))
        return env, nodes, list(nodes)

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        target = self.op.target_node
        if target == inst.primary_node:
            raise errors.OpPrereqError(
                f"Instance {inst.name} is already on node {target}", EC.INVAL)
        if inst.disk_template not in (constants.DT_FILE, constants.DT_PLAIN,
                                      constants.DT_DISKLESS):
            raise errors.OpPrereqError(
                f"Cannot move instance {inst.name}: disk template"
                f" {inst.disk_template} is not supported by move (only file,"
                " plain and diskless instances are)", EC.STATE)
        for disk in inst.disks:
            if disk.dev_type not in (constants.LD_FILE, constants.LD_LV) \
                    or disk.children:
                raise errors.OpPrereqError(
                    f"Instance {inst.name}: disk {disk.iv_name} has a complex"
                    " layout, can't move", EC.STATE)
        common.check_node_online(self, inst.primary_node,
                                 f"move instance {inst.name}")
        node = common.check_node_online(self, target,
                                        f"move instance {inst.name}")
        if node.drained:
            raise errors.OpPrereqError(
                f"Cannot move instance {inst.name} to node {target}: the node"
                " is drained", EC.STATE)
        if inst.disk_template == constants.DT_PLAIN:
            common.check_vg_free(
                self, target,
                common.lv_requests(self, inst.disk_template, inst.disks),
                f"moving instance {inst.name}")
        filled = common.filled_params(self.cfg, inst)
        common.check_bridges(self, target, filled.nics)
        if inst.admin_up:
            common.check_free_memory(self, target, int(filled.be["maxmem"]),
                                     inst.hypervisor,
                                     f"moving instance {inst.name}")

    # --- copying -------------------------------------------------------------

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        source, target = inst.primary_node, self.op.target_node
        feedback(f"* shutting down instance {inst.name} on source node"
                 f" {source}")
        common.shutdown_instance(self, inst, self.op.shutdown_timeout)
        common.shutdown_disks(self, inst, feedback)
        on_target = on_node(inst, target)
        if inst.disks:
            feedback(f"* copying {len(inst.disks)} disk(s) to node {target}")
            try:
                common.create_disks(self, inst, target)
                for disk in inst.disks:
                    feedback(f"  {disk.iv_name}: copying {disk.size} MiB"
                             f" from {source} to {target}")
                    disk_copy.copy_disk(self.rpc, disk, source, target,
                                        disk_copy.CopyProgress(
                                            disk.iv_name, disk.size * MIB,
                                            feedback))
            except errors.GenericError as err:
                common.remove_disks(self, on_target, feedback)
                self._restart_on_source(feedback)
                raise errors.OpExecError(
                    f"Errors during the disk copy of instance {inst.name}:"
                    f" {err}; the new disks were removed") from None
        self.inst = fresh = common.get_instance(self, inst.name)
        fresh.primary_node = target
        self.cfg.update(fresh)
        if inst.disks:
            feedback(f"* removing the disks on the source node {source}")
            if not common.remove_disks(self, on_node(fresh, source), feedback):
                where = (os.path.dirname(str(inst.disks[0].logical_id[1]))
                         if inst.disk_template == constants.DT_FILE else
                         f"volume group {inst.disks[0].logical_id[0]}")
                feedback(f"Warning: leftovers of {inst.name} remain on node"
                         f" {source} under {where}")
        if fresh.admin_up:
            feedback(f"* starting instance {inst.name} on node {target}")
            if not need_running_state(self, fresh):
                start_or_clean(self, fresh, feedback)

    def _restart_on_source(self, feedback: Feedback) -> None:
        """After a failed copy: run the instance where it was, if it was
        marked up (best effort; the error of the copy is what matters)."""
        if not self.inst.admin_up:
            return
        try:
            start_or_clean(self, self.inst, feedback)
        except errors.GenericError as err:
            feedback(f"Warning: could not restart {self.inst.name} on"
                     f" {self.inst.primary_node}: {err}")
