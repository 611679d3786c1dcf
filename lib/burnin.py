"""burnin: run instances through every operation the cluster supports.

The ``tools/burnin`` command (see doc/man/burnin.rst).  It creates the
instances named on the command line with one disk template and
hypervisor, then takes them through each step in turn over LUXI jobs
(one job per instance and step; with ``-p`` the jobs of a step are
submitted together and run in parallel).  A step the template or
hypervisor cannot do is skipped with the reason logged.  An instance
whose job fails drops out of the later steps (it is still removed at the
end unless ``-K``); every failure is listed in the summary and makes the
exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganeti import cli, constants, errors, luxi, opcodes
from ganeti.hypervisor import get_hypervisor_class

#: The templates burnin knows how to take through the steps.
TEMPLATES = (constants.DT_DISKLESS, constants.DT_FILE, constants.DT_PLAIN,
             constants.DT_DRBD8)

#: Opcodes of one job (one instance, one step).
Ops = list[opcodes.OpCode]
#: What a step builds for one instance: its jobs, run one after another.
JobsFn = Callable[[str], list[Ops]]


@dataclass
class StepResult:
    """The outcome of one step."""

    name: str
    skipped: str = ""
    ok: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class Burnin:
    """One burnin run over a LUXI client."""

    def __init__(self, opts: argparse.Namespace, client: luxi.Client,
                 out: Callable[[str], None]) -> None:
        self.opts = opts
        self.cl = client
        self.out = out
        self.nodes: list[str] = []
        self.hypervisor = ""
        #: Instances still in the run (a failure removes one).
        self.alive: list[str] = list(opts.instances)
        #: Instances created (removed at the end unless -K).
        self.created: list[str] = []
        #: instance -> (primary, secondary) chosen at creation.
        self.placement: dict[str, tuple[str, str | None]] = {}
        self.results: list[StepResult] = []
        #: instance -> disk sizes to import with (the grown ones).
        self.disk_sizes: dict[str, list[int]] = {}

    # --- jobs -------------------------------------------------------------

    def _run_jobs(self, result: StepResult, jobs: dict[str, list[Ops]]) -> None:
        """Run each instance's jobs; with -p the instances in parallel."""
        pending = {name: list(seq) for name, seq in jobs.items() if seq}
        while pending:
            batch = {name: seq.pop(0) for name, seq in pending.items()}
            ids: dict[str, int] = {}
            if self.opts.parallel:
                answer = self.cl.submit_many_jobs(
                    [[op.to_dict() for op in ops] for ops in batch.values()])
                for name, (ok, value) in zip(batch, answer, strict=True):
                    if ok:
                        ids[name] = int(value)
                    else:
                        self._fail(result, name, f"submission refused: {value}")
                waits = list(ids.items())
            else:
                waits = [(name, -1) for name in batch]
            for name, job_id in waits:
                if job_id < 0:
                    job_id = self.cl.submit_job(
                        [op.to_dict() for op in batch[name]])
                try:
                    cli.poll_job(job_id, self.cl, self._feedback,
                                 lambda _msg: None)
                except errors.GenericError as err:
                    self._fail(result, name, f"job {job_id}: {err}")
            failed = {name for name, _why in result.failed}
            pending = {name: seq for name, seq in pending.items()
                       if seq and name not in failed}
        failed = {name for name, _why in result.failed}
        result.ok.extend(n for n in jobs if n not in failed)

    def _feedback(self, entry: Sequence[Any]) -> None:
        if self.opts.verbose:
            _serial, _ts, kind, message = entry
            self.out("      " + cli.format_log_message(kind, message))

    def _fail(self, result: StepResult, name: str, why: str) -> None:
        self.out(f"    FAILED {name}: {why}")
        result.failed.append((name, why))
        if name in self.alive:
            self.alive.remove(name)

    def step(self, name: str, skip: str, jobs: JobsFn,
             names: Sequence[str] | None = None) -> None:
        """Run ``jobs`` for every instance still alive, or log why not."""
        result = StepResult(name)
        self.results.append(result)
        if skip:
            result.skipped = skip
            self.out(f"- {name}: skipped ({skip})")
            return
        targets = list(self.alive if names is None else names)
        if not targets:
            result.skipped = "no instance left"
            self.out(f"- {name}: skipped (no instance left)")
            return
        self.out(f"- {name}")
        start = time.monotonic()
        self._run_jobs(result, {inst: jobs(inst) for inst in targets})
        self.out(f"  {name}: {len(result.ok)} ok, {len(result.failed)} "
                 f"failed ({time.monotonic() - start:.1f}s)")

    # --- setup ------------------------------------------------------------

    def query(self, op: opcodes.OpCode) -> Any:
        return cli.submit_opcode(op, self.cl, feedback_fn=lambda _e: None)

    def setup(self) -> None:
        rows = self.query(opcodes.OpNodeQuery(output_fields=["name", "offline"]))
        known = [str(name) for name, offline in rows if not offline]
        if self.opts.nodes:
            unknown = [n for n in self.opts.nodes if n not in known]
            if unknown:
                raise errors.OpPrereqError(
                    f"Unknown or offline node(s): {', '.join(unknown)}",
                    errors.ErrorCode.NOENT)
            self.nodes = list(self.opts.nodes)
        else:
            self.nodes = known
        if self.mirrored and len(self.nodes) < 2:
            raise errors.OpPrereqError(
                f"The {self.opts.disk_template} template needs at least two"
                " nodes", errors.ErrorCode.INVAL)
        info = self.cl.query_cluster_info()
        self.hypervisor = self.opts.hypervisor or str(
            info.get("default_hypervisor", ""))
        for index, inst in enumerate(self.alive):
            pnode = self.nodes[index % len(self.nodes)]
            snode = (self.nodes[(index + 1) % len(self.nodes)]
                     if self.mirrored else None)
            self.placement[inst] = (pnode, snode)

    @property
    def mirrored(self) -> bool:
        return str(self.opts.disk_template) in constants.DTS_NET_MIRROR

    @property
    def has_disks(self) -> bool:
        return str(self.opts.disk_template) != constants.DT_DISKLESS

    def can_migrate(self) -> bool:
        try:
            return bool(get_hypervisor_class(self.hypervisor).CAN_MIGRATE)
        except errors.GenericError:
            return False

    # --- the steps ----------------------------------------------------------

    def create_op(self, inst: str, mode: str = constants.INSTANCE_CREATE,
                  src_node: str | None = None) -> opcodes.OpInstanceCreate:
        opts = self.opts
        pnode, snode = self.placement[inst]
        sizes = self.disk_sizes.get(inst, opts.disk_size)
        disks = [{"size": size} for size in sizes] if self.has_disks else []
        place: dict[str, Any] = ({"iallocator": opts.iallocator}
                                 if opts.iallocator else
                                 {"pnode": pnode, "snode": snode})
        return opcodes.OpInstanceCreate(
            instance_name=inst, mode=mode, disk_template=opts.disk_template,
            disks=disks,
            nics=[] if opts.no_nics else [{}],
            os_type=opts.os, hypervisor=opts.hypervisor or None,
            beparams={"memory": opts.mem_size}, start=True,
            name_check=opts.name_check, ip_check=opts.ip_check,
            src_node=src_node,
            src_path=inst if mode == constants.INSTANCE_IMPORT else None,
            **place)

    def _secondary(self, inst: str) -> str:
        """A node other than the instance's two (for replace-disks -n)."""
        rows = self.query(opcodes.OpInstanceQuery(
            output_fields=["pnode", "snodes"], names=[inst]))
        used = {rows[0][0], *rows[0][1]}
        spare = [n for n in self.nodes if n not in used]
        return spare[0] if spare else ""

    def run(self) -> None:
        o = self.opts
        tmpl = o.disk_template
        nodisk = "" if self.has_disks else "the diskless template has no disks"
        notmirror = ("" if self.mirrored else
                     f"the {tmpl} template is not mirrored")
        O = opcodes  # noqa: E741  (short name for the table below)

        self.step("create", "", lambda i: [[self.create_op(i)]])
        # A failed creation cleans up after itself: remove only these.
        self.created = list(self.alive)
        self.step("grow-disk", _no(o.no_grow) or nodisk, lambda i: [[
            O.OpInstanceGrowDisk(instance_name=i, disk=d, amount=o.disk_growth)
            for d in range(len(o.disk_size))]])
        # The secondary while the instance runs; the primary stopped (this
        # build refuses to take the local disk from a DRBD device in use).
        self.step("replace-disks (secondary, primary)",
                  _no(o.no_replace1) or notmirror, lambda i: [
                      [O.OpInstanceReplaceDisks(
                          instance_name=i, mode=constants.REPLACE_DISK_SEC,
                          early_release=o.early_release)],
                      [O.OpInstanceShutdown(instance_name=i)],
                      [O.OpInstanceReplaceDisks(
                          instance_name=i, mode=constants.REPLACE_DISK_PRI,
                          early_release=o.early_release)],
                      [O.OpInstanceStartup(instance_name=i)]])
        three = ("" if len(self.nodes) >= 3 else
                 "a new secondary needs a third node")
        self.step("replace-disks (new secondary)",
                  _no(o.no_replace2) or notmirror or three,
                  lambda i: [[O.OpInstanceReplaceDisks(
                      instance_name=i, mode=constants.REPLACE_DISK_CHG,
                      remote_node=self._secondary(i),
                      early_release=o.early_release)]])
        self.step("failover", _no(o.no_failover) or notmirror,
                  lambda i: [[O.OpInstanceFailover(instance_name=i)]])
        nomig = ("" if self.can_migrate() else
                 f"the {self.hypervisor} hypervisor cannot migrate")
        self.step("migrate", _no(o.no_migrate) or notmirror or nomig,
                  lambda i: [[O.OpInstanceMigrate(instance_name=i, live=True)],
                             [O.OpInstanceMigrate(instance_name=i,
                                                  live=False)]])
        self.step("move", _no(o.no_move) or (
            "a mirrored instance moves by failover" if self.mirrored else
            "" if len(self.nodes) >= 2 else "moving needs a second node"),
            self._move_jobs)
        self.step("export/import", _no(o.no_importexport) or nodisk or (
            "an iallocator run cannot import to a chosen node"
            if o.iallocator else ""), self._export_jobs)
        self.step("reinstall", _no(o.no_reinstall) or nodisk, lambda i: [
            [O.OpInstanceShutdown(instance_name=i)],
            [O.OpInstanceReinstall(instance_name=i)],
            [O.OpInstanceReinstall(instance_name=i, os_type=o.os)],
            [O.OpInstanceStartup(instance_name=i)]])
        self.step("reboot", _no(o.no_reboot), lambda i: [
            [O.OpInstanceReboot(instance_name=i, reboot_type=kind)]
            for kind in o.reboot_types])
        self.step("activate/deactivate disks",
                  _no(o.no_activate_disks) or nodisk, lambda i: [
                      [O.OpInstanceActivateDisks(instance_name=i)],
                      [O.OpInstanceShutdown(instance_name=i)],
                      [O.OpInstanceActivateDisks(instance_name=i)],
                      [O.OpInstanceDeactivateDisks(instance_name=i)],
                      [O.OpInstanceStartup(instance_name=i)]])
        self.step("add/remove disk", _no(o.no_add_disks) or nodisk,
                  lambda i: [[O.OpInstanceSetParams(
                instance_name=i, disks=[["add", {"size": o.disk_growth}]])],
                [O.OpInstanceShutdown(instance_name=i)],
                [O.OpInstanceSetParams(instance_name=i,
                                       disks=[["remove", {}]])],
                [O.OpInstanceStartup(instance_name=i)]])
        self.step("add/remove NIC", _no(o.no_add_nics), lambda i: [
            [O.OpInstanceSetParams(instance_name=i, nics=[["add", {}]])],
            [O.OpInstanceSetParams(instance_name=i, nics=[["remove", {}]])]])
        self.step("modify", _no(o.no_modify), lambda i: [[
            O.OpInstanceSetParams(instance_name=i,
                                  beparams={"memory": o.mem_size})]])
        self.step("rename", _no(o.no_rename) or (
            "" if o.rename else "no --rename name given"),
            self._rename_jobs, names=self.alive[:1])
        self.step("stop/start", _no(o.no_startstop), lambda i: [
            [O.OpInstanceShutdown(instance_name=i)],
            [O.OpInstanceStartup(instance_name=i)]])
        if o.keep_instances:
            self.step("remove", "kept (-K)", lambda i: [])
        else:
            # An instance a failed export/import step removed is gone.
            rows = self.query(O.OpInstanceQuery(output_fields=["name"]))
            existing = {str(row[0]) for row in rows}
            self.step("remove", "", lambda i: [[O.OpInstanceRemove(
                instance_name=i)]],
                names=[i for i in self.created if i in existing])

    def _move_jobs(self, inst: str) -> list[Ops]:
        pnode = self.placement[inst][0]
        target = next(n for n in self.nodes if n != pnode)
        return [[opcodes.OpInstanceMove(instance_name=inst, target_node=target)]]

    def _export_jobs(self, inst: str) -> list[Ops]:
        rows = self.query(opcodes.OpInstanceQuery(
            output_fields=["pnode", "disk.sizes"], names=[inst]))
        pnode = str(rows[0][0])
        self.disk_sizes[inst] = [int(size) for size in rows[0][1]]
        target = next((n for n in self.nodes if n != pnode), pnode)
        self.placement[inst] = (pnode, self.placement[inst][1])
        return [[opcodes.OpBackupExport(instance_name=inst, target_node=target)],
                [opcodes.OpInstanceRemove(instance_name=inst)],
                [self.create_op(inst, constants.INSTANCE_IMPORT, target)],
                [opcodes.OpBackupRemove(instance_name=inst)]]

    def _rename_jobs(self, inst: str) -> list[Ops]:
        new = self.opts.rename
        check = {"name_check": self.opts.name_check,
                 "ip_check": self.opts.ip_check}
        return [[opcodes.OpInstanceShutdown(instance_name=inst)],
                [opcodes.OpInstanceRename(instance_name=inst, new_name=new,
                                          **check)],
                [opcodes.OpInstanceRename(instance_name=new, new_name=inst,
                                          **check)],
                [opcodes.OpInstanceStartup(instance_name=inst)]]

    # --- summary ----------------------------------------------------------

    def summary(self) -> int:
        self.out("Summary:")
        failures = 0
        for res in self.results:
            if res.skipped:
                self.out(f"  {res.name:38} skipped: {res.skipped}")
                continue
            state = "FAILED" if res.failed else "ok"
            self.out(f"  {res.name:38} {state} ({len(res.ok)} ok, "
                     f"{len(res.failed)} failed)")
            for name, why in res.failed:
                self.out(f"    {name}: {why}")
            failures += len(res.failed)
        if failures:
            self.out(f"Burnin FAILED: {failures} failed job(s)")
            return 1
        self.out("Burnin passed")
        return 0


def _no(flag: bool) -> str:
    return "disabled on the command line" if flag else ""


def _sizes(value: str) -> list[int]:
    try:
        return [cli.unit(v) for v in value.split(",")]
    except errors.GenericError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _size(value: str) -> int:
    return _sizes(value)[0]


def _reboot_types(value: str) -> list[str]:
    kinds = [v for v in value.split(",") if v]
    bad = [k for k in kinds if k not in constants.REBOOT_TYPES]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown reboot type(s) {', '.join(bad) or '(none)'} (known: "
            f"{', '.join(sorted(constants.REBOOT_TYPES))})")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="burnin", description="Take instances through every operation"
        " the cluster supports.")
    add = p.add_argument
    add("instances", nargs="+", metavar="INSTANCE")
    add("-o", "--os", required=True, help="OS to install (name+variant)")
    add("-t", "--disk-template", default=constants.DT_DRBD8, choices=TEMPLATES)
    add("-n", "--nodes", type=lambda v: [n for n in v.split(",") if n],
        default=[], help="nodes to use, comma-separated (default: all)")
    add("-H", "--hypervisor", default="", help="hypervisor (default: the "
        "cluster's)")
    add("--disk-size", type=_sizes, default=[128],
        help="disk sizes, comma-separated (default 128M)")
    add("--disk-growth", type=_size, default=128,
        help="how much each disk grows (default 128M)")
    add("--mem-size", type=_size, default=128, help="memory (default 128M)")
    add("-p", "--parallel", action="store_true",
        help="submit the jobs of a step together")
    add("-I", "--iallocator", default=None)
    add("--rename", default="", help="a free name to rename an instance to")
    add("--reboot-types", type=_reboot_types,
        default=sorted(constants.REBOOT_TYPES))
    add("--early-release", action="store_true")
    add("-K", "--keep-instances", action="store_true")
    add("--no-name-check", dest="name_check", action="store_false")
    add("--no-ip-check", dest="ip_check", action="store_false")
    add("--no-nics", action="store_true", help="create instances without NIC")
    add("-v", "--verbose", action="store_true", help="show the job logs")
    for step in ("grow", "replace1", "replace2", "failover", "migrate", "move",
                 "importexport", "reinstall", "reboot", "activate-disks",
                 "add-disks", "add-nics", "modify", "rename", "startstop"):
        add(f"--no-{step}", action="store_true", help=f"skip the {step} step")
    return p


def main(argv: Sequence[str], client: luxi.Client | None = None) -> int:
    """The ``tools/burnin`` command line."""
    opts = build_parser().parse_args(list(argv))
    if opts.name_check is False and opts.ip_check:
        opts.ip_check = False
    if len(set(opts.instances)) != len(opts.instances):
        print("burnin: instance names must be distinct", file=sys.stderr)
        return 2
    if opts.rename and opts.rename in opts.instances:
        print("burnin: --rename must name a free instance name",
              file=sys.stderr)
        return 2

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        cl = client or cli.get_client()
        burn = Burnin(opts, cl, out)
        burn.setup()
        out(f"Burnin: {len(opts.instances)} instance(s), template "
            f"{opts.disk_template}, hypervisor {burn.hypervisor}, nodes "
            f"{','.join(burn.nodes)}{', parallel' if opts.parallel else ''}")
        burn.run()
    except errors.GenericError as err:
        print(f"burnin: {cli.format_error(err)[1]}", file=sys.stderr)
        return 1
    return burn.summary()
