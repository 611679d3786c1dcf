"""What the fuzzing tests share (see doc/design/fuzzing.rst).

The number of examples per target is small in the suite and set with
``GANETI_FUZZ_EXAMPLES`` for a longer run; after a run the daemons must
still be the same processes and their logs must hold no traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

from ganeti import constants, daemonutil
from ganeti.localcluster import LocalCluster

#: Examples per fuzzed target in the suite; raise it for a longer run.
EXAMPLES = int(os.environ.get("GANETI_FUZZ_EXAMPLES", "8"))

#: The hypothesis settings of every fuzzing test.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=False,
    suppress_health_check=list(HealthCheck), database=None)

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
