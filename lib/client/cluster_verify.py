"""``gnt-cluster`` verify, redist-conf, copyfile and command.

See gnt-cluster(8) (``doc/man/gnt-cluster.rst``).  ``verify`` and ``redist-conf``
submit jobs; ``copyfile`` and ``command`` talk to the node daemons
directly from the master node (Ganeti uses ssh for them): the caller must
be root on the master, since the RPC presents the cluster certificate
(``server.pem``, readable only by root).  Nodes and their addresses come
from the local ssconf files, so no master daemon is needed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Final

from ganeti import cli, errors, opcodes, pathutils, redist, ssconf
from ganeti.rpc.client import RpcClient
from ganeti.rpc.transport import HttpsTransport

EC = errors.ErrorCode

ERROR_CODES_OPT: Final = cli.cli_option(
    "--error-codes", dest="error_codes", action="store_true", default=False,
    help="Report problems as machine-parseable ftype:ecode:etype:item:msg")
IGNORE_ERRORS_OPT: Final = cli.cli_option(
    "--ignore-errors", dest="ignore_errors", action="append", default=[],
    metavar="ERROR_CODE",
    help="Report this error code (e.g. ENODEHV) as a warning; repeatable")
SKIP_CHECK_OPT: Final = cli.cli_option(
    "-I", "--skip-check", dest="skip_checks", action="append", default=[],
    metavar="CHECK", help="Skip an optional check (nplusone_mem)")
NO_NPLUS1_OPT: Final = cli.cli_option(
    "--no-nplus1-mem", dest="skip_nplusone_mem", action="store_true",
    default=False, help="Skip the N+1 memory redundancy check")
SIMULATE_OPT: Final = cli.cli_option(
    "--debug-simulate-errors", dest="simulate_errors", action="store_true",
    default=False, help="Report every check as failed (tests reporting)")
REPL_NET_OPT: Final = cli.cli_option(
    "--use-replication-network", dest="use_replication_network",
    action="store_true", default=False,
    help="Send the file over the secondary (replication) network")

#: Output kept per node in ``command`` answers is bounded by the node.
COMMAND_TIMEOUT: Final = 3600.0


def verify(opts: argparse.Namespace, args: list[str]) -> int:
    """Verify the cluster; exit 1 when an error was found (warnings, and
    errors demoted by ``--ignore-errors``, do not count)."""
    skip = list(opts.skip_checks)
    if opts.skip_nplusone_mem:
        skip.append("nplusone_mem")
    op = opcodes.OpClusterVerify(
        skip_checks=sorted(set(skip)), verbose=opts.verbose,
        error_codes=opts.error_codes,
        ignore_errors=sorted(set(opts.ignore_errors)),
        debug_simulate_errors=opts.simulate_errors)
    ok = cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS if ok else errors.EXIT_FAILURE


def redist_conf(opts: argparse.Namespace, args: list[str]) -> int:
    """Push the configuration and the ancillary files to every node."""
    cli.submit_opcode(opcodes.OpClusterRedistConf(), opts=opts)
    return errors.EXIT_SUCCESS


@dataclasses.dataclass
class _Node:
    name: str
    primary_ip: str
    offline: bool = False


def _cluster_nodes(use_secondary: bool = False) -> tuple[str, list[_Node]]:
    """The master's name and every online node, from ssconf; only the
    master may run these commands (it holds the cluster certificate)."""
    store = ssconf.SimpleStore()
    master = store.get_master_node()
    me = pathutils.hostname()
    if master != me:
        raise errors.NotMasterError(
            f"This command must be run on the master node ({master}); this "
            f"is {me}")
    ips = (store.get_node_secondary_ips() if use_secondary
           else store.get_node_primary_ips())
    offline = set(store.get_offline_nodes())
    nodes = [_Node(name, ips.get(name, ""), name in offline)
             for name in store.get_node_list()]
    return master, nodes


def _select(nodes: list[_Node], wanted: list[str]) -> list[_Node]:
    if not wanted:
        return [n for n in nodes if not n.offline]
    by_name = {n.name: n for n in nodes}
    chosen = []
    for name in wanted:
        full = by_name.get(name) or next(
            (n for n in nodes if n.name.split(".")[0] == name), None)
        if full is None:
            raise errors.OpPrereqError(f"Node '{name}' not known",
                                       EC.NOENT)
        chosen.append(full)
    return chosen


def _client(nodes: list[_Node]) -> tuple[RpcClient, HttpsTransport]:
    transport = HttpsTransport(pathutils.get().noded_cert_file)
    by_name = {n.name: n for n in nodes}
    return RpcClient(by_name.get, transport), transport


def copy_file(opts: argparse.Namespace, args: list[str]) -> int:
    """Copy a file of this node to the same path on other nodes."""
    filename = args[0]
    if not os.path.isabs(filename):
        filename = os.path.abspath(filename)
    if not os.path.isfile(filename):
        raise errors.OpPrereqError(f"No such regular file '{args[0]}'",
                                   EC.NOENT)
    paths = pathutils.get()
    configured = paths.unroot(filename)
    master, nodes = _cluster_nodes(opts.use_replication_network)
    targets = [n for n in _select(nodes, opts.nodes) if n.name != master]
    if not targets:
        return errors.EXIT_SUCCESS
    local = redist.read_local(configured)
    if local is None:
        raise errors.OpPrereqError(f"No such regular file '{args[0]}'",
                                   EC.NOENT)
    rpc, transport = _client(nodes)
    try:
        results = rpc.call_copyfile([n.name for n in targets], *local.args())
    finally:
        rpc.close()
        transport.close()
    failed = 0
    for name, res in results.items():
        if res.fail_msg:
            failed += 1
            cli.to_stderr(f"Copy of file {configured} to node {name} "
                          f"failed: {res.fail_msg}")
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


def run_command(opts: argparse.Namespace, args: list[str]) -> int:
    """Run a program (no shell) on all or some nodes; master last."""
    master, nodes = _cluster_nodes()
    targets = _select(nodes, opts.nodes)
    order = ([n.name for n in targets if n.name != master]
             + [n.name for n in targets if n.name == master])
    rpc, transport = _client(nodes)
    try:
        results = rpc.call_run_command(order, list(args), COMMAND_TIMEOUT)
    finally:
        rpc.close()
        transport.close()
    failed = False
    for name in order:
        res = results[name]
        cli.to_stdout("-" * 40)
        cli.to_stdout(f"node: {name}")
        if res.fail_msg:
            failed = True
            cli.to_stdout(f"failed: {res.fail_msg}")
            continue
        answer = res.payload
        output = str(answer.get("output", ""))
        if output:
            cli.to_stdout(output.rstrip("\n"))
        code = answer.get("exit_code")
        if code is None:
            failed = True
            cli.to_stdout(f"command failed: {answer.get('fail_reason')}")
        else:
            failed = failed or code != 0
            cli.to_stdout(f"return code = {code}")
    return errors.EXIT_FAILURE if failed else errors.EXIT_SUCCESS


def repair_disk_sizes(opts: argparse.Namespace, args: list[str]) -> int:
    """``gnt-cluster repair-disk-sizes [instance...]``."""
    changed = cli.submit_opcode(
        opcodes.OpClusterRepairDiskSizes(instances=list(args)), opts=opts)
    if not changed:
        cli.to_stdout("All recorded disk sizes are correct")
    return errors.EXIT_SUCCESS


COMMANDS: Final[dict[str, cli.Command]] = {
    "repair-disk-sizes": cli.Command(
        repair_disk_sizes, cli.ARGS_MANY_INSTANCES, [cli.SUBMIT_OPT],
        "[--submit] [instance...]",
        "Updates the recorded sizes of the disks from the nodes' actual"
        " ones"),
    "verify": cli.Command(
        verify, cli.ARGS_NONE,
        [cli.VERBOSE_OPT, ERROR_CODES_OPT, IGNORE_ERRORS_OPT, SKIP_CHECK_OPT,
         NO_NPLUS1_OPT, SIMULATE_OPT, cli.PRIORITY_OPT],
        "[--error-codes] [--ignore-errors ECODE] [-v] [-I CHECK]"
        " [--no-nplus1-mem]",
        "Does a check on the cluster configuration"),
    "redist-conf": cli.Command(
        redist_conf, cli.ARGS_NONE, [cli.SUBMIT_OPT], "[--submit]",
        "Forces a push of the configuration file and ssconf files to the"
        " nodes in the cluster"),
    "copyfile": cli.Command(
        copy_file, cli.args_fixed(1, "file"),
        [cli.NODE_LIST_OPT, REPL_NET_OPT],
        "[-n node...] [--use-replication-network] <file>",
        "Copies a file to all (or only some) nodes"),
    "command": cli.Command(
        run_command, cli.args_atleast(1, "command", cli.ARG_COMMAND),
        [cli.NODE_LIST_OPT],
        "[-n node...] <command> [argument...]",
        "Runs a command on all (or only some) nodes"),
}
