"""qemu's command line from the KVM hvparams: one case per parameter."""

from __future__ import annotations

from typing import Any

import pytest

from ganeti import constants, errors, params
from ganeti.hypervisor.kvm import cmdline


def _spec(**overrides: Any) -> cmdline.StartSpec:
    hvp = dict(params.hv_defaults(constants.HT_KVM))
    hvp["kernel_path"] = ""  # boot from the disk unless a test says not
    hvp.update(overrides.pop("hv", {}))
    base: dict[str, Any] = dict(
        name="web1.example.com", uuid="1234", memory=256, vcpus=2,
        hvparams=hvp, pidfile="/run/p", qmp_socket="/run/q.qmp",
        serial_socket="/run/q.serial", kvm_available=True)
    base.update(overrides)
    return cmdline.StartSpec(**base)


def _opt(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, word in enumerate(cmd[:-1]) if word == flag]


def test_basics() -> None:
    cmd = cmdline.build_command(_spec())
    assert cmd[0] == constants.KVM_PATH
    assert _opt(cmd, "-name") == ["web1.example.com"]
    assert _opt(cmd, "-uuid") == ["1234"]
    assert _opt(cmd, "-m") == ["256"] and _opt(cmd, "-smp") == ["2"]
    assert "-daemonize" in cmd and "-nodefaults" in cmd
    assert _opt(cmd, "-pidfile") == ["/run/p"]
    assert _opt(cmd, "-qmp") == ["unix:/run/q.qmp,server=on,wait=off"]
    assert _opt(cmd, "-serial") == ["unix:/run/q.serial,server=on,wait=off"]
    assert _opt(cmd, "-machine") == ["pc"]
    assert _opt(cmd, "-boot") == ["c"]
    assert _opt(cmd, "-display") == ["none"] and "-vnc" not in cmd


@pytest.mark.parametrize(("flag", "available", "accel"), [
    ("", True, "kvm"), ("", False, "tcg"), ("disabled", True, "tcg"),
    ("enabled", True, "kvm")])
def test_kvm_flag(flag: str, available: bool, accel: str) -> None:
    cmd = cmdline.build_command(_spec(hv={"kvm_flag": flag},
                                      kvm_available=available))
    assert _opt(cmd, "-accel") == [accel]


def test_kvm_flag_enabled_without_kvm_is_an_error() -> None:
    with pytest.raises(errors.HypervisorError, match="/dev/kvm"):
        cmdline.build_command(_spec(hv={"kvm_flag": "enabled"},
                                    kvm_available=False))


def test_kernel_and_append() -> None:
    cmd = cmdline.build_command(_spec(hv={
        "kernel_path": "/boot/vmlinuz", "initrd_path": "/boot/initrd",
        "root_path": "/dev/vda1", "kernel_args": "ro quiet",
        "serial_speed": 115200}))
    assert _opt(cmd, "-kernel") == ["/boot/vmlinuz"]
    assert _opt(cmd, "-initrd") == ["/boot/initrd"]
    assert _opt(cmd, "-append") == [
        "root=/dev/vda1 console=ttyS0,115200 ro quiet"]


def test_no_kernel_boots_from_disk() -> None:
    cmd = cmdline.build_command(_spec(hv={"kernel_path": ""}))
    assert "-kernel" not in cmd and "-append" not in cmd


def test_no_serial_console() -> None:
    cmd = cmdline.build_command(_spec(hv={"serial_console": False,
                                          "kernel_path": "/k"}))
    assert _opt(cmd, "-serial") == ["none"]
    assert "console=" not in _opt(cmd, "-append")[0]


def test_acpi_off_machine_and_cpu() -> None:
    cmd = cmdline.build_command(_spec(hv={
        "acpi": False, "machine_version": "pc-i440fx-7.2", "cpu_type": "qemu64"}))
    assert _opt(cmd, "-machine") == ["pc-i440fx-7.2,acpi=off"]
    assert _opt(cmd, "-cpu") == ["qemu64"]


def test_disks_as_block_nodes_with_cache_readonly_and_commas() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"disk_cache": "none"},
        disks=[cmdline.DiskSpec("/srv/a,b"),
               cmdline.DiskSpec("/srv/c", read_only=True)]))
    assert _opt(cmd, "-blockdev") == [
        "driver=file,filename=/srv/a,,b,node-name=file0,cache.direct=on",
        "driver=raw,file=file0,node-name=disk0",
        "driver=file,filename=/srv/c,node-name=file1,cache.direct=on,"
        "read-only=on",
        "driver=raw,file=file1,node-name=disk1,read-only=on"]
    assert _opt(cmd, "-device") == ["virtio-blk-pci,drive=disk0,bootindex=0",
                                    "virtio-blk-pci,drive=disk1"]
    assert "-drive" not in cmd


def test_no_boot_index_with_a_kernel() -> None:
    # qemu's kernel loader takes boot index 0 itself: the same index on
    # the first disk makes qemu refuse to start.
    cmd = cmdline.build_command(_spec(hv={"kernel_path": "/boot/vmlinuz"},
                                      disks=[cmdline.DiskSpec("/d")]))
    assert _opt(cmd, "-device") == ["virtio-blk-pci,drive=disk0"]


@pytest.mark.parametrize(("cache", "device"), [
    ("writethrough", ",write-cache=off"), ("writeback", ",write-cache=on"),
    ("default", "")])
def test_disk_cache_on_the_device(cache: str, device: str) -> None:
    cmd = cmdline.build_command(_spec(hv={"disk_cache": cache},
                                      disks=[cmdline.DiskSpec("/d")]))
    assert _opt(cmd, "-device") == [
        f"virtio-blk-pci,drive=disk0{device},bootindex=0"]


def test_ide_disks_leave_the_cdrom_slot() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"disk_type": "ide", "boot_order": "cdrom"},
        disks=[cmdline.DiskSpec(f"/d{i}") for i in range(3)]))
    assert _opt(cmd, "-device") == [
        "ide-hd,drive=disk0,bus=ide.0,unit=0",
        "ide-hd,drive=disk1,bus=ide.0,unit=1",
        "ide-hd,drive=disk2,bus=ide.1,unit=1"]


def test_scsi_disks_get_a_controller() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"disk_type": "scsi"}, disks=[cmdline.DiskSpec("/d")]))
    assert _opt(cmd, "-device") == [
        "lsi53c895a,id=scsi0", "scsi-hd,drive=disk0,bus=scsi0.0,scsi-id=0,"
        "bootindex=0"]


@pytest.mark.parametrize("disk_type", ["sd", "mtd", "pflash"])
def test_legacy_disk_interfaces(disk_type: str) -> None:
    cmd = cmdline.build_command(_spec(
        hv={"disk_type": disk_type, "disk_cache": "writethrough"},
        disks=[cmdline.DiskSpec("/d", read_only=True)]))
    assert _opt(cmd, "-drive") == [
        f"file=/d,format=raw,if={disk_type},index=0,id=disk0,"
        "cache=writethrough,readonly=on"]


def test_cdrom_and_boot_order() -> None:
    cmd = cmdline.build_command(_spec(hv={
        "cdrom_image_path": "/iso/d.iso", "boot_order": "cdrom"}))
    assert _opt(cmd, "-boot") == ["d"]
    assert "file=/iso/d.iso,format=raw,media=cdrom" in _opt(cmd, "-drive")[0]
    assert _opt(cmdline.build_command(
        _spec(hv={"boot_order": "network"})), "-boot") == ["n"]


@pytest.mark.parametrize(("nic_type", "model"), sorted(
    cmdline.NIC_MODELS.items()))
def test_nic_models(nic_type: str, model: str) -> None:
    cmd = cmdline.build_command(_spec(
        hv={"nic_type": nic_type},
        nics=[cmdline.NicSpec("aa:00:00:00:00:01", 7, "gnt0")]))
    assert _opt(cmd, "-netdev") == ["tap,id=net0,fd=7"]
    assert _opt(cmd, "-device") == [
        f"{model},netdev=net0,mac=aa:00:00:00:00:01"]


def test_vhost_only_for_paravirtual() -> None:
    nics = [cmdline.NicSpec("aa:00:00:00:00:01", 7)]
    cmd = cmdline.build_command(_spec(hv={"vhost_net": True}, nics=nics))
    assert _opt(cmd, "-netdev") == ["tap,id=net0,fd=7,vhost=on"]
    cmd = cmdline.build_command(_spec(
        hv={"vhost_net": True, "nic_type": "e1000"}, nics=nics))
    assert _opt(cmd, "-netdev") == ["tap,id=net0,fd=7"]


def test_vnc_address_display_password() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"vnc_bind_address": "127.0.0.1"}, vnc_port=5905))
    assert _opt(cmd, "-vnc") == ["127.0.0.1:5,password=on"]
    assert _opt(cmd, "-vga") == ["std"] and "-display" not in cmd


def test_vnc_without_password_file_and_ipv6_and_unix() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"vnc_bind_address": "::1", "vnc_password_file": ""}, vnc_port=5901))
    assert _opt(cmd, "-vnc") == ["[::1]:1"]
    cmd = cmdline.build_command(_spec(
        hv={"vnc_bind_address": "/run/vnc.sock", "vnc_password_file": ""}))
    assert _opt(cmd, "-vnc") == ["unix:/run/vnc.sock"]


def test_vnc_tls_x509() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"vnc_bind_address": "0.0.0.0", "vnc_tls": True,
            "vnc_x509_path": "/etc/x509", "vnc_x509_verify": True,
            "vnc_password_file": ""}, vnc_port=5900))
    assert _opt(cmd, "-object") == [
        "tls-creds-x509,id=vnctls0,endpoint=server,dir=/etc/x509,"
        "verify-peer=yes"]
    assert _opt(cmd, "-vnc") == ["0.0.0.0:0,tls-creds=vnctls0"]
    cmd = cmdline.build_command(_spec(
        hv={"vnc_bind_address": "0.0.0.0", "vnc_tls": True,
            "vnc_password_file": ""}, vnc_port=5900))
    assert _opt(cmd, "-object") == ["tls-creds-anon,id=vnctls0,endpoint=server"]


def test_vnc_needs_a_port() -> None:
    with pytest.raises(errors.HypervisorError, match="no network port"):
        cmdline.build_command(_spec(hv={"vnc_bind_address": "127.0.0.1"}))


def test_usb_localtime_runas_chroot_extra_incoming() -> None:
    cmd = cmdline.build_command(_spec(
        hv={"usb_mouse": "tablet", "use_localtime": True,
            "security_model": "user", "security_domain": "kvmuser",
            "use_chroot": True, "kvm_extra": "-no-hpet -global 'a=b c'"},
        chroot_dir="/run/chroot/x", incoming=True))
    assert _opt(cmd, "-device") == ["usb-tablet"] and "-usb" in cmd
    assert _opt(cmd, "-rtc") == ["base=localtime"]
    assert _opt(cmd, "-runas") == ["kvmuser"]
    assert _opt(cmd, "-chroot") == ["/run/chroot/x"]
    assert _opt(cmd, "-incoming") == ["defer"]
    assert cmd[-3:] == ["-no-hpet", "-global", "a=b c"]


def test_runas_a_pool_uid() -> None:
    cmd = cmdline.build_command(_spec(hv={"security_model": "pool"},
                                      pool_uid=71003))
    assert _opt(cmd, "-runas") == ["71003:71003"]
    assert "-runas" not in cmdline.build_command(_spec())
    with pytest.raises(errors.ProgrammerError, match="without a uid"):
        cmdline.build_command(_spec(hv={"security_model": "pool"}))


def test_kvm_path_override() -> None:
    cmd = cmdline.build_command(_spec(hv={"kvm_path": "/opt/qemu"}))
    assert cmd[0] == "/opt/qemu"
    assert cmdline.build_command(_spec(), kvm_path="/x")[0] == "/x"


def test_driver_relocates_node_paths_under_the_root(tmp_path: Any) -> None:
    # A node under GANETI_ROOTDIR (a local cluster's) has its kernel under
    # its root; qemu must be given that file, not the host's /boot/...
    from ganeti import pathutils
    from ganeti.hypervisor.kvm import KvmHypervisor, runtime

    root = str(tmp_path / "node1")
    hv = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "run")))
    pathutils.set_root(root)
    try:
        hvp = hv.relocated({"kernel_path": "/boot/vmlinuz",
                             "initrd_path": "", "kernel_args": "/x",
                             "cdrom_image_path": "/iso/a.iso"})
    finally:
        pathutils.set_root(None)
    assert hvp == {"kernel_path": f"{root}/boot/vmlinuz", "initrd_path": "",
                   "kernel_args": "/x", "cdrom_image_path": f"{root}/iso/a.iso"}
