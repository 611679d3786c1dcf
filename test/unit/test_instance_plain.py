"""Plain (LVM) instances through the processor, their volumes in the
lvm2 simulator under the test root: free-space prechecks in whole
extents, ``gnt-node volumes`` rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from instance_lu_support import NODE1, Env, create_op, install_os, lu_env

from ganeti import constants, errors, objects, opcodes, pathutils
from ganeti.cmdlib import instance_adopt
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


# --- Adoption (adopt=) ------------------------------------------------------------

def _adopt_op(*lvs: str, **kwargs: Any) -> opcodes.OpInstanceCreate:
    return plain_op([{"adopt": lv} for lv in lvs], **kwargs)


def _write(lv: str, data: bytes) -> None:
    with open(sim().backing_file(VG, lv), "r+b") as handle:
        handle.write(data)


def test_adopted_volumes_keep_their_data_and_take_generated_names(
        env: Env) -> None:
    sim().create_vg(VG, {"/dev/pv0": 256})
    runner = sim().runner()
    runner.lvcreate(VG, "data0", 12)
    runner.lvcreate(VG, "data1", 8)
    _write("data0", b"precious bytes")
    install_os(env, scripts={"create": "#!/bin/sh\necho must not run >&2\n"
                                       "exit 1\n"})
    env.run(_adopt_op("data0", "data1"))
    inst = env.cfg.get_instance(INST)
    assert inst is not None
    assert [d.size for d in inst.disks] == [12, 8]
    names = [str(d.logical_id[1]) for d in inst.disks]
    assert all(n.endswith(f".disk{i}") for i, n in enumerate(names))
    assert all(d.logical_id[0] == VG for d in inst.disks)
    assert sorted(lv.name for lv in runner.list_lvs(VG)) == sorted(names)
    with open(sim().backing_file(VG, names[0]), "rb") as handle:
        assert handle.read(14) == b"precious bytes"
    with pytest.raises(FileNotFoundError):
        env.env_of("create")
    assert any("no OS to install" in m for m in env.ctx.messages)
    # From now on they are plain disks like any other: grow, remove.
    env.run(opcodes.OpInstanceGrowDisk(instance_name=INST, disk=1,
                                       amount=4, wait_for_sync=False))
    assert runner.find_lv(VG, names[1]).size_mib == 12  # type: ignore[union-attr]
    env.run(opcodes.OpInstanceRemove(instance_name=INST))
    assert runner.list_lvs(VG) == []


@pytest.mark.parametrize("lvs, message", [
    (["nosuch"], r"Disk 0: logical volume xenvg/nosuch on node \S+ does not"
                 " exist"),
    (["data0", "data0"], "Disk 1: logical volume xenvg/data0 is given twice"
                         " for adoption"),
    (["data0", "snap"], r"Disk 1: logical volume xenvg/snap on node \S+ is a"
                        " snapshot"),
    (["-bad"], "Disk 0: Invalid logical volume name '-bad'"),
])
def test_adoption_refusals_change_nothing(env: Env, lvs: list[str],
                                          message: str) -> None:
    sim().create_vg(VG, {"/dev/pv0": 256})
    runner = sim().runner()
    runner.lvcreate(VG, "data0", 12)
    runner.lvsnapshot(VG, "data0", "snap", 4)
    install_os(env)
    before = runner.list_lvs(VG)
    with pytest.raises(errors.OpPrereqError, match=message):
        env.run(_adopt_op(*lvs))
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert runner.list_lvs(VG) == before


def test_volume_of_another_instance_cannot_be_adopted(env: Env) -> None:
    sim().create_vg(VG, {"/dev/pv0": 256})
    install_os(env)
    env.run(plain_op([{"size": 8}], instance_name="other.example.com",
                     no_install=True))
    other = env.cfg.get_instance("other.example.com")
    assert other is not None
    taken = str(other.disks[0].logical_id[1])
    with pytest.raises(errors.OpPrereqError,
                       match=rf"Disk 0: logical volume xenvg/{taken} on node"
                             r" \S+ is already a disk of instance"
                             " other.example.com"):
        env.run(_adopt_op(taken))
    assert env.cfg.instance_names() == ["other.example.com"]


def test_open_volume_cannot_be_adopted(env: Env) -> None:
    # lvm2 marks an open volume with an "o" as sixth lv_attr letter.
    sim().create_vg(VG, {"/dev/pv0": 256})
    sim().runner().lvcreate(VG, "busy", 4)
    sim().set_lv_open(VG, "busy", True)
    assert sim().runner().find_lv(VG, "busy").attr == "-wi-ao----"  # type: ignore[union-attr]
    install_os(env)
    with pytest.raises(errors.OpPrereqError,
                       match=r"xenvg/busy on node \S+ is open \(in use\)"):
        env.run(_adopt_op("busy"))


@pytest.mark.parametrize("disks, template, message", [
    ([{"adopt": "a"}, {"size": 4}], constants.DT_PLAIN,
     "either all disks are adopted or none"),
    ([{"adopt": "a"}], constants.DT_FILE,
     "disk adoption is not supported for the file template"),
    ([{"adopt": "a", "size": 4}], constants.DT_PLAIN,
     "disk 0: give either size or adopt, not both"),
])
def test_adoption_opcode_refusals(disks: list[dict[str, Any]], template: str,
                                  message: str) -> None:
    with pytest.raises(errors.OpPrereqError, match=message):
        create_op(disk_template=template, disks=disks).validate_all()


def test_rename_failing_half_way_renames_back(env: Env) -> None:
    sim().create_vg(VG, {"/dev/pv0": 256})
    runner = sim().runner()
    runner.lvcreate(VG, "first", 4)
    disks = [objects.Disk(dev_type=constants.LD_LV, size=4,
                          logical_id=[VG, f"new.disk{i}"], iv_name=f"disk/{i}")
             for i in range(2)]
    lu = SimpleNamespace(rpc=env.proc.luctx.rpc, cfg=env.cfg)
    with pytest.raises(errors.OpExecError,
                       match=r"Cannot rename logical volume xenvg/gone to"
                             r" new.disk1 on node \S+: .*gone"):
        instance_adopt.rename_volumes(lu, NODE1, disks,  # type: ignore[arg-type]
                                      ["first", "gone"])
    assert [lv.name for lv in runner.list_lvs(VG)] == ["first"]


# --- Exports read LV snapshots ------------------------------------------------------

EXPORT_HEAD = "#!/bin/sh\nhead -c 14 \"$EXPORT_DEVICE\"\n"


def _running_plain(env: Env, export_script: str) -> str:
    sim().create_vg(VG, {"/dev/pv0": 256})
    install_os(env, scripts={"export": export_script,
                             "import": "#!/bin/sh\ncat >/dev/null\n"})
    env.run(plain_op([{"size": 8}], nics=[], no_install=True))
    inst = env.cfg.get_instance(INST)
    assert inst is not None
    lv = str(inst.disks[0].logical_id[1])
    _write(lv, b"precious bytes")
    env.run(opcodes.OpInstanceStartup(instance_name=INST))
    return lv


def _running() -> list[str]:
    from ganeti.hypervisor.fake import FakeHypervisor
    return FakeHypervisor(state_dir=pathutils.get().fake_hv_dir
                          ).list_instances()


@pytest.mark.parametrize("shutdown", [False, True])
def test_export_reads_snapshots_and_removes_them(env: Env,
                                                 shutdown: bool) -> None:
    lv = _running_plain(env, EXPORT_HEAD)
    env.run(opcodes.OpBackupExport(instance_name=INST, target_node=NODE1,
                                   shutdown=shutdown))
    dump = pathutils.get().export_dir + f"/{INST}/disk0.dump"
    with open(dump, "rb") as handle:
        assert handle.read() == b"precious bytes"
    assert any(f"snapshotting disk/0 on node {NODE1}" in m
               for m in env.ctx.messages)
    assert shutdown == any("again (the export reads the snapshots)" in m
                           for m in env.ctx.messages)
    assert [v.name for v in sim().runner().list_lvs(VG)] == [lv]
    assert _running() == [INST]


def test_failed_snapshot_export_removes_the_snapshot(env: Env) -> None:
    lv = _running_plain(env, "#!/bin/sh\necho 'disk unreadable' >&2\nexit 3\n")
    with pytest.raises(errors.OpExecError, match="disk unreadable"):
        env.run(opcodes.OpBackupExport(instance_name=INST, target_node=NODE1,
                                       shutdown=False))
    assert [v.name for v in sim().runner().list_lvs(VG)] == [lv]
    # A snapshot that cannot be made (a leftover one) stops the export
    # before anything is dumped, naming node, VG and LV.
    sim().runner().lvcreate(VG, lv + ".snap", 4)
    with pytest.raises(errors.OpExecError,
                       match=rf"Cannot snapshot disk/0 of instance {INST} on"
                             rf" node {NODE1}: Snapshot {lv}.snap already"
                             " exists .*volume group xenvg"):
        env.run(opcodes.OpBackupExport(instance_name=INST, target_node=NODE1,
                                       shutdown=False))
    assert _running() == [INST]


def test_failure_on_a_later_disk_leaves_nothing_allocated(env: Env) -> None:
    # Disk 1 wants 3 stripes on 2 PVs: the node refuses it after disk 0
    # was made; disk 0 goes again, no instance is added.
    sim().create_vg(VG, {"/dev/pv0": 64, "/dev/pv1": 64})
    install_os(env)
    with pytest.raises(errors.OpExecError,
                       match=r"Cannot create disk/1 of instance .*: Cannot"
                             r" make 3 stripes: volume group xenvg has 2"
                             r" physical volume\(s\) .*\(on node .*, volume"
                             r" group xenvg, logical volume .*\.disk1\)"):
        env.run(plain_op([{"size": 8}, {"size": 8, "params": {"stripes": 3}}]))
    assert sim().runner().list_lvs(VG) == []
    assert env.cfg.instance_names() == [] and env.instance_locks() == []
