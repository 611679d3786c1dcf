"""The xen-hvm driver: fully virtualized domains.

hvparams as xl.cfg settings: ``boot_order`` -> ``boot``; ``acpi``,
``pae``, ``use_localtime`` -> ``acpi``, ``pae``, ``localtime``
(``apic`` is always on, as Ganeti 2.1 wrote it); ``kernel_path`` (the
HVM loader) -> ``firmware_override``; ``device_model`` ->
``device_model_override`` (with ``device_model_version``
``qemu-xen-traditional`` for a ``qemu-dm`` binary, else ``qemu-xen``);
``cdrom_image_path`` -> a read-only ``hdc:cdrom``; ``disk_type``
``paravirtual`` -> ``xvdX`` disks, ``ioemu`` -> emulated IDE ``hdX``
(``hdc`` is left to the CD-ROM); ``nic_type`` ``paravirtual`` -> PV vifs
(``type=vif``), else the emulated model (``model=..., type=ioemu``).

VNC is always on (2.1's ``vnc_bind_address`` is an IP address, never
empty): ``vnclisten``, ``vncdisplay`` from the instance's network port,
and ``vncpasswd`` from ``vnc_password_file`` read on the node (the file
the cluster distributes, as for KVM).  The password makes the
configuration file a secret: it is written with mode 0600.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from typing import Any, ClassVar

from ganeti import constants, objects
from ganeti.hypervisor import vnc
from ganeti.hypervisor.base import ConsoleInfo, ConsoleKind
from ganeti.hypervisor.xen import core


def _disks(spec: core.DomainSpec) -> list[str]:
    hvp = spec.hvparams
    cdrom = str(hvp.get("cdrom_image_path") or "")
    entries = []
    if hvp.get("disk_type") == "ioemu":
        # Emulated IDE: the CD-ROM, if any, keeps its usual slot hdc.
        letters = [c for c in string.ascii_lowercase if not (cdrom and c == "c")]
        for index, disk in enumerate(spec.disks):
            if index >= len(letters):
                core.vdev_name("hd", 26)  # the out-of-range error
            entries.append(core.disk_entry(disk, f"hd{letters[index]}"))
    else:
        entries = [core.disk_entry(disk, core.vdev_name("xvd", index))
                   for index, disk in enumerate(spec.disks)]
    if cdrom:
        entries.append(core.disk_entry(
            core.DiskSpec("file:", cdrom, read_only=True), "hdc:cdrom"))
    return entries


def _vif_extra(nic_type: str) -> list[str]:
    if nic_type == "paravirtual":
        return ["type=vif"]
    return [f"model={nic_type}", "type=ioemu"]


def hvm_settings(spec: core.DomainSpec) -> list[tuple[str, Any]]:
    """The xl.cfg settings of an HVM domain."""
    hvp = spec.hvparams
    model = str(hvp["device_model"])
    result: list[tuple[str, Any]] = [
        ("type", "hvm"), *core.common_settings(spec),
        ("firmware_override", str(hvp["kernel_path"])),
        ("device_model_version",
         "qemu-xen-traditional" if os.path.basename(model) == "qemu-dm"
         else "qemu-xen"),
        ("device_model_override", model),
        ("boot", str(hvp.get("boot_order", "cd"))),
        ("acpi", bool(hvp.get("acpi", True))), ("apic", True),
        ("pae", bool(hvp.get("pae", True))),
        ("localtime", bool(hvp.get("use_localtime", False))),
        ("serial", "pty"),
        ("vnc", True), ("vnclisten", str(hvp["vnc_bind_address"])),
        ("vncunused", False)]
    result.append(("vncdisplay", vnc.vnc_display(spec.name, spec.vnc_port)))
    if spec.vnc_password:
        result.append(("vncpasswd", spec.vnc_password))
    nic_extra = _vif_extra(str(hvp.get("nic_type", "rtl8139")))
    return [*result, ("disk", _disks(spec)),
            ("vif", [core.vif_spec(nic, nic_extra) for nic in spec.nics])]


class XenHvmHypervisor(core.XenHypervisor):
    """Fully virtualized Xen domains (see the module documentation)."""

    NAME = constants.HT_XEN_HVM
    DOMAIN_TYPE = "hvm"
    NODE_PATH_PARAMETERS: ClassVar[Mapping[str, Any]] = {
        "kernel_path": "file",
        "device_model": "file",
        "cdrom_image_path": "file",
    }
    ANCILLARY_FILE_PARAMETERS = ("vnc_password_file",)

    def vnc_password(self, name: str, hvparams: Mapping[str, Any]) -> str:
        path = str(hvparams.get("vnc_password_file") or "")
        return vnc.node_password(name, path) if path else ""

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        """xl's console (the emulated serial port), with where its VNC
        server listens."""
        info = super().get_console_command(instance, hvparams)
        record = self.dirs.read_record(instance.name) or {}
        bind = str(record.get("hvparams", hvparams).get("vnc_bind_address")
                   or "")
        port = record.get("vnc_port")
        if info.kind == ConsoleKind.COMMAND and bind and port:
            info.host, info.port = bind, int(port)
        return info

    def soft_stop_args(self) -> list[str]:
        # A guest without PV drivers gets an ACPI power event instead.
        return ["-F"]

    def domain_settings(self, spec: core.DomainSpec) -> list[tuple[str, Any]]:
        return hvm_settings(spec)
