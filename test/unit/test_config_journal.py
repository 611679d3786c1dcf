"""The configuration journal: changes applied through it, compactions,
candidates' copies (:class:`journal.Replica`), and the replicator that
feeds them journal lines."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from config_builders import make_config, make_instance, node_name, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import errors, objects, replica, replication, serializer
from ganeti.config import ConfigWriter, journal
from ganeti.config.tracker import ChangeTracker
from ganeti.rpc.result import RpcResult

MODE = 0o600


def files_of(path: str) -> tuple[bytes, bytes]:
    jpath = journal.journal_path(path)
    return (Path(path).read_bytes(),
            Path(jpath).read_bytes() if os.path.exists(jpath) else b"")


def apply_change(cfg: ConfigWriter, kind: int, rng: random.Random,
                 counter: list[int]) -> None:
    """One random change through the writer's public methods."""
    names = cfg.instance_names()
    nodes = cfg.node_names()
    if kind == 0 or not names:
        counter[0] += 1
        i = 1000 + counter[0]
        inst = make_instance(i, rng.choice(nodes), nics=0,
                             disk_template="diskless")
        inst.nics = [objects.NIC(mac=cfg.generate_mac())]
        cfg.add_instance(inst)
    elif kind == 1:
        cfg.remove_instance(rng.choice(names))
    elif kind == 2:
        inst = cfg.get_instance(rng.choice(names))
        assert inst is not None
        inst.tags = [f"t{rng.randrange(1000)}"]
        cfg.update(inst)
    elif kind == 3:
        name = rng.choice(names)
        inst = cfg.get_instance(name)
        assert inst is not None
        cfg.set_instance_admin_up(name, not inst.admin_up)
    elif kind == 4:
        counter[0] += 1
        cfg.rename_instance(rng.choice(names),
                            f"renamed{counter[0]}.example.com")
    elif kind == 5:
        cfg.allocate_port()
    else:
        cluster = cfg.get_cluster()
        cluster.tags = [f"c{rng.randrange(1000)}"]
        cfg.update(cluster)


def fresh_indexes(cfg: ConfigWriter) -> dict[str, Any]:
    tracker = ChangeTracker(cfg.get_config_data())
    return {"uuids": tracker.uuids, "idents": tracker.idents,
            "macs": tracker.macs, "ports": tracker.ports,
            "inst_uuids": tracker.inst_uuids}


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 6), st.booleans(),
                                st.booleans()), min_size=1, max_size=25),
       seed=st.integers(0, 2**32 - 1), tiny=st.booleans())
def test_changes_through_the_journal_equal_the_whole_document(
        steps: list[tuple[int, bool, bool]], seed: int, tiny: bool) -> None:
    """After any sequence of changes, compacted at random points (and, with
    ``tiny``, automatically every few changes): the files read as the
    writer's document; a new writer loads the same; a candidate fed the
    journal lines holds identical files; the indexes equal fresh ones."""
    rng = random.Random(seed)
    old_min = journal.MIN_COMPACT_BYTES
    journal.MIN_COMPACT_BYTES = 0 if tiny else old_min
    tmp = tempfile.mkdtemp()
    try:
        path = write_config(os.path.join(tmp, "config.data"),
                            make_config(3, 4))
        replica_dir = os.path.join(tmp, "candidate")
        os.mkdir(replica_dir)
        copy = os.path.join(replica_dir, "config.data")
        shutil.copy(path, copy)
        replica = journal.Replica()
        counter = [0]
        with ConfigWriter(path, rng=rng) as cfg:
            known = cfg.get_serial_no()
            for kind, compact, feed in steps:
                apply_change(cfg, kind, rng, counter)
                if compact:
                    cfg.compact()
                expected = cfg.get_config_data()
                assert journal.read_document(path) == expected.to_dict()
                assert journal.read_serial(path) == expected.serial_no
                assert {k: v for k, v in fresh_indexes(cfg).items()} == {
                    "uuids": cfg._tracker.uuids, "idents": cfg._tracker.idents,
                    "macs": cfg._tracker.macs, "ports": cfg._tracker.ports,
                    "inst_uuids": cfg._tracker.inst_uuids}
                if not feed:
                    continue
                lines = cfg.journal_since(known)
                if lines is None:  # compacted away: the whole files
                    for src, dst in ((path, copy),
                                     (journal.journal_path(path),
                                      journal.journal_path(copy))):
                        shutil.copy(src, dst)
                else:
                    replica.append(copy, lines, MODE)
                known = cfg.get_serial_no()
                assert files_of(copy) == files_of(path)
                assert journal.read_serial(copy) == known
        with ConfigWriter(path, offline=True) as again:
            assert again.get_config_data() == expected
    finally:
        journal.MIN_COMPACT_BYTES = old_min
        shutil.rmtree(tmp)


@pytest.fixture
def cfg_path(tmp_path: Path) -> str:
    return write_config(tmp_path / "config.data", make_config(2, 3))


def test_one_change_appends_one_line(cfg_path: str) -> None:
    with ConfigWriter(cfg_path) as cfg:
        base = Path(cfg_path).read_bytes()
        inst = cfg.get_instance("inst1.example.com")
        assert inst is not None
        inst.tags = ["x"]
        cfg.update(inst)
        assert Path(cfg_path).read_bytes() == base  # not rewritten
        lines = Path(journal.journal_path(cfg_path)).read_bytes()
        assert lines.count(b"\n") == 1
        entry = serializer.loads(lines)
        assert entry["serial"] == cfg.get_serial_no()
        assert list(entry["items"]) == ["instances"]
        assert list(entry["items"]["instances"]) == ["inst1.example.com"]
        assert cfg.journal_since(cfg.get_serial_no() - 1) == [lines]


def test_readers_see_the_journal(cfg_path: str) -> None:
    with ConfigWriter(cfg_path) as cfg:
        cfg.set_instance_admin_up("inst2.example.com", True)
        serial = cfg.get_serial_no()
    from ganeti.config import read_config
    data, _ = read_config(cfg_path)
    assert data.serial_no == serial
    assert data.instances["inst2.example.com"].admin_up is True


def test_a_torn_tail_is_cut_before_the_next_append(cfg_path: str) -> None:
    with ConfigWriter(cfg_path) as cfg:
        cfg.set_instance_admin_up("inst2.example.com", True)
        serial = cfg.get_serial_no()
    with open(journal.journal_path(cfg_path), "ab") as handle:
        handle.write(b'{"serial": 99, "set": {"serial_')  # a crash mid-append
    assert journal.read_document(cfg_path)["serial_no"] == serial
    assert journal.read_serial(cfg_path) == serial
    with ConfigWriter(cfg_path) as cfg:
        assert cfg.get_serial_no() == serial
        cfg.set_instance_admin_up("inst2.example.com", False)
        assert journal.read_serial(cfg_path) == serial + 1
        assert journal.read_document(cfg_path) == \
            cfg.get_config_data().to_dict()


def test_journal_of_another_base_is_ignored_then_compacted(
        cfg_path: str) -> None:
    with ConfigWriter(cfg_path) as cfg:
        serial = cfg.get_serial_no()
    entry = {"serial": serial + 5, "set": {"serial_no": serial + 5}}
    Path(journal.journal_path(cfg_path)).write_bytes(
        journal.encode_entry(entry))
    assert journal.read_document(cfg_path)["serial_no"] == serial
    assert journal.read_serial(cfg_path) == serial
    with ConfigWriter(cfg_path) as cfg:
        assert cfg.get_serial_no() == serial
    assert os.path.getsize(journal.journal_path(cfg_path)) == 0
    assert journal.read_serial(cfg_path) == serial


def test_the_serial_is_read_without_decoding_the_document_again(
        cfg_path: str) -> None:
    # gnt-cluster verify asks the master's own serial twice and every
    # candidate's once: decoding 5 MB (10,000 instances) each time cost
    # each of them half a second of CPU.
    decoded: list[str] = []
    real = journal._decode_base

    def counting(path: str, raw: bytes) -> Any:
        decoded.append(path)
        return real(path, raw)

    with mock.patch.object(journal, "_decode_base", counting), \
            ConfigWriter(cfg_path) as cfg:
        decoded.clear()
        assert replica.config_serial(cfg_path) == cfg.get_serial_no()
        for up in (True, False, True):
            cfg.set_instance_admin_up("inst2.example.com", up)
            assert replica.config_serial(cfg_path) == cfg.get_serial_no()
        assert decoded == [cfg_path]  # the base once, then the new lines
        cfg.compact()
        assert replica.config_serial(cfg_path) == cfg.get_serial_no()
        assert decoded == [cfg_path, cfg_path]
    os.unlink(journal.journal_path(cfg_path))
    assert replica.config_serial(cfg_path) == cfg.get_serial_no()
    os.unlink(cfg_path)
    assert replica.config_serial(cfg_path) is None


def test_replica_skips_repeats_and_refuses_gaps(cfg_path: str,
                                                tmp_path: Path) -> None:
    copy = str(tmp_path / "copy.data")
    shutil.copy(cfg_path, copy)
    replica = journal.Replica()
    with ConfigWriter(cfg_path) as cfg:
        start = cfg.get_serial_no()
        for up in (True, False, True):
            cfg.set_instance_admin_up("inst1.example.com", up)
        lines = cfg.journal_since(start)
        assert lines is not None and len(lines) == 3
        assert replica.append(copy, lines[:1], MODE) == start + 1
        assert replica.append(copy, lines[:2], MODE) == start + 2  # 1 again
        with pytest.raises(errors.ConfigurationError, match="serial"):
            gap = journal.encode_entry({"serial": start + 9, "set": {}})
            replica.append(copy, [gap], MODE)
        assert replica.append(copy, lines[2:], MODE) == start + 3
        assert files_of(copy) == files_of(cfg_path)


class ReplicaRpc:
    """Node RPC to candidates whose files live in directories: applies
    journal lines through :class:`journal.Replica`, writes uploads."""

    def __init__(self, dirs: dict[str, str]) -> None:
        self.dirs = dirs
        self.replicas = {n: journal.Replica() for n in dirs}
        self.calls: list[tuple[str, str]] = []
        self.down: set[str] = set()

    def _path(self, node: str) -> str:
        return os.path.join(self.dirs[node], "config.data")

    def call_config_journal_append(self, nodes: list[str], lines: list[str]
                                   ) -> dict[str, RpcResult]:
        out = {}
        for node in nodes:
            self.calls.append(("append", node))
            if node in self.down:
                out[node] = RpcResult(node, "x", fail_msg="unreachable")
                continue
            try:
                serial = self.replicas[node].append(
                    self._path(node), [line.encode() for line in lines], MODE)
            except errors.GenericError as err:
                out[node] = RpcResult(node, "x", fail_msg=str(err))
            else:
                out[node] = RpcResult(node, "x", payload=serial)
        return out

    def call_replica_state(self, nodes: list[str]) -> dict[str, RpcResult]:
        out = {}
        for node in nodes:
            self.calls.append(("state", node))
            if node in self.down:
                out[node] = RpcResult(node, "x", fail_msg="unreachable")
            else:
                out[node] = RpcResult(node, "x", payload={
                    replica.KEY_CONFIG_SERIAL:
                        replica.config_serial(self._path(node)),
                    replica.KEY_QUEUE: {}})
        return out

    def call_upload_file(self, nodes: list[str], path: str, data: list[str],
                         *_: Any) -> dict[str, RpcResult]:
        from ganeti import redist

        out = {}
        for node in nodes:
            self.calls.append(("upload", node))
            if node in self.down:
                out[node] = RpcResult(node, "x", fail_msg="unreachable")
                continue
            name = os.path.basename(path)
            Path(self.dirs[node], name).write_bytes(redist.decode_data(data))
            out[node] = RpcResult(node, "x", payload=None)
        return out


def test_replicator_sends_lines_and_whole_files_to_a_lagging_candidate(
        tmp_path: Path) -> None:
    from ganeti import pathutils

    paths = pathutils.set_root(str(tmp_path / "master"))
    try:
        os.makedirs(paths.data_dir)
        data = make_config(3, 3)
        for node in data.nodes.values():
            node.master_candidate = True
        write_config(paths.cluster_conf_file, data)
        dirs = {n: str(tmp_path / n) for n in (node_name(2), node_name(3))}
        for d in dirs.values():
            os.makedirs(d)
        rpc = ReplicaRpc(dirs)
        with ConfigWriter(paths.cluster_conf_file) as cfg:
            rep = replication.ConfigReplicator(cfg, rpc,  # type: ignore[arg-type]
                                               node_name(1))
            rep.run_round(True, [])  # first round: the whole files to both
            assert sorted(rpc.calls) == sorted(
                [("upload", n) for n in dirs for _ in range(2)])
            rpc.calls.clear()
            cfg.set_instance_admin_up("inst1.example.com", True)
            rep.run_round(True, [])  # one line each
            assert sorted(rpc.calls) == [("append", n) for n in sorted(dirs)]
            # node3 misses two changes: behind after the first...
            rpc.down.add(node_name(3))
            cfg.set_instance_admin_up("inst1.example.com", False)
            rep.run_round(True, [])
            assert rep.behind() == [node_name(3)]
            cfg.set_instance_admin_up("inst2.example.com", True)
            rep.run_round(True, [])  # its catch-up fails too
            rpc.down.clear()
            rpc.calls.clear()
            rep.run_round(False, rep.behind())
            # ...and its catch-up compares serials and sends the two
            # lines it lacks, not the whole files.
            assert rpc.calls == [("state", node_name(3)),
                                 ("append", node_name(3))]
            assert rep.behind() == []
            # Lines compacted away (or refused): the whole files.
            rpc.down.add(node_name(3))
            cfg.set_instance_admin_up("inst2.example.com", False)
            rep.run_round(True, [])
            rpc.down.clear()
            rpc.calls.clear()
            with mock.patch.object(cfg, "journal_since", return_value=None):
                rep.run_round(False, rep.behind())
            assert rpc.calls == [("state", node_name(3)),
                                 ("upload", node_name(3)),
                                 ("upload", node_name(3))]
            for d in dirs.values():
                copy = os.path.join(d, "config.data")
                assert files_of(copy) == files_of(paths.cluster_conf_file)
                assert journal.read_document(copy) == \
                    cfg.get_config_data().to_dict()
    finally:
        pathutils.set_root(None)


def test_follower_decodes_only_the_new_lines(cfg_path: str) -> None:
    from ganeti.config.follower import ConfigFollower

    follower = ConfigFollower(cfg_path)
    with ConfigWriter(cfg_path) as cfg:
        first = follower.read()
        assert first == cfg.get_config_data()
        for up in (True, False, True):
            cfg.set_instance_admin_up("inst1.example.com", up)
            assert follower.read() == cfg.get_config_data()
        cfg.remove_instance("inst3.example.com")
        assert follower.read() == cfg.get_config_data()
        cluster = cfg.get_cluster()
        cluster.tags = ["x"]
        cfg.update(cluster)
        assert follower.read() == cfg.get_config_data()
        assert follower.full_reads == 1
        assert first.instances["inst1.example.com"].admin_up is False  # kept
        cfg.compact()
        cfg.set_instance_admin_up("inst2.example.com", True)
        assert follower.read() == cfg.get_config_data()
        assert follower.full_reads == 2
