"""``gnt-cluster`` init, destroy, rename and master-failover.

See gnt-cluster(8) (``doc/man/gnt-cluster.rst``) and
``doc/design/bootstrap.rst``.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import bootstrap, cli, constants, errors, opcodes, pathutils, uidpool
from ganeti.client.ipolicy_opts import IPOLICY_OPTS, ipolicy_changes

EC = errors.ErrorCode


def _feedback(message: str) -> None:
    cli.to_stdout(message)


def _merge_ident(values: list[tuple[str, dict[str, Any]]] | None,
                 option: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for ident, params in values or []:
        if ident in merged:
            raise errors.OpPrereqError(f"{option} given twice for '{ident}'",
                                       EC.INVAL)
        merged[ident] = params
    return merged


def init_cluster(opts: argparse.Namespace, args: list[str]) -> int:
    """Create the cluster with this node as its master."""
    if opts.no_lvm_storage and opts.vg_name:
        raise errors.OpPrereqError(
            "Options --no-lvm-storage and -g/--vg-name are incompatible",
            EC.INVAL)
    hvs = [h.strip() for h in (opts.enabled_hypervisors or "").split(",")
           if h.strip()] or list(constants.DEFAULT_ENABLED_HYPERVISORS)
    params = bootstrap.InitParams(
        cluster_name=args[0],
        master_name=pathutils.hostname(),
        primary_ip=opts.primary_ip,
        secondary_ip=opts.secondary_ip,
        master_ip=opts.master_ip,
        master_netdev=opts.master_netdev or "",
        enabled_hypervisors=hvs,
        hvparams=_merge_ident(opts.hvparams, "-H"),
        beparams=opts.beparams or {},
        nicparams=opts.nicparams or {},
        ndparams=opts.ndparams or {},
        diskparams=_merge_ident(opts.diskparams, "-D"),
        file_storage_dir=(opts.file_storage_dir
                          or pathutils.CONFIGURED_FILE_STORAGE_DIR),
        modify_etc_hosts=opts.modify_etc_hosts,
        modify_ssh_setup=opts.modify_ssh_setup,
        candidate_pool_size=opts.candidate_pool_size,
        vg_name=None if opts.no_lvm_storage else (opts.vg_name
                                                  or constants.DEFAULT_VG),
        mac_prefix=opts.mac_prefix,
        maintain_node_health=opts.maintain_node_health == "yes",
        default_iallocator=opts.default_iallocator,
        uid_pool=(uidpool.parse_pool(opts.uid_pool, "--uid-pool")
                  if opts.uid_pool else []),
        ipolicy=ipolicy_changes(opts, group=False))
    bootstrap.init_cluster(params, _feedback)
    cli.submit_opcode(opcodes.OpClusterPostInit())
    return errors.EXIT_SUCCESS


def destroy_cluster(opts: argparse.Namespace, args: list[str]) -> int:
    """Destroy the cluster (irreversible): nodes leave, the master's
    daemons stop, its files are removed."""
    if not opts.yes_do_it:
        cli.to_stderr("Destroying a cluster is irreversible. If you really "
                      "want to destroy this cluster, supply the --yes-do-it "
                      "option.")
        return errors.EXIT_FAILURE
    master = cli.submit_opcode(opcodes.OpClusterDestroy())
    me = pathutils.hostname()
    if master != me:
        raise errors.NotMasterError(
            f"The master is {master}, this is {me}: run the command on the "
            "master")
    bootstrap.finalize_destroy(_feedback)
    return errors.EXIT_SUCCESS


def rename_cluster(opts: argparse.Namespace, args: list[str]) -> int:
    """Give the cluster a new name."""
    new_name = args[0]
    if not opts.force:
        question = (f"Rename the cluster to '{new_name}'? When the new name "
                    "resolves to another address, the master IP moves and "
                    "connections to the old one are cut. Continue?")
        if not cli.confirm(question):
            cli.to_stderr("Not renaming the cluster (confirm with -f)")
            return errors.EXIT_CONFIRMATION
    cli.submit_opcode(opcodes.OpClusterRename(name=new_name), opts=opts)
    return errors.EXIT_SUCCESS


def master_failover(opts: argparse.Namespace, args: list[str]) -> int:
    """Make this node (a master candidate) the master."""
    if opts.no_voting and not opts.yes_do_it and not cli.confirm(
            "Failing over without voting ignores what the other master "
            "candidates believe: if this node's configuration is outdated, "
            "the cluster ends up inconsistent. Continue?"):
        cli.to_stderr("Not failing over (confirm --no-voting with "
                      "--yes-do-it)")
        return errors.EXIT_CONFIRMATION
    old = bootstrap.master_failover(opts.no_voting, _feedback)
    _feedback(f"Master role moved from {old} to {pathutils.hostname()}")
    return errors.EXIT_SUCCESS


YES_DOIT_OPT: Final = cli.cli_option(
    "--yes-do-it", dest="yes_do_it", action="store_true", default=False,
    help="Destroy cluster (or confirm --no-voting)")

INIT_OPTS: Final = (
    cli.cli_option("-s", "--secondary-ip", dest="secondary_ip", default=None,
                   metavar="ADDRESS",
                   help="The secondary (replication) IP of this node"),
    cli.cli_option("--primary-ip", dest="primary_ip", default=None,
                   metavar="ADDRESS",
                   help="This node's primary IP (default: its name resolved)"),
    cli.cli_option("--master-ip", dest="master_ip", default=None,
                   metavar="ADDRESS",
                   help="The cluster (master) IP (default: the cluster name "
                   "resolved)"),
    cli.cli_option("--master-netdev", dest="master_netdev", default=None,
                   metavar="NETDEV",
                   help="Interface carrying the master IP (none: the master "
                   "IP is not activated)"),
    cli.cli_option("-g", "--vg-name", dest="vg_name", default=None,
                   metavar="VG", help="LVM volume group (default xenvg)"),
    cli.cli_option("--no-lvm-storage", dest="no_lvm_storage",
                   action="store_true", default=False,
                   help="No LVM storage on this cluster"),
    cli.cli_option("-m", "--mac-prefix", dest="mac_prefix",
                   default=constants.DEFAULT_MAC_PREFIX, metavar="PREFIX",
                   help="First three octets of generated MAC addresses"),
    cli.cli_option("--no-etc-hosts", dest="modify_etc_hosts",
                   action="store_false", default=True,
                   help="Don't modify /etc/hosts"),
    cli.cli_option("--no-ssh-init", dest="modify_ssh_setup",
                   action="store_false", default=True,
                   help="Don't initialise SSH keys"),
    cli.cli_option("--file-storage-dir", dest="file_storage_dir",
                   default=None, metavar="DIR",
                   help="Directory of file-based disks"),
    cli.cli_option("--enabled-hypervisors", dest="enabled_hypervisors",
                   default=None, metavar="HYPERVISORS",
                   help="Comma-separated hypervisors (the first is the "
                   "default)"),
    cli.cli_option("-H", "--hypervisor-parameters", dest="hvparams",
                   action="append", type=cli.ident_keyval("-H"),
                   default=None, metavar="HV:key=val,...",
                   help="Hypervisor parameters (may be repeated)"),
    cli.cli_option("-B", "--backend-parameters", dest="beparams",
                   type=cli.keyval("-B"), default=None,
                   metavar="key=val,...", help="Backend parameters"),
    cli.NODE_PARAMS_OPT,
    cli.cli_option("-N", "--nic-parameters", dest="nicparams",
                   type=cli.keyval("-N"), default=None,
                   metavar="key=val,...", help="NIC parameters"),
    cli.cli_option("-D", "--disk-parameters", dest="diskparams",
                   action="append", type=cli.ident_keyval("-D"),
                   default=None, metavar="TEMPLATE:key=val,...",
                   help="Disk parameters per template (may be repeated)"),
    cli.cli_option("-C", "--candidate-pool-size", dest="candidate_pool_size",
                   type=int, default=constants.DEFAULT_CANDIDATE_POOL_SIZE,
                   metavar="SIZE", help="Number of master candidates"),
    cli.cli_option("--default-iallocator", dest="default_iallocator",
                   default="", metavar="NAME",
                   help="Iallocator used when neither -n nor -I is given"),
    cli.cli_option("--maintain-node-health", dest="maintain_node_health",
                   choices=("yes", "no"), default="no",
                   help="Let the watcher keep nodes healthy"),
    cli.cli_option("--uid-pool", dest="uid_pool", default=None,
                   metavar="RANGES",
                   help="User-id ranges (e.g. 1000-1999,2500)"),
    *IPOLICY_OPTS,
)

_FAILOVER: Final = cli.Command(
    master_failover, cli.ARGS_NONE,
    (cli.cli_option("--no-voting", dest="no_voting", action="store_true",
                    default=False,
                    help="Skip asking the master candidates (dangerous)"),
     YES_DOIT_OPT),
    "[--no-voting [--yes-do-it]]",
    "Make this master candidate the master node")

COMMANDS: Final[dict[str, cli.Command]] = {
    "init": cli.Command(
        init_cluster, cli.args_fixed(1, "cluster name"), INIT_OPTS,
        "[options...] <cluster_name>",
        "Initialise a new cluster with this node as its master"),
    "destroy": cli.Command(
        destroy_cluster, cli.ARGS_NONE, (YES_DOIT_OPT,), "--yes-do-it",
        "Destroy the cluster"),
    "rename": cli.Command(
        rename_cluster, cli.args_fixed(1, "new name"),
        (cli.FORCE_OPT, cli.SUBMIT_OPT), "[-f] <new_name>",
        "Rename the cluster"),
    "master-failover": _FAILOVER,
    "masterfailover": _FAILOVER,
}
