"""chaos: kill daemons under a stream of jobs and check what survives.

The ``tools/chaos`` fault harness (see doc/design/chaos.rst).  On a local
cluster (lib/localcluster.py) a submitter thread sends a stream of mixed
jobs over LUXI (test delays, cluster tags, diskless instances added and
removed) while the harness, at random points, kills the master daemon
with SIGKILL and restarts it, stops a node daemon with SIGSTOP for a
while, and kills and restarts a node daemon; then it aims node faults at
migrate, failover, redist-conf and node add while they run, a network
partition among them (a node in a namespace, lib/chaos_net.py).  After
each round it checks:

* no acknowledged job is lost (every id ``SubmitJob`` returned is still
  known to the queue) and every one ends;
* no job id is handed out twice;
* ``gnt-cluster verify`` finds no error in the configuration;
* every master candidate catches up: its ``config.data`` serial and its
  job files (names and contents) equal the master's, within
  ``--catchup-timeout`` seconds; how far behind each one stays is
  reported.

The last line printed is one JSON object with the findings; the exit
code is 0 when there is none, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ganeti import (
    bootstrap,
    chaos_net,
    constants,
    daemonutil,
    errors,
    luxi,
    opcodes,
)
from ganeti.config import journal
from ganeti.localcluster import LocalCluster, LocalNode, choose_prefix

#: Job states after which a job changes no more.
FINAL = frozenset([constants.JOB_STATUS_SUCCESS, constants.JOB_STATUS_ERROR,
                   constants.JOB_STATUS_CANCELED])
OS_NAME = "chaos-os"
#: The drbd instance the stream migrates and fails over.
MIRRORED = "chaos-mirror.example.com"
#: The operations the targeted faults hit while they run, in this order
#: (node add first: redist-conf can then hit the node just added), and
#: where each one's turn through the faults starts (round 0: migrate a
#: kill, failover a stop, node add a partition).
TARGETED = {"migrate": 0, "failover": 1, "node-add": 2, "redist-conf": 1}


class Submitter(threading.Thread):
    """Submits mixed jobs until stopped (test delays, tags, redist-conf,
    migrate and failover of the drbd instance, diskless instances added
    and removed); records every acknowledged id."""

    def __init__(self, lc: LocalCluster, rng: random.Random, tag: str) -> None:
        super().__init__(daemon=True)
        self.lc = lc
        self.rng = rng
        self.tag = tag
        self.acked: list[int] = []
        self.refused = 0
        self.stopping = threading.Event()
        self.count = 0

    def _job(self) -> list[dict[str, Any]]:
        self.count += 1
        kind = self.rng.randrange(8)
        name = f"chaos-{self.tag}-{self.count}.example.com"
        if kind == 0:
            op: opcodes.OpCode = opcodes.OpTestDelay(duration=0.05)
        elif kind == 1:
            op = opcodes.OpTagsSet(kind=constants.TAG_CLUSTER,
                                   tags=[f"chaos-{self.tag}-{self.count}"])
        elif kind == 2:
            op = opcodes.OpClusterRedistConf()
        elif kind == 3:
            op = opcodes.OpInstanceMigrate(instance_name=MIRRORED, live=True)
        elif kind == 4:
            op = opcodes.OpInstanceFailover(instance_name=MIRRORED)
        else:
            node = self.lc.nodes[self.count % len(self.lc.nodes)].name
            return [opcodes.OpInstanceCreate(
                instance_name=name, mode=constants.INSTANCE_CREATE,
                disk_template=constants.DT_DISKLESS, disks=[], os_type=OS_NAME,
                pnode=node, name_check=False, ip_check=False, start=False,
                beparams={"memory": 32}).to_dict(),
                opcodes.OpInstanceRemove(instance_name=name).to_dict()]
        return [op.to_dict()]

    def run(self) -> None:
        address = self.lc.master().paths.master_socket
        while not self.stopping.is_set():
            try:
                with luxi.Client(address) as client:
                    while not self.stopping.is_set():
                        self.acked.append(client.submit_job(self._job()))
            except (errors.GenericError, OSError):
                # The master is down (or died mid-call: not acknowledged).
                self.refused += 1
                self.stopping.wait(0.05)


def install_os(nodes: Sequence[LocalNode]) -> None:
    """An API 20 OS whose scripts succeed at once, on these nodes."""
    for node in nodes:
        os_dir = os.path.join(node.paths.os_search_path[0], OS_NAME)
        os.makedirs(os_dir, exist_ok=True)
        with open(os.path.join(os_dir, constants.OS_API_FILE), "w",
                  encoding="ascii") as handle:
            handle.write("20\n")
        with open(os.path.join(os_dir, constants.OS_PARAMETERS_FILE), "w",
                  encoding="ascii"):
            pass
        for script in ("create", "import", "export", "rename", "verify"):
            path = os.path.join(os_dir, script)
            with open(path, "w", encoding="ascii") as handle:
                handle.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, 0o755)


def _must(res: subprocess.CompletedProcess[str]) -> None:
    if res.returncode != 0:
        raise errors.OpExecError(f"{' '.join(res.args)}: "
                                 f"{(res.stdout + res.stderr).strip()}")


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` (the state of other processes: files, pids) until
    it holds or ``timeout`` seconds passed; whether it held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)  # polling files written by other processes
    return True


def _ssconf_list(node: LocalNode, key: str) -> list[str]:
    try:
        with open(node.paths.ssconf_file(key), encoding="utf-8") as handle:
            return handle.read().split()
    except OSError:
        return []


def _kill_and_wait(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemonutil.process_alive(pid), 30)


class Harness:
    """Rounds of faults on one local cluster, and their findings."""

    def __init__(self, lc: LocalCluster, opts: argparse.Namespace,
                 out: Callable[[str], None],
                 part: chaos_net.Partitionable | None = None) -> None:
        self.lc = lc
        #: The node behind a link that can be cut (targeted faults).
        self.part = part
        self.opts = opts
        self.out = out
        self.rng = random.Random(opts.seed)
        self.findings: list[str] = []
        self.all_ids: list[int] = []
        self.kills = 0
        self.lag: dict[str, dict[str, int]] = {}
        #: Seconds from each master start to its first answer.
        self.restarts: list[float] = []

    def find(self, text: str) -> None:
        self.out(f"  FINDING: {text}")
        self.findings.append(text)

    def master_restart(self) -> None:
        master = self.lc.master()
        pid = daemonutil.running_pid(constants.MASTERD, master.paths)
        if pid is None:
            self.find("the master daemon was not running before the kill")
        else:
            _kill_and_wait(pid)
            self.kills += 1
        began = time.monotonic()
        daemonutil.start(constants.MASTERD, env=self.lc.env(master))
        try:
            bootstrap.wait_for_masterd(self.opts.job_timeout,
                                       paths=master.paths)
        except errors.OpExecError as err:
            self.find(f"the restarted master daemon: {err}")
        self.restarts.append(round(time.monotonic() - began, 2))

    def node_fault(self, node: LocalNode, stop: bool) -> None:
        pid = daemonutil.running_pid(constants.NODED, node.paths)
        if pid is None:
            self.find(f"{node.name}: node daemon not running before the fault")
            return
        if stop:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(self.rng.uniform(0.5, 2.0))  # the hang being injected
            os.kill(pid, signal.SIGCONT)
        else:
            _kill_and_wait(pid)
            in_ns = self.part is not None and node == self.part.node
            daemonutil.start(constants.NODED, ["-b", node.ip],
                             env=self.lc.env(node),
                             wrapper=self.part.wrapper if (
                                 self.part is not None and in_ns) else ())
            # Back once it answers (it loads and locks its memory first):
            # the next fault is not a node daemon still starting.
            bootstrap.wait_for_noded(node.name, node.ip,
                                     cert_file=node.paths.noded_cert_file,
                                     paths=node.paths)

    def partition(self) -> None:
        """Cut the partitionable node's link for a while."""
        assert self.part is not None
        self.part.cut()
        try:
            time.sleep(self.rng.uniform(0.5, 2.0))  # the partition injected
        finally:
            self.part.heal()

    def round(self, index: int) -> None:
        self.out(f"round {index + 1}/{self.opts.rounds}")
        sub = Submitter(self.lc, self.rng, f"{index}")
        sub.start()
        others = self.lc.nodes[1:]
        for kill in range(self.opts.kills):
            time.sleep(self.rng.uniform(0.1, self.opts.max_interval))
            if others and self.opts.node_faults and kill % 2 == 1:
                node = self.rng.choice(others)
                stop = self.rng.random() < 0.5
                self.out(f"  {'SIGSTOP' if stop else 'SIGKILL'} node daemon "
                         f"of {node.name}")
                self.node_fault(node, stop)
            self.out("  SIGKILL master daemon, restart")
            self.master_restart()
        time.sleep(self.rng.uniform(0.1, self.opts.max_interval))
        sub.stopping.set()
        sub.join()
        self.out(f"  {len(sub.acked)} jobs acknowledged, "
                 f"{sub.refused} submissions refused while the master was down")
        self.check_jobs(sub.acked)

    # --- faults aimed at one operation while it runs --------------------

    def targeted(self, round_index: int) -> None:
        """Migrate, failover, redist-conf and node add, one at a time,
        each hit while it runs by a fault on a node it uses: its node
        daemon killed (and restarted) or stopped for a while, or (the
        node in a namespace) its link cut for a while.  The jobs count
        as acknowledged ones."""
        acked = []
        for kind in TARGETED:
            job_id = self._targeted_one(kind, round_index)
            if job_id is not None:
                acked.append(job_id)
        self.check_jobs(acked)

    def _targeted_one(self, kind: str, round_index: int) -> int | None:
        master = self.lc.master()
        node: LocalNode | None
        if kind == "node-add":
            if self.part is None:
                return None
            node = self.part.node
            if node.name in self._config()["nodes"]:
                self._run_job([opcodes.OpNodeRemove(node_name=node.name)])
            self.part.start_daemon()
            install_os([node])
            op: opcodes.OpCode = opcodes.OpNodeAdd(node_name=node.name,
                                                   primary_ip=node.ip)
        elif kind == "redist-conf":
            op = opcodes.OpClusterRedistConf()
            joined = (self.part is not None
                      and self.part.node.name in self._config()["nodes"])
            node = self.part.node if joined and self.part else \
                self.rng.choice(self.lc.nodes[1:] or self.lc.nodes)
        else:
            inst = self._config()["instances"][MIRRORED]
            lid = inst["disks"][0]["logical_id"]
            target = next(n for n in lid[:2] if n != inst["primary_node"])
            node = self.lc.node_by_name(target)
            op = (opcodes.OpInstanceMigrate(instance_name=MIRRORED, live=True)
                  if kind == "migrate"
                  else opcodes.OpInstanceFailover(instance_name=MIRRORED))
        faults = ["sigkill", "sigstop"]
        if self.part is not None and node == self.part.node:
            faults.append("partition")
        # In turn, so that even one round tries each kind of fault.
        fault = faults[(round_index + TARGETED[kind]) % len(faults)]
        with luxi.Client(master.paths.master_socket) as client:
            job_id = int(client.submit_job([op.to_dict()]))
        # A node add takes milliseconds: its fault comes at once; the
        # others are hit once they run.
        if kind != "node-add" and not wait_for(
                lambda: self._job_status(job_id) not in ("queued", "waiting"),
                self.opts.job_timeout):
            self.find(f"{kind}: job {job_id} did not start")
            return job_id
        if fault == "partition":
            self.partition()
        else:
            self.node_fault(node, fault == "sigstop")
        wait_for(lambda: self._job_status(job_id) in FINAL,
                 self.opts.job_timeout)
        self.out(f"  {kind}, {fault} of {node.name} while it ran: job "
                 f"{job_id} {self._job_status(job_id)}")
        return job_id

    def _config(self) -> dict[str, Any]:
        doc: dict[str, Any] = journal.read_document(
            self.lc.master().paths.cluster_conf_file)
        return doc

    def _job_status(self, job_id: int) -> str | None:
        try:
            with luxi.Client(self.lc.master().paths.master_socket) as client:
                row = client.query_jobs([job_id], ["status"])[0]
        except (errors.GenericError, OSError):
            return None
        return None if row is None else str(row[0])

    def _run_job(self, ops: list[opcodes.OpCode]) -> None:
        with luxi.Client(self.lc.master().paths.master_socket) as client:
            job_id = int(client.submit_job([o.to_dict() for o in ops]))
        if not wait_for(lambda: self._job_status(job_id) in FINAL,
                        self.opts.job_timeout):
            self.find(f"job {job_id} ({ops[0].OP_ID}) not finished")

    def check_jobs(self, acked: list[int]) -> None:
        seen = set(self.all_ids)
        reused = sorted({i for i in acked if i in seen} |
                        {i for i in acked if acked.count(i) > 1})
        if reused:
            self.find(f"job ids handed out twice: {reused[:10]}")
        self.all_ids.extend(acked)
        address = self.lc.master().paths.master_socket
        pending: list[int] = list(acked)
        lost: list[int] = []

        def settled() -> bool:
            nonlocal pending
            try:
                with luxi.Client(address) as client:
                    rows = (client.query_jobs(pending, ["status"])
                            if pending else [])
            except (errors.LuxiError, OSError):
                return False  # the master is not answering (yet)
            lost.extend(i for i, row in zip(pending, rows, strict=True)
                        if row is None)
            pending = [i for i, row in zip(pending, rows, strict=True)
                       if row is not None and row[0] not in FINAL]
            return not pending

        if not wait_for(settled, self.opts.job_timeout):
            master = self.lc.master()
            if daemonutil.running_pid(constants.MASTERD, master.paths) is None:
                self.find("the master daemon died after its restart (see "
                          f"{master.paths.log_file(constants.MASTERD)})")
                daemonutil.start(constants.MASTERD, env=self.lc.env(master))
            self.find(f"{len(pending)} acknowledged job(s) not finished after "
                      f"{self.opts.job_timeout}s: {pending[:10]}")
        if lost:
            self.find(f"acknowledged job(s) lost: {sorted(set(lost))[:10]}")

    def run_watcher(self) -> None:
        res = self.lc.gnt("ganeti-watcher")
        if res.returncode != 0:
            self.find("ganeti-watcher: " + " ".join(
                (res.stdout + res.stderr).split())[-300:])

    def check_config(self) -> None:
        res = self.lc.gnt("gnt-cluster", "verify")
        errs = [line for line in res.stdout.splitlines() if "ERROR" in line]
        if res.returncode != 0 or errs:
            self.find("gnt-cluster verify: " + ("; ".join(errs[:5])
                                                 or res.stdout[-300:]))

    def replica_state(self, node: LocalNode) -> tuple[int, dict[str, bytes]]:
        with open(node.paths.cluster_conf_file, encoding="utf-8") as handle:
            serial = int(json.load(handle)["serial_no"])
        jobs = {}
        for root, _dirs, files in os.walk(node.paths.queue_dir):
            for name in files:
                if name.startswith("job-"):
                    with open(os.path.join(root, name), "rb") as handle:
                        jobs[name] = handle.read()
        return serial, jobs

    def check_replicas(self) -> None:
        master = self.lc.master()
        names = set(self.lc.candidates()) | (
            {self.part.node} if self.part is not None and
            self.part.node.name in _ssconf_list(master, "master_candidates")
            else set())
        candidates = sorted((n for n in names if n.name != master.name),
                            key=lambda n: n.index)
        behind: dict[str, dict[str, int]] = {}

        def caught_up() -> bool:
            behind.clear()
            serial, jobs = self.replica_state(master)
            for node in candidates:
                c_serial, c_jobs = self.replica_state(node)
                missing = sum(1 for j in jobs if j not in c_jobs)
                stale = sum(1 for j, data in jobs.items()
                            if j in c_jobs and c_jobs[j] != data)
                if c_serial != serial or missing or stale:
                    behind[node.name] = {"config_serials": serial - c_serial,
                                         "jobs_missing": missing,
                                         "jobs_stale": stale}
            return not behind

        if not wait_for(caught_up, self.opts.catchup_timeout):
            for name, lag in behind.items():
                self.find(f"candidate {name} behind after "
                          f"{self.opts.catchup_timeout}s: {lag}")
            self.lag = dict(behind)

    def run(self) -> dict[str, Any]:
        for index in range(self.opts.rounds):
            self.round(index)
            if self.opts.targeted:
                self.targeted(index)
            # A node fault may leave an instance marked up stopped (a
            # failover whose target's node daemon was dead): the
            # watcher's repair, as on a real cluster, before the
            # configuration is compared with the nodes.
            self.run_watcher()
            self.check_config()
            self.check_replicas()
        return {"rounds": self.opts.rounds, "master_kills": self.kills,
                "jobs_acknowledged": len(self.all_ids),
                "findings": self.findings, "replica_lag": self.lag,
                "restart_s": self.restarts}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chaos", description="Kill daemons "
                                "under a stream of jobs; check what survives.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kills", type=int, default=2,
                   help="master daemon kills per round")
    p.add_argument("--max-interval", type=float, default=1.5,
                   help="longest pause (s) between two faults")
    p.add_argument("--no-node-faults", dest="node_faults",
                   action="store_false",
                   help="only kill the master daemon")
    p.add_argument("--no-targeted", dest="targeted", action="store_false",
                   help="no faults aimed at migrate, failover, redist-conf"
                   " and node add")
    p.add_argument("--no-partition", dest="partition", action="store_false",
                   help="no node in a network namespace (no partitions,"
                   " no node add)")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--prefix", default=None,
                   help="the nodes' addresses (default: a free 127.0.X.)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--job-timeout", type=float, default=120.0)
    p.add_argument("--catchup-timeout", type=float, default=30.0)
    p.add_argument("--dir", default=None,
                   help="directory for the cluster (default: a new one)")
    p.add_argument("--keep", action="store_true",
                   help="leave the cluster running at the end")
    return p


def main(argv: Sequence[str]) -> int:
    """The ``tools/chaos`` command line."""
    parser = build_parser()
    opts = parser.parse_args(list(argv))
    if opts.rounds < 1 or opts.kills < 0 or opts.max_interval <= 0:
        parser.error("--rounds must be at least 1, --kills at least 0 and "
                     "--max-interval positive")
    if opts.seed is None:
        opts.seed = random.SystemRandom().randrange(1 << 30)

    def out(line: str) -> None:
        print(line, flush=True)

    top = opts.dir or tempfile.mkdtemp(prefix="chaos-", dir="/tmp")
    lc = LocalCluster(os.path.join(top, "c"), nodes=opts.nodes,
                      prefix=choose_prefix(opts.prefix, opts.nodes),
                      rapi=False)
    out(f"chaos: seed {opts.seed}, cluster in {lc.directory}")
    part: chaos_net.Partitionable | None = None
    try:
        lc.start()
        install_os(lc.nodes)
        _must(lc.gnt("gnt-instance", "add", "-t", "drbd", "-o", OS_NAME,
                     "--disk", "0:size=64M", "-B", "memory=32",
                     "--no-name-check", "--no-ip-check", "--no-nics", "-n",
                     f"{lc.node(1).name}:{lc.node(2).name}", MIRRORED))
        if opts.targeted and opts.partition:
            if chaos_net.available():
                part = chaos_net.Partitionable(lc)
                part.create()
            else:
                out("  (no network namespaces here: no partitions, no "
                    "node add)")
        report = Harness(lc, opts, out, part).run()
    except errors.GenericError as err:
        print(f"chaos: {err}", flush=True)
        return 1
    finally:
        if not opts.keep:
            if part is not None:
                part.delete()
            lc.stop()
            if opts.dir is None:
                shutil.rmtree(top, ignore_errors=True)
    report["seed"] = opts.seed
    print(json.dumps(report, sort_keys=True), flush=True)
    return 1 if report["findings"] else 0
