"""One module per ``gnt-*`` command; each has a command table and ``main``.

Big commands are assembled from area modules: every module named
``<prefix><area>.py`` in this package (``cluster_init.py``,
``node_add.py`` ...) defines ``COMMANDS: dict[str, cli.Command]``, and
:func:`collect_commands` merges them, so adding subcommands edits no
shared table.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from ganeti import errors

if TYPE_CHECKING:
    from ganeti import cli


def collect_commands(prefix: str) -> dict[str, cli.Command]:
    """The merged ``COMMANDS`` of every ``<prefix>*`` module here."""
    table: dict[str, cli.Command] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith(prefix):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, command in module.COMMANDS.items():
            if name in table:
                raise errors.ProgrammerError(
                    f"Subcommand {name!r} defined twice ({info.name})")
            table[name] = command
    return table
