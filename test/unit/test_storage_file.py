"""The block device registry, the file driver and template generation."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from ganeti import constants, errors, objects, pathutils, storage
from ganeti.storage import filestorage, lvm, templates
from ganeti.storage.base import LdiskStatus, StorageContext, SyncStatus
from ganeti.storage.filestorage import MIB, FileDevice

SDIR = "/srv/ganeti/file-storage"
INST = "inst1.example.com"


@pytest.fixture
def ctx(tmp_path) -> StorageContext:
    return StorageContext(paths=pathutils.Paths(str(tmp_path / "root")),
                          file_storage_dir=SDIR)


def file_disk(path: str = f"{SDIR}/{INST}/disk0", size: int = 100,
              driver: str = "loop") -> objects.Disk:
    return objects.Disk(dev_type=constants.LD_FILE, size=size,
                        logical_id=[driver, path], iv_name="disk/0")


def device(ctx: StorageContext, path: str = f"{SDIR}/{INST}/disk0"
           ) -> FileDevice:
    dev = storage.get_device(file_disk(path), ctx)
    assert isinstance(dev, FileDevice)
    return dev


def real(ctx: StorageContext, path: str) -> str:
    return ctx.paths.under(path)


# --- Registry ----------------------------------------------------------------

def test_registry_knows_every_logical_disk_type() -> None:
    assert set(storage.DRIVERS) == set(constants.LOGICAL_DISK_TYPES)
    assert storage.get_device_class(constants.LD_FILE) is FileDevice
    assert storage.get_device_class(constants.LD_LV) is lvm.LogicalVolume
    assert storage.get_device_class(constants.LD_DRBD8).__name__ == \
        "Drbd8Device"


@pytest.mark.parametrize("dev_type", [constants.LD_DRBD8])
def test_known_but_unavailable_types(dev_type: str, ctx: StorageContext,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(storage.DRIVERS, dev_type,
                        ("ganeti.storage.not_built", "Device"))
    disk = objects.Disk(dev_type=dev_type, size=10, logical_id=["a", "b"])
    with pytest.raises(errors.OpPrereqError,
                       match=f"^Disk device type {dev_type} is not available"
                             " in this build$") as info:
        storage.get_device(disk, ctx)
    assert info.value.code == errors.ErrorCode.ENVIRON


@pytest.mark.parametrize("dev_type", ["floppy", "diskless", ""])
def test_unknown_dev_type(dev_type: str, ctx: StorageContext) -> None:
    disk = objects.Disk(dev_type=dev_type, size=10)
    with pytest.raises(errors.ParameterError,
                       match="Unknown disk device type") as info:
        storage.get_device(disk, ctx)
    assert "file" in info.value.message


def test_default_context_follows_root(tmp_path) -> None:
    try:
        pathutils.set_root(str(tmp_path))
        dev = storage.get_device(file_disk(
            f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{INST}/disk0"))
        assert dev.dev_path.startswith(str(tmp_path) + "/")
    finally:
        pathutils.set_root(None)


@pytest.mark.parametrize("logical_id", [
    [], ["loop"], ["tape", f"{SDIR}/x/disk0"], ["loop", "relative/disk0"],
    ["loop", f"{SDIR}/x/disk0", "extra"],
])
def test_bad_logical_ids(logical_id: list[Any], ctx: StorageContext) -> None:
    disk = objects.Disk(dev_type=constants.LD_FILE, size=1,
                        logical_id=logical_id)
    with pytest.raises(errors.BlockDeviceError,
                       match="Invalid file disk logical id"):
        storage.get_device(disk, ctx)


# --- The file driver ---------------------------------------------------------

def test_create_is_sparse_with_private_directory(ctx: StorageContext) -> None:
    dev = device(ctx)
    assert not dev.exists()
    dev.create(100)
    path = real(ctx, f"{SDIR}/{INST}/disk0")
    assert dev.dev_path == path
    assert dev.exists()
    info = os.stat(path)
    assert info.st_size == 100 * MIB
    assert info.st_blocks * 512 < MIB  # sparse: nothing allocated
    assert dev.size_mib == 100
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o750
    assert stat.S_IMODE(info.st_mode) == filestorage.FILE_MODE


def test_create_refuses_to_overwrite(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(10)
    with open(dev.dev_path, "r+b") as handle:
        handle.write(b"data")
    with pytest.raises(errors.BlockDeviceError, match="already exists") as info:
        device(ctx).create(20)
    assert info.value.code == errors.ErrorCode.EXISTS
    with open(dev.dev_path, "rb") as handle:
        assert handle.read(4) == b"data"
    assert dev.size_mib == 10


@pytest.mark.parametrize("size", [0, -1, "10", 1.5, True])
def test_create_refuses_bad_sizes(ctx: StorageContext, size: Any) -> None:
    dev = device(ctx)
    with pytest.raises(errors.BlockDeviceError, match="Invalid disk size"):
        dev.create(size)
    assert not dev.exists()


def test_grow_extends_sparse(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(10)
    with open(dev.dev_path, "r+b") as handle:
        handle.write(b"keep")
    dev.grow(90)
    assert dev.size_mib == 100
    assert os.stat(dev.dev_path).st_blocks * 512 < MIB
    with open(dev.dev_path, "rb") as handle:
        assert handle.read(4) == b"keep"
    dev.grow(0)
    assert dev.size_mib == 100


def test_shrinking_is_refused(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(10)
    with pytest.raises(errors.BlockDeviceError,
                       match=r"Cannot shrink file disk .* disks can only grow"):
        dev.grow(-5)
    assert dev.size_mib == 10


def test_grow_missing(ctx: StorageContext) -> None:
    with pytest.raises(errors.BlockDeviceError, match="does not exist") as info:
        device(ctx).grow(10)
    assert info.value.code == errors.ErrorCode.NOENT


def test_remove_and_missing_is_fine(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(10)
    dev.remove()
    assert not dev.exists()
    dev.remove()


def test_activate_and_deactivate(ctx: StorageContext) -> None:
    dev = device(ctx)
    with pytest.raises(errors.BlockDeviceError, match="does not exist"):
        dev.activate()
    dev.deactivate()
    dev.create(10)
    dev.activate()
    dev.deactivate()
    assert dev.exists()


def test_rename(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(10)
    new_path = f"{SDIR}/{INST}/disk5"
    dev.rename(["loop", new_path])
    assert dev.logical_id == ["loop", new_path]
    assert dev.dev_path == real(ctx, new_path)
    assert dev.exists() and dev.size_mib == 10
    assert not os.path.exists(real(ctx, f"{SDIR}/{INST}/disk0"))
    other = device(ctx, f"{SDIR}/{INST}/disk6")
    other.create(1)
    with pytest.raises(errors.BlockDeviceError, match="the target exists"):
        dev.rename(["loop", f"{SDIR}/{INST}/disk6"])
    with pytest.raises(errors.BlockDeviceError, match="not inside"):
        dev.rename(["loop", "/etc/disk"])
    assert dev.exists()


def test_rename_missing(ctx: StorageContext) -> None:
    with pytest.raises(errors.BlockDeviceError, match="does not exist"):
        device(ctx).rename(["loop", f"{SDIR}/{INST}/disk1"])


def test_sync_status(ctx: StorageContext) -> None:
    dev = device(ctx)
    dev.create(1)
    status = dev.get_sync_status()
    assert status == SyncStatus(dev_path=dev.dev_path, sync_percent=None,
                                estimated_time=None, is_degraded=False,
                                ldisk_status=LdiskStatus.OKAY)
    assert SyncStatus.from_dict(status.to_dict()) == status
    dev.remove()
    missing = dev.get_sync_status()
    assert missing.is_degraded and missing.ldisk_status == LdiskStatus.FAULTY


# --- Confinement -------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"{SDIR}/../../etc/passwd",
    f"{SDIR}/{INST}/../../outside",
    "/etc/passwd",
    SDIR,
    f"{SDIR}/.",
    "/srv/ganeti/file-storage-other/disk0",
])
def test_paths_outside_the_storage_dir_are_refused(ctx: StorageContext,
                                                   path: str) -> None:
    dev = device(ctx, path)
    for call in (dev.exists, lambda: dev.create(1), dev.remove, dev.activate):
        with pytest.raises(errors.BlockDeviceError) as info:
            call()
        assert info.value.code == errors.ErrorCode.INVAL


def test_symlink_escape_is_refused(ctx: StorageContext, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = real(ctx, SDIR)
    os.makedirs(base)
    os.symlink(outside, os.path.join(base, "evil"))
    dev = device(ctx, f"{SDIR}/evil/disk0")
    with pytest.raises(errors.BlockDeviceError,
                       match="through a symbolic link"):
        dev.create(1)
    assert os.listdir(outside) == []
    # A disk file replaced by a link to the outside is refused too.
    good = device(ctx)
    good.create(1)
    os.unlink(good.dev_path)
    (outside / "target").write_bytes(b"")
    os.symlink(outside / "target", good.dev_path)
    with pytest.raises(errors.BlockDeviceError, match="symbolic link"):
        good.grow(10)
    assert (outside / "target").stat().st_size == 0


def test_symlink_inside_the_storage_dir_is_fine(ctx: StorageContext) -> None:
    base = real(ctx, SDIR)
    os.makedirs(os.path.join(base, "real-dir"))
    os.symlink("real-dir", os.path.join(base, "alias"))
    dev = device(ctx, f"{SDIR}/alias/disk0")
    dev.create(1)
    assert os.path.isfile(os.path.join(base, "real-dir", "disk0"))


# --- Instance directories ----------------------------------------------------

def test_storage_dir_helpers(ctx: StorageContext) -> None:
    directory = f"{SDIR}/{INST}"
    made = filestorage.create_storage_dir(directory, ctx)
    assert made == real(ctx, directory) and os.path.isdir(made)
    filestorage.create_storage_dir(directory, ctx)  # existing is fine
    device(ctx).create(1)
    with pytest.raises(errors.BlockDeviceError, match="not empty"):
        filestorage.remove_storage_dir(directory, ctx)
    device(ctx).remove()
    filestorage.remove_storage_dir(directory, ctx)
    assert not os.path.exists(made)
    filestorage.remove_storage_dir(directory, ctx)  # missing is fine
    with pytest.raises(errors.BlockDeviceError, match="not inside"):
        filestorage.create_storage_dir("/etc/ganeti", ctx)


# --- Templates ---------------------------------------------------------------

def test_generate_file_disks() -> None:
    disks = templates.generate_disks(
        constants.DT_FILE, [{"size": 1024}, {"size": 10, "mode": "ro"}], INST,
        SDIR + "/")
    assert [d.dev_type for d in disks] == ["file", "file"]
    assert [d.logical_id for d in disks] == [
        ["loop", f"{SDIR}/{INST}/disk0"], ["loop", f"{SDIR}/{INST}/disk1"]]
    assert [d.iv_name for d in disks] == ["disk/0", "disk/1"]
    assert [d.size for d in disks] == [1024, 10]
    assert [d.mode for d in disks] == ["rw", "ro"]
    for disk in disks:
        disk.validate()
    more = templates.generate_disks(constants.DT_FILE, [{"size": 5}], INST,
                                    SDIR, file_driver="blktap", base_index=2)
    assert more[0].logical_id == ["blktap", f"{SDIR}/{INST}/disk2"]
    assert more[0].iv_name == "disk/2"


def test_generate_diskless() -> None:
    assert templates.generate_disks(constants.DT_DISKLESS, [], INST, SDIR) == []
    with pytest.raises(errors.ParameterError, match="takes no disks"):
        templates.generate_disks(constants.DT_DISKLESS, [{"size": 1}], INST,
                                 SDIR)


def test_generate_plain() -> None:
    disks = templates.generate_disks(constants.DT_PLAIN,
                                     [{"size": 5}, {"size": 7, "mode": "ro"}],
                                     INST, SDIR, vg_name="xenvg", base_index=1)
    assert [(d.dev_type, d.size, d.iv_name, d.mode, d.logical_id[0])
            for d in disks] == [("lvm", 5, "disk/1", "rw", "xenvg"),
                                ("lvm", 7, "disk/2", "ro", "xenvg")]
    names = [d.logical_id[1] for d in disks]
    assert names[0].endswith(".disk1") and names[1].endswith(".disk2")
    assert names[0][:-6] != names[1][:-6]  # unique ids


@pytest.mark.parametrize("template, exc, match", [
    (constants.DT_PLAIN, errors.OpPrereqError,
     r"The plain template needs LVM, which is not enabled on this cluster"),
    (constants.DT_DRBD8, errors.ProgrammerError, "two different nodes"),
    ("floppy", errors.ParameterError, "Unknown disk template"),
])
def test_generate_other_templates(template: str, exc: type[Exception],
                                  match: str) -> None:
    with pytest.raises(exc, match=match):
        templates.generate_disks(template, [{"size": 1}], INST, SDIR)


@pytest.mark.parametrize("specs, kwargs, match", [
    ([{"size": 0}], {}, "size"),
    ([{"size": "1G"}], {}, "size"),
    ([{}], {}, "size"),
    ([{"size": 1, "mode": "rx"}], {}, "mode"),
    ([{"size": 1}], {"file_driver": "tape"}, "File driver"),
])
def test_generate_bad_specs(specs: list[dict[str, Any]], kwargs: dict[str, Any],
                            match: str) -> None:
    with pytest.raises(errors.ParameterError, match=match):
        templates.generate_disks(constants.DT_FILE, specs, INST, SDIR, **kwargs)


def test_generate_bad_names() -> None:
    with pytest.raises(errors.ParameterError, match="instance name"):
        templates.generate_disks(constants.DT_FILE, [{"size": 1}], "../x", SDIR)
    with pytest.raises(errors.ParameterError, match="absolute path"):
        templates.generate_disks(constants.DT_FILE, [{"size": 1}], INST, "rel")


def test_generated_disks_create_on_the_node(ctx: StorageContext) -> None:
    for disk in templates.generate_disks(constants.DT_FILE,
                                         [{"size": 3}, {"size": 4}], INST, SDIR):
        dev = storage.get_device(disk, ctx)
        dev.create(disk.size)
        assert dev.size_mib == disk.size


def test_rename_disks_for_instance(ctx: StorageContext) -> None:
    disks = templates.generate_disks(constants.DT_FILE,
                                     [{"size": 1}, {"size": 2}], INST, SDIR)
    for disk in disks:
        storage.get_device(disk, ctx).create(disk.size)
    new_name = "inst9.example.com"
    old_dir, new_dir, pure = templates.renamed_file_disks(disks, new_name)
    assert (old_dir, new_dir) == (f"{SDIR}/{INST}", f"{SDIR}/{new_name}")
    renamed = templates.rename_disks_for_instance(disks, new_name, ctx)
    assert [d.logical_id for d in renamed] == [d.logical_id for d in pure] == [
        ["loop", f"{SDIR}/{new_name}/disk0"], ["loop", f"{SDIR}/{new_name}/disk1"]]
    assert disks[0].logical_id == ["loop", f"{SDIR}/{INST}/disk0"]  # untouched
    assert [storage.get_device(d, ctx).size_mib for d in renamed] == [1, 2]
    assert not os.path.exists(real(ctx, f"{SDIR}/{INST}"))
    # Repeating the rename (a retried job) is harmless.
    templates.rename_disks_for_instance(disks, new_name, ctx)


def test_rename_refuses_existing_target(ctx: StorageContext) -> None:
    disks = templates.generate_disks(constants.DT_FILE, [{"size": 1}], INST,
                                     SDIR)
    storage.get_device(disks[0], ctx).create(1)
    filestorage.create_storage_dir(f"{SDIR}/inst2.example.com", ctx)
    with pytest.raises(errors.BlockDeviceError, match="the target exists"):
        templates.rename_disks_for_instance(disks, "inst2.example.com", ctx)
    with pytest.raises(errors.BlockDeviceError, match="does not exist"):
        filestorage.rename_storage_dir(f"{SDIR}/gone", f"{SDIR}/new", ctx)


def test_rename_without_file_disks() -> None:
    assert templates.rename_disks_for_instance([], "inst2.example.com") == []
    assert templates.renamed_file_disks([], "x.example.com") == (None, None, [])


def test_disks_in_several_directories_are_inconsistent() -> None:
    disks = [file_disk(f"{SDIR}/a/disk0"), file_disk(f"{SDIR}/b/disk1")]
    with pytest.raises(errors.BlockDeviceError, match="several directories"):
        templates.renamed_file_disks(disks, "c.example.com")
