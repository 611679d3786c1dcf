"""Exports: config.ini written and read back (and refused when broken),
and the export directory handlers of the node (temporary directory,
ordered chunks, atomic replacement, list, info, remove)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from ganeti import backend, constants, errors, objects, pathutils
from ganeti.cmdlib import backup
from ganeti.cmdlib.instance_common import FilledParams


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    paths = pathutils.set_root(str(tmp_path / "node"))
    backend.load_handlers()
    yield paths
    pathutils.set_root(None)


def call(name: str, *args: Any) -> Any:
    return backend.dispatch(name, list(args))


def _instance() -> objects.Instance:
    return objects.Instance(
        name="inst1.example.com", primary_node="node1.example.com",
        os="demo+minimal", hypervisor=constants.HT_FAKE,
        beparams={"memory": 256}, osparams={"fill_size": "0"},
        disk_template=constants.DT_FILE,
        nics=[objects.NIC(mac="aa:00:00:00:00:01", ip=None)],
        disks=[objects.Disk(dev_type=constants.LD_FILE, size=16,
                            iv_name="disk/0"),
               objects.Disk(dev_type=constants.LD_FILE, size=32,
                            iv_name="disk/1")])


def test_config_round_trip() -> None:
    inst = _instance()
    filled = FilledParams(hv={}, be={"memory": 256, "vcpus": 1},
                          nics=[{"mode": "bridged", "link": "br0"}],
                          os={"fill_size": "0"})
    text = backup.build_export_config(inst, filled, "node1.example.com",
                                      {0: "disk0.dump", 1: "disk1.dump"}, 1e9)
    assert text.startswith("[export]\nversion = 0\ntimestamp = 1000000000\n")
    assert "disk1_size = 32\n" in text and "nic0_link = br0\n" in text
    info = backup.parse_export_config(text, "here")
    assert info["os"] == "demo+minimal" and info["name"] == inst.name
    assert info["disks"] == [{"size": 16, "dump": "disk0.dump"},
                             {"size": 32, "dump": "disk1.dump"}]
    assert info["nics"] == [{"mac": "aa:00:00:00:00:01", "ip": None,
                             "mode": "bridged", "link": "br0"}]
    assert info["beparams"] == {"memory": "256"}


@pytest.mark.parametrize("text,reason", [
    ("", "missing 'export'"),
    ("not ini at all", "File contains no section headers"),
    ("[export]\nos = x\nsource = n\n[instance]\nname = i\n", "missing"),
    ("[export]\nversion = 7\nos = x\nsource = n\n[instance]\n",
     "unsupported export version 7"),
    ("[export]\nos = x\nsource = n\n[instance]\nname = i\nnic_count = 0\n"
     "disk_count = 1\ndisk0_size = 8\ndisk0_dump = ../../etc/passwd\n",
     "invalid disk0 entries"),
])
def test_broken_config_is_refused(text: str, reason: str) -> None:
    with pytest.raises(errors.OpPrereqError) as err:
        backup.parse_export_config(text, "e1 on node n2")
    assert str(err.value).startswith("Invalid export config e1 on node n2: ")
    assert reason in str(err.value)


def _chunk(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_export_directory_life(node: Any) -> None:
    root = Path(node.export_dir)
    call("export_prepare", "i1", 1024)
    with pytest.raises(errors.OpPrereqError, match="unfinished export of i1"):
        call("export_prepare", "i1", 1024)
    call("export_write_chunk", "i1", "disk0.dump", 0, _chunk(b"abc"))
    call("export_write_chunk", "i1", "disk0.dump", 3, _chunk(b"def"))
    with pytest.raises(errors.OpExecError, match="lost or repeated chunk"):
        call("export_write_chunk", "i1", "disk0.dump", 3, _chunk(b"def"))
    assert call("transfer_progress", "i1", "disk0.dump") == 0  # none here
    assert call("export_list") == []  # not finished: not listed
    call("export_finalize", "i1", "[export]\n")
    assert sorted(os.listdir(root)) == ["i1"]
    assert call("export_list") == ["i1"]
    assert call("export_info", "i1") == "[export]\n"
    assert base64.b64decode(call("export_read_chunk", "i1", "disk0.dump", 2,
                                 3)) == b"cde"
    assert call("export_read_chunk", "i1", "disk0.dump", 6, 3) == ""

    # A second export replaces the first only when finalized.
    call("export_prepare", "i1", 0)
    call("export_write_chunk", "i1", "disk0.dump", 0, _chunk(b"new"))
    assert (root / "i1" / "disk0.dump").read_bytes() == b"abcdef"
    assert call("export_abort", "i1") is True
    assert (root / "i1" / "disk0.dump").read_bytes() == b"abcdef"
    call("export_prepare", "i1", 0)
    call("export_write_chunk", "i1", "disk0.dump", 0, _chunk(b"new"))
    call("export_finalize", "i1", "[export]\nv=2\n")
    assert (root / "i1" / "disk0.dump").read_bytes() == b"new"
    assert sorted(os.listdir(root)) == ["i1"]

    assert call("export_remove", "i1") is True
    assert call("export_remove", "i1") is False
    with pytest.raises(errors.OpPrereqError, match="No export of i1"):
        call("export_info", "i1")


def test_names_with_slashes_and_missing_space(node: Any) -> None:
    with pytest.raises(errors.ProtocolError, match="no '/'"):
        call("export_prepare", "../x", 0)
    with pytest.raises(errors.OpPrereqError, match="Not enough space"):
        call("export_prepare", "i1", 2**62)
    assert not os.path.exists(os.path.join(node.export_dir, "i1.new"))
    with pytest.raises(errors.OpExecError, match="No export of i2 is being"):
        call("export_write_chunk", "i2", "disk0.dump", 0, _chunk(b"x"))
