"""``gnt-backup``: export, import, list and remove instance exports; see
gnt-backup(8).

``import`` builds the same ``OpInstanceCreate`` as ``gnt-instance add``
(in import mode, with ``--src-node`` and ``--src-dir``), so it takes the
same placement, disk, NIC and parameter options; the OS, the disks and
the NICs default to the export's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Final

from ganeti import cli, constants, errors, opcodes
from ganeti.client import instance_create as create


def export_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-backup export -n NODE [--noshutdown] instance``."""
    if not opts.node:
        raise errors.UsageError("No target node given (-n)")
    result = cli.submit_opcode(opcodes.OpBackupExport(
        instance_name=args[0], target_node=opts.node,
        shutdown=opts.shutdown, shutdown_timeout=opts.shutdown_timeout,
        remove_instance=opts.remove_instance,
        ignore_remove_failures=opts.ignore_remove_failures), opts=opts)
    if not all(result):
        cli.to_stderr("Export of some disks failed")
        return errors.EXIT_FAILURE
    return errors.EXIT_SUCCESS


def import_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-backup import -n NODE -t TEMPLATE --src-node N --src-dir D``."""
    if not opts.src_node:
        raise errors.UsageError("No source node given (--src-node)")
    if not opts.src_dir:
        raise errors.UsageError("No source directory given (--src-dir)")
    cli.submit_opcode(create.create_opcode(args[0], opts,
                                           constants.INSTANCE_IMPORT),
                      opts=opts)
    return errors.EXIT_SUCCESS


def list_exports(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-backup list [--node N...]``: ``Node: name`` then one export a
    line, as Ganeti prints it."""
    result = cli.submit_opcode(opcodes.OpBackupQuery(nodes=opts.nodes))
    failed = False
    for node in sorted(result):
        exports = result[node]
        if exports is False:
            cli.to_stderr(f"Error getting the export list from node {node}")
            failed = True
            continue
        cli.to_stdout(f"Node: {node}")
        cli.to_stdout("Exports:")
        for name in exports:
            cli.to_stdout(f"  {name}")
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


def remove_export(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-backup remove instance``: its exports on every node."""
    cli.submit_opcode(opcodes.OpBackupRemove(instance_name=args[0]),
                      opts=opts)
    return errors.EXIT_SUCCESS


NOSHUTDOWN_OPT: Final = cli.cli_option(
    "--noshutdown", dest="shutdown", action="store_false", default=True,
    help="Do not shut down the instance before the export (refused for"
    " running instances with disks: no template has snapshots here)")
REMOVE_INSTANCE_OPT: Final = cli.cli_option(
    "--remove-instance", dest="remove_instance", action="store_true",
    default=False, help="Remove the instance once the export succeeded")
IGNORE_REMOVE_FAILURES_OPT: Final = cli.cli_option(
    "--ignore-remove-failures", dest="ignore_remove_failures",
    action="store_true", default=False,
    help="Remove the instance even if removing its disks fails")
SRC_NODE_OPT: Final = cli.cli_option(
    "--src-node", dest="src_node", default=None, metavar="NODE",
    help="Node holding the export")
SRC_DIR_OPT: Final = cli.cli_option(
    "--src-dir", dest="src_dir", default=None, metavar="DIR",
    help="Export directory (the exported instance's name, or its path)")

COMMANDS: Final[dict[str, cli.Command]] = {
    "export": cli.Command(
        export_instance, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.cli_option("-n", "--node", dest="node", default=None,
                        metavar="NODE", help="Target node"),
         cli.SHUTDOWN_TIMEOUT_OPT, NOSHUTDOWN_OPT, REMOVE_INSTANCE_OPT,
         IGNORE_REMOVE_FAILURES_OPT, cli.SUBMIT_OPT),
        "-n NODE [--shutdown-timeout=N] [--noshutdown] [--remove-instance]"
        " [--ignore-remove-failures] [--submit] instance",
        "Exports an instance to an image"),
    "import": cli.Command(
        import_instance, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (*create.ADD_OPTS, SRC_NODE_OPT, SRC_DIR_OPT),
        "-t {diskless|file} [--disk=N:size=VAL] [--net=N:options...]"
        " [-B BEPARAMS] [-H HYPERVISOR[:option=value,...]] -n NODE"
        " --src-node NODE --src-dir DIR [-o OS] [--submit] instance",
        "Imports an instance from an exported image"),
    "list": cli.Command(
        list_exports, cli.ARGS_NONE, (cli.NODE_LIST_OPT, cli.PRIORITY_OPT),
        "[--node NODE...]", "Lists instance exports available in the"
        " ganeti cluster"),
    "remove": cli.Command(
        remove_export, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.SUBMIT_OPT,), "[--submit] instance",
        "Remove exports of named instance from the filesystem"),
}


def commands() -> Mapping[str, cli.Command]:
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    return cli.GenericMain(commands(), sys.argv if argv is None else argv)
