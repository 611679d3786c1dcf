"""``gnt-instance``: see gnt-instance(8).

The subcommands come from the ``instance_*`` modules of this package.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Final

from ganeti import cli
from ganeti.client import collect_commands

#: Ganeti's other names of subcommands.
ALIASES: Final = {"start": "startup", "stop": "shutdown",
                  "activate_block_devs": "activate-disks",
                  "replace_disks": "replace-disks"}


def commands() -> Mapping[str, cli.Command]:
    """The subcommands (area modules imported on first use)."""
    return collect_commands("instance_")


def main(argv: Sequence[str] | None = None) -> int:
    return cli.GenericMain(commands(), sys.argv if argv is None else argv,
                           aliases=ALIASES)
