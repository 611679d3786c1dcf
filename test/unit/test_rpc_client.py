"""RpcClient: parallel fan-out, per-call timeouts, one result per node."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from ganeti import errors
from ganeti.rpc import defs
from ganeti.rpc.client import LocalTransport, RpcClient
from ganeti.rpc.result import RpcResult


@dataclasses.dataclass
class Node:
    name: str
    primary_ip: str
    offline: bool = False


NODES = {f"node{i}": Node(f"node{i}", f"127.0.0.{i}") for i in range(1, 11)}
NODES["off"] = Node("off", "127.0.0.99", offline=True)


class BarrierTransport:
    """Answers only when ``parties`` calls are in flight at once: a
    sequential fan-out would fail with BrokenBarrierError."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.seen: list[tuple[str, str, str, list[Any], float]] = []
        self.lock = threading.Lock()

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        with self.lock:
            self.seen.append((node, address, call, args, timeout))
        self.barrier.wait()
        return RpcResult(node, call, payload=30)


def test_fan_out_is_parallel_with_the_table_timeout() -> None:
    names = [f"node{i}" for i in range(1, 11)]
    transport = BarrierTransport(len(names))
    client = RpcClient(NODES.get, transport)
    try:
        results = client.call_version(names)
    finally:
        client.close()
    assert list(results) == names
    assert all(r.payload == 30 and not r.failed for r in results.values())
    assert {s[1] for s in transport.seen} == {f"127.0.0.{i}" for i in range(1, 11)}
    assert {s[4] for s in transport.seen} == {float(defs.Timeout.URGENT)}


def test_offline_unknown_and_duplicate_nodes() -> None:
    transport = BarrierTransport(1)
    client = RpcClient(NODES.get, transport)
    results = client.call("version", ["off", "ghost", "node1", "node1"])
    client.close()
    assert results["off"].offline and results["off"].failed
    assert results["ghost"].fail_msg == "node not in the config"
    assert results["node1"].payload == 30
    assert len(transport.seen) == 1
    with pytest.raises(errors.NodeUnreachableError, match="node off"):
        results["off"].raise_on_fail()


def test_transport_bug_and_bad_result_become_failures() -> None:
    def broken(node: str, address: str, call: str, args: list[Any],
               timeout: float) -> RpcResult:
        if node == "node1":
            raise ValueError("bug")
        return RpcResult(node, call, payload="not an int")
    client = RpcClient(NODES.get, broken)
    results = client.call_version(["node1", "node2"])
    client.close()
    assert results["node1"].fail_msg == "ValueError: bug"
    assert results["node2"].fail_msg is not None
    assert results["node2"].fail_msg.startswith("invalid result: expected an integer")


def test_arguments_are_checked_before_sending() -> None:
    client = RpcClient(NODES.get, LocalTransport())
    with pytest.raises(errors.ProgrammerError, match="expected 1 arguments"):
        client.call_test_delay(["node1"])
    with pytest.raises(errors.ProgrammerError, match="duration"):
        client.call_test_delay(["node1"], -1)
    with pytest.raises(errors.ProgrammerError, match="Unknown RPC call"):
        client.call("nope", ["node1"])
    assert client.call_test_delay(["node1"], 0)["node1"].payload is None
    client.close()


class BatchTransport:
    """A transport with ``call_many``: gets a whole fan-out in one batch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str, str, list[Any], float]]] = []

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        raise AssertionError("a batch transport is called through call_many")

    def call_many(self, calls: list[tuple[str, str, str, list[Any], float]]
                  ) -> list[tuple[RpcResult, float]]:
        self.batches.append(list(calls))
        answers = []
        for node, _address, call, _args, _timeout in calls:
            if node == "node2":
                res = RpcResult(node, call, fail_msg="Error 111: refused")
            elif node == "node3":
                res = RpcResult(node, call, payload="not a version")
            else:
                res = RpcResult(node, call, payload=30)
            answers.append((res, 0.25))
        return answers


def test_batch_transport_gets_the_whole_fan_out_at_once() -> None:
    transport = BatchTransport()
    client = RpcClient(NODES.get, transport)
    seen: list[tuple[str, float, bool]] = []
    client.observer = lambda node, seconds, failed: seen.append(
        (node, seconds, failed))
    try:
        results = client.call_version(["node1", "off", "node2", "nope",
                                       "node3", "node1"])
    finally:
        client.close()
    assert [[c[0] for c in batch] for batch in transport.batches] == [
        ["node1", "node2", "node3"]]
    assert {c[4] for c in transport.batches[0]} == {float(defs.Timeout.URGENT)}
    assert list(results) == ["node1", "off", "node2", "nope", "node3"]
    assert results["node1"].payload == 30
    assert results["off"].offline
    assert results["node2"].fail_msg == "Error 111: refused"
    assert results["nope"].fail_msg == "node not in the config"
    fail_msg = results["node3"].fail_msg
    assert fail_msg is not None and fail_msg.startswith("invalid result")
    assert seen == [("node1", 0.25, False), ("node2", 0.25, True),
                    ("node3", 0.25, True)]


def test_batch_transport_bug_fails_every_node_of_the_batch() -> None:
    class Broken(BatchTransport):
        def call_many(self, calls: list[tuple[str, str, str, list[Any], float]]
                      ) -> list[tuple[RpcResult, float]]:
            raise RuntimeError("bug")

    client = RpcClient(NODES.get, Broken())
    try:
        results = client.call_version(["node1", "node2"])
    finally:
        client.close()
    assert {r.fail_msg for r in results.values()} == {"RuntimeError: bug"}
