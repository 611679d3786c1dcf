"""The KVM ifup script: configure one instance tap from its environment.

Run by the KVM driver for each NIC before qemu starts (also usable by
hand: ``tools/kvm-ifup``).  The interface follows Ganeti's kvm-ifup:

``INTERFACE``
  the tap device (required)
``MODE``
  ``bridged`` or ``routed`` (required)
``LINK``
  bridged: the bridge; routed: the routing table for the host route
  (empty: the main table)
``BRIDGE``
  the bridge (bridged mode; same as LINK)
``IP``
  the NIC's IP address (required in routed mode)
``MAC``, ``INSTANCE``
  for information and site scripts

Bridged: the tap is brought up and enslaved to the bridge.  Routed: the
tap is brought up, proxy ARP and forwarding are enabled on it, and a host
route to the IP through the tap is added to the table.  Everything set up
here lives on the tap, so it vanishes with it when qemu exits.

Exit status 0 on success; on failure one line on stderr and status 1.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Final

from ganeti.utils import process

IP_TOOL: Final = "ip"
_IFNAME: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_TABLE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IfupError(Exception):
    """Bad environment or a failed command (the message is the one line)."""


def _run(argv: Sequence[str]) -> None:
    result = process.run_cmd(argv, timeout=20)
    if result.failed:
        detail = (result.stderr or result.stdout).strip() or result.fail_reason
        raise IfupError(f"{' '.join(argv)}: {detail}")


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as err:
        raise IfupError(f"cannot write {path}: {err.strerror or err}") from None


def plan(env: Mapping[str, str]) -> list[list[str] | tuple[str, str]]:
    """The steps for ``env``: argv lists to run and (sysctl path, value)
    pairs to write, in order.  Validates the environment first."""
    tap = env.get("INTERFACE", "")
    mode = env.get("MODE", "")
    link = env.get("LINK", "") or env.get("BRIDGE", "")
    if not _IFNAME.match(tap):
        raise IfupError(f"INTERFACE {tap!r:.40} is not an interface name")
    steps: list[list[str] | tuple[str, str]] = [
        [IP_TOOL, "link", "set", "dev", tap, "up"]]
    if mode == "bridged":
        if not _IFNAME.match(link):
            raise IfupError(f"bridged NIC on {tap}: LINK {link!r:.40} is not"
                            " a bridge name")
        steps.append([IP_TOOL, "link", "set", "dev", tap, "master", link])
    elif mode == "routed":
        raw_ip = env.get("IP", "")
        try:
            address = ipaddress.ip_address(raw_ip)
        except ValueError:
            raise IfupError(f"routed NIC on {tap} needs an IP address, got"
                            f" {raw_ip!r:.40}") from None
        if link and not _TABLE.match(link):
            raise IfupError(f"routed NIC on {tap}: LINK {link!r:.40} is not"
                            " a routing table")
        family = "ipv6" if address.version == 6 else "ipv4"
        conf = f"/proc/sys/net/{family}/conf/{tap}"
        if address.version == 4:
            steps.append((f"{conf}/proxy_arp", "1"))
        else:
            steps.append((f"/proc/sys/net/ipv6/conf/{tap}/proxy_ndp", "1"))
        steps.append((f"{conf}/forwarding", "1"))
        prefix = 128 if address.version == 6 else 32
        route = [IP_TOOL, f"-{address.version}", "route", "replace",
                 f"{address}/{prefix}", "dev", tap]
        if link:
            route += ["table", link]
        steps.append(route)
    else:
        raise IfupError(f"MODE {mode!r:.40} is neither bridged nor routed")
    return steps


def configure(env: Mapping[str, str]) -> None:
    for step in plan(env):
        if isinstance(step, tuple):
            _write_sysctl(*step)
        else:
            _run(step)


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # the interface is the environment
    try:
        configure(os.environ)
    except IfupError as err:
        print(f"kvm-ifup: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
