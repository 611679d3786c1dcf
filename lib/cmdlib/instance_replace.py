"""Replacing the disks of a DRBD instance (``gnt-instance replace-disks``)
and creating lost disks again (``recreate-disks``).

Modes, as in Ganeti 2.1: ``-p``/``-s`` give one side new volumes (the
DRBD device there resyncs from the other side), ``-n NODE`` (or ``-I``)
moves the secondary to another node, ``--auto`` replaces the side whose
local storage is faulty.  On the primary of an instance marked up the
device stays in use: it detaches its local disk (running on the peer's
data meanwhile), the volumes swap names, and it attaches the new ones
with fresh metadata and resyncs them from the peer.

A replacement survives the master dying at any point, and the
configuration never names a volume that does not exist:

- on the same node, the new volumes are made under the old names plus
  ``_new``; the DRBD device there is stopped, the old volumes are
  renamed aside (``_replaced``) and the new ones take their names, so the
  configuration never changes; the device is created again over them
  and resyncs, then the old volumes go.  A rerun looks at the volumes
  first: a swap half done is finished (``_new`` there, the name free) or
  undone (only ``_replaced``), leftovers of ``_new`` are dropped, and a
  disk already switched only waits for its resync and drops the old
  volumes;
- with a new secondary, everything is made on the new node before the
  configuration changes, and the old node's volumes are removed only
  after; a rerun towards the same node removes the leftovers there and
  starts again, and a rerun after the configuration changed finds the
  node already secondary and reconnects and waits for the sync.
"""

from __future__ import annotations

from typing import Any, Final

from ganeti import constants, errors, objects, opcodes
from ganeti.cmdlib import drbd_place, iallocator
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import ALL, Feedback, LevelRequest, LockRequest, LogicalUnit
from ganeti.cmdlib.drbd_net import Mirror
from ganeti.cmdlib.instance_ops import InstanceLU
from ganeti.cmdlib.instance_policy import check_target_policy

EC = errors.ErrorCode

NEW_SUFFIX: Final = "_new"
OLD_SUFFIX: Final = "_replaced"


def _renamed(lv: objects.Disk, suffix: str) -> objects.Disk:
    copy = lv.copy()
    copy.logical_id = [lv.logical_id[0], f"{lv.logical_id[1]}{suffix}"]
    copy.physical_id = list(copy.logical_id)
    return copy


def _with_children(disk: objects.Disk, suffix: str) -> objects.Disk:
    """A copy of the drbd8 ``disk`` over volumes named with ``suffix``."""
    copy = disk.copy()
    copy.children = [_renamed(c, suffix) for c in disk.children]
    return copy


def _lv(lv: objects.Disk) -> dict[str, Any]:
    copy = lv.copy()
    copy.physical_id = list(lv.logical_id)
    return copy.to_dict()


def _check_source(mirror: Mirror, node: str,
                  disks: list[objects.Disk]) -> None:
    """The disks on ``node``, which the resync will copy from, exist and
    have healthy local storage."""
    name = mirror.inst.name
    for disk in disks:
        if mirror.status(node, disk) is None:
            raise errors.OpExecError(
                f"Cannot find {disk.iv_name} of {name} on node {node}")
        if not mirror.consistent(node, disk, ldisk=True):
            raise errors.OpExecError(
                f"Node {node} has degraded storage, unsafe to replace the"
                f" disks of instance {name}")


def check_disk_indices(inst: objects.Instance, indices: list[int]) -> None:
    for idx in indices:
        if idx >= len(inst.disks):
            raise errors.OpPrereqError(
                f"Invalid disk index {idx}: instance {inst.name} has"
                f" {len(inst.disks)} disk(s)", EC.INVAL)


class DiskReplacer:
    """One instance's replacement, shared by replace-disks and node
    evacuation.  ``check_prereq`` changes nothing; ``execute`` acts."""

    def __init__(self, lu: LogicalUnit, name: str, mode: str,
                 disks: list[int], remote_node: str | None,
                 iallocator: str | None, *,
                 ignore_ipolicy: bool = False) -> None:
        self.lu = lu
        self.ignore_ipolicy = ignore_ipolicy
        self.name = name
        self.mode = mode
        self.indices = list(disks)
        self.remote_node = remote_node
        self.iallocator = iallocator
        self.nothing = False
        self.new_node: str | None = None
        #: Replacing the primary's disks under the running instance.
        self.live = False

    # --- preconditions ------------------------------------------------------------

    def check_prereq(self) -> None:
        self.inst = inst = common.get_instance(self.lu, self.name)
        if inst.disk_template != constants.DT_DRBD8:
            raise errors.OpPrereqError(
                f"Cannot replace the disks of instance {inst.name}: only"
                f" DRBD instances have a mirror (its template is"
                f" {inst.disk_template})", EC.INVAL)
        if len(inst.secondary_nodes) != 1:
            raise errors.OpPrereqError(
                f"Instance {inst.name} has {len(inst.secondary_nodes)}"
                " secondary nodes instead of one", EC.STATE)
        self.primary = inst.primary_node
        self.secondary = inst.secondary_nodes[0]
        check_disk_indices(inst, self.indices)
        if not self.indices:
            self.indices = list(range(len(inst.disks)))
        what = f"replace the disks of {inst.name}"
        common.check_node_online(self.lu, self.primary, what)
        if self.mode == constants.REPLACE_DISK_CHG:
            self._check_new_secondary()
            return
        common.check_node_online(self.lu, self.secondary, what)
        if self.mode == constants.REPLACE_DISK_AUTO:
            self._auto()
            if self.nothing:
                return
        self.target, self.other = (
            (self.primary, self.secondary)
            if self.mode == constants.REPLACE_DISK_PRI
            else (self.secondary, self.primary))
        # The primary's devices of an instance marked up stay in use:
        # their local disks are swapped under them (``drbd_detach_disk``,
        # ``drbd_attach_disks``) instead of the devices being stopped.
        self.live = self.target == self.primary and inst.admin_up
        need = common.lv_requests(self.lu, inst.disk_template,
                                  [inst.disks[i] for i in self.indices])
        common.check_vg_free(self.lu, self.target, need, what)

    def _check_new_secondary(self) -> None:
        inst = self.inst
        if self.remote_node is not None:
            new = self.remote_node
        elif self.iallocator is not None:
            new = self.remote_node = iallocator.relocate(
                self.lu, self.iallocator, inst, self.secondary)
        else:
            raise errors.OpPrereqError(
                "Changing the secondary needs the new node (-n) or an"
                " iallocator (-I)", EC.INVAL)
        if new == self.primary:
            raise errors.OpPrereqError(
                f"Node {new} is the primary node of instance {inst.name};"
                " it cannot also be its secondary", EC.INVAL)
        node = common.check_node_online(self.lu, new,
                                        f"make {new} a secondary of"
                                        f" {inst.name}")
        self.new_node = new
        if new == self.secondary:
            return  # a rerun: reconnect and wait (see execute)
        check_target_policy(self.lu.cfg, inst, new, ignore=self.ignore_ipolicy,
                            feedback=self.lu.feedback,
                            what=f"make node {new} the secondary of instance"
                                 f" {inst.name}")
        if node.drained:
            raise errors.OpPrereqError(
                f"Cannot make node {new} a secondary of {inst.name}: the"
                " node is drained", EC.STATE)
        common.check_vg_free(
            self.lu, new,
            common.lv_requests(self.lu, inst.disk_template, inst.disks),
            f"the disks of {inst.name}")

    def _auto(self) -> None:
        """Find the side with faulty local storage (Ganeti's auto mode)."""
        faulty: dict[str, list[int]] = {}
        for node in (self.primary, self.secondary):
            mirror = Mirror(self.lu, self.inst, lambda msg: None)
            res = self.lu.rpc.call_blockdev_getmirrorstatus(
                [node], mirror.on_node(node))[node]
            if res.failed:
                raise errors.OpPrereqError(
                    f"Cannot get the disk status of instance"
                    f" {self.inst.name} on node {node}: {res.fail_msg}",
                    EC.ENVIRON)
            faulty[node] = [idx for idx, st in enumerate(res.payload)
                            if st.get("ldisk_status") == "faulty"]
        if faulty[self.primary] and faulty[self.secondary]:
            raise errors.OpPrereqError(
                f"Instance {self.inst.name} has faulty disks on both nodes;"
                " manual intervention is needed", EC.STATE)
        if faulty[self.primary]:
            self.mode, self.indices = (constants.REPLACE_DISK_PRI,
                                       faulty[self.primary])
        elif faulty[self.secondary]:
            self.mode, self.indices = (constants.REPLACE_DISK_SEC,
                                       faulty[self.secondary])
        else:
            self.nothing = True

    # --- execution ---------------------------------------------------------------

    def execute(self, feedback: Feedback) -> None:
        if self.nothing:
            feedback(f"No disks of instance {self.inst.name} need"
                     " replacement")
            return
        inst = self.inst
        activate = not inst.admin_up
        if activate:
            # Ganeti 2.1: a stopped instance's disks are active meanwhile.
            common.assemble_disks(self.lu, inst, feedback,
                                  ignore_secondaries=True)
        try:
            if self.mode == constants.REPLACE_DISK_CHG:
                assert self.new_node is not None
                self._change_secondary(self.new_node, feedback)
            else:
                self._same_node(feedback)
        finally:
            if activate:
                fresh = common.get_instance(self.lu, inst.name)
                common.shutdown_disks(self.lu, fresh, feedback,
                                      ignore_failures=True)

    # replace on the primary or the secondary -------------------------------------

    def _same_node(self, feedback: Feedback) -> None:
        """The device on the target is stopped and created again over new
        volumes (``_new``), where it resyncs from the peer; once in sync it
        stops, the volumes swap names in one call (old ones ``_replaced``,
        new ones the configured names), it is assembled on them and the
        old volumes go."""
        inst, target, other = self.inst, self.target, self.other
        disks = [inst.disks[i] for i in self.indices]
        mirror = Mirror(self.lu, inst, feedback, disks=disks)
        names = ", ".join(d.iv_name for d in disks)
        feedback(f"Replacing disk(s) {names} of {inst.name} on node {target}")
        feedback("STEP 1/6 Check the volumes left by an earlier run")
        switched = self._recover(mirror, target, disks, feedback)
        fresh = [d for d in disks if d.uuid not in switched]
        feedback(f"STEP 2/6 Check the peer's consistency on {other}")
        _check_source(mirror, other, fresh)
        feedback(f"STEP 3/6 Allocate new storage on {target} and sync it")
        if self.live:
            for disk in fresh:
                self._new_volumes(target, disk)
            fresh = []  # nothing to sync before the swap
        for disk in fresh:
            self._stop(mirror, target, disk)
            temp = _with_children(disk, NEW_SUFFIX)
            res = self.lu.rpc.call_blockdev_create(
                [target], mirror.for_node(temp, target), disk.size,
                inst.name, False)[target]
            if res.failed:
                self._bring_up(mirror, target, disk, feedback)
                raise errors.OpExecError(
                    f"Cannot create new volumes for {disk.iv_name} of"
                    f" {inst.name} on node {target}: {res.fail_msg}")
        if fresh:
            Mirror(self.lu, inst, feedback,
                   disks=[_with_children(d, NEW_SUFFIX) for d in fresh]
                   ).wait_sync()
        feedback("STEP 4/6 Put the new volumes in place of the old ones")
        for disk in [d for d in disks if d.uuid not in switched]:
            self._stop(mirror, target, disk)
            have = self.names(target, [disk])
            # One call: the configured names always exist on the node.
            self._rename(target, [(c, _renamed(c, OLD_SUFFIX))
                                  for c in disk.children
                                  if str(c.logical_id[1]) in have]
                         + [(_renamed(c, NEW_SUFFIX), c)
                            for c in disk.children])
            self._bring_up(mirror, target, disk, feedback, strict=True,
                           new_volumes=True)
        feedback("STEP 5/6 Sync the devices")
        mirror.wait_sync()
        feedback(f"STEP 6/6 Remove the old storage on {target}")
        self._remove(target, [_renamed(c, OLD_SUFFIX) for d in disks
                              for c in d.children], feedback)

    def _new_volumes(self, node: str, disk: objects.Disk) -> None:
        """The ``_new`` data and metadata volumes of ``disk`` on ``node``
        (a device in use keeps running over the old ones meanwhile)."""
        made: list[objects.Disk] = []
        for child in disk.children:
            lv = _renamed(child, NEW_SUFFIX)
            res = self.lu.rpc.call_blockdev_create(
                [node], _lv(lv), child.size, self.inst.name, True)[node]
            if res.failed:
                self._remove(node, made, lambda msg: None)
                raise errors.OpExecError(
                    f"Cannot create new volumes for {disk.iv_name} of"
                    f" {self.inst.name} on node {node}: {res.fail_msg}")
            made.append(lv)

    def _remove(self, node: str, lvs: list[objects.Disk],
                feedback: Feedback) -> None:
        for lv in lvs:
            res = self.lu.rpc.call_blockdev_remove([node], _lv(lv))[node]
            if res.failed:
                feedback(f"Warning: cannot remove volume {lv.logical_id[1]}"
                         f" on node {node}: {res.fail_msg}; remove it by"
                         " hand")

    def _rename(self, node: str, pairs: list[tuple[objects.Disk,
                                                    objects.Disk]]) -> None:
        if not pairs:
            return
        res = self.lu.rpc.call_blockdev_rename(
            [node], [[_lv(a), list(b.logical_id)] for a, b in pairs])[node]
        if res.failed:
            raise errors.OpExecError(
                f"Cannot rename volumes on node {node}: {res.fail_msg}")

    def volumes(self, node: str, vg: str) -> set[str]:
        res = self.lu.rpc.call_node_volumes([node], vg)[node]
        if res.failed:
            raise errors.OpExecError(
                f"Cannot list the volumes of node {node}: {res.fail_msg}")
        return {str(row[1]) for row in res.payload}

    def names(self, node: str, disks: list[objects.Disk]) -> set[str]:
        have: set[str] = set()
        for vg in sorted({str(c.logical_id[0]) for d in disks
                          for c in d.children}):
            have |= self.volumes(node, vg)
        return have

    def _in_use(self, node: str) -> bool:
        return self.live and node == self.primary

    def _stop(self, mirror: Mirror, node: str, disk: objects.Disk) -> None:
        """Stop the device of ``disk`` on ``node``; a device in use only
        loses its local disk."""
        call = (self.lu.rpc.call_drbd_detach_disk if self._in_use(node)
                else self.lu.rpc.call_blockdev_shutdown)
        res = call([node], mirror.for_node(disk, node))[node]
        if res.failed:
            raise errors.OpExecError(
                f"Cannot stop {disk.iv_name} of {self.inst.name} on node"
                f" {node}: {res.fail_msg}")

    def _recover(self, mirror: Mirror, node: str, disks: list[objects.Disk],
                 feedback: Feedback) -> set[str]:
        """Finish or undo what an interrupted run left on ``node``; the
        uuids of the disks already switched to their new volumes (they
        only need the resync and the removal of the old volumes)."""
        have = self.names(node, disks)
        switched = set()
        for disk in disks:
            names = [str(c.logical_id[1]) for c in disk.children]
            old = [n + OLD_SUFFIX in have for n in names]
            new = [n + NEW_SUFFIX in have for n in names]
            if all(old):
                feedback(f"Finishing the interrupted replacement of"
                         f" {disk.iv_name} on node {node}")
                self._bring_up(mirror, node, disk, feedback, strict=True,
                               new_volumes=True)
                switched.add(disk.uuid)
                continue
            if not any(old) and not any(new):
                continue
            feedback(f"Rolling back the interrupted replacement of"
                     f" {disk.iv_name} on node {node}")
            if any(old) or not self._in_use(node):
                self._stop(mirror, node, disk)
            # A half-done swap (only some pairs renamed) is undone first.
            undo = [(c, _renamed(c, NEW_SUFFIX)) for c, n, o
                    in zip(disk.children, names, old, strict=True)
                    if o and n in have and n + NEW_SUFFIX not in have]
            self._rename(node, undo)
            self._rename(node, [(_renamed(c, OLD_SUFFIX), c) for c, o
                                in zip(disk.children, old, strict=True) if o])
            self._remove(node, [_renamed(c, NEW_SUFFIX)
                                for c in disk.children], feedback)
            self._bring_up(mirror, node, disk, feedback)
        return switched

    def _bring_up(self, mirror: Mirror, node: str, disk: objects.Disk,
                  feedback: Feedback, strict: bool = False,
                  new_volumes: bool = False) -> None:
        """Assemble ``disk`` on ``node`` over its configured volumes (as
        the primary's device when the running instance uses it); a
        device in use gets them attached as its local disk (fresh
        metadata on ``new_volumes``; nothing if it has a disk).  A
        failure raises when ``strict``, else it is a warning (a lost
        volume is what a replacement repairs)."""
        if self._in_use(node):
            res = self.lu.rpc.call_drbd_attach_disks(
                [node], mirror.for_node(disk, node), new_volumes)[node]
        elif mirror.status(node, disk) is not None:
            return
        else:
            primary = node == self.primary and self.inst.admin_up
            res = self.lu.rpc.call_blockdev_assemble(
                [node], mirror.for_node(disk, node), self.inst.name,
                primary)[node]
        if not res.failed:
            return
        msg = (f"Cannot activate {disk.iv_name} of {self.inst.name} on node"
               f" {node}: {res.fail_msg}")
        if strict:
            raise errors.OpExecError(
                f"{msg}; run the same replace-disks again to finish")
        feedback(f"Warning: {msg}")

    # change the secondary ------------------------------------------------------------

    def _change_secondary(self, new: str, feedback: Feedback) -> None:
        inst, primary, old = self.inst, self.primary, self.secondary
        if new == old:
            feedback(f"Node {new} is already the secondary of {inst.name};"
                     " reconnecting the disks and waiting for the sync")
            mirror = Mirror(self.lu, inst, feedback)
            mirror.reconnect(multimaster=False)
            mirror.wait_sync()
            return
        feedback(f"Replacing the secondary of {inst.name}: {old} -> {new}")
        mirror = Mirror(self.lu, inst, feedback)
        feedback(f"STEP 1/6 Check the disks on the primary node {primary}")
        _check_source(mirror, primary, inst.disks)
        owner = f"replace-disks:{inst.name}"
        minors = self.lu.cfg.allocate_drbd_minors([new] * len(inst.disks),
                                                  owner)
        try:
            self._move_secondary(mirror, old, new, minors, feedback)
        finally:
            self.lu.cfg.release_drbd_minors(owner)

    def _move_secondary(self, mirror: Mirror, old: str, new: str,
                        minors: list[int], feedback: Feedback) -> None:
        inst, primary, rpc = self.inst, self.primary, self.lu.rpc
        new_disks = [drbd_place.with_new_secondary(d, old, new, m)
                     for d, m in zip(inst.disks, minors, strict=True)]
        target = Mirror(self.lu, inst, feedback, disks=new_disks,
                        nodes=[primary, new])
        feedback(f"STEP 2/6 Allocate new storage on {new}")
        for disk in new_disks:
            # Leftovers of an interrupted run towards this node: the minor
            # is free in the configuration, so a device there is ours.
            rpc.call_blockdev_remove([new], target.for_node(disk, new))
        try:
            for disk in new_disks:
                # The device and its two volumes; it waits for its peer.
                res = rpc.call_blockdev_create([new], target.for_node(disk, new),
                                               disk.size, inst.name,
                                               False)[new]
                if res.failed:
                    raise errors.OpExecError(
                        f"Cannot create {disk.iv_name} of {inst.name} on node"
                        f" {new}: {res.fail_msg}")
        except errors.OpExecError:
            self.drop(target, new, new_disks, feedback)
            raise
        feedback(f"STEP 3/6 Stop the old secondary {old}, detach the primary")
        for disk in inst.disks:
            rpc.call_blockdev_shutdown([old], mirror.for_node(disk, old))[
                old].warn_on_fail(feedback, f"Warning: stopping {disk.iv_name}"
                                  f" on the old secondary")
        res = rpc.call_drbd_disconnect_net([primary], mirror.ips,
                                           [d.to_dict() for d in inst.disks]
                                           )[primary]
        if res.failed:
            self.drop(target, new, new_disks, feedback)
            raise errors.OpExecError(
                f"Cannot detach the disks of {inst.name} from the network on"
                f" the primary node {primary}: {res.fail_msg}")
        feedback("STEP 4/6 Record the new secondary in the configuration")
        fresh = common.get_instance(self.lu, inst.name)
        for idx, disk in enumerate(new_disks):
            fresh.disks[idx].logical_id = list(disk.logical_id)
        self.lu.cfg.update(fresh)
        self.inst = fresh
        feedback(f"STEP 5/6 Attach the primary to {new} and sync")
        results = rpc.call_drbd_attach_net(
            [primary, new], target.ips, [d.to_dict() for d in fresh.disks],
            inst.name, False)
        for node, res in results.items():
            res.warn_on_fail(feedback, f"Warning: attaching the disks on"
                             f" {node} (run replace-disks -n {new} again)")
        Mirror(self.lu, fresh, feedback).wait_sync()
        feedback(f"STEP 6/6 Remove the old storage on {old}")
        self.drop(mirror, old, inst.disks, feedback)

    def drop(self, mirror: Mirror, node: str, disks: list[objects.Disk],
              feedback: Feedback) -> None:
        """Remove the devices and volumes of ``disks`` on ``node``."""
        for disk in disks:
            res = self.lu.rpc.call_blockdev_remove(
                [node], mirror.for_node(disk, node))[node]
            if res.failed:
                feedback(f"Warning: cannot remove {disk.iv_name} of"
                         f" {self.inst.name} on node {node}: {res.fail_msg};"
                         " remove its volumes by hand")


class LUInstanceReplaceDisks(InstanceLU):
    """Replace the disks of a DRBD instance (see the module)."""

    OP = opcodes.OpInstanceReplaceDisks
    op: opcodes.OpInstanceReplaceDisks
    HPATH = "mirrors-replace"

    def expand_names(self) -> LockRequest:
        self.op.instance_name = self.expand_instance_name(
            self.op.instance_name)
        inst = common.get_instance(self, self.op.instance_name)
        nodes: LevelRequest = list(inst.all_nodes)
        if self.op.remote_node is not None:
            self.op.remote_node = self.expand_node_name(self.op.remote_node)
            nodes = [*inst.all_nodes, self.op.remote_node]
        elif self.op.iallocator is not None:
            nodes = ALL
        return LockRequest(instance=[self.op.instance_name], node=nodes)

    def hooks_extra(self) -> dict[str, object]:
        return {"MODE": self.op.mode,
                "NEW_SECONDARY": self.task.new_node or "",
                "OLD_SECONDARY": " ".join(self.inst.secondary_nodes)}

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env, pre, post = super().build_hooks_env()
        if self.task.new_node is not None:
            pre = list(dict.fromkeys([*pre, self.task.new_node]))
            post = list(dict.fromkeys([*post, self.task.new_node]))
        return env, pre, post

    def check_prereq(self) -> None:
        self.task = DiskReplacer(self, self.op.instance_name, self.op.mode,
                                 self.op.disks, self.op.remote_node,
                                 self.op.iallocator,
                                 ignore_ipolicy=self.op.ignore_ipolicy)
        self.task.check_prereq()
        self.inst = self.task.inst

    def execute(self, feedback: Feedback) -> None:
        self.task.execute(feedback)


class LUInstanceRecreateDisks(InstanceLU):
    """Create again, empty, the volumes of a stopped instance that are
    missing on its nodes (a lost disk); existing volumes are kept."""

    OP = opcodes.OpInstanceRecreateDisks
    op: opcodes.OpInstanceRecreateDisks
    HPATH = "instance-recreate-disks"

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        if inst.disk_template == constants.DT_DISKLESS:
            raise errors.OpPrereqError(
                f"Instance {inst.name} is diskless: nothing to recreate",
                EC.INVAL)
        check_disk_indices(inst, self.op.disks)
        for node in inst.all_nodes:
            common.check_node_online(self, node,
                                     f"recreate the disks of {inst.name}")
        common.check_instance_stopped(self, inst, "recreate its disks")

    def execute(self, feedback: Feedback) -> None:
        inst = self.inst
        wanted = self.op.disks or list(range(len(inst.disks)))
        disks = [inst.disks[i] for i in wanted]
        if inst.disk_template != constants.DT_DRBD8:
            for disk in disks:
                common.create_disk(self, inst, inst.primary_node,
                                   disk).raise_on_fail(
                    f"Creating {disk.iv_name}")
            return
        replacer = DiskReplacer(self, inst.name, constants.REPLACE_DISK_SEC,
                                wanted, None, None)
        replacer.inst, replacer.primary = inst, inst.primary_node
        mirror = Mirror(self, inst, feedback, disks=disks)
        lost = {node: [d for d in disks if not {
            str(c.logical_id[1]) for c in d.children} <= have]
            for node, have in ((n, replacer.names(n, disks))
                               for n in inst.all_nodes)}
        for node in [*inst.secondary_nodes, inst.primary_node]:
            for disk in lost[node]:
                feedback(f"Recreating {disk.iv_name} of {inst.name} on node"
                         f" {node}")
                # What is left of it there goes: a device cannot use one
                # old volume with a new one.
                replacer.drop(mirror, node, [disk], feedback)
                # The new primary side is the sync source only when both
                # sides are new; otherwise it resyncs from its peer.
                source = node == inst.primary_node and all(
                    disk in lost[n] for n in inst.all_nodes)
                res = self.rpc.call_blockdev_create(
                    [node], mirror.for_node(disk, node), disk.size, inst.name,
                    source)[node]
                if res.failed:
                    raise errors.OpExecError(
                        f"Cannot create {disk.iv_name} of {inst.name} on node"
                        f" {node}: {res.fail_msg}")
        common.shutdown_disks(self, inst, feedback, ignore_failures=True)
