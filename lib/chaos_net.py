"""A node behind a link the fault harness can cut (tools/chaos).

The local cluster's nodes share this machine's loopback, where no link
can fail.  :class:`Partitionable` makes one more node whose daemon runs
in a network namespace of its own, joined to this namespace by a veth
pair on a /30 of ``198.51.100.0/24`` (chosen from the harness's pid, so
parallel runs do not collide): :meth:`cut` takes the namespace's end of
the link down (the master's calls then fail with "no route to host"
after the neighbour entry expires, as across a broken network), and
:meth:`heal` brings it up again.  Needs root and the ``ip`` tool;
:func:`available` says whether both are there.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ganeti import bootstrap, constants, daemonutil, errors
from ganeti.localcluster import LocalCluster, LocalNode
from ganeti.localcluster_env import prepare_node

#: The link's device name inside the namespace.
NODE_IF = "gnt0"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True,
                         check=False, timeout=30)
    if check and res.returncode != 0:
        raise errors.OpExecError(f"ip {' '.join(args)}: {res.stderr.strip()}",
                                 errors.ErrorCode.ENVIRON)
    return res


def available() -> bool:
    """Whether this process can make network namespaces."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


class Partitionable:
    """One node of ``lc`` (index ``count + 1``, not yet in the cluster)
    whose node daemon runs in its own network namespace."""

    def __init__(self, lc: LocalCluster) -> None:
        pid = os.getpid()
        base = 4 * (pid % 64)
        self.lc = lc
        self.netns = f"gnt-chaos-{pid}"
        self.host_if = f"gch{pid}"[:15]
        self.host_ip = f"198.51.100.{base + 1}"
        index = lc.count + 1
        self.node = LocalNode(index, f"node{index}.{lc.domain}",
                              f"198.51.100.{base + 2}",
                              os.path.join(lc.directory, f"node{index}"))
        self._made = False

    @property
    def wrapper(self) -> list[str]:
        """The command prefix running a program in the namespace."""
        return ["ip", "netns", "exec", self.netns]

    def create(self) -> None:
        _ip("netns", "add", self.netns)
        self._made = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name",
            NODE_IF, "netns", self.netns)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.node.ip}/30", "dev",
            NODE_IF)
        _ip("-n", self.netns, "link", "set", "lo", "up")
        _ip("-n", self.netns, "link", "set", NODE_IF, "up")
        os.makedirs(self.node.root, exist_ok=True)
        prepare_node(self.node.root, self.lc.hypervisor)

    def start_daemon(self) -> None:
        """Give the node the cluster's join files and (re)start its node
        daemon inside the namespace."""
        from ganeti.client.node_add import write_join_files

        write_join_files(self.node.root, self.lc.master().paths)
        daemonutil.stop(constants.NODED, self.node.paths)
        daemonutil.start(constants.NODED, ["-b", self.node.ip],
                         env=self.lc.env(self.node), wrapper=self.wrapper)
        bootstrap.wait_for_noded(self.node.name, self.node.ip,
                                 cert_file=self.node.paths.noded_cert_file,
                                 paths=self.node.paths)

    def cut(self) -> None:
        _ip("-n", self.netns, "link", "set", NODE_IF, "down")

    def heal(self) -> None:
        _ip("-n", self.netns, "link", "set", NODE_IF, "up")

    def delete(self) -> None:
        """Stop the node's daemons (the node daemon, and the confd and
        mond it got as a member), remove the link and the namespace."""
        for name in (constants.CONFD, constants.MOND, constants.NODED):
            daemonutil.stop(name, self.node.paths)
        if self._made:
            _ip("link", "del", self.host_if, check=False)
            _ip("netns", "delete", self.netns, check=False)
            self._made = False
