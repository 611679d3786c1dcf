"""ssconf: computed values, atomic files, the simple store, the pusher."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from config_builders import make_config, make_node, write_config
from testkit import wait_for

from ganeti import backend, config, errors, pathutils, ssconf


def test_compute_values_uses_ganeti_names_and_formats() -> None:
    data = make_config(nodes=3, instances=2)
    data.nodes["node3.example.com"].offline = True
    data.nodes["node3.example.com"].master_candidate = False
    data.cluster.uid_pool = [[1000, 1009], [2000, 2000]]
    data.cluster.tags = ["b", "a"]
    values = ssconf.compute_values(data)
    assert set(values) == set(ssconf.VALID_KEYS)
    assert values["master_node"] == "node1.example.com"
    assert values["node_list"].splitlines() == [
        "node1.example.com", "node2.example.com", "node3.example.com"]
    assert values["node_primary_ips"].splitlines()[0] == \
        "node1.example.com 192.0.2.1"
    assert values["node_secondary_ips"].splitlines()[1] == \
        "node2.example.com 198.51.100.2"
    assert values["master_candidates"].splitlines() == [
        "node1.example.com", "node2.example.com"]
    assert values["master_candidates_ips"] == "192.0.2.1\n192.0.2.2"
    assert values["offline_nodes"] == "node3.example.com"
    assert values["online_nodes"] == "node1.example.com\nnode2.example.com"
    assert values["uid_pool"] == "1000-1009\n2000"
    assert values["cluster_tags"] == "a\nb"
    assert values["maintain_node_health"] == "False"
    assert values["instance_list"].splitlines() == [
        "inst1.example.com", "inst2.example.com"]


def test_compute_values_is_deterministic() -> None:
    data = make_config(nodes=4)
    assert ssconf.compute_values(data) == ssconf.compute_values(data.copy())


def test_write_and_read_back(tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    values = ssconf.compute_values(make_config(nodes=2))
    ssconf.write_files(values, paths)
    store = ssconf.SimpleStore(paths)
    assert store.get_master_node() == "node1.example.com"
    assert store.get_node_list() == ["node1.example.com", "node2.example.com"]
    assert store.get_master_candidates_ips() == ["192.0.2.1", "192.0.2.2"]
    assert store.get_node_primary_ips()["node2.example.com"] == "192.0.2.2"
    assert store.get_maintain_node_health() is False
    assert store.read_all() == values
    mode = os.stat(paths.ssconf_file("master_node")).st_mode & 0o777
    assert mode == ssconf.FILE_MODE


def test_uid_pool_round_trip(tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    data = make_config(nodes=1)
    data.cluster.uid_pool = [[5, 7], [9, 9]]
    ssconf.write_files(ssconf.compute_values(data), paths)
    assert ssconf.SimpleStore(paths).get_uid_pool() == [[5, 7], [9, 9]]


def test_keys_not_given_are_removed(tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    ssconf.write_files(ssconf.compute_values(make_config(nodes=1)), paths)
    ssconf.write_files({"master_node": "x"}, paths)
    assert not os.path.exists(paths.ssconf_file("node_list"))
    ssconf.remove_files(paths)
    assert not os.path.exists(paths.ssconf_file("master_node"))


def test_unknown_keys_refused_before_writing(tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    with pytest.raises(errors.ParameterError, match=r"Unknown ssconf key.*bogus"):
        ssconf.write_files({"master_node": "a", "bogus": "b"}, paths)
    assert not os.path.exists(paths.ssconf_file("master_node"))
    with pytest.raises(errors.ParameterError, match="must be text"):
        ssconf.write_files({"master_node": 3}, paths)  # type: ignore[dict-item]


def test_missing_file_is_not_cluster(tmp_path: Path) -> None:
    store = ssconf.SimpleStore(pathutils.Paths(str(tmp_path)))
    with pytest.raises(errors.NotClusterError, match="ssconf_master_node") as info:
        store.get_master_node()
    assert info.value.exit_code == errors.EXIT_NOTCLUSTER
    with pytest.raises(errors.ParameterError):
        store.read("nope")


def test_oversized_file_refused(tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    os.makedirs(paths.data_dir)
    Path(paths.ssconf_file("node_list")).write_text("x" * (ssconf.MAX_SIZE + 1))
    with pytest.raises(errors.ConfigurationError, match="larger"):
        ssconf.SimpleStore(paths).get_node_list()


def test_backend_handler_writes_under_current_root(tmp_path: Path) -> None:
    saved = pathutils.get()
    pathutils.set_root(str(tmp_path))
    try:
        backend.dispatch("write_ssconf_files", [{"master_node": "n1"}])
        assert ssconf.SimpleStore().get_master_node() == "n1"
        with pytest.raises(errors.ParameterError, match="Unknown ssconf"):
            backend.dispatch("write_ssconf_files", [{"../../etc/x": "y"}])
    finally:
        pathutils.set_root(saved.root)


class _Pushes:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.fail: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, nodes: list[str],
                 values: dict[str, str]) -> dict[str, str | None]:
        with self.lock:
            self.calls.append((list(nodes), dict(values)))
        return {n: ("down" if n in self.fail else None) for n in nodes}


def test_pusher_pushes_changes_only(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.data", make_config(nodes=2))
    with config.ConfigWriter(path) as cfg:
        pushes = _Pushes()
        # No timed retry within the test (see the test below).
        pusher = ssconf.SsconfPusher(cfg, pushes,
                                     retry_backoff=(3600, 2, 3600))
        cfg.add_write_hook(pusher.on_write)
        pusher.start()
        try:
            pusher.on_write(0)
            assert pusher.flush(30)
            assert len(pushes.calls) == 1
            assert pushes.calls[0][0] == ["node1.example.com",
                                          "node2.example.com"]
            pusher.on_write(0)  # nothing changed: no push
            assert pusher.flush(30)
            assert len(pushes.calls) == 1
            cfg.add_node(make_node(3))
            assert pusher.flush(30)
            assert len(pushes.calls) == 2
            assert "node3.example.com" in pushes.calls[-1][1]["node_list"]
            assert "node3.example.com" in pushes.calls[-1][0]
            # A failed node makes the next change push again.
            pushes.fail = {"node2.example.com"}
            cluster = cfg.get_cluster()
            cluster.add_tag("t1")
            cfg.update(cluster)
            assert pusher.flush(30)
            count = len(pushes.calls)
            pusher.on_write(0)
            assert pusher.flush(30)
            assert len(pushes.calls) == count + 1
            assert pusher.push(["node1.example.com"]) == {
                "node1.example.com": None}
        finally:
            pusher.stop()


def test_pusher_retries_a_failed_node_without_a_change(
        tmp_path: Path) -> None:
    """A node whose daemon was down gets its files once it is back, not
    only at the next configuration change."""
    path = write_config(tmp_path / "config.data", make_config(nodes=2))
    with config.ConfigWriter(path) as cfg:
        pushes = _Pushes()
        pushes.fail = {"node2.example.com"}
        pusher = ssconf.SsconfPusher(cfg, pushes,
                                     retry_backoff=(0.01, 2, 0.05),
                                     min_interval=0)
        pusher.start()
        try:
            pusher.on_write(0)
            wait_for(lambda: len(pushes.calls) >= 3, "two retries")
            pushes.fail = set()
            with pushes.lock:
                seen = len(pushes.calls)
            wait_for(lambda: len(pushes.calls) > seen, "a retry that works")
            assert pusher.flush(30)
            with pushes.lock:
                done = len(pushes.calls)
            assert pusher.flush(30)
            # Everyone has the files now: no more pushes until a change.
            pusher.on_write(0)
            assert pusher.flush(30)
            assert len(pushes.calls) == done
        finally:
            pusher.stop()


def test_pusher_folds_changes_within_its_interval(tmp_path: Path) -> None:
    """At most one push per interval: a burst of changes costs one push
    of the newest values (flush cuts the wait short)."""
    path = write_config(tmp_path / "config.data", make_config(nodes=2))
    with config.ConfigWriter(path) as cfg:
        pushes = _Pushes()
        pusher = ssconf.SsconfPusher(cfg, pushes, min_interval=3600)
        cfg.add_write_hook(pusher.on_write)
        pusher.start()
        try:
            cfg.add_node(make_node(3))
            assert pusher.flush(30)  # the first change: pushed
            assert len(pushes.calls) == 1
            cfg.add_node(make_node(4))  # pushed at once (a flush ended the
            cfg.add_node(make_node(5))  # wait before), then held back
            cfg.add_node(make_node(6))
            with pusher._cond:
                held = pusher._cond.wait_for(
                    lambda: pusher._dirty and not pusher._busy, 30)
            assert held
            calls = len(pushes.calls)
            assert calls <= 2  # not one per change
            assert pusher.flush(30)
            assert len(pushes.calls) == calls + 1
            assert "node6.example.com" in pushes.calls[-1][1]["node_list"]
        finally:
            pusher.stop()
