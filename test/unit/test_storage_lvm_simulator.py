"""The lvm2 simulator: it answers like real lvm2 (the recorded session)
and backs each volume with a file holding real bytes."""

from __future__ import annotations

import dataclasses
import os

import pytest
from lvm2_session_support import PV_COUNT, PV_MIB, RECORDING, run_session

from ganeti import errors, objects, pathutils, storage
from ganeti.backend import blockdev as backend_blockdev
from ganeti.standins import lvm as simulator
from ganeti.storage import lvm

PVS = [f"/dev/simpv{index}" for index in range(PV_COUNT)]


@pytest.fixture
def sim(tmp_path: object) -> simulator.LvmSimulator:
    result = simulator.LvmSimulator(os.path.join(str(tmp_path), "lvm"))
    result.create_vg("testvg", dict.fromkeys(PVS, PV_MIB))
    return result


def _device(sim: simulator.LvmSimulator, lv: str,
            **diskparams: int) -> lvm.LogicalVolume:
    dev = storage.get_device(
        objects.Disk(dev_type="lvm", size=4, logical_id=["testvg", lv],
                     params=diskparams),
        storage.StorageContext(lvm_runner=sim.runner()))
    assert isinstance(dev, lvm.LogicalVolume)
    return dev


def test_answers_like_real_lvm2(sim: simulator.LvmSimulator) -> None:
    runner = dataclasses.replace(sim.runner(),
                                 create_options=("-an", "--zero", "n"))
    with open(RECORDING, encoding="utf-8") as handle:
        assert run_session(runner, "testvg", PVS) == handle.read()


def test_volumes_are_files_with_real_bytes(sim: simulator.LvmSimulator) -> None:
    dev = _device(sim, "disk0", stripes=2, stripe_size=128)
    dev.create(10)
    path = dev.dev_path
    assert path == sim.backing_file("testvg", "disk0")
    assert os.path.getsize(path) == 16 * 1024 * 1024  # 2 stripes: 4 extents
    with open(path, "r+b") as handle:
        handle.write(b"real bytes")
    dev.activate()
    assert dev.info().active
    assert (dev.info().stripes, dev.info().stripe_size_kib) == (2, 128)
    dev.grow(8)
    assert dev.size_mib == 24 and os.path.getsize(path) == 24 * 1024 * 1024
    snap_id = dev.snapshot()
    assert snap_id == ["testvg", "disk0.snap"]
    with open(sim.backing_file(*snap_id), "rb") as handle:
        assert handle.read(10) == b"real bytes"
    dev.deactivate()
    assert not dev.info().active
    dev.rename(["testvg", "disk1"])
    with open(sim.backing_file("testvg", "disk1"), "rb") as handle:
        assert handle.read(10) == b"real bytes"
    dev.remove()
    assert not os.path.exists(sim.backing_file("testvg", "disk1"))
    assert [lv.name for lv in sim.runner().list_lvs("testvg")] == ["disk0.snap"]


def test_full_vg_and_missing_pv(sim: simulator.LvmSimulator) -> None:
    _device(sim, "big").create(170)
    with pytest.raises(errors.BlockDeviceError,
                       match="Not enough free space in volume group testvg:"
                             " 20 MiB needed, 8 MiB free"):
        _device(sim, "more").create(20)
    sim.set_pv_missing("testvg", PVS[2])
    runner = sim.runner()
    assert [pv.missing for pv in runner.list_pvs("testvg")] == \
        [False, False, True]
    with pytest.raises(lvm.LvmCommandError, match="uses a missing physical"):
        runner.vgreduce_removemissing("testvg")
    _device(sim, "big").remove()
    runner.vgreduce_removemissing("testvg")
    assert [pv.name for pv in runner.list_pvs("testvg")] == PVS[:2]


def test_selected_only_under_a_root_and_when_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(simulator.ENABLE_ENV, "1")
    assert simulator.runner_for_node(pathutils.Paths("")) is None
    node = pathutils.Paths("/tmp/some-node-root")
    runner = simulator.runner_for_node(node)
    assert runner is not None
    assert runner.dev_dir == f"{node.data_dir}/lvm-simulator"
    monkeypatch.setenv(simulator.ENABLE_ENV, "yes")
    assert simulator.runner_for_node(node) is None
    monkeypatch.delenv(simulator.ENABLE_ENV)
    assert simulator.runner_for_node(node) is None


def test_node_daemon_context_picks_it(monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: object) -> None:
    monkeypatch.setenv(simulator.ENABLE_ENV, "1")
    pathutils.set_root(str(tmp_path))
    try:
        ctx = backend_blockdev.storage_context()
        assert ctx.lvm_runner is not None
        assert ctx.lvm_runner.dev_dir.startswith(str(tmp_path))
        monkeypatch.delenv(simulator.ENABLE_ENV)
        assert backend_blockdev.storage_context().lvm_runner is None
    finally:
        pathutils.set_root(None)
