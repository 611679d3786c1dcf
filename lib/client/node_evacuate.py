"""``gnt-node evacuate``, ``failover`` and ``migrate`` (see gnt-node(8)):
moving the instances of a node to other nodes.

``failover`` is done here, as in Ganeti: one failover job per primary
instance of the node, reported one by one; ``evacuate`` and ``migrate``
are one job each.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes


def _primaries(cl: Any, node: str, verb: str, opts: argparse.Namespace
               ) -> tuple[str, list[str]] | None:
    """The node's full name and its primary instances (sorted), once the
    user confirmed; None when there is nothing to do or no go."""
    rows = cl.call("QueryNodes", [node], ["name", "pinst_list"], False)
    if not rows:
        raise errors.OpPrereqError(f"Node '{node}' not known",
                                   errors.ErrorCode.NOENT)
    name, names = str(rows[0][0]), sorted(rows[0][1])
    if not names:
        cli.to_stdout(f"No primary instances on node {name}, exiting.")
        return None
    if not cli.confirm(f"{verb} instance(s) {', '.join(names)}?", opts):
        raise _NotConfirmed()
    return name, names


class _NotConfirmed(Exception):
    pass


def evacuate(opts: argparse.Namespace, args: list[str]) -> int:
    if opts.primary_only and opts.secondary_only:
        raise errors.OpPrereqError(
            "Give at most one of --primary-only and --secondary-only",
            errors.ErrorCode.INVAL)
    if opts.new_secondary is not None and opts.iallocator is not None:
        raise errors.OpPrereqError(
            "Give either -n NODE or -I NAME, not both",
            errors.ErrorCode.INVAL)
    mode = (constants.NODE_EVAC_PRI if opts.primary_only else
            constants.NODE_EVAC_SEC if opts.secondary_only else
            constants.NODE_EVAC_ALL)
    if not cli.confirm(f"Relocate the {mode.replace('-only', '')} instances of node"
                f" {args[0]}?", opts):
        return errors.EXIT_FAILURE
    result = cli.submit_opcode(opcodes.OpNodeEvacuate(
        node_name=args[0], remote_node=opts.new_secondary,
        iallocator=opts.iallocator, mode=mode), opts=opts)
    if not result:
        cli.to_stdout(f"No instances to evacuate on node {args[0]}")
    for name, node in result or []:
        cli.to_stdout(f"Instance {name} relocated to {node}")
    return errors.EXIT_SUCCESS


def failover(opts: argparse.Namespace, args: list[str]) -> int:
    cl = cli.get_client()
    try:
        found = _primaries(cl, args[0], "Fail over", opts)
    except _NotConfirmed:
        return errors.EXIT_FAILURE
    if found is None:
        return errors.EXIT_SUCCESS
    _, names = found
    bad = []
    for name in names:
        cli.to_stdout(f"Failing over instance {name}")
        try:
            cli.submit_opcode(opcodes.OpInstanceFailover(
                instance_name=name,
                ignore_consistency=opts.ignore_consistency), cl=cl)
        except errors.GenericError as err:
            _, msg = cli.format_error(err)
            cli.to_stderr(msg)
            bad.append(name)
    if bad:
        cli.to_stdout(f"There were errors during the failover: {len(bad)}"
                      f" error(s) ({', '.join(bad)})")
        return errors.EXIT_FAILURE
    cli.to_stdout("All instances failed over successfully.")
    return errors.EXIT_SUCCESS


def migrate(opts: argparse.Namespace, args: list[str]) -> int:
    cl = cli.get_client()
    try:
        found = _primaries(cl, args[0], "Migrate", opts)
    except _NotConfirmed:
        return errors.EXIT_FAILURE
    if found is None:
        return errors.EXIT_SUCCESS
    node = found[0]
    mode = opts.migration_mode
    live = None if mode is not None else (False if opts.non_live else None)
    moved = cli.submit_opcode(opcodes.OpNodeMigrate(
        node_name=node, live=live, mode=mode), cl=cl, opts=opts)
    cli.to_stdout(f"Migrated {len(moved)} instance(s): {', '.join(moved)}"
                  if moved else "No running primary instances migrated")
    return errors.EXIT_SUCCESS


_NEW_SECONDARY: Final = cli.cli_option(
    "-n", "--new-secondary", dest="new_secondary", default=None,
    metavar="NODE", help="The new secondary node of every instance")
_IALLOCATOR: Final = cli.cli_option(
    "-I", "--iallocator", dest="iallocator", default=None, metavar="NAME",
    help="Spread the instances with this allocator (built-in: hail)")

COMMANDS: Final[dict[str, cli.Command]] = {
    "evacuate": cli.Command(
        evacuate, cli.args_fixed(1, "node", cli.ARG_NODE),
        (cli.FORCE_OPT, cli.SUBMIT_OPT, _NEW_SECONDARY, _IALLOCATOR,
         cli.cli_option("-p", "--primary-only", dest="primary_only",
                        action="store_true", default=False,
                        help="Only the primary instances (moved to their"
                        " secondary, then given a new one)"),
         cli.cli_option("-s", "--secondary-only", dest="secondary_only",
                        action="store_true", default=False,
                        help="Only the secondary instances"),
         cli.cli_option("--early-release", dest="early_release",
                        action="store_true", default=False,
                        help="Accepted for compatibility")),
        "[-f] {-I NAME | -n NODE} [-p | -s] <node>",
        "Relocate the instances of a node (primary and secondary) to other"
        " nodes"),
    "failover": cli.Command(
        failover, cli.args_fixed(1, "node", cli.ARG_NODE),
        (cli.FORCE_OPT,
         cli.cli_option("--ignore-consistency", dest="ignore_consistency",
                        action="store_true", default=False,
                        help="Fail over even if the secondary's disks are"
                        " not in sync or the node is down")),
        "[-f] [--ignore-consistency] <node>",
        "Stop the primary instances of a node and start them on their"
        " secondaries"),
    "migrate": cli.Command(
        migrate, cli.args_fixed(1, "node", cli.ARG_NODE),
        (cli.FORCE_OPT, cli.SUBMIT_OPT,
         cli.cli_option("--non-live", dest="non_live", action="store_true",
                        default=False, help="Pause each instance during its"
                        " transfer"),
         cli.cli_option("--migration-mode", dest="migration_mode",
                        default=None, choices=sorted(constants.HT_MIGRATION_MODES),
                        help="Migration mode (live or non-live)")),
        "[-f] [--non-live] [--migration-mode MODE] <node>",
        "Migrate the running primary instances of a node to their"
        " secondaries"),
}
