"""The tag subcommands' work, shared by ``gnt-cluster``, ``gnt-node`` and
``gnt-instance`` (``list-tags``, ``add-tags``, ``remove-tags``).

Not an area module (see :mod:`ganeti.client`): area modules of several
commands import it.
"""

from __future__ import annotations

import argparse
import sys

from ganeti import cli, errors, opcodes


def read_tags(opts: argparse.Namespace, args: list[str]) -> list[str]:
    """Tags from the command line plus ``--from FILE`` (one per line,
    ``-`` for stdin)."""
    tags = list(args)
    source = getattr(opts, "tags_source", None)
    if source is not None:
        try:
            if source == "-":
                lines = sys.stdin.read().splitlines()
            else:
                with open(source, encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
        except OSError as err:
            raise errors.OpPrereqError(
                f"Cannot read tags from {source}: {err.strerror}",
                errors.ErrorCode.ENVIRON) from None
        tags.extend(line.strip() for line in lines if line.strip())
    return tags


def list_tags(kind: str, name: str | None, opts: argparse.Namespace) -> int:
    tags = cli.submit_opcode(opcodes.OpTagsGet(kind=kind, name=name),
                             opts=opts)
    for tag in sorted(tags):
        cli.to_stdout(tag)
    return errors.EXIT_SUCCESS


def _change_tags(op: type[opcodes.OpTagsSet] | type[opcodes.OpTagsDel],
                 verb: str, kind: str, name: str | None, tags: list[str],
                 opts: argparse.Namespace) -> int:
    if not tags:
        raise errors.OpPrereqError(f"No tags to be {verb}")
    cli.submit_opcode(op(kind=kind, name=name, tags=tags), opts=opts)
    return errors.EXIT_SUCCESS


def add_tags(kind: str, name: str | None, tags: list[str],
             opts: argparse.Namespace) -> int:
    return _change_tags(opcodes.OpTagsSet, "added", kind, name, tags, opts)


def remove_tags(kind: str, name: str | None, tags: list[str],
                opts: argparse.Namespace) -> int:
    return _change_tags(opcodes.OpTagsDel, "removed", kind, name, tags, opts)
