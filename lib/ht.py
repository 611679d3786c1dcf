"""Small value checks, combinable, each with a description.

A check is a callable ``value -> bool`` carrying a human description, so
that an error can say *what was expected*: ``"expected a non-negative
integer, got -3"``.  Opcode fields, parameter tables and RPC arguments all
declare their checks with these.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any, Final


class Check:
    """A named predicate."""

    __slots__ = ("desc", "fn")

    def __init__(self, fn: Callable[[Any], bool], desc: str) -> None:
        self.fn = fn
        self.desc = desc

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.fn(value))
        except (TypeError, ValueError, AttributeError):
            return False

    def __repr__(self) -> str:
        return f"<Check {self.desc}>"

    def __or__(self, other: Check) -> Check:
        return TOr(self, other)

    def __and__(self, other: Check) -> Check:
        return TAnd(self, other)


def describe_failure(check: Check, value: Any) -> str:
    """``"expected <desc>, got <value>"``, truncated to stay one line."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"expected {check.desc}, got {shown}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


TAny: Final = Check(lambda v: True, "any value")
TNone: Final = Check(lambda v: v is None, "None")
TBool: Final = Check(lambda v: isinstance(v, bool), "a boolean")
TInt: Final = Check(_is_int, "an integer")
TNonNegativeInt: Final = Check(lambda v: _is_int(v) and v >= 0,
                               "a non-negative integer")
TPositiveInt: Final = Check(lambda v: _is_int(v) and v > 0,
                            "a positive integer")
TFloat: Final = Check(lambda v: isinstance(v, float), "a float")
TNumber: Final = Check(lambda v: _is_int(v) or isinstance(v, float), "a number")
TNonNegativeNumber: Final = Check(
    lambda v: (_is_int(v) or isinstance(v, float)) and v >= 0,
    "a non-negative number")
TString: Final = Check(lambda v: isinstance(v, str), "a string")
TNonEmptyString: Final = Check(lambda v: isinstance(v, str) and v != "",
                               "a non-empty string")
TList: Final = Check(lambda v: isinstance(v, list), "a list")
TDict: Final = Check(lambda v: isinstance(v, dict), "a dictionary")


def TOr(*checks: Check) -> Check:
    return Check(lambda v: any(c(v) for c in checks),
                 " or ".join(c.desc for c in checks))


def TAnd(*checks: Check) -> Check:
    return Check(lambda v: all(c(v) for c in checks),
                 " and ".join(c.desc for c in checks))


def TMaybe(check: Check) -> Check:
    return Check(lambda v: v is None or check(v), f"None or {check.desc}")


def TElemOf(values: Iterable[Any]) -> Check:
    allowed = frozenset(values)
    shown = ", ".join(sorted(map(str, allowed)))
    return Check(lambda v: v in allowed, f"one of {shown}")


def TListOf(check: Check) -> Check:
    return Check(lambda v: isinstance(v, list) and all(check(x) for x in v),
                 f"a list of {check.desc}")


def TDictOf(key: Check, value: Check) -> Check:
    return Check(lambda v: isinstance(v, dict) and all(
        key(k) and value(x) for k, x in v.items()),
        f"a dictionary of {key.desc} to {value.desc}")


def TRegex(pattern: str, desc: str) -> Check:
    rx = re.compile(pattern)
    return Check(lambda v: isinstance(v, str) and rx.fullmatch(v) is not None,
                 desc)


def TGe(minimum: float) -> Check:
    return Check(lambda v: (_is_int(v) or isinstance(v, float)) and v >= minimum,
                 f"a number >= {minimum}")


def TRange(lo: int, hi: int) -> Check:
    return Check(lambda v: _is_int(v) and lo <= v <= hi,
                 f"an integer from {lo} to {hi}")


def _ipv4(v: Any) -> bool:
    ipaddress.IPv4Address(v)
    return isinstance(v, str)


def _ipv6(v: Any) -> bool:
    ipaddress.IPv6Address(v)
    return isinstance(v, str)


TIPv4Address: Final = Check(_ipv4, "an IPv4 address")
TIPv6Address: Final = Check(_ipv6, "an IPv6 address")
TIPAddress: Final = Check(lambda v: _ipv4(v) if ":" not in str(v) else _ipv6(v),
                          "an IP address")

#: ``aa:00:00:12:34:56``, lower or upper case.
MAC_RE: Final = r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}"
TMacAddress: Final = TRegex(MAC_RE, "a MAC address (xx:xx:xx:xx:xx:xx)")
TMacPrefix: Final = TRegex(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}",
                           "a MAC prefix (xx:xx:xx)")

#: Host and instance names: DNS labels separated by dots.
NAME_RE: Final = (r"(?=.{1,255}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                  r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
THostname: Final = TRegex(NAME_RE, "a host name")

TAbsolutePath: Final = Check(
    lambda v: isinstance(v, str) and v.startswith("/") and "\0" not in v,
    "an absolute path")

#: Characters allowed in values that reach a script's environment
#: (OS parameters): no shell metacharacters, quotes or control characters.
SAFE_VALUE_RE: Final = r"[A-Za-z0-9_.,:/=+@%-]*"
TSafeString: Final = TRegex(
    SAFE_VALUE_RE, "a string of safe characters (letters, digits, _.,:/=+@%-)")

#: Names of disks and NICs (``--disk N:name=..``): they reach OS scripts
#: (``DISK_%N_NAME``), so safe characters only; not a bare number, which
#: would read as an index.
TObjectName: Final = TRegex(
    r"(?!\d+$)[A-Za-z0-9_.:+@-]{1,64}",
    "a name of 1-64 letters, digits or _.:+@- that is not a number")
TMaybeObjectName: Final = TMaybe(TObjectName)
TMaybePositiveInt: Final = TMaybe(TPositiveInt)

TTag: Final = TRegex(r"[\w.+*/:@-]{1,128}",
                     "a tag (1-128 characters of letters, digits, .+*/:@-)")
