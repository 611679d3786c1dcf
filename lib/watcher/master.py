"""What the watcher does on the master: through the master daemon only.

Every action is a job (``OpInstanceStartup``, ``OpInstanceActivateDisks``,
``OpClusterVerifyDisks``) submitted over LUXI, so it takes the locks any
other job would and waits behind a job that holds them.  Before it
submits anything the watcher also leaves alone every instance named by
a job that is still queued, waiting or running: that job (a shutdown, a
migration, a reinstall) is an administrator at work, and its outcome
decides what the instance should be.  What remains is the window between
that query and the watcher's own submission (milliseconds); an instance
an administrator stops inside it would be started again (see
doc/design/watcher.rst).

An instance is restarted when the configuration says it should run
(``admin_state``) and its primary node says it does not
(``oper_state``), and its primary node is neither offline nor
unreachable.  An administrator's ``gnt-instance shutdown`` clears
``admin_state``, so such an instance is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ganeti import cli, constants, errors, opcodes
from ganeti.watcher.state import MAX_RESTARTS, WatcherState

#: Job states in which a job may still change an instance.
PENDING_JOB_STATES: Final = frozenset([
    constants.JOB_STATUS_QUEUED, constants.JOB_STATUS_WAITING,
    constants.JOB_STATUS_RUNNING, constants.JOB_STATUS_CANCELING])
#: Disk templates whose disks are mirrored between two nodes.
MIRRORED_TEMPLATES: Final = frozenset(["drbd"])
_INSTANCE_FIELDS: Final = ["name", "admin_state", "oper_state", "pnode",
                           "snodes", "disk_template", "status"]
_NODE_FIELDS: Final = ["name", "bootid", "offline"]
#: Finished jobs older than this are archived (``--job-age``, Ganeti's 6h).
JOB_AGE_DEFAULT: Final = 6 * 3600


class MasterClient(Protocol):
    """The part of :class:`ganeti.luxi.Client` the watcher uses."""

    def call(self, method: str, *args: Any) -> Any: ...
    def submit_job(self, ops: list[dict[str, Any]]) -> int: ...
    def query_jobs(self, job_ids: list[int] | None,
                   fields: list[str]) -> Any: ...
    def autoarchive_jobs(self, age: float, timeout: float) -> Any: ...
    def wait_for_job_change(self, job_id: int, fields: list[str],
                            prev_job_info: list[Any] | None,
                            prev_log_serial: int | None,
                            timeout: float = ...) -> Any: ...


@dataclass(frozen=True)
class InstanceRow:
    name: str
    admin_up: bool
    running: bool
    pnode: str
    snodes: tuple[str, ...]
    disk_template: str
    status: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> InstanceRow:
        name, admin, oper, pnode, snodes, template, status = row
        return cls(str(name), bool(admin), bool(oper), str(pnode),
                   tuple(snodes or ()), str(template), str(status))


@dataclass
class Report:
    """What one run did (logged; tests and the benchmark read it)."""

    restarted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    disks_activated: list[str] = field(default_factory=list)
    archived: int = 0


def busy_instances(cl: MasterClient) -> set[str]:
    """Instances named by an opcode of a job that has not finished."""
    rows = cl.query_jobs(None, ["status", "ops"]) or []
    names: set[str] = set()
    for row in rows:
        if not row or row[0] not in PENDING_JOB_STATES:
            continue
        for op in row[1] or []:
            if isinstance(op, dict) and isinstance(op.get("instance_name"), str):
                names.add(op["instance_name"])
    return names


def run_job(cl: MasterClient, ops: list[opcodes.OpCode], what: str
            ) -> list[Any] | None:
    """Submit one job and follow it; its opcode results on success, None
    on failure (logged)."""
    try:
        job_id = cl.submit_job([op.to_dict() for op in ops])
        logging.info("Submitted job %s: %s", job_id, what)
        return cli.poll_job(job_id, cl,  # type: ignore[arg-type]
                            feedback_fn=lambda entry: logging.info(
                                "job %s: %s", job_id, entry[-1]),
                            notice_fn=logging.info)
    except errors.GenericError as err:
        logging.error("%s failed: %s", what.capitalize(), err)
        return None


class MasterWatcher:
    """One run of the master's duties."""

    def __init__(self, cl: MasterClient, state: WatcherState, *,
                 job_age: float = JOB_AGE_DEFAULT,
                 max_restarts: int = MAX_RESTARTS,
                 runner: Callable[[MasterClient, list[opcodes.OpCode], str],
                                  list[Any] | None] = run_job) -> None:
        self.cl = cl
        self.state = state
        self.job_age = job_age
        self.max_restarts = max_restarts
        self.run = runner
        self.report = Report()

    def instances(self) -> list[InstanceRow]:
        rows = self.cl.call("QueryInstances", [], _INSTANCE_FIELDS, False)
        return [InstanceRow.from_row(r) for r in rows]

    def nodes(self) -> list[tuple[str, str | None, bool]]:
        rows = self.cl.call("QueryNodes", [], _NODE_FIELDS, False)
        return [(str(n), str(b) if b else None, bool(off))
                for n, b, off in rows]

    def execute(self) -> Report:
        instances = self.instances()
        nodes = self.nodes()
        busy = busy_instances(self.cl)
        self.state.prune_instances({i.name for i in instances})
        self.state.prune_nodes({n for n, _, _ in nodes})
        rebooted = self.rebooted_nodes(nodes)
        self.restart_instances(instances, busy)
        self.activate_disks(instances, rebooted, busy)
        self.verify_disks(instances, busy)
        self.archive_jobs()
        return self.report

    # --- duties ---------------------------------------------------------

    def rebooted_nodes(self, nodes: Iterable[tuple[str, str | None, bool]]
                       ) -> set[str]:
        """Nodes whose boot id changed since the last run (recorded)."""
        rebooted = set()
        for name, boot_id, offline in nodes:
            if offline or not boot_id:
                continue
            old = self.state.node_boot_id(name)
            if old is not None and old != boot_id:
                logging.info("Node %s rebooted (boot id %s, was %s)", name,
                             boot_id, old)
                rebooted.add(name)
            self.state.set_node_boot_id(name, boot_id)
        return rebooted

    def restart_instances(self, instances: Iterable[InstanceRow],
                          busy: set[str]) -> None:
        for inst in instances:
            if inst.running:
                if self.state.forget_instance(inst.name):
                    logging.info("Instance %s runs again; restart count"
                                 " reset", inst.name)
                continue
            if not inst.admin_up:
                continue  # stopped by an administrator: leave it alone
            if inst.status in ("ERROR_nodedown", "ERROR_nodeoffline"):
                logging.info("Instance %s is down but its node %s is not"
                             " reachable (%s); not restarting", inst.name,
                             inst.pnode, inst.status)
                continue
            if inst.name in busy:
                logging.info("Instance %s is down but a job in progress"
                             " names it; not restarting", inst.name)
                self.report.busy.append(inst.name)
                continue
            tries = self.state.restart_count(inst.name)
            if tries >= self.max_restarts:
                if tries == self.max_restarts:
                    logging.error("Could not restart instance %s after %d"
                                  " attempts, giving up", inst.name, tries)
                    self.state.record_restart(inst.name)  # say it only once
                self.report.given_up.append(inst.name)
                continue
            attempt = self.state.record_restart(inst.name)
            logging.info("Restarting instance %s (should run, found %s;"
                         " attempt %d/%d)", inst.name, inst.status, attempt,
                         self.max_restarts)
            if self.run(self.cl,
                        [opcodes.OpInstanceStartup(instance_name=inst.name)],
                        f"restart of instance {inst.name}") is not None:
                logging.info("Instance %s restarted", inst.name)
                self.state.forget_instance(inst.name)
                self.report.restarted.append(inst.name)
            else:
                self.report.failed.append(inst.name)

    def activate_disks(self, instances: Iterable[InstanceRow],
                       rebooted: set[str], busy: set[str]) -> None:
        """Re-activate the disks of running instances with a node that
        rebooted under them (their secondary: a rebooted primary took the
        instance down, and its restart activates the disks)."""
        if not rebooted:
            return
        for inst in instances:
            if (not inst.running or inst.name in busy
                    or not rebooted.intersection(inst.snodes)):
                continue
            self._activate(inst.name)

    def _activate(self, name: str) -> None:
        if self.run(self.cl,
                    [opcodes.OpInstanceActivateDisks(instance_name=name)],
                    f"activation of the disks of {name}") is not None:
            logging.info("Activated the disks of instance %s", name)
            self.report.disks_activated.append(name)

    def verify_disks(self, instances: Iterable[InstanceRow],
                     busy: set[str]) -> None:
        """``gnt-cluster verify-disks`` when any disk is mirrored, then
        the disks of each instance it lists as needing activation are
        activated (as Ganeti 2.1's watcher): only for instances that
        should run, that this run neither restarted (their start
        activated the disks) nor already re-activated, and that no
        pending job names."""
        rows = {i.name: i for i in instances}
        if not any(i.disk_template in MIRRORED_TEMPLATES
                   for i in rows.values()):
            logging.debug("No instance has mirrored disks; verify-disks"
                          " skipped")
            return
        result = self.run(self.cl, [opcodes.OpClusterVerifyDisks()],
                          "verify-disks")
        if not result or not isinstance(result[0], (list, tuple)) \
                or len(result[0]) < 2:
            return
        for name in result[0][1] or []:
            inst = rows.get(str(name))
            if inst is None:
                continue
            if not inst.admin_up:
                logging.info("Not activating the disks of instance %s:"
                             " it is not marked to run", inst.name)
            elif inst.name in busy:
                logging.info("Not activating the disks of instance %s:"
                             " a job in progress names it", inst.name)
            elif inst.name not in (*self.report.restarted,
                                   *self.report.disks_activated):
                logging.info("verify-disks: instance %s needs its disks"
                             " activated", inst.name)
                self._activate(inst.name)

    def archive_jobs(self) -> None:
        try:
            result = self.cl.autoarchive_jobs(self.job_age, 20.0)
        except errors.GenericError as err:
            logging.error("Archiving old jobs failed: %s", err)
            return
        archived, left = (result if isinstance(result, (list, tuple))
                          else (result, 0))
        self.report.archived = int(archived or 0)
        if archived:
            logging.info("Archived %s jobs, %s left", archived, left)
