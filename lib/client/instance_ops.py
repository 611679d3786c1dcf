"""``gnt-instance`` operations: startup, shutdown, reboot, console,
activate-disks, deactivate-disks, grow-disk, move, migrate, failover,
modify.  See gnt-instance(8) (doc/man/gnt-instance.rst).

Startup, shutdown and reboot take Ganeti's selection flags: the
arguments are instance names (``--instance``, the default), node names
(``--node``: primary and secondary instances; ``--primary``;
``--secondary``), tags (``--tags``, ``--node-tags``, ``--pri-node-tags``,
``--sec-node-tags``) or nothing (``--all``).  More than one instance, or
any mode other than ``--instance``, asks for confirmation unless
``--force-multiple`` is given.  Each instance is one job.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, pathutils
from ganeti.utils import text

# --- selection of instances ------------------------------------------------------

_MODES: Final = {
    "instance": "--instance", "node": "--node", "primary": "--primary",
    "secondary": "--secondary", "all": "--all", "tags": "--tags",
    "node-tags": "--node-tags", "pri-node-tags": "--pri-node-tags",
    "sec-node-tags": "--sec-node-tags",
}


def _mode_opt(mode: str, helptext: str) -> cli.CliOption:
    # One destination per flag: the command layer keeps one option per
    # destination.
    return cli.cli_option(_MODES[mode], dest=f"select_{mode.replace('-', '_')}",
                          action="store_true", default=False, help=helptext)


SELECT_OPTS: Final = (
    _mode_opt("instance", "Filter by instance name [default]"),
    _mode_opt("node", "Filter by nodes (primary and secondary)"),
    _mode_opt("primary", "Filter by nodes (primary only)"),
    _mode_opt("secondary", "Filter by nodes (secondary only)"),
    _mode_opt("all", "Select all instances in the cluster"),
    _mode_opt("tags", "Filter by instance tags"),
    _mode_opt("node-tags", "Filter by node tags"),
    _mode_opt("pri-node-tags", "Filter by primary node tags"),
    _mode_opt("sec-node-tags", "Filter by secondary node tags"),
    cli.cli_option("--force-multiple", dest="force_multi", action="store_true",
                   default=False,
                   help="Act on several instances without asking"),
)


def selected_mode(opts: argparse.Namespace) -> str:
    """The one selection flag given (``instance`` when none)."""
    chosen = [mode for mode in _MODES
              if getattr(opts, f"select_{mode.replace('-', '_')}", False)]
    if len(chosen) > 1:
        raise errors.OpPrereqError(
            "Only one of " + ", ".join(_MODES[m] for m in chosen)
            + " can be given", errors.ErrorCode.INVAL)
    return chosen[0] if chosen else "instance"


def _instances(cl: Any) -> list[tuple[str, str, list[str], list[str]]]:
    rows = cl.call("QueryInstances", [], ["name", "pnode", "snodes", "tags"],
                   False)
    return [(r[0], r[1], list(r[2]), list(r[3])) for r in rows]


def _nodes_by_tags(cl: Any, tags: list[str]) -> set[str]:
    rows = cl.call("QueryNodes", [], ["name", "tags"], False)
    return {name for name, ntags in rows if set(tags) & set(ntags)}


def _nodes_by_name(cl: Any, names: list[str]) -> set[str]:
    rows = cl.call("QueryNodes", names, ["name"], False)
    return {row[0] for row in rows}


def expand_names(cl: Any, mode: str, names: list[str]) -> list[str]:
    """The instances a selection means (Ganeti's _ExpandMultiNames)."""
    if mode == "all":
        if names:
            raise errors.OpPrereqError("No names allowed with --all",
                                       errors.ErrorCode.INVAL)
        return sorted(r[0] for r in _instances(cl))
    if mode == "instance":
        if not names:
            raise errors.OpPrereqError("No instance names passed",
                                       errors.ErrorCode.INVAL)
        rows = cl.call("QueryInstances", names, ["name"], False)
        return [row[0] for row in rows]
    if not names:
        raise errors.OpPrereqError(f"No {mode} names passed",
                                   errors.ErrorCode.INVAL)
    if mode == "tags":
        return sorted(r[0] for r in _instances(cl) if set(names) & set(r[3]))
    nodes = (_nodes_by_tags(cl, names) if mode.endswith("tags")
             else _nodes_by_name(cl, names))
    primary = mode in ("node", "primary", "node-tags", "pri-node-tags")
    secondary = mode in ("node", "secondary", "node-tags", "sec-node-tags")
    return sorted(name for name, pnode, snodes, _ in _instances(cl)
                  if (primary and pnode in nodes)
                  or (secondary and nodes & set(snodes)))


def confirm(text_: str, names: list[str]) -> bool:
    """Ask on the terminal (y/n, v to view the list); no terminal: no."""
    if not sys.stdin.isatty():
        cli.to_stderr("Not confirmed (no terminal); use --force-multiple")
        return False
    while True:
        answer = input(f"{text_}\nDo you want to continue? y/[n]/v: ").strip()
        if answer == "v":
            cli.to_stdout("\n".join(names))
            continue
        return answer == "y"


def _many(opts: argparse.Namespace, args: list[str], verb: str,
          make_op: Callable[[str], opcodes.OpCode]) -> int:
    cl = cli.get_client()
    mode = selected_mode(opts)
    names = expand_names(cl, mode, args)
    if not names:
        raise errors.OpPrereqError("Selection filter does not match any"
                                   " instances", errors.ErrorCode.INVAL)
    multi = mode != "instance" or len(names) > 1
    if multi and not opts.force_multi and not confirm(
            f"The {verb} will operate on {len(names)} instances.", names):
        return errors.EXIT_FAILURE
    if opts.submit_only:
        for name in names:
            cli.to_stdout(f"JobID: {cli.send_job(make_op(name), cl)}")
        return errors.EXIT_SUCCESS
    failed = 0
    for name in names:
        if multi:
            cli.to_stdout(f"{verb.capitalize()} instance {name}")
        try:
            cli.submit_opcode(make_op(name), cl=cl)
        except errors.GenericError as err:
            if not multi:
                raise
            failed += 1
            _, msg = cli.format_error(err)
            cli.to_stderr(msg)
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


def startup(opts: argparse.Namespace, args: list[str]) -> int:
    return _many(opts, args, "startup", lambda name: opcodes.OpInstanceStartup(
        instance_name=name, force=opts.force, hvparams=opts.hvparams or {},
        beparams=opts.beparams or {}))


def shutdown(opts: argparse.Namespace, args: list[str]) -> int:
    return _many(opts, args, "shutdown",
                 lambda name: opcodes.OpInstanceShutdown(
                     instance_name=name, timeout=opts.timeout))


def reboot(opts: argparse.Namespace, args: list[str]) -> int:
    return _many(opts, args, "reboot", lambda name: opcodes.OpInstanceReboot(
        instance_name=name, reboot_type=opts.reboot_type,
        ignore_secondaries=opts.ignore_secondaries,
        shutdown_timeout=opts.shutdown_timeout))


# --- console -------------------------------------------------------------------------

# ipaddress, shlex and subprocess are imported by the console code that
# uses them: startup and shutdown should not pay for them.

def _is_loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def console_argv(info: dict[str, Any]) -> list[str]:
    """What to run for a console description (see the module docs):
    ``command`` kind on a node with a loopback address (the node lives on
    this machine, as in a local cluster) runs here; otherwise through
    ``ssh -t root@node``, as Ganeti does; ``ssh`` kind runs here."""
    import shlex

    kind = info.get("kind")
    if kind == "message":
        raise errors.OpExecError(str(info.get("message")))
    if kind == "vnc":
        raise errors.OpExecError(
            f"Instance {info.get('instance')} has a VNC console: connect a"
            f" VNC viewer to {info.get('host')}:{info.get('port')}")
    command = [str(c) for c in info.get("command", [])]
    if kind == "ssh" or _is_loopback(str(info.get("node_ip", ""))):
        return command
    return ["ssh", "-oBatchMode=yes", "-oEscapeChar=none", "-q", "-t",
            "-oUserKnownHostsFile=" + pathutils.get().known_hosts_file,
            f"root@{info.get('node')}", shlex.join(command)]


def console_vnc_note(info: dict[str, Any]) -> str | None:
    """The line naming the VNC server of an instance whose console is a
    command (KVM's serial console while VNC is on too), or None."""
    if info.get("kind") != "command" or not info.get("host") \
            or not info.get("port"):
        return None
    return (f"VNC console of {info.get('instance')}:"
            f" {info.get('host')}:{info.get('port')}")


def console(opts: argparse.Namespace, args: list[str]) -> int:
    import shlex
    import subprocess

    info = cli.submit_opcode(opcodes.OpInstanceConsole(instance_name=args[0]))
    argv = console_argv(info)
    # On stderr, so that --show-cmd prints a command and nothing else.
    note = console_vnc_note(info)
    if note is not None:
        cli.to_stderr(note)
    if opts.show_command:
        cli.to_stdout(shlex.join(argv))
        return errors.EXIT_SUCCESS
    try:
        return subprocess.call(argv)
    except OSError as err:
        raise errors.OpExecError(f"Cannot run {argv[0]}: {err}") from None


# --- disks ------------------------------------------------------------------

def activate_disks(opts: argparse.Namespace, args: list[str]) -> int:
    op = opcodes.OpInstanceActivateDisks(instance_name=args[0],
                                         ignore_size=opts.ignore_size)
    for node, iv_name, path in cli.submit_opcode(op, opts=opts):
        cli.to_stdout(f"{node}:{iv_name}:{path}")
    return errors.EXIT_SUCCESS


def deactivate_disks(opts: argparse.Namespace, args: list[str]) -> int:
    cli.submit_opcode(opcodes.OpInstanceDeactivateDisks(instance_name=args[0]),
                      opts=opts)
    return errors.EXIT_SUCCESS


def grow_disk(opts: argparse.Namespace, args: list[str]) -> int:
    name, disk, amount = args
    try:
        index = int(disk)
    except ValueError:
        raise errors.OpPrereqError(f"Invalid disk index passed: {disk!r}",
                                   errors.ErrorCode.INVAL) from None
    try:
        mib = text.parse_unit(amount)
    except errors.GenericError as err:
        raise errors.OpPrereqError(f"Invalid amount {amount!r}: {err}",
                                   errors.ErrorCode.INVAL) from None
    cli.submit_opcode(opcodes.OpInstanceGrowDisk(
        instance_name=name, disk=index, amount=mib,
        wait_for_sync=opts.wait_for_sync,
        ignore_ipolicy=opts.ignore_ipolicy), opts=opts)
    return errors.EXIT_SUCCESS


# --- placement -----------------------------------------------------------------------

def _ask(question: str, opts: argparse.Namespace) -> bool:
    return cli.confirm(question, opts)


def move(opts: argparse.Namespace, args: list[str]) -> int:
    if not opts.node:
        raise errors.OpPrereqError("The target node must be given with -n",
                                   errors.ErrorCode.INVAL)
    if not _ask(f"Instance {args[0]} will be stopped while its disks are"
                f" copied to {opts.node}. Proceed?", opts):
        return errors.EXIT_FAILURE
    cli.submit_opcode(opcodes.OpInstanceMove(
        instance_name=args[0], target_node=opts.node,
        shutdown_timeout=opts.shutdown_timeout), opts=opts)
    return errors.EXIT_SUCCESS


def _with_target(cls: type[opcodes.OpCode], opts: argparse.Namespace,
                 **kwargs: Any) -> opcodes.OpCode:
    if getattr(opts, "iallocator", None):
        if opts.target_node:
            raise errors.OpPrereqError(
                "Give either -n NODE or -I NAME, not both",
                errors.ErrorCode.INVAL)
        kwargs["iallocator"] = opts.iallocator
    if opts.target_node:
        if "target_node" not in cls.fields():
            raise errors.OpPrereqError(
                f"--target-node is not supported by {cls.__name__} in this"
                " version", errors.ErrorCode.INVAL)
        kwargs["target_node"] = opts.target_node
    return cls(**kwargs)


def migrate(opts: argparse.Namespace, args: list[str]) -> int:
    name = args[0]
    if opts.cleanup:
        question = (f"Clean up after an interrupted migration of {name}?")
    else:
        question = f"Migrate instance {name} to another node while it runs?"
    if not _ask(question, opts):
        return errors.EXIT_FAILURE
    op = _with_target(opcodes.OpInstanceMigrate, opts, instance_name=name,
                      live=opts.live, cleanup=opts.cleanup,
                      allow_failover=opts.allow_failover,
                      ignore_ipolicy=opts.ignore_ipolicy)
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


def failover(opts: argparse.Namespace, args: list[str]) -> int:
    name = args[0]
    if not _ask(f"Instance {name} will be stopped and started on another"
                " node. Proceed?", opts):
        return errors.EXIT_FAILURE
    op = _with_target(opcodes.OpInstanceFailover, opts, instance_name=name,
                      ignore_consistency=opts.ignore_consistency,
                      shutdown_timeout=opts.shutdown_timeout,
                      ignore_ipolicy=opts.ignore_ipolicy)
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


# --- modify -----------------------------------------------------------------

def _device_mods(option: str, values: list[tuple[str, dict[str, Any]]]
                 ) -> list[list[Any]]:
    mods: list[list[Any]] = []
    for ident, params in values:
        if ident in (constants.DDM_ADD, constants.DDM_REMOVE):
            mods.append([ident, params])
        elif ident.isdigit():
            mods.append([int(ident), params])
        else:
            raise errors.OpPrereqError(
                f"Invalid {option} change {ident!r}: expected add, remove or"
                " an index", errors.ErrorCode.INVAL)
        if ident == constants.DDM_REMOVE and params:
            raise errors.OpPrereqError(
                f"{option} remove takes no parameters",
                errors.ErrorCode.INVAL)
    return mods


def _sizes(mods: list[list[Any]]) -> None:
    for _, params in mods:
        if "size" in params:
            try:
                params["size"] = text.parse_unit(str(params["size"]))
            except errors.GenericError as err:
                raise errors.OpPrereqError(
                    f"Invalid disk size {params['size']!r}: {err}",
                    errors.ErrorCode.INVAL) from None


def modify(opts: argparse.Namespace, args: list[str]) -> int:
    nics = _device_mods("--net", opts.nics)
    disks = _device_mods("--disk", opts.disks)
    _sizes(disks)
    if opts.disk_template == constants.DT_DRBD8 and not opts.node:
        raise errors.OpPrereqError(
            "Changing the disk template to a mirrored one requires"
            " specifying a secondary node (-n)", errors.ErrorCode.INVAL)
    if opts.node and opts.disk_template != constants.DT_DRBD8:
        raise errors.OpPrereqError(
            "-n (the secondary node) goes with -t drbd only",
            errors.ErrorCode.INVAL)
    if not (nics or disks or opts.hvparams or opts.beparams or opts.os
            or opts.osparams or opts.disk_template):
        cli.to_stderr("Please give at least one of the parameters.")
        return errors.EXIT_FAILURE
    op = opcodes.OpInstanceSetParams(
        instance_name=args[0], nics=nics, disks=disks,
        hvparams=opts.hvparams or {}, beparams=opts.beparams or {},
        osparams=opts.osparams or {}, os_name=opts.os,
        force_variant=opts.force_variant, force=opts.force,
        disk_template=opts.disk_template, remote_node=opts.node,
        ignore_ipolicy=opts.ignore_ipolicy)
    result = cli.submit_opcode(op, opts=opts)
    if result:
        cli.to_stdout(f"Modified instance {args[0]}")
        for param, value in result:
            cli.to_stdout(f" - {param:<5} -> {value}")
        cli.to_stdout("Please don't forget that these parameters take effect"
                      " only at the next start of the instance.")
    return errors.EXIT_SUCCESS


# --- options and the table ----------------------------------------------------

HV_OPT: Final = cli.cli_option(
    "-H", "--hypervisor-parameters", dest="hvparams", default=None,
    type=cli.keyval("-H"), metavar="KEY=VAL,...",
    help="Hypervisor parameters")
BE_OPT: Final = cli.cli_option(
    "-B", "--backend-parameters", dest="beparams", default=None,
    type=cli.keyval("-B"), metavar="KEY=VAL,...", help="Backend parameters")
SHOWCMD_OPT: Final = cli.cli_option(
    "--show-cmd", dest="show_command", action="store_true", default=False,
    help="Show command instead of executing it")
TARGET_OPT: Final = cli.cli_option(
    "-n", "--target-node", dest="target_node", default=None, metavar="NODE",
    help="Target node (DRBD: a node other than the secondary becomes the"
    " secondary first)")
TARGET_IALLOC_OPT: Final = cli.cli_option(
    "-I", "--iallocator", dest="iallocator", default=None, metavar="NAME",
    help="Let this iallocator choose the target node")

STARTUP_OPTS: Final = (
    cli.cli_option("--force", "-f", dest="force", action="store_true",
                   default=False, help="Start even when mirrored disks"
                   " are degraded"),
    HV_OPT, BE_OPT, *SELECT_OPTS, cli.SUBMIT_OPT)
SHUTDOWN_OPTS: Final = (cli.TIMEOUT_OPT, *SELECT_OPTS, cli.SUBMIT_OPT)
REBOOT_OPTS: Final = (
    cli.cli_option("--type", dest="reboot_type", default="hard",
                   choices=sorted(constants.REBOOT_TYPES),
                   help="Type of reboot: soft/hard/full"),
    cli.cli_option("--ignore-secondaries", dest="ignore_secondaries",
                   action="store_true", default=False,
                   help="Ignore errors from secondaries"),
    cli.SHUTDOWN_TIMEOUT_OPT, *SELECT_OPTS, cli.SUBMIT_OPT)
MODIFY_OPTS: Final = (
    HV_OPT, BE_OPT, cli.IGNORE_IPOLICY_OPT,
    cli.cli_option("--net", dest="nics", action="append", default=[],
                   type=cli.ident_keyval("--net"),
                   metavar="add[:KEY=VAL,...]|remove|N:KEY=VAL,...",
                   help="Add, remove or change a NIC"),
    cli.cli_option("--disk", dest="disks", action="append", default=[],
                   type=cli.ident_keyval("--disk"),
                   metavar="add:size=SIZE[,mode=MODE]|remove|N:mode=MODE",
                   help="Add, remove or change a disk"),
    cli.cli_option("-o", "--os-type", dest="os", default=None, metavar="OS",
                   help="Change the OS (takes effect at reinstall)"),
    cli.cli_option("-O", "--os-parameters", dest="osparams", default=None,
                   type=cli.keyval("-O"), metavar="KEY=VAL,...",
                   help="OS parameters"),
    cli.cli_option("--force-variant", dest="force_variant",
                   action="store_true", default=False,
                   help="Force an unknown variant"),
    cli.cli_option("-t", "--disk-template", dest="disk_template",
                   default=None,
                   choices=(constants.DT_PLAIN, constants.DT_DRBD8),
                   help="Convert the disks of a stopped instance (plain or"
                   " drbd)"),
    cli.cli_option("-n", "--node", dest="node", default=None, metavar="NODE",
                   help="The secondary node of a conversion to drbd"),
    cli.FORCE_OPT, cli.SUBMIT_OPT)

COMMANDS: Final[dict[str, cli.Command]] = {
    "startup": cli.Command(
        startup, cli.ARGS_MANY_INSTANCES, STARTUP_OPTS,
        "[selection flags] <name>...", "Start instances"),
    "shutdown": cli.Command(
        shutdown, cli.ARGS_MANY_INSTANCES, SHUTDOWN_OPTS,
        "[--timeout N] [selection flags] <name>...", "Stop instances"),
    "reboot": cli.Command(
        reboot, cli.ARGS_MANY_INSTANCES, REBOOT_OPTS,
        "[--type soft|hard|full] [selection flags] <name>...",
        "Reboot running instances"),
    "console": cli.Command(
        console, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (SHOWCMD_OPT, cli.PRIORITY_OPT),
        "[--show-cmd] <instance>", "Connect to the instance's console"),
    "activate-disks": cli.Command(
        activate_disks, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.SUBMIT_OPT, cli.cli_option(
            "--ignore-size", dest="ignore_size", action="store_true",
            default=False, help="Do not compare the disks with their"
            " recorded sizes")),
        "<instance>", "Activate the disks of an instance"),
    "deactivate-disks": cli.Command(
        deactivate_disks, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.SUBMIT_OPT,),
        "<instance>", "Deactivate the disks of a stopped instance"),
    "grow-disk": cli.Command(
        grow_disk, cli.args_fixed(3, "argument"),
        (cli.SUBMIT_OPT, cli.cli_option(
            "--no-wait-for-sync", dest="wait_for_sync", action="store_false",
            default=True, help="Return without waiting for mirrored disks"
            " to resynchronize"), cli.IGNORE_IPOLICY_OPT),
        "<instance> <disk> <size>", "Grow one disk of an instance"),
    "move": cli.Command(
        move, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.FORCE_OPT, cli.SUBMIT_OPT, cli.SHUTDOWN_TIMEOUT_OPT,
         cli.cli_option("-n", "--target-node", dest="node", default=None,
                        metavar="NODE", help="Target node")),
        "[-f] -n <node> <instance>", "Copy the disks of a stopped instance"
        " to another node and make it the primary (file and diskless)"),
    "migrate": cli.Command(
        migrate, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.FORCE_OPT, TARGET_OPT, TARGET_IALLOC_OPT, cli.SUBMIT_OPT,
         cli.cli_option("--non-live", dest="live", action="store_false",
                        default=True, help="Pause the instance during the"
                        " transfer instead of copying it while it runs"),
         cli.cli_option("--cleanup", dest="cleanup", action="store_true",
                        default=False, help="Do not migrate: find where an"
                        " interrupted migration left the instance and repair"
                        " the configuration and the nodes"),
         cli.cli_option("--allow-failover", dest="allow_failover",
                        action="store_true", default=False,
                        help="Fail the instance over instead when it cannot"
                        " be migrated (marked down, or not running)"),
         cli.IGNORE_IPOLICY_OPT),
        "[-f] [--non-live] [--cleanup] [--allow-failover] [--ignore-ipolicy]"
        " [-n <node>] <instance>",
        "Move a running instance to another node without stopping it"),
    "failover": cli.Command(
        failover, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.FORCE_OPT, TARGET_OPT, TARGET_IALLOC_OPT, cli.SUBMIT_OPT,
         cli.SHUTDOWN_TIMEOUT_OPT,
         cli.cli_option("--ignore-consistency", dest="ignore_consistency",
                        action="store_true", default=False,
                        help="Go on even if the instance cannot be stopped"
                        " cleanly on its current node (e.g. the node is"
                        " down)"),
         cli.IGNORE_IPOLICY_OPT),
        "[-f] [--ignore-consistency] [--ignore-ipolicy] [-n <node>]"
        " <instance>",
        "Stop the instance and start it on another node"),
    "modify": cli.Command(
        modify, cli.args_fixed(1, "instance", cli.ARG_INSTANCE), MODIFY_OPTS,
        "<instance>", "Change the parameters, NICs, disks or OS of an"
        " instance"),
}
