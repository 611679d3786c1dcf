"""The node's DRBD calls (Ganeti 2.1 semantics) on two simulated nodes:
each node finds its own end of the disks from the address map."""

from __future__ import annotations

from pathlib import Path

import pytest
from drbd_pair_support import IPS, Pair

from ganeti import errors, pathutils
from ganeti.backend import blockdev
from ganeti.backend import drbd as backend_drbd


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pair:
    made = Pair(tmp_path, "8.4.11")
    made.create()
    made.sim["a"].advance(64)
    return made


def on(node: str, pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the calls run as on ``node``."""
    monkeypatch.setattr(pathutils, "hostname", lambda: node)
    monkeypatch.setattr(blockdev, "storage_context", lambda: pair.ctx[node])


def test_disconnect_attach_and_wait_sync(pair: Pair,
                                         monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    disks = [pair.disk.to_dict()]
    for node in "ab":
        on(node, pair, monkeypatch)
        backend_drbd.drbd_disconnect_net(IPS, disks)
        assert pair.dev(node).state().connection == "StandAlone"
        backend_drbd.drbd_disconnect_net(IPS, disks)  # again: fine
    on("a", pair, monkeypatch)
    with pytest.raises(errors.BlockDeviceError, match="did not connect"):
        backend_drbd.wait_connected([pair.dev("a")], 0.0)
    # Both ends reconnect at once in a cluster; here a listens first.
    pair.dev("a").attach_net(multimaster=True)
    on("b", pair, monkeypatch)
    backend_drbd.drbd_attach_net(IPS, disks, "inst1.example.com", True)
    on("a", pair, monkeypatch)
    backend_drbd.drbd_attach_net(IPS, disks, "inst1.example.com", True)
    # Dual-primary for a live migration: both ends are Primary.
    assert pair.dev("a").state().is_primary
    assert pair.dev("b").state().is_primary
    assert backend_drbd.drbd_wait_sync(IPS, disks) == [True, 100.0]
    backend_drbd.blockdev_close("inst1.example.com",
                                [pair.dev("a").disk.to_dict()])
    assert pair.dev("a").state().role == "Secondary"


def test_wait_sync_reports_the_lowest_progress(
        pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    on("a", pair, monkeypatch)
    pair.sim["a"].inject("crash", node=pair.sim["b"].node)
    pair.write("a", b"written while b was away")
    pair.dev("b").activate()  # b comes back and resyncs from a
    done, percent = backend_drbd.drbd_wait_sync(IPS, [pair.disk.to_dict()])
    assert (done, percent) == (False, 0.0)
    other = pair.disk.copy()
    other.logical_id = ["a", "b", 11001, 9, 9, "x"]
    with pytest.raises(errors.BlockDeviceError, match="not configured"):
        backend_drbd.drbd_wait_sync(IPS, [other.to_dict()])


def test_a_disk_without_physical_id_gets_this_nodes(
        pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on("b", pair, monkeypatch)

    class Store:
        def get_node_secondary_ips(self) -> dict[str, str]:
            return IPS

    monkeypatch.setattr(blockdev.ssconf, "SimpleStore", Store)
    disk = blockdev.with_physical_ids(pair.disk)
    assert disk.physical_id == ["192.0.2.2", 11000, "192.0.2.1", 11000, 3,
                                "sekrit"]
    status = blockdev.blockdev_find(pair.disk.to_dict())
    assert status is not None and status["dev_path"].endswith("/drbd3")


def test_detach_and_attach_the_local_disk_of_a_primary_in_use(
        pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    on("a", pair, monkeypatch)
    disks = [pair.disk.to_dict()]
    assert backend_drbd.drbd_wait_sync(IPS, disks)[0]
    here = pair.dev("a").disk.to_dict()
    backend_drbd.drbd_detach_disk(here)
    state = pair.dev("a").state()
    assert state is not None and not state.has_disk and state.is_primary
    backend_drbd.drbd_detach_disk(here)  # again: nothing to do
    # Written while diskless: it lands on the peer only.
    pair.write("a", b"while diskless")
    assert pair.read(pair.data("b")) == b"while diskless\0\0"
    # Fresh metadata on the (here: same) volumes; the peer resyncs them.
    backend_drbd.drbd_attach_disks(here, True)
    state = pair.dev("a").state()
    assert state is not None and state.has_disk and state.is_primary
    backend_drbd.drbd_attach_disks(here, True)  # has one: nothing to do
    pair.sim["a"].advance(64)
    assert backend_drbd.drbd_wait_sync(IPS, disks)[0]
    assert pair.read(pair.data("a")) == b"while diskless\0\0"
    other = pair.dev("a").disk.copy()
    other.logical_id = ["a", "b", 11001, 9, 9, "x"]
    other.physical_id = ["192.0.2.1", 11001, "192.0.2.2", 11001, 9, "x"]
    with pytest.raises(errors.BlockDeviceError, match="not configured"):
        backend_drbd.drbd_detach_disk(other.to_dict())
