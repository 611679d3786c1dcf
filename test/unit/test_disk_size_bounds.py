"""Disk sizes are bounded (1 EiB) at every edge, for every template: an
absurd size is a clear one-line error, never an overflow on the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganeti import constants, errors, objects, opcodes, pathutils, storage
from ganeti.storage import templates

MAX = constants.MAX_DISK_SIZE_MIB
HUGE = 99999999999999 * 1024 * 1024  # 99999999999999T in MiB


@pytest.mark.parametrize("size", [HUGE, MAX + 1])
def test_opcodes_refuse_absurd_sizes(size: int) -> None:
    base = {"instance_name": "x.example.com", "mode": "create",
            "disk_template": "file", "os_type": "img", "pnode": "n1"}
    with pytest.raises(errors.OpPrereqError,
                       match=rf"OpInstanceCreate.disks: .*at most {MAX}"):
        opcodes.OpInstanceCreate(**base, disks=[{"size": size}]).validate_all()
    with pytest.raises(errors.OpPrereqError,
                       match=rf"OpInstanceGrowDisk.amount: expected a positive"
                             rf" size in MiB of at most {MAX} \(1 EiB\)"):
        opcodes.OpInstanceGrowDisk(instance_name="x", disk=0,
                                   amount=size).validate_all()
    with pytest.raises(errors.OpPrereqError,
                       match=r"OpInstanceSetParams.disks: "):
        opcodes.OpInstanceSetParams(
            instance_name="x", disks=[["add", {"size": size}]]).validate_all()


def test_the_maximum_itself_is_accepted() -> None:
    opcodes.OpInstanceGrowDisk(instance_name="x", disk=0,
                               amount=MAX).validate_all()


@pytest.mark.parametrize("template", [constants.DT_FILE, constants.DT_PLAIN])
def test_templates_refuse_absurd_sizes(template: str) -> None:
    with pytest.raises(errors.ParameterError,
                       match=rf"Disk 0: size {HUGE} MiB is above the maximum"
                             rf" of {MAX} MiB \(1 EiB\)"):
        templates.generate_disks(template, [{"size": HUGE}], "x.example.com",
                                 "/srv/ganeti/file-storage", vg_name="xenvg")


def test_node_refuses_absurd_sizes_before_touching_anything(
        tmp_path: Path) -> None:
    # Before the bound, this reached os.ftruncate: "OverflowError: Python
    # int too large to convert to C long".
    sdir = "/srv/ganeti/file-storage"
    ctx = storage.StorageContext(paths=pathutils.Paths(str(tmp_path)),
                                 file_storage_dir=sdir)
    disk = objects.Disk(dev_type="file", size=1, logical_id=[
        "loop", f"{sdir}/x.example.com/disk0"])
    dev = storage.get_device(disk, ctx)
    with pytest.raises(errors.BlockDeviceError,
                       match=rf"Invalid disk size: {HUGE} MiB is above the maximum"):
        dev.create(HUGE)
    assert not dev.exists()
    dev.create(1)
    with pytest.raises(errors.BlockDeviceError,
                       match=r"Invalid growth amount: .* above the maximum"):
        dev.grow(HUGE)
    assert dev.size_mib == 1
