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
    """
    if units is None:
        units = "m" if separator is not None else "h"
    numeric = set(numfields)
    sized = set(unitfields)
    table: list[list[str]] = []
    for row in rows:
        if row is None:
            table.append(["-"] * len(fields))
            continue
        if len(row) != len(fields):
            raise errors.ProgrammerError(
                f"Row has {len(row)} values for {len(fields)} fields")
        table.append([_cell(val, name in sized, units)
                      for name, val in zip(fields, row, strict=True)])
    if headers is not None:
        table.insert(0, [headers.get(name, name) for name in fields])
    if separator is not None:
        return [separator.join(cells) for cells in table]
    widths = [max((len(cells[i]) for cells in table), default=0)
              for i in range(len(fields))]
    lines = []
    for cells in table:
        parts = []
        for i, (name, cell) in enumerate(zip(fields, cells, strict=True)):
            if name in numeric:
                parts.append(cell.rjust(widths[i]))
            elif i == len(fields) - 1:
                parts.append(cell)
            else:
                parts.append(cell.ljust(widths[i]))
        lines.append(" ".join(parts))
    return lines


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
