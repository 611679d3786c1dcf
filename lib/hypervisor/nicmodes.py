"""The NIC modes of Ganeti 2.1 as every driver applies them.

A NIC reaches the driver as a filled description (``mac``, ``ip`` and the
nicparams ``mode`` and ``link``).  In *bridged* mode the instance's
interface joins the bridge named by ``link``; in *routed* mode it gets a
host route to the NIC's IP (``link`` is then the routing table, empty for
the main one), so routed mode needs an IP.  KVM applies this through its
ifup script, Xen through the vif's ``bridge=`` or ``script=vif-route``
with ``ip=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ganeti import constants, errors


@dataclass(frozen=True)
class NicSettings:
    """One NIC's mode, link, MAC and IP, checked."""

    mode: str
    link: str
    mac: str
    ip: str

    @property
    def bridged(self) -> bool:
        return self.mode == constants.NIC_MODE_BRIDGED

    @classmethod
    def from_nic(cls, nic: Mapping[str, Any]) -> NicSettings:
        """The settings as given, unchecked (a bridged NIC when no mode
        is given)."""
        return cls(mode=str(nic.get("mode") or constants.NIC_MODE_BRIDGED),
                   link=str(nic.get("link") or ""),
                   mac=str(nic.get("mac") or ""), ip=str(nic.get("ip") or ""))


def nic_settings(instance_name: str, index: int,
                 nic: Mapping[str, Any]) -> NicSettings:
    """The settings of NIC ``index``: an unknown mode, a bridged NIC
    without a bridge or a routed one without an IP is an error naming the
    instance and the NIC."""
    settings = NicSettings.from_nic(nic)
    mode = settings.mode
    where = f"Instance {instance_name}: NIC {index}"
    if mode == constants.NIC_MODE_BRIDGED:
        if not settings.link:
            raise errors.HypervisorError(
                f"{where} is bridged but has no link (bridge)",
                errors.ErrorCode.INVAL)
    elif mode == constants.NIC_MODE_ROUTED:
        if not settings.ip:
            raise errors.HypervisorError(
                f"{where} is routed but has no IP address",
                errors.ErrorCode.INVAL)
    else:
        raise errors.HypervisorError(f"{where} has the unknown mode {mode!r}",
                                     errors.ErrorCode.INVAL)
    return settings
