"""Node add/remove logical units and the master candidate pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, make_node, write_config

from ganeti import config, constants, errors, locking, opcodes, redist
from ganeti.cmdlib import node_membership as nm
from ganeti.cmdlib.base import LUContext
from ganeti.locking import manager as lockmgr
from ganeti.rpc.client import RpcClient
from ganeti.rpc.result import RpcResult


class FakeTransport:
    """Answers every call from a table; records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, list[Any]]] = []
        self.down: set[str] = set()
        self.version = constants.PROTOCOL_VERSION
        #: Times the kept-alive connections were dropped.
        self.dropped = 0

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        self.sent.append((node, address, call, args))
        if node in self.down:
            return RpcResult(node, call, fail_msg="Error 111: Connection "
                             "refused")
        payload = self.version if call == "version" else None
        return RpcResult(node, call, payload=payload)

    def calls(self, name: str) -> list[tuple[str, str]]:
        return [(n, a) for n, a, c, _ in self.sent if c == name]

    def drop_idle(self) -> None:
        self.dropped += 1


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[tuple[Any, FakeTransport, Any, list[list[str]]]]:
    data = make_config(nodes=2, instances=[{"primary": "node2.example.com"}],
                       candidate_pool_size=2)
    path = write_config(tmp_path / "config.data", data)
    distributed: list[list[str]] = []
    monkeypatch.setattr(redist, "distribute_files",
                        lambda ctx, nodes=None, feedback=None:
                        distributed.append(list(nodes or [])))
    with config.ConfigWriter(path) as cfg:
        transport = FakeTransport()
        glm = locking.GanetiLockManager(nodes=cfg.node_names(),
                                        instances=cfg.instance_names())
        ctx = LUContext(cfg=cfg, rpc=RpcClient(cfg.get_node, transport),
                        master="node1.example.com", glm=glm)
        yield ctx, transport, glm, distributed
        ctx.rpc.close()


def run_lu(ctx: Any, op: opcodes.OpCode) -> tuple[Any, list[str]]:
    lu_cls = {opcodes.OpNodeAdd: nm.LUNodeAdd,
              opcodes.OpNodeRemove: nm.LUNodeRemove}[type(op)]
    msgs: list[str] = []
    lu = lu_cls(ctx, op, msgs.append)
    glm = ctx.glm
    glm.acquire(lockmgr.LEVEL_CLUSTER, [lockmgr.BGL], shared=False)
    try:
        lu.check_prereq()
        return lu.execute(msgs.append), msgs
    finally:
        for level in reversed(lockmgr.LEVELS):
            if glm.is_owned(level):
                glm.release(level)
        # Whatever happened, the node locks are the configured nodes.
        assert glm.names(lockmgr.LEVEL_NODE) == sorted(ctx.cfg.node_names())


def add_op(i: int, **kwargs: Any) -> opcodes.OpNodeAdd:
    return opcodes.OpNodeAdd(node_name=f"node{i}.example.com",
                             primary_ip=f"192.0.2.{i}",
                             secondary_ip=f"198.51.100.{i}", **kwargs)


def test_candidate_pool_promotes_in_name_order(tmp_path: Path) -> None:
    data = make_config(nodes=5, candidate_pool_size=3)
    for i, node in enumerate(data.nodes.values()):
        node.master_candidate = i == 0
    data.nodes["node2.example.com"].offline = True
    data.nodes["node3.example.com"].drained = True
    with config.ConfigWriter(write_config(tmp_path / "c", data)) as cfg:
        assert nm.candidate_stats(cfg) == (1, 3, 3)
        msgs: list[str] = []
        assert nm.maintain_candidate_pool(cfg, feedback=msgs.append) == [
            "node4.example.com", "node5.example.com"]
        assert msgs == ["Promoted node node4.example.com to master candidate",
                        "Promoted node node5.example.com to master candidate"]
        assert nm.maintain_candidate_pool(cfg) == []
        assert nm.candidate_stats(cfg, ["node5.example.com"]) == (2, 2, 2)


def test_add_node(env: Any) -> None:
    ctx, transport, glm, distributed = env
    run_lu(ctx, add_op(3))
    node = ctx.cfg.get_node("node3.example.com")
    assert node.primary_ip == "192.0.2.3"
    # The pool (2) is full with node1 and node2: no promotion.
    assert not node.master_candidate
    assert "node3.example.com" in glm.names(lockmgr.LEVEL_NODE)
    assert transport.calls("version") == [("node3.example.com", "192.0.2.3")]
    assert transport.calls("write_ssconf_files") == [
        ("node3.example.com", "192.0.2.3")]
    assert distributed == [["node3.example.com"]]
    # The RPC client's own transport forgets its idle connections (it is
    # not closed: the C engine kept no connection after being closed).
    assert transport.dropped == 1


def test_add_node_with_node_parameters(env: Any) -> None:
    ctx, _transport, _glm, _ = env
    run_lu(ctx, add_op(3, ndparams={"spindle_count": "2", "ovs": "yes"}))
    node = ctx.cfg.get_node("node3.example.com")
    assert node.ndparams == {"spindle_count": 2, "ovs": True}
    with pytest.raises(errors.OpPrereqError, match="not per node"):
        run_lu(ctx, add_op(4, ndparams={"exclusive_storage": True}))
    assert ctx.cfg.get_node("node4.example.com") is None


def test_add_node_becomes_candidate_when_pool_needs_it(env: Any) -> None:
    ctx, _transport, _glm, _ = env
    cluster = ctx.cfg.get_cluster()
    cluster.candidate_pool_size = 3
    ctx.cfg.update(cluster)
    _, msgs = run_lu(ctx, add_op(3))
    assert ctx.cfg.get_node("node3.example.com").master_candidate
    assert any("master candidate" in m for m in msgs)


def test_add_refusals(env: Any) -> None:
    ctx, transport, _glm, _ = env
    with pytest.raises(errors.OpPrereqError, match="already in the conf"):
        run_lu(ctx, add_op(2))
    with pytest.raises(errors.OpPrereqError, match="not in the configuration"):
        run_lu(ctx, add_op(7, readd=True))
    with pytest.raises(errors.OpPrereqError, match="IP address of node"):
        run_lu(ctx, opcodes.OpNodeAdd(node_name="node9.example.com",
                                      primary_ip="192.0.2.2",
                                      secondary_ip="198.51.100.9"))
    with pytest.raises(errors.OpPrereqError, match="secondary IP"):
        run_lu(ctx, opcodes.OpNodeAdd(node_name="node9.example.com",
                                      primary_ip="192.0.2.9"))
    transport.down = {"node3.example.com"}
    with pytest.raises(errors.OpPrereqError,
                       match=r"Cannot contact the node daemon of node3.*refused"):
        run_lu(ctx, add_op(3))
    transport.down = set()
    transport.version = 1
    with pytest.raises(errors.OpPrereqError, match="protocol version 1"):
        run_lu(ctx, add_op(3))
    assert ctx.cfg.get_node("node3.example.com") is None


def test_readd_keeps_addresses_and_clears_flags(env: Any) -> None:
    ctx, _transport, _glm, distributed = env
    node = ctx.cfg.get_node("node2.example.com")
    node.offline = True
    node.master_candidate = False
    ctx.cfg.update(node)
    with pytest.raises(errors.OpPrereqError, match="keep its addresses"):
        run_lu(ctx, opcodes.OpNodeAdd(node_name="node2.example.com",
                                      primary_ip="192.0.2.99", readd=True))
    run_lu(ctx, opcodes.OpNodeAdd(node_name="node2.example.com", readd=True))
    node = ctx.cfg.get_node("node2.example.com")
    assert not node.offline and node.master_candidate
    assert distributed == [["node2.example.com"]]


def test_remove_node(env: Any) -> None:
    ctx, transport, glm, distributed = env
    run_lu(ctx, add_op(3))
    with pytest.raises(errors.OpPrereqError, match="master node"):
        run_lu(ctx, opcodes.OpNodeRemove(node_name="node1"))
    with pytest.raises(errors.OpPrereqError, match=r"inst1\.example\.com"):
        run_lu(ctx, opcodes.OpNodeRemove(node_name="node2.example.com"))
    with pytest.raises(errors.OpPrereqError, match="not known"):
        run_lu(ctx, opcodes.OpNodeRemove(node_name="node8.example.com"))
    ctx.cfg.remove_instance("inst1.example.com")
    _, msgs = run_lu(ctx, opcodes.OpNodeRemove(node_name="node2"))
    assert ctx.cfg.get_node("node2.example.com") is None
    assert "node2.example.com" not in glm.names(lockmgr.LEVEL_NODE)
    assert transport.calls("node_leave_cluster") == [
        ("node2.example.com", "192.0.2.2")]
    # node2 was a candidate: node3 takes its place and gets the files.
    assert ctx.cfg.get_node("node3.example.com").master_candidate
    assert distributed[-1] == ["node3.example.com"]
    assert "Promoted node node3.example.com to master candidate" in msgs


def test_remove_unreachable_node_still_removes(env: Any) -> None:
    ctx, transport, _glm, _ = env
    ctx.cfg.add_node(make_node(4, master_candidate=False))
    transport.down = {"node4.example.com"}
    _, msgs = run_lu(ctx, opcodes.OpNodeRemove(node_name="node4.example.com"))
    assert ctx.cfg.get_node("node4.example.com") is None
    assert any("could not leave" in m for m in msgs)
