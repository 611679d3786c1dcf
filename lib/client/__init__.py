"""One module per ``gnt-*`` command; each has a command table and ``main``.

Big commands are assembled from area modules: every module named
``<prefix><area>.py`` in this package (``cluster_init.py``,
``node_add.py`` ...) defines ``COMMANDS: dict[str, cli.Command]``, and
:func:`collect_commands` merges them, so adding subcommands edits no
shared table.

The merge is lazy, because a command's start-up is most of the time of
``gnt-instance startup``: the names of an area's subcommands are read
from the ``COMMANDS`` table in the module's source text (its keys are
string literals, one per line, four spaces in), and the module itself is
imported only when one of its subcommands is looked up.  So
``gnt-instance list`` imports ``instance_query`` and not the creation or
migration code, and a usage listing (which shows every description)
imports them all.  A test checks that the names read from each module's
source are exactly its ``COMMANDS`` keys.  Area modules therefore share
code only through modules outside the naming scheme (:mod:`.listing`,
:mod:`.tags`, :mod:`ganeti.cli`), not by importing each other.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Final

from ganeti import errors

if TYPE_CHECKING:
    from ganeti import cli

_HERE: Final = os.path.dirname(os.path.abspath(__file__))

#: The ``COMMANDS = {`` ... ``}`` statement of an area module.
_TABLE_RE: Final = re.compile(r"^COMMANDS\b[^\n]*=\s*\{[ \t]*\n(.*?)^\}",
                              re.MULTILINE | re.DOTALL)
#: One key of that table: a string literal four spaces in, then a colon.
_KEY_RE: Final = re.compile(r"""^    (["'])([^"'\\\n]+)\1\s*:""",
                            re.MULTILINE)


def area_modules(prefix: str) -> list[str]:
    """The names of this package's ``<prefix>*`` modules, sorted."""
    names = set()
    for entry in os.listdir(_HERE):
        base, dot, ext = entry.partition(".")
        if dot and ext in ("py", "pyc") and base.startswith(prefix) \
                and base.isidentifier():
            names.add(base)
    return sorted(names)


def scan_commands(module: str) -> list[str] | None:
    """The subcommand names of an area module, read from its source
    without importing it; None when there is no source or no literal
    ``COMMANDS`` table in it."""
    try:
        with open(os.path.join(_HERE, f"{module}.py"), encoding="utf-8") as fh:
            source = fh.read()
    except OSError:
        return None
    match = _TABLE_RE.search(source)
    if match is None:
        return None
    return [key.group(2) for key in _KEY_RE.finditer(match.group(1))]


def _load(module: str) -> Mapping[str, cli.Command]:
    table: Mapping[str, cli.Command] = importlib.import_module(
        f"{__name__}.{module}").COMMANDS
    return table


def command_index(prefix: str) -> dict[str, str]:
    """Subcommand name -> the ``<prefix>*`` module defining it, in module
    order; a name defined twice is a :class:`~errors.ProgrammerError`."""
    index: dict[str, str] = {}
    for module in area_modules(prefix):
        names = scan_commands(module)
        if names is None:  # no readable source: ask the module itself
            names = list(_load(module))
        for name in names:
            if name in index:
                raise errors.ProgrammerError(
                    f"Subcommand {name!r} defined twice ({module})")
            index[name] = module
    return index


class LazyCommandTable(Mapping[str, "cli.Command"]):
    """A command table whose rows are imported on first use.

    Membership, iteration and length come from the index alone; looking
    up a row imports the area module that defines it (once).
    """

    def __init__(self, index: Mapping[str, str],
                 base: Mapping[str, cli.Command] | None = None) -> None:
        self._rows: dict[str, cli.Command] = dict(base or {})
        clash = sorted(set(self._rows) & set(index))
        if clash:
            raise errors.ProgrammerError(
                f"Subcommand {clash[0]!r} defined twice ({index[clash[0]]})")
        self._names = [*self._rows, *index]
        self._index = dict(index)

    def __getitem__(self, name: str) -> cli.Command:
        row = self._rows.get(name)
        if row is not None:
            return row
        module = self._index[name]
        table = _load(module)
        for key, command in table.items():
            if self._index.get(key) == module:
                self._rows[key] = command
        if name not in self._rows:
            raise errors.ProgrammerError(
                f"Subcommand {name!r} is listed in {module}.py but missing"
                " from its COMMANDS")
        return self._rows[name]

    def __contains__(self, name: object) -> bool:
        return name in self._rows or name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


#: Every ``gnt-*`` program -> its module in this package (which has
#: ``main``, ``commands()`` and, when it has aliases, ``ALIASES``).
PROGRAMS: Final = {
    "gnt-backup": "gnt_backup",
    "gnt-cluster": "gnt_cluster",
    "gnt-debug": "gnt_debug",
    "gnt-group": "gnt_group",
    "gnt-instance": "gnt_instance",
    "gnt-job": "gnt_job",
    "gnt-node": "gnt_node",
    "gnt-os": "gnt_os",
}


def program_commands(program: str
                     ) -> tuple[Mapping[str, cli.Command], Mapping[str, str]]:
    """The subcommand table and aliases of a ``gnt-*`` program (for the
    shell completion and the tests that go over every subcommand)."""
    module = importlib.import_module(f"{__name__}.{PROGRAMS[program]}")
    table: Mapping[str, cli.Command] = module.commands()
    aliases: Mapping[str, str] = getattr(module, "ALIASES", {})
    return table, aliases


def collect_commands(prefix: str, base: Mapping[str, cli.Command] | None = None
                     ) -> LazyCommandTable:
    """The merged ``COMMANDS`` of every ``<prefix>*`` module here (and of
    ``base``, a command's own table), each module imported when one of
    its rows is first looked up."""
    return LazyCommandTable(command_index(prefix), base)
