"""``gnt-instance replace-disks`` and ``recreate-disks`` (see
gnt-instance(8)): the disks of a DRBD instance on one side, on a new
secondary, or created again where they were lost."""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes


def _indices(value: str | None) -> list[int]:
    if not value:
        return []
    try:
        indices = [int(part) for part in value.split(",")]
    except ValueError:
        raise errors.OpPrereqError(
            f"Invalid disk index list {value!r:.60} (want numbers separated"
            " by commas, e.g. 0,1)", errors.ErrorCode.INVAL) from None
    if any(i < 0 for i in indices):
        raise errors.OpPrereqError(
            f"Invalid disk index list {value!r:.60}: indices start at 0",
            errors.ErrorCode.INVAL)
    return indices


def replace_disks(opts: argparse.Namespace, args: list[str]) -> int:
    """Exactly one of -p, -s, -n, -I, --auto; --disks with -p/-s only."""
    chosen = [flag for flag, given in (
        ("-p", opts.on_primary), ("-s", opts.on_secondary),
        ("-n", opts.new_secondary is not None),
        ("-I", opts.iallocator is not None), ("--auto", opts.auto))
        if given]
    if len(chosen) != 1:
        raise errors.OpPrereqError(
            "Give exactly one of -p, -s, -n NODE, -I NAME and --auto"
            + (f" (got {', '.join(chosen)})" if chosen else ""),
            errors.ErrorCode.INVAL)
    mode = {"-p": constants.REPLACE_DISK_PRI,
            "-s": constants.REPLACE_DISK_SEC,
            "-n": constants.REPLACE_DISK_CHG,
            "-I": constants.REPLACE_DISK_CHG,
            "--auto": constants.REPLACE_DISK_AUTO}[chosen[0]]
    disks = _indices(opts.disks)
    if disks and chosen[0] not in ("-p", "-s"):
        raise errors.OpPrereqError(
            f"--disks cannot be combined with {chosen[0]} (all the disks"
            " move)", errors.ErrorCode.INVAL)
    values: dict[str, Any] = {
        "instance_name": args[0], "mode": mode, "disks": disks,
        "early_release": opts.early_release,
        "ignore_ipolicy": opts.ignore_ipolicy}
    if opts.new_secondary is not None:
        values["remote_node"] = opts.new_secondary
    if opts.iallocator is not None:
        values["iallocator"] = opts.iallocator
    cli.submit_opcode(opcodes.OpInstanceReplaceDisks(**values), opts=opts)
    return errors.EXIT_SUCCESS


def recreate_disks(opts: argparse.Namespace, args: list[str]) -> int:
    cli.submit_opcode(opcodes.OpInstanceRecreateDisks(
        instance_name=args[0], disks=_indices(opts.disks)), opts=opts)
    return errors.EXIT_SUCCESS


DISKS_OPT: Final = cli.cli_option(
    "--disks", dest="disks", default=None, metavar="IDX[,IDX...]",
    help="Only these disks (indices from 0, comma-separated)")

COMMANDS: Final[dict[str, cli.Command]] = {
    "replace-disks": cli.Command(
        replace_disks, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.SUBMIT_OPT, DISKS_OPT,
         cli.cli_option("-p", "--on-primary", dest="on_primary",
                        action="store_true", default=False,
                        help="Replace the disks on the primary node"),
         cli.cli_option("-s", "--on-secondary", dest="on_secondary",
                        action="store_true", default=False,
                        help="Replace the disks on the secondary node"),
         cli.cli_option("-n", "--new-secondary", dest="new_secondary",
                        default=None, metavar="NODE",
                        help="Move the secondary to this node"),
         cli.cli_option("-I", "--iallocator", dest="iallocator",
                        default=None, metavar="NAME",
                        help="Choose the new secondary with this allocator"
                        " (built-in: hail)"),
         cli.cli_option("-a", "--auto", dest="auto", action="store_true",
                        default=False,
                        help="Replace the disks on the side whose storage"
                        " is faulty"),
         cli.cli_option("--early-release", dest="early_release",
                        action="store_true", default=False,
                        help="Accepted for compatibility (locks are held"
                        " until the end)"),
         cli.IGNORE_IPOLICY_OPT),
        "[--submit] [--ignore-ipolicy] {-p [--disks IDX] | -s [--disks IDX] |"
        " -n NODE | -I NAME | --auto} <instance>",
        "Replaces the disks of a DRBD instance"),
    "recreate-disks": cli.Command(
        recreate_disks, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.SUBMIT_OPT, DISKS_OPT),
        "[--submit] [--disks IDX] <instance>",
        "Creates again, empty, the lost disks of a stopped instance"),
}
