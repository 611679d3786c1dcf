"""``gnt-node list``, ``info``, ``modify`` and the node tag commands.

Field names, headers, kinds and the default field list come from
:data:`ganeti.query.NODE_FIELDS`.  The output follows Ganeti 2.1: booleans
as ``Y``/``N``, lists joined by commas, times as ``ctime`` strings, values
the nodes could not give as ``?``; sizes in MiB with ``--units``
(human-readable by default, plain MiB with ``--separator``).

Filters (``-F``, or one argument that looks like a filter, or shell
patterns) are evaluated here on the rows of ``QueryNodes``: the fields the
filter needs are fetched with the requested ones.

The tag helpers (:func:`read_tags`, :func:`list_tags`, :func:`add_tags`,
:func:`remove_tags`) serve ``gnt-cluster`` too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, qlang, query

FILTER_OPT: Final = cli.cli_option(
    "-F", "--filter", dest="force_filter", action="store_true", default=False,
    help="The arguments are a query filter, not names (see ganeti(7))")
MC_OPT: Final = cli.cli_option(
    "-C", "--master-candidate", dest="master_candidate", default=None,
    choices=("yes", "no"), metavar="yes|no",
    help="Set the master_candidate flag on the node")
DRAINED_OPT: Final = cli.cli_option(
    "-D", "--drained", dest="drained", default=None, choices=("yes", "no"),
    metavar="yes|no", help="Set the drained flag on the node")
OFFLINE_OPT: Final = cli.cli_option(
    "-O", "--offline", dest="offline", default=None, choices=("yes", "no"),
    metavar="yes|no", help="Set the offline flag on the node")
AUTO_PROMOTE_OPT: Final = cli.cli_option(
    "--auto-promote", dest="auto_promote", action="store_true", default=False,
    help="Automatically promote other nodes to master candidate if needed")


# --- Formatting list output ----------------------------------------------------

def format_value(fdef: query.FieldDef | None, value: Any) -> Any:
    """One cell of ``list`` output, as Ganeti 2.1 prints it.  Sizes stay
    numbers so that ``--units`` can format them."""
    if value is None:
        return "?"
    kind = fdef.kind if fdef is not None else "other"
    if kind == "bool" or isinstance(value, bool):
        return "Y" if value else "N"
    if kind == "list" or isinstance(value, list):
        return ",".join(str(v) for v in value)
    if kind == "timestamp" and isinstance(value, (int, float)):
        return time.ctime(value)
    return value


def format_rows(table: query.FieldTable, fields: list[str],
                rows: Sequence[Sequence[Any]], opts: argparse.Namespace
                ) -> list[str]:
    """The lines of a list command (headers unless ``--no-headers``)."""
    fdefs = [table.get(f) for f in fields]
    headers = None if opts.no_headers else {
        name: (fdef.title if fdef is not None else name)
        for name, fdef in zip(fields, fdefs, strict=True)}
    unit_fields = [f.name for f in fdefs if f is not None and f.kind == "unit"]
    num_fields = [f.name for f in fdefs
                  if f is not None and f.kind in ("number", "unit")]
    cells = [[format_value(fdef, value)
              for fdef, value in zip(fdefs, row, strict=True)]
             for row in rows]
    return cli.generate_table(headers, fields, cells,
                              separator=opts.separator, units=opts.units,
                              numfields=num_fields, unitfields=unit_fields)


def query_rows(cl: Any, method: str, table: query.FieldTable,
               fields: list[str], args: list[str], force_filter: bool,
               use_locking: bool) -> list[list[Any]]:
    """Rows for ``fields`` of the items the arguments select (names, shell
    patterns or a filter)."""
    filt = qlang.make_filter(args, force_filter)
    if filt is None or _plain_names(filt):
        rows: list[list[Any]] = cl.call(method, list(args), fields,
                                        use_locking)
        return rows
    predicate = query.compile_filter_for(table, filt)
    extra = [f for f in qlang.referenced_fields(filt) if f not in fields]
    wanted = fields + extra
    result = []
    for row in cl.call(method, [], wanted, use_locking):
        values = dict(zip(wanted, row, strict=True))
        if predicate(values.get):
            result.append(list(row[:len(fields)]))
    return result


def _plain_names(filt: qlang.Filter) -> bool:
    return filt[0] == qlang.OP_OR and all(
        sub[0] == qlang.OP_EQUAL and sub[1] == "name" for sub in filt[1:])


def list_nodes(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node list``."""
    fields = cli.parse_fields(opts.output, query.NODE_FIELDS.default)
    rows = query_rows(cli.get_client(), "QueryNodes", query.NODE_FIELDS,
                      fields, args, opts.force_filter, opts.do_locking)
    for line in format_rows(query.NODE_FIELDS, fields, rows, opts):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


# --- gnt-node info ------------------------------------------------------------

INFO_FIELDS: Final = ("name", "pip", "sip", "pinst_list", "sinst_list",
                      "master_candidate", "drained", "offline")


def format_node_info(row: Sequence[Any]) -> list[str]:
    """The ``gnt-node info`` lines of one node (Ganeti 2.1's layout)."""
    name, pip, sip, pinst, sinst, is_mc, drained, offline = row
    lines = [f"Node name: {name}", f"  primary ip: {pip}",
             f"  secondary ip: {sip}", f"  master candidate: {is_mc}",
             f"  drained: {drained}", f"  offline: {offline}"]
    for what, insts in (("primary", pinst), ("secondary", sinst)):
        if insts:
            lines.append(f"  {what} for instances:")
            lines.extend(f"    - {inst}" for inst in insts)
        else:
            lines.append(f"  {what} for no instances")
    return lines


def show_node_info(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node info [node...]``."""
    rows = cli.get_client().call("QueryNodes", list(args),
                                 list(INFO_FIELDS), False)
    for row in rows:
        for line in format_node_info(row):
            cli.to_stdout(line)
    return errors.EXIT_SUCCESS


# --- gnt-node modify ----------------------------------------------------------

def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


def modify_node(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node modify -C|-D|-O yes|no [--auto-promote] node``."""
    if opts.master_candidate is None and opts.drained is None and \
            opts.offline is None:
        cli.to_stderr("Please give at least one of the parameters.")
        return errors.EXIT_FAILURE
    op = opcodes.OpNodeSetParams(
        node_name=args[0], master_candidate=_flag(opts.master_candidate),
        offline=_flag(opts.offline), drained=_flag(opts.drained),
        force=opts.force, auto_promote=opts.auto_promote)
    result = cli.submit_opcode(op, opts=opts)
    if result:
        cli.to_stdout(f"Modified node {args[0]}")
        for param, data in result:
            cli.to_stdout(f" - {param:<5} -> {data}")
    return errors.EXIT_SUCCESS


# --- Tags (shared with gnt-cluster) --------------------------------------------

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


def add_tags(kind: str, name: str | None, tags: list[str],
             opts: argparse.Namespace) -> int:
    if not tags:
        raise errors.OpPrereqError("No tags to be added")
    cli.submit_opcode(opcodes.OpTagsSet(kind=kind, name=name, tags=tags),
                      opts=opts)
    return errors.EXIT_SUCCESS


def remove_tags(kind: str, name: str | None, tags: list[str],
                opts: argparse.Namespace) -> int:
    if not tags:
        raise errors.OpPrereqError("No tags to be removed")
    cli.submit_opcode(opcodes.OpTagsDel(kind=kind, name=name, tags=tags),
                      opts=opts)
    return errors.EXIT_SUCCESS


def node_list_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return list_tags(constants.TAG_NODE, args[0], opts)


def node_add_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return add_tags(constants.TAG_NODE, args[0], read_tags(opts, args[1:]),
                    opts)


def node_remove_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return remove_tags(constants.TAG_NODE, args[0],
                       read_tags(opts, args[1:]), opts)


def _field_help() -> str:
    return ", ".join(sorted(query.NODE_FIELDS.fields))


COMMANDS: Final[dict[str, cli.Command]] = {
    "list": cli.Command(
        list_nodes, cli.ARGS_ANY,
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.USEUNITS_OPT, cli.FIELDS_OPT,
         cli.SYNC_OPT, FILTER_OPT),
        "[--no-headers] [--separator=SEP] [--units=UNITS] [-o [+]FIELD,...]"
        " [-F] [node...]",
        "Lists the nodes in the cluster. The available fields are "
        f"({_field_help()}); the default field list is "
        f"({', '.join(query.NODE_FIELDS.default)})"),
    "info": cli.Command(
        show_node_info, cli.ARGS_ANY, (), "[node...]",
        "Show information about the node(s)"),
    "modify": cli.Command(
        modify_node, cli.args_fixed(1, "node"),
        (cli.FORCE_OPT, cli.SUBMIT_OPT, MC_OPT, DRAINED_OPT, OFFLINE_OPT,
         AUTO_PROMOTE_OPT),
        "[-f] [--submit] [-C yes|no] [-D yes|no] [-O yes|no]"
        " [--auto-promote] node",
        "Alters the parameters of a node"),
    "list-tags": cli.Command(
        node_list_tags, cli.args_fixed(1, "node"), (), "node",
        "List the tags of the given node"),
    "add-tags": cli.Command(
        node_add_tags, cli.args_atleast(1, "node"), (cli.TAG_SRC_OPT,),
        "[--from FILE] node tag...", "Add tags to the given node"),
    "remove-tags": cli.Command(
        node_remove_tags, cli.args_atleast(1, "node"), (cli.TAG_SRC_OPT,),
        "[--from FILE] node tag...", "Remove tags from the given node"),
}
