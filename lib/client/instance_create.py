"""``gnt-instance add``, ``batch-create``, ``remove``, ``reinstall`` and
``rename`` (see gnt-instance(8)).

The options follow Ganeti 2.1: ``--disk N:size=VAL,mode=ro|rw`` (other
keys are parameters of the disk template) or ``-s SIZE``, ``--net
N:mac=,ip=,mode=,link=`` or ``--no-nics``, ``-H HV[:k=v,...]`` (or
``-H k=v`` with ``--hypervisor``), ``-B``/``-O k=v,...``, ``-n node``,
``-o os[+variant]``.  Sizes take the ``m``/``g``/``t`` suffixes.  Bad
input is refused here with one line naming the option and the key,
before anything is submitted.

Multi-instance selection (``reinstall``; :func:`select_instances` is
reusable): ``--instance`` (default: the arguments are instances),
``--node``/``--primary``/``--secondary`` (instances with the given
nodes as primary and/or secondary), ``--all`` and ``--tags`` (instances
with any of the given tags).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes
from ganeti.utils import text as textutils

EC = errors.ErrorCode

NIC_KEYS: Final = ("mac", "ip", "mode", "link", "bridge", "name")
DISK_KEYS: Final = ("size", "mode", "adopt", "name", "spindles")


def _opt(*flags: str, **kwargs: Any) -> cli.CliOption:
    return cli.cli_option(*flags, **kwargs)


DISK_TEMPLATE_OPT: Final = _opt(
    "-t", "--disk-template", dest="disk_template", default=None,
    metavar="TEMPL", help="Custom disk setup (diskless, file, plain or drbd)")
DISK_OPT: Final = _opt(
    "--disk", dest="disks", action="append", default=[],
    type=cli.ident_keyval("--disk"),
    metavar="N:size=VAL[,mode=ro|rw][,name=NAME][,spindles=N]",
    help="Disk parameters; N:adopt=LV (-t plain) adopts an existing"
         " logical volume instead")
OS_SIZE_OPT: Final = _opt(
    "-s", "--os-size", dest="sd_size", default=None, metavar="SIZE",
    help="Disk size for a single-disk instance (units m, g, t)")
NET_OPT: Final = _opt(
    "--net", dest="nics", action="append", default=[],
    type=cli.ident_keyval("--net"), metavar="N:mac=,ip=,mode=,link=,name=",
    help="NIC parameters")
NONICS_OPT: Final = _opt(
    "--no-nics", dest="no_nics", action="store_true", default=False,
    help="Ignore the NIC specifications")
OS_OPT: Final = _opt(
    "-o", "--os-type", dest="os", default=None, metavar="OS[+VARIANT]",
    help="What OS to install")
OSPARAMS_OPT: Final = _opt(
    "-O", "--os-parameters", dest="osparams", default=None,
    type=cli.keyval("-O"), metavar="k=v,...", help="OS parameters")
FORCE_VARIANT_OPT: Final = _opt(
    "--force-variant", dest="force_variant", action="store_true",
    default=False, help="Force an unknown variant")
BACKEND_OPT: Final = _opt(
    "-B", "--backend-parameters", dest="beparams", default=None,
    type=cli.keyval("-B"), metavar="k=v,...", help="Backend parameters")
HVOPTS_OPT: Final = _opt(
    "-H", "--hypervisor-parameters", dest="hvopts", default=None,
    metavar="HV[:k=v,...]", help="Hypervisor and hypervisor options")
HYPERVISOR_OPT: Final = _opt(
    "--hypervisor", dest="hypervisor", default=None, metavar="HV",
    help="Hypervisor (when -H gives only options)")
NOIPCHECK_OPT: Final = _opt(
    "--no-ip-check", dest="ip_check", action="store_false", default=True,
    help="Don't check that the instance's IP is alive")
NONAMECHECK_OPT: Final = _opt(
    "--no-name-check", dest="name_check", action="store_false", default=True,
    help="Don't check that the instance's name is resolvable")
NOSTART_OPT: Final = _opt(
    "--no-start", dest="start", action="store_false", default=True,
    help="Don't start the instance after creation")
NOINSTALL_OPT: Final = _opt(
    "--no-install", dest="install", action="store_false", default=True,
    help="Do not install the OS (will enable no-start)")
FILESTORE_DIR_OPT: Final = _opt(
    "--file-storage-dir", dest="file_storage_dir", default=None,
    metavar="DIR", help="Relative path under the cluster's file storage"
    " directory for the instance's disk files")
FILESTORE_DRIVER_OPT: Final = _opt(
    "--file-driver", dest="file_driver", default=constants.FD_LOOP,
    choices=sorted(constants.FILE_DRIVERS),
    help="Driver to use for the file disks")
IALLOCATOR_OPT: Final = _opt(
    "-I", "--iallocator", dest="iallocator", default=None, metavar="NAME",
    help="Select nodes with this iallocator")
IGNORE_FAILURES_OPT: Final = _opt(
    "--ignore-failures", dest="ignore_failures", action="store_true",
    default=False, help="Remove the instance from the cluster configuration"
    " even if there are failures during the removal process")
KEEP_OSPARAMS_OPT: Final = _opt(
    "--keep-known-os-parameters", dest="keep_known_os_parameters",
    action="store_true", default=False,
    help="When changing the OS, keep the OS parameters the new OS knows")
NOWAIT_SYNC_OPT: Final = _opt(
    "--no-wait-for-sync", dest="wait_for_sync", action="store_false",
    default=True, help="Do not wait for the mirrored disks' initial sync"
    " (the instance may start while its secondary still syncs)")
FORCE_MULTIPLE_OPT: Final = _opt(
    "--force-multiple", dest="force_multiple", action="store_true",
    default=False, help="Do not ask for confirmation when more than one"
    " instance is affected")

MODE_INSTANCE: Final = "instance"
#: Selection flag -> mode of :func:`select_instances`.
SELECTION_MODES: Final = {"instance": MODE_INSTANCE, "node": "both",
                          "primary": "pri", "secondary": "sec",
                          "all": "all", "tags": "tags"}
_SELECTION_HELP: Final = {
    "instance": "Filter by instance name [default]",
    "node": "Filter by nodes (primary and secondary)",
    "primary": "Filter by primary nodes only",
    "secondary": "Filter by secondary nodes only",
    "all": "Select all instances",
    "tags": "Filter by instance tags"}
SELECTION_OPTS: Final = tuple(
    _opt(f"--{flag}", dest=f"select_{flag}", action="store_true",
         default=False, help=_SELECTION_HELP[flag])
    for flag in SELECTION_MODES)


def selection_mode(opts: argparse.Namespace) -> str:
    """The mode chosen by the selection flags (one at most)."""
    chosen = [flag for flag in SELECTION_MODES
              if getattr(opts, f"select_{flag}", False)]
    if len(chosen) > 1:
        raise _bad("Only one of --" + ", --".join(chosen) + " may be given")
    return SELECTION_MODES[chosen[0]] if chosen else MODE_INSTANCE


def _bad(message: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(message, EC.INVAL)


def ask_user(question: str) -> bool:
    """Ask a yes/no question on the terminal (stdin); EOF means no."""
    cli.to_stdout(f"{question} y/[n]: ")
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# --- Building the create opcode ------------------------------------------------------

def _index(option: str, ident: str) -> int:
    try:
        index = int(ident)
    except ValueError:
        raise _bad(f"Invalid {option} index '{ident}'") from None
    if index < 0:
        raise _bad(f"Invalid {option} index '{ident}'")
    return index


def _size(option: str, value: Any) -> int:
    try:
        return int(textutils.parse_unit(str(value)))
    except errors.GenericError:
        raise _bad(f"{option}: invalid size '{value}'") from None


def parse_disks(template: str, disks: Sequence[tuple[str, dict[str, Any]]],
                sd_size: str | None) -> list[dict[str, Any]]:
    """Disk specifications from ``--disk`` or ``-s``."""
    if template == constants.DT_DISKLESS:
        if disks or sd_size is not None:
            raise _bad("Diskless instances take no disks (--disk, -s)")
        return []
    if disks and sd_size is not None:
        raise _bad("Please use either --disk or -s, not both")
    if sd_size is not None:
        return [{"size": _size("-s", sd_size)}]
    if not disks:
        raise _bad("No disk information given (use --disk or -s)")
    by_index: dict[int, dict[str, Any]] = {}
    for ident, values in disks:
        index = _index("--disk", ident)
        if index in by_index:
            raise _bad(f"Disk {index} given twice")
        spec: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            if key == "size":
                spec["size"] = _size(f"--disk {index}", value)
            elif key in ("mode", "adopt", "name"):
                spec[key] = value
            elif key == "spindles":
                spec[key] = _spindles(index, value)
            else:
                extra[key] = value
        if "size" not in spec and "adopt" not in spec:
            raise _bad(f"Disk {index}: missing size")
        if spec.get("mode", constants.DISK_RDWR) not in \
                constants.DISK_ACCESS_SET:
            raise _bad(f"Disk {index}: invalid access mode '{spec['mode']}'"
                       " (rw or ro)")
        if extra:
            spec["params"] = extra
        by_index[index] = spec
    if sorted(by_index) != list(range(len(by_index))):
        raise _bad("Disk indices must be 0, 1, ... without gaps")
    return [by_index[i] for i in range(len(by_index))]


def _spindles(index: int, value: Any) -> int:
    try:
        spindles = int(value)
    except (TypeError, ValueError):
        spindles = 0
    if spindles < 1:
        raise _bad(f"Disk {index}: spindles must be a positive integer,"
                   f" got '{value}'")
    return spindles


def parse_nics(nics: Sequence[tuple[str, dict[str, Any]]],
               no_nics: bool) -> list[dict[str, Any]]:
    """NIC specifications from ``--net`` (default: one NIC)."""
    if no_nics:
        if nics:
            raise _bad("Please use either --net or --no-nics, not both")
        return []
    if not nics:
        return [{}]
    by_index: dict[int, dict[str, Any]] = {}
    for ident, values in nics:
        index = _index("--net", ident)
        if index in by_index:
            raise _bad(f"NIC {index} given twice")
        unknown = [k for k in values if k not in NIC_KEYS]
        if unknown:
            raise _bad(f"NIC {index}: unknown NIC parameter '{unknown[0]}'"
                       f" (known: {', '.join(NIC_KEYS)})")
        spec = dict(values)
        if spec.get("ip", "x").lower() == constants.VALUE_NONE:
            spec["ip"] = None
        by_index[index] = spec
    if sorted(by_index) != list(range(len(by_index))):
        raise _bad("NIC indices must be 0, 1, ... without gaps")
    return [by_index[i] for i in range(len(by_index))]


def parse_hv(hvopts: str | None, hypervisor: str | None
             ) -> tuple[str | None, dict[str, Any]]:
    """``-H hv[:k=v,...]`` or ``-H k=v,...`` with ``--hypervisor``."""
    if hvopts is None:
        return hypervisor, {}
    name: str | None
    head, sep, rest = hvopts.partition(":")
    if sep and "=" not in head:
        name, text = head, rest
    elif "=" not in hvopts:
        name, text = hvopts, ""
    else:
        name, text = hypervisor, hvopts
    if name is not None and hypervisor is not None and name != hypervisor:
        raise _bad(f"-H names hypervisor {name} but --hypervisor {hypervisor}")
    if name is not None and name not in constants.HYPER_TYPES:
        raise _bad(f"Unknown hypervisor '{name}' (known:"
                   f" {', '.join(sorted(constants.HYPER_TYPES))})")
    try:
        values = dict(textutils.parse_key_values(text)) if text else {}
    except errors.ParameterError as err:
        raise _bad(f"option -H: {err}") from None
    return name, cli.param_values(values)


def create_opcode(name: str, opts: argparse.Namespace,
                  mode: str = constants.INSTANCE_CREATE
                  ) -> opcodes.OpInstanceCreate:
    """The ``OpInstanceCreate`` of ``gnt-instance add`` (and, in import
    mode, of ``gnt-backup import``: the OS, the disks and the NICs then
    default to the export's)."""
    importing = mode == constants.INSTANCE_IMPORT
    if not opts.disk_template:
        raise _bad("No disk template given (-t)")
    if opts.disk_template not in constants.DISK_TEMPLATES:
        raise _bad(f"Unknown disk template '{opts.disk_template}' (known:"
                   f" {', '.join(sorted(constants.DISK_TEMPLATES))})")
    if not opts.os and not importing:
        raise _bad("No OS given (-o)")
    # Without -n and -I the master uses the cluster's default iallocator
    # (and refuses when there is none).
    pnode, snode = cli.split_node_option(opts.node)
    hypervisor, hvparams = parse_hv(opts.hvopts, opts.hypervisor)
    values: dict[str, Any] = {
        "instance_name": name, "mode": mode,
        "disk_template": opts.disk_template,
        "disks": ([] if importing and not opts.disks and opts.sd_size is None
                  else parse_disks(opts.disk_template, opts.disks,
                                   opts.sd_size)),
        "nics": ([] if importing and not opts.nics and not opts.no_nics
                 else parse_nics(opts.nics, opts.no_nics)),
        "os_type": opts.os, "osparams": cli.param_values(opts.osparams),
        "force_variant": opts.force_variant,
        "no_install": not opts.install,
        "start": opts.start and opts.install,
        "pnode": pnode, "snode": snode, "iallocator": opts.iallocator,
        "hypervisor": hypervisor, "hvparams": hvparams,
        "beparams": cli.param_values(opts.beparams),
        "ip_check": opts.ip_check and opts.name_check,
        "name_check": opts.name_check,
        "wait_for_sync": getattr(opts, "wait_for_sync", True),
        "file_storage_dir": opts.file_storage_dir,
        "file_driver": opts.file_driver,
        "debug_level": opts.debug, "dry_run": getattr(opts, "dry_run", False),
        "ignore_ipolicy": opts.ignore_ipolicy}
    if importing:
        values.update(src_node=opts.src_node, src_path=opts.src_dir)
    return opcodes.OpInstanceCreate(**values)


def add_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance add``."""
    cli.submit_opcode(create_opcode(args[0], opts), opts=opts)
    return errors.EXIT_SUCCESS


# --- batch-create ----------------------------------------------------------------

BATCH_KEYS: Final = frozenset([
    "template", "disk_template", "os", "disk_size", "disks", "primary_node",
    "secondary_node", "iallocator", "backend", "hypervisor", "hvparams",
    "osparams", "nics", "ip", "mac", "mode", "link", "bridge", "start",
    "install", "ip_check", "name_check", "file_storage_dir", "file_driver",
    "force_variant"])


def batch_opcode(name: str, spec: Any, debug: int
                 ) -> opcodes.OpInstanceCreate:
    """One instance of a ``batch-create`` file."""
    if not isinstance(spec, dict):
        raise _bad(f"Instance {name}: the specification must be an object")
    unknown = sorted(k for k in spec if k not in BATCH_KEYS)
    if unknown:
        raise _bad(f"Instance {name}: unknown key '{unknown[0]}'")
    template = spec.get("template", spec.get("disk_template"))
    if not isinstance(template, str):
        raise _bad(f"Instance {name}: no disk template given")
    hv = spec.get("hypervisor")
    hvparams = dict(spec.get("hvparams") or {})
    if isinstance(hv, list) and len(hv) == 2:
        hv, more = hv
        hvparams.update(more or {})
    if "disks" in spec:
        disks = [dict(d, size=_size(f"instance {name} disk", d["size"]))
                 if isinstance(d, dict) and "size" in d else d
                 for d in spec["disks"]]
    else:
        disks = [{"size": _size(f"instance {name} disk_size", s)}
                 for s in spec.get("disk_size", [])]
    if "nics" in spec:
        nics = spec["nics"]
    else:
        nic = {k: spec[k] for k in ("ip", "mac", "mode", "link", "bridge")
               if spec.get(k) is not None}
        nics = [nic]
    install = bool(spec.get("install", True))
    try:
        return opcodes.OpInstanceCreate(
            instance_name=name, mode=constants.INSTANCE_CREATE,
            disk_template=template, disks=disks, nics=nics,
            os_type=spec.get("os"), osparams=spec.get("osparams") or {},
            force_variant=bool(spec.get("force_variant", False)),
            no_install=not install,
            start=bool(spec.get("start", True)) and install,
            pnode=spec.get("primary_node"), snode=spec.get("secondary_node"),
            iallocator=spec.get("iallocator"), hypervisor=hv,
            hvparams=hvparams, beparams=spec.get("backend") or {},
            ip_check=bool(spec.get("ip_check", True)),
            name_check=bool(spec.get("name_check", True)),
            wait_for_sync=bool(spec.get("wait_for_sync", True)),
            file_storage_dir=spec.get("file_storage_dir"),
            file_driver=spec.get("file_driver", constants.FD_LOOP),
            debug_level=debug)
    except errors.GenericError as err:
        raise _bad(f"Instance {name}: {err}") from None


def batch_create(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance batch-create FILE``: submit one job per instance,
    then wait for all of them."""
    try:
        with open(args[0], encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise errors.OpPrereqError(f"Cannot read {args[0]}: {err.strerror}",
                                   EC.ENVIRON) from None
    except ValueError as err:
        raise _bad(f"Invalid JSON in {args[0]}: {err}") from None
    if not isinstance(data, dict) or not data:
        raise _bad(f"{args[0]} must hold an object of instance name ->"
                   " specification")
    ops = [(name, batch_opcode(name, spec, opts.debug))
           for name, spec in data.items()]
    client = cli.get_client()
    jobs = [(name, cli.send_job(op, client)) for name, op in ops]
    failed = 0
    for name, job_id in jobs:
        cli.to_stdout(f"Submitted job {job_id} for instance {name}")
    for name, job_id in jobs:
        try:
            cli.poll_job(job_id, client)
        except errors.GenericError as err:
            failed += 1
            cli.to_stderr(f"Instance {name} (job {job_id}) failed: {err}")
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


# --- remove, rename --------------------------------------------------------------

def remove_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance remove``."""
    name = args[0]
    if not opts.force and not ask_user(
            f"This will remove the volumes of the instance {name} (including"
            " mirrors), thus removing all the data of the instance."
            " Continue?"):
        return errors.EXIT_FAILURE
    cli.submit_opcode(opcodes.OpInstanceRemove(
        instance_name=name, ignore_failures=opts.ignore_failures,
        shutdown_timeout=opts.shutdown_timeout, debug_level=opts.debug),
        opts=opts)
    return errors.EXIT_SUCCESS


def rename_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance rename``."""
    cli.submit_opcode(opcodes.OpInstanceRename(
        instance_name=args[0], new_name=args[1],
        ip_check=opts.ip_check and opts.name_check,
        name_check=opts.name_check, debug_level=opts.debug), opts=opts)
    return errors.EXIT_SUCCESS


# --- Selection and reinstall -----------------------------------------------------

def select_instances(mode: str, args: list[str]) -> list[str]:
    """Instance names for the selection flags (see the module doc)."""
    if mode == MODE_INSTANCE:
        if not args:
            raise _bad("No instance names given")
        return list(args)
    if mode == "all":
        if args:
            raise _bad("No arguments are accepted with --all")
        rows = cli.get_client().call("QueryInstances", [], ["name"], False)
        return [row[0] for row in rows]
    if not args:
        raise _bad(f"No {'tags' if mode == 'tags' else 'nodes'} given")
    rows = cli.get_client().call("QueryInstances", [],
                                 ["name", "pnode", "snodes", "tags"], False)
    wanted = set(args)
    if mode in ("both", "pri", "sec"):
        known = {row[0] for row in cli.get_client().call(
            "QueryNodes", list(args), ["name"], False)}
        wanted = known
    found = []
    for name, pnode, snodes, tags in rows:
        if (mode == "tags" and wanted & set(tags)) or \
                (mode in ("both", "pri") and pnode in wanted) or \
                (mode in ("both", "sec") and wanted & set(snodes)):
            found.append(name)
    return found


def confirm_many(names: list[str], text: str) -> bool:
    cli.to_stdout(f"The {text} will operate on {len(names)} instances:")
    for name in names:
        cli.to_stdout(f"  {name}")
    return ask_user("Do you want to continue?")


def reinstall_instance(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-instance reinstall``."""
    mode = selection_mode(opts)
    names = select_instances(mode, args)
    if not names:
        cli.to_stderr("No instances selected")
        return errors.EXIT_FAILURE
    if len(names) > 1 or mode != MODE_INSTANCE:
        if not opts.force_multiple and not confirm_many(names, "reinstall"):
            return errors.EXIT_FAILURE
    elif not opts.force and not ask_user(
            f"This will reinstall the instance {names[0]} and remove all"
            " data. Continue?"):
        return errors.EXIT_FAILURE
    ops = [opcodes.OpInstanceReinstall(
        instance_name=name, os_type=opts.os, force_variant=opts.force_variant,
        osparams=(None if opts.osparams is None
                  else cli.param_values(opts.osparams)),
        keep_known_os_parameters=opts.keep_known_os_parameters,
        debug_level=opts.debug) for name in names]
    if len(ops) == 1:
        cli.submit_opcode(ops[0], opts=opts)
        return errors.EXIT_SUCCESS
    client = cli.get_client()
    jobs = [(op.instance_name, cli.send_job(op, client)) for op in ops]
    if opts.submit_only:
        for name, job_id in jobs:
            cli.to_stdout(f"JobID: {job_id} ({name})")
        return errors.EXIT_SUCCESS
    failed = 0
    for name, job_id in jobs:
        try:
            cli.poll_job(job_id, client)
        except errors.GenericError as err:
            failed += 1
            cli.to_stderr(f"Reinstalling {name} failed: {err}")
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


ADD_OPTS: Final = (
    DISK_TEMPLATE_OPT, DISK_OPT, OS_SIZE_OPT, NET_OPT, NONICS_OPT, OS_OPT,
    OSPARAMS_OPT, FORCE_VARIANT_OPT, BACKEND_OPT, HVOPTS_OPT, HYPERVISOR_OPT,
    NOIPCHECK_OPT, NONAMECHECK_OPT, NOSTART_OPT, NOINSTALL_OPT,
    FILESTORE_DIR_OPT, FILESTORE_DRIVER_OPT, cli.NODE_PLACEMENT_OPT,
    IALLOCATOR_OPT, NOWAIT_SYNC_OPT, cli.SUBMIT_OPT, cli.DRY_RUN_OPT,
    cli.IGNORE_IPOLICY_OPT)

COMMANDS: Final[dict[str, cli.Command]] = {
    "add": cli.Command(
        add_instance, cli.args_fixed(1, "instance", cli.ARG_INSTANCE), ADD_OPTS,
        "-t {diskless|file|plain|drbd} {--disk=N:size=VAL[,mode=ro|rw]|-s"
        " SIZE} [--no-ip-check] [--no-name-check] [--no-start]"
        " [--no-install] [--net=N:options...|--no-nics] [-B BEPARAMS]"
        " [-H HYPERVISOR[:option=value,...]] [-O param=value,...]"
        " [--file-storage-dir DIR] [--file-driver {loop|blktap}]"
        " -n NODE -o OS[+VARIANT] [--submit] instance",
        "Creates and adds a new instance to the cluster"),
    "batch-create": cli.Command(
        batch_create, cli.args_fixed(1, "file", cli.ARG_FILE), (cli.PRIORITY_OPT,),
        "instances_file.json",
        "Create a bunch of instances based on specs in the file"),
    "remove": cli.Command(
        remove_instance, cli.args_fixed(1, "instance", cli.ARG_INSTANCE),
        (cli.FORCE_OPT, cli.SHUTDOWN_TIMEOUT_OPT, IGNORE_FAILURES_OPT,
         cli.SUBMIT_OPT),
        "[-f] [--ignore-failures] [--shutdown-timeout=N] [--submit]"
        " instance", "Shuts down the instance and removes it"),
    "reinstall": cli.Command(
        reinstall_instance, cli.ARGS_MANY_INSTANCES,
        (OS_OPT, OSPARAMS_OPT, FORCE_VARIANT_OPT, KEEP_OSPARAMS_OPT,
         cli.FORCE_OPT, FORCE_MULTIPLE_OPT, cli.SUBMIT_OPT, *SELECTION_OPTS),
        "[-f] [-o OS[+VARIANT]] [-O param=value,...]"
        " [--keep-known-os-parameters] [--force-multiple]"
        " [--instance|--node|--primary|--secondary|--all|--tags] [--submit]"
        " [name...]", "Reinstall a stopped instance"),
    "rename": cli.Command(
        rename_instance, cli.args_fixed(2, "instance", cli.ARG_INSTANCE),
        (NOIPCHECK_OPT, NONAMECHECK_OPT, cli.SUBMIT_OPT),
        "[--no-ip-check] [--no-name-check] [--submit] instance new_name",
        "Rename the instance"),
}
