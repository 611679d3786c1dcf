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
from collections.abc import Sequence
from typing import Any, Final

from ganeti import cli, qlang, query

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
    cells = [[format_value(fdef, value)
              for fdef, value in zip(fdefs, row, strict=True)]
             for row in rows]
    return cli.generate_table(headers, fields, cells,
                              separator=opts.separator, units=opts.units,
                              numfields=num_fields, unitfields=unit_fields)


def query_rows(cl: Any, method: str, table: query.FieldTable,
               fields: list[str], args: list[str], force_filter: bool,
               use_locking: bool) -> list[list[Any]]:
    """Rows for ``fields`` of the items the arguments select (names, shell
    patterns or a filter)."""
    filt = qlang.make_filter(args, force_filter)
    if filt is None or _plain_names(filt):
        rows: list[list[Any]] = cl.call(method, list(args), fields,
                                        use_locking)
        return rows
    predicate = query.compile_filter_for(table, filt)
    extra = [f for f in qlang.referenced_fields(filt) if f not in fields]
    wanted = fields + extra
    result = []
    for row in cl.call(method, [], wanted, use_locking):
        values = dict(zip(wanted, row, strict=True))
        if predicate(values.get):
            result.append(list(row[:len(fields)]))
    return result


def _plain_names(filt: qlang.Filter) -> bool:
    return filt[0] == qlang.OP_OR and all(
        sub[0] == qlang.OP_EQUAL and sub[1] == "name" for sub in filt[1:])
