"""The list output shared by ``gnt-node list`` and ``gnt-instance list``.

Field names, headers, kinds and default fields come from the tables of
:mod:`ganeti.query`.  The output follows Ganeti 2.1: booleans as
``Y``/``N``, lists joined by commas, times as ``ctime`` strings, values
the nodes could not give as ``?``; sizes in MiB with ``--units``
(human-readable by default, plain MiB with ``--separator``).

Filters (``-F``, or one argument that looks like a filter, or shell
patterns) are evaluated here on the rows of the query: the fields the
filter needs are fetched with the requested ones.

Not an area module (see :mod:`ganeti.client`): the ``node_*`` and
``instance_*`` modules both import it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ganeti import cli, errors, qlang, query

FILTER_OPT: Final = cli.cli_option(
    "-F", "--filter", dest="force_filter", action="store_true", default=False,
    help="The arguments are a query filter, not names (see 'Query filters' "
         "in gnt-node(8))")


def format_value(fdef: query.FieldDef | None, value: Any) -> Any:
    """One cell of ``list`` output, as Ganeti 2.1 prints it.  Sizes stay
    numbers so that ``--units`` can format them."""
    if value is None:
        return "?"
    kind = fdef.kind if fdef is not None else "other"
    if kind == "bool" or isinstance(value, bool):
        return "Y" if value else "N"
    if kind == "list" or isinstance(value, list):
        return ",".join(str(v) for v in value)
    if kind == "timestamp" and isinstance(value, (int, float)):
        return time.ctime(value)
    return value


def _format_column(fdef: query.FieldDef | None,
                   column: Sequence[Any]) -> list[Any]:
    """:func:`format_value` over a column; the usual values (strings and
    numbers) without a call each."""
    kind = fdef.kind if fdef is not None else "other"
    if kind in ("bool", "list", "timestamp"):
        return [format_value(fdef, value) for value in column]
    return ["?" if value is None
            else value if (t := type(value)) is str or t is int
            else format_value(fdef, value) for value in column]


def format_rows(table: query.FieldTable, fields: list[str],
                rows: Sequence[Sequence[Any]], opts: argparse.Namespace
                ) -> list[str]:
    """The lines of a list command (headers unless ``--no-headers``)."""
    fdefs = [table.get(f) for f in fields]
    headers = None if opts.no_headers else {
        name: (fdef.title if fdef is not None else name)
        for name, fdef in zip(fields, fdefs, strict=True)}
    unit_fields = [f.name for f in fdefs if f is not None and f.kind == "unit"]
    num_fields = [f.name for f in fdefs
                  if f is not None and f.kind in ("number", "unit")]
    # A column at a time (see cli.generate_table), back into rows.
    columns = [_format_column(fdef, column) for fdef, column in
               zip(fdefs, zip(*rows, strict=True) if rows else
                   [()] * len(fields), strict=True)]
    cells = list(zip(*columns, strict=True)) if rows else []
    return cli.generate_table(headers, fields, cells,
                              separator=opts.separator, units=opts.units,
                              numfields=num_fields, unitfields=unit_fields)


def print_info(method: str, names: list[str], fields: Sequence[str],
               format_row: Callable[[Sequence[Any]], list[str]]) -> int:
    """The ``info`` subcommands: one LUXI query, the formatter's lines of
    each row."""
    rows = cli.get_client().call(method, list(names), list(fields), False)
    for row in rows:
        for line in format_row(row):
            cli.to_stdout(line)
    return errors.EXIT_SUCCESS


def print_changes(what: str, result: Any, width: int) -> None:
    """The lines of a ``modify`` whose job answered ``[[param, value],
    ...]``: "Modified node X" and one `` - param -> value`` each."""
    if result:
        cli.to_stdout(f"Modified {what}")
        for param, data in result:
            cli.to_stdout(f" - {param:<{width}} -> {data}")


def query_rows(cl: Any, method: str, table: query.FieldTable,
               fields: list[str], args: list[str], force_filter: bool,
               use_locking: bool) -> list[list[Any]]:
    """Rows for ``fields`` of the items the arguments select (names, shell
    patterns or a filter).  A value missing because the item does not run
    shows as the field's :attr:`~ganeti.query.FieldDef.stopped` text."""
    filt = qlang.make_filter(args, force_filter)
    extra = _running_field(table, fields)
    if filt is None or _plain_names(filt):
        wanted = fields + extra
        rows = cl.call(method, list(args), wanted, use_locking)
        mark = stopped_marker(table, wanted)
        return [mark(row)[:len(fields)] for row in rows]
    predicate = query.compile_filter_for(table, filt)
    extra += [f for f in qlang.referenced_fields(filt)
              if f not in fields and f not in extra]
    wanted = fields + extra
    mark = stopped_marker(table, wanted)
    result = []
    for row in cl.call(method, [], wanted, use_locking):
        values = dict(zip(wanted, row, strict=True))
        if predicate(values.get):
            result.append(mark(row)[:len(fields)])
    return result


def _running_field(table: query.FieldTable, fields: list[str]) -> list[str]:
    """``[table.running]`` when a field needs it and it is not asked."""
    running = table.running
    if running is None or running in fields:
        return []
    fdefs = [table.get(name) for name in fields]
    if any(f is not None and f.stopped is not None for f in fdefs):
        return [running]
    return []


def stopped_marker(table: query.FieldTable, fields: Sequence[str]
                   ) -> Callable[[Sequence[Any]], list[Any]]:
    """A function giving a row of ``fields`` with the missing values of an
    item that does not run (its ``table.running`` field is false)
    replaced by their ``stopped`` text, as Ganeti shows ``-`` for the
    memory of a stopped instance.  The columns are looked up once, not
    per row."""
    running = table.running
    index = (list(fields).index(running)
             if running is not None and running in fields else None)
    stopped = [(i, fdef.stopped) for i, name in enumerate(fields)
               if (fdef := table.get(name)) is not None
               and fdef.stopped is not None]

    def mark(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        if index is None or values[index] is not False:
            return values
        for i, text in stopped:
            if values[i] is None:
                values[i] = text
        return values
    return mark


def _plain_names(filt: qlang.Filter) -> bool:
    return filt[0] == qlang.OP_OR and all(
        sub[0] == qlang.OP_EQUAL and sub[1] == "name" for sub in filt[1:])
