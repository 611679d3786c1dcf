"""``gnt-os list``, ``diagnose``, ``info`` and ``modify`` (see gnt-os(8)).

The first three read ``OpOsDiagnose`` (every node's OS search path,
merged per OS by :mod:`ganeti.cmdlib.os`).  ``list`` shows the valid
OSes that are neither hidden nor blacklisted, each with its variants as
``os+variant``; ``diagnose`` shows every copy on every node; ``info``
shows the details of the valid ones.

``modify`` changes per-OS settings of the cluster through
``OpClusterSetParams``: ``-H hv:k=v,...`` (OS-level hypervisor
parameters), ``-O k=v,...`` (OS parameters), ``--hidden yes|no`` and
``--blacklisted yes|no``.  The value ``default`` (or ``-key``) removes
a setting.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes
from ganeti.utils import text as textutils

FIELDS: Final = ["name", "valid", "hidden", "blacklisted", "variants",
                 "parameters", "api_versions", "node_status", "os_hvp",
                 "osparams"]


def _diagnose(names: list[str] | None = None) -> list[dict[str, Any]]:
    rows = cli.submit_opcode(opcodes.OpOsDiagnose(output_fields=FIELDS,
                                                  names=names or []))
    return [dict(zip(FIELDS, row, strict=True)) for row in rows]


def list_os(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-os list``: the usable OSes (with variants)."""
    names = []
    for row in _diagnose():
        if not row["valid"] or row["hidden"] or row["blacklisted"]:
            continue
        if row["variants"]:
            names += [f"{row['name']}+{v}" for v in row["variants"]]
        else:
            names.append(row["name"])
    headers = None if opts.no_headers else {"name": "Name"}
    for line in cli.generate_table(headers, ["name"], [[n] for n in names]):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


def diagnose_os(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-os diagnose``: every copy of every OS on every node."""
    rows = _diagnose()
    if not rows:
        cli.to_stderr("No valid OS definitions found on any node")
    bad = False
    for row in rows:
        status = "valid" if row["valid"] else "invalid"
        bad = bad or not row["valid"]
        flags = "".join(f" [{f}]" for f in ("hidden", "blacklisted")
                        if row[f])
        cli.to_stdout(f"OS: {row['name']} [global status: {status}]{flags}")
        for node in sorted(row["node_status"]):
            copies = row["node_status"][node]
            if not copies:
                cli.to_stdout(f"  Node: {node}, status: invalid - OS not"
                              " found")
                continue
            for index, (path, valid, error, variants, _params, apis) in \
                    enumerate(copies):
                state = "valid" if valid else f"invalid - {error}"
                prefix = "  Node:" if index == 0 else "    [shadowed]"
                cli.to_stdout(f"{prefix} {node}, status: {state}"
                              f" (path: {path})")
                if index == 0 and valid:
                    cli.to_stdout("    API versions: "
                                  + ", ".join(str(v) for v in apis))
                    if variants:
                        cli.to_stdout("    variants: " + ", ".join(variants))
        cli.to_stdout("")
    return errors.EXIT_FAILURE if bad else errors.EXIT_SUCCESS


def show_os_info(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-os info [os...]``."""
    rows = _diagnose(list(args) or None)
    for row in rows:
        cli.to_stdout(f"OS: {row['name']}")
        cli.to_stdout(f"  valid: {row['valid']}")
        cli.to_stdout(f"  hidden: {row['hidden']}")
        cli.to_stdout(f"  blacklisted: {row['blacklisted']}")
        if row["valid"]:
            cli.to_stdout("  API versions: "
                          + ", ".join(str(v) for v in row["api_versions"]))
            cli.to_stdout("  variants: " + ", ".join(row["variants"]))
            cli.to_stdout("  parameters:")
            for name, doc in row["parameters"]:
                cli.to_stdout(f"    - {name}: {doc}")
        for hv, values in sorted(row["os_hvp"].items()):
            cli.to_stdout(f"  hypervisor parameters ({hv}):")
            for key, value in sorted(values.items()):
                cli.to_stdout(f"    - {key}: {value}")
        if row["osparams"]:
            cli.to_stdout("  OS parameters:")
            for key, value in sorted(row["osparams"].items()):
                cli.to_stdout(f"    - {key}: {value}")
        cli.to_stdout("")
    return errors.EXIT_SUCCESS


def _mod(flag: str | None, name: str) -> list[list[str]] | None:
    if flag is None:
        return None
    return [[constants.DDM_ADD if flag == "yes" else constants.DDM_REMOVE,
             name]]


def modify_os(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-os modify [-H hv:k=v,...] [-O k=v,...] [--hidden yes|no]
    [--blacklisted yes|no] os``."""
    name = args[0]
    os_hvp: dict[str, dict[str, dict[str, Any]]] | None = None
    if opts.hvparams:
        os_hvp = {name: {}}
        for hv, values in opts.hvparams:
            if hv not in constants.HYPER_TYPES:
                raise errors.OpPrereqError(
                    f"Unknown hypervisor '{hv}' (known:"
                    f" {', '.join(sorted(constants.HYPER_TYPES))})",
                    errors.ErrorCode.INVAL)
            os_hvp[name][hv] = cli.param_values(values)
    osparams = {name: cli.param_values(opts.osparams)} if opts.osparams else None
    if (os_hvp is None and osparams is None and opts.hidden is None
            and opts.blacklisted is None):
        cli.to_stderr("At least one of OS parameters or hypervisor parameters"
                      " must be passed")
        return errors.EXIT_FAILURE
    cli.submit_opcode(opcodes.OpClusterSetParams(
        os_hvp=os_hvp, osparams=osparams,
        hidden_os=_mod(opts.hidden, name),
        blacklisted_os=_mod(opts.blacklisted, name)), opts=opts)
    return errors.EXIT_SUCCESS


def _hv_keyval(value: str) -> tuple[str, dict[str, Any]]:
    hv, _, rest = value.partition(":")
    if not hv:
        raise argparse.ArgumentTypeError(f"option -H: missing hypervisor in"
                                         f" {value!r}")
    try:
        return hv, dict(textutils.parse_key_values(rest)) if rest else {}
    except errors.ParameterError as err:
        raise argparse.ArgumentTypeError(f"option -H: {err}") from None


HVP_OPT: Final = cli.cli_option(
    "-H", "--hypervisor-parameters", dest="hvparams", action="append",
    default=[], type=_hv_keyval, metavar="HV:k=v,...",
    help="OS-level hypervisor parameters")
OSP_OPT: Final = cli.cli_option(
    "-O", "--os-parameters", dest="osparams", default=None,
    type=cli.keyval("-O"), metavar="k=v,...", help="OS parameters")
HIDDEN_OPT: Final = cli.cli_option(
    "--hidden", dest="hidden", default=None, choices=("yes", "no"),
    metavar="yes|no", help="Hide the OS from gnt-os list")
BLACKLISTED_OPT: Final = cli.cli_option(
    "--blacklisted", dest="blacklisted", default=None, choices=("yes", "no"),
    metavar="yes|no", help="Refuse new installations of the OS")

COMMANDS: Final[dict[str, cli.Command]] = {
    "list": cli.Command(list_os, cli.ARGS_NONE, (cli.NOHDR_OPT, cli.PRIORITY_OPT),
                        "[--no-headers]",
                        "Lists all valid operating systems on the cluster"),
    "diagnose": cli.Command(diagnose_os, cli.ARGS_NONE, (cli.PRIORITY_OPT,), "",
                            "Diagnose all operating systems"),
    "info": cli.Command(show_os_info, cli.ARGS_MANY_OS, (cli.PRIORITY_OPT,),
                        "[os...]",
                        "Show detailed information about operating"
                        " systems"),
    "modify": cli.Command(
        modify_os, cli.args_fixed(1, "os", cli.ARG_OS),
        (HVP_OPT, OSP_OPT, HIDDEN_OPT, BLACKLISTED_OPT, cli.SUBMIT_OPT),
        "[-H HYPERVISOR:option=value,...] [-O param=value,...]"
        " [--hidden yes|no] [--blacklisted yes|no] [--submit] os",
        "Modify the OS parameters"),
}
