"""The instance policy options of ``gnt-cluster init/modify`` and
``gnt-group add/modify`` (Ganeti's names and value syntax).

- ``--specs-mem-size``, ``--specs-cpu-count``, ``--specs-disk-count``,
  ``--specs-disk-size``, ``--specs-nic-count``: ``min=N,max=N,std=N``
  for one spec (sizes take units: ``4G``);
- ``--ipolicy-std-specs memory-size=N,cpu-count=N,...``;
- ``--ipolicy-bounds-specs min:SPECS/max:SPECS//min:SPECS/max:SPECS``
  (the ``minmax`` pairs);
- ``--ipolicy-disk-templates plain,drbd``;
- ``--ipolicy-vcpu-ratio R``, ``--ipolicy-spindle-ratio R``.

:func:`ipolicy_changes` turns them into the ``ipolicy`` of an opcode
(only what was given).  In a group, ``default`` as a value returns to
the cluster's.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, errors, ipolicy
from ganeti.utils import text

EC = errors.ErrorCode

#: ``--specs-*`` option destination -> spec name.
SPLIT_SPECS: Final = {
    "specs_mem_size": ipolicy.SPEC_MEM_SIZE,
    "specs_cpu_count": ipolicy.SPEC_CPU_COUNT,
    "specs_disk_count": ipolicy.SPEC_DISK_COUNT,
    "specs_disk_size": ipolicy.SPEC_DISK_SIZE,
    "specs_nic_count": ipolicy.SPEC_NIC_COUNT,
}
_SIZES: Final = (ipolicy.SPEC_MEM_SIZE, ipolicy.SPEC_DISK_SIZE)


def _bad(msg: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(msg, EC.INVAL)


def _spec_value(option: str, name: str, value: Any) -> int:
    try:
        if name in _SIZES:
            return text.parse_unit(str(value))
        return int(str(value))
    except (ValueError, errors.GenericError):
        raise _bad(f"{option}: invalid value {value!r} for {name}") from None


def _specs(option: str, values: dict[str, Any]) -> dict[str, int]:
    unknown = sorted(set(values) - set(ipolicy.SPEC_NAMES))
    if unknown:
        raise _bad(f"{option}: unknown spec name(s) {', '.join(unknown)} "
                   f"(known: {', '.join(ipolicy.SPEC_NAMES)})")
    return {name: _spec_value(option, name, value)
            for name, value in values.items()}


def _parse_kv(option: str, data: str) -> dict[str, Any]:
    try:
        return dict(text.parse_key_values(data))
    except errors.ParameterError as err:
        raise _bad(f"{option}: {err}") from None


def parse_bounds(data: str) -> list[dict[str, dict[str, int]]]:
    """``min:k=v,.../max:k=v,...//...`` -> the ``minmax`` list."""
    option = "--ipolicy-bounds-specs"
    pairs = []
    for chunk in data.split("//"):
        pair: dict[str, dict[str, int]] = {}
        for part in chunk.split("/"):
            bound, sep, rest = part.partition(":")
            if not sep or bound not in (ipolicy.MIN, ipolicy.MAX):
                raise _bad(f"{option}: expected min:SPECS/max:SPECS, got "
                           f"{part!r}")
            if bound in pair:
                raise _bad(f"{option}: {bound} given twice in {chunk!r}")
            pair[bound] = _specs(option, _parse_kv(option, rest))
        if set(pair) != {ipolicy.MIN, ipolicy.MAX}:
            raise _bad(f"{option}: each pair needs min and max ({chunk!r})")
        pairs.append(pair)
    return pairs


def _ratio(option: str, value: str, group: bool) -> float | str:
    if group and value == "default":
        return value
    try:
        ratio = float(value)
    except ValueError:
        raise _bad(f"{option}: not a number: {value!r}") from None
    if not ratio > 0:
        raise _bad(f"{option}: must be positive, not {value}")
    return ratio


def ipolicy_changes(opts: argparse.Namespace, *, group: bool
                    ) -> dict[str, Any]:
    """The ``ipolicy`` changes the options ask for (empty: none)."""
    changes: dict[str, Any] = {}
    split = {name: getattr(opts, dest) for dest, name in SPLIT_SPECS.items()
             if getattr(opts, dest, None)}
    if split and (opts.ipolicy_bounds_specs or opts.ipolicy_std_specs):
        raise _bad("Options --specs-* and --ipolicy-bounds-specs/"
                   "--ipolicy-std-specs cannot be used together")
    if split:
        low: dict[str, int] = {}
        high: dict[str, int] = {}
        std: dict[str, int] = {}
        for name, values in split.items():
            option = "--specs-" + name.replace("memory", "mem")
            unknown = sorted(set(values) - {"min", "max", "std"})
            if unknown:
                raise _bad(f"{option}: unknown key(s) {', '.join(unknown)} "
                           "(known: min, max, std)")
            for key, target in (("min", low), ("max", high), ("std", std)):
                if key in values:
                    target[name] = _spec_value(option, name, values[key])
        if low or high:
            changes[ipolicy.MINMAX] = [{ipolicy.MIN: low, ipolicy.MAX: high}]
        if std:
            changes[ipolicy.STD] = std
    if opts.ipolicy_bounds_specs:
        changes[ipolicy.MINMAX] = (
            "default" if group and opts.ipolicy_bounds_specs == "default"
            else parse_bounds(opts.ipolicy_bounds_specs))
    if opts.ipolicy_std_specs:
        changes[ipolicy.STD] = _specs("--ipolicy-std-specs",
                                      opts.ipolicy_std_specs)
    if opts.ipolicy_disk_templates:
        value = opts.ipolicy_disk_templates
        changes[ipolicy.DTS] = ("default" if group and value == "default"
                                else [t for t in value.split(",") if t])
    for name, dest in ((ipolicy.VCPU_RATIO, "ipolicy_vcpu_ratio"),
                       (ipolicy.SPINDLE_RATIO, "ipolicy_spindle_ratio")):
        value = getattr(opts, dest)
        if value is not None:
            changes[name] = _ratio(f"--ipolicy-{name}", value, group)
    return changes


def _split_opt(name: str, what: str) -> cli.CliOption:
    return cli.cli_option(
        f"--specs-{name}", dest=f"specs_{name.replace('-', '_')}",
        type=cli.keyval(f"--specs-{name}"), default=None,
        metavar="min=N,max=N,std=N", help=f"Instance policy: {what}")


#: The options, to add to a command's option list.
IPOLICY_OPTS: Final = (
    _split_opt("mem-size", "memory size bounds and standard"),
    _split_opt("cpu-count", "CPU count bounds and standard"),
    _split_opt("disk-count", "disk count bounds and standard"),
    _split_opt("disk-size", "disk size bounds and standard"),
    _split_opt("nic-count", "NIC count bounds and standard"),
    cli.cli_option("--ipolicy-std-specs", dest="ipolicy_std_specs",
                   type=cli.keyval("--ipolicy-std-specs"), default=None,
                   metavar="SPEC=N,...",
                   help="Instance policy: the standard specs"),
    cli.cli_option("--ipolicy-bounds-specs", dest="ipolicy_bounds_specs",
                   default=None, metavar="min:SPECS/max:SPECS//...",
                   help="Instance policy: the min/max pairs"),
    cli.cli_option("--ipolicy-disk-templates", dest="ipolicy_disk_templates",
                   default=None, metavar="TEMPLATE,...",
                   help="Instance policy: the allowed disk templates"),
    cli.cli_option("--ipolicy-vcpu-ratio", dest="ipolicy_vcpu_ratio",
                   default=None, metavar="RATIO",
                   help="Instance policy: virtual to physical CPU ratio"),
    cli.cli_option("--ipolicy-spindle-ratio", dest="ipolicy_spindle_ratio",
                   default=None, metavar="RATIO",
                   help="Instance policy: instances per spindle"),
)



def format_ipolicy(policy: dict[str, Any], indent: str = "  ") -> list[str]:
    """The lines ``gnt-cluster info`` and ``gnt-group info`` print for a
    policy (Ganeti's layout: bounds per pair, std, the rest)."""
    lines = [f"{indent}bounds specs:"]
    for idx, pair in enumerate(policy.get(ipolicy.MINMAX, [])):
        for pos, bound in enumerate((ipolicy.MAX, ipolicy.MIN)):
            lead = "- " if pos == 0 else "  "
            lines.append(f"{indent}  {lead}{bound}/{idx}:")
            lines += [f"{indent}      {name}: {value}"
                      for name, value in sorted(pair.get(bound, {}).items())]
    lines.append(f"{indent}std:")
    lines += [f"{indent}  {name}: {value}"
              for name, value in sorted(policy.get(ipolicy.STD, {}).items())]
    lines.append(f"{indent}allowed disk templates: "
                 f"{', '.join(policy.get(ipolicy.DTS, []))}")
    for name in ipolicy.PARAMETERS:
        if name in policy:
            lines.append(f"{indent}{name}: {policy[name]:g}")
    return lines


__all__ = ["IPOLICY_OPTS", "SPLIT_SPECS", "format_ipolicy", "ipolicy_changes",
           "parse_bounds"]
