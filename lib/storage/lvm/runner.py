"""The one way this project talks to lvm2.

Every lvm2 command goes through :class:`LvmRunner`.  Report commands
(``lvs``, ``vgs``, ``pvs``) always run with the same fixed options,
:data:`REPORT_OPTIONS` (no headings, no unit suffix, sizes in MiB, ``|``
between fields), and their output is parsed here and only here, into
:class:`LvInfo`, :class:`VgInfo` and :class:`PvInfo` records.

A failing command raises :class:`LvmCommandError`, whose message is the
command and lvm2's own reason (the last line of its standard error that
is not a ``WARNING``).

The runner executes commands through an *executor*, a callable taking
the argument vector and returning a
:class:`~ganeti.utils.process.RunResult`.  The default runs the real
programs; tests and local clusters may pass another one (see
:mod:`ganeti.standins.lvm`).  ``global_options`` are added to
every command; the tests against real lvm2 on a machine without
device-mapper use ``--driverloaded n``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from ganeti import errors
from ganeti.utils import process

#: Options of every report command; the parser below relies on them.
SEPARATOR: Final = "|"
REPORT_OPTIONS: Final[tuple[str, ...]] = (
    "--noheadings", "--nosuffix", "--units", "m", "--separator", SEPARATOR)

LV_FIELDS: Final = ("lv_name", "vg_name", "lv_size", "stripes", "stripe_size",
                    "lv_attr", "origin", "devices")
VG_FIELDS: Final = ("vg_name", "vg_size", "vg_free", "pv_count", "lv_count",
                    "vg_extent_size")
PV_FIELDS: Final = ("pv_name", "vg_name", "pv_size", "pv_free", "pv_used",
                    "pv_attr")

#: The lvm2 programs the runner may call.
COMMANDS: Final = frozenset({
    "lvs", "vgs", "pvs", "lvcreate", "lvremove", "lvrename", "lvextend",
    "lvchange", "pvchange", "vgreduce"})

#: Seconds an lvm2 command may take (a stuck device must not hang a job).
COMMAND_TIMEOUT: Final = 120.0

Executor = Callable[[Sequence[str]], process.RunResult]


class LvmCommandError(errors.BlockDeviceError):
    """An lvm2 command failed; the message carries lvm2's reason."""


def run_real(argv: Sequence[str]) -> process.RunResult:
    """The default executor: run the real program, C locale."""
    return process.run_cmd(argv, env={"LC_ALL": "C",
                                      "LVM_SUPPRESS_FD_WARNINGS": "1"},
                           timeout=COMMAND_TIMEOUT)


# --- Parsing (the one place lvm2 output is read) ------------------------------

def _bad_output(what: str, text: str) -> errors.BlockDeviceError:
    return errors.BlockDeviceError(f"lvm2 printed an invalid {what} {text!r:.40}",
                                   errors.ErrorCode.ENVIRON)


def parse_mib(text: str) -> int:
    """A size printed with ``--units m --nosuffix``, in whole MiB (down)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise _bad_output("size", text)
    return int(value)


def parse_stripe_size_kib(text: str) -> int:
    """``stripe_size`` (or ``vg_extent_size``) printed in MiB with two
    decimals, back in KiB.

    Stripe and extent sizes are powers of two from 4 KiB, so the nearest power of
    two of the printed value is exact: ``0.06`` is 64 KiB, ``0.01`` is
    8 KiB; ``0.00`` can only be 4 KiB.  Linear volumes print ``0``.
    """
    if text.strip() in ("0", ""):
        return 0
    kib = float(text) * 1024
    if kib < 5:
        return 4
    return int(2 ** round(math.log2(kib)))


def parse_devices(text: str) -> tuple[str, ...]:
    """The physical volumes of a segment's ``devices`` field
    (``/dev/sdb1(0),/dev/sdc1(0)``: PV and first extent, per stripe)."""
    return tuple(part.partition("(")[0] for part in text.split(",")
                 if part.strip())


def allocated_mib(size_mib: int, extent_kib: int, stripes: int = 1) -> int:
    """What lvm2 really allocates for a request of ``size_mib``: whole
    extents (a multiple of ``stripes`` of them), in MiB.

    Extents are powers of two; at most 1 MiB they divide every MiB size.
    """
    extent_kib = max(extent_kib, 1)
    extents = -(-size_mib * 1024 // extent_kib)
    extents = -(-extents // max(stripes, 1)) * max(stripes, 1)
    return -(-extents * extent_kib // 1024)


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad_output("number", text) from None


def parse_report(output: str, fields: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a report printed with :data:`REPORT_OPTIONS`."""
    rows = []
    for line in output.splitlines():
        if not line.strip():
            continue
        values = line.strip().split(SEPARATOR)
        if len(values) != len(fields):
            raise errors.BlockDeviceError(
                f"lvm2 printed {len(values)} fields instead of {len(fields)}:"
                f" {line.strip()!r:.100}", errors.ErrorCode.ENVIRON)
        rows.append(dict(zip(fields, values, strict=True)))
    return rows


def error_reason(stderr: str) -> str:
    """lvm2's reason for a failure, on one line: what it printed, without
    warnings and the hint to read ``--help``."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("WARNING")
               and not (line.startswith("Run `") and "--help" in line)]
    return "; ".join(reasons or lines or ["no reason given"])


@dataclass(frozen=True)
class LvInfo:
    """One logical volume as ``lvs`` reports it."""

    name: str
    vg_name: str
    size_mib: int
    stripes: int
    stripe_size_kib: int
    attr: str
    origin: str
    segments: int = 1
    #: The physical volumes the volume lies on, in order.
    pvs: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return len(self.attr) > 4 and self.attr[4] == "a"

    @property
    def is_snapshot(self) -> bool:
        return bool(self.origin)

    @classmethod
    def from_row(cls, row: dict[str, str]) -> LvInfo:
        return cls(name=row["lv_name"], vg_name=row["vg_name"],
                   size_mib=parse_mib(row["lv_size"]),
                   stripes=_parse_int(row["stripes"]),
                   stripe_size_kib=parse_stripe_size_kib(row["stripe_size"]),
                   attr=row["lv_attr"], origin=row["origin"],
                   pvs=parse_devices(row["devices"]))


def parse_lvs(rows: Sequence[dict[str, str]]) -> list[LvInfo]:
    """One record per volume from ``lvs`` rows.

    Asked for segment fields (``stripes``, ``stripe_size``), ``lvs``
    prints one line per segment: a volume grown into non-adjacent free
    space has several.  The record keeps the first segment's striping and
    counts the segments and the physical volumes of all of them.
    """
    merged: dict[tuple[str, str], LvInfo] = {}
    for row in rows:
        info = LvInfo.from_row(row)
        key = (info.vg_name, info.name)
        if key in merged:
            first = merged[key]
            pvs = first.pvs + tuple(p for p in info.pvs if p not in first.pvs)
            merged[key] = dataclasses.replace(
                first, segments=first.segments + 1, pvs=pvs)
        else:
            merged[key] = info
    return list(merged.values())


@dataclass(frozen=True)
class VgInfo:
    """One volume group as ``vgs`` reports it."""

    name: str
    size_mib: int
    free_mib: int
    pv_count: int
    lv_count: int
    #: Allocation unit (lvm2 allocates whole extents).
    extent_kib: int = 4096

    @classmethod
    def from_row(cls, row: dict[str, str]) -> VgInfo:
        return cls(name=row["vg_name"], size_mib=parse_mib(row["vg_size"]),
                   free_mib=parse_mib(row["vg_free"]),
                   pv_count=_parse_int(row["pv_count"]),
                   lv_count=_parse_int(row["lv_count"]),
                   extent_kib=parse_stripe_size_kib(row["vg_extent_size"]))


@dataclass(frozen=True)
class PvInfo:
    """One physical volume as ``pvs`` reports it."""

    name: str
    vg_name: str
    size_mib: int
    free_mib: int
    used_mib: int
    attr: str

    @property
    def allocatable(self) -> bool:
        return self.attr[:1] == "a"

    @property
    def missing(self) -> bool:
        return len(self.attr) > 2 and self.attr[2] == "m"

    @classmethod
    def from_row(cls, row: dict[str, str]) -> PvInfo:
        return cls(name=row["pv_name"], vg_name=row["vg_name"],
                   size_mib=parse_mib(row["pv_size"]),
                   free_mib=parse_mib(row["pv_free"]),
                   used_mib=parse_mib(row["pv_used"]), attr=row["pv_attr"])


# --- The runner ---------------------------------------------------------------

@dataclass(frozen=True)
class LvmRunner:
    """Runs lvm2 commands with fixed options and parses what they print."""

    executor: Executor = run_real
    global_options: tuple[str, ...] = ()
    #: Options of ``lvcreate`` (tests without device-mapper: ``-an``).
    create_options: tuple[str, ...] = ()
    #: Where activated volumes appear (``<dev_dir>/<vg>/<lv>``).
    dev_dir: str = "/dev"

    def device_path(self, vg_name: str, lv_name: str) -> str:
        return f"{self.dev_dir}/{vg_name}/{lv_name}"

    def run(self, command: str, *args: str) -> str:
        """Run one lvm2 command; its standard output, or a one-line error."""
        if command not in COMMANDS:
            raise errors.ProgrammerError(f"Not an lvm2 command: {command}")
        result = self.executor([command, *self.global_options, *args])
        if result.failed:
            reason = (error_reason(result.stderr) if result.exit_code is not None
                      else result.fail_reason)
            raise LvmCommandError(f"{command} failed: {reason}",
                                  errors.ErrorCode.ENVIRON)
        return result.stdout

    def report(self, command: str, fields: Sequence[str],
               *targets: str) -> list[dict[str, str]]:
        output = self.run(command, *REPORT_OPTIONS, "-o", ",".join(fields),
                          *targets)
        return parse_report(output, fields)

    # Reports

    def list_lvs(self, vg_name: str | None = None) -> list[LvInfo]:
        targets = [vg_name] if vg_name else []
        return parse_lvs(self.report("lvs", LV_FIELDS, *targets))

    def find_lv(self, vg_name: str, lv_name: str) -> LvInfo | None:
        """The volume, or None; a missing VG is an error."""
        for info in self.list_lvs(vg_name):
            if info.name == lv_name:
                return info
        return None

    def list_vgs(self) -> list[VgInfo]:
        return [VgInfo.from_row(row) for row in self.report("vgs", VG_FIELDS)]

    def find_vg(self, vg_name: str) -> VgInfo | None:
        for info in self.list_vgs():
            if info.name == vg_name:
                return info
        return None

    def list_pvs(self, vg_name: str | None = None) -> list[PvInfo]:
        rows = [PvInfo.from_row(row) for row in self.report("pvs", PV_FIELDS)]
        return [pv for pv in rows if vg_name is None or pv.vg_name == vg_name]

    # Changes

    def lvcreate(self, vg_name: str, lv_name: str, size_mib: int, *,
                 stripes: int = 1, stripe_size_kib: int = 0) -> None:
        args = [*self.create_options, "-L", f"{size_mib}m", "-n", lv_name]
        if stripes > 1:
            args += ["-i", str(stripes)]
            if stripe_size_kib:
                args += ["-I", str(stripe_size_kib)]
        self.run("lvcreate", *args, vg_name)

    def lvsnapshot(self, vg_name: str, origin: str, snap_name: str,
                   size_mib: int) -> None:
        self.run("lvcreate", "-s", "-L", f"{size_mib}m", "-n", snap_name,
                 f"{vg_name}/{origin}")

    def lvremove(self, vg_name: str, lv_name: str) -> None:
        self.run("lvremove", "-f", f"{vg_name}/{lv_name}")

    def lvrename(self, vg_name: str, old_name: str, new_name: str) -> None:
        self.run("lvrename", vg_name, old_name, new_name)

    def lvextend(self, vg_name: str, lv_name: str, amount_mib: int) -> None:
        self.run("lvextend", "-L", f"+{amount_mib}m", f"{vg_name}/{lv_name}")

    def lvchange_active(self, vg_name: str, lv_name: str, active: bool) -> None:
        self.run("lvchange", "-ay" if active else "-an", f"{vg_name}/{lv_name}")

    def pvchange_allocatable(self, pv_name: str, allocatable: bool) -> None:
        self.run("pvchange", "-x", "y" if allocatable else "n", pv_name)

    def vgreduce_removemissing(self, vg_name: str) -> None:
        self.run("vgreduce", "--removemissing", vg_name)
