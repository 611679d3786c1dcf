"""The shared world of the DRBD simulator (see :mod:`ganeti.standins.drbd`):
which devices are peers, resyncs and their progress, the data copied
between peers, the ``/dev/drbd<N>`` links, faults, and DRBD's output
formats (``/proc/drbd``, ``status --json``, ``events2``)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from typing import Any, Final

#: Virtual seconds a status observation lets a resync advance.
DEFAULT_STEP: Final = 5.0
MD_MAGIC: Final = b"GANETI-DRBD-SIMULATOR-MD\n"
FAULTS: Final = ("crash", "disk-failure", "split-brain")
_API: Final = {"8": "api:1/proto:86-101", "9": "api:2/proto:86-122"}


def file_kib(path: str) -> int:
    try:
        return os.stat(path).st_size // 1024
    except OSError:
        return 0


def read_md(path: str) -> dict[str, Any] | None:
    """The metadata header of a metadata volume, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if not head.startswith(MD_MAGIC):
        return None
    body = head[len(MD_MAGIC):].split(b"\0", 1)[0]
    try:
        md: dict[str, Any] = json.loads(body)
    except ValueError:
        return None
    return md


def write_md(path: str, md: dict[str, Any]) -> None:
    data = MD_MAGIC + json.dumps(md, sort_keys=True).encode() + b"\0"
    with open(path, "r+b") as handle:
        handle.write(data)


def copy_changed(source: str, target: str) -> None:
    """Make ``target`` hold ``source``'s bytes (data ranges only; both are
    sparse backing files of the same size or the target is smaller)."""
    block = 1024 * 1024
    with open(source, "rb") as src, open(target, "r+b") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(src.fileno(), offset, os.SEEK_DATA)
                end = os.lseek(src.fileno(), offset, os.SEEK_HOLE)
            except OSError:
                break
            src.seek(offset)
            dst.seek(offset)
            while offset < end:
                chunk = src.read(min(block, end - offset))
                if not chunk:
                    break
                dst.write(chunk)
                offset += len(chunk)


class World:
    """The shared state seen from above: pairs, resyncs, data, devices."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def devices(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(node, minor, dev) for node, info in
                sorted(self.state["nodes"].items())
                for minor, dev in sorted(info["devices"].items())]

    def peer_of(self, node: str, dev: dict[str, Any]) -> dict[str, Any] | None:
        """The connected peer device of ``dev``, or None."""
        found = self._peer(node, dev)
        return found[2] if found else None

    def _peer(self, node: str, dev: dict[str, Any]
              ) -> tuple[str, str, dict[str, Any]] | None:
        net = dev["net"]
        if net is None:
            return None
        for other_node, minor, other in self.devices():
            onet = other["net"]
            if other_node != node and onet is not None \
                    and onet["local"] == net["remote"] \
                    and onet["remote"] == net["local"] \
                    and onet["secret"] == net["secret"]:
                return other_node, minor, other
        return None

    @staticmethod
    def _key(node: str, minor: str) -> str:
        return f"{node}#{minor}"

    def _link_key(self, node: str, minor: str, peer: tuple[str, str, Any]
                  ) -> str:
        return "|".join(sorted([self._key(node, minor),
                                self._key(peer[0], peer[1])]))

    def set_disk_state(self, dev: dict[str, Any], disk_state: str) -> None:
        dev["disk_state"] = disk_state
        if dev["disk"] is not None:
            md = read_md(dev["disk"]["meta"]) or {"gen": 0}
            md["disk"] = disk_state
            write_md(dev["disk"]["meta"], md)

    def syncing_to(self, dev: dict[str, Any]) -> bool:
        return any(link.get("sync") and link["sync"]["target"] is dev
                   for link in self._live_links().values())

    def _live_links(self) -> dict[str, dict[str, Any]]:
        result = {}
        for key, link in self.state["links"].items():
            sync = link.get("sync")
            if sync:
                node, minor = sync["target_key"].split("#", 1)
                target = self.state["nodes"].get(node, {}).get(
                    "devices", {}).get(minor)
                link = dict(link, sync=dict(sync, target=target))
            result[key] = link
        return result

    def start_sync(self, node: str, source: dict[str, Any],
                   target: dict[str, Any]) -> None:
        """A full resync from ``source`` (on ``node``) to its peer."""
        found = self._peer(node, source)
        if found is None or target["disk"] is None or source["disk"] is None:
            return
        minor = next(m for m, d in self.state["nodes"][node]["devices"].items()
                     if d is source)
        self._sync_link(self._link_key(node, minor, found), source, target,
                        node, minor, found[0], found[1])

    def tick(self, observe: bool) -> None:
        """Bring the world up to date: connections made or lost, resyncs
        advanced (``observe``: by one step), data copied, devices."""
        current: dict[str, tuple[str, str, str, str]] = {}
        for node, minor, dev in self.devices():
            found = self._peer(node, dev)
            if found is not None:
                current[self._link_key(node, minor, found)] = (
                    node, minor, found[0], found[1])
        links = self.state["links"]
        for key in [k for k in links if k not in current]:
            del links[key]
        for key, (node, minor, pnode, pminor) in current.items():
            if key not in links:
                self._establish(key, node, minor, pnode, pminor)
        if observe:
            self.progress(float(self.state.get("step", DEFAULT_STEP)))
        self._replicate()
        self._device_links()

    def _dev_at(self, key: str) -> dict[str, Any]:
        node, minor = key.split("#", 1)
        dev: dict[str, Any] = self.state["nodes"][node]["devices"][minor]
        return dev

    def _establish(self, key: str, node: str, minor: str, pnode: str,
                   pminor: str) -> None:
        """A new connection: decide whether and which way to resync."""
        dev, peer = (self.state["nodes"][node]["devices"][minor],
                     self.state["nodes"][pnode]["devices"][pminor])
        links = self.state["links"]
        if dev["split_brain"] or peer["split_brain"] or (
                dev["dirty"] and peer["dirty"]):
            if dev["net"]["discard_my_data"] or peer["net"]["discard_my_data"]:
                loser = dev if dev["net"]["discard_my_data"] else peer
                for one in (dev, peer):
                    one["split_brain"] = one["dirty"] = False
                    one["net"]["discard_my_data"] = False
                winner = peer if loser is dev else dev
                self._sync_link(key, winner, loser, pnode if loser is dev
                                else node, pminor if loser is dev else minor,
                                node if loser is dev else pnode,
                                minor if loser is dev else pminor)
                return
            for one in (dev, peer):  # split brain detected: StandAlone
                one["split_brain"] = True
                one["net"] = None
            return
        links[key] = {"sync": None}
        self._resync_by_states(key, self._key(node, minor),
                               self._key(pnode, pminor))

    def _resync_by_states(self, key: str, one: str, other: str) -> None:
        """Start the resync two connected disks' states call for: from an
        UpToDate disk to an Inconsistent one, or from the one whose data
        changed while they were apart."""
        dev, peer = self._dev_at(one), self._dev_at(other)
        if dev["disk"] is None or peer["disk"] is None:
            return
        states = (dev["disk_state"], peer["disk_state"])
        src = None
        if states == ("UpToDate", "UpToDate"):
            if dev["dirty"] != peer["dirty"]:
                src = one if dev["dirty"] else other
        elif "UpToDate" in states:
            src = one if states[0] == "UpToDate" else other
        if src is not None:
            dst = other if src == one else one
            self._sync_link(key, self._dev_at(src), self._dev_at(dst),
                            *src.split("#", 1), *dst.split("#", 1))
        dev["dirty"] = peer["dirty"] = False

    def attached(self, node: str, minor: str) -> None:
        """A disk was attached to a connected device (replacing a failed
        or replaced volume): resync it as a new connection would."""
        dev = self.state["nodes"][node]["devices"][minor]
        found = self._peer(node, dev)
        if found is None:
            return
        key = self._link_key(node, minor, found)
        if key in self.state["links"]:
            self._resync_by_states(key, self._key(node, minor),
                                   self._key(found[0], found[1]))

    def _sync_link(self, key: str, source: dict[str, Any],
                   target: dict[str, Any], snode: str, sminor: str,
                   tnode: str, tminor: str) -> None:
        total = max(1, file_kib(source["disk"]["data"]))
        self.state["links"][key] = {"copied": None, "sync": {
            "source_key": self._key(snode, sminor),
            "target_key": self._key(tnode, tminor),
            "total": total, "left": total}}
        self.set_disk_state(target, "Inconsistent")

    def progress(self, seconds: float) -> None:
        for link in self.state["links"].values():
            sync = link.get("sync")
            if not sync:
                continue
            source = self._dev_at(sync["source_key"])
            sync["left"] = max(0, int(sync["left"]
                                      - source["rate"] * seconds))
            if sync["left"] == 0:
                link["sync"] = None
                self.set_disk_state(self._dev_at(sync["target_key"]),
                                    "UpToDate")

    def _replicate(self) -> None:
        """Copy what a primary wrote to its connected peer's data volume;
        a device whose data changed while it had no peer is dirty (its
        peer must resync from it, or both changed: a split brain)."""
        linked = set()
        for key, link in self.state["links"].items():
            a, b = (self._dev_at(k) for k in key.split("|"))
            linked.update({id(a), id(b)})
            if a["disk"] is None or b["disk"] is None:
                continue
            sync = link.get("sync")
            if sync:
                # A resync runs from its source, also towards a primary
                # (a disk attached again under a device in use).
                src = self._dev_at(sync["source_key"])
                dst = self._dev_at(sync["target_key"])
            elif a["role"] == "Primary" and b["role"] == "Primary":
                src, dst = sorted((a, b), key=lambda d: os.stat(
                    d["disk"]["data"]).st_mtime_ns, reverse=True)
            elif a["role"] == "Primary":
                src, dst = a, b
            elif b["role"] == "Primary":
                src, dst = b, a
            else:
                continue
            info = os.stat(src["disk"]["data"])
            stamp = [src["disk"]["data"], info.st_size, info.st_mtime_ns]
            if link.get("copied") != stamp:
                copy_changed(src["disk"]["data"], dst["disk"]["data"])
                link["copied"] = stamp
        for _, _, dev in self.devices():
            if dev["disk"] is None:
                continue
            info = os.stat(dev["disk"]["data"])
            stamp = [dev["disk"]["data"], info.st_size, info.st_mtime_ns]
            if id(dev) not in linked and dev.get("seen") not in (None, stamp):
                dev["dirty"] = True  # written while alone
            dev["seen"] = stamp

    def _target(self, node: str, dev: dict[str, Any]) -> str | None:
        if dev["disk"] is not None:
            return str(dev["disk"]["data"])
        peer = self.peer_of(node, dev)
        if peer is not None and peer["disk"] is not None:
            return str(peer["disk"]["data"])
        return None

    def _device_links(self) -> None:
        """``<dev_dir>/drbd<minor>`` of every node: a link to the data."""
        for node, info in self.state["nodes"].items():
            dev_dir = info["dev_dir"]
            wanted = {f"drbd{minor}": self._target(node, dev)
                      for minor, dev in info["devices"].items()}
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(dev_dir):
                    if re.fullmatch(r"drbd\d+", name) and not wanted.get(name):
                        os.unlink(os.path.join(dev_dir, name))
            for name, target in wanted.items():
                if target is None:
                    continue
                path = os.path.join(dev_dir, name)
                if os.path.islink(path) and os.readlink(path) == target:
                    continue
                os.makedirs(dev_dir, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                os.symlink(target, path)

    # --- faults --------------------------------------------------------------

    def inject(self, fault: str, node: str, minor: int | None) -> None:
        info = self.state["nodes"].get(node)
        if info is None:
            raise ValueError(f"No DRBD node {node}")
        if fault == "crash":
            info["devices"], info["resources"] = {}, {}
            return
        dev = info["devices"].get(str(minor))
        if dev is None:
            raise ValueError(f"No DRBD minor {minor} on node {node}")
        if fault == "disk-failure":
            dev["disk"] = None
            dev["disk_state"] = "Diskless"
        elif fault == "split-brain":
            peer = self.peer_of(node, dev)
            for one in (dev, peer) if peer else (dev,):
                one["split_brain"] = one["dirty"] = True
                one["net"] = None
        else:
            raise ValueError(f"Unknown fault {fault!r} (known: "
                             f"{', '.join(FAULTS)})")

    # --- output formats ------------------------------------------------------

    def _view(self, node: str, minor: str) -> dict[str, Any]:
        """What one device sees: DRBD's words for its state."""
        dev = self.state["nodes"][node]["devices"][minor]
        nine = str(self.state["version"]).startswith("9")
        view: dict[str, Any] = {
            "role": dev["role"], "disk": dev.get("disk_state", "Diskless")
            if dev["disk"] is not None else "Diskless",
            "peer_role": "Unknown", "peer_disk": "DUnknown",
            "cs": "StandAlone", "repl": "Off", "percent": None, "eta": None,
            "oos": 0, "total": 0}
        if dev["net"] is None:
            return view
        view["cs"] = "Connecting" if nine else "WFConnection"
        found = self._peer(node, dev)
        if found is None:
            return view
        peer = found[2]
        view.update(cs="Connected", repl="Established",
                    peer_role=peer["role"],
                    peer_disk=peer.get("disk_state", "Diskless")
                    if peer["disk"] is not None else "Diskless")
        link = self.state["links"].get(self._link_key(node, minor, found), {})
        sync = link.get("sync")
        if sync:
            source = sync["source_key"] == self._key(node, minor)
            repl = "SyncSource" if source else "SyncTarget"
            rate = max(1, self._dev_at(sync["source_key"])["rate"])
            view.update(repl=repl, cs=repl, oos=sync["left"], rate=rate,
                        total=sync["total"],
                        percent=round(100.0 * (sync["total"] - sync["left"])
                                      / sync["total"], 1),
                        eta=math.ceil(sync["left"] / rate))
        return view

    def proc_drbd(self, node: str) -> str:
        version = str(self.state["version"])
        major = version.split(".")[0]
        lines = [f"version: {version} ({_API.get(major, _API['9'])})",
                 "srcversion: 0 (ganeti drbd simulator)"]
        if major != "8":
            lines.append("Transports (api:18): tcp (9.2.5)")
            return "\n".join(lines) + "\n"
        for minor, _ in sorted(self.state["nodes"][node]["devices"].items(),
                               key=lambda item: int(item[0])):
            v = self._view(node, minor)
            proto = "C" if v["cs"] != "StandAlone" else " "
            lines.append(f"{int(minor):2d}: cs:{v['cs']} ro:{v['role']}/"
                         f"{v['peer_role']} ds:{v['disk']}/{v['peer_disk']}"
                         f" {proto} r-----")
            lines.append(f"    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0"
                         f" ap:0 ep:1 wo:f oos:{v['oos']}")
            if v["percent"] is not None:
                bar = int(v["percent"] / 5)
                lines.append(f"\t[{'=' * bar}>{'.' * (19 - bar)}] sync'ed:"
                             f" {v['percent']:.1f}% ({v['oos']}/{v['total']})K")
                eta = int(v["eta"])
                lines.append(f"\tfinish: {eta // 3600}:{eta // 60 % 60:02d}:"
                             f"{eta % 60:02d} speed: {v['rate']:,} ({v['rate']:,})"
                             " K/sec")
        return "\n".join(lines) + "\n"

    def status_json(self, node: str, name: str,
                    res: dict[str, Any]) -> dict[str, Any]:
        views = {m: self._view(node, m) for m in res["minors"]}
        role = next(iter(views.values()))["role"] if views else "Secondary"
        out: dict[str, Any] = {
            "name": name, "node-id": res.get("node_id", 0), "role": role,
            "suspended": False, "write-ordering": "flush",
            "devices": [{"volume": 0, "minor": int(m), "disk-state": v["disk"],
                         "client": False, "quorum": True,
                         "size": v["total"], "read": 0, "written": 0,
                         "al-writes": 0, "bm-writes": 0, "upper-pending": 0,
                         "lower-pending": 0} for m, v in views.items()],
            "connections": []}
        nets = [v for v in views.values() if v["cs"] != "StandAlone"]
        if nets and res.get("peer"):
            v = nets[0]
            peer_device: dict[str, Any] = {
                "volume": 0, "replication-state": v["repl"],
                "peer-disk-state": v["peer_disk"], "peer-client": False,
                "resync-suspended": "no", "received": 0, "sent": 0,
                "out-of-sync": v["oos"], "pending": 0, "unacked": 0,
                "has-sync-details": v["percent"] is not None,
                "has-online-verify-details": False,
                "percent-in-sync": v["percent"] if v["percent"] is not None
                else 100.0}
            if v["eta"] is not None:
                peer_device["eta"] = v["eta"]
            out["connections"].append({
                "peer-node-id": int(res["peer"]["id"]),
                "name": f"peer{res['peer']['id']}",
                "connection-state": v["cs"] if v["cs"] not in (
                    "SyncSource", "SyncTarget") else "Connected",
                "congested": False, "peer-role": v["peer_role"],
                "ap-in-flight": 0, "rs-in-flight": 0,
                "peer_devices": [peer_device]})
        return out

    def events2(self, node: str, name: str, res: dict[str, Any]) -> list[str]:
        status = self.status_json(node, name, res)
        lines = [f"exists resource name:{name} role:{status['role']}"
                 " suspended:no write-ordering:flush"]
        for conn in status["connections"]:
            lines.append(
                f"exists connection name:{name} peer-node-id:"
                f"{conn['peer-node-id']} conn-name:{conn['name']}"
                f" connection:{conn['connection-state']}"
                f" role:{conn['peer-role']}")
        for dev in status["devices"]:
            lines.append(f"exists device name:{name} volume:0 minor:"
                         f"{dev['minor']} disk:{dev['disk-state']} client:no"
                         " quorum:yes")
        for conn in status["connections"]:
            for pd in conn["peer_devices"]:
                done = (f" done:{pd['percent-in-sync']:.2f}"
                        f" eta:{pd.get('eta', 0)}"
                        if pd["has-sync-details"] else "")
                lines.append(
                    f"exists peer-device name:{name} peer-node-id:"
                    f"{conn['peer-node-id']} conn-name:{conn['name']}"
                    f" volume:0 replication:{pd['replication-state']}"
                    f" peer-disk:{pd['peer-disk-state']} peer-client:no"
                    f" resync-suspended:no{done}")
        return lines
