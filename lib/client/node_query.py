"""``gnt-node list``, ``info``, ``modify`` and the node tag commands.

Field names, headers, kinds and the default field list come from
:data:`ganeti.query.NODE_FIELDS`; the list output and the filters are
those of :mod:`ganeti.client.listing` (shared with ``gnt-instance
list``), the tag commands those of :mod:`ganeti.client.tags`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, query
from ganeti.client.listing import (
    FILTER_OPT,
    format_rows,
    print_changes,
    print_info,
    query_rows,
)
from ganeti.client.tags import add_tags, list_tags, read_tags, remove_tags

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


def list_nodes(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node list``."""
    if opts.output == cli.FIELDS_HELP:
        return cli.print_field_help(query.NODE_FIELDS.help_rows(), opts)
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
    return print_info("QueryNodes", args, INFO_FIELDS, format_node_info)


# --- gnt-node modify ----------------------------------------------------------

def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


SECONDARY_IP_OPT: Final = cli.cli_option(
    "-s", "--secondary-ip", dest="secondary_ip", default=None,
    metavar="ADDRESS", help="The node's new secondary (replication) IP")


def modify_node(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-node modify -C|-D|-O yes|no [-s IP] [--auto-promote] node``."""
    if opts.master_candidate is None and opts.drained is None and \
            opts.offline is None and opts.secondary_ip is None \
                and not opts.ndparams:
        cli.to_stderr("Please give at least one of the parameters.")
        return errors.EXIT_FAILURE
    op = opcodes.OpNodeSetParams(
        node_name=args[0], master_candidate=_flag(opts.master_candidate),
        offline=_flag(opts.offline), drained=_flag(opts.drained),
        secondary_ip=opts.secondary_ip, force=opts.force,
        auto_promote=opts.auto_promote, ndparams=opts.ndparams or None)
    print_changes(f"node {args[0]}", cli.submit_opcode(op, opts=opts), 5)
    return errors.EXIT_SUCCESS


# --- Tags ----------------------------------------------------------------------

def node_list_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return list_tags(constants.TAG_NODE, args[0], opts)


def node_add_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return add_tags(constants.TAG_NODE, args[0], read_tags(opts, args[1:]),
                    opts)


def node_remove_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return remove_tags(constants.TAG_NODE, args[0],
                       read_tags(opts, args[1:]), opts)


COMMANDS: Final[dict[str, cli.Command]] = {
    "list": cli.Command(
        list_nodes, cli.ARGS_MANY_NODES,
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.USEUNITS_OPT, cli.FIELDS_OPT,
         cli.SYNC_OPT, FILTER_OPT),
        "[--no-headers] [--separator=SEP] [--units=UNITS] [-o [+]FIELD,...]"
        " [-F] [node...]",
        "Lists the nodes in the cluster. The default field list is"
        f" ({', '.join(query.NODE_FIELDS.default)}); list-fields or -o help"
        " shows them all"),
    "list-fields": cli.list_fields_command(lambda: query.NODE_FIELDS,
                                           "nodes"),
    "info": cli.Command(
        show_node_info, cli.ARGS_MANY_NODES, (cli.PRIORITY_OPT,), "[node...]",
        "Show information about the node(s)"),
    "modify": cli.Command(
        modify_node, cli.args_fixed(1, "node", cli.ARG_NODE),
        (cli.FORCE_OPT, cli.SUBMIT_OPT, MC_OPT, DRAINED_OPT, OFFLINE_OPT,
         AUTO_PROMOTE_OPT, SECONDARY_IP_OPT, cli.NODE_PARAMS_OPT),
        "[-f] [--submit] [-C yes|no] [-D yes|no] [-O yes|no]"
        " [-s secondary_ip] [--auto-promote] [--node-parameters key=val,...]"
        " node",
        "Alters the parameters of a node"),
    "list-tags": cli.Command(
        node_list_tags, cli.args_fixed(1, "node", cli.ARG_NODE), (cli.PRIORITY_OPT,),
        "node",
        "List the tags of the given node"),
    "add-tags": cli.Command(
        node_add_tags, cli.args_atleast(1, "node", cli.ARG_NODE),
        (cli.TAG_SRC_OPT, cli.SUBMIT_OPT),
        "[--from FILE] node tag...", "Add tags to the given node"),
    "remove-tags": cli.Command(
        node_remove_tags, cli.args_atleast(1, "node", cli.ARG_NODE),
        (cli.TAG_SRC_OPT, cli.SUBMIT_OPT),
        "[--from FILE] node tag...", "Remove tags from the given node"),
}
