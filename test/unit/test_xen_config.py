"""The Xen drivers' pure parts: the xl.cfg writer and reader, the xl
output parsers (on the transcripts in test/data/xen/), and the domain
configuration each hvparam produces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganeti import constants, errors, objects, params
from ganeti.hypervisor.base import InstanceState
from ganeti.hypervisor.nicmodes import NicSettings, nic_settings
from ganeti.hypervisor.xen import core, hvm, parsers, pvm, xlcfg

DATA = Path(__file__).resolve().parents[1] / "data" / "xen"
BRIDGED = NicSettings(mode="bridged", link="xen-br0", mac="aa:00:00:00:00:01",
                      ip="")
ROUTED = NicSettings(mode="routed", link="", mac="aa:00:00:00:00:02",
                     ip="192.0.2.7")


def spec(hv: str, disks: tuple[core.DiskSpec, ...] = (), vnc_port: int = 11000,
         **hvp: Any) -> core.DomainSpec:
    filled = params.fill(params.hv_defaults(hv), hvp)
    return core.DomainSpec(
        name="inst1.example.com", uuid="u-1", memory=256, vcpus=2,
        hvparams=filled, disks=disks, nics=(BRIDGED, ROUTED),
        vnc_port=vnc_port, vnc_password="secret")


def cfg(settings: list[tuple[str, Any]]) -> dict[str, Any]:
    """The settings as xl would read them back from the written file."""
    return dict(xlcfg.parse(xlcfg.render(settings, header="test")))


# --- xl.cfg syntax ------------------------------------------------------------

def test_render_and_parse_round_trip() -> None:
    settings = [("name", "a.example.com"), ("memory", 128), ("acpi", True),
                ("pae", False), ("disk", ["phy:/dev/x,xvda,w", "file:/f,xvdb,r"])]
    text = xlcfg.render(settings, header="two\nlines")
    assert text.splitlines() == [
        "# two", "# lines", 'name = "a.example.com"', "memory = 128",
        "acpi = 1", "pae = 0",
        'disk = ["phy:/dev/x,xvda,w", "file:/f,xvdb,r"]']
    assert xlcfg.parse(text) == {"name": "a.example.com", "memory": 128,
                                 "acpi": 1, "pae": 0,
                                 "disk": ["phy:/dev/x,xvda,w", "file:/f,xvdb,r"]}


def test_parse_reads_comments_and_single_quotes() -> None:
    assert xlcfg.parse("a = 'x' # note\n# all\nb = [ 'y', \"z\" ]\n") == {
        "a": "x", "b": ["y", "z"]}


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "two\nlines"])
def test_values_xl_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(errors.HypervisorError, match="'extra' cannot hold"):
        xlcfg.render([("extra", value)])


@pytest.mark.parametrize("text", ["memory 128", "a = [\"x\"", "a = @"])
def test_bad_files_are_errors(text: str) -> None:
    with pytest.raises(xlcfg.XlCfgError, match="line 1"):
        xlcfg.parse(text)


# --- xl output -------------------------------------------------------------------

def test_xl_list_transcript() -> None:
    rows = parsers.parse_list((DATA / "xl-list.txt").read_text())
    assert [(r.name, r.domid, r.memory, r.vcpus, r.state) for r in rows] == [
        ("Domain-0", 0, 750, 4, InstanceState.RUNNING),
        ("win", 1, 1019, 1, InstanceState.RUNNING),
        ("linux", 2, 2048, 2, InstanceState.RUNNING)]
    assert rows[2].cpu_time == 5624.2


@pytest.mark.parametrize(("flags", "state"), [
    ("r-----", InstanceState.RUNNING), ("------", InstanceState.RUNNING),
    ("-b----", InstanceState.BLOCKED), ("--p---", InstanceState.PAUSED),
    ("---s--", InstanceState.SHUTDOWN), ("-----d", InstanceState.SHUTDOWN),
    ("----c-", InstanceState.CRASHED), ("r-p---", InstanceState.PAUSED)])
def test_xl_list_states(flags: str, state: InstanceState) -> None:
    text = f"Name ID Mem VCPUs State Time(s)\nmy domain 3 128 1 {flags} 1.0\n"
    (row,) = parsers.parse_list(text)
    assert row.name == "my domain" and row.state == state


@pytest.mark.parametrize("text", ["", "garbage\n",
                                  "Name ID\nx 1 2 3 rxxxxx 1.0\n",
                                  "Name ID\nx one 2 3 r----- 1.0\n"])
def test_xl_list_garbage(text: str) -> None:
    with pytest.raises(parsers.XlOutputError, match="xl list"):
        parsers.parse_list(text)


def test_xl_list_long_transcript() -> None:
    domains = parsers.parse_list_long((DATA / "xl-list-l.json").read_text())
    assert [(d.name, d.domid, d.type, d.max_vcpus, d.target_mib)
            for d in domains] == [("Domain-0", 0, "pv", 2, 512),
                                  ("pv1.example.com", 3, "pv", 2, 256),
                                  ("hvm1.example.com", 4, "hvm", 1, 512)]
    with pytest.raises(parsers.XlOutputError, match="not JSON"):
        parsers.parse_list_long("[{")
    with pytest.raises(parsers.XlOutputError, match="bad domain entry"):
        parsers.parse_list_long('[{"domid": 1}]')


def test_xl_info_transcript() -> None:
    info = parsers.parse_info((DATA / "xl-info.txt").read_text())
    assert info["total_memory"] == "4063" and info["free_memory"] == "2995"
    assert parsers.info_int(info, "nr_cpus") == 2
    assert info["xen_version"] == "4.17.4-pre"
    assert info["xen_commandline"] == "placeholder dom0_mem=512M,max:512M"
    with pytest.raises(parsers.XlOutputError, match="'total_memory'"):
        parsers.parse_info("nr_cpus : 2\n")


# --- PVM ---------------------------------------------------------------------------

def test_pvm_kernel_boot() -> None:
    disks = (core.DiskSpec("phy:", "/run/d:0"),
             core.DiskSpec("file:", "/run/d:1", read_only=True))
    got = cfg(pvm.pvm_settings(spec("xen-pvm", disks,
                                    initrd_path="/boot/initrd",
                                    kernel_args="ro quiet")))
    assert got == {
        "type": "pv", "name": "inst1.example.com", "uuid": "u-1",
        "memory": 256, "maxmem": 256, "vcpus": 2,
        "on_poweroff": "destroy", "on_reboot": "restart",
        "on_crash": "restart", "kernel": "/boot/vmlinuz-2.6-xenU",
        "ramdisk": "/boot/initrd", "root": "/dev/sda1", "extra": "ro quiet",
        "disk": ["phy:/run/d:0,sda,w", "file:/run/d:1,sdb,r"],
        "vif": ["mac=aa:00:00:00:00:01,bridge=xen-br0",
                "mac=aa:00:00:00:00:02,ip=192.0.2.7,script=vif-route"]}


def test_pvm_bootloader() -> None:
    got = cfg(pvm.pvm_settings(spec(
        "xen-pvm", use_bootloader=True, bootloader_path="/usr/bin/pygrub",
        bootloader_args="--entry=2 '--args=a b'")))
    assert got["bootloader"] == "/usr/bin/pygrub"
    assert got["bootloader_args"] == ["--entry=2", "--args=a b"]
    assert not {"kernel", "ramdisk", "root", "extra"} & set(got)
    with pytest.raises(errors.HypervisorError, match="bootloader_args cannot"):
        pvm.pvm_settings(spec("xen-pvm", use_bootloader=True,
                              bootloader_path="/b", bootloader_args="'open"))


def test_use_bootloader_needs_a_path() -> None:
    with pytest.raises(errors.ParameterError,
                       match="'use_bootloader' requires 'bootloader_path'"):
        pvm.XenPvmHypervisor.check_parameter_syntax({"use_bootloader": True})


@pytest.mark.parametrize(("mask", "cpus"), [
    ("all", None), ("0-2,5", "0-2,5"), ("1:3", ["1", "3"]),
    ("0-1:all", ["0-1", "all"])])
def test_cpu_mask(mask: str, cpus: Any) -> None:
    assert cfg(pvm.pvm_settings(spec("xen-pvm", cpu_mask=mask))).get(
        "cpus") == cpus


def test_cpu_mask_per_vcpu_must_match_the_vcpus() -> None:
    with pytest.raises(errors.HypervisorError,
                       match="cpu_mask '1:2:3' has 3 per-vCPU lists but the"
                             " instance has 2 vCPUs"):
        pvm.pvm_settings(spec("xen-pvm", cpu_mask="1:2:3"))
    with pytest.raises(errors.ParameterError, match="cpu_mask"):
        params.check_hv_params("xen-pvm", {"cpu_mask": "0-"})


# --- HVM ---------------------------------------------------------------------------

def test_hvm_defaults() -> None:
    got = cfg(hvm.hvm_settings(spec("xen-hvm", (core.DiskSpec("phy:", "/d0"),))))
    assert got["type"] == "hvm" and got["boot"] == "cd"
    assert (got["acpi"], got["apic"], got["pae"], got["localtime"]) == (1, 1, 1, 0)
    assert got["firmware_override"] == "/usr/lib/xen/boot/hvmloader"
    assert got["device_model_override"] == "/usr/lib/xen/bin/qemu-dm"
    assert got["device_model_version"] == "qemu-xen-traditional"
    assert (got["vnc"], got["vnclisten"], got["vncdisplay"],
            got["vncpasswd"]) == (1, "0.0.0.0", 11000 - 5900, "secret")
    assert got["disk"] == ["phy:/d0,xvda,w"]
    assert got["vif"] == [
        "mac=aa:00:00:00:00:01,bridge=xen-br0,model=rtl8139,type=ioemu",
        "mac=aa:00:00:00:00:02,ip=192.0.2.7,script=vif-route,model=rtl8139,"
        "type=ioemu"]


def test_hvm_ioemu_disks_leave_hdc_to_the_cdrom() -> None:
    disks = tuple(core.DiskSpec("phy:", f"/d{i}") for i in range(3))
    got = cfg(hvm.hvm_settings(spec(
        "xen-hvm", disks, disk_type="ioemu", cdrom_image_path="/iso/x.iso",
        boot_order="dc", acpi=False, pae=False, use_localtime=True,
        nic_type="paravirtual", device_model="/usr/bin/qemu-system-i386",
        vnc_bind_address="192.0.2.1")))
    assert got["disk"] == ["phy:/d0,hda,w", "phy:/d1,hdb,w", "phy:/d2,hdd,w",
                           "file:/iso/x.iso,hdc:cdrom,r"]
    assert got["boot"] == "dc"
    assert (got["acpi"], got["pae"], got["localtime"]) == (0, 0, 1)
    assert got["vif"][0].endswith(",type=vif")
    assert got["device_model_version"] == "qemu-xen"
    assert got["vnclisten"] == "192.0.2.1"


def test_hvm_without_a_network_port_cannot_have_vnc() -> None:
    with pytest.raises(errors.HypervisorError, match="no network port"):
        hvm.hvm_settings(core.DomainSpec(
            name="i", uuid="u", memory=1, vcpus=1,
            hvparams=params.hv_defaults("xen-hvm")))


#: How each hvparam of the Xen tables shows in the configuration: a
#: non-default value and what the written file must then contain.
EFFECTS: dict[str, dict[str, tuple[Any, str]]] = {
    "xen-pvm": {
        "bootloader_path": ("/b/pygrub", 'bootloader = "/b/pygrub"'),
        "bootloader_args": ("-q", 'bootloader_args = ["-q"]'),
        "use_bootloader": (True, "bootloader = "),
        "kernel_path": ("/k", 'kernel = "/k"'),
        "initrd_path": ("/i", 'ramdisk = "/i"'),
        "root_path": ("/dev/xvda1", 'root = "/dev/xvda1"'),
        "kernel_args": ("quiet", 'extra = "quiet"'),
        "cpu_mask": ("3", 'cpus = "3"'),
    },
    "xen-hvm": {
        "acpi": (False, "acpi = 0"), "pae": (False, "pae = 0"),
        "vnc_bind_address": ("127.0.0.1", 'vnclisten = "127.0.0.1"'),
        "cdrom_image_path": ("/c.iso", "file:/c.iso,hdc:cdrom,r"),
        "boot_order": ("n", 'boot = "n"'),
        "nic_type": ("ne2k_pci", "model=ne2k_pci"),
        "disk_type": ("ioemu", ",hda,w"),
        "device_model": ("/dm", 'device_model_override = "/dm"'),
        "kernel_path": ("/hvmloader", 'firmware_override = "/hvmloader"'),
        "use_localtime": (True, "localtime = 1"),
        "cpu_mask": ("3", 'cpus = "3"'),
    },
}

#: Parameters used elsewhere than in the configuration file.
ELSEWHERE = {
    "migration_port": "the migration receiver's port (test_xen_driver)",
    "vnc_password_file": "read on the node into vncpasswd (test_xen_driver)",
}


@pytest.mark.parametrize("hv", ["xen-pvm", "xen-hvm"])
def test_every_hvparam_has_an_effect(hv: str) -> None:
    assert set(EFFECTS[hv]) | set(ELSEWHERE) >= set(params.hv_defaults(hv))
    build = pvm.pvm_settings if hv == "xen-pvm" else hvm.hvm_settings
    disks = (core.DiskSpec("phy:", "/d0"),)
    for name, (value, shown) in EFFECTS[hv].items():
        extra = ({"bootloader_path": "/b/pygrub", "use_bootloader": True}
                 if name.startswith("bootloader") or name == "use_bootloader"
                 else {})
        text = xlcfg.render(build(spec(hv, disks, **{**extra, name: value})))
        assert shown in text, (name, text)


# --- disks and NICs ----------------------------------------------------------------

def test_disk_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "disk0"
    path.write_bytes(b"")
    file_disk = objects.Disk(dev_type=constants.LD_FILE, size=1,
                             logical_id=["loop", str(path)])
    assert core.disk_prefix(str(path), file_disk) == "file:"
    file_disk.params = {"driver": "blktap"}
    assert core.disk_prefix(str(path), file_disk) == "tap:aio:"
    lv = objects.Disk(dev_type=constants.LD_LV, size=1, logical_id=["vg", "lv"])
    assert core.disk_prefix(str(path), lv) == "phy:"


@pytest.mark.parametrize(("nic", "message"), [
    ({"mode": "bridged", "link": ""}, "NIC 1 is bridged but has no link"),
    ({"mode": "routed", "link": "100"}, "NIC 1 is routed but has no IP"),
    ({"mode": "openvswitch", "link": "x"},
     "NIC 1 has the unknown mode 'openvswitch'"),
])
def test_bad_nics(nic: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.HypervisorError,
                       match=f"^Instance i.example.com: {message}"):
        nic_settings("i.example.com", 1, nic)
