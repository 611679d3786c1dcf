"""``gnt-node add`` and ``gnt-node remove``.

Adding a node has two halves.  This command prepares the node: it gives
the node the cluster certificate and the HMAC key and starts its node
daemon, bound to the node's primary IP.  Then it submits ``OpNodeAdd``,
which checks the node over RPC and adds it to the configuration.

How the node is prepared (see gnt-node(8)):

- over SSH as root (Ganeti's way; the default);
- locally, for a node living under another root directory on this
  machine (``--root-dir DIR``): files are copied into ``DIR`` and the
  node daemon is (re)started with ``GANETI_ROOTDIR=DIR``;
- not at all (``--no-node-setup``): the node daemon must already run.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from ganeti import (
    bootstrap,
    cli,
    constants,
    daemonutil,
    errors,
    ht,
    opcodes,
    pathutils,
    ssh,
)
from ganeti.utils import io

EC = errors.ErrorCode


def _join_files(paths: pathutils.Paths) -> list[tuple[str, bytes]]:
    """(attribute, content) of the files a joining node receives."""
    files = []
    for attr in bootstrap.JOIN_FILES:
        path = getattr(paths, attr)
        try:
            files.append((attr, io.read_bytes(path)))
        except errors.GenericError as err:
            raise errors.OpPrereqError(
                f"Cannot read {path} (is this the master node?): {err}",
                EC.ENVIRON) from None
    return files


def write_join_files(root: str, master: pathutils.Paths | None = None
                     ) -> pathutils.Paths:
    """Give the node under ``root`` on this machine the files a joining
    node receives from this node (or the master node at ``master``); its
    daemon is not touched.  Returns the node's paths."""
    root = os.path.abspath(root)
    node_paths = pathutils.Paths(root.rstrip("/"))
    master = master or pathutils.get()
    if node_paths.root == master.root:
        raise errors.OpPrereqError(
            f"--root-dir {root} is this node's own root", EC.INVAL)
    bootstrap.make_dirs(node_paths)
    for attr, data in _join_files(master):
        io.write_file_atomic(getattr(node_paths, attr), data, mode=0o400)
    return node_paths


def prepare_local(name: str, ip: str, root: str) -> None:
    """Set up a node under ``root`` on this machine and (re)start its
    daemon."""
    node_paths = write_join_files(root)
    # A restart, not "start unless running": the daemon still running may
    # be the one of a removal just answered, about to stop itself.
    env = {pathutils.ROOT_ENV: node_paths.root, pathutils.HOSTNAME_ENV: name}
    daemonutil.restart(constants.NODED, ["-b", ip], env=env)
    daemonutil.restart(constants.MOND, ["-b", ip], env=env)


def prepare_ssh(name: str, ip: str, runner: ssh.SshRunner,
                root: str | None) -> None:
    """Set up a node over SSH and (re)start its daemon there.

    The node runs the same installation: the same Python interpreter and
    ``daemon-util`` paths as this node.
    """
    node_paths = pathutils.Paths((root or "").rstrip("/"))
    for attr, data in _join_files(pathutils.get()):
        runner.write_file(ip, getattr(node_paths, attr), data, mode=0o400)
    env = [f"PYTHONPATH={daemonutil.package_parent()}"]
    if root:
        env += [f"{pathutils.ROOT_ENV}={node_paths.root}",
                f"{pathutils.HOSTNAME_ENV}={name}"]
    for name in (constants.NODED, constants.MOND):
        runner.run(ip, ["env", *env, sys.executable,
                        daemonutil.launcher("daemon-util"), "restart",
                        name, "-b", ip])


def add_node(opts: argparse.Namespace, args: list[str]) -> int:
    """Add (or re-add) a node to the cluster."""
    name = args[0]
    for value, option in ((opts.primary_ip, "--primary-ip"),
                          (opts.secondary_ip, "-s/--secondary-ip")):
        if value is not None and not ht.TIPAddress(value):
            raise errors.OpPrereqError(
                f"Invalid IP address '{value}' given with {option}", EC.INVAL)
    ip = opts.primary_ip or bootstrap.resolve(name, "the node name",
                                              "--primary-ip")
    if not opts.no_node_setup:
        if opts.root_dir and not opts.ssh:
            prepare_local(name, ip, opts.root_dir)
        else:
            runner = ssh.SshRunner(
                user=opts.ssh_user, port=opts.ssh_port,
                identity=opts.ssh_identity,
                known_hosts=pathutils.get().known_hosts_file,
                strict_host_key=opts.ssh_key_check)
            prepare_ssh(name, ip, runner, opts.root_dir)
        local = opts.root_dir and not opts.ssh
        bootstrap.wait_for_noded(
            name, ip, paths=pathutils.Paths(os.path.abspath(opts.root_dir))
            if local else None)
    if opts.readd:
        cli.to_stdout(f"Re-adding node {name}")
    op = opcodes.OpNodeAdd(node_name=name, primary_ip=ip,
                           secondary_ip=opts.secondary_ip, readd=opts.readd,
                           group=opts.nodegroup, ndparams=opts.ndparams)
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


def remove_node(opts: argparse.Namespace, args: list[str]) -> int:
    """Remove a node (it must have no instances)."""
    cli.submit_opcode(opcodes.OpNodeRemove(node_name=args[0]), opts=opts)
    return errors.EXIT_SUCCESS


ADD_OPTS: Final = (
    cli.cli_option("-g", "--node-group", dest="nodegroup", default=None,
                   metavar="GROUP",
                   help="Node group of the new node (default: the only "
                   "group)"),
    cli.cli_option("-s", "--secondary-ip", dest="secondary_ip", default=None,
                   metavar="ADDRESS", help="The node's secondary IP"),
    cli.cli_option("--primary-ip", dest="primary_ip", default=None,
                   metavar="ADDRESS",
                   help="The node's primary IP (default: its name resolved)"),
    cli.cli_option("--readd", dest="readd", action="store_true", default=False,
                   help="Re-add a node that is already in the cluster"),
    cli.cli_option("--root-dir", dest="root_dir", default=None,
                   metavar="DIR",
                   help="The node lives under this root directory (local "
                   "mode unless --ssh is given)"),
    cli.cli_option("--ssh", dest="ssh", action="store_true", default=False,
                   help="Prepare the node over SSH even with --root-dir"),
    cli.cli_option("--no-node-setup", dest="no_node_setup",
                   action="store_true", default=False,
                   help="Don't prepare the node; its node daemon already runs"),
    cli.cli_option("--no-ssh-key-check", dest="ssh_key_check",
                   action="store_false", default=True,
                   help="Accept any SSH host key of the node"),
    cli.cli_option("--ssh-user", dest="ssh_user", default="root",
                   metavar="USER", help="SSH login user (default root)"),
    cli.cli_option("--ssh-port", dest="ssh_port", type=int, default=None,
                   metavar="PORT", help="SSH port of the node"),
    cli.cli_option("--ssh-identity", dest="ssh_identity", default=None,
                   metavar="FILE", help="SSH private key to log in with"),
    cli.NODE_PARAMS_OPT,
    cli.SUBMIT_OPT,
)

COMMANDS: Final[dict[str, cli.Command]] = {
    "add": cli.Command(
        add_node, cli.args_fixed(1, "node name", cli.ARG_NODE), ADD_OPTS,
        "[-s <secondary_ip>] [-g <group>] [--readd] [--primary-ip <ip>]"
        " [--node-parameters key=val,...] "
        "[--root-dir <dir> | ssh options] <node_name>",
        "Add a node to the cluster"),
    "remove": cli.Command(
        remove_node, cli.args_fixed(1, "node name", cli.ARG_NODE), (cli.SUBMIT_OPT,),
        "<node_name>", "Remove a node from the cluster"),
}
