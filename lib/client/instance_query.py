"""``gnt-instance list``, ``info`` and the instance tag commands.

``list`` reads the field table :data:`ganeti.query.INSTANCE_FIELDS`
(names, headers, kinds, default fields) and formats rows as ``gnt-node
list`` does (:mod:`ganeti.client.listing`): ``-o`` (``+`` adds to
the defaults), ``--no-headers``, ``--separator``, ``--units``, names,
shell patterns or ``-F`` filters.

``info`` prints Ganeti 2.1's layout.  Each parameter shows the
instance's own value, or ``default (<effective value>)`` when it is
inherited; ``--static`` asks no node (no run state, no disk status).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, query
from ganeti.client.listing import FILTER_OPT, format_rows, query_rows
from ganeti.client.tags import add_tags, list_tags, read_tags, remove_tags
from ganeti.utils import text as textutils

STATIC_OPT: Final = cli.cli_option(
    "-s", "--static", dest="static", action="store_true", default=False,
    help="Only show configuration data, not runtime data")
ALL_OPT: Final = cli.cli_option(
    "--all", dest="show_all", action="store_true", default=False,
    help="Show info on all instances on the cluster")


def list_instances(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance list``."""
    table = query.INSTANCE_FIELDS
    if opts.output == cli.FIELDS_HELP:
        return cli.print_field_help(table.help_rows(), opts)
    fields = cli.parse_fields(opts.output, table.default)
    table.resolve(fields)
    rows = query_rows(cli.get_client(), "QueryInstances", table, fields,
                      args, opts.force_filter, opts.do_locking)
    cli.to_stdout_lines(format_rows(table, fields, rows, opts))
    return errors.EXIT_SUCCESS


# --- info ------------------------------------------------------------------------

def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if value is None or value == "":
        return "default" if value is None else ""
    return str(value)


def format_param(own: Mapping[str, Any], actual: Mapping[str, Any],
                 key: str) -> str:
    """The instance's own value, or ``default (effective)``."""
    if key in own:
        return _value(own[key])
    return f"default ({_value(actual.get(key))})"


def _size(mib: int) -> str:
    return textutils.format_unit(mib, "h")


def _disk_status(status: Any) -> str:
    if not isinstance(status, dict):
        return "(not found)"
    if "error" in status:
        return f"(error: {status['error']})"
    state = "degraded" if status.get("is_degraded") else "ok"
    if status.get("ldisk_status", "okay") != "okay":
        state += f", local disk {status['ldisk_status']}"
    percent = status.get("sync_percent")
    if percent is None:
        return f"{status.get('dev_path')} (status: {state})"
    eta = status.get("estimated_time")
    remaining = ("no time estimate" if eta is None
                 else f"{eta} estimated seconds remaining")
    return (f"{status.get('dev_path')} {percent:.2f}% done, {remaining}"
            f" (status: {state})")


def format_instance(data: Mapping[str, Any], static: bool) -> list[str]:
    """The ``gnt-instance info`` lines of one instance."""
    run = "unknown" if data["run_state"] is None else data["run_state"]
    state = f"configured to be {data['config_state']}"
    if not static:
        state += f", actual state is {run}"
    lines = [
        f"Instance name: {data['name']}",
        f"UUID: {data['uuid']}",
        f"Serial number: {data['serial_no']}",
        f"Creation time: {time.ctime(data['ctime'])}",
        f"Modification time: {time.ctime(data['mtime'])}",
        f"State: {state}",
        "  Nodes:",
        f"    - primary: {data['pnode']}",
        f"    - secondaries: {', '.join(data['snodes'])}",
        f"  Operating system: {data['os']}",
        f"  Allocated network port: {data['network_port']}",
        f"  Hypervisor: {data['hypervisor']}",
    ]
    if data.get("run_uid") is not None:
        # security_model pool: the uid of the pool this run took.
        lines.insert(-1, f"  Running as uid: {data['run_uid']}")
    hv_own, hv_actual = data["hv_instance"], data["hv_actual"]
    lines += [f"    - {key}: {format_param(hv_own, hv_actual, key)}"
              for key in sorted(hv_actual)]
    be_own, be_actual = data["be_instance"], data["be_actual"]
    # Every backend parameter, sorted (Ganeti 2.6+: maxmem, minmem, ...).
    lines += ["  Hardware:",
              *(f"    - {key}: {format_param(be_own, be_actual, key)}"
                for key in sorted(be_actual)),
              "    - NICs:"]
    for idx, nic in enumerate(data["nics"]):
        ip, mac, mode, link = nic[:4]
        name = f", name: {nic[4]}" if len(nic) > 4 and nic[4] else ""
        lines.append(f"      - nic/{idx}: MAC: {mac}, IP: {ip}, mode: {mode},"
                     f" link: {link}{name}")
    os_own, os_actual = data["os_instance"], data["os_actual"]
    lines.append("  OS parameters:")
    lines += [f"    - {key}: {format_param(os_own, os_actual, key)}"
              for key in sorted(os_actual)]
    lines.append(f"  Disk template: {data['disk_template']}")
    lines.append("  Disks:")
    for disk in data["disks"]:
        lines.append(f"    - {disk['iv_name']}: {disk['dev_type']}, size"
                     f" {_size(disk['size'])}")
        lines.append(f"      access mode: {disk['mode']}")
        if disk.get("name"):
            lines.append(f"      name: {disk['name']}")
        if disk.get("spindles") is not None:
            lines.append(f"      spindles: {disk['spindles']}")
        lid = disk["logical_id"]
        if disk["dev_type"] == constants.LD_DRBD8 and len(lid) == 6:
            # nodes with their minors and the port; never the secret
            lines.append(f"      logical_id: {lid[0]}:{lid[3]}, {lid[1]}:"
                         f"{lid[4]}, port {lid[2]}")
        else:
            lines.append("      logical_id: " + ", ".join(str(v) for v in lid))
        if disk["dev_type"] == constants.LD_LV:
            actual = disk.get("params_actual") or {}
            lines.append(f"      logical volume: {'/'.join(disk['logical_id'])},"
                         f" stripes: {actual.get('stripes', '?')}, stripe size:"
                         f" {actual.get('stripe_size', '?')} KiB")
        if not static:
            lines.append(f"      on primary: {_disk_status(disk['pstatus'])}")
            if "sstatus" in disk:
                lines.append(f"      on secondary ({disk.get('snode')}):"
                             f" {_disk_status(disk['sstatus'])}")
    lines.append(f"  Tags: {', '.join(data['tags'])}")
    return lines


def show_instance_info(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance info [-s] {--all | instance...}``."""
    if opts.show_all and args:
        cli.to_stderr("Cannot use --all if you specify instance names.")
        return errors.EXIT_FAILURE
    if not opts.show_all and not args:
        cli.to_stderr("No instance selected. Please pass in --all if you want"
                      " to query all instances.")
        return errors.EXIT_FAILURE
    result = cli.submit_opcode(opcodes.OpInstanceQueryData(
        instances=list(args), static=opts.static), opts=opts)
    first = True
    for name in list(result) if args else sorted(result):
        if not first:
            cli.to_stdout("")
        first = False
        for line in format_instance(result[name], opts.static):
            cli.to_stdout(line)
    return errors.EXIT_SUCCESS


# --- tags ------------------------------------------------------------------------

def instance_list_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return list_tags(constants.TAG_INSTANCE, args[0], opts)


def instance_add_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return add_tags(constants.TAG_INSTANCE, args[0],
                    read_tags(opts, args[1:]), opts)


def instance_remove_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return remove_tags(constants.TAG_INSTANCE, args[0],
                       read_tags(opts, args[1:]), opts)


COMMANDS: Final[dict[str, cli.Command]] = {
    "list": cli.Command(
        list_instances, cli.ARGS_MANY_INSTANCES,
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.USEUNITS_OPT, cli.FIELDS_OPT,
         cli.SYNC_OPT, FILTER_OPT),
        "[--no-headers] [--separator=SEP] [--units=UNITS] [-o [+]FIELD,...]"
        " [-F] [instance...]",
        "Lists the instances and their status. The default field list is"
        f" ({', '.join(query.INSTANCE_FIELDS.default)}); list-fields or"
        " -o help shows them all"),
    "list-fields": cli.list_fields_command(lambda: query.INSTANCE_FIELDS,
                                           "instances"),
    "info": cli.Command(
        show_instance_info, cli.ARGS_MANY_INSTANCES,
        (STATIC_OPT, ALL_OPT, cli.PRIORITY_OPT),
        "[-s] {--all | instance...}",
        "Show information on the specified instance(s)"),
    "list-tags": cli.Command(
        instance_list_tags, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.PRIORITY_OPT,), "instance",
        "List the tags of the given instance"),
    "add-tags": cli.Command(
        instance_add_tags, cli.args_atleast(1, "instance", cli.ARG_INSTANCE),
        (cli.TAG_SRC_OPT, cli.SUBMIT_OPT), "[--from FILE] instance tag...",
        "Add tags to the given instance"),
    "remove-tags": cli.Command(
        instance_remove_tags, cli.args_atleast(1, "instance", cli.ARG_INSTANCE),
        (cli.TAG_SRC_OPT, cli.SUBMIT_OPT), "[--from FILE] instance tag...",
        "Remove tags from the given instance"),
}
