"""``gnt-group``: node group administration; see gnt-group(8).

Field names, headers and the default field list come from
:data:`ganeti.query.GROUP_FIELDS`; the instance policy options from
:mod:`ganeti.client.ipolicy_opts`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, query
from ganeti.client.ipolicy_opts import (
    IPOLICY_OPTS,
    format_ipolicy,
    ipolicy_changes,
)
from ganeti.client.listing import (
    format_rows,
    print_changes,
    print_info,
    query_rows,
)
from ganeti.client.tags import add_tags, list_tags, read_tags, remove_tags

ALLOC_POLICY_OPT: Final = cli.cli_option(
    "--alloc-policy", dest="alloc_policy", default=None,
    choices=constants.VALID_ALLOC_POLICIES, metavar="POLICY",
    help="Allocation policy: preferred, last_resort or unallocable")
NDPARAMS_OPT: Final = cli.cli_option(
    "-N", "--node-parameters", dest="ndparams", type=cli.keyval("-N"),
    default=None, metavar="key=val,...", help="Node parameters")
DISKPARAMS_OPT: Final = cli.cli_option(
    "-D", "--disk-parameters", dest="diskparams", action="append",
    type=cli.ident_keyval("-D"), default=None,
    metavar="TEMPLATE:key=val,...",
    help="Disk parameters per template (may be repeated)")
TO_GROUP_OPT: Final = cli.cli_option(
    "--to", dest="to", action="append", default=None, metavar="GROUP",
    help="Group to evacuate to (may be repeated; default: all others)")
IALLOCATOR_OPT: Final = cli.cli_option(
    "-I", "--iallocator", dest="iallocator", default=None, metavar="NAME",
    help="Instance allocator choosing the new nodes")
EARLY_RELEASE_OPT: Final = cli.cli_option(
    "--early-release", dest="early_release", action="store_true",
    default=False, help="Release the locks early")

_PARAM_OPTS: Final = (ALLOC_POLICY_OPT, NDPARAMS_OPT, DISKPARAMS_OPT,
                      *IPOLICY_OPTS)


def _diskparams(opts: argparse.Namespace) -> dict[str, dict[str, Any]] | None:
    if not opts.diskparams:
        return None
    merged: dict[str, dict[str, Any]] = {}
    for template, values in opts.diskparams:
        if template in merged:
            raise errors.OpPrereqError(f"-D given twice for '{template}'",
                                       errors.ErrorCode.INVAL)
        merged[template] = values
    return merged


def _param_fields(opts: argparse.Namespace) -> dict[str, Any]:
    values = {
        "alloc_policy": opts.alloc_policy,
        "ndparams": (cli.param_values(opts.ndparams)
                     if opts.ndparams else None),
        "diskparams": _diskparams(opts),
        "ipolicy": ipolicy_changes(opts, group=True) or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def add_group(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-group add [options] GROUP``."""
    op = opcodes.OpGroupAdd(group_name=args[0], **_param_fields(opts))
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


def remove_group(opts: argparse.Namespace, args: list[str]) -> int:
    cli.submit_opcode(opcodes.OpGroupRemove(group_name=args[0]), opts=opts)
    return errors.EXIT_SUCCESS


def rename_group(opts: argparse.Namespace, args: list[str]) -> int:
    cli.submit_opcode(opcodes.OpGroupRename(group_name=args[0],
                                            new_name=args[1]), opts=opts)
    return errors.EXIT_SUCCESS


def modify_group(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-group modify [options] GROUP``."""
    fields = _param_fields(opts)
    if not fields:
        cli.to_stderr("Please give at least one of the parameters.")
        return errors.EXIT_FAILURE
    result = cli.submit_opcode(
        opcodes.OpGroupSetParams(group_name=args[0], **fields), opts=opts)
    print_changes(f"node group {args[0]}", result, 10)
    return errors.EXIT_SUCCESS


def assign_nodes(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-group assign-nodes [--force] GROUP NODE...``."""
    cli.submit_opcode(opcodes.OpGroupAssignNodes(
        group_name=args[0], nodes=list(args[1:]), force=opts.force),
        opts=opts)
    return errors.EXIT_SUCCESS


def evacuate_group(opts: argparse.Namespace, args: list[str]) -> int:
    result = cli.submit_opcode(opcodes.OpGroupEvacuate(
        group_name=args[0], iallocator=opts.iallocator,
        target_groups=opts.to, early_release=opts.early_release), opts=opts)
    for name, group, nodes in result or []:
        cli.to_stdout(f"Instance {name} moved to group {group}"
                      f" ({', '.join(nodes)})")
    return errors.EXIT_SUCCESS


def list_groups(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-group list``."""
    table = query.GROUP_FIELDS
    if opts.output == cli.FIELDS_HELP:
        return cli.print_field_help(table.help_rows(), opts)
    fields = cli.parse_fields(opts.output, table.default)
    rows = query_rows(cli.get_client(), "QueryGroups", table, fields, args,
                      False, False)
    for line in format_rows(table, fields, rows, opts):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


INFO_FIELDS: Final = ("name", "uuid", "serial_no", "ctime", "mtime",
                      "alloc_policy", "ndparams", "diskparams", "ipolicy",
                      "node_list", "tags")


def _dict_lines(data: Mapping[str, Any], indent: str) -> list[str]:
    lines = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _dict_lines(value, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines


def _time(value: Any) -> str:
    """A configuration timestamp (float seconds) as Ganeti prints it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "?"
    return cli.format_timestamp([int(value), int((value % 1) * 1000000)])


def format_group_info(row: Sequence[Any]) -> list[str]:
    info = dict(zip(INFO_FIELDS, row, strict=True))
    lines = [f"Group: {info['name']}",
             f"  UUID: {info['uuid']}",
             f"  Serial number: {info['serial_no']}",
             f"  Creation time: {_time(info['ctime'])}",
             f"  Modification time: {_time(info['mtime'])}",
             f"  Allocation policy: {info['alloc_policy']}",
             "  Node parameters:", *_dict_lines(info["ndparams"], "    "),
             "  Disk parameters:", *_dict_lines(info["diskparams"], "    "),
             "  Instance policy:", *format_ipolicy(info["ipolicy"], "    ")]
    nodes = info["node_list"]
    lines.append(f"  Nodes: {', '.join(nodes) if nodes else '(none)'}")
    if info["tags"]:
        lines.append(f"  Tags: {', '.join(info['tags'])}")
    return lines


def show_group_info(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-group info [GROUP...]``."""
    return print_info("QueryGroups", args, INFO_FIELDS, format_group_info)


def group_list_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return list_tags(constants.TAG_NODEGROUP, args[0], opts)


def group_add_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return add_tags(constants.TAG_NODEGROUP, args[0],
                    read_tags(opts, args[1:]), opts)


def group_remove_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return remove_tags(constants.TAG_NODEGROUP, args[0],
                       read_tags(opts, args[1:]), opts)


_GROUP: Final = cli.args_fixed(1, "group", cli.ARG_GROUP)
_GROUP_AND_MORE: Final = cli.args_atleast(1, "group", cli.ARG_GROUP)

COMMANDS: Final[dict[str, cli.Command]] = {
    "add": cli.Command(
        add_group, _GROUP, (*_PARAM_OPTS, cli.SUBMIT_OPT),
        "[--alloc-policy POLICY] [-N PARAMS] [-D TEMPLATE:PARAMS]"
        " [--specs-*] [--ipolicy-*] [--submit] <group>",
        "Add a new node group to the cluster"),
    "assign-nodes": cli.Command(
        assign_nodes, cli.args_atleast(2, "group/node"),
        (cli.FORCE_OPT, cli.SUBMIT_OPT), "[--force] <group> <node>...",
        "Assign nodes to a group"),
    "list": cli.Command(
        list_groups, cli.ArgSpec(0, None, "group", cli.ARG_GROUP),
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.USEUNITS_OPT, cli.FIELDS_OPT),
        "[--no-headers] [--separator=SEP] [-o [+]FIELD,...] [<group>...]",
        "Lists the node groups in the cluster. The default field list is"
        f" ({', '.join(query.GROUP_FIELDS.default)}); list-fields or -o help"
        " shows them all"),
    "list-fields": cli.list_fields_command(lambda: query.GROUP_FIELDS,
                                           "node groups"),
    "modify": cli.Command(
        modify_group, _GROUP, (*_PARAM_OPTS, cli.SUBMIT_OPT),
        "[--alloc-policy POLICY] [-N PARAMS] [-D TEMPLATE:PARAMS]"
        " [--specs-*] [--ipolicy-*] [--submit] <group>",
        "Alters the parameters of a node group"),
    "remove": cli.Command(
        remove_group, _GROUP, (cli.SUBMIT_OPT,), "[--submit] <group>",
        "Remove an (empty) node group from the cluster"),
    "rename": cli.Command(
        rename_group, cli.args_fixed(2, "group/new name"), (cli.SUBMIT_OPT,),
        "[--submit] <group> <new-name>", "Rename a node group"),
    "evacuate": cli.Command(
        evacuate_group, _GROUP,
        (IALLOCATOR_OPT, TO_GROUP_OPT, EARLY_RELEASE_OPT, cli.SUBMIT_OPT),
        "[-I NAME] [--to GROUP...] [--early-release] <group>",
        "Evacuate all instances of a node group"),
    "info": cli.Command(
        show_group_info, cli.ArgSpec(0, None, "group", cli.ARG_GROUP), (),
        "[<group>...]", "Show information about the node group(s)"),
    "list-tags": cli.Command(
        group_list_tags, _GROUP, (), "<group>",
        "List the tags of the given node group"),
    "add-tags": cli.Command(
        group_add_tags, _GROUP_AND_MORE, (cli.TAG_SRC_OPT,),
        "[--from FILE] <group> tag...", "Add tags to the given node group"),
    "remove-tags": cli.Command(
        group_remove_tags, _GROUP_AND_MORE, (cli.TAG_SRC_OPT,),
        "[--from FILE] <group> tag...",
        "Remove tags from the given node group"),
}


def commands() -> Mapping[str, cli.Command]:
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    return cli.GenericMain(commands(), sys.argv if argv is None else argv)
