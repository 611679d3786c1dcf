"""``gnt-node volumes``, ``list-storage``, ``modify-storage`` and
``repair-storage`` (storage units, see gnt-node(8))."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes

#: field -> column title; the size fields are MiB (``--units`` applies).
_TITLES: Final = {"node": "Node", "type": "Type", "phys": "PhysDev",
                  "vg": "VG", "name": "Name",
                  "size": "Size", "used": "Used", "free": "Free",
                  "allocatable": "Allocatable", "instance": "Instance"}
_UNIT_FIELDS: Final = ("size", "used", "free")
VOLUMES_DEFAULT: Final = ("node", "phys", "vg", "name", "size", "instance")
STORAGE_DEFAULT: Final = ("node", "type", "name", "size", "used", "free",
                          "allocatable")

STORAGE_TYPE_OPT: Final = cli.cli_option(
    "-t", "--storage-type", dest="storage_type", default=constants.ST_LVM_PV,
    choices=sorted(constants.STORAGE_TYPES), metavar="TYPE",
    help="Storage type: lvm-pv (default), lvm-vg or file")
ALLOCATABLE_OPT: Final = cli.cli_option(
    "--allocatable", dest="allocatable", default=None, choices=("yes", "no"),
    metavar="yes|no", help="Set the allocatable flag of a physical volume")
IGNORE_CONSIST_OPT: Final = cli.cli_option(
    "--ignore-consistency", dest="ignore_consistency", action="store_true",
    default=False, help="Repair even if instance disks are degraded")


def _print_rows(fields: Sequence[str], rows: Sequence[Sequence[Any]],
                opts: argparse.Namespace) -> None:
    headers = None if opts.no_headers else {f: _TITLES.get(f, f)
                                            for f in fields}
    cells = [["Y" if v is True else "N" if v is False else str(v)
              for v in row] for row in rows]
    units = [f for f in fields if f in _UNIT_FIELDS]
    for line in cli.generate_table(headers, list(fields), cells,
                                   separator=opts.separator, units=opts.units,
                                   numfields=units, unitfields=units):
        cli.to_stdout(line)


def list_volumes(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node volumes [node...]``."""
    fields = cli.parse_fields(opts.output, VOLUMES_DEFAULT)
    rows = cli.submit_opcode(opcodes.OpNodeQueryvols(
        nodes=list(args), output_fields=fields), opts=opts)
    _print_rows(fields, rows, opts)
    return errors.EXIT_SUCCESS


def list_storage(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node list-storage [-t TYPE] [node...]``."""
    fields = cli.parse_fields(opts.output, STORAGE_DEFAULT)
    rows = cli.submit_opcode(opcodes.OpNodeQueryStorage(
        nodes=list(args), storage_type=opts.storage_type,
        output_fields=fields), opts=opts)
    _print_rows(fields, rows, opts)
    return errors.EXIT_SUCCESS


def modify_storage(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node modify-storage --allocatable yes|no node type name``."""
    node, storage_type, name = args
    if opts.allocatable is None:
        cli.to_stderr("No changes to storage unit given (--allocatable)")
        return errors.EXIT_FAILURE
    cli.submit_opcode(opcodes.OpNodeModifyStorage(
        node_name=node, storage_type=storage_type, name=name,
        changes={"allocatable": opts.allocatable == "yes"}), opts=opts)
    return errors.EXIT_SUCCESS


def repair_storage(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node repair-storage [--ignore-consistency] node type name``."""
    node, storage_type, name = args
    cli.submit_opcode(opcodes.OpRepairNodeStorage(
        node_name=node, storage_type=storage_type, name=name,
        ignore_consistency=opts.ignore_consistency), opts=opts)
    return errors.EXIT_SUCCESS


_LIST_OPTS: Final = (cli.NOHDR_OPT, cli.SEP_OPT, cli.USEUNITS_OPT,
                     cli.FIELDS_OPT)

COMMANDS: Final[dict[str, cli.Command]] = {
    "volumes": cli.Command(
        list_volumes, cli.ARGS_MANY_NODES, (*_LIST_OPTS, cli.PRIORITY_OPT),
        "[--no-headers] [--separator=SEP] [--units=UNITS] [-o FIELD,...]"
        " [node...]",
        "List the logical volumes on the node(s) (fields: "
        + ", ".join(VOLUMES_DEFAULT) + ")"),
    "list-storage": cli.Command(
        list_storage, cli.ARGS_MANY_NODES, (*_LIST_OPTS, STORAGE_TYPE_OPT,
                                               cli.PRIORITY_OPT),
        "[--no-headers] [--separator=SEP] [--units=UNITS] [-o FIELD,...]"
        " [-t lvm-pv|lvm-vg|file] [node...]",
        "List the storage units of the node(s) (fields: "
        + ", ".join(STORAGE_DEFAULT) + ")"),
    "modify-storage": cli.Command(
        modify_storage, cli.args_fixed(3, "node type name"),
        (ALLOCATABLE_OPT, cli.SUBMIT_OPT),
        "--allocatable yes|no node lvm-pv name",
        "Modify a storage unit (a physical volume's allocatable flag)"),
    "repair-storage": cli.Command(
        repair_storage, cli.args_fixed(3, "node type name"),
        (IGNORE_CONSIST_OPT, cli.SUBMIT_OPT),
        "[--ignore-consistency] node lvm-vg name",
        "Repair a storage unit (vgreduce --removemissing on a volume group)"),
}
