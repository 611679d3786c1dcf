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
  made lazy: nothing can look at the peer's copy without a command);
  during a resync the copy runs from the resync source, also towards a
  primary (a local disk attached again under a device in use).
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
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ganeti import pathutils
from ganeti.standins import statefile
from ganeti.standins.drbd_world import (
    DEFAULT_STEP,
    FAULTS,
    World,
    file_kib,
    read_md,
    write_md,
)
from ganeti.utils import process

if TYPE_CHECKING:
    from ganeti.storage.drbd.runner import DrbdRunner

ENABLE_ENV: Final = "GANETI_DRBD_SIMULATOR"
VERSION_ENV: Final = "GANETI_DRBD_SIMULATOR_VERSION"
DEFAULT_VERSION: Final = "8.4.11"
#: Resync rate until one is set (KiB/s; DRBD's default 250 KiB/s is slow
#: for a simulation, Ganeti's default is 60 MiB/s).
DEFAULT_RATE_KIB: Final = 60 * 1024
_ERR_CONFIG: Final = 10
_ERR_STATE: Final = 11


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

    def runner(self) -> DrbdRunner:
        """A runner whose commands this simulator answers (imported here:
        the driver's package imports this module)."""
        from ganeti.storage.drbd.runner import DrbdRunner
        return DrbdRunner(executor=self, proc_reader=self.read_proc,
                          dev_dir=self.dev_dir, version_key=None)

    # --- the executor interface ---------------------------------------------

    def __call__(self, argv: Sequence[str]) -> process.RunResult:
        tool, args = os.path.basename(argv[0]), list(argv[1:])
        try:
            with self._state() as state:
                self._me(state)
                World(state).tick(observe=False)
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
                World(state).tick(observe=False)
        except _Failed as err:
            return _result(argv, err.code, "", f"{err}\n")
        return _result(argv, 0, out, "")

    def read_proc(self) -> str:
        """This node's ``/proc/drbd`` (one observation)."""
        with self._state() as state:
            self._me(state)
            world = World(state)
            world.tick(observe=True)
            return world.proc_drbd(self.node)

    # --- faults and time (the test API) --------------------------------------

    def inject(self, fault: str, minor: int | None = None,
               node: str | None = None) -> None:
        """Inject ``fault`` (see :data:`FAULTS`) on ``node`` (default this
        one); ``disk-failure`` and ``split-brain`` name a ``minor``."""
        with self._state() as state:
            world = World(state)
            world.tick(observe=False)
            world.inject(fault, node or self.node, minor)
            world.tick(observe=False)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass for every resync."""
        with self._state() as state:
            world = World(state)
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
        World(state).attached(self.node, rest[0])
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
                "two_primaries": opts.get("allow-two-primaries", "no") in ("", "yes"),
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
        world = World(state)
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
        if dev["role"] == "Primary" and World(state).peer_of(
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
        if "size" in opts and _kib(opts["size"]) > file_kib(
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
        world = World(state)
        world.tick(observe=True)
        names = rest or sorted(self._me(state)["resources"])
        return json.dumps([world.status_json(self.node, name, self._res(
            state, name)) for name in names], indent=2) + "\n"

    def _cmd_events2(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _opts(args)
        world = World(state)
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


def simulator_for_node(paths: pathutils.Paths) -> DrbdSimulator | None:
    """This node's simulator when it may and wants to use one: only under
    a ``GANETI_ROOTDIR`` root with ``GANETI_DRBD_SIMULATOR`` naming the
    cluster's shared state directory."""
    state_dir = os.environ.get(ENABLE_ENV, "")
    if not paths.root or not state_dir or not os.path.isabs(state_dir):
        return None
    return DrbdSimulator(state_dir, paths.root,
                         os.path.join(paths.root, "dev"))


def runner_for_node(paths: pathutils.Paths) -> DrbdRunner | None:
    """The simulator's runner for this node, or None (real DRBD)."""
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
