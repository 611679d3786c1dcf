"""The block device calls, through the node's dispatcher and the client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_backend_instance_support import (
    INST,
    SDIR,
    call,
    client,
    failure,
    file_disk,
    on_node,
)

from ganeti import constants, objects, pathutils
from ganeti.backend import blockdev as bd
from ganeti.storage import SyncStatus

MIB = 1024 * 1024


@pytest.fixture
def node(tmp_path: Path) -> Iterator[pathutils.Paths]:
    with on_node(tmp_path / "node1") as paths:
        yield paths


def test_create_makes_a_sparse_file_and_returns_its_path(
        node: pathutils.Paths) -> None:
    disk = file_disk(size=100)
    path = call("blockdev_create", disk.to_dict(), 100, INST, True)
    assert path == node.under(f"{SDIR}/{INST}/disk0")
    assert os.path.getsize(path) == 100 * MIB
    assert os.stat(path).st_blocks == 0
    assert "already exists" in failure("blockdev_create", disk.to_dict(), 100,
                                       INST, True)


def test_create_checks_owner_and_primary(node: pathutils.Paths) -> None:
    disk = file_disk().to_dict()
    assert "not in the directory of instance other.example.com" in failure(
        "blockdev_create", disk, 10, "other.example.com", True)
    assert "only be used on the instance's primary node" in failure(
        "blockdev_create", disk, 10, INST, False)
    assert "argument 'owner'" in failure("blockdev_create", disk, 10,
                                         "bad name!", True)


def test_remove_grow_sizes_and_assemble(node: pathutils.Paths) -> None:
    disk = file_disk(size=10).to_dict()
    path = call("blockdev_create", disk, 10, INST, True)
    assert call("blockdev_grow", disk, 6) == 16
    assert call("blockdev_grow", disk, 0) == 16
    assert call("blockdev_getsizes", [disk, file_disk(1).to_dict()]) == [16, None]
    assert call("blockdev_assemble", disk, INST, True) == path
    assert call("blockdev_shutdown", disk) is None
    assert call("blockdev_remove", disk) is None
    assert not os.path.exists(path)
    assert call("blockdev_remove", disk) is None  # missing is fine
    assert "disk/0" in failure("blockdev_assemble", disk, INST, True)
    assert "does not exist" in failure("blockdev_grow", disk, 1)


def test_grow_refuses_shrinking_at_the_argument_check(
        node: pathutils.Paths) -> None:
    message = failure("blockdev_grow", file_disk().to_dict(), -1)
    assert message == ("RPC blockdev_grow: argument 'amount': expected a"
                       " non-negative integer, got -1")


def test_find_and_mirror_status_are_typed_records(node: pathutils.Paths) -> None:
    disk = file_disk().to_dict()
    assert call("blockdev_find", disk) is None
    assert "Cannot find disk/0 on this node" in failure(
        "blockdev_getmirrorstatus", [disk])
    path = call("blockdev_create", disk, 8, INST, True)
    found = SyncStatus.from_dict(call("blockdev_find", disk))
    assert found == SyncStatus(dev_path=path, sync_percent=None,
                               estimated_time=None, is_degraded=False,
                               ldisk_status="okay")
    rpc = client()
    try:
        result = rpc.call_blockdev_getmirrorstatus(["node1"], [disk, disk])
    finally:
        rpc.close()
    statuses = [SyncStatus.from_dict(s)
                for s in result["node1"].raise_on_fail()]
    assert statuses == [found, found]


def test_rename_tries_every_pair(node: pathutils.Paths) -> None:
    first, second = file_disk(0), file_disk(1)
    call("blockdev_create", first.to_dict(), 4, INST, True)
    new_id = [constants.FD_LOOP, f"{SDIR}/{INST}/renamed0"]
    missing_new = [constants.FD_LOOP, f"{SDIR}/{INST}/renamed1"]
    message = failure("blockdev_rename", [[second.to_dict(), missing_new],
                                          [first.to_dict(), new_id]])
    assert message.startswith("Cannot rename disk/1: ")
    assert os.path.exists(node.under(new_id[1]))  # the other pair was done
    assert call("blockdev_rename", []) is None


def test_storage_dir_calls(node: pathutils.Paths) -> None:
    old, new = f"{SDIR}/{INST}", f"{SDIR}/inst2.example.com"
    call("file_storage_dir_create", old)
    assert os.path.isdir(node.under(old))
    call("file_storage_dir_rename", old, new)
    call("file_storage_dir_rename", old, new)  # a retried rename succeeds
    assert os.path.isdir(node.under(new))
    open(node.under(f"{new}/disk0"), "w").close()
    assert "is not empty" in failure("file_storage_dir_remove", new)
    os.unlink(node.under(f"{new}/disk0"))
    call("file_storage_dir_remove", new)
    assert not os.path.exists(node.under(new))
    assert "not inside the file storage directory" in failure(
        "file_storage_dir_create", "/etc/ganeti")
    assert "argument 'file_storage_dir'" in failure(
        "file_storage_dir_create", "relative/dir")


def test_file_storage_dir_comes_from_ssconf(node: pathutils.Paths) -> None:
    os.makedirs(node.data_dir)
    with open(node.ssconf_prefix + "file_storage_dir", "w") as handle:
        handle.write("/srv/other-storage\n")
    assert bd.cluster_file_storage_dir() == "/srv/other-storage"
    assert "not inside the file storage directory /srv/other-storage" in \
        failure("blockdev_create", file_disk().to_dict(), 4, INST, True)
    disk = objects.Disk(dev_type="file", size=4, logical_id=[
        "loop", f"/srv/other-storage/{INST}/disk0"])
    assert call("blockdev_create", disk.to_dict(), 4, INST, True) == \
        node.under(f"/srv/other-storage/{INST}/disk0")


@pytest.mark.parametrize(("disk", "expected"), [
    ({"dev_type": "floppy", "size": 1},
     "Disk.dev_type: expected one of drbd8, file, lvm, got"
     " 'floppy'"),
    ({"dev_type": "drbd8", "size": 1, "logical_id": []},
     "Invalid DRBD logical id (want [node_a, node_b, port, minor_a,"
     " minor_b, secret]): []"),
    ({"dev_type": "lvm", "size": 1, "logical_id": ["xenvg"]},
     "Invalid logical id of an LVM disk ['xenvg']: expected [volume group,"
     " logical volume]"),
    ({"size": 1}, "Disk: missing required field 'dev_type'"),
    ({"dev_type": "file", "size": 1, "colour": "red"},
     "Disk: unknown field(s): colour"),
    ({"dev_type": "file", "size": 1, "logical_id": ["loop", "x"]},
     "Invalid file disk logical id ['loop', 'x']: expected [driver, absolute"
     " path] with driver one of blktap, loop"),
    ({"dev_type": "file", "size": 1,
      "logical_id": ["loop", f"{SDIR}/../../etc/passwd"]},
     f"File storage path {SDIR}/../../etc/passwd is not inside the file"
     f" storage directory {SDIR}"),
])
def test_bad_disks_give_one_line_failures(node: pathutils.Paths,
                                          disk: dict[str, object],
                                          expected: str) -> None:
    for name, args in [("blockdev_find", [disk]), ("blockdev_remove", [disk]),
                       ("blockdev_getsizes", [[disk]])]:
        message = failure(name, *args)
        assert message.endswith(expected), (name, message)


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("blockdev_create", ["x", 1, INST, True],
     "argument 'disk': expected a dictionary, got 'x'"),
    ("blockdev_create", [{}, 0, INST, True],
     "argument 'size': expected a positive integer, got 0"),
    ("blockdev_create", [{}, 1, INST, "yes"],
     "argument 'on_primary': expected a boolean, got 'yes'"),
    ("blockdev_rename", [[[{}]]],
     "argument 'devlist': expected a list of a [disk, new logical id] pair"),
    ("blockdev_getmirrorstatus", [{}],
     "argument 'disks': expected a list of a dictionary, got {}"),
    ("blockdev_find", [], "expected 1 argument(s), got 0"),
])
def test_bad_arguments(node: pathutils.Paths, name: str, args: list[object],
                       expected: str) -> None:
    assert expected in failure(name, *args)
