"""The logical units' use of instance allocators, on fake DRBD nodes:
``gnt-debug iallocator`` (``OpTestAllocator``) in every mode, the
cluster's default iallocator, an allocator of the test's own."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from drbd_fake_rpc import INST, NODES, Env, drbd_env

from ganeti import constants, errors, opcodes
from ganeti.iallocator import runner

P, S, OTHER = NODES


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from drbd_env(tmp_path)


def use_default(env: Env, name: str) -> None:
    cluster = env.cfg.get_cluster()
    cluster.default_iallocator = name
    env.cfg.update(cluster)


@pytest.mark.parametrize("mode", sorted(constants.VALID_IALLOCATOR_MODES))
def test_debug_request_of_every_mode(env: Env, mode: str) -> None:
    alloc = {"mem_size": 128, "vcpus": 1, "disks": [{"size": 64}],
             "disk_template": "drbd", "os": "debian-image", "nics": [{}]}
    values = dict(alloc) if "allocate" in mode else {"instances": [INST]}
    doc = json.loads(env.run(opcodes.OpTestAllocator(
        direction="in", mode=mode, name=INST if "allocate" not in mode
        else "new.example.com", count=2, **values)))
    assert doc["request"]["type"] == mode
    assert set(doc["nodes"]) == set(NODES)
    answer = json.loads(env.run(opcodes.OpTestAllocator(
        direction="out", mode=mode, allocator="builtin", name=INST if
        "allocate" not in mode else "new.example.com", count=2, **values)))
    assert answer["success"] is True
    if mode == constants.IALLOCATOR_MODE_RELOC:
        assert answer["result"] == [OTHER]
    if mode == constants.IALLOCATOR_MODE_MULTI_ALLOC:
        assert [a[0] for a in answer["result"][0]] == [
            "new.example.com-0", "new.example.com-1"]


def test_node_evacuate_uses_the_default_iallocator(env: Env) -> None:
    use_default(env, "builtin")
    env.run(opcodes.OpNodeEvacuate(node_name=S))
    assert env.inst().secondary_nodes == [OTHER]


def test_evacuation_refuses_an_answer_keeping_the_node(
        env: Env, tmp_path: Path) -> None:
    bin_dir = tmp_path / "iallocators"
    bin_dir.mkdir()
    liar = bin_dir / "liar"
    moved = [[[INST, "default", [P, S]]], [], []]
    liar.write_text("#!/bin/sh\necho '" + json.dumps(
        {"success": True, "info": "", "result": moved}) + "'\n")
    liar.chmod(liar.stat().st_mode | stat.S_IXUSR)
    runner.set_search_path((str(bin_dir),))
    env.fails(opcodes.OpNodeEvacuate(node_name=S, iallocator="liar"),
              errors.OpPrereqError, f"answered node {S}, which is being"
              " evacuated")
    assert env.inst().secondary_nodes == [S]
    assert "blockdev_create" not in env.fake.names()
