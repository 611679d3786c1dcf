"""Converting a stopped instance's disks between ``plain`` and ``drbd``
(``gnt-instance modify -t plain`` / ``-t drbd -n SNODE``).

``drbd`` to ``plain``: the disks go down on both nodes, the
configuration keeps each disk's data volume on the primary as the plain
disk (DRBD's metadata is on its own volume, so the data volume holds
the disk from its first byte), the mirror's ports return to the pool,
then the secondary's devices and volumes and the primary's metadata
volumes are removed.

``plain`` to ``drbd``: new mirrors are created on both nodes (minors,
ports and secrets allocated as for a new instance; the secondary first,
the primary's device becomes the sync source), the data is copied from
each plain volume into its mirror on the primary (holes skipped, as
``move`` does) and the resync to the secondary is waited for; only then
does the configuration take the new disks, and the plain volumes are
removed.  Unlike Ganeti, which puts the existing volume under the
mirror, this copies the data once: the DRBD driver creates a mirror's
volumes itself.

Either way the configuration only ever names volumes that exist; a
failure before it changes removes what was made.
"""

from __future__ import annotations

import secrets

from ganeti import constants, errors, objects
from ganeti.cmdlib import drbd
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import Feedback, LogicalUnit
from ganeti.cmdlib.disk_copy import CopyProgress, copy_disk
from ganeti.storage import drbd_ids, templates

EC = errors.ErrorCode
CONVERSIONS = {(constants.DT_PLAIN, constants.DT_DRBD8),
               (constants.DT_DRBD8, constants.DT_PLAIN)}


class TemplateConversion:
    """One conversion; ``check_prereq`` changes nothing."""

    def __init__(self, lu: LogicalUnit, inst: objects.Instance, template: str,
                 remote_node: str | None) -> None:
        self.lu = lu
        self.inst = inst
        self.template = template
        self.snode = remote_node

    def check_prereq(self) -> None:
        inst, lu = self.inst, self.lu
        if inst.disk_template == self.template:
            raise errors.OpPrereqError(
                f"Instance {inst.name} already has disk template"
                f" {self.template}", EC.INVAL)
        if (inst.disk_template, self.template) not in CONVERSIONS:
            raise errors.OpPrereqError(
                f"Cannot convert instance {inst.name} from"
                f" {inst.disk_template} to {self.template}: only plain <->"
                " drbd conversions are supported", EC.INVAL)
        what = f"convert the disks of {inst.name}"
        common.check_node_online(lu, inst.primary_node, what)
        common.check_instance_stopped(lu, inst, f"convert its disks to"
                                      f" {self.template}")
        if self.template == constants.DT_PLAIN:
            return
        assert self.snode is not None  # the opcode requires it
        if self.snode == inst.primary_node:
            raise errors.OpPrereqError(
                f"The secondary node cannot be the primary node"
                f" ({self.snode})", EC.INVAL)
        node = common.check_node_online(lu, self.snode, what)
        if node.drained:
            raise errors.OpPrereqError(
                f"Cannot {what}: secondary node {self.snode} is drained",
                EC.STATE)
        cluster = lu.cfg.get_cluster()
        need: list[tuple[int, int]] = []
        for disk in inst.disks:
            filled = cluster.fill_disk(constants.DT_DRBD8, disk.params)
            need += [(disk.size, int(filled.get("data_stripes", 1) or 1)),
                     (drbd_ids.META_SIZE_MIB,
                      int(filled.get("meta_stripes", 1) or 1))]
        for name in (inst.primary_node, self.snode):
            common.check_vg_free(lu, name, need, what)

    def execute(self, feedback: Feedback) -> objects.Instance:
        if self.template == constants.DT_PLAIN:
            return self._to_plain(feedback)
        return self._to_drbd(feedback)

    # --- drbd -> plain -----------------------------------------------------------

    def _to_plain(self, feedback: Feedback) -> objects.Instance:
        inst, lu = self.inst, self.lu
        primary, secondaries = inst.primary_node, inst.secondary_nodes
        common.shutdown_disks(lu, inst, feedback, ignore_failures=True)
        fresh = common.get_instance(lu, inst.name)
        plain = []
        for disk in fresh.disks:
            data = disk.children[0].copy()
            data.size, data.iv_name, data.mode = disk.size, disk.iv_name, \
                disk.mode
            data.uuid = disk.uuid
            plain.append(data)
        fresh.disks, fresh.disk_template = plain, constants.DT_PLAIN
        lu.cfg.update(fresh)
        for disk in inst.disks:
            lu.cfg.release_port(int(disk.logical_id[2]))
        feedback(f"* removing the mirrors' volumes on {', '.join(secondaries)}"
                 f" and the metadata volumes on {primary}")
        for disk in inst.disks:
            for node in secondaries:
                sent = drbd.disk_for_node(lu.cfg, disk, node)
                lu.rpc.call_blockdev_remove([node], sent.to_dict())[
                    node].warn_on_fail(feedback, f"Warning: removing"
                                       f" {disk.iv_name}")
            meta = disk.children[1].copy()
            meta.physical_id = list(meta.logical_id)
            lu.rpc.call_blockdev_remove([primary], meta.to_dict())[
                primary].warn_on_fail(feedback, f"Warning: removing the"
                                      f" metadata of {disk.iv_name}")
        return fresh

    # --- plain -> drbd -----------------------------------------------------------

    def _to_drbd(self, feedback: Feedback) -> objects.Instance:
        inst, lu = self.inst, self.lu
        assert self.snode is not None
        primary, snode = inst.primary_node, self.snode
        owner = f"convert:{inst.name}"
        minors = lu.cfg.allocate_drbd_minors([primary, snode] * len(inst.disks),
                                             owner)
        ports = [lu.cfg.allocate_port() for _ in inst.disks]
        try:
            ids = [templates.DrbdIds(port, minors[2 * i], minors[2 * i + 1],
                                     secrets.token_hex(16))
                   for i, port in enumerate(ports)]
            mirrored = inst.copy()
            mirrored.disk_template = constants.DT_DRBD8
            mirrored.disks = templates.generate_disks(
                constants.DT_DRBD8,
                [{"size": d.size, "mode": d.mode} for d in inst.disks],
                inst.name, "", vg_name=lu.cfg.get_cluster().volume_group_name,
                drbd_nodes=(primary, snode), drbd=ids)
            try:
                self._fill(mirrored, feedback)
            except errors.GenericError as err:
                common.remove_disks(lu, mirrored, feedback)
                for port in ports:
                    lu.cfg.release_port(port)
                raise errors.OpExecError(
                    f"Cannot convert the disks of {inst.name} to drbd: {err};"
                    " the instance keeps its plain disks") from None
            fresh = common.get_instance(lu, inst.name)
            fresh.disks, fresh.disk_template = mirrored.disks, \
                constants.DT_DRBD8
            lu.cfg.update(fresh)
        finally:
            lu.cfg.release_drbd_minors(owner)
        common.shutdown_disks(lu, fresh, feedback, ignore_failures=True)
        feedback(f"* removing the plain volumes on {primary}")
        for disk in inst.disks:
            lu.rpc.call_blockdev_remove([primary], disk.to_dict())[
                primary].warn_on_fail(feedback, f"Warning: removing the old"
                                      f" {disk.iv_name}")
        return fresh

    def _fill(self, mirrored: objects.Instance, feedback: Feedback) -> None:
        """Create the mirrors (secondary first), copy the plain disks'
        data into them on the primary and wait for the resync."""
        lu, primary = self.lu, mirrored.primary_node
        feedback(f"* creating the mirrors on {self.snode} and {primary}")
        for node in (self.snode, primary):
            assert node is not None
            for disk in mirrored.disks:
                common.create_disk(lu, mirrored, node, disk).raise_on_fail(
                    f"Creating the mirror of {disk.iv_name}")
        feedback("* copying the data into the mirrors")
        for old, new in zip(self.inst.disks, mirrored.disks, strict=True):
            progress = CopyProgress(old.iv_name, old.size * 1024 * 1024,
                                    feedback)
            copy_disk(lu.rpc, old, primary, primary, progress,
                      target_disk=drbd.disk_for_node(lu.cfg, new, primary))
        if not drbd.wait_for_sync(lu, mirrored, feedback):
            raise errors.OpExecError(
                f"The new mirrors of {mirrored.name} did not get in sync")

