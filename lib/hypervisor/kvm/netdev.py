"""Tap devices for KVM NICs, and the call of the ifup script.

Each NIC gets a tap opened here through ``/dev/net/tun`` (the kernel
names it ``gnt<N>``) and handed to qemu as an open file descriptor
(``-netdev tap,fd=N``).  The taps are not persistent: they disappear,
with every route and bridge port on them, when the last descriptor
closes, that is when qemu exits.  Stopping an instance, a qemu that dies
at start, or a migration away therefore leaves no tap behind without any
clean-up code that could be skipped.

Before qemu starts, the ifup script configures each tap from the NIC's
settings in its environment (see :mod:`ganeti.hypervisor.kvm.ifup`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ganeti import constants, errors, pathutils
from ganeti.hypervisor.nicmodes import NicSettings
from ganeti.utils import process

TUN_DEVICE: Final = "/dev/net/tun"
_TUNSETIFF: Final = 0x400454CA
_TUNGETFEATURES: Final = 0x800454CF
_IFF_TAP: Final = 0x0002
_IFF_NO_PI: Final = 0x1000
_IFF_VNET_HDR: Final = 0x4000
#: Name pattern of our taps; the kernel replaces %d with a free number.
TAP_PATTERN: Final = "gnt%d"
#: Site script run instead of the shipped one when present and executable
#: (configured path under the cluster's configuration directory).
CUSTOM_IFUP: Final = "kvm-ifup-custom"
#: Seconds the ifup script may take.
IFUP_TIMEOUT: Final = 30.0


@dataclass
class Tap:
    """An open tap: its name and the descriptor qemu inherits."""

    name: str
    fd: int

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _vnet_hdr_supported(fd: int) -> bool:
    try:
        raw = fcntl.ioctl(fd, _TUNGETFEATURES, struct.pack("I", 0))
    except OSError:
        return False
    (features,) = struct.unpack("I", raw)
    return bool(features & _IFF_VNET_HDR)


def open_tap(*, vnet_hdr: bool = True) -> Tap:
    """A new tap device, open (closing the descriptor removes it)."""
    try:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise errors.HypervisorError(
            f"Cannot open {TUN_DEVICE}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    flags = _IFF_TAP | _IFF_NO_PI
    if vnet_hdr and _vnet_hdr_supported(fd):
        flags |= _IFF_VNET_HDR
    ifreq = struct.pack("16sH22x", TAP_PATTERN.encode(), flags)
    try:
        raw = fcntl.ioctl(fd, _TUNSETIFF, ifreq)
    except OSError as err:
        os.close(fd)
        raise errors.HypervisorError(
            f"Cannot create a tap device: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    name = raw[:16].split(b"\0", 1)[0].decode()
    return Tap(name=name, fd=fd)


def ifup_environment(instance_name: str, tap: str, nic: Mapping[str, Any]
                     ) -> dict[str, str]:
    """The ifup script's environment for one NIC (names as Ganeti's)."""
    settings = NicSettings.from_nic(nic)
    env = {"INSTANCE": instance_name, "INTERFACE": tap, "MAC": settings.mac,
           "IP": settings.ip, "MODE": settings.mode, "LINK": settings.link}
    if settings.bridged:
        env["BRIDGE"] = settings.link
    return env


def ifup_command() -> list[str]:
    """The ifup script to run: the site's custom one where it exists and
    is executable, else the shipped one."""
    custom = os.path.join(pathutils.get().conf_dir, CUSTOM_IFUP)
    if os.path.isfile(custom) and os.access(custom, os.X_OK):
        return [custom]
    return [sys.executable, "-m", "ganeti.hypervisor.kvm.ifup"]


def run_ifup(instance_name: str, tap: str, index: int,
             nic: Mapping[str, Any]) -> None:
    """Configure one tap; a failure names the instance, the NIC and the
    script's own message."""
    env = ifup_environment(instance_name, tap, nic)
    package_root = os.path.dirname(os.path.dirname(constants.__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    result = process.run_cmd(ifup_command(), env=env, timeout=IFUP_TIMEOUT)
    if result.failed:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [
            result.fail_reason]
        raise errors.HypervisorError(
            f"Instance {instance_name}: configuring NIC {index} ({tap},"
            f" mode {env['MODE']}) failed: {tail[0]}",
            errors.ErrorCode.ENVIRON)


def open_nic_taps(instance_name: str, nics: Sequence[Mapping[str, Any]],
                  *, vnet_hdr: bool = True) -> list[Tap]:
    """One configured tap per NIC; on any failure every tap opened so far
    is closed (and so removed) before the error propagates."""
    taps: list[Tap] = []
    try:
        for index, nic in enumerate(nics):
            tap = open_tap(vnet_hdr=vnet_hdr)
            taps.append(tap)
            run_ifup(instance_name, tap.name, index, nic)
    except BaseException:
        close_taps(taps)
        raise
    return taps


def close_taps(taps: Sequence[Tap]) -> None:
    for tap in taps:
        tap.close()
