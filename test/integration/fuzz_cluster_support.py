"""Fixtures of the fuzzing tests (a pytest plugin:
``pytest_plugins = ["fuzz_cluster_support"]``; import it at run time only
through that, so that its asserts are rewritten): ``cluster``, a 1-node
local cluster for the module, and ``watch``, its daemons under watch
(see doc/design/fuzzing.rst).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import running_cluster

from ganeti import constants, daemonutil
from ganeti.localcluster import LocalCluster

_DAEMONS = (constants.NODED, constants.MASTERD, constants.RAPI)


def daemon_pids(cluster: LocalCluster) -> dict[tuple[str, str], int | None]:
    """The pid of each node's noded, masterd and RAPI (None: not running)."""
    return {(node.name, name): daemonutil.running_pid(name, node.paths)
            for node in cluster.nodes for name in _DAEMONS}


def log_offsets(cluster: LocalCluster) -> dict[str, int]:
    """The current size of every daemon log, to read only what follows."""
    offsets = {}
    for node in cluster.nodes:
        for name in _DAEMONS:
            path = node.paths.log_file(name)
            offsets[path] = os.path.getsize(path) if os.path.exists(path) \
                else 0
    return offsets


class Watch:
    """The daemons of a cluster under fuzzing: :meth:`check` fails when
    one was replaced or died, or logged a traceback since the last
    check (so that the failing example is the one that caused it)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.pids = daemon_pids(cluster)
        self.offsets = log_offsets(cluster)

    def check(self) -> None:
        assert daemon_pids(self.cluster) == self.pids
        found = new_tracebacks(self.offsets)
        self.offsets = log_offsets(self.cluster)
        assert found == []


def new_tracebacks(offsets: dict[str, int]) -> list[str]:
    """Log files that gained a traceback since ``offsets`` was taken,
    each with the lines that follow it."""
    found = []
    for path, start in offsets.items():
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        index = text.find("Traceback (most recent call last)")
        if index >= 0:
            found.append(f"{Path(path).name}: {text[index:index + 2000]}")
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with running_cluster("fuzz", 1) as started:
        yield started


@pytest.fixture(scope="module")
def watch(cluster: LocalCluster) -> Watch:
    return Watch(cluster)
