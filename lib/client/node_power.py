"""``gnt-node powercycle`` (see gnt-node(8))."""

from __future__ import annotations

import argparse
from typing import Final

from ganeti import cli, errors, opcodes


def powercycle(opts: argparse.Namespace, args: list[str]) -> int:
    node = args[0]
    if not opts.confirm and not cli.confirm(
            f"Are you sure you want to hard powercycle node {node}?"):
        cli.to_stderr("Not confirmed (no terminal?); use --yes")
        return errors.EXIT_FAILURE
    result = cli.submit_opcode(opcodes.OpNodePowercycle(
        node_name=node, force=opts.force), opts=opts)
    if result:
        cli.to_stdout(str(result))
    return errors.EXIT_SUCCESS


COMMANDS: Final[dict[str, cli.Command]] = {
    "powercycle": cli.Command(
        powercycle, cli.args_fixed(1, "node", cli.ARG_NODE),
        (cli.CONFIRM_OPT, cli.FORCE_OPT, cli.SUBMIT_OPT),
        "[--yes] [--force] <node>",
        "Hard-reboot a node through its node daemon (the master node needs"
        " --force)"),
}
