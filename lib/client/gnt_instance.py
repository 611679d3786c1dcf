"""``gnt-instance``: see gnt-instance(8).

The subcommands come from the ``instance_*`` modules of this package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ganeti import cli
from ganeti.client import collect_commands


def main(argv: Sequence[str] | None = None) -> int:
    return cli.GenericMain(collect_commands("instance_"),
                           sys.argv if argv is None else argv)
