"""A stateful stand-in for lvm2, for tests and local clusters only.

Machines without device-mapper (this project's build and test machines)
can run lvm2's metadata commands but cannot activate a logical volume,
so no LV there has a device the OS scripts and hypervisors could write.
This module stands in for that missing kernel part *and* the commands
around it: :class:`LvmSimulator` is an executor for
:class:`~ganeti.storage.lvm.runner.LvmRunner` that answers the commands
the runner sends (``lvs``, ``vgs``, ``pvs``, ``lvcreate``, ``lvremove``,
``lvrename``, ``lvextend``, ``lvchange``, ``pvchange``, ``vgreduce``)
from a state file, in real lvm2's output format and with its error
messages and exit code (5), recorded from lvm2 2.03.16 (see
``test/data/lvm2/``).  Each LV is backed by a sparse file
``<state dir>/<vg>/<lv>``, which is its device path: data written there
is real bytes.

Volume groups are made with :meth:`LvmSimulator.create_vg` (lvm2's
``vgcreate`` on fake physical volumes); extents are 4 MiB, and the
simulator keeps where each volume lies (segments of extent ranges on
PVs) the way lvm2's default allocation places them: linear space is
taken from free ranges PV by PV in order (a volume grown into space not
adjacent to its end gets a new segment, which ``lvs`` reports as one
more line), a striped segment takes a free range of the same size on
each of ``stripes`` PVs.

Selection (:func:`runner_for_node`): a node uses the simulator only when
its process runs under a ``GANETI_ROOTDIR`` root (a local-cluster node,
never a real one, whose root is ``/``) *and* ``GANETI_LVM_SIMULATOR=1``
is set in its environment; the state then lives in the node's
``<data dir>/lvm-simulator``.  Anything else gets the real lvm2.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from typing import Any, Final

from ganeti import pathutils
from ganeti.standins import statefile
from ganeti.storage.lvm import runner as lvm_runner
from ganeti.utils import process

#: Environment variable that, under a ``GANETI_ROOTDIR`` root, selects it.
ENABLE_ENV: Final = "GANETI_LVM_SIMULATOR"
EXTENT_MIB: Final = 4
STATE_FILE: Final = statefile.STATE_FILE
_EXIT_FAILED: Final = 5


class _Failed(Exception):
    """A command failure, with lvm2's message."""


def _size(mib: float) -> str:
    """A size as lvm2 prints it with ``--units m --nosuffix``."""
    return "0" if mib == 0 else f"{mib:.2f}"


def _mib(text: str) -> int:
    """An ``-L`` argument (``10m``, ``+4m``, ``10``) in MiB."""
    value = text.lstrip("+").lower().removesuffix("m")
    try:
        number = float(value)
    except ValueError:
        raise _Failed(f'Invalid argument for --size: {text}') from None
    return math.ceil(number)


def _options(args: Sequence[str], takes_value: set[str]
             ) -> tuple[dict[str, str], list[str]]:
    """Split ``args`` into options (with values) and positional ones."""
    opts: dict[str, str] = {}
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-") and len(arg) > 1:
            if arg in takes_value:
                if index + 1 >= len(args):
                    raise _Failed(f"Option {arg} needs a value")
                opts[arg] = args[index + 1]
                index += 2
                continue
            opts[arg] = ""
        else:
            rest.append(arg)
        index += 1
    return opts, rest


class LvmSimulator:
    """lvm2 commands answered from ``state_dir`` (see the module doc)."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    # State

    def _state(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return statefile.locked_state(self.state_dir, {"vgs": {}})

    def backing_file(self, vg_name: str, lv_name: str) -> str:
        return os.path.join(self.state_dir, vg_name, lv_name)

    def runner(self) -> lvm_runner.LvmRunner:
        """A runner using this simulator (device paths are backing files)."""
        return lvm_runner.LvmRunner(executor=self, dev_dir=self.state_dir)

    def create_vg(self, name: str, pv_sizes_mib: dict[str, int]) -> None:
        """``vgcreate`` on fake PVs (name -> size); an existing VG is kept
        as it is when it has the same PVs."""
        with self._state() as state:
            vgs = state["vgs"]
            if name in vgs:
                if sorted(vgs[name]["pvs"]) != sorted(pv_sizes_mib):
                    raise ValueError(f"Volume group {name} exists with other"
                                     " physical volumes")
                return
            vgs[name] = {"pvs": {
                pv: {"extents": (size - EXTENT_MIB) // EXTENT_MIB,
                     "allocatable": True, "missing": False}
                for pv, size in pv_sizes_mib.items()}, "lvs": {}}
        os.makedirs(os.path.join(self.state_dir, name), mode=0o750,
                    exist_ok=True)

    def set_pv_missing(self, vg_name: str, pv_name: str) -> None:
        """Make a PV disappear (tests of ``vgreduce --removemissing``)."""
        with self._state() as state:
            state["vgs"][vg_name]["pvs"][pv_name]["missing"] = True

    def set_lv_open(self, vg_name: str, lv_name: str, is_open: bool) -> None:
        """Mark a volume open (held by a process, as a running guest holds
        its disk): ``lvs`` shows it, ``lvremove`` refuses it."""
        with self._state() as state:
            state["vgs"][vg_name]["lvs"][lv_name]["open"] = is_open

    # The executor interface

    def __call__(self, argv: Sequence[str]) -> process.RunResult:
        command, args = argv[0], list(argv[1:])
        if "--driverloaded" in args:
            index = args.index("--driverloaded")
            del args[index:index + 2]
        try:
            handler = getattr(self, "_cmd_" + command)
        except AttributeError:
            return self._result(argv, 3, "", f"  {command}: not simulated\n")
        try:
            with self._state() as state:
                out = handler(state, args)
        except _Failed as err:
            return self._result(argv, _EXIT_FAILED, "", f"  {err}\n")
        return self._result(argv, 0, out, "")

    @staticmethod
    def _result(argv: Sequence[str], code: int, out: str,
                err: str) -> process.RunResult:
        return process.RunResult(
            cmd=list(argv), exit_code=code, signal=None, stdout=out,
            stderr=err, failed=code != 0,
            fail_reason=f"exited with exit code {code}" if code else "")

    # Helpers

    @staticmethod
    def _vg(state: dict[str, Any], name: str) -> dict[str, Any]:
        try:
            vg: dict[str, Any] = state["vgs"][name]
        except KeyError:
            raise _Failed(f'Volume group "{name}" not found\n'
                          f"  Cannot process volume group {name}") from None
        return vg

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        vg, _, lv = path.partition("/")
        return vg, lv

    def _lv(self, state: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
        vg_name, lv_name = self._split(path)
        vg = state["vgs"].get(vg_name)
        if vg is None or lv_name not in vg["lvs"]:
            raise _Failed(f'Failed to find logical volume "{path}"')
        return vg, lv_name

    @staticmethod
    def _areas(vg: dict[str, Any], pv: str) -> list[tuple[int, int]]:
        """Used (start, count) ranges of ``pv``, in order."""
        return sorted((start, count) for lv in vg["lvs"].values()
                      for seg in lv["segments"]
                      for name, start, count in seg["areas"] if name == pv)

    def _used(self, vg: dict[str, Any], pv: str) -> int:
        return sum(count for _, count in self._areas(vg, pv))

    def _free(self, vg: dict[str, Any], pv: str) -> int:
        info = vg["pvs"][pv]
        return 0 if info["missing"] else info["extents"] - self._used(vg, pv)

    def _holes(self, vg: dict[str, Any], pv: str) -> list[tuple[int, int]]:
        """Free (start, count) ranges of an allocatable ``pv``, in order."""
        info = vg["pvs"][pv]
        if info["missing"] or not info["allocatable"]:
            return []
        holes, position = [], 0
        for start, count in [*self._areas(vg, pv), (info["extents"], 0)]:
            if start > position:
                holes.append((position, start - position))
            position = max(position, start + count)
        return holes

    def _allocate(self, vg_name: str, vg: dict[str, Any], extents: int,
                  stripes: int, stripe_kib: int) -> list[dict[str, Any]]:
        """New segments for ``extents``: linear ones hole by hole, PV by
        PV; a striped one takes a hole of the same size on each of
        ``stripes`` PVs."""
        total_free = sum(self._free(vg, pv) for pv in vg["pvs"])
        if extents > total_free:
            raise _Failed(f'Volume group "{vg_name}" has insufficient free'
                          f" space ({total_free} extents): {extents} required.")
        if stripes > 1:
            if stripes > len(vg["pvs"]):
                raise _Failed(f"Number of stripes ({stripes}) must not exceed"
                              f" number of physical volumes ({len(vg['pvs'])})")
            each = extents // stripes
            areas = []
            for pv in sorted(vg["pvs"]):
                fitting = [start for start, count in self._holes(vg, pv)
                           if count >= each]
                if fitting:
                    areas.append([pv, fitting[0], each])
            if len(areas) < stripes:
                raise _Failed("Insufficient suitable allocatable extents for"
                              f" logical volume: {extents} required")
            return [{"stripes": stripes, "stripe_size": stripe_kib,
                     "areas": areas[:stripes]}]
        segments: list[dict[str, Any]] = []
        left = extents
        for pv in sorted(vg["pvs"]):
            for start, count in self._holes(vg, pv):
                take = min(left, count)
                segments.append({"stripes": 1, "stripe_size": 0,
                                 "areas": [[pv, start, take]]})
                left -= take
                if not left:
                    return segments
        raise _Failed("Insufficient suitable allocatable extents for logical"
                      f" volume: {left} more required")

    def _report(self, args: list[str], rows: list[dict[str, str]]) -> str:
        opts, _ = _options(args, {"-o", "--units", "--separator"})
        fields = opts.get("-o", "").split(",")
        separator = opts.get("--separator", " ")
        return "".join("  " + separator.join(row[f] for f in fields) + "\n"
                       for row in rows)

    # Commands

    def _cmd_vgs(self, state: dict[str, Any], args: list[str]) -> str:
        _, names = _options(args, {"-o", "--units", "--separator"})
        rows = []
        for name in names or sorted(state["vgs"]):
            vg = self._vg(state, name)
            extents = sum(pv["extents"] for pv in vg["pvs"].values())
            free = sum(self._free(vg, pv) for pv in vg["pvs"])
            rows.append({"vg_name": name, "vg_size": _size(extents * EXTENT_MIB),
                         "vg_free": _size(free * EXTENT_MIB),
                         "pv_count": str(len(vg["pvs"])),
                         "lv_count": str(len(vg["lvs"])),
                         "vg_extent_size": _size(EXTENT_MIB)})
        return self._report(args, rows)

    def _cmd_pvs(self, state: dict[str, Any], args: list[str]) -> str:
        rows = []
        for vg_name, vg in sorted(state["vgs"].items()):
            for pv_name, pv in sorted(vg["pvs"].items()):
                used = self._used(vg, pv_name)
                attr = ("a" if pv["allocatable"] else "u") + "-" + (
                    "m" if pv["missing"] else "-")
                rows.append({
                    "pv_name": pv_name, "vg_name": vg_name,
                    "pv_size": _size(pv["extents"] * EXTENT_MIB),
                    "pv_free": _size(self._free(vg, pv_name) * EXTENT_MIB),
                    "pv_used": _size(used * EXTENT_MIB), "pv_attr": attr})
        return self._report(args, rows)

    def _cmd_lvs(self, state: dict[str, Any], args: list[str]) -> str:
        _, names = _options(args, {"-o", "--units", "--separator"})
        rows: list[dict[str, str]] = []
        for vg_name in names or sorted(state["vgs"]):
            vg = self._vg(state, vg_name)
            origins = {lv["origin"] for lv in vg["lvs"].values()}
            for lv_name, lv in sorted(vg["lvs"].items()):
                kind = "s" if lv["origin"] else (
                    "o" if lv_name in origins else "-")
                attr = (f"{kind}wi-{'a' if lv['active'] else '-'}"
                        f"{'o' if lv.get('open') else '-'}"
                        f"{'s' if kind != '-' else '-'}---")
                rows.extend({
                    "lv_name": lv_name, "vg_name": vg_name,
                    "lv_size": _size(lv["size"]),
                    "stripes": str(seg["stripes"]),
                    "stripe_size": _size(seg["stripe_size"] / 1024),
                    "lv_attr": attr, "origin": lv["origin"],
                    "devices": ",".join(f"{pv}({start})"
                                        for pv, start, _ in seg["areas"])}
                    for seg in lv["segments"])
        return self._report(args, rows)

    def _cmd_lvcreate(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _options(args, {"-L", "-n", "-i", "-I", "--zero", "-Z"})
        if len(rest) != 1 or "-L" not in opts or "-n" not in opts:
            raise _Failed("Please specify a size, a name and one volume group")
        name, size = opts["-n"], _mib(opts["-L"])
        stripes = int(opts.get("-i", "1"))
        stripe_kib = int(opts.get("-I", "64")) if stripes > 1 else 0
        origin = ""
        if "-s" in opts:
            vg, origin = self._lv(state, rest[0])
            vg_name = self._split(rest[0])[0]
        else:
            vg_name = rest[0]
            vg = self._vg(state, vg_name)
        if name in vg["lvs"]:
            raise _Failed(f'Logical Volume "{name}" already exists in volume'
                          f' group "{vg_name}"')
        extents = math.ceil(size / EXTENT_MIB)
        extents = math.ceil(extents / stripes) * stripes
        segments = self._allocate(vg_name, vg, extents, stripes, stripe_kib)
        path = self.backing_file(vg_name, name)
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        if origin:
            _sparse_copy(self.backing_file(vg_name, origin), path)
        else:
            with open(path, "wb") as handle:
                handle.truncate(extents * EXTENT_MIB * 1024 * 1024)
        vg["lvs"][name] = {
            "size": vg["lvs"][origin]["size"] if origin else
            extents * EXTENT_MIB, "active": "-an" not in opts,
            "origin": origin, "segments": segments}
        return f'  Logical volume "{name}" created.\n'

    def _cmd_lvremove(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _options(args, set())
        for path in rest:
            vg, lv_name = self._lv(state, path)
            if vg["lvs"][lv_name].get("open"):
                raise _Failed(f"Logical volume {path} in use.")
            del vg["lvs"][lv_name]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.backing_file(self._split(path)[0], lv_name))
        return ""

    def _cmd_lvrename(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _options(args, set())
        if len(rest) != 3:
            raise _Failed("Old and new logical volume names required")
        vg_name, old, new = rest
        vg = self._vg(state, vg_name)
        if old not in vg["lvs"]:
            raise _Failed(f'Existing logical volume "{old}" not found in'
                          f' volume group "{vg_name}"')
        if new in vg["lvs"]:
            raise _Failed(f'Logical Volume "{new}" already exists in volume'
                          f' group "{vg_name}"')
        os.rename(self.backing_file(vg_name, old),
                  self.backing_file(vg_name, new))
        vg["lvs"][new] = vg["lvs"].pop(old)
        return f'  Renamed "{old}" to "{new}" in volume group "{vg_name}"\n'

    def _cmd_lvextend(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _options(args, {"-L"})
        vg_name, lv_name = self._split(rest[0] if rest else "")
        vg = state["vgs"].get(vg_name)
        if vg is None or lv_name not in vg["lvs"]:
            raise _Failed(f"Logical volume {lv_name} not found in volume"
                          f" group {vg_name}.")
        lv = vg["lvs"][lv_name]
        last = lv["segments"][-1]
        stripes = last["stripes"]
        extents = math.ceil(_mib(opts.get("-L", "0")) / EXTENT_MIB)
        extents = math.ceil(extents / stripes) * stripes
        more = self._allocate(vg_name, vg, extents, stripes,
                              last["stripe_size"])
        # Like lvm2, continue the last segment when the new space follows it.
        pv, start, count = last["areas"][-1]
        if stripes == 1 and more[0]["areas"][0][:2] == [pv, start + count]:
            last["areas"][-1][2] += more.pop(0)["areas"][0][2]
        lv["segments"].extend(more)
        lv["size"] += extents * EXTENT_MIB
        os.truncate(self.backing_file(vg_name, lv_name),
                    lv["size"] * 1024 * 1024)
        return (f"  Logical volume {vg_name}/{lv_name} successfully"
                " resized.\n")

    def _cmd_lvchange(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _options(args, set())
        for path in rest:
            vg, lv_name = self._lv(state, path)
            vg["lvs"][lv_name]["active"] = "-ay" in opts
        return ""

    def _cmd_pvchange(self, state: dict[str, Any], args: list[str]) -> str:
        opts, rest = _options(args, {"-x"})
        for pv_name in rest:
            for vg in state["vgs"].values():
                if pv_name in vg["pvs"]:
                    vg["pvs"][pv_name]["allocatable"] = opts.get("-x") == "y"
                    break
            else:
                raise _Failed(f"Failed to find physical volume "
                              f'"{pv_name}".')
        return f"  {len(rest)} physical volume changed\n"

    def _cmd_vgreduce(self, state: dict[str, Any], args: list[str]) -> str:
        _, rest = _options(args, set())
        vg_name = rest[0] if rest else ""
        vg = self._vg(state, vg_name)
        missing = {pv for pv, info in vg["pvs"].items() if info["missing"]}
        if not missing:
            return f'  Volume group "{vg_name}" is already consistent.\n'
        using = sorted(lv for lv, info in vg["lvs"].items()
                       if missing & {area[0] for seg in info["segments"]
                                     for area in seg["areas"]})
        if using:
            raise _Failed(f"Logical volume {vg_name}/{using[0]} uses a missing"
                          " physical volume; use --force to remove it")
        for pv in missing:
            del vg["pvs"][pv]
        return f'  Wrote out consistent volume group {vg_name}.\n'


def _sparse_copy(source: str, target: str) -> None:
    """Copy a file, leaving holes where the source has zero blocks."""
    block = 1024 * 1024
    zero = bytes(block)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(block):
            if chunk == zero[:len(chunk)]:
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
        dst.truncate()


def state_dir(paths: pathutils.Paths) -> str:
    return os.path.join(paths.data_dir, "lvm-simulator")


def runner_for_node(paths: pathutils.Paths) -> lvm_runner.LvmRunner | None:
    """The simulator's runner when this node may and wants to use it, else
    None (real lvm2): only under a ``GANETI_ROOTDIR`` root with
    ``GANETI_LVM_SIMULATOR=1``."""
    if not paths.root or os.environ.get(ENABLE_ENV) != "1":
        return None
    return LvmSimulator(state_dir(paths)).runner()
