"""A real local cluster for integration tests (a pytest plugin).

Use in a test module::

    pytest_plugins = ["conftest_cluster"]

``cluster3`` is a running 3-node cluster (fake hypervisor) under
``tmp_path``: a :class:`ganeti.localcluster.LocalCluster` whose
``gnt(command, *args, node=K)`` runs the real ``gnt-*`` commands as on
node K (the master by default) and returns the CompletedProcess.  Each
cluster gets its own loopback addresses ``127.A.B.K`` (A from the pid,
B from a counter), so tests never share a node daemon address; every
daemon of the cluster is stopped at teardown.  ``make_cluster(nodes=N,
init_args=...)`` builds more (started; stopped at teardown).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from testkit import WAIT, wait_for  # noqa: F401  (re-exported: tests import it here)

from ganeti import constants, daemon
from ganeti.localcluster import LocalCluster, free_prefix
from ganeti.rpc.client import RpcClient
from ganeti.rpc.transport import HttpsTransport

_counter = itertools.count(1)


def _candidates() -> Iterator[str]:
    first = 100 + os.getpid() % 100
    for _ in range(250):
        yield f"127.{first}.{next(_counter) % 250 + 1}."


def _free_prefix(nodes: int = 1) -> str:
    """A loopback prefix of this process's own whose ``nodes`` node
    daemon addresses are free."""
    return free_prefix(_candidates(), nodes)


@contextmanager
def node_rpc(cluster: LocalCluster) -> Iterator[RpcClient]:
    """An RPC client reaching every node of the local cluster."""
    nodes = {n.name: n for n in cluster.nodes}

    class Info:
        def __init__(self, name: str) -> None:
            self.name = name
            self.primary_ip = nodes[name].ip
            self.offline = False

    transport = HttpsTransport(cluster.node(1).paths.noded_cert_file)
    rpc = RpcClient(lambda n: Info(n) if n in nodes else None, transport)
    try:
        yield rpc
    finally:
        rpc.close()
        transport.close()


def pid_alive(pid: int) -> bool:
    """A live process (not a zombie awaiting its parent's reaping)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def cluster_pids(cluster: LocalCluster) -> list[int]:
    pids = []
    for node in cluster.nodes:
        for name in constants.DAEMONS:
            pid = daemon.read_pid(node.paths.pid_file(name))
            if pid is not None:
                pids.append(pid)
    return pids


def ssconf_files(cluster: LocalCluster, index: int) -> dict[str, str]:
    node = cluster.node(index)
    prefix = os.path.basename(node.paths.ssconf_prefix)
    found = {}
    for name in sorted(os.listdir(node.paths.data_dir)):
        if name.startswith(prefix):
            with open(os.path.join(node.paths.data_dir, name),
                      encoding="utf-8") as handle:
                found[name] = handle.read()
    return found


def short_dir() -> str:
    """A new short directory: the master socket path under a node root
    must stay within the 107 bytes of a unix socket address, which
    pytest's tmp_path can exceed."""
    return tempfile.mkdtemp(prefix="lc-", dir="/tmp")


@contextmanager
def running_cluster(name: str, nodes: int, **kwargs: Any
                    ) -> Iterator[LocalCluster]:
    """A started local cluster in a new short directory (for fixtures of a
    wider scope than ``make_cluster``); stopped and removed at the end."""
    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, name), nodes=nodes,
                           prefix=_free_prefix(nodes), **kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., LocalCluster]]:
    made: list[LocalCluster] = []
    directory = short_dir()

    def make(nodes: int = 3, start: bool = True, **kwargs: Any) -> LocalCluster:
        cluster = LocalCluster(os.path.join(directory, f"c{len(made) + 1}"),
                               nodes=nodes, prefix=_free_prefix(nodes), **kwargs)
        made.append(cluster)
        if start:
            cluster.start()
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def cluster3(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    """A running 3-node local cluster."""
    return make_cluster(3)


def ok(res: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def node_file(cluster: LocalCluster, index: int, path: str) -> Path:
    """Where node ``index`` keeps the configured ``path``."""
    return Path(cluster.node(index).paths.under(path))


def write_master(cluster: LocalCluster, path: str, text: str) -> None:
    """Write ``path`` on node 1 (the first master)."""
    target = node_file(cluster, 1, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
