"""``gnt-cluster modify`` and the cluster tag commands.

``modify`` options (Ganeti's names where Ganeti has the option)::

    -g/--vg-name VG | --no-lvm-storage
    --enabled-hypervisors HV[,HV...]
    -H HV:key=val[,key=val...]          (repeatable)
    -B key=val,...    -N key=val,...
    -D TEMPLATE:key=val,...             (repeatable; disk parameters)
    -C/--candidate-pool-size N
    --uid-pool SPEC | --add-uids SPEC | --remove-uids SPEC
                                        (SPEC: 1000-2000,3000,...)
    --maintain-node-health yes|no
    --add-redist-file PATH[:all|candidates]   (repeatable)
    --remove-redist-file PATH                 (repeatable)

In key/value options ``key=default`` (or ``-key``) removes the cluster's
value so the declared default applies again.  The extra redistributed
files are this project's addition: ``redist-conf`` copies each listed
file to all nodes or to the master candidates only.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes, uidpool
from ganeti.client.ipolicy_opts import IPOLICY_OPTS, ipolicy_changes
from ganeti.client.tags import add_tags, list_tags, read_tags, remove_tags

EC = errors.ErrorCode


def _defaults(values: dict[str, Any]) -> dict[str, Any]:
    """``-key`` (None) means "back to the default"."""
    return {k: (constants.VALUE_DEFAULT if v is None else v)
            for k, v in values.items()}


def _grouped(option: str, items: list[tuple[str, dict[str, Any]]] | None
             ) -> dict[str, dict[str, Any]] | None:
    if not items:
        return None
    result: dict[str, dict[str, Any]] = {}
    for ident, values in items:
        if ident in result:
            raise errors.OpPrereqError(
                f"Option {option} given twice for {ident!r}", EC.INVAL)
        result[ident] = _defaults(values)
    return result


def parse_redist_file(value: str) -> list[str]:
    path, sep, target = value.rpartition(":")
    if not sep or target not in constants.REDIST_TARGETS:
        return [constants.DDM_ADD, value]
    return [constants.DDM_ADD, path, target]


def _uid_option(spec: str | None, option: str) -> list[list[int]] | None:
    """The ranges of a uid option; only ``--uid-pool`` may be empty (it
    then clears the pool)."""
    if spec is None:
        return None
    return uidpool.parse_pool(spec, option,
                              allow_empty=option == "--uid-pool")


def build_opcode(opts: argparse.Namespace) -> opcodes.OpClusterSetParams | None:
    """The opcode of ``gnt-cluster modify``; None when nothing is asked."""
    vg_name = opts.vg_name
    if opts.lvm_storage is False:
        if vg_name is not None:
            raise errors.OpPrereqError(
                "Cannot disable LVM storage while passing a volume group name",
                EC.INVAL)
        vg_name = ""
    hvlist = None
    if opts.enabled_hypervisors is not None:
        hvlist = [hv for hv in opts.enabled_hypervisors.split(",") if hv]
    redist: list[list[str]] = [parse_redist_file(v)
                               for v in opts.add_redist_files]
    redist += [[constants.DDM_REMOVE, path] for path in opts.remove_redist_files]
    health = (None if opts.maintain_node_health is None
              else opts.maintain_node_health == "yes")
    values: dict[str, Any] = {
        "vg_name": vg_name,
        "enabled_hypervisors": hvlist,
        "hvparams": _grouped("-H", opts.hvparams),
        "beparams": _defaults(opts.beparams) if opts.beparams else None,
        "nicparams": _defaults(opts.nicparams) if opts.nicparams else None,
        "ndparams": opts.ndparams or None,
        "diskparams": _grouped("-D", opts.diskparams),
        "candidate_pool_size": opts.candidate_pool_size,
        "uid_pool": _uid_option(opts.uid_pool, "--uid-pool"),
        "add_uids": _uid_option(opts.add_uids, "--add-uids"),
        "remove_uids": _uid_option(opts.remove_uids, "--remove-uids"),
        "maintain_node_health": health,
        "default_iallocator": opts.default_iallocator,
        "redist_files": redist or None,
        "ipolicy": ipolicy_changes(opts, group=False) or None,
    }
    if all(v is None for v in values.values()):
        return None
    op = opcodes.OpClusterSetParams(**{k: v for k, v in values.items()
                                       if v is not None})
    op.validate_all()
    return op


def modify_cluster(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-cluster modify``."""
    op = build_opcode(opts)
    if op is None:
        cli.to_stderr("Please give at least one of the parameters.")
        return errors.EXIT_FAILURE
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


def cluster_list_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return list_tags(constants.TAG_CLUSTER, None, opts)


def cluster_add_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return add_tags(constants.TAG_CLUSTER, None, read_tags(opts, args), opts)


def cluster_remove_tags(opts: argparse.Namespace, args: list[str]) -> int:
    return remove_tags(constants.TAG_CLUSTER, None, read_tags(opts, args),
                       opts)


def search_tags(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-cluster search-tags PATTERN``: ``path tag`` lines; exit 1
    when nothing matches."""
    found = cli.submit_opcode(opcodes.OpTagsSearch(pattern=args[0]), opts=opts)
    if not found:
        return errors.EXIT_FAILURE
    for path, tag in sorted(found):
        cli.to_stdout(f"{path} {tag}")
    return errors.EXIT_SUCCESS


_MODIFY_OPTS: Final = (
    cli.SUBMIT_OPT,
    cli.cli_option("-g", "--vg-name", dest="vg_name", default=None,
                   metavar="VG", help="Volume group for instance disks"),
    cli.cli_option("--no-lvm-storage", dest="lvm_storage",
                   action="store_false", default=None,
                   help="Disable support for LVM storage"),
    cli.cli_option("--enabled-hypervisors", dest="enabled_hypervisors",
                   default=None, metavar="HV[,HV...]",
                   help="Comma-separated list of enabled hypervisors; the"
                   " first is the default"),
    cli.cli_option("-H", "--hypervisor-parameters", dest="hvparams",
                   action="append", default=[],
                   type=cli.ident_keyval("-H"), metavar="HV:key=val,...",
                   help="Hypervisor parameter defaults (repeatable)"),
    cli.cli_option("-B", "--backend-parameters", dest="beparams",
                   type=cli.keyval("-B"), default=None,
                   metavar="key=val,...", help="Backend parameter defaults"),
    cli.NODE_PARAMS_OPT,
    cli.cli_option("-N", "--nic-parameters", dest="nicparams",
                   type=cli.keyval("-N"), default=None,
                   metavar="key=val,...", help="NIC parameter defaults"),
    cli.cli_option("-D", "--disk-parameters", dest="diskparams",
                   action="append", default=[],
                   type=cli.ident_keyval("-D"),
                   metavar="TEMPLATE:key=val,...",
                   help="Disk parameter defaults of a disk template"
                   " (repeatable)"),
    cli.cli_option("-C", "--candidate-pool-size", dest="candidate_pool_size",
                   type=int, default=None, metavar="N",
                   help="Number of master candidates to maintain"),
    cli.cli_option("--uid-pool", dest="uid_pool", default=None,
                   metavar="SPEC", help="Replace the user-id pool"),
    cli.cli_option("--add-uids", dest="add_uids", default=None,
                   metavar="SPEC", help="Add user-id ranges to the pool"),
    cli.cli_option("--remove-uids", dest="remove_uids", default=None,
                   metavar="SPEC", help="Remove user-id ranges from the pool"),
    cli.cli_option("--default-iallocator", dest="default_iallocator",
                   default=None, metavar="NAME",
                   help="Iallocator used when neither -n nor -I is given"
                   " (\"\": none)"),
    cli.cli_option("--maintain-node-health", dest="maintain_node_health",
                   default=None, choices=("yes", "no"), metavar="yes|no",
                   help="Let the watcher shut down instances and DRBD on"
                   " nodes marked offline"),
    cli.cli_option("--add-redist-file", dest="add_redist_files",
                   action="append", default=[],
                   metavar="PATH[:all|candidates]",
                   help="Extra file redist-conf copies to all nodes or to"
                   " the master candidates (repeatable)"),
    cli.cli_option("--remove-redist-file", dest="remove_redist_files",
                   action="append", default=[], metavar="PATH",
                   help="Stop redistributing this file (repeatable)"),
    *IPOLICY_OPTS,
)

COMMANDS: Final[dict[str, cli.Command]] = {
    "modify": cli.Command(
        modify_cluster, cli.ARGS_NONE, _MODIFY_OPTS,
        "[options...]", "Alters the parameters of the cluster"),
    "list-tags": cli.Command(
        cluster_list_tags, cli.ARGS_NONE, (cli.PRIORITY_OPT,), "",
        "List the tags of the cluster"),
    "add-tags": cli.Command(
        cluster_add_tags, cli.ARGS_ANY, (cli.TAG_SRC_OPT, cli.SUBMIT_OPT),
        "[--from FILE] tag...", "Add tags to the cluster"),
    "remove-tags": cli.Command(
        cluster_remove_tags, cli.ARGS_ANY, (cli.TAG_SRC_OPT, cli.SUBMIT_OPT),
        "[--from FILE] tag...", "Remove tags from the cluster"),
    "search-tags": cli.Command(
        search_tags, cli.args_fixed(1, "pattern"), (cli.PRIORITY_OPT,), "pattern",
        "Searches the tags on all objects in the cluster for a given"
        " pattern (regular expression)"),
}
