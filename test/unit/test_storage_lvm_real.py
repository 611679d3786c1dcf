"""The LVM driver against real lvm2 on loop devices.

This machine has lvm2 but no device-mapper: volumes are created and
changed in the metadata only (``--driverloaded n``, ``lvcreate -an
--zero n``), never activated.  Each test gets its own volume group with
a unique name on fresh loop devices, removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from lvm2_session_support import RECORDING, run_session

from ganeti import errors, objects, storage
from ganeti.storage import lvm
from ganeti.storage.lvm import runner as lvm_runner

PV_MIB = 64
RUNNER = lvm.LvmRunner(global_options=("--driverloaded", "n"),
                       create_options=("-an", "--zero", "n"))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("lvcreate") is None
    or shutil.which("losetup") is None,
    reason="needs root, lvm2 and losetup")


def _quiet(*argv: str) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"},
                   check=False)


@dataclass
class VolumeGroup:
    name: str
    pvs: list[str]

    def disk(self, lv: str, size: int = 8, **diskparams: int) -> objects.Disk:
        return objects.Disk(dev_type="lvm", size=size,
                            logical_id=[self.name, lv], params=diskparams)

    def device(self, lv: str, size: int = 8,
               **diskparams: int) -> lvm.LogicalVolume:
        dev = storage.get_device(self.disk(lv, size, **diskparams),
                                 storage.StorageContext(lvm_runner=RUNNER))
        assert isinstance(dev, lvm.LogicalVolume)
        return dev


def _make_vg(tmp_path: object, count: int) -> Iterator[VolumeGroup]:
    name = f"gnttest{uuid.uuid4().hex[:12]}"
    loops: list[str] = []
    try:
        for index in range(count):
            image = os.path.join(str(tmp_path), f"pv{index}.img")
            with open(image, "wb") as handle:
                handle.truncate(PV_MIB * 1024 * 1024)
            loops.append(subprocess.run(
                ["losetup", "-f", "--show", image], check=True,
                capture_output=True, text=True).stdout.strip())
        for command in (["pvcreate", *loops], ["vgcreate", name, *loops]):
            subprocess.run([command[0], "--driverloaded", "n", *command[1:]],
                           check=True, capture_output=True,
                           env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"})
        yield VolumeGroup(name, loops)
    finally:
        _quiet("vgremove", "--driverloaded", "n", "-f", name)
        if loops:
            _quiet("pvremove", "--driverloaded", "n", "-ff", "-y", *loops)
        for loop in loops:
            _quiet("losetup", "-d", loop)


@pytest.fixture
def vg(tmp_path: object) -> Iterator[VolumeGroup]:
    yield from _make_vg(tmp_path, 1)


@pytest.fixture
def vg2(tmp_path: object) -> Iterator[VolumeGroup]:
    yield from _make_vg(tmp_path, 2)


@pytest.fixture
def vg3(tmp_path: object) -> Iterator[VolumeGroup]:
    yield from _make_vg(tmp_path, 3)


def test_reports_are_parsed(vg3: VolumeGroup) -> None:
    info = RUNNER.find_vg(vg3.name)
    assert info is not None
    # Each PV loses its metadata area: 60 MiB usable of 64 (4 MiB extents).
    assert (info.size_mib, info.free_mib, info.pv_count, info.lv_count) == \
        (180, 180, 3, 0)
    pvs = RUNNER.list_pvs(vg3.name)
    assert sorted(pv.name for pv in pvs) == sorted(vg3.pvs)
    assert all(pv.allocatable and not pv.missing and pv.size_mib == 60
               and pv.free_mib == 60 and pv.used_mib == 0 for pv in pvs)


@pytest.mark.parametrize("stripes, stripe_size, size, expected_size", [
    (1, 64, 10, 12), (2, 64, 10, 16), (3, 128, 10, 12), (3, 4, 10, 12),
    (2, 8, 16, 16)])
def test_stripes_reach_lvcreate(vg3: VolumeGroup, stripes: int,
                                stripe_size: int, size: int,
                                expected_size: int) -> None:
    dev = vg3.device("data", size, stripes=stripes, stripe_size=stripe_size)
    dev.create(size)
    info = dev.info()
    assert info.stripes == stripes
    assert info.stripe_size_kib == (stripe_size if stripes > 1 else 0)
    # lvm2 rounds up to whole extents (4 MiB), a multiple of the stripes.
    assert info.size_mib == expected_size
    assert dev.dev_path == f"/dev/{vg3.name}/data"
    assert not info.active


def test_life_cycle(vg: VolumeGroup) -> None:
    dev = vg.device("disk0")
    assert not dev.exists()
    dev.create(8)
    assert dev.exists() and dev.size_mib == 8
    dev.grow(0)
    dev.grow(12)
    assert dev.size_mib == 20
    dev.rename([vg.name, "disk0.renamed"])
    assert vg.device("disk0.renamed").size_mib == 20
    assert not vg.device("disk0").exists()
    dev.remove()
    assert RUNNER.list_lvs(vg.name) == []
    dev.remove()  # missing is fine


def test_refusals_name_node_vg_and_lv(vg: VolumeGroup) -> None:
    where = f"volume group {vg.name}, logical volume"
    with pytest.raises(errors.BlockDeviceError,
                       match=rf"Not enough free space in volume group "
                             rf"{vg.name}: 100 MiB needed, 60 MiB free "
                             rf"\(on node .+, {where} big\)"):
        vg.device("big").create(100)
    with pytest.raises(errors.BlockDeviceError,
                       match=rf"Cannot make 2 stripes: volume group {vg.name}"
                             r" has 1 physical volume\(s\) with free space"):
        vg.device("striped", stripes=2).create(8)
    dev = vg.device("one")
    dev.create(8)
    with pytest.raises(errors.BlockDeviceError,
                       match=rf"Logical volume already exists .*{where} one"):
        vg.device("one").create(8)
    with pytest.raises(errors.BlockDeviceError,
                       match="Cannot shrink by 4 MiB: disks can only grow"):
        dev.grow(-4)
    with pytest.raises(errors.BlockDeviceError,
                       match=r"Not enough free space.*56 MiB needed \(53 MiB"
                             r" in whole 4096 KiB extents\), 52 MiB free"):
        dev.grow(53)
    vg.device("two").create(4)
    with pytest.raises(errors.BlockDeviceError,
                       match="Cannot rename to two: it already exists"):
        dev.rename([vg.name, "two"])
    assert sorted(lv.name for lv in RUNNER.list_lvs(vg.name)) == ["one", "two"]
    with pytest.raises(errors.BlockDeviceError,
                       match=r"Volume group nosuchvg.* does not exist"):
        storage.get_device(
            objects.Disk(dev_type="lvm", size=4,
                         logical_id=["nosuchvg" + vg.name, "x"]),
            storage.StorageContext(lvm_runner=RUNNER)).create(4)


def test_free_space_precheck_agrees_with_lvm2(vg2: VolumeGroup) -> None:
    # 15 extents of 4 MiB per PV; leave 1 free on the first, 2 on the
    # second (12 MiB in all).
    vg2.device("fill", stripes=2).create(104)
    vg2.device("one").create(4)
    assert [pv.free_mib for pv in RUNNER.list_pvs(vg2.name)] == [4, 8]
    # 10 MiB on 2 stripes is 3 extents, which lvm2 rounds to 4: the sum
    # of free space would pass, lvm2 refuses, and so does the precheck.
    with pytest.raises(lvm.LvmCommandError, match="insufficient free space"):
        RUNNER.lvcreate(vg2.name, "direct", 10, stripes=2)
    with pytest.raises(errors.BlockDeviceError,
                       match=r"16 MiB needed \(10 MiB in whole 4096 KiB"
                             r" extents\), 12 MiB free"):
        vg2.device("s", stripes=2).create(10)
    vg2.device("s", stripes=2).create(8)  # 1 extent on each: accepted
    # Free space on a PV that is not allocatable does not count.
    RUNNER.pvchange_allocatable(vg2.pvs[1], False)
    with pytest.raises(lvm.LvmCommandError):
        RUNNER.lvcreate(vg2.name, "direct", 5)
    with pytest.raises(errors.BlockDeviceError,
                       match=r"8 MiB needed \(5 MiB in whole 4096 KiB"
                             r" extents\), 0 MiB free"):
        vg2.device("linear").create(5)
    assert sorted(lv.name for lv in RUNNER.list_lvs(vg2.name)) == \
        ["fill", "one", "s"]


def test_lvm2_failure_is_one_line_with_its_reason(vg: VolumeGroup) -> None:
    # A snapshot needs device-mapper, which this machine lacks: lvm2's own
    # reason comes through, with the node, VG and LV.
    dev = vg.device("origin")
    dev.create(8)
    with pytest.raises(errors.BlockDeviceError) as caught:
        dev.snapshot(4)
    message = str(caught.value.args[0])
    assert "\n" not in message
    assert message.startswith("Cannot snapshot logical volume as origin.snap:"
                              " lvcreate failed: ")
    assert message.endswith(f"volume group {vg.name}, logical volume origin)")
    assert not vg.device("origin.snap").exists()


def test_pv_allocatable_and_removemissing(vg3: VolumeGroup) -> None:
    RUNNER.pvchange_allocatable(vg3.pvs[0], False)
    states = {pv.name: pv.allocatable for pv in RUNNER.list_pvs(vg3.name)}
    assert states == {vg3.pvs[0]: False, vg3.pvs[1]: True, vg3.pvs[2]: True}
    with pytest.raises(errors.BlockDeviceError, match="Cannot make 3 stripes"):
        vg3.device("s", stripes=3).create(12)
    RUNNER.pvchange_allocatable(vg3.pvs[0], True)
    RUNNER.vgreduce_removemissing(vg3.name)
    assert all(pv.allocatable for pv in RUNNER.list_pvs(vg3.name))


def test_command_failure_reason() -> None:
    with pytest.raises(lvm.LvmCommandError,
                       match=r"^vgs failed: Volume group \"nosuchvg-.*\" not found;"
                             r" Cannot process volume group nosuchvg-\S+$"):
        RUNNER.run("vgs", "nosuchvg-" + uuid.uuid4().hex[:8])
    assert lvm_runner.error_reason(
        "  WARNING: x\n  Volume group \"v\" not found\n"
        "  Run `vgs --help' for more information.\n") == \
        'Volume group "v" not found'


def test_session_matches_recording(vg3: VolumeGroup) -> None:
    """The recording the simulator is checked against is real lvm2's."""
    transcript = run_session(RUNNER, vg3.name, vg3.pvs)
    if os.environ.get("GANETI_RECORD_LVM2") == "1":
        with open(RECORDING, "w", encoding="utf-8") as handle:
            handle.write(transcript)
    with open(RECORDING, encoding="utf-8") as handle:
        assert transcript == handle.read()
