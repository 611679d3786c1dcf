"""Replication that never silently falls behind: failed pushes make a
node *behind*, a catch-up compares what it holds with the master's files
and sends the rest (with backoff between attempts); verify's wait for
pending pushes has one bound in all."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, node_name, write_config

from ganeti import objects, pathutils, redist, replica, replication, serializer
from ganeti.config import journal
from ganeti.rpc.result import RpcResult
from ganeti.utils import retry

N1, N2, N3 = node_name(1), node_name(2), node_name(3)


class FakeCfg:
    def __init__(self, data: objects.ConfigData) -> None:
        self.data = data

    def get_master_candidates(self) -> list[objects.Node]:
        return [n for n in self.data.nodes.values() if n.master_candidate]

    def get_serial_no(self) -> int:
        return self.data.serial_no

    def journal_since(self, _serial: int) -> list[bytes] | None:
        return None  # no journal here: the whole files


class Replica:
    """A candidate's files, held in memory; ``down`` makes calls fail."""

    def __init__(self) -> None:
        self.queue: dict[str, bytes] = {}
        self.archive: dict[str, bytes] = {}
        self.config: bytes | None = None
        self.journal: bytes | None = None
        self.down = False

    def state(self) -> dict[str, Any]:
        serial = None
        if self.config is not None:
            serial = serializer.loads(self.config)["serial_no"]
        return {replica.KEY_CONFIG_SERIAL: serial,
                replica.KEY_QUEUE: {n: _sha1(c) for n, c in self.queue.items()}}


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class ReplicaRpc:
    """The node RPCs replication uses, applied to :class:`Replica` s."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = {n: Replica() for n in nodes}
        self.calls: list[tuple[str, str]] = []

    def _each(self, call: str, nodes: list[str], apply: Any
              ) -> dict[str, RpcResult]:
        out = {}
        for node in nodes:
            self.calls.append((call, node))
            rep = self.nodes[node]
            if rep.down:
                out[node] = RpcResult(node, call, fail_msg="Error 111: "
                                      "Connection refused")
            else:
                out[node] = RpcResult(node, call, payload=apply(rep))
        return out

    def call_jobqueue_update(self, nodes: list[str], name: str,
                             content: list[str]) -> dict[str, RpcResult]:
        data = redist.decode_data(content)
        return self._each("jobqueue_update", nodes,
                          lambda r: r.queue.__setitem__(name, data))

    def call_jobqueue_rename(self, nodes: list[str], renames: list[list[str]]
                             ) -> dict[str, RpcResult]:
        def apply(r: Replica) -> None:
            for old, new in renames:
                if old in r.queue:
                    r.archive[new] = r.queue.pop(old)
        return self._each("jobqueue_rename", nodes, apply)

    def call_replica_state(self, nodes: list[str]) -> dict[str, RpcResult]:
        return self._each("replica_state", nodes, lambda r: r.state())

    def call_upload_file(self, nodes: list[str], path: str,
                         data: list[str], *_rest: Any) -> dict[str, RpcResult]:
        conf = pathutils.Paths("").cluster_conf_file
        assert path in (conf, journal.journal_path(conf))
        content = redist.decode_data(data)
        return self._each("upload_file", nodes, lambda r: setattr(
            r, "config" if path == conf else "journal", content))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def master(tmp_path: Path) -> Iterator[tuple[pathutils.Paths, FakeCfg]]:
    paths = pathutils.set_root(str(tmp_path))
    os.makedirs(paths.data_dir)
    os.makedirs(paths.queue_dir)
    data = make_config(nodes=3)
    data.serial_no = 7
    write_config(paths.cluster_conf_file, data)
    try:
        yield paths, FakeCfg(data)
    finally:
        pathutils.set_root(None)


def write_job(paths: pathutils.Paths, name: str, content: bytes) -> None:
    Path(paths.queue_dir, name).write_bytes(content)


def test_failed_push_makes_the_node_behind_then_catch_up_sends_the_rest(
        master: tuple[pathutils.Paths, FakeCfg]) -> None:
    paths, cfg = master
    rpc = ReplicaRpc([N2, N3])
    clock = Clock()
    rep = replication.QueueReplicator(
        cfg, rpc, N1, clock=clock,  # type: ignore[arg-type]
        backoff=(1, 2, 4))
    rpc.nodes[N3].down = True
    for job in (1, 2, 3):
        write_job(paths, f"job-{job}", b"job %d" % job)
        write_job(paths, "serial", b"%d\n" % job)
        rep.on_batch({f"job-{job}": b"job %d" % job, "serial": b"%d\n" % job},
                     [])
        rep.run_round(True, [])
    # The first failure made node3 behind: no more pushes to it, but a
    # catch-up attempt with each later change.
    assert rep.behind() == [N3]
    assert [c for c in rpc.calls if c[1] == N3] == [
        ("jobqueue_update", N3), ("replica_state", N3), ("replica_state", N3)]
    assert sorted(rpc.nodes[N2].queue) == ["job-1", "job-2", "job-3", "serial"]
    # Without changes, its retry is due after the backoff, which doubled
    # with each failure up to its limit (4 s).
    assert rep._due() == []
    clock.now += 3.5
    assert rep._due() == []
    clock.now += 0.5
    assert rep._due() == [N3]
    rep.run_round(False, rep._due())  # down again: 4 s more
    assert rep.behind() == [N3]
    clock.now += 3
    assert rep._due() == []
    clock.now += 1
    rpc.nodes[N3].down = False
    rep.run_round(False, rep._due())
    assert rep.behind() == []
    assert rpc.nodes[N3].queue == rpc.nodes[N2].queue


def test_backoff_is_bounded() -> None:
    delays: list[float] = []
    delay = None
    for _ in range(6):
        delay = retry.next_delay((1, 2, 5), delay)
        delays.append(delay)
    assert delays == [1, 2, 4, 5, 5, 5]


def test_master_start_catch_up_fills_a_candidate_left_behind(
        master: tuple[pathutils.Paths, FakeCfg]) -> None:
    """The master daemon died with pushes in memory: the candidates hold
    an old serial, a "running" job and miss later jobs; the new master
    daemon's catch-up makes them equal to the master's files."""
    paths, cfg = master
    rpc = ReplicaRpc([N2, N3])
    for rep_node in rpc.nodes.values():
        rep_node.queue = {"serial": b"2\n", "job-1": b"done",
                          "job-2": b"running"}
    write_job(paths, "serial", b"5\n")
    for job, text in [(2, b"done"), (3, b"done"), (4, b"queued"),
                      (5, b"queued")]:
        write_job(paths, f"job-{job}", text)
    os.makedirs(os.path.join(paths.queue_dir, "archive", "0"))
    write_job(paths, "archive/0/job-1", b"done (archived)")
    for cls in (replication.QueueReplicator, replication.ConfigReplicator):
        rep = cls(cfg, rpc, N1)  # type: ignore[arg-type]
        rep.catch_up()
        rep.run_round(False, rep._due())
        assert rep.behind() == []
    here = replica.queue_files(paths.queue_dir)
    for node in (N2, N3):
        state = rpc.nodes[node].state()
        assert state[replica.KEY_QUEUE] == here
        assert state[replica.KEY_CONFIG_SERIAL] == 7
        assert rpc.nodes[node].archive == {"archive/0/job-1":
                                           b"done (archived)"}


def test_catch_up_of_a_current_node_sends_nothing(
        master: tuple[pathutils.Paths, FakeCfg]) -> None:
    paths, cfg = master
    write_job(paths, "job-1", b"x")
    rpc = ReplicaRpc([N2, N3])
    for rep_node in rpc.nodes.values():
        rep_node.queue = {"job-1": b"x"}
        rep_node.config = Path(paths.cluster_conf_file).read_bytes()
    for cls in (replication.QueueReplicator, replication.ConfigReplicator):
        rep = cls(cfg, rpc, N1)  # type: ignore[arg-type]
        rep.catch_up()
        rep.run_round(False, rep._due())
    assert {call for call, _ in rpc.calls} == {"replica_state"}


def test_lag_says_how_far() -> None:
    master = {replica.KEY_CONFIG_SERIAL: 44,
              replica.KEY_QUEUE: {"serial": "s5", "job-4": "a", "job-5": "b"}}
    node = {replica.KEY_CONFIG_SERIAL: 41,
            replica.KEY_QUEUE: {"serial": "s3", "job-3": "old", "job-4": "a"}}
    lag = replica.compare(master, node)
    assert (lag.config_behind, lag.queue_outdated, lag.queue_archived) == (
        3, ("serial", "job-5"), ("job-3",))
    assert lag.describe_queue() == ("1 job file(s) missing or outdated, queue"
                                    " serial outdated, 1 archived job(s)"
                                    " still live")
    # A job that changed on the master meanwhile does not count.
    after = {replica.KEY_CONFIG_SERIAL: 45,
             replica.KEY_QUEUE: {"serial": "s6", "job-4": "a", "job-5": "c"}}
    assert replica.stable_lag(master, after, node).queue_outdated == ()


class SlowFlush:
    """A replicator that stays busy for the whole time it is given."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.given: list[float] = []

    def flush(self, timeout: float = 30.0) -> bool:
        self.given.append(timeout)
        self.clock[0] += timeout
        return False


def test_flush_all_has_one_deadline_for_all_replicators(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung candidate keeps every replicator busy: verify must wait the
    bound once, not once per replicator (60 s with two)."""
    now = [100.0]
    monkeypatch.setattr(replication.time, "monotonic", lambda: now[0])
    cfg = FakeCfg(make_config(nodes=1))
    items = [SlowFlush(now), SlowFlush(now), SlowFlush(now)]
    for item in items:
        replication.register(cfg, item)  # type: ignore[arg-type]
    assert replication.flush_all(cfg, 10) is False  # type: ignore[arg-type]
    assert [i.given for i in items] == [[10], [0], [0]]
    assert now[0] == 110
