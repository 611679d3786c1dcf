"""Exports (``gnt-backup``): export, list, remove, prepare.

- :class:`LUBackupExport`: stops the instance (unless ``--noshutdown``,
  which file disks cannot honour: they have no snapshots, so it is
  refused rather than dumping a running disk).  Plain (LVM) disks are
  exported from snapshots, as Ganeti does: each volume is snapshotted
  (``blockdev_snapshot``), a stopped instance is started again right
  away (unless it is to be removed), the dumps are read from the
  snapshots, which are removed at the end whatever happens.  It creates
  ``<name>.new`` in
  the target node's export directory after a free-space check, runs the
  OS ``export`` script per disk on the primary node, which streams the
  dump to the target node itself (the master only watches the size grow
  for the progress lines), then writes ``config.ini`` and renames the
  directory into place.  Any failure removes ``<name>.new`` and says so;
  an older export of the instance is replaced only at that last rename.
- :class:`LUBackupQuery`: the exports on each node.
- :class:`LUBackupRemove`: removes an instance's exports on all nodes.
- :class:`LUBackupPrepare`: nothing to prepare for local exports;
  remote (inter-cluster) exports are not supported (doc/design/backup.rst).

The import side is ``gnt-instance add --mode import`` in
:mod:`ganeti.cmdlib.instance_create`, using :func:`parse_export_config`.
"""

from __future__ import annotations

import concurrent.futures
import configparser
import time
from collections.abc import Callable
from typing import Any, Final, NoReturn

from ganeti import constants, errors, objects, opcodes
from ganeti.cmdlib import disk_copy
from ganeti.cmdlib import instance_common as common
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, NoHooksLU
from ganeti.cmdlib.instance_ops import InstanceLU, start_or_clean
from ganeti.rpc.client import RpcClient
from ganeti.rpc.result import RpcResult

EC = errors.ErrorCode
MIB = disk_copy.MIB
#: Version of the export format written in ``[export] version``.
EXPORT_VERSION: Final = 0


def dump_name(index: int) -> str:
    return f"disk{index}.dump"


# --- config.ini ------------------------------------------------------------------

def build_export_config(inst: Any, filled: common.FilledParams, source: str,
                        dumps: dict[int, str], when: float) -> str:
    """``config.ini`` in Ganeti's layout: ``[export]`` (version,
    timestamp, source, os, compression), ``[instance]`` (name, memory
    (the maxmem, for readers of 2.1 exports), maxmem, minmem,
    vcpus, disk_template, hypervisor, tags, nicN_*, diskN_*), then the
    instance's own ``[hypervisor]``, ``[backend]`` and ``[os]`` values."""
    parser = configparser.ConfigParser(interpolation=None)
    parser["export"] = {"version": str(EXPORT_VERSION),
                        "timestamp": str(int(when)), "source": source,
                        "os": inst.os, "compression": "none"}
    section: dict[str, str] = {
        "name": inst.name, "memory": str(filled.be.get("maxmem", "")),
        "maxmem": str(filled.be.get("maxmem", "")),
        "minmem": str(filled.be.get("minmem", "")),
        "vcpus": str(filled.be.get("vcpus", "")),
        "disk_template": inst.disk_template, "hypervisor": inst.hypervisor,
        "tags": " ".join(sorted(getattr(inst, "tags", []) or [])),
        "nic_count": str(len(inst.nics)), "disk_count": str(len(inst.disks))}
    for idx, (nic, params) in enumerate(zip(inst.nics, filled.nics,
                                            strict=True)):
        section[f"nic{idx}_mac"] = nic.mac
        section[f"nic{idx}_ip"] = str(nic.ip)
        for key in ("mode", "link"):
            section[f"nic{idx}_{key}"] = str(params.get(key, ""))
    for idx, disk in enumerate(inst.disks):
        section[f"disk{idx}_ivname"] = disk.iv_name
        section[f"disk{idx}_dump"] = dumps[idx]
        section[f"disk{idx}_size"] = str(disk.size)
    parser["instance"] = section
    parser["hypervisor"] = {k: str(v) for k, v in inst.hvparams.items()}
    parser["backend"] = {k: str(v) for k, v in inst.beparams.items()}
    parser["os"] = {k: str(v) for k, v in inst.osparams.items()}
    lines: list[str] = []

    class _Sink:
        def write(self, text: str) -> None:
            lines.append(text)

    parser.write(_Sink())
    return "".join(lines)


def parse_export_config(text: str, where: str) -> dict[str, Any]:
    """The facts an import needs from ``config.ini``: os, disks (size in
    MiB and dump file per disk), nics (mac, ip, mode, link), hypervisor,
    beparams/hvparams/osparams; OpPrereqError naming ``where`` when the
    file is not a valid export config."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        exp, inst = parser["export"], parser["instance"]
        if int(exp.get("version", "0")) != EXPORT_VERSION:
            raise ValueError(f"unsupported export version {exp['version']}")
        disks = []
        for idx in range(int(inst["disk_count"])):
            size = int(inst[f"disk{idx}_size"])
            dump = inst[f"disk{idx}_dump"]
            if size < 0 or "/" in dump or not dump:
                raise ValueError(f"invalid disk{idx} entries")
            disks.append({"size": size, "dump": dump})
        nics = []
        for idx in range(int(inst["nic_count"])):
            ip = inst.get(f"nic{idx}_ip", "None")
            nics.append({"mac": inst[f"nic{idx}_mac"],
                         "ip": None if ip in ("", "None") else ip,
                         "mode": inst.get(f"nic{idx}_mode", ""),
                         "link": inst.get(f"nic{idx}_link", "")})
        return {
            "name": inst["name"], "os": exp["os"], "source": exp["source"],
            "disk_template": inst.get("disk_template", ""),
            "hypervisor": inst.get("hypervisor", ""), "disks": disks,
            "nics": nics,
            "hvparams": dict(parser["hypervisor"])
            if parser.has_section("hypervisor") else {},
            "beparams": dict(parser["backend"])
            if parser.has_section("backend") else {},
            "osparams": dict(parser["os"]) if parser.has_section("os") else {},
        }
    except (configparser.Error, KeyError, ValueError) as err:
        detail = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise errors.OpPrereqError(
            f"Invalid export config {where}: {' '.join(detail.split())}",
            EC.INVAL) from None


# --- Export ----------------------------------------------------------------------

def watch_transfer(rpc: RpcClient, progress: disk_copy.CopyProgress,
                   node: str, export: str, dump: str,
                   call: Callable[[], RpcResult]) -> int:
    """Run one disk's ``export_disk``/``import_disk`` ``call`` (to
    ``node``) in a thread and write progress lines meanwhile from the
    bytes ``node`` reports moved (``transfer_progress``); the final line
    has the whole dump's size.  Returns the bytes moved; raises the
    call's error."""
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="backup-transfer") as pool:
        future = pool.submit(call)
        while True:
            try:
                res = future.result(timeout=progress.interval)
                break
            except concurrent.futures.TimeoutError:
                moved = rpc.call_transfer_progress([node], export,
                                                   dump)[node]
                if not moved.failed:
                    done = int(moved.payload)
                    progress.update(done, done - progress.sent)
    result = res.raise_on_fail(f"Transferring {progress.name}")
    progress.sent = int(result["bytes"])
    progress.finish()
    return progress.sent


class LUBackupExport(InstanceLU):
    """Export an instance to a node (``gnt-backup export``)."""

    OP = opcodes.OpBackupExport
    op: opcodes.OpBackupExport
    HPATH = "instance-export"

    def expand_names(self) -> LockRequest:
        return self.expand_with_target()

    def hooks_extra(self) -> dict[str, object]:
        return {"EXPORT_MODE": self.op.mode,
                "EXPORT_NODE": self.op.target_node,
                "EXPORT_DO_SHUTDOWN": self.op.shutdown,
                "REMOVE_INSTANCE": self.op.remove_instance}

    def check_prereq(self) -> None:
        self.inst = inst = self.read_instance()
        if self.op.mode != constants.EXPORT_MODE_LOCAL:
            raise errors.OpPrereqError(
                "Remote (inter-cluster) exports are not supported by this"
                " version; export to a node of this cluster", EC.INVAL)
        if not inst.os:
            raise errors.OpPrereqError(
                f"Instance {inst.name} has no OS to export it with", EC.STATE)
        common.check_node_online(self, inst.primary_node,
                                 f"export instance {inst.name}")
        self.target_ip = common.check_node_online(
            self, self.op.target_node,
            f"export instance {inst.name}").primary_ip
        self.snapshots = bool(inst.disks) and all(
            disk.dev_type == constants.LD_LV for disk in inst.disks)
        if not self.op.shutdown and inst.admin_up and inst.disks \
                and not self.snapshots:
            # A running disk without a snapshot would be dumped while it
            # changes.
            raise errors.OpPrereqError(
                f"Cannot export instance {inst.name} without shutting it"
                f" down: its {inst.disk_template} disks have no snapshots in"
                " this version (drop --noshutdown)", EC.STATE)

    def execute(self, feedback: Feedback) -> list[bool]:
        inst, target = self.inst, self.op.target_node
        source = inst.primary_node
        stopped = False
        if self.op.shutdown and inst.admin_up:
            feedback(f"* shutting down instance {inst.name}")
            common.shutdown_instance(self, inst, self.op.shutdown_timeout)
            stopped = True
        exported = False
        snaps: list[objects.Disk] = []
        try:
            source_inst = inst
            if self.snapshots:
                snaps = self._snapshot(feedback, source)
                source_inst = inst.copy()
                source_inst.disks = snaps
                if stopped and not self.op.remove_instance:
                    feedback(f"* starting instance {inst.name} again (the"
                             " export reads the snapshots)")
                    stopped = False
                    start_or_clean(self, inst, feedback)
            dumps = self._export_disks(feedback, source, target, source_inst)
            filled = common.filled_params(self.cfg, inst)
            text = build_export_config(inst, filled, source, dumps,
                                       time.time())
            res = common.single(self.rpc.call_export_finalize(
                [target], inst.name, text), target)
            if res.failed:
                self._abort(target, f"Finishing the export of {inst.name}"
                            f" failed: {res.fail_msg}")
            exported = True
        finally:
            self._remove_snapshots(feedback, source, snaps)
            if not inst.admin_up or stopped:
                common.shutdown_disks(self, inst, feedback,
                                      ignore_failures=True)
            # A failed export restarts the instance even when it was to be
            # removed: it stays as it was.
            if stopped and not (exported and self.op.remove_instance):
                feedback(f"* starting instance {inst.name} again")
                try:
                    start_or_clean(self, inst, feedback)
                except errors.OpExecError as err:
                    feedback(f"Warning: could not restart {inst.name}: {err}")
        feedback(f"* export of {inst.name} complete on node {target}")
        if self.op.remove_instance:
            from ganeti.cmdlib.instance_create import remove_instance
            feedback(f"* removing instance {inst.name}")
            remove_instance(self, inst, feedback,
                            self.op.ignore_remove_failures)
        return [True] * len(inst.disks)

    def _snapshot(self, feedback: Feedback, source: str) -> list[objects.Disk]:
        """A snapshot of every disk on ``source``, as disks; a failure
        removes those made and raises."""
        snaps: list[objects.Disk] = []
        for disk in self.inst.disks:
            feedback(f"* snapshotting {disk.iv_name} on node {source}")
            res = common.single(self.rpc.call_blockdev_snapshot(
                [source], disk.to_dict()), source)
            if res.failed:
                self._remove_snapshots(feedback, source, snaps)
                raise errors.OpExecError(
                    f"Cannot snapshot {disk.iv_name} of instance"
                    f" {self.inst.name} on node {source}: {res.fail_msg}")
            snap = disk.copy()
            snap.logical_id = list(res.payload)
            snaps.append(snap)
        return snaps

    def _remove_snapshots(self, feedback: Feedback, source: str,
                          snaps: list[objects.Disk]) -> None:
        for snap in snaps:
            for call in (self.rpc.call_blockdev_shutdown,
                         self.rpc.call_blockdev_remove):
                res = common.single(call([source], snap.to_dict()), source)
                if res.failed:
                    feedback(f"Warning: cannot remove the snapshot"
                             f" {'/'.join(map(str, snap.logical_id))} on node"
                             f" {source}: {res.fail_msg}")
                    break

    def _export_disks(self, feedback: Feedback, source: str, target: str,
                      source_inst: objects.Instance) -> dict[int, str]:
        """Dump each disk of ``source_inst`` (the instance, or a copy
        whose disks are the snapshots) to the export on ``target``."""
        inst = self.inst
        needed = sum(disk.size for disk in inst.disks) * MIB
        common.single(self.rpc.call_export_prepare([target], inst.name,
                                                   needed),
                      target).raise_on_fail(f"Preparing the export on {target}")
        peer = "" if target == source else self.target_ip
        filled = common.filled_params(self.cfg, inst)
        dumps: dict[int, str] = {}
        try:
            for idx, disk in enumerate(inst.disks):
                dumps[idx] = name = dump_name(idx)
                feedback(f"* exporting {disk.iv_name} ({disk.size} MiB) from"
                         f" {source} to {target}")
                progress = disk_copy.CopyProgress(disk.iv_name,
                                                  disk.size * MIB, feedback)
                def run(idx: int = idx, name: str = name) -> RpcResult:
                    return self.rpc.call_export_disk(
                        [source], source_inst.to_dict(), idx, peer,
                        inst.name, name,
                        filled.hv, filled.be, filled.nics, filled.os)[source]
                watch_transfer(self.rpc, progress, source, inst.name, name,
                               run)
        except errors.GenericError as err:
            self._abort(target, f"Export of instance {inst.name} failed:"
                        f" {err}")
        return dumps

    def _abort(self, target: str, message: str) -> NoReturn:
        """Remove the partial export on ``target`` and raise ``message``,
        saying whether the removal worked."""
        name = self.inst.name
        res = common.single(self.rpc.call_export_abort([target], name),
                            target)
        note = ("the partial export was removed" if not res.failed else
                f"the partial export {name}.new on {target} could not be"
                f" removed: {res.fail_msg}")
        raise errors.OpExecError(f"{message}; {note}")

# --- List / remove / prepare -------------------------------------------------------

class LUBackupQuery(NoHooksLU):
    """The exports on each node: ``{node: [names]}``, ``False`` for a node
    that did not answer (``gnt-backup list``)."""

    OP = opcodes.OpBackupQuery
    op: opcodes.OpBackupQuery

    def expand_names(self) -> LockRequest:
        self.nodes = ([self.expand_node_name(n) for n in self.op.nodes]
                      if self.op.nodes else self.cfg.node_names())
        if self.op.use_locking:
            return LockRequest(node=self.nodes if self.op.nodes else ALL,
                               node_shared=True)
        return LockRequest()

    def execute(self, feedback: Feedback) -> dict[str, list[str] | bool]:
        answers = self.rpc.call_export_list(self.nodes)
        return {node: (False if res.failed else list(res.payload))
                for node, res in answers.items()}


class LUBackupRemove(NoHooksLU):
    """Remove an instance's exports from every node (the instance may be
    gone already: the name is taken as given then)."""

    OP = opcodes.OpBackupRemove
    op: opcodes.OpBackupRemove

    def expand_names(self) -> LockRequest:
        full = self.cfg.expand_instance_name(self.op.instance_name)
        self.name = str(full) if full else self.op.instance_name
        return LockRequest(node=ALL, node_shared=True)

    def execute(self, feedback: Feedback) -> None:
        nodes = [n for n in self.cfg.node_names()
                 if (info := self.cfg.get_node(n)) is not None
                 and not info.offline]
        found = False
        for node, res in self.rpc.call_export_remove(nodes,
                                                     self.name).items():
            if res.failed:
                feedback(f"Warning: could not remove the export of"
                         f" {self.name} on node {node}: {res.fail_msg}")
            elif res.payload:
                found = True
                feedback(f"Removed the export of {self.name} on node {node}")
        if not found:
            raise errors.OpExecError(
                f"No export of {self.name} found on any online node")


class LUBackupPrepare(NoHooksLU):
    """Local exports need no preparation; remote ones are not supported."""

    OP = opcodes.OpBackupPrepare
    op: opcodes.OpBackupPrepare

    def expand_names(self) -> LockRequest:
        self.name = self.expand_instance_name(self.op.instance_name)
        return LockRequest(instance=[self.name], instance_shared=True)

    def execute(self, feedback: Feedback) -> None:
        if self.op.mode != constants.EXPORT_MODE_LOCAL:
            raise errors.OpPrereqError(
                "Remote (inter-cluster) exports are not supported by this"
                " version (see doc/design/backup.rst)", EC.INVAL)
        return None
