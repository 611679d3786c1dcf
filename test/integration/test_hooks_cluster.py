"""Hooks run by real node daemons: a failing pre hook stops the operation
with a message naming node and script; post hooks get the environment."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ganeti.localcluster import LocalCluster, LocalNode

pytestmark = pytest.mark.integration


def hook(node: LocalNode, hpath: str, phase: str, name: str, body: str) -> Path:
    directory = Path(node.paths.hooks_dir) / f"{hpath}-{phase}.d"
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_pre_hook_refuses_and_post_hook_sees_environment(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(2)
    master, node2 = cluster.node(1), cluster.node(2)
    record = Path(node2.root) / "post-env"
    hook(node2, "node-modify", "pre", "10-deny",
         'echo "no changes to $GANETI_OP_TARGET today"; exit 1')
    res = cluster.gnt("gnt-node", "modify", "-D", "yes", node2.name)
    assert res.returncode == 1
    out = " ".join((res.stdout + res.stderr).split())
    assert f"{node2.name}: script 10-deny failed" in out
    assert f"no changes to {node2.name} today" in out
    # Nothing changed: the node is not drained.
    listing = cluster.gnt("gnt-node", "list", "--no-headers", "-o",
                          "name,drained", "--separator=|")
    assert f"{node2.name}|N" in listing.stdout

    os.unlink(Path(node2.paths.hooks_dir) / "node-modify-pre.d" / "10-deny")
    hook(node2, "node-modify", "post", "20-record", f"env > {record}")
    res = cluster.gnt("gnt-node", "modify", "-D", "yes", node2.name)
    assert res.returncode == 0, res.stderr
    env = dict(line.split("=", 1) for line in record.read_text().splitlines()
               if "=" in line)
    assert env["GANETI_HOOKS_PHASE"] == "post"
    assert env["GANETI_HOOKS_PATH"] == "node-modify"
    assert env["GANETI_OP_CODE"] == "OP_NODE_SET_PARAMS"
    assert env["GANETI_MASTER"] == master.name
    assert env["GANETI_CLUSTER"] == cluster.cluster_name
    assert env["GANETI_HOOKS_VERSION"] == "2"
    assert env["GANETI_DATA_DIR"].startswith(node2.root)
    assert env["GANETI_OP_TARGET"] == node2.name
    assert env["GANETI_DRAINED"] == "True"
