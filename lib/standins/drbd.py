"""A stateful stand-in for DRBD, for tests and local clusters only.

No machine this project is built and tested on has the drbd kernel
module.  :class:`DrbdSimulator` stands in for the module *and* its tools
at the process boundary: it is an executor for
:class:`~ganeti.storage.drbd.runner.DrbdRunner` answering the drbdsetup
and drbdmeta commands the driver sends (DRBD 8.4 or 9 syntax, following
the version it reports in its ``/proc/drbd``), in the formats recorded
in ``test/data/drbd/`` (``/proc/drbd``, ``status --json``, ``events2``)
and with DRBD's exit codes (10: a configuration error, 11: a refused
state change).

The nodes of one local cluster share one state directory (their
devices connect to each other by address, port and secret, as real
peers do); each node is known by its root directory.  What it models:

- ``/dev/drbd<minor>`` of a node is a symbolic link under that node's
  root to the data volume (a backing file of the lvm2 stand-in): real
  bytes.  A diskless device points at its peer's data volume.
- Data: whenever a pair is connected, what the primary wrote is copied
  to the peer's data volume at every command of any node (protocol C
  made lazy: nothing can look at the peer's copy without a command).
- Metadata: ``create-md`` writes a header into the metadata volume
  (its disk state and generation); ``attach`` refuses a volume without.
- Resync: a connection between an UpToDate and an Inconsistent disk, or
  after one side was primary alone, starts a resync; it advances by
  ``step`` virtual seconds (default :data:`DEFAULT_STEP`) at every status
  observation, at the device's resync rate, or by :meth:`advance`.
- Faults (:meth:`inject`, also ``python -m ganeti.standins.drbd``):
  ``crash`` (a node dies: its devices go away, peers wait for it),
  ``disk-failure`` (a local disk fails: detached, diskless),
  ``split-brain`` (both ends of a pair go StandAlone with diverged data).

Selection (:func:`runner_for_node`): only under a ``GANETI_ROOTDIR``
root with ``GANETI_DRBD_SIMULATOR=<shared state directory>``;
``GANETI_DRBD_SIMULATOR_VERSION`` (``8.4.11`` or ``9.2.5``, default
8.4) chooses the version a new state directory reports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Final

from ganeti import pathutils
from ganeti.standins import statefile
from ganeti.utils import process

ENABLE_ENV: Final = "GANETI_DRBD_SIMULATOR"
VERSION_ENV: Final = "GANETI_DRBD_SIMULATOR_VERSION"
DEFAULT_VERSION: Final = "8.4.11"
#: Virtual seconds a status observation lets a resync advance.
DEFAULT_STEP: Final = 5.0
#: Resync rate until one is set (KiB/s; DRBD's default 250 KiB/s is slow
#: for a simulation, Ganeti's default is 60 MiB/s).
DEFAULT_RATE_KIB: Final = 60 * 1024
MD_MAGIC: Final = b"GANETI-DRBD-SIMULATOR-MD\n"
FAULTS: Final = ("crash", "disk-failure", "split-brain")
_ERR_CONFIG: Final = 10
_ERR_STATE: Final = 11
_API: Final = {"8": "api:1/proto:86-101", "9": "api:2/proto:86-122"}


class _Failed(Exception):
    def __init__(self, message: str, code: int = _ERR_CONFIG) -> None:
        super().__init__(message)
        self.code = code


def _opts(args: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``--name=value`` / ``--flag`` options and positional arguments."""
    opts, rest = {}, []
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            opts[name] = value
        else:
            rest.append(arg)
    return opts, rest


def _kib(text: str) -> int:
    """A DRBD size/rate (``61440k``, ``100M``, ``1G``, plain KiB)."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    if not match:
        raise _Failed(f"Invalid number '{text}'")
    scale = {"": 1, "k": 1, "m": 1024, "g": 1024 * 1024}[
        match.group(2).lower()]
    return int(match.group(1)) * scale


def _file_kib(path: str) -> int:
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


class DrbdSimulator:
    """DRBD commands of one node answered from a shared ``state_dir``."""

    def __init__(self, state_dir: str, node: str, dev_dir: str,
                 version: str | None = None) -> None:
        self.state_dir = state_dir
        self.node = node
        self.dev_dir = dev_dir
        self.version = version or os.environ.get(VERSION_ENV) \
            or DEFAULT_VERSION

    # --- state ---------------------------------------------------------------

    def _state(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return statefile.locked_state(self.state_dir, {
            "version": self.version, "clock": 0.0, "step": DEFAULT_STEP,
            "nodes": {}, "links": {}})

    def _me(self, state: dict[str, Any]) -> dict[str, Any]:
        node: dict[str, Any] = state["nodes"].setdefault(
            self.node, {"dev_dir": self.dev_dir, "resources": {},
                        "devices": {}})
        node["dev_dir"] = self.dev_dir
        return node

    def major(self) -> str:
        with self._state() as state:
            return str(state["version"]).split(".")[0]

    def runner(self) -> Any:
        from ganeti.storage.drbd.runner import DrbdRunner
        return DrbdRunner(executor=self, proc_reader=self.read_proc,
                          dev_dir=self.dev_dir, version_key=None)

    # --- the executor interface ---------------------------------------------

    def __call__(self, argv: Sequence[str]) -> process.RunResult:
        tool, args = os.path.basename(argv[0]), list(argv[1:])
        try:
            with self._state() as state:
                self._me(state)
                _World(state).tick(observe=False)
                if tool == "drbdmeta":
                    out = self._drbdmeta(state, args)
                elif tool == "drbdsetup" and args:
                    handler = getattr(self, "_cmd_" + args[0].replace("-", "_"),
                                      None)
                    if handler is None:
                        raise _Failed(f"{args[0]}: unknown command", 20)
                    out = handler(state, args[1:])
                else:
                    raise _Failed(f"{tool}: not simulated", 20)
                _World(state).tick(observe=False)
        except _Failed as err:
            return _result(argv, err.code, "", f"{err}\n")
        return _result(argv, 0, out, "")

    def read_proc(self) -> str:
        """This node's ``/proc/drbd`` (one observation)."""
        with self._state() as state:
            self._me(state)
            world = _World(state)
            world.tick(observe=True)
            return world.proc_drbd(self.node)

    # --- faults and time (the test API) --------------------------------------

    def inject(self, fault: str, minor: int | None = None,
               node: str | None = None) -> None:
        """Inject ``fault`` (see :data:`FAULTS`) on ``node`` (default this
        one); ``disk-failure`` and ``split-brain`` name a ``minor``."""
        with self._state() as state:
            world = _World(state)
            world.tick(observe=False)
            world.inject(fault, node or self.node, minor)
            world.tick(observe=False)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass for every resync."""
        with self._state() as state:
            world = _World(state)
            world.tick(observe=False)
            world.progress(seconds)
            world.tick(observe=False)

    def set_step(self, seconds: float) -> None:
        """Virtual seconds each status observation lets resyncs advance
        (0: only :meth:`advance` moves them)."""
        with self._state() as state:
            state["step"] = float(seconds)

    # --- commands ------------------------------------------------------------

    def _res(self, state: dict[str, Any], name: str) -> dict[str, Any]:
        res = self._me(state)["resources"].get(name)
        if res is None:
            raise _Failed(f"{name}: No such resource")
        assert isinstance(res, dict)
        return res

    def _dev(self, state: dict[str, Any], minor: str) -> dict[str, Any]:
        dev = self._me(state)["devices"].get(minor)
        if dev is None:
            raise _Failed(f"{minor}: (127) Device minor not allocated")
        assert isinstance(dev, dict)
        return dev

    def _dev_of(self, state: dict[str, Any], target: str) -> dict[str, Any]:
        """The device a role command names: a minor (8.4), a resource (9)."""
        if target.isdigit():
            return self._dev(state, target)
        res = self._res(state, target)
        if not res["minors"]:
            raise _Failed(f"{target}: resource has no volumes")
        return self._dev(state, res["minors"][0])

    def _drbdmeta(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        if len(rest) < 5 or rest[4] != "create-md" or rest[1] not in (
                "v08", "v09"):
            raise _Failed("drbdmeta: only '<minor> v08|v09 <meta dev>"
                          " flex-external create-md' is simulated", 20)
        minor, meta = rest[0], rest[2]
        if minor in self._me(state)["devices"] and \
                self._me(state)["devices"][minor].get("disk"):
            raise _Failed(f"Device '{minor}' is configured!", 20)
        if not os.path.isfile(meta):
            raise _Failed(f"open({meta}) failed: No such file or directory",
                          20)
        if read_md(meta) is not None and "force" not in opts:
            raise _Failed("Valid meta data already in place; use --force",
                          20)
        write_md(meta, {"disk": "Inconsistent", "gen": 0})
        return "New drbd meta data block successfully created.\n"

    def _cmd_new_resource(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        if not rest:
            raise _Failed("new-resource: missing resource name")
        res = self._me(state)["resources"].setdefault(
            rest[0], {"minors": [], "peer": None})
        if len(rest) > 1:
            res["node_id"] = int(rest[1])
        return ""

    def _cmd_new_minor(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        if len(rest) != 3:
            raise _Failed("new-minor: want RESOURCE MINOR VOLUME")
        res, minor = self._res(state, rest[0]), rest[1]
        devices = self._me(state)["devices"]
        if minor in devices:
            raise _Failed(f"{minor}: (161) Minor or volume exists already"
                          " (delete it first)")
        devices[minor] = {"resource": rest[0], "role": "Secondary",
                          "disk": None, "net": None, "rate": DEFAULT_RATE_KIB,
                          "dirty": False, "split_brain": False}
        res["minors"].append(minor)
        return ""

    def _cmd_attach(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        if len(rest) != 4:
            raise _Failed("attach: want MINOR LOWER_DEV META_DEV META_INDEX")
        dev = self._dev(state, rest[0])
        if dev["disk"] is not None:
            raise _Failed(f"{rest[0]}: (124) Device is attached to a disk"
                          " (use detach first)")
        data, meta = rest[1], rest[2]
        if not os.path.isfile(data) or not os.path.isfile(meta):
            raise _Failed(f"{rest[0]}: (114) Lower device / meta device"
                          " not found")
        md = read_md(meta)
        if md is None:
            raise _Failed(f"{rest[0]}: (119) No valid meta-data signature"
                          " found.\n\n\t==> Use 'drbdadm create-md res' to"
                          " initialize meta-data area. <==")
        dev["disk"] = {"data": data, "meta": meta}
        dev["disk_state"] = md["disk"]
        dev["options"] = sorted(a for a in args if a.startswith("--"))
        self._set_rate(dev, opts)
        return ""

    @staticmethod
    def _set_rate(dev: dict[str, Any], opts: dict[str, str]) -> None:
        if "resync-rate" in opts:
            dev["rate"] = _kib(opts["resync-rate"])
        if opts.get("c-plan-ahead", "0") != "0" and "c-max-rate" in opts:
            dev["rate"] = _kib(opts["c-max-rate"])

    def _net(self, opts: dict[str, str], local: str, remote: str
             ) -> dict[str, Any]:
        if opts.get("protocol", "C") not in ("A", "B", "C"):
            raise _Failed(f"Invalid protocol '{opts['protocol']}'")
        return {"local": local, "remote": remote,
                "secret": opts.get("shared-secret", ""),
                "two_primaries": "allow-two-primaries" in opts,
                "discard_my_data": "discard-my-data" in opts}

    def _cmd_connect(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        res = self._res(state, rest[0] if rest else "")
        if len(rest) == 3:  # 8.4: RESOURCE LOCAL REMOTE
            net = self._net(opts, rest[1], rest[2])
        elif len(rest) == 2 and res.get("peer") and res["peer"].get("path"):
            peer = res["peer"]
            net = self._net(peer["opts"], *peer["path"])
            net["discard_my_data"] = "discard-my-data" in opts
        else:
            raise _Failed(f"{rest[0]}: connect: no peer or path configured")
        for minor in res["minors"]:
            dev = self._dev(state, minor)
            if dev["net"] is not None:
                raise _Failed(f"{rest[0]}: (102) Local address(port) already"
                              " in use.")
            dev["net"] = dict(net)
        return ""

    def _cmd_new_peer(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        res = self._res(state, rest[0] if rest else "")
        res["peer"] = {"id": rest[1] if len(rest) > 1 else "1", "opts": opts}
        return ""

    def _cmd_new_path(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        res = self._res(state, rest[0] if rest else "")
        if not res.get("peer") or len(rest) != 4:
            raise _Failed(f"{rest[0]}: new-path: unknown peer")
        res["peer"]["path"] = [rest[2], rest[3]]
        return ""

    def _cmd_peer_device_options(self, state: dict[str, Any],
                                 args: list[str]) -> str:
        opts, rest = _opts(args)
        res = self._res(state, rest[0] if rest else "")
        for minor in res["minors"]:
            self._set_rate(self._dev(state, minor), opts)
        return ""

    def _cmd_disconnect(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        devices = self._me(state)["devices"]
        if len(rest) == 2 and rest[0].startswith(("ipv4:", "ipv6:")):
            found = [d for d in devices.values() if d["net"]
                     and d["net"]["local"] == rest[0]
                     and d["net"]["remote"] == rest[1]]
            if not found:
                raise _Failed(f"{rest[0]} {rest[1]}: (158) Unknown"
                              " connection")
        else:
            res = self._res(state, rest[0] if rest else "")
            found = [self._dev(state, m) for m in res["minors"]]
        for dev in found:
            dev["net"] = None
        return ""

    def _cmd_del_peer(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        res = self._res(state, rest[0] if rest else "")
        res["peer"] = None
        for minor in res["minors"]:
            self._dev(state, minor)["net"] = None
        return ""

    def _cmd_primary(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        dev = self._dev_of(state, rest[0] if rest else "")
        force = "force" in opts or "overwrite-data-of-peer" in opts
        world = _World(state)
        peer = world.peer_of(self.node, dev)
        if peer is not None and peer["role"] == "Primary" and not (
                dev["net"]["two_primaries"] and peer["net"]["two_primaries"]):
            raise _Failed(f"{rest[0]}: State change failed: (-1) Multiple"
                          " primaries not allowed by config", _ERR_STATE)
        local_ok = dev["disk"] is not None and dev["disk_state"] == "UpToDate"
        peer_ok = peer is not None and peer["disk"] is not None and \
            peer["disk_state"] == "UpToDate" and not world.syncing_to(peer)
        if not (local_ok or (dev["disk"] is None and peer_ok) or force):
            raise _Failed(f"{rest[0]}: State change failed: (-2) Need access"
                          " to UpToDate data", _ERR_STATE)
        if force and dev["disk"] is not None and not local_ok:
            world.set_disk_state(dev, "UpToDate")
            if peer is not None:
                world.start_sync(self.node, dev, peer)
        dev["role"] = "Primary"
        return ""

    def _cmd_secondary(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        self._dev_of(state, rest[0] if rest else "")["role"] = "Secondary"
        return ""

    def _cmd_detach(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        dev = self._dev(state, rest[0] if rest else "")
        if dev["role"] == "Primary" and _World(state).peer_of(
                self.node, dev) is None:
            raise _Failed(f"{rest[0]}: State change failed: (-2) Need access"
                          " to UpToDate data", _ERR_STATE)
        dev["disk"] = None
        dev["disk_state"] = "Diskless"
        return ""

    def _cmd_down(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        me = self._me(state)
        res = me["resources"].pop(rest[0] if rest else "", None)
        if res is None:
            return ""  # like drbdsetup: taking down a missing resource is fine
        for minor in res["minors"]:
            me["devices"].pop(minor, None)
        return ""

    def _cmd_resize(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _opts(args)
        dev = self._dev(state, rest[0] if rest else "")
        if dev["disk"] is None:
            raise _Failed(f"{rest[0]}: (138) Device does not have a disk")
        if "size" in opts and _kib(opts["size"]) > _file_kib(
                dev["disk"]["data"]):
            raise _Failed(f"{rest[0]}: (111) Low.dev. smaller than requested"
                          " DRBD-dev. size.")
        return ""

    def _cmd_check_resize(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        self._dev(state, rest[0] if rest else "")
        return ""

    def _cmd_status(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        world = _World(state)
        world.tick(observe=True)
        names = rest or sorted(self._me(state)["resources"])
        return json.dumps([world.status_json(self.node, name, self._res(
            state, name)) for name in names], indent=2) + "\n"

    def _cmd_events2(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        world = _World(state)
        world.tick(observe=True)
        names = rest or sorted(self._me(state)["resources"])
        lines = [line for name in names for line in world.events2(
            self.node, name, self._res(state, name))]
        return "".join(line + "\n" for line in [*lines, "exists -"])


def _result(argv: Sequence[str], code: int, out: str,
            err: str) -> process.RunResult:
    return process.RunResult(
        cmd=list(argv), exit_code=code, signal=None, stdout=out, stderr=err,
        failed=code != 0,
        fail_reason=f"exited with exit code {code}" if code else "")


class _World:
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
        if dev["disk"] is None or peer["disk"] is None:
            return
        states = (dev["disk_state"], peer["disk_state"])
        if states == ("UpToDate", "UpToDate"):
            if dev["dirty"] != peer["dirty"]:
                src = (node, minor) if dev["dirty"] else (pnode, pminor)
                dst = (pnode, pminor) if dev["dirty"] else (node, minor)
                self._sync_link(key, self._dev_at(self._key(*src)),
                                self._dev_at(self._key(*dst)), *src, *dst)
        elif "UpToDate" in states:
            src, dst = ((node, minor), (pnode, pminor)) if \
                states[0] == "UpToDate" else ((pnode, pminor), (node, minor))
            self._sync_link(key, self._dev_at(self._key(*src)),
                            self._dev_at(self._key(*dst)), *src, *dst)
        dev["dirty"] = peer["dirty"] = False

    def _sync_link(self, key: str, source: dict[str, Any],
                   target: dict[str, Any], snode: str, sminor: str,
                   tnode: str, tminor: str) -> None:
        total = max(1, _file_kib(source["disk"]["data"]))
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
        a primary without a peer may write alone (it is dirty then)."""
        linked = set()
        for key, link in self.state["links"].items():
            a, b = (self._dev_at(k) for k in key.split("|"))
            linked.update({id(a), id(b)})
            if a["disk"] is None or b["disk"] is None:
                continue
            if a["role"] == "Primary" and b["role"] == "Primary":
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
            if dev["role"] == "Primary" and id(dev) not in linked:
                dev["dirty"] = True

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
            view.update(repl=repl, cs=repl, oos=sync["left"],
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
                done_mib = (v["total"] - v["oos"]) // 1024
                lines.append(f"\t[{'=' * bar}>{'.' * (19 - bar)}] sync'ed:"
                             f" {v['percent']:.1f}% ({v['oos'] // 1024}/"
                             f"{v['total'] // 1024})M")
                eta = int(v["eta"])
                lines.append(f"\tfinish: {eta // 3600}:{eta // 60 % 60:02d}:"
                             f"{eta % 60:02d} speed: {done_mib:,} (0) K/sec")
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
                        if pd["has-sync-details"] else "")
                lines.append(
                    f"exists peer-device name:{name} peer-node-id:"
                    f"{conn['peer-node-id']} conn-name:{conn['name']}"
                    f" volume:0 replication:{pd['replication-state']}"
                    f" peer-disk:{pd['peer-disk-state']} peer-client:no"
                    f" resync-suspended:no{done}")
        return lines


def simulator_for_node(paths: pathutils.Paths) -> DrbdSimulator | None:
    """This node's simulator when it may and wants to use one: only under
    a ``GANETI_ROOTDIR`` root with ``GANETI_DRBD_SIMULATOR`` naming the
    cluster's shared state directory."""
    state_dir = os.environ.get(ENABLE_ENV, "")
    if not paths.root or not state_dir or not os.path.isabs(state_dir):
        return None
    return DrbdSimulator(state_dir, paths.root,
                         os.path.join(paths.root, "dev"))


def runner_for_node(paths: pathutils.Paths) -> Any:
    sim = simulator_for_node(paths)
    return sim.runner() if sim is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ganeti.standins.drbd STATE_DIR NODE_ROOT fault|advance``:
    inject a fault or let virtual time pass (tests, demos)."""
    parser = argparse.ArgumentParser(prog="python -m ganeti.standins.drbd")
    parser.add_argument("state_dir")
    parser.add_argument("node_root")
    sub = parser.add_subparsers(dest="what", required=True)
    fault = sub.add_parser("fault")
    fault.add_argument("fault", choices=FAULTS)
    fault.add_argument("--minor", type=int)
    adv = sub.add_parser("advance")
    adv.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    sim = DrbdSimulator(args.state_dir, args.node_root,
                        os.path.join(args.node_root, "dev"))
    try:
        if args.what == "fault":
            sim.inject(args.fault, args.minor)
        else:
            sim.advance(args.seconds)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
