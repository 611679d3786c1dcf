"""The state of one DRBD device, parsed from what DRBD prints: the one
place its status formats are read.

- DRBD 8.4: ``/proc/drbd``, one block per minor (``cs:`` connection
  state, ``ro:`` roles, ``ds:`` disk states, a ``sync'ed:`` and a
  ``finish:`` line while resyncing).
- DRBD 9: ``drbdsetup status RES --json`` (a list of resources with
  ``devices`` and ``connections``/``peer_devices``) and ``drbdsetup
  events2 --now --statistics RES`` (``exists <object> key:value...``
  lines).

Every parser returns :class:`DrbdState`; :meth:`DrbdState.sync_status`
turns it into the RPC layer's :class:`~ganeti.storage.base.SyncStatus`.
A split brain shows as ``StandAlone`` (DRBD drops the connection when it
finds one and the after-split-brain policies do not resolve it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from ganeti import errors
from ganeti.storage.base import LdiskStatus, SyncStatus

#: Connection (8.4 ``cs:``) or replication (9) states while resyncing.
SYNC_STATES: Final = frozenset({
    "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT",
    "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT",
    "WFSyncUUID"})
#: States of a working connection (8.4 ``cs:``; 9: Connected + replication).
CONNECTED_STATES: Final = frozenset({
    "Connected", "Established", "VerifyS", "VerifyT", "Ahead", "Behind",
    *SYNC_STATES})
#: Local disk states without usable local data.
NO_DISK_STATES: Final = frozenset({"Diskless", "Failed", "Detaching"})

_VERSION_RE: Final = re.compile(r"^version:\s*(\d+)\.(\d+)(?:\.(\d+))?")
_MINOR_RE: Final = re.compile(r"^\s*(\d+):\s+cs:(\S+)(.*)$")
_SYNCED_RE: Final = re.compile(r"sync'ed:\s*([\d.]+)%")
_FINISH_RE: Final = re.compile(r"finish:\s*(\d+):(\d+):(\d+)")


@dataclass(frozen=True)
class DrbdState:
    """One device as DRBD reports it (names are DRBD's own words)."""

    minor: int
    connection: str
    role: str = "Unknown"
    peer_role: str = "Unknown"
    disk: str = "DUnknown"
    peer_disk: str = "DUnknown"
    sync_percent: float | None = None
    eta_seconds: int | None = None

    @property
    def configured(self) -> bool:
        return self.connection != "Unconfigured"

    @property
    def connected(self) -> bool:
        return self.connection in CONNECTED_STATES

    @property
    def syncing(self) -> bool:
        return self.connection in SYNC_STATES

    @property
    def has_disk(self) -> bool:
        return self.disk not in NO_DISK_STATES

    @property
    def is_primary(self) -> bool:
        return self.role == "Primary"

    def sync_status(self, dev_path: str) -> SyncStatus:
        """The mirror status the master reads."""
        if self.disk == "UpToDate":
            ldisk = LdiskStatus.OKAY
        elif self.disk in NO_DISK_STATES:
            ldisk = LdiskStatus.FAULTY
        else:
            ldisk = LdiskStatus.UNKNOWN
        degraded = (not self.connected or not self.has_disk
                    or (not self.syncing and (self.disk != "UpToDate"
                                              or self.peer_disk != "UpToDate")))
        percent = None
        if self.syncing:
            percent = min(100.0, max(0.0, self.sync_percent or 0.0))
        return SyncStatus(
            dev_path=dev_path, sync_percent=percent,
            estimated_time=self.eta_seconds if self.syncing else None,
            is_degraded=degraded, ldisk_status=ldisk)


def _bad(what: str, text: Any) -> errors.BlockDeviceError:
    return errors.BlockDeviceError(
        f"DRBD printed an invalid {what}: {str(text)!r:.100}",
        errors.ErrorCode.ENVIRON)


def _pair(fields: dict[str, str], key: str) -> tuple[str, str]:
    mine, _, peer = fields.get(key, "").partition("/")
    return mine or "Unknown", peer or "Unknown"


# --- /proc/drbd (8.x) --------------------------------------------------------

def parse_proc_version(text: str) -> tuple[int, int]:
    """(major, minor) of the kernel module from ``/proc/drbd``'s first
    line (``version: 8.4.11 (api:1/proto:86-101)``)."""
    for line in text.splitlines():
        match = _VERSION_RE.match(line.strip())
        if match:
            return int(match.group(1)), int(match.group(2))
    raise _bad("/proc/drbd (no version line)", text[:80])


def parse_proc_drbd(text: str) -> dict[int, DrbdState]:
    """Every minor listed in a DRBD 8.x ``/proc/drbd``."""
    result: dict[int, DrbdState] = {}
    current: dict[str, Any] | None = None

    def finish() -> None:
        if current is not None:
            result[current["minor"]] = DrbdState(**current)

    for line in text.splitlines():
        match = _MINOR_RE.match(line)
        if match:
            finish()
            fields = dict(item.split(":", 1) for item in match.group(3).split()
                          if ":" in item)
            role, peer_role = _pair(fields, "ro" if "ro" in fields else "st")
            disk, peer_disk = _pair(fields, "ds")
            current = {"minor": int(match.group(1)),
                       "connection": match.group(2), "role": role,
                       "peer_role": peer_role, "disk": disk,
                       "peer_disk": peer_disk}
            continue
        if current is None:
            continue
        synced = _SYNCED_RE.search(line)
        if synced:
            current["sync_percent"] = float(synced.group(1))
        finish_time = _FINISH_RE.search(line)
        if finish_time:
            hours, minutes, seconds = (int(v) for v in finish_time.groups())
            current["eta_seconds"] = hours * 3600 + minutes * 60 + seconds
    finish()
    return result


# --- drbdsetup status --json (9) ---------------------------------------------

def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) \
        and not isinstance(value, bool) else None


def parse_status_json(text: str) -> dict[int, DrbdState]:
    """Every device of ``drbdsetup status --json`` (DRBD 9), by minor;
    the first connection's view of the peer."""
    try:
        resources = json.loads(text) if text.strip() else []
    except ValueError:
        raise _bad("status (not JSON)", text[:80]) from None
    if not isinstance(resources, list):
        raise _bad("status (not a list of resources)", text[:80])
    result = {}
    for res in resources:
        if not isinstance(res, dict):
            raise _bad("status resource", res)
        connections = [c for c in res.get("connections", [])
                       if isinstance(c, dict)]
        for dev in res.get("devices", []):
            minor, volume = dev.get("minor"), dev.get("volume", 0)
            if not isinstance(minor, int):
                raise _bad("status device (no minor)", dev)
            state: dict[str, Any] = {
                "minor": minor, "connection": "StandAlone",
                "role": str(res.get("role", "Unknown")),
                "disk": str(dev.get("disk-state", "DUnknown"))}
            if connections:
                conn = connections[0]
                state["connection"] = str(conn.get("connection-state",
                                                   "StandAlone"))
                state["peer_role"] = str(conn.get("peer-role", "Unknown"))
                peers = [p for p in conn.get("peer_devices", [])
                         if isinstance(p, dict)
                         and p.get("volume", 0) == volume]
                if peers:
                    _peer_device(state, peers[0])
            result[minor] = DrbdState(**state)
    return result


def _peer_device(state: dict[str, Any], peer: dict[str, Any]) -> None:
    state["peer_disk"] = str(peer.get("peer-disk-state", "DUnknown"))
    replication = str(peer.get("replication-state", "Off"))
    if state["connection"] == "Connected" and replication != "Off":
        state["connection"] = replication
    percent = _number(peer.get("percent-in-sync"))
    if percent is not None:
        state["sync_percent"] = percent
    eta = _number(peer.get("eta"))
    if eta is not None:
        state["eta_seconds"] = int(eta)


# --- drbdsetup events2 --now (9) ---------------------------------------------

def parse_events2(text: str) -> dict[int, DrbdState]:
    """Every device of ``drbdsetup events2 --now --statistics`` (DRBD 9)."""
    roles: dict[str, str] = {}
    conns: dict[str, dict[str, str]] = {}
    devices: dict[tuple[str, str], dict[str, str]] = {}
    peers: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[1] == "-":
            continue
        fields = dict(w.split(":", 1) for w in words[2:] if ":" in w)
        name, kind = fields.get("name", ""), words[1]
        if kind == "resource":
            roles[name] = fields.get("role", "Unknown")
        elif kind == "connection":
            conns.setdefault(name, fields)
        elif kind == "device":
            devices[(name, fields.get("volume", "0"))] = fields
        elif kind == "peer-device":
            peers.setdefault((name, fields.get("volume", "0")), fields)
    result = {}
    for (name, volume), dev in devices.items():
        try:
            minor = int(dev["minor"])
        except (KeyError, ValueError):
            raise _bad("events2 device (no minor)", dev) from None
        state: dict[str, Any] = {
            "minor": minor, "connection": "StandAlone",
            "role": roles.get(name, "Unknown"),
            "disk": dev.get("disk", "DUnknown")}
        conn = conns.get(name)
        if conn is not None:
            state["connection"] = conn.get("connection", "StandAlone")
            state["peer_role"] = conn.get("role", "Unknown")
        peer = peers.get((name, volume))
        if peer is not None:
            _peer_device(state, {
                "peer-disk-state": peer.get("peer-disk", "DUnknown"),
                "replication-state": peer.get("replication", "Off"),
                "percent-in-sync": _float(peer.get("done")),
                "eta": _float(peer.get("eta"))})
        result[minor] = DrbdState(**state)
    return result


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
