"""qemu's command line, built from an instance and its filled hvparams.

:func:`build_command` is a pure function of a :class:`StartSpec`: no file
is looked at and nothing runs, so every hypervisor parameter's effect on
the command line is tested without qemu.  The driver fills the spec (disk
paths, tap file descriptors, runtime file paths) and runs the result.

The command line never carries a secret: the VNC password is set through
QMP after the start (``password=on`` only asks qemu to require one).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ganeti import constants, errors
from ganeti.hypervisor import vnc
from ganeti.hypervisor.vnc import vnc_display

#: qemu's device model of each ``nic_type`` value.
NIC_MODELS: Final[Mapping[str, str]] = {
    "paravirtual": "virtio-net-pci",
    "rtl8139": "rtl8139",
    "ne2k_pci": "ne2k_pci",
    "ne2k_isa": "ne2k_isa",
    "i82551": "i82551",
    "i82557b": "i82557b",
    "i82559er": "i82559er",
    "pcnet": "pcnet",
    "e1000": "e1000",
}

#: qemu's ``-drive if=`` value of each ``disk_type`` value.
DISK_INTERFACES: Final[Mapping[str, str]] = {
    "paravirtual": "virtio",
    "ide": "ide",
    "scsi": "scsi",
    "sd": "sd",
    "mtd": "mtd",
    "pflash": "pflash",
}

#: ``-boot`` letter of each ``boot_order`` value.
BOOT_DEVICES: Final[Mapping[str, str]] = {
    "disk": "c",
    "cdrom": "d",
    "network": "n",
}

#: VNC displays are counted from this TCP port (see ganeti.hypervisor.vnc).
VNC_BASE_PORT: Final = vnc.VNC_BASE_PORT


@dataclass(frozen=True)
class NicSpec:
    """One NIC as qemu gets it: an open tap descriptor and its MAC."""

    mac: str
    tap_fd: int
    #: The tap's name on the host (recorded; qemu only sees the fd).
    tap_name: str = ""


@dataclass(frozen=True)
class DiskSpec:
    """One disk as qemu gets it."""

    path: str
    read_only: bool = False


@dataclass(frozen=True)
class StartSpec:
    """Everything :func:`build_command` needs."""

    name: str
    uuid: str
    memory: int
    vcpus: int
    hvparams: Mapping[str, Any]
    pidfile: str
    qmp_socket: str
    serial_socket: str
    disks: Sequence[DiskSpec] = ()
    nics: Sequence[NicSpec] = ()
    #: TCP port of the VNC server (the instance's network_port), if any.
    vnc_port: int | None = None
    #: Directory qemu chroots into when ``use_chroot`` is set.
    chroot_dir: str = ""
    #: Whether this host can use KVM acceleration (/dev/kvm usable).
    kvm_available: bool = True
    #: Whether qemu waits for an incoming migration (``-incoming defer``).
    incoming: bool = False
    #: The uid taken from the cluster's uid pool (``security_model`` pool).
    pool_uid: int | None = None
    extra: Sequence[str] = field(default_factory=tuple)


def accelerator(kvm_flag: str, kvm_available: bool) -> str:
    """qemu's ``-accel`` value for ``kvm_flag``.

    ``enabled`` demands KVM (an error where /dev/kvm is missing, rather
    than a silently slow guest), ``disabled`` selects TCG, and the empty
    default takes KVM where it is available and TCG elsewhere.
    """
    if kvm_flag == "enabled":
        if not kvm_available:
            raise errors.HypervisorError(
                "hvparams 'kvm': kvm_flag is 'enabled' but /dev/kvm is not"
                " usable on this node", errors.ErrorCode.ENVIRON)
        return "kvm"
    if kvm_flag == "disabled":
        return "tcg"
    return "kvm" if kvm_available else "tcg"


def _kernel_options(spec: StartSpec) -> list[str]:
    hvp = spec.hvparams
    kernel = hvp.get("kernel_path") or ""
    if not kernel:
        return []
    args = [f"root={hvp['root_path']}"] if hvp.get("root_path") else []
    if hvp.get("serial_console"):
        args.append(f"console=ttyS0,{hvp.get('serial_speed', 38400)}")
    if hvp.get("kernel_args"):
        args.append(str(hvp["kernel_args"]))
    result = ["-kernel", kernel]
    if hvp.get("initrd_path"):
        result += ["-initrd", str(hvp["initrd_path"])]
    return [*result, "-append", " ".join(args)]


def _vnc_options(spec: StartSpec) -> list[str]:
    hvp = spec.hvparams
    bind = str(hvp.get("vnc_bind_address") or "")
    if not bind:
        return ["-display", "none"]
    if bind.startswith("/"):
        target = f"unix:{bind}"
    else:
        display = vnc_display(spec.name, spec.vnc_port)
        host = f"[{bind}]" if ":" in bind else bind
        target = f"{host}:{display}"
    objects: list[str] = []
    if hvp.get("vnc_tls"):
        x509 = str(hvp.get("vnc_x509_path") or "")
        creds = "tls-creds-x509" if x509 else "tls-creds-anon"
        obj = f"{creds},id=vnctls0,endpoint=server"
        if x509:
            verify = "yes" if hvp.get("vnc_x509_verify") else "no"
            obj += f",dir={x509},verify-peer={verify}"
        objects = ["-object", obj]
        target += ",tls-creds=vnctls0"
    if hvp.get("vnc_password_file"):
        target += ",password=on"
    return [*objects, "-vga", "std", "-vnc", target]


#: ``disk_cache`` -> (file node options, device options) with -blockdev.
_CACHE_OPTIONS: Final[Mapping[str, tuple[str, str]]] = {
    "default": ("", ""),
    "none": (",cache.direct=on", ""),
    "writeback": ("", ",write-cache=on"),
    "writethrough": ("", ",write-cache=off"),
}

#: ``disk_type`` values whose disks are qemu devices on a block node
#: (-blockdev/-device: exportable over NBD, so they can be mirrored for a
#: migration); the others are legacy ``-drive if=`` interfaces.
DEVICE_DISK_TYPES: Final = frozenset(["paravirtual", "ide", "scsi"])


def disk_node(index: int) -> str:
    """The block node name of disk ``index`` (QMP commands address it)."""
    return f"disk{index}"


def _disk_device(disk_type: str, index: int) -> str:
    node = disk_node(index)
    if disk_type == "paravirtual":
        return f"virtio-blk-pci,drive={node}"
    if disk_type == "ide":
        # The CD-ROM takes ide.1 unit 0 (index 2): disks fill around it.
        slot = index if index < 2 else index + 1
        return f"ide-hd,drive={node},bus=ide.{slot // 2},unit={slot % 2}"
    return f"scsi-hd,drive={node},bus=scsi0.0,scsi-id={index}"


def _disk_options(spec: StartSpec) -> list[str]:
    hvp = spec.hvparams
    disk_type = str(hvp.get("disk_type", "paravirtual"))
    cache = str(hvp.get("disk_cache", "default"))
    result: list[str] = []
    if disk_type == "scsi" and spec.disks:
        result += ["-device", "lsi53c895a,id=scsi0"]
    for index, disk in enumerate(spec.disks):
        node = disk_node(index)
        if disk_type not in DEVICE_DISK_TYPES:
            opts = [f"file={_escape(disk.path)}", "format=raw",
                    f"if={DISK_INTERFACES[disk_type]}", f"index={index}",
                    f"id={node}"]
            if cache != "default":
                opts.append(f"cache={cache}")
            if disk.read_only:
                opts.append("readonly=on")
            result += ["-drive", ",".join(opts)]
            continue
        file_opts, device_opts = _CACHE_OPTIONS[cache]
        read_only = ",read-only=on" if disk.read_only else ""
        # A kernel given with -kernel boots first (qemu gives its loader
        # boot index 0); otherwise the first disk is the boot disk.
        boot = (",bootindex=0" if index == 0 and not hvp.get("kernel_path")
                and hvp.get("boot_order", "disk") == "disk" else "")
        result += [
            "-blockdev", f"driver=file,filename={_escape(disk.path)},"
                         f"node-name=file{index}{file_opts}{read_only}",
            "-blockdev", f"driver=raw,file=file{index},node-name={node}"
                         f"{read_only}",
            "-device", _disk_device(disk_type, index) + device_opts + boot]
    cdrom = str(hvp.get("cdrom_image_path") or "")
    if cdrom:
        result += ["-drive", f"file={_escape(cdrom)},format=raw,media=cdrom,"
                             "if=ide,index=2,readonly=on"]
    return result


def _nic_options(spec: StartSpec) -> list[str]:
    hvp = spec.hvparams
    nic_type = str(hvp.get("nic_type", "paravirtual"))
    model = NIC_MODELS[nic_type]
    vhost = bool(hvp.get("vhost_net")) and nic_type == "paravirtual"
    result: list[str] = []
    for index, nic in enumerate(spec.nics):
        netdev = f"tap,id=net{index},fd={nic.tap_fd}"
        if vhost:
            netdev += ",vhost=on"
        result += ["-netdev", netdev,
                   "-device", f"{model},netdev=net{index},mac={nic.mac}"]
    return result


def build_command(spec: StartSpec, *, kvm_path: str | None = None) -> list[str]:
    """qemu's argv for ``spec`` (the program first)."""
    hvp = spec.hvparams
    program = kvm_path or str(hvp.get("kvm_path") or constants.KVM_PATH)
    machine = str(hvp.get("machine_version") or "pc")
    if not hvp.get("acpi", True):
        machine += ",acpi=off"
    cmd = [program, "-name", spec.name, "-uuid", spec.uuid,
           "-accel", accelerator(str(hvp.get("kvm_flag", "")),
                                 spec.kvm_available),
           "-machine", machine,
           "-m", str(spec.memory), "-smp", str(spec.vcpus),
           "-nodefaults", "-daemonize", "-pidfile", spec.pidfile,
           "-qmp", f"unix:{spec.qmp_socket},server=on,wait=off"]
    if hvp.get("cpu_type"):
        cmd += ["-cpu", str(hvp["cpu_type"])]
    if hvp.get("serial_console", True):
        cmd += ["-serial", f"unix:{spec.serial_socket},server=on,wait=off"]
    else:
        cmd += ["-serial", "none"]
    cmd += _vnc_options(spec)
    cmd += _kernel_options(spec)
    cmd += ["-boot", BOOT_DEVICES[str(hvp.get("boot_order", "disk"))]]
    cmd += _disk_options(spec)
    cmd += _nic_options(spec)
    usb = str(hvp.get("usb_mouse") or "")
    if usb:
        cmd += ["-usb", "-device", f"usb-{usb}"]
    if hvp.get("use_localtime"):
        cmd += ["-rtc", "base=localtime"]
    if hvp.get("security_model") == "user":
        cmd += ["-runas", str(hvp["security_domain"])]
    elif hvp.get("security_model") == "pool":
        if spec.pool_uid is None:
            raise errors.ProgrammerError("security_model pool without a uid")
        # A pool uid has no passwd entry: qemu takes "uid:gid" numbers
        # (the uid doubles as the group, owned by nobody else either).
        cmd += ["-runas", f"{spec.pool_uid}:{spec.pool_uid}"]
    if hvp.get("use_chroot"):
        if not spec.chroot_dir:
            raise errors.ProgrammerError("use_chroot without a chroot dir")
        cmd += ["-chroot", spec.chroot_dir]
    if spec.incoming:
        # "defer": the target first exports its disks for the mirror, then
        # listens (migrate-incoming), see .migration.
        cmd += ["-incoming", "defer"]
    extra = str(hvp.get("kvm_extra") or "")
    if extra:
        cmd += shlex.split(extra)
    cmd += list(spec.extra)
    return cmd


def _escape(path: str) -> str:
    """A path inside a qemu option list (commas are doubled)."""
    return path.replace(",", ",,")
