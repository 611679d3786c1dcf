"""The xen-pvm driver: paravirtualized domains.

The guest boots either a kernel of the node (``kernel_path``, with
``initrd_path``, ``root_path`` and ``kernel_args`` as xl's ``ramdisk``,
``root`` and ``extra``) or, with ``use_bootloader``, the kernel found on
its own disk by the bootloader at ``bootloader_path`` (pygrub), with
``bootloader_args`` split like a shell would into xl's list.  Disks are
``sda``, ``sdb``... as in Ganeti 2.1 (the default ``root_path`` is
``/dev/sda1``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, ClassVar

from ganeti import constants, errors
from ganeti.hypervisor.base import ParamRule
from ganeti.hypervisor.xen import core


def boot_settings(spec: core.DomainSpec) -> list[tuple[str, Any]]:
    hvp = spec.hvparams
    if hvp.get("use_bootloader"):
        try:
            args = shlex.split(str(hvp.get("bootloader_args") or ""))
        except ValueError as err:
            raise errors.HypervisorError(
                f"Instance {spec.name}: hvparam bootloader_args cannot be"
                f" split: {err}", errors.ErrorCode.INVAL) from None
        result: list[tuple[str, Any]] = [
            ("bootloader", str(hvp["bootloader_path"]))]
        if args:
            result.append(("bootloader_args", args))
        return result
    result = [("kernel", str(hvp["kernel_path"]))]
    if hvp.get("initrd_path"):
        result.append(("ramdisk", str(hvp["initrd_path"])))
    if hvp.get("root_path"):
        result.append(("root", str(hvp["root_path"])))
    if hvp.get("kernel_args"):
        result.append(("extra", str(hvp["kernel_args"])))
    return result


def pvm_settings(spec: core.DomainSpec) -> list[tuple[str, Any]]:
    """The xl.cfg settings of a PV domain."""
    return [("type", "pv"), *core.common_settings(spec), *boot_settings(spec),
            ("disk", [core.disk_entry(disk, core.vdev_name("sd", index))
                      for index, disk in enumerate(spec.disks)]),
            ("vif", [core.vif_spec(nic) for nic in spec.nics])]


class XenPvmHypervisor(core.XenHypervisor):
    """Paravirtualized Xen domains (see the module documentation)."""

    NAME = constants.HT_XEN_PVM
    DOMAIN_TYPE = "pv"
    PARAMETER_RULES: ClassVar[tuple[ParamRule, ...]] = (
        ParamRule("use_bootloader", "bootloader_path",
                  "the bootloader to run, e.g. /usr/lib/xen/bin/pygrub"),
    )
    NODE_PATH_PARAMETERS: ClassVar[Mapping[str, Any]] = {
        "kernel_path": "file",
        "initrd_path": "file",
        "bootloader_path": "file",
    }

    def validate_parameters(self, hvparams: Mapping[str, Any]) -> None:
        """Only the files the domain will use must exist: the bootloader
        when it boots with one, else the kernel and initrd."""
        unused = (("kernel_path", "initrd_path") if hvparams.get("use_bootloader")
                  else ("bootloader_path",))
        super().validate_parameters(
            {k: v for k, v in hvparams.items() if k not in unused})

    def domain_settings(self, spec: core.DomainSpec) -> list[tuple[str, Any]]:
        return pvm_settings(spec)
