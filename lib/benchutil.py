"""What the benchmark tools (``tools/bench-*``) share.

The tools measure real daemons on this machine (doc/man/bench-tools.rst).
They differ in what they measure; how they get there is the same and
lives here: re-running with the checkout's virtualenv, a master daemon on
a bare root (no node daemons), a local cluster in a temporary directory,
many instances written into the configuration at once (and, if wanted,
started through the fake hypervisor on their nodes), timing a ``gnt-*``
command that must succeed, percentiles.

A failure stops the benchmark with one line naming the tool (exit status
1): a figure is only printed for what ran as intended.
"""

from __future__ import annotations

import base64
import compileall
import contextlib
import http.client
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Final, NoReturn

from ganeti import (
    cli,
    config,
    constants,
    crypto,
    daemonutil,
    errors,
    luxi,
    objects,
    opcodes,
    pathutils,
    serializer,
)
from ganeti.config.writer import CONFIG_FILE_MODE
from ganeti.http import tls
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.localcluster import RAPI_USER, LocalCluster

#: Set once the tool has re-run itself with the checkout's virtualenv.
NO_REEXEC_ENV: Final = "GANETI_BENCH_NO_REEXEC"
#: Bound on a daemon's start and stop.
START_TIMEOUT: Final = 120.0
#: Name of the master in the bare-root configurations.
MASTER: Final = "node1.example.com"


def fail(message: str) -> NoReturn:
    """Stop the benchmark: ``<tool>: message`` on stderr, exit status 1."""
    raise SystemExit(f"{os.path.basename(sys.argv[0])}: {message}")


def use_checkout_venv(repo: str) -> None:
    """Re-run this process with ``repo``'s virtualenv (``.venv``, made by
    tools/bootstrap-env) when there is one and this is not it."""
    venv = os.path.join(repo, ".venv")
    python = os.path.join(venv, "bin", "python")
    if (os.path.exists(python) and not os.environ.get(NO_REEXEC_ENV)
            and os.path.realpath(sys.prefix) != os.path.realpath(venv)):
        os.environ[NO_REEXEC_ENV] = "1"
        os.execv(python, [python, *sys.argv])


# --- figures ---------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 for the median of an
    odd count, 0.99 for p99)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def rss_kib(pid: int) -> tuple[int, int]:
    """Resident memory of a process in KiB: (all, anonymous); the
    anonymous part is what each further process of the same program
    adds (its file pages are shared)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else "0"
    return int(fields.get("VmRSS", 0)), int(fields.get("RssAnon", 0))


def fanout_sizes(max_nodes: int) -> list[int]:
    """How many nodes one call goes to: 1, 10 and ``max_nodes``, each once
    and none beyond ``max_nodes`` (the figures are named after them)."""
    return sorted({1, min(10, max_nodes), max_nodes})


# --- a master daemon on a bare root -------------------------------------------------


def write_cluster_config(root: str, extra_nodes: int = 0) -> list[str]:
    """A configuration under ``root``: the master (127.0.0.1) and
    ``extra_nodes`` more nodes that have no daemon; the process's root is
    switched to ``root``.  The extra nodes' names."""
    paths = pathutils.set_root(root)
    os.makedirs(paths.data_dir, exist_ok=True)
    cluster = objects.Cluster(cluster_name="bench.example.com",
                              master_node=MASTER, master_ip="127.0.0.1")
    master = objects.Node(name=MASTER, primary_ip="127.0.0.1",
                          secondary_ip="127.0.0.1")
    names = []
    with config.initialize(paths.cluster_conf_file, cluster, master) as cfg:
        for index in range(2, extra_nodes + 2):
            ip = f"127.0.2.{index}"
            names.append(f"node{index}.example.com")
            cfg.add_node(objects.Node(name=names[-1], primary_ip=ip,
                                      secondary_ip=ip))
    return names


def command_env(root: str) -> dict[str, str]:
    """The environment of commands and daemons run as the master of the
    bare root ``root``."""
    return daemonutil.child_env({pathutils.ROOT_ENV: root,
                                 pathutils.HOSTNAME_ENV: MASTER})


def wait_master(socket_path: str, timeout: float = START_TIMEOUT, *,
                proc: subprocess.Popen[bytes] | None = None,
                log: str | None = None) -> None:
    """Wait until the master daemon answers on ``socket_path``; stop the
    benchmark if it does not within ``timeout`` or ``proc`` exits (the
    message points to ``log``)."""
    where = f" (log: {log})" if log else ""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            fail(f"ganeti-masterd exited with status {proc.returncode}{where}")
        try:
            with luxi.Client(socket_path) as client:
                client.query_config_values(["master_node"])
            return
        except errors.GenericError as err:
            if time.monotonic() > deadline:
                fail(f"the master daemon does not answer: {err}{where}")
            time.sleep(0.05)


@contextlib.contextmanager
def bare_master(directory: str | None, *, keep: bool = False,
                extra_nodes: int = 0, args: Sequence[str] = ()
                ) -> Iterator[tuple[str, list[str]]]:
    """ganeti-masterd in the foreground on a new root under ``directory``
    (default: the system's temporary directory) holding
    :func:`write_cluster_config`'s configuration, the node calls answered
    inside the daemon (``--rpc-transport in-process``), its output in
    ``masterd.out`` there.  Answering LUXI on entry, which yields the root
    and the extra nodes' names; stopped on exit, the root removed unless
    ``keep``."""
    root = tempfile.mkdtemp(prefix="bench-", dir=directory)
    try:
        names = write_cluster_config(root, extra_nodes)
        log_path = os.path.join(root, "masterd.out")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, daemonutil.launcher(constants.MASTERD), "-f",
                 "--rpc-transport", "in-process", *args],
                env=command_env(root), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        try:
            wait_master(pathutils.Paths(root).master_socket, proc=proc,
                        log=log_path)
            yield root, names
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(START_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        if keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


# --- local clusters -------------------------------------------------------------


def free_prefix(first: int = 200, last: int = 250) -> str:
    """A loopback prefix ``127.B.0.`` whose node daemon port is free on
    its first address."""
    for second in range(first, last):
        prefix = f"127.{second}.0."
        try:
            with socket.socket() as sock:
                sock.bind((prefix + "1", constants.DEFAULT_NODED_PORT))
        except OSError:
            continue
        return prefix
    fail(f"no free loopback prefix among 127.{first}.0. to 127.{last - 1}.0.")


def compile_package() -> None:
    """Byte-compile the package, as an installation does: the commands
    measured must not compile the modules changed since their last byte
    code on every run (PYTHONDONTWRITEBYTECODE keeps Python from writing
    it: 17 ms of each gnt-instance list after an edit)."""
    compileall.compile_dir(os.path.dirname(os.path.abspath(__file__)),
                           quiet=2)


@contextlib.contextmanager
def local_cluster(directory: str | None, *, keep: bool = False,
                  nodes: int = 3, prefix: str,
                  hypervisor: str = constants.HT_FAKE
                  ) -> Iterator[LocalCluster]:
    """A started local cluster (ganeti.localcluster) of ``hypervisor`` in
    a new temporary directory under ``directory`` (default /tmp, short
    paths for the sockets, made if missing); stopped and removed on exit
    unless ``keep``."""
    compile_package()
    try:
        if directory:
            os.makedirs(directory, exist_ok=True)
        base = tempfile.mkdtemp(prefix="bench-", dir=directory or "/tmp")
    except OSError as err:
        fail(f"cannot make a directory under {directory or '/tmp'}:"
             f" {err.strerror}")
    cluster = LocalCluster(os.path.join(base, "c"), nodes=nodes, prefix=prefix,
                           hypervisor=hypervisor)
    try:
        start = time.perf_counter()
        try:
            cluster.start()
        except errors.GenericError as err:
            fail(f"cannot start a {nodes}-node local cluster: {err}")
        print(f"{nodes}-node local cluster on {prefix}* started in"
              f" {time.perf_counter() - start:.1f} s", flush=True)
        yield cluster
    finally:
        cluster.stop()
        if keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def timed_gnt(cluster: LocalCluster, *args: str) -> tuple[float, str]:
    """Run a ``gnt-*`` command on the cluster's master: its wall time
    (interpreter start included) and output; a failure stops the
    benchmark with the command's output."""
    start = time.perf_counter()
    res = cluster.gnt(*args)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        output = " ".join((res.stdout + res.stderr).split())
        fail(f"'{' '.join(args)}' failed with exit code {res.returncode}:"
             f" {output[-600:]}")
    return elapsed, res.stdout


def bulk_add(cluster: LocalCluster, count: int, start_index: int, *,
             os_name: str, memory: int, start: bool) -> None:
    """Add ``count`` diskless instances ``bulk<N>.bench.example`` (N from
    ``start_index``), spread over the nodes, with one configuration write
    while the master daemon is stopped; then start the daemon again.

    With ``start``, the instances are marked up and started through the
    fake hypervisor on their primary nodes (the node's memory is raised
    to fit them), so that the nodes report them running; otherwise they
    stay down and the nodes know nothing of them.
    """
    master = cluster.master()
    daemonutil.stop(constants.MASTERD, master.paths)
    added: list[objects.Instance] = []
    with config.ConfigWriter(master.paths.cluster_conf_file) as cfg:
        data = cfg.get_config_data()
        nodes = cfg.node_names()
        for index in range(start_index, start_index + count):
            name = f"bulk{index}.bench.example"
            added.append(objects.Instance(
                name=name, primary_node=nodes[index % len(nodes)],
                os=os_name, hypervisor=constants.HT_FAKE,
                disk_template=constants.DT_DISKLESS,
                beparams={"maxmem": memory, "minmem": memory}, admin_up=start))
            data.instances[name] = added[-1]
        data.serial_no += 1
        config.journal.write_base(cfg.path, serializer.dumps(data.to_dict()),
                                  CONFIG_FILE_MODE)
    if start:
        start_fake_instances(cluster, data.cluster, added)
    daemonutil.start(constants.MASTERD, ["--rpc-transport", "https"],
                     env=cluster.env(master))
    wait_master(master.paths.master_socket)


def start_fake_instances(cluster: LocalCluster, settings: objects.Cluster,
                         instances: Sequence[objects.Instance]) -> None:
    """Start ``instances`` through the fake hypervisor of their primary
    nodes (one thread per node), with the parameters filled as for a
    real start; raise the node's memory where they would not fit."""
    by_node: dict[str, list[objects.Instance]] = {}
    for inst in instances:
        by_node.setdefault(inst.primary_node, []).append(inst)
    failures: list[BaseException] = []

    def start_on(state_dir: str, group: list[objects.Instance]) -> None:
        try:
            hv = FakeHypervisor(state_dir)
            beparams = [settings.fill_be(inst.beparams) for inst in group]
            needed = sum(int(be["maxmem"]) for be in beparams)
            info = hv.get_node_info()
            if info.memory_free < needed:
                hv.set_node_resources(memory_total=info.memory_total
                                      + needed - info.memory_free)
            hv.start_instances([
                (inst, [], settings.fill_hv(inst.hypervisor, inst.os,
                                            inst.hvparams), be, [])
                for inst, be in zip(group, beparams, strict=True)])
        except BaseException as err:  # reported by the caller
            failures.append(err)

    threads = [threading.Thread(
        target=start_on,
        args=(cluster.node_by_name(node).paths.fake_hv_dir, group))
        for node, group in by_node.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        fail(f"cannot start the bulk-added instances: {failures[0]}")


class RapiClient:
    """One persistent HTTPS connection to a local cluster's RAPI (node
    1), as pycurl, httpx and a browser keep one; with ``auth`` it sends
    the cluster's ``write`` user's Basic credentials."""

    def __init__(self, cluster: LocalCluster, *, auth: bool = False) -> None:
        _key, cert = crypto.load_pem_file(cluster.node(1).paths.rapi_cert_file)
        self.conn = http.client.HTTPSConnection(
            cluster.node(1).ip, cluster.rapi_port,
            context=tls.client_context(cert), timeout=300)
        self.headers = {"Accept": "application/json"}
        if auth:
            token = f"{RAPI_USER}:{cluster.rapi_password}".encode()
            self.headers["Authorization"] = \
                "Basic " + base64.b64encode(token).decode()

    def get(self, path: str) -> bytes:
        """The body of ``GET path``; any status but 200 raises."""
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise errors.OpExecError(
                f"GET {path}: {response.status} {body[:200]!r}")
        return body

    def timed(self, path: str, runs: int) -> list[float]:
        """Durations (s) of ``runs`` GETs of ``path``."""
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.get(path)
            times.append(time.perf_counter() - start)
        return times

    def close(self) -> None:
        self.conn.close()


#: The daemons whose CPU time :func:`daemon_cpu_seconds` reads.
DAEMONS: Final = (constants.MASTERD, constants.RAPI, constants.NODED)


def daemon_cpu_seconds(cluster: LocalCluster) -> dict[str, float]:
    """User + system CPU seconds used so far by the cluster's daemons, by
    daemon name (the node daemons added up): on a shared, loaded machine
    wall times mostly measure waiting for a CPU, this does not."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(DAEMONS, 0.0)
    for node in cluster.nodes:
        for name in DAEMONS:
            pid = daemonutil.running_pid(name, node.paths)
            if pid is None:
                continue
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            used[name] += (int(fields[11]) + int(fields[12])) / ticks
    return used


def install_os(cluster: LocalCluster, name: str) -> None:
    """A minimal API 20 OS ``name`` (scripts that succeed at once) on
    every node of ``cluster``."""
    for node in cluster.nodes:
        os_dir = os.path.join(node.paths.os_search_path[0], name)
        os.makedirs(os_dir, exist_ok=True)
        with open(os.path.join(os_dir, constants.OS_API_FILE), "w") as fh:
            fh.write("20\n")
        with open(os.path.join(os_dir, constants.OS_PARAMETERS_FILE),
                  "w") as fh:
            fh.write("")
        for script in ("create", "import", "export", "rename", "verify"):
            path = os.path.join(os_dir, script)
            with open(path, "w") as fh:
                fh.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, 0o755)


# --- instances created through jobs, memory of daemons ---------------------------


def create_op(name: str, node: str, os_name: str,
              memory: int) -> dict[str, object]:
    """The ``OpInstanceCreate`` of a diskless instance ``name`` on
    ``node`` without NICs, install or start (serialized for LUXI)."""
    return opcodes.OpInstanceCreate(
        instance_name=name, mode=constants.INSTANCE_CREATE,
        disk_template=constants.DT_DISKLESS, disks=[], nics=[],
        os_type=os_name, pnode=node, name_check=False, ip_check=False,
        start=False, beparams={"memory": memory}).to_dict()


def run_jobs(socket_path: str, jobs: Sequence[list[dict[str, object]]], *,
             width: int = 8, wave: int | None = None,
             archive: bool = False) -> float:
    """Submit ``jobs`` (each a list of serialized opcodes) over LUXI from
    one client, ``width`` per ``SubmitManyJobs`` call, and wait until each
    succeeded; at most ``wave`` jobs are submitted before waiting for them
    (all at once by default).  With ``archive``, every finished job is
    archived after each wave (the queue holds at most 5,000 jobs, see
    ``gnt-job archive``).  The elapsed seconds; a failed submission or
    job stops the benchmark."""
    client = luxi.Client(socket_path)
    start = time.perf_counter()
    try:
        step = wave or len(jobs) or 1
        for low in range(0, len(jobs), step):
            job_ids = []
            for first in range(low, min(low + step, len(jobs)), width):
                batch = jobs[first:min(first + width, low + step)]
                for ok, job_id in client.submit_many_jobs(list(batch)):
                    if not ok:
                        fail(f"submitting a job failed: {job_id}")
                    job_ids.append(int(job_id))
            for job_id in job_ids:
                try:
                    cli.poll_job(job_id, client, feedback_fn=lambda _e: None)
                except errors.GenericError as err:
                    fail(f"job {job_id} failed: {err}")
            if archive:
                client.autoarchive_jobs(-1, 600)
        return time.perf_counter() - start
    finally:
        client.close()


def daemon_memory(cluster: LocalCluster) -> dict[str, list[tuple[int, int]]]:
    """Per daemon name, (RSS, PSS) in KiB of each of that daemon's
    processes under the cluster's node roots.  The PSS (proportional set
    size) counts a page shared by N processes as 1/N in each: the sum of
    the PSS is what the processes take together."""
    found: dict[str, list[tuple[int, int]]] = {}
    for name, pid in daemon_pids(cluster):
        with contextlib.suppress(OSError):
            found.setdefault(name, []).append((rss_kib(pid)[0], pss_kib(pid)))
    return found


def daemon_pids(cluster: LocalCluster) -> list[tuple[str, int]]:
    """(daemon name, process id) of every daemon running under the
    cluster's node roots."""
    pids = []
    for node in cluster.nodes:
        for name in daemonutil.DAEMONS:
            pid = daemonutil.running_pid(name, node.paths)
            if pid is not None:
                pids.append((name, pid))
    return pids


def cpu_seconds(pids: Sequence[int]) -> float:
    """The CPU time (user and system) the processes ``pids`` have used,
    their threads included (a process gone counts nothing)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_quiet(cluster: LocalCluster, limit: float, *, share: float = 0.1,
               window: float = 2.0) -> float:
    """Wait until the cluster's daemons together use less than ``share``
    of a CPU over ``window`` seconds (at most ``limit`` seconds); the
    seconds waited.  After a fill of thousands of jobs the master
    candidates replicate and the nodes reload for a while: a query
    measured then measures that work too."""
    pids = [pid for _name, pid in daemon_pids(cluster)]
    start = time.monotonic()
    while True:
        used = cpu_seconds(pids)
        time.sleep(window)
        if (cpu_seconds(pids) - used) / window < share \
                or time.monotonic() - start >= limit:
            return time.monotonic() - start


def pss_kib(pid: int) -> int:
    """The proportional set size of a process in KiB (see
    :func:`daemon_memory`)."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0
