"""``gnt-cluster verify-disks``: activate the disks of instances marked
up whose disks are inactive or degraded, and list missing volumes, with
Ganeti's output and exit code (1 when something stays wrong)."""

from __future__ import annotations

import argparse
from typing import Final

from ganeti import cli, errors, opcodes


def verify_disks(opts: argparse.Namespace, args: list[str]) -> int:
    cl = cli.get_client()
    bad_nodes, to_activate, missing = cli.submit_opcode(
        opcodes.OpClusterVerifyDisks(), cl=cl)
    code = errors.EXIT_SUCCESS
    for node, text in sorted(bad_nodes.items()):
        cli.to_stdout(f"Error gathering data on node {node}: {text[-400:]}")
        code = errors.EXIT_FAILURE
    if bad_nodes:
        cli.to_stdout("You need to fix these nodes first before fixing"
                      " instances")
    for name in to_activate:
        if name in missing:
            continue
        cli.to_stdout(f"Activating disks for instance '{name}'")
        try:
            cli.submit_opcode(opcodes.OpInstanceActivateDisks(
                instance_name=name), cl=cl)
        except errors.GenericError as err:
            _, msg = cli.format_error(err)
            cli.to_stderr(f"Error activating disks for instance {name}:"
                          f" {msg}")
            code = errors.EXIT_FAILURE
    for name, volumes in sorted(missing.items()):
        if all(node in bad_nodes for node, _ in volumes):
            cli.to_stdout(f"Instance {name} cannot be verified as it lives on"
                          " broken nodes")
            continue
        cli.to_stdout(f"Instance {name} has missing logical volumes:")
        for node, vol in sorted(volumes):
            broken = "broken node " if node in bad_nodes else ""
            cli.to_stdout(f"\t{broken}{node} /dev/{vol}")
    if missing:
        cli.to_stdout("You need to replace or recreate disks for all the"
                      " above instances if this message persists after"
                      " fixing broken nodes.")
        code = errors.EXIT_FAILURE
    if not (bad_nodes or to_activate or missing):
        cli.to_stdout("No disks need to be activated.")
    return code


COMMANDS: Final[dict[str, cli.Command]] = {
    "verify-disks": cli.Command(
        verify_disks, cli.ARGS_NONE, (), "",
        "Activates the disks of instances marked up whose disks are inactive"
        " or degraded, and lists missing volumes"),
}
