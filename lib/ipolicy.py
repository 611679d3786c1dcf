"""Instance policies (ipolicy): what instances a cluster or group accepts.

The structure is Ganeti's (2.6+)::

    {"minmax": [{"min": SPECS, "max": SPECS}, ...],
     "std": SPECS,
     "disk-templates": ["plain", "drbd", ...],
     "vcpu-ratio": 4.0,
     "spindle-ratio": 32.0}

where SPECS maps the spec names (:data:`SPEC_NAMES`) to integers.  An
instance complies when each of its values lies within the bounds of at
least one ``minmax`` pair and its disk template is allowed.

The cluster holds a complete policy; a node group holds only what it
overrides (:func:`fill`: ``minmax``, ``disk-templates`` and the ratios
replace the cluster's as a whole, ``std`` is filled key by key).  Every
function here is pure; :func:`check_policy` is the one validation, used
by the configuration, the opcodes and ``gnt-cluster verify``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ganeti import constants, errors

# --- names ------------------------------------------------------------------

SPEC_MEM_SIZE: Final = "memory-size"
SPEC_CPU_COUNT: Final = "cpu-count"
SPEC_DISK_COUNT: Final = "disk-count"
SPEC_DISK_SIZE: Final = "disk-size"
SPEC_NIC_COUNT: Final = "nic-count"
SPEC_SPINDLE_USE: Final = "spindle-use"
#: The spec names, in Ganeti's order.
SPEC_NAMES: Final = (SPEC_MEM_SIZE, SPEC_CPU_COUNT, SPEC_DISK_COUNT,
                     SPEC_DISK_SIZE, SPEC_NIC_COUNT, SPEC_SPINDLE_USE)

MINMAX: Final = "minmax"
STD: Final = "std"
MIN: Final = "min"
MAX: Final = "max"
DTS: Final = "disk-templates"
VCPU_RATIO: Final = "vcpu-ratio"
SPINDLE_RATIO: Final = "spindle-ratio"
#: Every top-level key of a policy.
KEYS: Final = (MINMAX, STD, DTS, VCPU_RATIO, SPINDLE_RATIO)
PARAMETERS: Final = (VCPU_RATIO, SPINDLE_RATIO)

#: Upper bounds of the disk and NIC counts (as the instance code allows).
MAX_DISKS: Final = 16
MAX_NICS: Final = 8

#: The default policy (what a new cluster and an upgraded 2.1 one get).
#: Its bounds accept every instance a 2.1 cluster accepted, so that
#: upgrading refuses nothing that worked before; Ganeti's own defaults
#: are narrower (min memory 128, disk size 1024, one disk and NIC; max
#: memory 32768, 8 CPUs, disk size 1 TiB, spindle use 12) and are one
#: ``gnt-cluster modify --ipolicy-bounds-specs`` away.  The standard
#: specs (what allocation tools plan with) are Ganeti's.
DEFAULT_MIN: Final[dict[str, int]] = {
    SPEC_MEM_SIZE: 1, SPEC_CPU_COUNT: 1, SPEC_DISK_COUNT: 0,
    SPEC_DISK_SIZE: 1, SPEC_NIC_COUNT: 0, SPEC_SPINDLE_USE: 0}
DEFAULT_MAX: Final[dict[str, int]] = {
    SPEC_MEM_SIZE: 4 * 1024 * 1024, SPEC_CPU_COUNT: 256,
    SPEC_DISK_COUNT: MAX_DISKS, SPEC_DISK_SIZE: constants.MAX_DISK_SIZE_MIB,
    SPEC_NIC_COUNT: MAX_NICS, SPEC_SPINDLE_USE: 1024}
DEFAULT_STD: Final[dict[str, int]] = {
    SPEC_MEM_SIZE: 128, SPEC_CPU_COUNT: 1, SPEC_DISK_COUNT: 1,
    SPEC_DISK_SIZE: 1024, SPEC_NIC_COUNT: 1, SPEC_SPINDLE_USE: 1}
DEFAULT_VCPU_RATIO: Final = 4.0
DEFAULT_SPINDLE_RATIO: Final = 32.0

Policy = dict[str, Any]


def default_policy() -> Policy:
    """A fresh copy of the default (complete) policy."""
    return {
        MINMAX: [{MIN: dict(DEFAULT_MIN), MAX: dict(DEFAULT_MAX)}],
        STD: dict(DEFAULT_STD),
        DTS: sorted(constants.DISK_TEMPLATES),
        VCPU_RATIO: DEFAULT_VCPU_RATIO,
        SPINDLE_RATIO: DEFAULT_SPINDLE_RATIO,
    }


def _bad(msg: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(f"Invalid instance policy: {msg}",
                                errors.ErrorCode.INVAL)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_keys(obj: Any, known: tuple[str, ...], what: str, where: str,
                complete: bool) -> None:
    """``obj`` is a dictionary of known keys (all of them if complete)."""
    if not isinstance(obj, dict):
        raise _bad(f"{where} must be a dictionary")
    unknown = sorted(set(obj) - set(known))
    if unknown:
        raise _bad(f"unknown {what}(s) {', '.join(map(str, unknown))} in "
                   f"{where} (known: {', '.join(known)})")
    if complete:
        missing = [n for n in known if n not in obj]
        if missing:
            raise _bad(f"{where} lacks {', '.join(missing)}")


def _check_specs(specs: Any, where: str, *, complete: bool) -> dict[str, int]:
    _check_keys(specs, SPEC_NAMES, "spec name", where, complete)
    for name, value in specs.items():
        if not _is_int(value) or value < 0:
            raise _bad(f"{where} {name} must be a non-negative integer, "
                       f"not {value!r}")
    return dict(specs)


def _check_ratio(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value != value or value <= 0:
        raise _bad(f"{name} must be a positive number, not {value!r}")
    return float(value)


def check_policy(policy: Any, *, complete: bool) -> Policy:
    """The validated (normalized) policy; :class:`errors.OpPrereqError`
    with one line for the first problem.

    ``complete`` (a cluster's policy) requires every key; a group's
    policy may carry any subset.  Checked: known keys and spec names,
    non-negative integer specs, each ``min`` at most its ``max``, ``std``
    within the first ``minmax`` pair (Ganeti's rule), known disk
    templates, positive ratios.
    """
    _check_keys(policy, KEYS, "key", "the policy", complete)
    result: Policy = {}
    if MINMAX in policy:
        pairs = policy[MINMAX]
        if not isinstance(pairs, list) or not pairs:
            raise _bad("minmax must be a non-empty list of {min, max} pairs")
        checked = []
        for idx, pair in enumerate(pairs):
            if not isinstance(pair, dict) or set(pair) != {MIN, MAX}:
                raise _bad(f"minmax[{idx}] must have exactly the keys min "
                           "and max")
            low = _check_specs(pair[MIN], f"minmax[{idx}] min", complete=True)
            high = _check_specs(pair[MAX], f"minmax[{idx}] max", complete=True)
            for name in SPEC_NAMES:
                if low[name] > high[name]:
                    raise _bad(f"minmax[{idx}] {name}: min {low[name]} is "
                               f"above max {high[name]}")
            checked.append({MIN: low, MAX: high})
        result[MINMAX] = checked
    if STD in policy:
        result[STD] = _check_specs(policy[STD], "std", complete=complete)
    if DTS in policy:
        dts = policy[DTS]
        if not isinstance(dts, list) or not all(isinstance(d, str)
                                                for d in dts):
            raise _bad("disk-templates must be a list of names")
        bad = sorted(set(dts) - constants.DISK_TEMPLATES)
        if bad:
            raise _bad(f"unknown disk template(s) {', '.join(bad)} (known: "
                       f"{', '.join(sorted(constants.DISK_TEMPLATES))})")
        result[DTS] = sorted(set(dts))
    for name in PARAMETERS:
        if name in policy:
            result[name] = _check_ratio(policy[name], name)
    if STD in result and MINMAX in result:
        check_std(result[STD], result[MINMAX])
    return result


def check_std(std: Mapping[str, int], minmax: list[dict[str, Any]]) -> None:
    """``std`` lies within the first ``minmax`` pair (where it names a
    value)."""
    low, high = minmax[0][MIN], minmax[0][MAX]
    for name, value in std.items():
        if not low[name] <= value <= high[name]:
            raise _bad(f"std {name} {value} is not within min/max "
                       f"[{low[name]}, {high[name]}]")


def fill(cluster: Mapping[str, Any], group: Mapping[str, Any] | None
         ) -> Policy:
    """A group's effective policy: the cluster's with the group's
    overrides (``std`` key by key, everything else as a whole)."""
    result: Policy = copy.deepcopy(dict(cluster))
    for key, value in (group or {}).items():
        if key == STD:
            result[STD] = {**result.get(STD, {}), **value}
        else:
            result[key] = copy.deepcopy(value)
    return result


def _is_partial_pair(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 1
            and isinstance(value[0], dict)
            and all(isinstance(value[0].get(k, {}), dict) for k in (MIN, MAX))
            and not all(set(value[0].get(k, {})) == set(SPEC_NAMES)
                        for k in (MIN, MAX)))


def merge(old: Mapping[str, Any], changes: Mapping[str, Any], *,
          group: bool, base: Mapping[str, Any] | None = None) -> Policy:
    """Apply a modification: keys of ``changes`` replace those of ``old``
    (``std`` key by key); in a group, a value of ``None`` or
    ``"default"`` removes the override (back to the cluster's).

    A ``minmax`` of one incomplete pair (what ``--specs-mem-size
    min=..,max=..`` gives) changes only the values it names, in the first
    pair of ``old`` (or, where ``old`` has none, of ``base``, the
    cluster's policy)."""
    result: Policy = copy.deepcopy(dict(old))
    for key, value in changes.items():
        if group and (value is None or value == "default"):
            result.pop(key, None)
        elif key == STD and isinstance(value, dict):
            result[STD] = {**result.get(STD, {}), **value}
        elif key == MINMAX and _is_partial_pair(value):
            pairs = copy.deepcopy(result.get(MINMAX)
                                  or (base or {}).get(MINMAX) or [{}])
            first = pairs[0]
            for bound in (MIN, MAX):
                first[bound] = {**first.get(bound, {}),
                                **value[0].get(bound, {})}
            result[MINMAX] = pairs
        else:
            result[key] = copy.deepcopy(value)
    return result


# --- compliance ---------------------------------------------------------------


def _range_violation(name: str, value: int, low: int, high: int) -> str | None:
    if low <= value <= high:
        return None
    return f"{name} value {value} is not in range [{low}, {high}]"


def spec_violations(policy: Mapping[str, Any], *, mem_size: int,
                    cpu_count: int, disk_sizes: Iterable[int],
                    nic_count: int, spindle_use: int,
                    disk_template: str | None) -> list[str]:
    """What is wrong with an instance of these values, one line each
    (empty: it complies).  The values must fit within one ``minmax``
    pair; the violations reported are those of the pair with the
    fewest."""
    sizes = list(disk_sizes)
    problems: list[str] = []
    if disk_template is not None and disk_template not in policy.get(DTS, []):
        allowed = ", ".join(policy.get(DTS, [])) or "none"
        problems.append(f"Disk template {disk_template} is not allowed "
                        f"(allowed templates: {allowed})")
    values: list[tuple[str, int]] = [
        (SPEC_MEM_SIZE, mem_size), (SPEC_CPU_COUNT, cpu_count),
        (SPEC_DISK_COUNT, len(sizes)), (SPEC_NIC_COUNT, nic_count),
        (SPEC_SPINDLE_USE, spindle_use)]
    if disk_template == constants.DT_DISKLESS:
        # A diskless instance has no disks to measure (as Ganeti).
        values = [v for v in values if v[0] != SPEC_DISK_COUNT]
        sizes = []
    values += [(SPEC_DISK_SIZE, size) for size in sizes]
    best: list[str] | None = None
    for pair in policy.get(MINMAX, []):
        found = [msg for name, value in values
                 if (msg := _range_violation(name, value, pair[MIN][name],
                                             pair[MAX][name])) is not None]
        if best is None or len(found) < len(best):
            best = found
        if not found:
            break
    return problems + (best or [])


__all__ = ["DEFAULT_MAX", "DEFAULT_MIN", "DEFAULT_SPINDLE_RATIO",
           "DEFAULT_STD", "DEFAULT_VCPU_RATIO", "DTS", "KEYS", "MAX",
           "MAX_DISKS", "MAX_NICS", "MIN", "MINMAX", "PARAMETERS",
           "SPEC_NAMES", "SPINDLE_RATIO", "STD", "VCPU_RATIO", "Policy",
           "check_policy", "check_std", "default_policy", "fill", "merge",
           "spec_violations"]
