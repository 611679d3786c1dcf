"""Parsers of xl's output: ``xl list``, ``xl list -l`` and ``xl info``.

Formats as documented in xl(1) and libxl's IDL, checked against the
transcripts in ``test/data/xen/`` (see its README for their sources):

``xl list``
    a header line (``Name ID Mem VCPUs State Time(s)``), then one line
    per domain; the name may contain spaces, so the five last columns
    are taken from the right.  The state is six characters, one per
    flag (``r b p s c d``), ``-`` where unset.
``xl list -l``
    a JSON list of ``{"domid": N, "config": {"c_info": {"type", "name",
    "uuid"...}, "b_info": {"max_vcpus", "max_memkb", "target_memkb"...},
    "disks": [...], "nics": [...]}}``.
``xl info``
    ``key : value`` lines (``total_memory``, ``free_memory`` in MiB,
    ``nr_cpus``, ``nr_nodes``, ``cores_per_socket``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ganeti import errors
from ganeti.hypervisor.base import InstanceState

#: The name xl gives the control domain.
DOM0_NAME: Final = "Domain-0"



class XlOutputError(errors.HypervisorError):
    """xl printed something this driver does not understand."""


@dataclass(frozen=True)
class DomainRow:
    """One line of ``xl list``."""

    name: str
    domid: int
    memory: int
    vcpus: int
    flags: str
    cpu_time: float

    @property
    def state(self) -> InstanceState:
        """The most telling flag: crashed, then shut down or dying, then
        paused, then blocked; a domain with no flag set is waiting for a
        CPU (``------``), which counts as running."""
        for flags, state in (("c", InstanceState.CRASHED),
                             ("sd", InstanceState.SHUTDOWN),
                             ("p", InstanceState.PAUSED),
                             ("b", InstanceState.BLOCKED)):
            if any(flag in self.flags for flag in flags):
                return state
        return InstanceState.RUNNING


def parse_list(text: str) -> list[DomainRow]:
    """The domains of ``xl list`` output (Domain-0 included)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].split()[:1] == ["Name"]:
        raise XlOutputError(f"xl list: no header line in {text[:60]!r}")
    rows = []
    for line in lines[1:]:
        parts = line.rsplit(None, 5)
        if len(parts) != 6:
            raise XlOutputError(f"xl list: cannot parse line {line!r:.80}")
        name, domid, mem, vcpus, flags, cpu_time = parts
        if len(flags) != 6 or any(c not in "rbpscd-" for c in flags):
            raise XlOutputError(f"xl list: bad state {flags!r} in {line!r:.80}")
        try:
            rows.append(DomainRow(name=name, domid=int(domid),
                                  memory=int(mem), vcpus=int(vcpus),
                                  flags=flags, cpu_time=float(cpu_time)))
        except ValueError:
            raise XlOutputError(
                f"xl list: cannot parse line {line!r:.80}") from None
    return rows


@dataclass(frozen=True)
class DomainConfig:
    """What this driver reads of one domain of ``xl list -l``."""

    name: str
    domid: int
    type: str
    uuid: str
    max_vcpus: int
    target_mib: int


def _domain_type(c_info: dict[str, Any], b_info: dict[str, Any]) -> str:
    # Newer xl puts the type in c_info; some versions in b_info's "type".
    kind = c_info.get("type") or b_info.get("type") or "pv"
    return str(kind).lower()


def parse_list_long(text: str) -> list[DomainConfig]:
    """The domains of ``xl list -l`` output (Domain-0 included)."""
    try:
        data = json.loads(text) if text.strip() else []
    except ValueError as err:
        raise XlOutputError(f"xl list -l: not JSON: {err}") from None
    if not isinstance(data, list):
        raise XlOutputError("xl list -l: not a list of domains")
    result = []
    for entry in data:
        try:
            config = entry.get("config", {})
            c_info = config.get("c_info", {})
            b_info = config.get("b_info", {})
            result.append(DomainConfig(
                name=str(c_info["name"]), domid=int(entry["domid"]),
                type=_domain_type(c_info, b_info),
                uuid=str(c_info.get("uuid", "")),
                max_vcpus=int(b_info.get("max_vcpus", 0)),
                target_mib=int(b_info.get("target_memkb", 0)) // 1024))
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise XlOutputError(
                f"xl list -l: bad domain entry ({err!s:.60})") from None
    return result


def parse_info(text: str) -> dict[str, str]:
    """``xl info`` as a dictionary of its fields (values stripped)."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            result.setdefault(key.strip(), value.strip())
    for needed in ("total_memory", "free_memory", "nr_cpus"):
        if not result.get(needed, "").isdigit():
            raise XlOutputError(f"xl info: field {needed!r} missing or not a"
                                " number")
    return result


def info_int(info: dict[str, str], key: str) -> int | None:
    value = info.get(key, "")
    return int(value) if value.isdigit() else None
