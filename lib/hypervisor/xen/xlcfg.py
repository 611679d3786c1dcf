"""The xl domain configuration file (xl.cfg(5)): writing and reading.

A file is a sequence of ``KEY = VALUE`` lines; a value is a number, a
string in double quotes, or a list of strings in brackets.  Booleans are
written as 0/1 as the manual does.  xl's parser accepts no escape that
would let a value carry a double quote, a backslash or a line break, so
such a value is refused here with an error naming the setting (an
instance's ``kernel_args`` cannot smuggle a line into the file).

:func:`parse` reads the subset this module writes, plus comments and
single-quoted strings; the xl stand-in and the tests use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from ganeti import errors

#: A value of the file.
Value = int | bool | str | list[str]
#: The file as ordered (key, value) pairs.
Settings = Sequence[tuple[str, Value]]

_FORBIDDEN: Final = re.compile(r'["\\\n\r]')
_KEY: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class XlCfgError(errors.HypervisorError):
    """A value the xl configuration syntax cannot carry, or a bad file."""


def _string(key: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise XlCfgError(
            f"The xl setting {key!r} cannot hold {value!r:.60}: double quotes,"
            " backslashes and line breaks are not allowed",
            errors.ErrorCode.INVAL)
    return f'"{value}"'


def format_value(key: str, value: Value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(key, value)
    return "[" + ", ".join(_string(key, item) for item in value) + "]"


def render(settings: Settings, header: str = "") -> str:
    """The file's text (``header`` becomes comment lines on top)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in settings:
        if not _KEY.match(key):
            raise errors.ProgrammerError(f"Bad xl.cfg key {key!r}")
        lines.append(f"{key} = {format_value(key, value)}")
    return "\n".join(lines) + "\n"


_TOKEN: Final = re.compile(r'\s*(?:"([^"]*)"|\'([^\']*)\'|(-?\d+)|(\[)|(\])|(,))')


def _parse_value(text: str, lineno: int) -> Value:
    pos = 0
    items: list[str] = []
    in_list = False
    result: Value | None = None
    while pos < len(text.rstrip()):
        if text[pos:].lstrip().startswith("#"):
            break  # a comment to the end of the line
        match = _TOKEN.match(text, pos)
        if match is None:
            raise XlCfgError(f"line {lineno}: cannot parse {text[pos:]!r:.40}")
        pos = match.end()
        dq, sq, num, opening, closing, _comma = match.groups()
        if opening is not None:
            in_list = True
        elif closing is not None:
            result = items
            in_list = False
        elif dq is not None or sq is not None:
            value = dq if dq is not None else sq
            assert value is not None
            if in_list:
                items.append(value)
            else:
                result = value
        elif num is not None:
            result = int(num)
    if result is None or in_list:
        raise XlCfgError(f"line {lineno}: incomplete value {text!r:.40}")
    return result


def parse(text: str) -> dict[str, Value]:
    """The settings of an xl.cfg file (later keys win, as in xl)."""
    result: dict[str, Value] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise XlCfgError(f"line {lineno}: expected KEY = VALUE")
        result[key] = _parse_value(rest, lineno)
    return result
