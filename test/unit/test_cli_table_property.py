"""``generate_table`` and ``format_rows`` work a column at a time; what
they print is checked against the cell-by-cell definition (Ganeti's list
output) on arbitrary tables."""

from __future__ import annotations

import argparse
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import cli, cli_format, query
from ganeti.client import listing


def reference(headers: dict[str, str] | None, fields: list[str],
              rows: list[list[Any] | None], separator: str | None,
              units: str | None, numeric: set[str],
              sized: set[str]) -> list[str]:
    """The list output defined cell by cell."""
    if units is None:
        units = "m" if separator is not None else "h"

    # One cell as the module formats it (unchanged by the column-wise
    # work, which is what is checked here).
    table = [["-"] * len(fields) if row is None else
             [cli_format._cell(v, f in sized, units)
              for f, v in zip(fields, row, strict=True)]
             for row in rows]
    if headers is not None:
        table.insert(0, [headers.get(f, f) for f in fields])
    if separator is not None:
        return [separator.join(cells) for cells in table]
    widths = [max((len(r[i]) for r in table), default=0)
              for i in range(len(fields))]
    lines = []
    for cells in table:
        parts = []
        for i, (name, text) in enumerate(zip(fields, cells, strict=True)):
            if name in numeric:
                parts.append(text.rjust(widths[i]))
            elif i == len(fields) - 1:
                parts.append(text)
            else:
                parts.append(text.ljust(widths[i]))
        lines.append(" ".join(parts))
    return lines


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**7, 10**9),
                   st.text(max_size=8), st.sampled_from(["-", "?", "12"]))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=5).flatmap(
    lambda n: st.tuples(
        st.just([f"f{i}" for i in range(n)]),
        st.lists(st.one_of(st.none(),
                           st.lists(VALUES, min_size=n, max_size=n)),
                 max_size=12))),
       st.booleans(), st.sampled_from([None, "|", ":"]),
       st.sampled_from([None, "h", "m", "g", "t"]),
       st.sets(st.sampled_from(["f0", "f1", "f2", "f3", "f4"])),
       st.sets(st.sampled_from(["f0", "f1", "f2", "f3", "f4"])))
def test_columns_print_what_the_cells_define(
        shape: tuple[list[str], list[list[Any] | None]], with_headers: bool,
        separator: str | None, units: str | None, numeric: set[str],
        sized: set[str]) -> None:
    fields, rows = shape
    headers = {f: f.upper() + "x" * len(f) for f in fields[1:]} \
        if with_headers else None
    assert cli.generate_table(
        headers, fields, rows, separator=separator, units=units,
        numfields=numeric, unitfields=sized) == reference(
            headers, fields, rows, separator, units, numeric, sized)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.text(max_size=6)),
    st.one_of(st.none(), st.booleans(), st.integers(0, 5)),
    st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=3)),
    st.one_of(st.none(), st.integers(0, 10**6), st.sampled_from(["-"])),
    st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False))),
    max_size=10))
def test_format_rows_formats_each_cell_as_format_value(
        rows: list[tuple[Any, ...]]) -> None:
    table = query.INSTANCE_FIELDS
    fields = ["name", "admin_state", "tags", "oper_ram", "ctime"]
    opts = argparse.Namespace(no_headers=False, separator=None, units=None)
    fdefs = [table.get(f) for f in fields]
    cells = [[listing.format_value(fdef, value)
              for fdef, value in zip(fdefs, row, strict=True)]
             for row in rows]
    expected = cli.generate_table(
        {f: (d.title if d is not None else f)
         for f, d in zip(fields, fdefs, strict=True)}, fields, cells,
        units=None, numfields=[d.name for d in fdefs
                               if d is not None and d.kind in ("number",
                                                               "unit")],
        unitfields=[d.name for d in fdefs
                    if d is not None and d.kind == "unit"])
    assert listing.format_rows(table, fields, [list(r) for r in rows],
                               opts) == expected
