"""``gnt-os``: see gnt-os(8).

The subcommands come from the ``os_*`` modules of this package.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from ganeti import cli
from ganeti.client import collect_commands


def commands() -> Mapping[str, cli.Command]:
    """The subcommands (area modules imported on first use)."""
    return collect_commands("os_")


def main(argv: Sequence[str] | None = None) -> int:
    return cli.GenericMain(commands(), sys.argv if argv is None else argv)
