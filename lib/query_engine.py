"""The query engine: field definitions, tables and their evaluation.

A field is a :class:`FieldDef` (name, title, kind, getter, whether it
needs live data); fields are grouped in a :class:`FieldTable` per
resource, and :func:`run_query` evaluates a table over items, with a
status per value (Ganeti's query2 ``RS_*``) and an optional filter.
The tables themselves (nodes, instances, groups, jobs, locks) are in
:mod:`ganeti.query`, which re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ganeti import errors, qlang

RS_NORMAL: Final = 0
RS_UNKNOWN: Final = 1
RS_NODATA: Final = 2
RS_UNAVAIL: Final = 3
RS_OFFLINE: Final = 4

KINDS: Final = frozenset(["text", "number", "unit", "bool", "timestamp",
                          "list", "other"])
#: Our kind -> what ``list-fields`` calls it (Ganeti's names of the
#: query2 kinds).
KIND_NAMES: Final = {"text": "Text", "number": "Number",
                     "unit": "Storage size", "bool": "Boolean",
                     "timestamp": "Timestamp", "list": "Custom",
                     "other": "Custom"}
#: Our kind -> the query2 wire kind (QFT_*).
WIRE_KIND: Final = {"text": "text", "number": "number", "unit": "unit",
                    "bool": "bool", "timestamp": "timestamp",
                    "list": "other", "other": "other"}


class _Status(Exception):
    """Raised by a getter: the value is not available, and why."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def unavailable() -> _Status:
    return _Status(RS_UNAVAIL)


class Missing:
    """What a getter may return instead of raising :class:`_Status`
    where a value is often missing (the memory of each stopped instance):
    raising costs about a microsecond and a half per value, 15 ms for a
    listing of 10,000 stopped instances."""

    __slots__ = ("status",)

    def __init__(self, status: int) -> None:
        self.status = status


#: The value is not available (the instance does not run, ...).
MISSING_UNAVAIL: Final = Missing(RS_UNAVAIL)
#: The node did not report the value.
MISSING_NODATA: Final = Missing(RS_NODATA)


Getter = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class FieldDef:
    """The declaration of one field."""

    name: str
    title: str
    kind: str
    getter: Getter
    live: bool = False
    doc: str = ""
    #: What a list shows for an item that does not run (Ganeti's ``-``
    #: for the memory of a stopped instance), where the value is
    #: unavailable because of that; see :attr:`FieldTable.running`.
    stopped: str | None = None

    def describe(self) -> dict[str, str]:
        """The query2 field definition (``/2/query/<what>/fields``)."""
        return {"name": self.name, "title": self.title,
                "kind": WIRE_KIND[self.kind], "doc": self.doc}


#: What a field family's name, title and doc say for "any index".
_ANY_INDEX: Final = "N"


@dataclass(frozen=True)
class FieldFamily:
    """Fields numbered by an index (``disk.size/0``, ``nic.mac/1``),
    declared once: ``name``, ``title`` and ``doc`` hold ``{n}`` where the
    index goes, ``getter_for(index)`` computes one member."""

    name: str
    title: str
    kind: str
    getter_for: Callable[[int], Getter]
    doc: str
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        head, mark, tail = self.name.partition("{n}")
        if not mark or "{n}" in tail:
            raise errors.ProgrammerError(f"Bad field family {self.name}")
        object.__setattr__(self, "_pattern", re.compile(
            re.escape(head) + "([0-9]+)" + re.escape(tail)))

    def get(self, name: str) -> FieldDef | None:
        """The member called ``name``, or None."""
        match = self._pattern.fullmatch(name)
        if match is None:
            return None
        index = int(match.group(1))
        return FieldDef(self.name.format(n=index),
                        self.title.format(n=index), self.kind,
                        self.getter_for(index),
                        doc=self.doc.format(n=index))

    def summary(self) -> tuple[str, str, str, str]:
        """The ``list-fields`` row of the whole family."""
        return (self.name.format(n=_ANY_INDEX), KIND_NAMES[self.kind],
                self.title.format(n=_ANY_INDEX),
                self.doc.format(n=_ANY_INDEX))


@dataclass
class FieldTable:
    """The fields of one resource."""

    what: str
    fields: dict[str, FieldDef]
    families: list[FieldFamily] = field(default_factory=list)
    default: tuple[str, ...] = ()
    #: The bool field saying whether an item runs (``oper_state``), for
    #: the fields that have a :attr:`FieldDef.stopped` text.
    running: str | None = None

    def get(self, name: str) -> FieldDef | None:
        fdef = self.fields.get(name)
        if fdef is not None:
            return fdef
        for family in self.families:
            member = family.get(name)
            if member is not None:
                return member
        return None

    def help_rows(self, names: Sequence[str] = ()
                  ) -> list[tuple[str, str, str, str]]:
        """``(name, kind, title, description)`` of ``names`` (unknown ones
        raise :class:`~ganeti.errors.UnknownFieldError`), or of every
        field, by name, and every family: what ``list-fields`` and ``-o
        help`` print."""
        if names:
            return [(f.name, KIND_NAMES[f.kind], f.title, f.doc)
                    for f in self.resolve(names)]
        rows = [(f.name, KIND_NAMES[f.kind], f.title, f.doc)
                for f in self.fields.values()]
        rows += [family.summary() for family in self.families]
        return sorted(rows)

    def resolve(self, names: Iterable[str]) -> list[FieldDef]:
        """The declarations of ``names``; unknown names raise
        :class:`~ganeti.errors.UnknownFieldError` listing all of them."""
        names = list(names)
        found = [self.get(n) for n in names]
        unknown = [n for n, f in zip(names, found, strict=True) if f is None]
        if unknown:
            raise errors.UnknownFieldError(
                f"Unknown output fields selected: {', '.join(unknown)}",
                fields=unknown)
        return [f for f in found if f is not None]

    def kinds(self, names: Iterable[str]) -> dict[str, str]:
        return {f.name: f.kind for f in self.resolve(names)}

    def describe(self, names: Sequence[str] | None = None) -> list[dict[str, str]]:
        fdefs = (self.resolve(names) if names is not None
                 else sorted(self.fields.values(), key=lambda f: f.name))
        return [f.describe() for f in fdefs]


# --- Evaluation ----------------------------------------------------------------

Cell = tuple[int, Any]


def _cell(fdef: FieldDef, data: Any, item: Any) -> Cell:
    if fdef.live:
        status = data.live_status(item)
        if status != RS_NORMAL:
            return status, None
    try:
        value = fdef.getter(data, item)
    except _Status as st:
        return st.status, None
    if type(value) is Missing:
        return value.status, None
    return RS_NORMAL, value


class QueryResult:
    """The requested fields of the selected items, computed when asked:
    as rows of ``(status, value)`` cells (:attr:`rows`, query2) or of
    plain values (:meth:`old_style`, each computed directly: no cells
    built and converted for the 10,000 rows of a listing)."""

    def __init__(self, fields: list[FieldDef], data: Any,
                 items: Sequence[Any]) -> None:
        self.fields = fields
        self._data = data
        self._items = items
        self._rows: list[list[Cell]] | None = None

    @property
    def rows(self) -> list[list[Cell]]:
        if self._rows is None:
            self._rows = _rows(self.fields, self._data, self._items)
        return self._rows

    def old_style(self) -> list[list[Any]]:
        """Rows of plain values; None where a value is not available."""
        if self._rows is not None:
            return [[value if status == RS_NORMAL else None
                     for status, value in row] for row in self._rows]
        fdefs, data = self.fields, self._data
        if not any(f.live for f in fdefs):
            return [row_values(fdefs, data, item) for item in self._items]
        return [row_values(fdefs, data, item, data.live_status(item))
                for item in self._items]

    def query2(self) -> dict[str, Any]:
        """The query2 result: ``{"fields": [...], "data": [[[status,
        value], ...], ...]}``."""
        return {"fields": [f.describe() for f in self.fields],
                "data": [[[s, v] for s, v in row] for row in self.rows]}


def compile_filter_for(table: FieldTable,
                       filt: qlang.Filter | None) -> qlang.Predicate:
    """:func:`ganeti.qlang.compile_filter` against a table's fields:
    invalid filters, unknown fields and conditions that do not fit a
    field's kind are refused here."""
    if filt is None:
        return qlang.compile_filter(None)
    qlang.validate(filt)
    used = qlang.referenced_fields(filt)
    unknown = [name for name in used if table.get(name) is None]
    if unknown:
        raise errors.UnknownFieldError(
            f"Unknown field(s) in filter: {', '.join(unknown)}",
            fields=unknown)
    return qlang.compile_filter(filt, table.kinds(used))


def needs_live(table: FieldTable, fields: Iterable[str],
               filt: qlang.Filter | None = None) -> bool:
    """Whether any requested or filtered field needs live data."""
    names = list(fields)
    if filt is not None:
        names += [n for n in qlang.referenced_fields(filt) if table.get(n)]
    return any(f.live for f in table.resolve(names))


def _rows(fdefs: Sequence[FieldDef], data: Any, items: Sequence[Any]
          ) -> list[list[Cell]]:
    """The cells of every item: :func:`_cell` unrolled, asking an item's
    live status once for all its live fields (10,000 instances by 30
    fields make this loop the core of a bulk listing)."""
    columns = [(fdef.getter, fdef.live) for fdef in fdefs]
    any_live = any(live for _getter, live in columns)
    rows: list[list[Cell]] = []
    for item in items:
        live_status = data.live_status(item) if any_live else RS_NORMAL
        row: list[Cell] = []
        for getter, live in columns:
            if live and live_status != RS_NORMAL:
                row.append((live_status, None))
                continue
            try:
                value = getter(data, item)
            except _Status as st:
                row.append((st.status, None))
                continue
            row.append((value.status, None) if type(value) is Missing
                       else (RS_NORMAL, value))
        rows.append(row)
    return rows


def run_query(table: FieldTable, data: Any, items: Sequence[Any],
              fields: Sequence[str],
              filt: qlang.Filter | None = None) -> QueryResult:
    """Compute ``fields`` for every item that passes ``filt``."""
    fdefs = table.resolve(fields)
    predicate = compile_filter_for(table, filt)
    if filt is None:
        return QueryResult(fdefs, data, items)
    selected = []
    for item in items:
        cache: dict[str, Any] = {}

        def get(name: str, item: Any = item,
                cache: dict[str, Any] = cache) -> Any:
            if name not in cache:
                fdef = table.get(name)
                assert fdef is not None  # checked by compile_filter
                status, value = _cell(fdef, data, item)
                cache[name] = value if status == RS_NORMAL else None
            return cache[name]

        if predicate(get):
            selected.append(item)
    return QueryResult(fdefs, data, selected)


def row_values(fdefs: Sequence[FieldDef], data: Any, item: Any,
               live_status: int = RS_NORMAL) -> list[Any]:
    """One item's values of ``fdefs`` as :meth:`QueryResult.old_style`
    gives them (None where a value is not available); ``live_status`` is
    the item's (``data.live_status``) when any of the fields is live."""
    values: list[Any] = []
    for fdef in fdefs:
        if fdef.live and live_status != RS_NORMAL:
            values.append(None)
            continue
        try:
            value = fdef.getter(data, item)
        except _Status:
            value = None
        values.append(None if type(value) is Missing else value)
    return values


def _table(what: str, defs: Iterable[FieldDef],
           families: Iterable[FieldFamily] = (),
           default: Sequence[str] = (),
           running: str | None = None) -> FieldTable:
    table: dict[str, FieldDef] = {}
    for fdef in defs:
        if fdef.name in table or fdef.kind not in KINDS:
            raise errors.ProgrammerError(f"Bad field declaration {fdef.name}")
        table[fdef.name] = fdef
    for family in families:
        if family.kind not in KINDS:
            raise errors.ProgrammerError(f"Bad field family {family.name}")
    if running is not None and table[running].kind != "bool":
        raise errors.ProgrammerError(f"{running} is not a bool field")
    return FieldTable(what, table, list(families), tuple(default), running)
