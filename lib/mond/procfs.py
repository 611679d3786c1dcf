"""Parsers of the kernel's text files the data collectors read.

Each parser takes the file's text and returns plain data; reading the
file is the caller's business (so tests feed recorded texts).  Lines
that do not have the expected shape are skipped, never guessed at:
kernels add columns over time, and a collector must report what it
understands rather than fail on what it does not.
"""

from __future__ import annotations

import re
from typing import Any, Final

#: Columns of /proc/diskstats after major, minor and name, under the
#: names of Ganeti's diskstats collector.
DISKSTATS_FIELDS: Final = ("readsNum", "mergedReads", "secRead", "timeRead",
                           "writes", "mergedWrites", "secWritten",
                           "timeWrite", "ios", "timeIO", "wIOmillis")
#: Columns of a ``cpu`` line of /proc/stat (in USER_HZ ticks).
CPU_MODES: Final = ("user", "nice", "system", "idle", "iowait", "irq",
                    "softirq", "steal", "guest", "guest_nice")
#: The modes that count as idle when computing a load.
_IDLE_MODES: Final = frozenset({"idle", "iowait"})
#: Guest time is already counted in user and nice.
_GUEST_MODES: Final = frozenset({"guest", "guest_nice"})


def parse_diskstats(text: str) -> list[dict[str, Any]]:
    """One entry per device: ``major``, ``minor``, ``name`` and the
    counters of :data:`DISKSTATS_FIELDS`."""
    devices = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 + len(DISKSTATS_FIELDS):
            continue
        try:
            numbers = [int(p) for p in parts[3:3 + len(DISKSTATS_FIELDS)]]
            entry: dict[str, Any] = {"major": int(parts[0]),
                                     "minor": int(parts[1]),
                                     "name": parts[2]}
        except ValueError:
            continue
        entry.update(zip(DISKSTATS_FIELDS, numbers, strict=True))
        devices.append(entry)
    return devices


def parse_stat_cpus(text: str) -> dict[str, dict[str, int]]:
    """The ``cpu`` lines of /proc/stat: ``{"cpu": {mode: ticks}, "cpu0":
    ...}`` (missing trailing modes of old kernels count as 0)."""
    cpus: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu") or len(parts) < 5:
            continue
        try:
            values = [int(p) for p in parts[1:1 + len(CPU_MODES)]]
        except ValueError:
            continue
        values += [0] * (len(CPU_MODES) - len(values))
        cpus[parts[0]] = dict(zip(CPU_MODES, values, strict=True))
    return cpus


def cpu_busy_total(modes: dict[str, int]) -> tuple[int, int]:
    """(busy ticks, total ticks) of one cpu line."""
    total = sum(v for k, v in modes.items() if k not in _GUEST_MODES)
    idle = sum(v for k, v in modes.items() if k in _IDLE_MODES)
    return total - idle, total


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo in bytes (the file says kB)."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        values[key.strip()] = number * 1024 if parts[1:] == ["kB"] else number
    return values


def parse_loadavg(text: str) -> tuple[float, float, float] | None:
    parts = text.split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None


# --- /proc/drbd -----------------------------------------------------------

_VERSION_RE: Final = re.compile(
    r"^version:\s*(?P<version>\S+)(?:\s*\(api:(?P<api>[^/)]+)"
    r"(?:/proto:(?P<proto>[^)]+))?\))?")
_DEVICE_RE: Final = re.compile(r"^\s*(?P<minor>\d+):\s*(?P<rest>.*)$")
_SYNC_RE: Final = re.compile(
    r"sync'ed:\s*(?P<pct>[\d.]+)%\s*\((?P<progress>\d+/\d+)\)(?P<unit>\S*)")
_FINISH_RE: Final = re.compile(
    r"finish:\s*(?P<finish>\S+)\s+speed:\s*(?P<speed>[\d,]+)"
    r"(?:\s*\((?P<avg>[\d,]+)\))?(?:\s*want:\s*(?P<want>[\d,]+))?"
    r"\s*(?P<unit>\S+)?")
#: The per-device counters of /proc/drbd under Ganeti's names.
_PERF_KEYS: Final = {
    "ns": "networkSend", "nr": "networkReceive", "dw": "diskWrite",
    "dr": "diskRead", "al": "activityLog", "bm": "bitMap",
    "lo": "localCount", "pe": "pending", "ua": "unacknowledged",
    "ap": "applicationPending", "ep": "epochs", "wo": "writeOrder",
    "oos": "outOfSync"}


def _number(text: str) -> int | str:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return text


def _device_head(minor: int, rest: str) -> dict[str, Any]:
    device: dict[str, Any] = {"minor": minor}
    words = rest.split()
    for word in words:
        key, sep, value = word.partition(":")
        if not sep:
            continue
        if key == "cs":
            device["connectionState"] = value
        elif key in ("ro", "st"):  # "st" before DRBD 8.3
            local, _, remote = value.partition("/")
            device["localRole"], device["remoteRole"] = local, remote
        elif key == "ds":
            local, _, remote = value.partition("/")
            device["localState"], device["remoteState"] = local, remote
    tail = [w for w in words if ":" not in w]
    if tail:
        device["replicationProtocol"] = tail[0]
    if len(tail) > 1:
        device["ioFlags"] = tail[1]
    return device


def parse_drbd(text: str) -> dict[str, Any]:
    """``{"versionInfo": {...}, "device": [...]}`` in the shape of
    Ganeti's drbd collector (verbose mode)."""
    version: dict[str, Any] = {}
    devices: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _VERSION_RE.match(line)
        if match:
            version.update({k: v for k, v in match.groupdict().items() if v})
            continue
        if line.startswith("srcversion:"):
            version["srcversion"] = line.split(":", 1)[1].strip()
            continue
        if line.startswith("GIT-hash:"):
            version["gitHash"] = line.split(":", 1)[1].split()[0]
            continue
        match = _DEVICE_RE.match(line)
        if match:
            current = _device_head(int(match["minor"]), match["rest"])
            devices.append(current)
            continue
        if current is None:
            continue
        if "sync'ed:" in line:
            sync = _SYNC_RE.search(line)
            if sync:
                current["syncStatus"] = {
                    "percentage": float(sync["pct"]),
                    "progress": sync["progress"],
                    "progressUnit": sync["unit"] or "M"}
            continue
        if "finish:" in line:
            finish = _FINISH_RE.search(line)
            status = current.setdefault("syncStatus", {})
            if finish:
                status["timeToFinish"] = finish["finish"]
                status["speed"] = _number(finish["speed"])
                if finish["want"]:
                    status["want"] = _number(finish["want"])
                status["speedUnit"] = finish["unit"] or "K/sec"
            continue
        perf = {}
        for word in line.split():
            key, sep, value = word.partition(":")
            if sep and key in _PERF_KEYS:
                perf[_PERF_KEYS[key]] = _number(value)
        if perf:
            current.setdefault("perfIndicators", {}).update(perf)
    return {"versionInfo": version, "device": devices}
