"""DRBD logical and physical ids: the master's per-node view of a disk."""

from __future__ import annotations

import pytest

from ganeti import constants, errors, objects
from ganeti.storage import drbd_ids

IPS = {"node1": "198.51.100.1", "node2": "198.51.100.2"}


def _drbd() -> objects.Disk:
    data = objects.Disk(dev_type=constants.LD_LV, size=1024,
                        logical_id=["xenvg", "u.disk0_data"])
    meta = objects.Disk(dev_type=constants.LD_LV, size=128,
                        logical_id=["xenvg", "u.disk0_meta"])
    return objects.Disk(dev_type=constants.LD_DRBD8, size=1024,
                        logical_id=["node1", "node2", 11000, 0, 3, "s3cr3t"],
                        children=[data, meta], iv_name="disk/0")


def test_each_end_sees_itself_as_local() -> None:
    one = drbd_ids.for_node(_drbd(), "node1", IPS)
    two = drbd_ids.for_node(_drbd(), "node2", IPS)
    assert one.physical_id == ["198.51.100.1", 11000, "198.51.100.2", 11000,
                               0, "s3cr3t"]
    assert two.physical_id == ["198.51.100.2", 11000, "198.51.100.1", 11000,
                               3, "s3cr3t"]
    assert one.children[0].physical_id == ["xenvg", "u.disk0_data"]
    assert drbd_ids.parse_physical_id(two.physical_id).local_minor == 3


def test_original_is_left_alone() -> None:
    disk = _drbd()
    drbd_ids.for_node(disk, "node1", IPS)
    assert disk.physical_id == []


def test_node_not_in_disk_is_a_programmer_error() -> None:
    with pytest.raises(errors.ProgrammerError, match="not on node node3"):
        drbd_ids.for_node(_drbd(), "node3", IPS)


@pytest.mark.parametrize("bad", [
    [], ["node1", "node1", 11000, 0, 1, "x"], ["a", "b", 0, 0, 1, "x"],
    ["a", "b", 70000, 0, 1, "x"], ["a", "b", 11000, -1, 1, "x"],
    "a,b", ["a", "b", 11000, 0, 1, None]])
def test_bad_logical_ids_are_refused(bad: object) -> None:
    with pytest.raises(errors.BlockDeviceError, match="Invalid DRBD logical"):
        drbd_ids.parse_logical_id(bad)


def test_missing_physical_id_names_the_cause() -> None:
    with pytest.raises(errors.BlockDeviceError, match="master sets it"):
        drbd_ids.parse_physical_id([])
