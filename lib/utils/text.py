"""Text helpers for the command line: sizes with units, natural sorting,
``key=value`` lists, safe-value checks.

Sizes are MiB everywhere inside the system; :func:`parse_unit` and
:func:`format_unit` convert at the edge, with Ganeti's spellings
(``512M``, ``1.5G``, ``2.0T``; ``--units`` m/g/t for fixed columns).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from typing import Final

from ganeti import errors, ht

_UNIT_FACTORS: Final[dict[str, int]] = {
    "": 1,
    "m": 1, "mb": 1, "mib": 1,
    "g": 1024, "gb": 1024, "gib": 1024,
    "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024,
}

_SIZE_RE: Final = re.compile(
    r"(?P<sign>[-+]?)\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-zA-Z]*)")

#: The values accepted by :func:`format_unit` (``h`` = human readable).
FORMAT_UNITS: Final = ("h", "m", "g", "t")

_SAFE_RE: Final = re.compile(ht.SAFE_VALUE_RE)
_CHUNK_RE: Final = re.compile(r"[0-9]+|[^0-9]+")

#: Prefixes of bare keys in ``key=value`` lists (Ganeti's CLI convention).
NO_PREFIX: Final = "no_"
UN_PREFIX: Final = "-"


def parse_unit(value: str | int) -> int:
    """A size in MiB from ``"512"``, ``"512M"``, ``"1.5G"``, ``"2T"``, ``10``.

    Units are case-insensitive and may be written ``m``/``mb``/``mib`` (and
    the same for g and t); no unit means MiB.  Fractions are rounded up to a
    whole MiB.  Anything else raises :class:`errors.UnitParseError`.
    """
    if isinstance(value, bool):
        raise errors.UnitParseError(f"Invalid size {value!r}: not a number")
    if isinstance(value, int):
        if value < 0:
            raise errors.UnitParseError(f"Negative size {value} is not allowed")
        return value
    if not isinstance(value, str):
        raise errors.UnitParseError(
            f"Invalid size {value!r:.40}: expected a string or an integer")
    text = value.strip()
    if not text:
        raise errors.UnitParseError("Empty size value")
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise errors.UnitParseError(f"Invalid size '{value:.40}'")
    if match.group("sign") == "-":
        raise errors.UnitParseError(f"Negative size '{value:.40}' is not allowed")
    unit = match.group("unit").lower()
    factor = _UNIT_FACTORS.get(unit)
    if factor is None:
        raise errors.UnitParseError(
            f"Unknown unit '{match.group('unit'):.10}' in size '{value:.40}'"
            " (use M, G or T)")
    amount = decimal.Decimal(match.group("num")) * factor
    return int(amount.to_integral_value(rounding=decimal.ROUND_CEILING))


def format_unit(mib: int, units: str = "h") -> str:
    """Format a size in MiB.

    ``h``: human readable with a suffix (``512M``, ``1.5G``, ``2.0T``);
    ``m``/``g``/``t``: that fixed unit without a suffix (``512``, ``0.5``),
    as ``--units`` does for list output.
    """
    if isinstance(mib, bool) or not isinstance(mib, int):
        raise errors.ProgrammerError(
            f"Size to format must be an integer of MiB, got {mib!r:.40}")
    if units not in FORMAT_UNITS:
        raise errors.ParameterError(
            f"Invalid unit '{units!s:.10}', expected one of "
            f"{', '.join(FORMAT_UNITS)}")
    if units == "m" or (units == "h" and abs(mib) < 1024):
        suffix = "M" if units == "h" else ""
        return f"{mib}{suffix}"
    if units == "g" or (units == "h" and abs(mib) < 1024 * 1024):
        suffix = "G" if units == "h" else ""
        return f"{mib / 1024:.1f}{suffix}"
    suffix = "T" if units == "h" else ""
    return f"{mib / (1024 * 1024):.1f}{suffix}"


def nice_sort_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders digit runs by value: ``node2 < node10``.

    Distinct strings always get distinct keys (the text of every chunk is
    part of the key), so the order is total and independent of the input
    order.
    """
    if not isinstance(name, str):
        raise errors.ProgrammerError(
            f"Cannot sort non-string name {name!r:.40}")
    key: list[tuple[int, int, str]] = []
    for chunk in _CHUNK_RE.findall(name):
        if chunk[0].isdigit():
            key.append((0, int(chunk), chunk))
        else:
            key.append((1, 0, chunk))
    return tuple(key)


def nice_sort(names: Iterable[str]) -> list[str]:
    """Names in natural order (``node1, node2, node10``)."""
    return sorted(names, key=nice_sort_key)


def _split_escaped(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep``; a backslash escapes the next character."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise errors.ParameterError(
                    f"Trailing backslash in '{text:.60}'")
            current.append(escaped)
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_key_values(text: str) -> dict[str, str | bool | None]:
    """Parse ``"a=1,b=2,c,no_d,-e"`` into ``{"a": "1", "b": "2", "c": True,
    "d": False, "e": None}``.

    A bare ``key`` means True, ``no_key`` False and ``-key`` None (reset
    to the default).  A comma inside a value is written ``\\,``.  Empty
    and duplicate keys raise :class:`errors.ParameterError`.
    """
    if not isinstance(text, str):
        raise errors.ParameterError(
            f"Expected a key=value list, got {text!r:.40}")
    result: dict[str, str | bool | None] = {}
    if not text:
        return result
    for elem in _split_escaped(text):
        value: str | bool | None
        if "=" in elem:
            key, value = elem.split("=", 1)
        elif elem.startswith(NO_PREFIX):
            key, value = elem[len(NO_PREFIX):], False
        elif elem.startswith(UN_PREFIX):
            key, value = elem[len(UN_PREFIX):], None
        else:
            key, value = elem, True
        if not key:
            raise errors.ParameterError(
                f"Empty parameter name in '{text:.60}'")
        if key in result:
            raise errors.ParameterError(
                f"Parameter '{key:.40}' given more than once")
        result[key] = value
    return result


def is_safe_value(value: str) -> bool:
    """Whether ``value`` only has characters safe to pass in an environment
    or on a command line (see :data:`ganeti.ht.SAFE_VALUE_RE`)."""
    return isinstance(value, str) and _SAFE_RE.fullmatch(value) is not None
