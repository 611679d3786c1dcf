"""``-t plain`` instances on a local cluster (its nodes use the lvm2
simulator and have the volume group xenvg out of the box)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from lvm_cluster_support import INST, Plain

from ganeti import constants
from ganeti.localcluster import LocalCluster
from ganeti.standins import lvm as simulator


@pytest.fixture
def plain(make_cluster: Callable[..., LocalCluster]) -> Plain:
    return Plain(make_cluster(2))


def _lv_names(info: str) -> list[str]:
    return [line.split("xenvg/")[1].split(",")[0]
            for line in info.splitlines() if "logical volume: xenvg/" in line]


def test_plain_life_cycle(plain: Plain) -> None:
    n1, n2 = plain.n1, plain.n2
    plain.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "plain", "--disk", "0:size=128M,stripes=2",
             "--disk", "1:size=64M", "-o", "ganeti-demo-os+minimal",
             "-n", n1.name, INST)
    info = plain.ok("gnt-instance", "info", INST)
    lvs = _lv_names(info)
    assert len(lvs) == 2
    assert f"logical volume: xenvg/{lvs[0]}, stripes: 2, stripe size: 64" \
        " KiB" in info
    assert f"logical volume: xenvg/{lvs[1]}, stripes: 1" in info
    state = plain.lvs(n1)
    assert state[lvs[0]]["segments"][0]["stripes"] == 2
    assert state[lvs[0]]["size"] == 128 and state[lvs[1]]["size"] == 64
    # The OS script wrote its header on the volume: real bytes.
    with open(plain.disk_path(n1, lvs[0]), "rb") as handle:
        assert handle.read(4096).strip(b"\0")

    plain.ok("gnt-instance", "grow-disk", INST, "0", "64M")
    assert plain.lvs(n1)[lvs[0]]["size"] == 192
    assert "disk/0: lvm, size 192M" in plain.ok("gnt-instance", "info", INST)

    plain.ok("gnt-instance", "shutdown", INST)
    assert lvs[0] in plain.ok("gnt-instance", "activate-disks", INST)
    assert plain.lvs(n1)[lvs[0]]["active"]
    plain.ok("gnt-instance", "deactivate-disks", INST)
    assert not plain.lvs(n1)[lvs[0]]["active"]
    plain.ok("gnt-instance", "reinstall", "-f", INST)

    plain.ok("gnt-instance", "rename", "--no-name-check", "--no-ip-check",
             INST, "web2.example.com")
    assert sorted(plain.lvs(n1)) == sorted(lvs)  # volumes keep their names

    plain.ok("gnt-instance", "move", "-f", "-n", n2.name, "web2.example.com")
    assert plain.lvs(n1) == {}
    assert sorted(plain.lvs(n2)) == sorted(lvs)
    with open(plain.disk_path(n2, lvs[0]), "rb") as handle:
        assert handle.read(4096).strip(b"\0")

    plain.ok("gnt-instance", "remove", "-f", "web2.example.com")
    assert plain.lvs(n2) == {}
    assert not os.path.exists(plain.disk_path(n2, lvs[0]))


def test_plain_bad_input(plain: Plain) -> None:
    base = ("add", "--no-name-check", "--no-ip-check", "-t", "plain",
            "-o", "ganeti-demo-os+minimal", "-n", plain.n1.name)
    plain.fails("Not enough free space in volume group xenvg on node"
                f" {plain.n1.name} for the disks of instance {INST}: needed"
                " 1048576 MiB, available 262128 MiB",
                "gnt-instance", *base, "--disk", "0:size=1T", INST)
    # More stripes than physical volumes: lvm2 refuses on the node, the
    # error names node, VG and LV, and nothing is left behind.
    out = plain.fails("Cannot make 5 stripes: volume group xenvg has 4"
                      " physical volume(s) with free space",
                      "gnt-instance", *base, "--disk", "0:size=64M,stripes=5",
                      INST)
    assert f"on node {plain.n1.name}, volume group xenvg" in out
    assert plain.lvs(plain.n1) == {}
    # Absurd sizes stop at the opcode, for every template (they used to
    # reach the node: "OverflowError: Python int too large...").
    for template in ("plain", "file"):
        plain.fails("at most 1099511627776 (1 EiB)", "gnt-instance", "add",
                    "--no-name-check", "--no-ip-check", "-t", template, "-o",
                    "ganeti-demo-os+minimal", "-n", plain.n1.name,
                    "--disk", "0:size=99999999999999T", INST)
    assert plain.ok("gnt-instance", "list", "--no-headers") == ""
    # Nothing was left allocated; a volume no disk is shows in verify.
    plain.ok("gnt-cluster", "verify")
    simulator.LvmSimulator(simulator.state_dir(plain.n2.paths)).runner(
        ).lvcreate(constants.DEFAULT_VG, "stray", 8)
    plain.fails(f"ERROR: node {plain.n2.name}: volume xenvg/stray is unknown",
                "gnt-cluster", "verify")


def test_storage_units(plain: Plain) -> None:
    n1 = plain.n1.name
    plain.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "plain", "--disk", "0:size=64M", "-o",
             "ganeti-demo-os+minimal", "-n", n1, "--no-start", INST)
    (lv,) = plain.lvs(plain.n1)
    volumes = plain.ok("gnt-node", "volumes", "--no-headers", "--separator",
                       "|", "--units", "m")
    assert volumes.splitlines() == [f"{n1}|/dev/lcpv0|xenvg|{lv}|64|{INST}"]
    pvs = plain.ok("gnt-node", "list-storage", "--no-headers", "--separator",
                   "|", "--units", "m", n1).splitlines()
    # 64 GiB PVs keep one 4 MiB extent for metadata, as lvm2's do.
    assert pvs == [f"{n1}|lvm-pv|/dev/lcpv{i}|65532|{used}|{65532 - used}|Y"
                   for i, used in enumerate((64, 0, 0, 0))]
    assert plain.ok("gnt-node", "list-storage", "-t", "lvm-vg", "-o",
                    "node,name,free", "--no-headers", "--units", "m").split() \
        == [plain.n1.name, "xenvg", "262064", plain.n2.name, "xenvg", "262128"]
    file_row = plain.ok("gnt-node", "list-storage", "-t", "file",
                        "--no-headers", "--separator", "|", n1).split("|")
    assert file_row[:3] == [n1, "file", "/srv/ganeti/file-storage"]

    plain.ok("gnt-node", "modify-storage", "--allocatable", "no", n1,
             "lvm-pv", "/dev/lcpv0")
    assert plain.ok("gnt-node", "list-storage", "-o", "name,allocatable",
                    "--no-headers", n1).split()[:4] == \
        ["/dev/lcpv0", "N", "/dev/lcpv1", "Y"]
    plain.fails("Storage units of type lvm-vg cannot be modified (only"
                " lvm-pv)", "gnt-node", "modify-storage", "--allocatable",
                "no", n1, "lvm-vg", "xenvg")
    plain.fails(f"Cannot modify lvm-pv /dev/nosuch on node {n1}",
                "gnt-node", "modify-storage", "--allocatable", "yes", n1,
                "lvm-pv", "/dev/nosuch")

    # A PV disappears: repair-storage drops it from the volume group.
    sim = simulator.LvmSimulator(simulator.state_dir(plain.n1.paths))
    sim.set_pv_missing(constants.DEFAULT_VG, "/dev/lcpv3")
    plain.ok("gnt-node", "repair-storage", n1, "lvm-vg", "xenvg")
    assert "/dev/lcpv3" not in plain.ok("gnt-node", "list-storage", n1)
    plain.fails(f"Cannot repair lvm-vg novg on node {n1}", "gnt-node",
                "repair-storage", n1, "lvm-vg", "novg")
    plain.fails("Unknown output fields selected: bogus", "gnt-node",
                "list-storage", "-o", "name,bogus")

    # The RAPI resources run the same opcodes.  (Imported here: another
    # module loads rapi_cluster_support as a pytest plugin.)
    from rapi_cluster_support import Rapi
    rapi = Rapi(plain.lc)
    job = rapi.write("PUT", f"/2/nodes/{n1}/storage/modify?storage_type="
                     "lvm-pv&name=/dev/lcpv0&allocatable=1")
    assert rapi.wait(job)["status"] == "success"
    status, job, _ = rapi.request(
        "GET", f"/2/nodes/{n1}/storage?storage_type=lvm-pv&output_fields="
        "name,allocatable", user=rapi.writer)
    assert status == 200
    assert rapi.wait(job)["opresult"][-1][0] == ["/dev/lcpv0", True]
    job = rapi.write("PUT", f"/2/nodes/{n1}/storage/repair?storage_type="
                     "lvm-vg&name=xenvg")
    assert rapi.wait(job)["status"] == "success"


def test_repair_disk_sizes(plain: Plain) -> None:
    n1 = plain.n1.name
    plain.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "plain", "--disk", "0:size=64M", "-o",
             "ganeti-demo-os+minimal", "-n", n1, "--no-start", INST)
    assert plain.ok("gnt-cluster", "repair-disk-sizes").strip() == \
        "All recorded disk sizes are correct"
    (lv,) = plain.lvs(plain.n1)
    # The volume grows behind the cluster's back.
    simulator.LvmSimulator(simulator.state_dir(plain.n1.paths)).runner(
        ).lvextend(constants.DEFAULT_VG, lv, 32)
    out = plain.ok("gnt-cluster", "repair-disk-sizes", INST)
    assert f"Instance {INST}, disk/0: recorded size 64 MiB, actual 96 MiB:" \
        " fixed" in out
    assert "disk/0: lvm, size 96M" in plain.ok("gnt-instance", "info", INST)
    plain.fails("Instance 'nosuch.example.com' not known", "gnt-cluster",
                "repair-disk-sizes", "nosuch.example.com")


def test_adopt_existing_volumes(plain: Plain) -> None:
    n1 = plain.n1.name
    sim = simulator.LvmSimulator(simulator.state_dir(plain.n1.paths))
    runner = sim.runner()
    runner.lvcreate(constants.DEFAULT_VG, "olddata", 20)
    runner.lvcreate(constants.DEFAULT_VG, "olddata2", 8)
    data = os.urandom(4096)
    with open(plain.disk_path(plain.n1, "olddata"), "r+b") as handle:
        handle.seek(1024 * 1024)
        handle.write(data)

    # Bad requests change nothing.
    add = ("gnt-instance", "add", "--no-name-check", "--no-ip-check",
           "-o", "ganeti-demo-os+minimal", "-n", n1, "--no-start")
    plain.fails(f"Disk 0: logical volume xenvg/nosuch on node {n1} does not"
                " exist", *add, "-t", "plain", "--disk", "0:adopt=nosuch", INST)
    plain.fails("either all disks are adopted or none", *add, "-t", "plain",
                "--disk", "0:adopt=olddata", "--disk", "1:size=8M", INST)
    plain.fails("disk adoption is not supported for the file template", *add,
                "-t", "file", "--disk", "0:adopt=olddata", INST)
    plain.fails("give either size or adopt, not both", *add, "-t", "plain",
                "--disk", "0:adopt=olddata,size=20M", INST)
    plain.fails("Disk 1: logical volume xenvg/olddata is given twice", *add,
                "-t", "plain", "--disk", "0:adopt=olddata",
                "--disk", "1:adopt=olddata", INST)
    assert sorted(plain.lvs(plain.n1)) == ["olddata", "olddata2"]
    assert plain.ok("gnt-instance", "list", "--no-headers").strip() == ""

    out = plain.ok(*add, "-t", "plain", "--disk", "0:adopt=olddata",
                   "--disk", "1:adopt=olddata2", INST)
    assert "no OS to install" in out
    lvs = sorted(plain.lvs(plain.n1))
    assert len(lvs) == 2 and all(".disk" in lv for lv in lvs)
    info = plain.ok("gnt-instance", "info", INST)
    assert "disk/0: lvm, size 20M" in info and "disk/1: lvm, size 8M" in info
    (disk0,) = [lv for lv in _lv_names(info) if lv.endswith(".disk0")]
    with open(plain.disk_path(plain.n1, disk0), "rb") as handle:
        handle.seek(1024 * 1024)
        assert handle.read(len(data)) == data
    volumes = plain.ok("gnt-node", "volumes", "--no-headers", "-o",
                       "name,size,instance", "--units", "m", n1).split()
    (disk1,) = set(lvs) - {disk0}
    assert sorted(volumes) == sorted([disk0, "20", INST, disk1, "8", INST])
    plain.ok("gnt-cluster", "verify")
    plain.fails(f"is already a disk of instance {INST}", *add, "-t", "plain",
                "--disk", f"0:adopt={disk0}", "other.example.com")
    plain.ok("gnt-instance", "grow-disk", INST, "0", "4M")
    plain.ok("gnt-instance", "remove", "-f", INST)
    assert plain.lvs(plain.n1) == {}

    # The RAPI takes the same disk dictionaries.
    from rapi_cluster_support import Rapi, create_body
    runner.lvcreate(constants.DEFAULT_VG, "viarapi", 12)
    rapi = Rapi(plain.lc)
    rapi.run("POST", "/2/instances", create_body(
        "api.example.com", n1, disk_template="plain",
        disks=[{"adopt": "viarapi"}], start=False))
    assert list(plain.lvs(plain.n1)) != ["viarapi"]
    assert "disk/0: lvm, size 12M" in plain.ok("gnt-instance", "info",
                                                "api.example.com")


def test_export_running_instance_from_snapshots(plain: Plain) -> None:
    n1, n2 = plain.n1.name, plain.n2.name
    plain.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "plain", "--disk", "0:size=8M", "-o",
             "ganeti-demo-os+minimal", "-n", n1, INST)
    (lv,) = plain.lvs(plain.n1)
    with open(plain.disk_path(plain.n1, lv), "r+b") as handle:
        handle.seek(4096)
        handle.write(b"written while running")
    out = plain.ok("gnt-backup", "export", "--noshutdown", "-n", n2, INST)
    assert f"snapshotting disk/0 on node {n1}" in out
    dump = Path(plain.n2.paths.export_dir) / INST / "disk0.dump"
    data = dump.read_bytes()
    assert len(data) == 8 * 1024 * 1024
    assert data[4096:4096 + 21] == b"written while running"
    assert list(plain.lvs(plain.n1)) == [lv]  # the snapshot is gone
    assert "running" in plain.ok("gnt-instance", "list", "--no-headers",
                                 "-o", "status", INST)
    plain.ok("gnt-cluster", "verify")
