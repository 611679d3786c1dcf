"""Migration and failover: the instance changes its primary node without
its disks being copied.

That needs the disks on the target.  DRBD gives that: the target is the
secondary node, and the primary/secondary swap only changes
``primary_node`` (the disks' logical ids name both nodes).  File disks
live on the primary node only (no shared file storage is assumed), so a
file-disk instance is refused with a pointer to ``gnt-instance move``,
which copies them, unless the hypervisor mirrors them during a live
migration.  Diskless instances have nothing to carry: they migrate live
(or non-live) and fail over to any node.

The target of a diskless instance: the opcode's ``target_node`` when the
opcode has that field (Ganeti added it in 2.6 for templates without a
fixed secondary), otherwise the online, undrained node other than the
primary with the most free memory (all node locks are taken to choose).
A DRBD instance goes to its secondary.  Given another target
(``target_node``, or the node an iallocator chooses with ``iallocator``,
a ``relocate`` request for its secondary), that node first becomes its
secondary (as ``replace-disks -n``, checked before anything changes)
and the instance then moves there.  For the other templates the
iallocator is asked to relocate the instance off its primary node.

Migration is the five-step protocol of doc/design/hypervisors.rst; when
a step fails both finalize calls run with ``success=False`` so the
instance runs on the source again.  A DRBD instance's disks go
dual-primary around it (Ganeti 2.1: target Secondary, disconnect,
reconnect as multi-master, wait for sync; afterwards the old primary
Secondary, disconnect, reconnect single-master, wait for sync), and back
to single-primary when it fails.  ``cleanup`` recovers from a migration
that was interrupted (the master died): it finds where the instance
runs, fixes the configuration, drops the leftovers and puts the disks
back into single-master mode.
"""

from __future__ import annotations

import time
from typing import Any, Final

from ganeti import constants, errors, hypervisor, objects, opcodes
from ganeti.cmdlib import drbd, iallocator
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import ALL, Feedback, LevelRequest, LockRequest
from ganeti.cmdlib.drbd import is_mirrored
from ganeti.cmdlib.drbd_net import Mirror
from ganeti.cmdlib.instance_ops import (
    InstanceLU,
    need_running_state,
    on_node,
    start_or_clean,
)
from ganeti.cmdlib.instance_policy import check_target_policy
from ganeti.cmdlib.instance_replace import DiskReplacer
from ganeti.hypervisor.base import MigrationState, MigrationStatus
from ganeti.rpc.result import RpcResult

EC = errors.ErrorCode

#: Seconds between two status questions to the source during a migration.
POLL_INTERVAL: Final = 0.5
#: Seconds between two progress lines.
PROGRESS_INTERVAL: Final = 2.0
#: Consecutive failed status questions after which the migration is
#: taken as failed (and rolled back).
STATUS_FAILURES: Final = 5

#: Templates whose disks live on the primary node only: a hypervisor
#: that mirrors local disks carries them along a live migration.
MIRRORED_TEMPLATES: Final = frozenset([constants.DT_FILE, constants.DT_PLAIN])

#: The backend parameter that turns a migration into a failover.
ALWAYS_FAILOVER: Final = "always_failover"

FILE_DISKS_MSG = ("file disks are local to the primary node; use"
                  " gnt-instance move")


def mirrors_local_disks(inst: objects.Instance) -> bool:
    """Whether ``inst``'s hypervisor can carry local (file) disks along a
    live migration (KVM's block mirror)."""
    try:
        cls = hypervisor.get_hypervisor_class(inst.hypervisor)
    except errors.GenericError:
        return False
    return cls.CAN_MIRROR_LOCAL_DISKS


def check_template(inst: objects.Instance, action: str,
                   mirror: bool = False) -> None:
    """Refuse templates whose disks cannot follow the instance (file disks
    can when ``mirror``: the hypervisor copies them while it migrates)."""
    template = inst.disk_template
    if template == constants.DT_DISKLESS:
        return
    if template in MIRRORED_TEMPLATES and mirror:
        return
    if template in constants.DTS_NET_MIRROR:
        return
    if template == constants.DT_FILE:
        raise errors.OpPrereqError(
            f"Cannot {action} instance {inst.name}: {FILE_DISKS_MSG}",
            EC.STATE)
    raise errors.OpPrereqError(
        f"Cannot {action} instance {inst.name}: its disk layout ({template})"
        " is not network mirrored; use gnt-instance move", EC.STATE)


class _ChangePrimaryLU(InstanceLU):
    """Common part of migrate and failover: target choice and locks."""

    ACTION = ""
    target: str
    source: str

    def requested_target(self) -> str | None:
        value = getattr(self.op, "target_node", None)
        return None if value is None else str(value)

    def expand_names(self) -> LockRequest:
        self.op.instance_name = self.expand_instance_name(
            self.op.instance_name)
        inst = common.get_instance(self, self.op.instance_name)
        wanted = self.requested_target()
        #: A DRBD instance's new secondary, made before it moves there.
        self.replacer: DiskReplacer | None = None
        nodes: LevelRequest
        if getattr(self.op, "iallocator", None) is not None:
            nodes = ALL
        elif wanted is not None:
            target = self.expand_node_name(wanted)
            setattr(self.op, "target_node", target)  # noqa: B010 (optional field)
            nodes = [*inst.all_nodes, target]
        elif inst.disk_template in constants.DTS_NET_MIRROR:
            nodes = list(inst.all_nodes)
        else:
            nodes = ALL
        return LockRequest(instance=[self.op.instance_name], node=nodes)

    def choose_target(self, inst: objects.Instance) -> str:
        wanted = self.requested_target()
        allocator = getattr(self.op, "iallocator", None)
        if is_mirrored(inst):
            if not inst.secondary_nodes:
                raise errors.OpPrereqError(
                    f"Instance {inst.name} has no secondary node to"
                    f" {self.ACTION} to", EC.STATE)
            secondary = inst.secondary_nodes[0]
            if allocator is not None and wanted is None:
                wanted = iallocator.relocate(self, allocator, inst, secondary)
                setattr(self.op, "target_node", wanted)  # noqa: B010 (rerun)
            if wanted is not None and wanted != secondary:
                if wanted != inst.primary_node:
                    self.replacer = DiskReplacer(
                        self, inst.name, constants.REPLACE_DISK_CHG, [],
                        wanted, None, ignore_ipolicy=bool(
                            getattr(self.op, "ignore_ipolicy", False)))
                    self.replacer.check_prereq()
                return wanted
            return secondary
        if allocator is not None and wanted is None:
            wanted = iallocator.relocate(self, allocator, inst,
                                         inst.primary_node)
            setattr(self.op, "target_node", wanted)  # noqa: B010 (rerun)
        if wanted is not None:
            return wanted
        cluster = self.cfg.get_cluster()
        best: tuple[int, str] | None = None
        for name in self.cfg.node_names():
            node = self.cfg.get_node(name)
            if node is None or name == inst.primary_node or node.offline \
                    or node.drained:
                continue
            res = self.rpc.call_node_info([name], None, [inst.hypervisor],
                                          cluster.file_storage_dir)[name]
            free = -1 if res.failed else res.payload.get("memory_free")
            free = free if isinstance(free, int) else -1
            if best is None or free > best[0]:
                best = (free, name)
        if best is None:
            raise errors.OpPrereqError(
                f"Cannot {self.ACTION} instance {inst.name}: no other online,"
                " undrained node", EC.NORES)
        return best[1]

    def mirror_disks(self, inst: objects.Instance) -> bool:
        """Whether the disks travel with the instance (mirrored while it
        migrates); only a live-capable migration can do that."""
        return False

    def check_target(self, inst: objects.Instance) -> None:
        check_template(inst, self.ACTION, self.mirror_disks(inst))
        self.source = inst.primary_node
        self.target = self.choose_target(inst)
        if self.target == self.source:
            raise errors.OpPrereqError(
                f"Instance {inst.name} is already on node {self.target}",
                EC.INVAL)
        node = common.check_node_online(
            self, self.target, f"{self.ACTION} instance {inst.name}")
        if node.drained:
            raise errors.OpPrereqError(
                f"Cannot {self.ACTION} instance {inst.name} to node"
                f" {self.target}: the node is drained", EC.STATE)
        self.target_ip = node.primary_ip
        check_target_policy(self.cfg, inst, self.target,
                            ignore=bool(getattr(self.op, "ignore_ipolicy",
                                                False)),
                            feedback=self.feedback,
                            what=f"{self.ACTION} instance {inst.name} to node"
                                 f" {self.target}")

    def new_secondary_first(self, feedback: Feedback) -> None:
        """Make the target the DRBD secondary (when it is not yet)."""
        if self.replacer is None:
            return
        feedback(f"* making node {self.target} the secondary of instance"
                 f" {self.inst.name} first")
        self.replacer.execute(feedback)
        self.inst = common.get_instance(self, self.inst.name)

    def primary_env(self) -> dict[str, object]:
        return {"OLD_PRIMARY": self.source, "NEW_PRIMARY": self.target,
                "OLD_SECONDARY": " ".join(self.inst.secondary_nodes),
                "NEW_SECONDARY": " ".join(self.inst.secondary_nodes)}

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env, pre, _ = super().build_hooks_env()
        nodes = list(dict.fromkeys([*pre, self.target]))
        return env, nodes, list(nodes)

    def move_config(self) -> objects.Instance:
        """Record the target as the primary node; the new instance."""
        fresh = common.get_instance(self, self.inst.name)
        fresh.primary_node = self.target
        self.cfg.update(fresh)
        return fresh


class LUInstanceMigrate(_ChangePrimaryLU):
    """Move a running instance to another node without stopping it."""

    OP = opcodes.OpInstanceMigrate
    op: opcodes.OpInstanceMigrate
    HPATH = "instance-migrate"
    ACTION = "migrate"
    #: Set when the instance's ``always_failover`` makes this migration a
    #: failover (as Ganeti does; never for ``cleanup``): the failover
    #: logical unit that does it, under this one's locks.
    failover_lu: LUInstanceFailover | None = None

    def mirror_disks(self, inst: objects.Instance) -> bool:
        return (inst.disk_template in MIRRORED_TEMPLATES
                and mirrors_local_disks(inst))

    def live(self) -> bool:
        if self.op.mode is not None:
            return self.op.mode == constants.HT_MIGRATION_LIVE
        return True if self.op.live is None else bool(self.op.live)

    def hooks_extra(self) -> dict[str, object]:
        return {"MIGRATE_LIVE": self.live(),
                "MIGRATE_CLEANUP": self.op.cleanup, **self.primary_env()}

    def _as_failover(self, inst: objects.Instance,
                     why: str) -> LUInstanceFailover:
        wanted = {name: getattr(self.op, name)
                  for name in opcodes.OpInstanceFailover.fields()
                  if name not in ("ignore_consistency", "shutdown_timeout")
                  and getattr(self.op, name, None) is not None}
        lu = LUInstanceFailover(self.ctx, opcodes.OpInstanceFailover(**wanted),
                                self.feedback)
        # The same expansion as this LU's (the locks it asks are held).
        lu.expand_names()
        lu.owned = self.owned
        self.feedback(f"Instance {inst.name} {why}: failing over instead"
                      " of migrating")
        lu.check_prereq()
        self.inst, self.source, self.target = lu.inst, lu.source, lu.target
        return lu

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        if not self.op.cleanup:
            if common.filled_params(self.cfg, inst).be[ALWAYS_FAILOVER]:
                self.failover_lu = self._as_failover(
                    inst, f"is set to always fail over ({ALWAYS_FAILOVER})")
                return
            if self.op.allow_failover and not inst.admin_up:
                self.failover_lu = self._as_failover(
                    inst, "is marked down (allow_failover)")
                return
        self.check_target(inst)
        common.check_node_online(self, self.source,
                                 f"migrate instance {inst.name}")
        if self.op.cleanup:
            return
        res = self.rpc.call_instance_migratable([self.source],
                                                inst.to_dict())[self.source]
        if res.failed and self.op.allow_failover:
            self.failover_lu = self._as_failover(
                inst, f"cannot be migrated ({res.fail_msg}; allow_failover)")
            return
        if res.failed:
            raise errors.OpPrereqError(
                f"Can't migrate instance {inst.name}: {res.fail_msg}",
                EC.STATE)
        filled = common.filled_params(self.cfg, inst)
        common.check_bridges(self, self.target, filled.nics)
        common.check_free_memory(self, self.target, int(filled.be["maxmem"]),
                                 inst.hypervisor,
                                 f"migrating instance {inst.name}")

    def _call(self, name: str, node: str, *args: Any) -> RpcResult:
        return self.rpc.call(name, [node], *args)[node]

    def _abort(self, info: str, feedback: Feedback) -> None:
        """Undo a migration that did not complete: the target drops what it
        prepared, the source runs the instance again."""
        data = self.inst.to_dict()
        for res in (self._call("finalize_migration", self.target, data, info,
                               False),
                    self._call("finalize_migration_source", self.source, data,
                               False)):
            res.warn_on_fail(feedback, "Warning: rolling back the migration")

    def execute(self, feedback: Feedback) -> None:
        if self.failover_lu is not None:
            self.failover_lu.execute(feedback)
            return
        if self.op.cleanup:
            self._cleanup(feedback)
            return
        self.new_secondary_first(feedback)
        inst = self.inst
        live = self.live()
        if is_mirrored(inst):
            self._migrate_drbd(live, feedback)
            return
        mirror = self.mirror_disks(inst)
        feedback(f"* migrating instance {inst.name} from {self.source} to"
                 f" {self.target} ({'live' if live else 'non-live'}"
                 f"{', disks mirrored' if mirror else ''})")
        on_target = on_node(inst, self.target)
        if mirror:
            feedback(f"* creating {len(inst.disks)} disk(s) on node"
                     f" {self.target} to mirror into")
            try:
                common.create_disks(self, inst, self.target)
            except errors.GenericError as err:
                common.remove_disks(self, on_target, feedback)
                raise errors.OpExecError(
                    f"Could not create the disks of {inst.name} on node"
                    f" {self.target}: {err}") from None
        try:
            self._transfer(live, feedback)
        except errors.OpExecError:
            if mirror:
                common.remove_disks(self, on_target, feedback)
            raise
        self.inst = fresh = self.move_config()
        self._call("finalize_migration_source", self.source, inst.to_dict(),
                   True).warn_on_fail(feedback, "Warning: the source node"
                                      " kept the migrated instance's state")
        if mirror:
            feedback(f"* removing the disks on the source node {self.source}")
            if not common.remove_disks(self, on_node(fresh, self.source),
                                       feedback):
                feedback(f"Warning: disks of {inst.name} remain on node"
                         f" {self.source}")
        feedback("* done")

    def _migrate_drbd(self, live: bool, feedback: Feedback) -> None:
        """The DRBD disks go dual-primary for the transfer, then back to
        single-primary with the target as the primary."""
        inst = self.inst
        feedback(f"* migrating instance {inst.name} from {self.source} to"
                 f" {self.target} ({'live' if live else 'non-live'})")
        feedback(f"* checking the disks' consistency on node {self.target}")
        if not drbd.check_disks_consistent(self, inst, self.target):
            raise errors.OpExecError(
                f"The disks of instance {inst.name} are degraded or not in"
                f" sync on node {self.target}, aborting the migration")
        disks = Mirror(self, inst, feedback)
        disks.ensure_secondary(self.target)
        disks.go_standalone()
        disks.reconnect(multimaster=True)
        disks.wait_sync()
        try:
            self._transfer(live, feedback)
        except errors.OpExecError:
            self._single_master(disks, self.target, feedback)
            raise
        self.inst = fresh = self.move_config()
        self._call("finalize_migration_source", self.source, inst.to_dict(),
                   True).warn_on_fail(feedback, "Warning: the source node"
                                      " kept the migrated instance's state")
        if not self._single_master(Mirror(self, fresh, feedback),
                                   self.source, feedback):
            raise errors.OpExecError(
                f"Instance {inst.name} runs on node {self.target} but its"
                " disks are still in dual-master mode; run gnt-instance"
                " migrate --cleanup")
        feedback("* done")

    @staticmethod
    def _single_master(disks: Mirror, demoted: str,
                       feedback: Feedback) -> bool:
        """Make ``demoted`` the Secondary and reconnect the disks in
        single-master mode; False (with a warning) when that failed."""
        try:
            disks.ensure_secondary(demoted)
            disks.wait_sync()
            disks.go_standalone()
            disks.reconnect(multimaster=False)
            disks.wait_sync()
        except errors.OpExecError as err:
            feedback(f"Warning: cannot put the disks back into single-master"
                     f" mode: {err}")
            return False
        return True

    def _transfer(self, live: bool, feedback: Feedback) -> None:
        """Steps 1 to 5 up to the target's confirmation; on any failure
        the target drops what it prepared and the source runs on."""
        inst = self.inst
        data = inst.to_dict()
        res = self._call("migration_info", self.source, data)
        if res.failed:
            raise errors.OpExecError(
                f"Failed to gather migration information on node"
                f" {self.source}: {res.fail_msg}")
        info = str(res.payload)
        res = self._call("accept_instance", self.target, data, info,
                         self.target_ip)
        if res.failed:
            self._abort(info, feedback)
            raise errors.OpExecError(
                f"Pre-migration failed on node {self.target}, aborted:"
                f" {res.fail_msg}")
        res = self._call("instance_migrate", self.source, data,
                         self.target_ip, live)
        if res.failed:
            self._abort(info, feedback)
            raise errors.OpExecError(
                f"Could not migrate instance {inst.name}: {res.fail_msg};"
                f" it runs on {self.source} again")
        status = self._wait_for_transfer(data, feedback)
        if status.status != MigrationState.COMPLETED:
            self._abort(info, feedback)
            why = status.info or f"status {status.status}"
            raise errors.OpExecError(
                f"Migration of instance {inst.name} failed: {why}; it runs on"
                f" {self.source} again")
        feedback("* memory transfer complete"
                 + (f", downtime {status.downtime_ms} ms"
                    if status.downtime_ms is not None else ""))
        # Confirmed on the target before the configuration changes and
        # before the source lets go of its copy.
        res = self._call("finalize_migration", self.target, data, info, True)
        if res.failed:
            self._abort(info, feedback)
            raise errors.OpExecError(
                f"Instance {inst.name} did not run on node {self.target} after"
                f" the migration: {res.fail_msg}; it runs on {self.source}"
                " again")

    def _wait_for_transfer(self, data: dict[str, Any],
                           feedback: Feedback) -> MigrationStatus:
        """Poll the source until the transfer ends, with progress lines
        (at most one every PROGRESS_INTERVAL seconds)."""
        last_report = time.monotonic()
        failures = 0
        while True:
            res = self._call("instance_get_migration_status", self.source,
                             data)
            if res.failed:
                failures += 1
                if failures >= STATUS_FAILURES:
                    return MigrationStatus(status=MigrationState.FAILED,
                                           info=res.fail_msg or "")
                time.sleep(POLL_INTERVAL)
                continue
            failures = 0
            status = MigrationStatus.from_dict(res.payload)
            if status.status != MigrationState.ACTIVE:
                return status
            now = time.monotonic()
            if now - last_report >= PROGRESS_INTERVAL:
                last_report = now
                total = max(status.total_mib, 1)
                feedback(f"* memory transfer progress:"
                         f" {100 * status.transferred_mib // total}%"
                         f" ({status.transferred_mib}/{status.total_mib} MiB"
                         f"{', ' + status.info if status.info else ''})")
            time.sleep(POLL_INTERVAL)

    def _cleanup_disks(self, inst: objects.Instance, demoted: str,
                       feedback: Feedback) -> None:
        if not self._single_master(Mirror(self, inst, feedback), demoted,
                                   feedback):
            raise errors.OpExecError(
                f"Cannot put the disks of {inst.name} back into"
                " single-master mode; check the nodes and run the cleanup"
                " again")

    def _runs_on(self, node: str) -> bool:
        res = self.rpc.call_instance_list([node], [self.inst.hypervisor])[node]
        names = res.raise_on_fail(f"Listing the instances of {node}")
        return self.inst.name in names

    def _cleanup(self, feedback: Feedback) -> None:
        inst = self.inst
        data = inst.to_dict()
        on_source, on_target = self._runs_on(self.source), \
            self._runs_on(self.target)
        if on_source and on_target:
            raise errors.OpExecError(
                f"Instance {inst.name} seems to be running on two nodes"
                f" ({self.source} and {self.target}): manual intervention"
                " required")
        mirror = self.mirror_disks(inst)
        if on_target:
            feedback(f"* instance runs on the target node {self.target};"
                     " updating the configuration")
            self.inst = fresh = self.move_config()
            self._call("finalize_migration_source", self.source, data,
                       True).warn_on_fail(feedback, "Warning")
            if is_mirrored(fresh):
                self._cleanup_disks(fresh, self.source, feedback)
            if mirror:
                common.remove_disks(self, on_node(fresh, self.source),
                                    feedback)
            return
        # Runs on the source, or nowhere: drop what the target prepared and
        # let the source run what it kept.
        self._abort("", feedback)
        if mirror:
            common.remove_disks(self, on_node(inst, self.target), feedback)
        if on_source or self._runs_on(self.source):
            if is_mirrored(inst):
                self._cleanup_disks(inst, self.target, feedback)
            feedback(f"* instance runs on its primary node {self.source};"
                     " nothing left to clean up")
            return
        raise errors.OpExecError(
            f"Instance {inst.name} does not seem to run anywhere; stop it"
            " with 'gnt-instance shutdown' and start it again")


class LUInstanceFailover(_ChangePrimaryLU):
    """Stop the instance, make the target its primary node, start it there
    if it is marked up; works with the primary node down."""

    OP = opcodes.OpInstanceFailover
    op: opcodes.OpInstanceFailover
    HPATH = "instance-failover"
    ACTION = "fail over"

    def hooks_extra(self) -> dict[str, object]:
        return {"IGNORE_CONSISTENCY": self.op.ignore_consistency,
                "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout,
                **self.primary_env()}

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        self.check_target(inst)
        filled = common.filled_params(self.cfg, inst)
        common.check_bridges(self, self.target, filled.nics)
        if inst.admin_up:
            common.check_free_memory(self, self.target,
                                     int(filled.be["maxmem"]), inst.hypervisor,
                                     f"failing over instance {inst.name}")
            # The target's copy becomes the one the instance runs on (a
            # new secondary's is synced by the replacement first).
            if self.replacer is None:
                drbd.check_mirrors_healthy(
                    self, inst, self.target, "fail over",
                    self.op.ignore_consistency, self.feedback)

    def execute(self, feedback: Feedback) -> None:
        """Stop on the source (with ``ignore_consistency``, or a source
        marked offline, a failure there is only a warning: the node may
        be dead), deactivate the disks, record the target as primary and,
        if the instance is marked up, activate its disks (a mirror on
        both nodes, the target as the primary) and start it there."""
        self.new_secondary_first(feedback)
        inst = self.inst
        mirrored = is_mirrored(inst)
        source = self.cfg.get_node(self.source)
        tolerate = self.op.ignore_consistency or (source is not None
                                                  and source.offline)
        feedback(f"* shutting down instance {inst.name} on source node"
                 f" {self.source}")
        try:
            common.shutdown_instance(self, inst, self.op.shutdown_timeout)
            # A mirror's source side may be on a dead node (Ganeti's
            # ignore_primary); the target side's problems show when the
            # disks are activated there.
            common.shutdown_disks(self, inst, feedback,
                                  ignore_failures=tolerate or mirrored)
        except errors.OpExecError as err:
            if not tolerate:
                raise
            feedback(f"Warning: {err}. Proceeding anyway; please make sure"
                     f" node {self.source} is down")
            if mirrored:
                common.shutdown_disks(self, inst, feedback,
                                      ignore_failures=True)
        self.inst = fresh = self.move_config()
        if not fresh.admin_up:
            return
        if mirrored:
            feedback(f"* activating the instance's disks on node"
                     f" {self.target}")
            try:
                common.assemble_disks(self, fresh, feedback,
                                      ignore_secondaries=True)
            except errors.OpExecError:
                common.shutdown_disks(self, fresh, feedback,
                                      ignore_failures=True)
                raise
        feedback(f"* starting instance {inst.name} on node {self.target}")
        if need_running_state(self, fresh):
            return
        start_or_clean(self, on_node(fresh, self.target), feedback)
