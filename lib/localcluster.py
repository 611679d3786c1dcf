"""A real multi-node cluster on one machine (``tools/local-cluster``).

Node K is called ``nodeK.<domain>`` (default domain
``local-cluster.example``, a reserved name that never resolves), has the
primary IP ``<prefix>K`` (default prefix ``127.0.0.``, so 127.0.0.1,
127.0.0.2, ...) and lives under its own root directory ``DIR/nodeK``:
every path of that node (data, run, log, OS search path, file storage)
is relocated there.  Each node runs a real ``ganeti-noded`` bound to its
IP (port 1811) and a ``ganeti-mond`` (port 1815, see
``doc/design/monitoring.rst``); node 1 is the first master and runs ``ganeti-masterd``
with the HTTPS RPC transport.  The cluster is ``cluster.<domain>`` with
the master IP ``<prefix>254``, which is never activated (no master
netdev).

:meth:`LocalCluster.start` runs the real commands: ``gnt-cluster init``
on node 1, then adds every other node as ``gnt-node add --root-dir``
(local mode) does, many at once (:meth:`LocalCluster.add_nodes`),
starts ``ganeti-rapi`` on node 1 (after the master daemon; bound to
node 1's IP on port 5080, so clusters on different prefixes never
collide) with a users file holding one ``write`` user (``rapi``, a new
random password), starts ``ganeti-confd`` on every master candidate
(bound to the node's IP, UDP port 1814), and writes ``DIR/env.sh``, which also exports
``GANETI_RAPI_URL``, ``GANETI_RAPI_USER`` and ``GANETI_RAPI_PASSWORD``.
:meth:`LocalCluster.stop` stops every
daemon found under the node roots (whichever node is the master by
then); :meth:`LocalCluster.status` says what runs.  The state
(``DIR/local-cluster.json``) records the layout so ``stop`` and
``status`` need no options.

Run from a checkout, the launcher runs the checkout's ``scripts/`` and
``daemons/``; installed, the commands in the configured ``sbindir``
(:func:`command_dirs`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from ganeti import (
    bootstrap,
    cli,
    constants,
    daemonutil,
    errors,
    localcluster_env,
    luxi,
    opcodes,
    pathutils,
)
from ganeti.client import node_add
from ganeti.rapi import users as rapi_users
from ganeti.standins import drbd as drbd_simulator
from ganeti.standins import lvm as simulator
from ganeti.standins import power as power_standin
from ganeti.standins import xl as xl_standin

DEFAULT_DOMAIN: Final = "local-cluster.example"
DEFAULT_PREFIX: Final = "127.0.0."
STATE_FILE: Final = "local-cluster.json"
ENV_FILE: Final = "env.sh"
#: The RAPI user the launcher creates (with ``write`` access).
RAPI_USER: Final = "rapi"
MAX_NODES: Final = 250
#: Bound on one command run by the launcher.
COMMAND_TIMEOUT: Final = 300.0
#: Nodes prepared at once by :meth:`LocalCluster.add_nodes`.
PREPARE_WIDTH: Final = 8

def _repo() -> str:
    return os.path.dirname(daemonutil.package_parent())


def command_dirs() -> list[str]:
    """Where the ``gnt-*`` commands and the daemons' launchers are: the
    checkout's ``scripts/`` and ``daemons/`` when this package runs from a
    checkout, the configured ``sbindir`` when it is installed."""
    repo = _repo()
    scripts = os.path.join(repo, "scripts")
    if os.path.isfile(os.path.join(scripts, "gnt-cluster")):
        return [scripts, os.path.join(repo, "daemons")]
    return [pathutils.SBINDIR]


def command_path(command: str) -> str:
    """The launcher of ``command`` (``gnt-*``, a daemon or daemon-util)."""
    dirs = command_dirs()
    for directory in dirs:
        path = os.path.join(directory, command)
        if os.path.isfile(path):
            return path
    raise errors.OpExecError(
        f"Cannot find the command {command} (looked in {', '.join(dirs)})",
        errors.ErrorCode.ENVIRON)


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is three octets of a loopback address and a dot
    (``127.0.201.``); OpPrereqError otherwise."""
    try:
        address = ipaddress.IPv4Address(f"{prefix}1")
    except ValueError:
        address = None
    if (address is None or not prefix.endswith(".")
            or prefix.count(".") != 3 or not address.is_loopback):
        raise errors.OpPrereqError(
            f"Invalid address prefix '{prefix}': give the first three octets"
            " of a loopback address and a dot, e.g. 127.0.201.",
            errors.ErrorCode.INVAL)
    return prefix


def prefix_taken(prefix: str, nodes: int,
                 rapi_port: int | None = None) -> str | None:
    """The first ``address:port`` a cluster of ``nodes`` nodes on
    ``prefix`` needs that something else holds (node daemons on
    ``<prefix>K``, the RAPI on node 1), or None when all are free."""
    wanted = [(f"{prefix}{k}", port) for k in range(1, nodes + 1)
              for port in (constants.DEFAULT_NODED_PORT,
                           constants.DEFAULT_MOND_PORT)]
    if rapi_port is not None:
        wanted.append((f"{prefix}1", rapi_port))
    for address in wanted:
        with socket.socket() as sock:
            # As the daemons bind: a lingering TIME_WAIT does not count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                return f"{address[0]}:{address[1]}"
    return None


def free_prefix(candidates: Iterable[str], nodes: int,
                rapi_port: int | None = None) -> str:
    """The first of ``candidates`` on which a cluster of ``nodes`` nodes
    finds its addresses free."""
    for prefix in candidates:
        if prefix_taken(prefix, nodes, rapi_port) is None:
            return prefix
    raise errors.OpPrereqError(
        "No free loopback address prefix for a local cluster (node daemon"
        f" port {constants.DEFAULT_NODED_PORT} taken everywhere tried)",
        errors.ErrorCode.NORES)


def default_prefixes() -> Iterator[str]:
    """The prefixes tried in turn when none is given: the default, then
    ``127.0.1.`` to ``127.0.254.``."""
    yield DEFAULT_PREFIX
    for third in range(1, 255):
        yield f"127.0.{third}."


def choose_prefix(requested: str | None, nodes: int,
                  rapi_port: int | None = None) -> str:
    """``requested`` if given and free (OpPrereqError naming what holds
    it otherwise), else the first free one of :func:`default_prefixes`."""
    if requested is None:
        return free_prefix(default_prefixes(), nodes, rapi_port)
    taken = prefix_taken(check_prefix(requested), nodes, rapi_port)
    if taken is not None:
        raise errors.OpPrereqError(
            f"Address prefix {requested} is in use ({taken} is taken); "
            "give another with --prefix, or none to pick a free one",
            errors.ErrorCode.NORES)
    return requested


@dataclasses.dataclass(frozen=True)
class LocalNode:
    index: int
    name: str
    ip: str
    root: str

    @property
    def paths(self) -> pathutils.Paths:
        return pathutils.Paths(self.root)


class LocalCluster:
    """One local cluster under ``directory``."""

    def __init__(self, directory: str, *, nodes: int = 3,
                 hypervisor: str = constants.HT_FAKE,
                 prefix: str = DEFAULT_PREFIX,
                 domain: str = DEFAULT_DOMAIN,
                 init_args: Sequence[str] = (), rapi: bool = True,
                 rapi_port: int = constants.DEFAULT_RAPI_PORT) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise errors.OpPrereqError(
                f"A local cluster has 1 to {MAX_NODES} nodes, not {nodes}",
                errors.ErrorCode.INVAL)
        if hypervisor not in constants.HYPER_TYPES:
            raise errors.OpPrereqError(
                f"Unknown hypervisor '{hypervisor}' (known: "
                f"{', '.join(sorted(constants.HYPER_TYPES))})",
                errors.ErrorCode.INVAL)
        self.directory = os.path.abspath(directory)
        self.count = nodes
        self.hypervisor = hypervisor
        self.prefix = prefix
        self.domain = domain
        self.init_args = list(init_args)
        #: Node name -> secondary IP, for nodes that ``start`` (and
        #: :meth:`add_node`) add with one (``gnt-node add -s``).
        self.secondary_ips: dict[str, str] = {}
        #: Whether ``start`` starts ganeti-rapi on node 1.
        self.rapi = rapi
        self.rapi_port = rapi_port
        #: The RAPI user's password (set by ``start``, kept in the state).
        self.rapi_password: str | None = None
        #: The bridge of a kvm cluster (see ganeti.localcluster_env).
        self.bridge = (localcluster_env.bridge_name(self.directory)
                       if hypervisor == constants.HT_KVM else "")

    # --- layout -------------------------------------------------------------

    @classmethod
    def load(cls, directory: str) -> LocalCluster:
        """The cluster described by ``directory``'s state file."""
        path = os.path.join(os.path.abspath(directory), STATE_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            raise errors.OpPrereqError(
                f"No local cluster in {directory} ({path} not found)",
                errors.ErrorCode.NOENT) from None
        except (OSError, ValueError) as err:
            raise errors.OpPrereqError(f"Cannot read {path}: {err}",
                                       errors.ErrorCode.ENVIRON) from None
        cluster = cls(directory, nodes=int(state["nodes"]),
                      hypervisor=str(state["hypervisor"]),
                      prefix=str(state["prefix"]), domain=str(state["domain"]),
                      rapi=bool(state.get("rapi", False)),
                      rapi_port=int(state.get("rapi_port",
                                              constants.DEFAULT_RAPI_PORT)))
        cluster.rapi_password = state.get("rapi_password")
        return cluster

    @property
    def cluster_name(self) -> str:
        return f"cluster.{self.domain}"

    @property
    def master_ip(self) -> str:
        return f"{self.prefix}254"

    @property
    def rapi_url(self) -> str:
        """Where node 1's RAPI listens (``https://<node 1 IP>:<port>``)."""
        return f"https://{self.node(1).ip}:{self.rapi_port}"

    def node(self, index: int) -> LocalNode:
        return LocalNode(index, f"node{index}.{self.domain}",
                         f"{self.prefix}{index}",
                         os.path.join(self.directory, f"node{index}"))

    @property
    def nodes(self) -> list[LocalNode]:
        return [self.node(k) for k in range(1, self.count + 1)]

    def node_by_name(self, name: str) -> LocalNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise errors.OpPrereqError(f"No node {name} in this local cluster",
                                   errors.ErrorCode.NOENT)

    def master(self) -> LocalNode:
        """The node whose ssconf names itself as the master (node 1 when
        none does, e.g. before init)."""
        for node in self.nodes:
            path = node.paths.ssconf_file("master_node")
            try:
                with open(path, encoding="utf-8") as handle:
                    if handle.read().strip() == node.name:
                        return node
            except OSError:
                continue
        return self.node(1)

    def env(self, node: LocalNode | int | None = None) -> dict[str, str]:
        """The environment of commands run as on ``node`` (the master by
        default)."""
        if node is None:
            node = self.master()
        elif isinstance(node, int):
            node = self.node(node)
        repo = _repo()
        # Bytecode caches are left as the caller's environment says: the
        # commands start much faster with them.
        env = daemonutil.child_env({
            pathutils.ROOT_ENV: node.root,
            pathutils.HOSTNAME_ENV: node.name,
            simulator.ENABLE_ENV: "1", xl_standin.ENABLE_ENV: "1",
            power_standin.ENABLE_ENV: "1",
            drbd_simulator.ENABLE_ENV: localcluster_env.drbd_state_dir(
                self.directory)})
        env["PATH"] = os.pathsep.join([
            *command_dirs(), os.path.join(repo, ".venv", "bin"),
            os.path.dirname(sys.executable), env.get("PATH", "")])
        return env

    # --- running commands -----------------------------------------------------

    def gnt(self, command: str, *args: str,
            node: LocalNode | int | None = None,
            timeout: float = COMMAND_TIMEOUT,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``gnt-*`` command (or ``daemon-util``) as on ``node``."""
        argv = [sys.executable, command_path(command), *args]
        return subprocess.run(argv, env=self.env(node), capture_output=True,
                              text=True, timeout=timeout, input=input,
                              stdin=None if input is not None
                              else subprocess.DEVNULL, check=False)

    def _must(self, command: str, *args: str,
              node: LocalNode | int | None = None) -> str:
        res = self.gnt(command, *args, node=node)
        if res.returncode != 0:
            shown = " ".join(shlex.quote(a) for a in (command, *args))
            raise errors.OpExecError(
                f"'{shown}' failed with exit code {res.returncode}: "
                f"{' '.join((res.stdout + res.stderr).split())[-400:]}")
        return res.stdout

    # --- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Create and start the cluster; on failure stop what started."""
        if os.path.exists(os.path.join(self.directory, STATE_FILE)):
            raise errors.OpPrereqError(
                f"{self.directory} already holds a local cluster; stop it "
                "and remove the directory first", errors.ErrorCode.EXISTS)
        os.makedirs(self.directory, exist_ok=True)
        self._write_state()
        try:
            first = self.node(1)
            for node in self.nodes:
                os.makedirs(node.root, exist_ok=True)
                localcluster_env.prepare_node(node.root, self.hypervisor)
            if self.bridge:
                localcluster_env.create_bridge(self.bridge)
            self._must("gnt-cluster", "init",
                       "--no-etc-hosts", "--no-ssh-init",
                       "--primary-ip", first.ip, "--master-ip", self.master_ip,
                       "--enabled-hypervisors", self.hypervisor,
                       *localcluster_env.init_args(self.hypervisor,
                                                   self.bridge),
                       *self.init_args, self.cluster_name, node=first)
            if self.rapi:
                # Before the nodes join, so that joining ships the users
                # file to them as it does every candidate file.
                self._make_rapi_users()
            self.add_nodes(self.nodes[1:])
            self.start_confd()
            if self.rapi:
                self.start_rapi()
        except BaseException:
            self.stop()
            raise
        self._write_env()

    def start_rapi(self, *extra: str) -> None:
        """Start ganeti-rapi on node 1 (the first master) on node 1's IP,
        with a new users file of one ``write`` user unless it has one."""
        first = self.node(1)
        self._make_rapi_users()
        daemonutil.start(constants.RAPI, ["-b", first.ip,
                                          "-p", str(self.rapi_port), *extra],
                         env=self.env(first))
        self._wait_rapi(first.ip)

    def _make_rapi_users(self) -> None:
        """Node 1's users file with one ``write`` user, unless it has one."""
        if self.rapi_password is None:
            self.rapi_password = rapi_users.create_user_file(
                self.node(1).paths.rapi_users_file, RAPI_USER)
            self._write_state()

    def _wait_rapi(self, ip: str, timeout: float = daemonutil.WAIT_TIMEOUT
                   ) -> None:
        """Wait (bounded) until the RAPI accepts connections: the daemon
        holds its pid file before it listens."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((ip, self.rapi_port),
                                              timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise errors.OpExecError(
                        f"ganeti-rapi does not listen on {ip}:{self.rapi_port}"
                        f" (see {self.node(1).paths.log_file(constants.RAPI)})",
                        errors.ErrorCode.ENVIRON) from None
                time.sleep(0.02)

    def stop_rapi(self) -> bool:
        """Stop node 1's ganeti-rapi; whether it was running."""
        return daemonutil.stop(constants.RAPI, self.node(1).paths)

    def add_node(self, node: LocalNode, *extra: str) -> str:
        """``gnt-node add`` in local mode (run on the current master)."""
        os.makedirs(node.root, exist_ok=True)
        localcluster_env.prepare_node(node.root, self.hypervisor)
        second = self.secondary_ips.get(node.name)
        if second is not None and "-s" not in extra:
            extra = ("-s", second, *extra)
        return self._must("gnt-node", "add", "--root-dir", node.root,
                          "--primary-ip", node.ip, *extra, node.name)

    def add_nodes(self, nodes: Sequence[LocalNode]) -> None:
        """Add many nodes quickly: each is prepared as ``gnt-node add
        --root-dir`` prepares it (the cluster's files copied, its node
        and monitoring daemons started), :data:`PREPARE_WIDTH` nodes at a
        time, and then one job with an ``OpNodeAdd`` per node, in order,
        is submitted over LUXI and waited for.  Process start-up, the
        cost of one ``gnt-node add`` after the other, runs in parallel;
        the node adds run one after the other (each locks the cluster).
        """
        if not nodes:
            return
        master = self.master()

        def prepare(node: LocalNode) -> None:
            os.makedirs(node.root, exist_ok=True)
            localcluster_env.prepare_node(node.root, self.hypervisor)
            node_add.write_join_files(node.root, master.paths)
            # Restarted as prepare_local does, in this node's environment.
            for name in (constants.NODED, constants.MOND):
                daemonutil.restart(name, ["-b", node.ip], env=self.env(node))
            bootstrap.wait_for_noded(node.name, node.ip, paths=node.paths,
                                     cert_file=master.paths.noded_cert_file)

        with concurrent.futures.ThreadPoolExecutor(PREPARE_WIDTH) as pool:
            for future in [pool.submit(prepare, node) for node in nodes]:
                future.result()
        # One job of one node add per node, in order: the nodes join as
        # they would one gnt-node add after the other (the first ones
        # become the master candidates; separate jobs could take the
        # cluster lock in any order).
        with luxi.Client(master.paths.master_socket) as client:
            job_id = client.submit_job([
                opcodes.OpNodeAdd(
                    node_name=node.name, primary_ip=node.ip,
                    secondary_ip=self.secondary_ips.get(node.name)).to_dict()
                for node in nodes])
            try:
                cli.poll_job(job_id, client, feedback_fn=lambda _e: None)
            except errors.GenericError as err:
                raise errors.OpExecError(
                    f"Adding the nodes failed: {err}") from None

    def candidates(self) -> list[LocalNode]:
        """The master candidates, as the master's ssconf lists them."""
        path = self.master().paths.ssconf_file("master_candidates")
        try:
            with open(path, encoding="utf-8") as handle:
                names = set(handle.read().split())
        except OSError:
            return []
        return [node for node in self.nodes if node.name in names]

    def start_confd(self) -> list[str]:
        """Start ganeti-confd (bound to the node's IP, UDP port 1814) on
        every master candidate where it does not run; their names."""
        started = []
        for node in self.candidates():
            if daemonutil.is_running(constants.CONFD, node.paths):
                continue
            daemonutil.start(constants.CONFD, ["-b", node.ip],
                             env=self.env(node))
            started.append(node.name)
        return started

    def stop(self) -> list[str]:
        """Stop every daemon under every node root; what was stopped."""
        stopped = []
        for node in self.nodes:
            for name in (constants.RAPI, constants.MASTERD, constants.CONFD,
                         constants.MOND, constants.NODED):
                if daemonutil.stop(name, node.paths):
                    stopped.append(f"{node.name}: {name}")
        if self.hypervisor == constants.HT_KVM:
            for name in localcluster_env.stop_kvm_instances(
                    [node.root for node in self.nodes]):
                stopped.append(f"qemu of {name}")
        # Also on a cluster that enabled chroot later (gnt-cluster modify).
        for name in localcluster_env.stop_chroot_instances(
                [node.root for node in self.nodes]):
            stopped.append(f"chroot instance {name}")
        for name in localcluster_env.stop_xen_receivers(
                [node.root for node in self.nodes]):
            stopped.append(f"migration receiver of {name}")
        if self.bridge and localcluster_env.delete_bridge(self.bridge):
            stopped.append(f"bridge {self.bridge}")
        return stopped

    def status(self) -> list[str]:
        """One line per node: which daemons run (with their pids)."""
        lines = []
        for node in self.nodes:
            parts = []
            for name in (constants.NODED, constants.MASTERD, constants.RAPI,
                         constants.MOND, constants.CONFD):
                pid = daemonutil.running_pid(name, node.paths)
                if pid is not None:
                    parts.append(f"{name} (pid {pid})")
                elif name == constants.NODED:
                    parts.append(f"{name} not running")
            lines.append(f"{node.name} {node.ip}: {', '.join(parts)}")
        if self.rapi:
            pid = daemonutil.running_pid(constants.RAPI, self.node(1).paths)
            state = "running" if pid is not None else "not running"
            lines.append(f"RAPI {self.rapi_url} (user {RAPI_USER}): {state}")
        return lines

    def running(self) -> bool:
        return any(daemonutil.running_pid(name, node.paths) is not None
                   for node in self.nodes for name in daemonutil.DAEMONS)

    # --- files ----------------------------------------------------------------

    def _write_state(self) -> None:
        state: dict[str, Any] = {"nodes": self.count,
                                 "hypervisor": self.hypervisor,
                                 "prefix": self.prefix, "domain": self.domain,
                                 "rapi": self.rapi, "rapi_port": self.rapi_port}
        if self.rapi_password is not None:
            state["rapi_password"] = self.rapi_password
        # It holds the RAPI password: readable by its owner only.
        fd = os.open(os.path.join(self.directory, STATE_FILE),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")

    def _write_env(self) -> None:
        env = self.env(self.node(1))
        lines = ["# Source this file to drive the local cluster in "
                 f"{self.directory}."]
        for key in (pathutils.ROOT_ENV, pathutils.HOSTNAME_ENV,
                    simulator.ENABLE_ENV, xl_standin.ENABLE_ENV,
                    drbd_simulator.ENABLE_ENV,
                    "PYTHONPATH", "PATH"):
            lines.append(f"export {key}={shlex.quote(env[key])}")
        if self.rapi and self.rapi_password is not None:
            for key, value in (("GANETI_RAPI_URL", self.rapi_url),
                               ("GANETI_RAPI_USER", RAPI_USER),
                               ("GANETI_RAPI_PASSWORD", self.rapi_password)):
                lines.append(f"export {key}={shlex.quote(value)}")
        # It holds the RAPI password: readable by its owner only.
        fd = os.open(os.path.join(self.directory, ENV_FILE),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


USAGE: Final = ("Usage: local-cluster start DIR [--nodes N] "
                "[--hypervisor HV] [--prefix 127.0.X.]\n"
                "                          [--no-rapi] [--rapi-port PORT]\n"
                "       local-cluster stop DIR\n"
                "       local-cluster status DIR")


def main(argv: Sequence[str]) -> int:
    """The ``tools/local-cluster`` command line."""
    import argparse

    parser = argparse.ArgumentParser(prog="local-cluster", usage=USAGE)
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("directory")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--hypervisor", default=constants.HT_FAKE)
    parser.add_argument("--prefix", default=None,
                        help="the nodes' addresses are PREFIXK (default: "
                        f"{DEFAULT_PREFIX} or, when taken, the first free"
                        " 127.0.X.)")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN)
    parser.add_argument("--no-rapi", dest="rapi", action="store_false",
                        help="do not start ganeti-rapi on node 1")
    parser.add_argument("--rapi-port", type=int,
                        default=constants.DEFAULT_RAPI_PORT)
    opts = parser.parse_args(list(argv))
    try:
        if opts.action == "start":
            prefix = choose_prefix(opts.prefix, opts.nodes,
                                   opts.rapi_port if opts.rapi else None)
            cluster = LocalCluster(opts.directory, nodes=opts.nodes,
                                   hypervisor=opts.hypervisor,
                                   prefix=prefix, domain=opts.domain,
                                   rapi=opts.rapi, rapi_port=opts.rapi_port)
            cluster.start()
            for line in cluster.status():
                print(line)
            print(f"Run '. {os.path.join(cluster.directory, ENV_FILE)}' to "
                  "use the gnt-* commands on this cluster")
        elif opts.action == "stop":
            for line in LocalCluster.load(opts.directory).stop():
                print(f"stopped {line}")
        else:
            cluster = LocalCluster.load(opts.directory)
            for line in cluster.status():
                print(line)
            if not cluster.running():
                return errors.EXIT_FAILURE
    except errors.GenericError as err:
        print(f"local-cluster: {err}", file=sys.stderr)
        return err.exit_code
    return errors.EXIT_SUCCESS
