"""Formatting and parsing helpers of the ``gnt-*`` commands.

The aligned list output (:func:`generate_table`, sizes in ``--units``),
the ``-o`` field selection and Ganeti's time specifications.  Kept apart
from :mod:`ganeti.cli` (which re-exports these names) so that each module
stays small; nothing here talks to the master.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ganeti import errors


def format_unit(mib: int, units: str) -> str:
    """A size in MiB in the ``--units`` style (``h`` adds a suffix)."""
    from ganeti.utils import text

    return text.format_unit(mib, units)


def generate_table(headers: Mapping[str, str] | None, fields: Sequence[str],
                   rows: Iterable[Sequence[Any] | None],
                   separator: str | None = None, units: str | None = None,
                   numfields: Iterable[str] = (),
                   unitfields: Iterable[str] = ()) -> list[str]:
    """Lines of a Ganeti-style list output.

    ``headers`` maps a field to its column title; None (``--no-headers``)
    prints no title line, and a field missing from it is titled by its
    name.  Without a ``separator`` the columns are padded to a common width,
    numeric ones (``numfields``) right-aligned, and the last column is not
    padded (no trailing blanks); with one, values are joined raw.  Values
    of ``unitfields`` are MiB, shown in ``units``: by default human-readable
    with the aligned output and plain MiB with a separator, as Ganeti does,
    so that scripts get numbers.  A row of None prints as ``-`` in each
    column.

    The work is done a column at a time (a listing of 10,000 instances
    has 60,000 cells: a function call per cell was most of the command's
    time).
    """
    if units is None:
        units = "m" if separator is not None else "h"
    numeric = set(numfields)
    sized = set(unitfields)
    count = len(fields)
    dash = ["-"] * count
    table = [dash if row is None else row for row in rows]
    for row in table:
        if len(row) != count:
            raise errors.ProgrammerError(
                f"Row has {len(row)} values for {count} fields")
    columns = [_cells(column, units) if name in sized
               else list(map(str, column))
               for name, column in zip(fields, _columns(table, count),
                                       strict=True)]
    if headers is not None:
        for name, column in zip(fields, columns, strict=True):
            column.insert(0, headers.get(name, name))
    if count == 0:  # no fields: an empty line per row, as each row is
        return [""] * (len(table) + (headers is not None))
    if not columns[0]:
        return []
    if separator is not None:
        return list(map(separator.join, zip(*columns, strict=True)))
    padded = []
    for i, (name, column) in enumerate(zip(fields, columns, strict=True)):
        width = max(map(len, column))
        if name in numeric:
            padded.append([cell.rjust(width) for cell in column])
        elif i == count - 1:
            padded.append(column)
        else:
            padded.append([cell.ljust(width) for cell in column])
    return list(map(" ".join, zip(*padded, strict=True)))


def _columns(rows: Sequence[Sequence[Any]], count: int) -> list[Sequence[Any]]:
    """The columns of ``rows`` (``count`` of them, also without rows)."""
    if not rows:
        return [() for _ in range(count)]
    return list(zip(*rows, strict=True))


def _cells(column: Iterable[Any], units: str) -> list[str]:
    """A column of sizes in MiB in ``units``; a value that is no number
    (``-`` for a stopped instance, ``?``) as it is.  Each distinct size is
    formatted once."""
    done: dict[Any, str] = {}
    out = []
    for value in column:
        kind = type(value)
        if kind is int or kind is str:
            cell = done.get(value)
            if cell is None:
                cell = done[value] = _cell(value, True, units)
        else:
            cell = _cell(value, True, units)
        out.append(cell)
    return out


def _cell(value: Any, is_size: bool, units: str) -> str:
    if is_size and not isinstance(value, bool):
        try:
            mib = int(value)
        except (TypeError, ValueError):
            pass
        else:
            return format_unit(mib, units)
    return str(value)


def parse_fields(selected: str | None, default: Sequence[str]) -> list[str]:
    """The ``-o`` option: None gives the defaults, ``+a,b`` adds to them,
    anything else replaces them."""
    if selected is None:
        return list(default)
    if selected.startswith("+"):
        return list(default) + [f for f in selected[1:].split(",") if f]
    return [f for f in selected.split(",") if f]


def parse_timespec(value: str) -> int:
    """``3600``, ``60m``, ``2h``, ``1d``, ``1w`` as seconds (Ganeti's
    ``ParseTimespec``); anything else is a :class:`~errors.UsageError`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = value.strip()
    if not text:
        raise errors.UsageError("Empty time specification passed")
    factor = 1
    if text[-1] in units:
        factor = units[text[-1]]
        text = text[:-1]
    if not text.isdigit():
        raise errors.UsageError(f"Invalid time specification '{value}'")
    return int(text) * factor
