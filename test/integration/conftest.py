"""Shared fixtures of the integration tests: a real master daemon under a
temporary root, and a runner for the real ``gnt-*`` commands.

Node RPC transport.  ``ganeti-masterd`` defaults to ``https`` (every
node, the master included, runs a node daemon).  The tests of the queue,
the locks and the RAPI need no node daemon, so :class:`MasterDaemon`
starts them with ``--rpc-transport local`` (the master answers its own
node's calls in-process) unless a test names a transport.  A test that
wants the default, real HTTPS transport uses :func:`https_master`: the
cluster certificate is generated and a ``ganeti-noded`` of the master
runs on a loopback address of its own.

Every daemon started here is stopped and reaped in the fixture's teardown
(SIGTERM, then SIGKILL if it does not stop in time).  Waits poll a
condition with a deadline; nothing relies on a sleep being long enough.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

# The local-cluster fixtures, for every integration test module.
from conftest_cluster import (  # noqa: F401
    _free_prefix,
    cluster3,
    make_cluster,
    short_dir,
)
from testkit import WAIT, wait_for

from ganeti import (
    bootstrap,
    config,
    constants,
    daemonutil,
    errors,
    luxi,
    objects,
    pathutils,
)

ROOT = Path(__file__).resolve().parents[2]
MASTER = "node1.example.com"
CLUSTER = "cluster.example.com"
#: Generous: a loaded CI machine must not turn a wait into a failure.
WAIT_TIMEOUT = WAIT


def make_config(root: Path, extra_nodes: int = 0,
                master: str = MASTER, ip: str = "127.0.0.1") -> list[str]:
    """A single-master cluster config under ``root`` (plus ``extra_nodes``
    nodes named node2..., for lock tests); returns the node names."""
    paths = pathutils.Paths(str(root))
    os.makedirs(paths.data_dir, exist_ok=True)
    cluster = objects.Cluster(cluster_name=CLUSTER, master_node=master,
                              master_ip=ip)
    node = objects.Node(name=master, primary_ip=ip, secondary_ip=ip)
    saved = pathutils.get()
    pathutils.set_root(str(root))
    try:
        cfg = config.initialize(paths.cluster_conf_file, cluster, node)
        names = [master]
        try:
            for index in range(extra_nodes):
                name = f"node{index + 2}.example.com"
                ip = f"127.0.1.{index + 2}"
                cfg.add_node(objects.Node(name=name, primary_ip=ip,
                                          secondary_ip=ip))
                names.append(name)
        finally:
            cfg.close()
    finally:
        pathutils.set_root(saved.root)
    return names


def node_env(root: Path, hostname: str = MASTER) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        pathutils.ROOT_ENV: str(root),
        pathutils.HOSTNAME_ENV: hostname,
        "PYTHONPATH": str(ROOT / "pylib"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


class MasterDaemon:
    """One ``ganeti-masterd -f`` process under a root directory.

    ``transport`` is passed as ``--rpc-transport`` unless the arguments
    of :meth:`spawn` name one; None passes nothing (the daemon's default,
    ``https``)."""

    def __init__(self, root: Path, log_dir: Path,
                 transport: str | None = "local") -> None:
        self.root = root
        self.log_dir = log_dir
        self.transport = transport
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket = pathutils.Paths(str(root)).master_socket
        self._starts = 0

    def spawn(self, *args: str, hostname: str = MASTER
              ) -> subprocess.Popen[bytes]:
        """Start a masterd process without waiting for it."""
        self._starts += 1
        if self.transport is not None and not any(
                a.startswith("--rpc-transport") for a in args):
            args = ("--rpc-transport", self.transport, *args)
        out = open(self.log_dir / f"masterd-{self._starts}.out", "wb")  # noqa: SIM115
        try:
            return subprocess.Popen(
                [sys.executable, str(ROOT / "daemons" / "ganeti-masterd"),
                 "-f", *args], env=node_env(self.root, hostname),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(self.root))
        finally:
            out.close()

    def start(self, *args: str) -> MasterDaemon:
        """Start masterd and wait until it answers LUXI."""
        assert self.proc is None or self.proc.poll() is not None
        self.proc = self.spawn(*args)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"masterd exited with {self.proc.returncode}:\n"
                            f"{self.output()}")
            try:
                with self.client() as cl:
                    cl.query_config_values(["master_node"])
            except errors.GenericError:
                return False
            return True

        wait_for(ready, "the master daemon to answer")
        return self

    def client(self) -> luxi.Client:
        return luxi.Client(self.socket)

    def output(self) -> str:
        path = self.log_dir / f"masterd-{self._starts}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def terminate(self, timeout: float = WAIT_TIMEOUT) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(WAIT_TIMEOUT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.terminate(timeout=WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    # --- job helpers (LUXI, in this process) ----------------------------------

    def job_field(self, job_id: int, field: str) -> Any:
        with self.client() as cl:
            (row,) = cl.query_jobs([job_id], [field])
        return None if row is None else row[0]

    def wait_status(self, job_id: int, statuses: Sequence[str]) -> str:
        return str(wait_for(
            lambda: (self.job_field(job_id, "status") in statuses
                     and self.job_field(job_id, "status")),
            f"job {job_id} to reach {'/'.join(statuses)}"))


class Cli:
    """Runs the real ``gnt-*`` launchers against one root."""

    def __init__(self, root: Path, hostname: str = MASTER) -> None:
        self.root = root
        self.hostname = hostname

    def __call__(self, command: str, *args: str,
                 timeout: float = WAIT_TIMEOUT
                 ) -> subprocess.CompletedProcess[str]:
        directory = "daemons" if command.startswith("ganeti-") else "scripts"
        return subprocess.run(
            [sys.executable, str(ROOT / directory / command), *args],
            env=node_env(self.root, self.hostname), capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            cwd=str(self.root))


@pytest.fixture
def cluster_root() -> Iterator[Path]:
    """A temporary root holding a one-node cluster config, in a short
    directory (the master socket's path must fit a unix socket address,
    which tmp_path under pytest-xdist's worker directories does not)."""
    directory = Path(short_dir())
    root = directory / "root"
    root.mkdir()
    make_config(root)
    yield root
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def masterd_factory(tmp_path: Path
                    ) -> Iterator[Callable[..., MasterDaemon]]:
    """Makes master daemons (not started); stops every one at teardown.
    ``make(root, transport="local")``: see :class:`MasterDaemon`."""
    made: list[MasterDaemon] = []

    def make(root: Path, transport: str | None = "local") -> MasterDaemon:
        log_dir = tmp_path / f"logs-{len(made)}"
        log_dir.mkdir()
        daemon = MasterDaemon(root, log_dir, transport)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.stop()


@pytest.fixture
def master(cluster_root: Path,
           masterd_factory: Callable[[Path], MasterDaemon]) -> MasterDaemon:
    """A running master daemon on a one-node cluster."""
    return masterd_factory(cluster_root).start()


class HttpsMaster:
    """A master daemon with its default HTTPS transport, the cluster
    certificate and the master's own node daemon (see the module doc)."""

    def __init__(self, root: Path, ip: str, master: MasterDaemon) -> None:
        self.root = root
        self.ip = ip
        self.paths = pathutils.Paths(str(root))
        self.master = master
        self.gnt = Cli(root)


@pytest.fixture
def https_master(masterd_factory: Callable[..., MasterDaemon]
                 ) -> Iterator[HttpsMaster]:
    # Short: the master socket path must fit a unix socket address.
    root = Path(short_dir())
    ip = f"{_free_prefix()}1"
    make_config(root, ip=ip)
    paths = pathutils.Paths(str(root))
    bootstrap.generate_secrets(paths)
    env = {pathutils.ROOT_ENV: str(root), pathutils.HOSTNAME_ENV: MASTER}
    daemonutil.start(constants.NODED, ["-b", ip], env=env)
    try:
        master = masterd_factory(root, None).start()
        yield HttpsMaster(root, ip, master)
        master.stop()
    finally:
        daemonutil.stop(constants.NODED, paths)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def gnt(cluster_root: Path) -> Cli:
    """Runs ``gnt-*`` commands against :func:`cluster_root`."""
    return Cli(cluster_root)
