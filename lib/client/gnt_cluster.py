"""``gnt-cluster``: cluster-wide administration (see gnt-cluster(8)).

Subcommands are rows of :data:`COMMANDS`; each function takes the parsed
options and the positional arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final

from ganeti import cli, constants

#: Version of the instance export format (Ganeti 2.1 exports are version 0).
EXPORT_VERSION: Final = 0


def version_info() -> list[tuple[str, object]]:
    """The versions ``gnt-cluster version`` reports, in Ganeti's order.

    These are the versions of this installation; the OS API version is the
    newest one it speaks.
    """
    return [
        ("Software version", constants.RELEASE_VERSION),
        ("Internode protocol", constants.PROTOCOL_VERSION),
        ("Configuration format", constants.CONFIG_VERSION),
        ("OS api version", max(constants.OS_API_VERSIONS)),
        ("Export interface", EXPORT_VERSION),
    ]


def show_version(opts: argparse.Namespace, args: list[str]) -> int:
    """Print the software and interface versions."""
    for label, value in version_info():
        cli.to_stdout(f"{label}: {value}")
    return 0


COMMANDS: Final[dict[str, cli.Command]] = {
    "version": cli.Command(
        show_version, cli.ARGS_NONE, (), "",
        "Show the software version and the versions of the interfaces"
        " (node protocol, configuration, OS API, export format)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gnt-cluster`` launcher."""
    return cli.GenericMain(COMMANDS, sys.argv if argv is None else argv)
