"""Plain (LVM) instances through the processor, their volumes in the
lvm2 simulator under the test root: free-space prechecks in whole
extents, ``gnt-node volumes`` rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import NODE1, Env, create_op, install_os, lu_env

from ganeti import constants, errors, opcodes, pathutils
from ganeti.standins import lvm as simulator

INST = "inst1.example.com"
VG = constants.DEFAULT_VG


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    monkeypatch.setenv(simulator.ENABLE_ENV, "1")
    yield from lu_env(tmp_path, monkeypatch)


def sim() -> simulator.LvmSimulator:
    return simulator.LvmSimulator(simulator.state_dir(pathutils.get()))


def plain_op(disks: list[dict[str, Any]], **kwargs: Any
             ) -> opcodes.OpInstanceCreate:
    return create_op(disk_template=constants.DT_PLAIN, disks=disks, **kwargs)


def test_precheck_counts_whole_extents(env: Env) -> None:
    # 20 MiB PV: 4 extents of 4 MiB (16 MiB) free.  7 + 9 MiB fit as a
    # sum, but lvm2 allocates 8 + 12: the precheck must refuse.
    sim().create_vg(VG, {"/dev/pv0": 20})
    install_os(env)
    with pytest.raises(errors.OpPrereqError,
                       match=r"Not enough free space in volume group xenvg on"
                             r" node .* needed 20 MiB \(16 MiB in whole 4096"
                             r" KiB extents\), available 16 MiB"):
        env.run(plain_op([{"size": 7}, {"size": 9}]))
    assert env.cfg.instance_names() == []
    assert sim().runner().list_lvs(VG) == []
    # At the boundary it passes, and lvm2 (the simulator) agrees.
    env.run(plain_op([{"size": 7}, {"size": 8}]))
    assert sorted(lv.size_mib for lv in sim().runner().list_lvs(VG)) == [8, 8]


def test_precheck_counts_stripes_in_whole_extents(env: Env) -> None:
    # 12 MiB free (2 + 1 extents); 10 MiB on 2 stripes is 3 extents,
    # rounded to 4 (16 MiB): refused before lvm2 is asked.
    sim().create_vg(VG, {"/dev/pv0": 12, "/dev/pv1": 8})
    install_os(env)
    with pytest.raises(errors.OpPrereqError,
                       match=r"needed 16 MiB \(10 MiB in whole 4096 KiB"
                             r" extents\), available 12 MiB"):
        env.run(plain_op([{"size": 10, "params": {"stripes": 2}}]))
    assert sim().runner().list_lvs(VG) == []


def test_volumes_rows_have_one_line_per_physical_volume(env: Env) -> None:
    sim().create_vg(VG, {"/dev/pv0": 64, "/dev/pv1": 64})
    install_os(env)
    env.run(plain_op([{"size": 8}, {"size": 8, "params": {"stripes": 2}}],
                     no_install=True))
    inst = env.cfg.get_instance(INST)
    assert inst is not None
    lv0, lv1 = (str(d.logical_id[1]) for d in inst.disks)
    sim().runner().lvcreate(VG, "stray", 4)
    rows = env.run(opcodes.OpNodeQueryvols(
        nodes=[NODE1], output_fields=["node", "phys", "vg", "name", "size",
                                      "instance"]))
    assert sorted(rows) == sorted([
        [NODE1, "/dev/pv0", VG, lv0, 8, INST],
        [NODE1, "/dev/pv0", VG, lv1, 8, INST],
        [NODE1, "/dev/pv1", VG, lv1, 8, INST],
        [NODE1, "/dev/pv0", VG, "stray", 4, "-"]])
    with pytest.raises(errors.OpPrereqError,
                       match="Unknown output fields selected: pv"):
        env.run(opcodes.OpNodeQueryvols(nodes=[NODE1], output_fields=["pv"]))
