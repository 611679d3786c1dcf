"""The cluster's life: post-init hooks, destroy, rename.

``gnt-cluster init`` itself runs before any master daemon exists (see
:mod:`ganeti.bootstrap`); once the daemons run it submits
``OpClusterPostInit`` so the ``cluster-init`` post hooks run.  Destroy
tells the other nodes to leave and returns the master's name; the command
then stops the master's daemons and removes its files
(:func:`ganeti.bootstrap.finalize_destroy`).
"""

from __future__ import annotations

import socket

from ganeti import constants, errors, opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.node_membership import rpc_to

EC = errors.ErrorCode


class LUClusterPostInit(LogicalUnit):
    """Runs the ``cluster-init`` post hooks on the master."""

    OP = opcodes.OpClusterPostInit
    HPATH = "cluster-init"
    HTYPE = constants.HTYPE_CLUSTER

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        return ({"OP_TARGET": self.cfg.get_cluster().cluster_name}, [],
                [self.cfg.get_master_node()])

    def execute(self, feedback: Feedback) -> bool:
        return True


class LUClusterDestroy(LogicalUnit):
    """Destroy the cluster: refused while instances exist; every node but
    the master leaves; returns the master's name for the command to
    finish on the master."""

    OP = opcodes.OpClusterDestroy
    HPATH = "cluster-destroy"
    HTYPE = constants.HTYPE_CLUSTER

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        instances = self.cfg.instance_names()
        if instances:
            raise errors.OpPrereqError(
                f"There are still {len(instances)} instance(s) in this "
                f"cluster ({', '.join(instances[:5])}"
                f"{' ...' if len(instances) > 5 else ''}); remove them first",
                EC.STATE)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        return ({"OP_TARGET": self.cfg.get_cluster().cluster_name}, [],
                [self.cfg.get_master_node()])

    def execute(self, feedback: Feedback) -> str:
        master = self.cfg.get_master_node()
        for name in self.cfg.node_names():
            node = self.cfg.get_node(name)
            if node is None or name == master:
                continue
            if node.offline:
                feedback(f"Node {name} is offline; clean it up by hand")
                continue
            client = rpc_to(self.ctx, name, node.primary_ip)
            try:
                res = client.call_node_leave_cluster([name])[name]
            finally:
                client.close()
            if not res.warn_on_fail(feedback, f"Node {name} could not leave"):
                feedback(f"Node {name} left the cluster")
        return str(master)


class LUClusterRename(LogicalUnit):
    """Rename the cluster.  The master IP follows the new name when it
    resolves; when it does not (local clusters), the master IP is kept
    and the operation says so."""

    OP = opcodes.OpClusterRename
    op: opcodes.OpClusterRename
    HPATH = "cluster-rename"
    HTYPE = constants.HTYPE_CLUSTER

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        cluster = self.cfg.get_cluster()
        self.old_name = cluster.cluster_name
        self.old_ip = cluster.master_ip
        self.new_name = self.op.name
        if self.new_name == self.old_name:
            raise errors.OpPrereqError(
                f"The cluster is already called {self.old_name}", EC.INVAL)
        try:
            self.new_ip = socket.gethostbyname(self.new_name)
            self.resolved = True
        except (OSError, UnicodeError):
            self.new_ip = self.old_ip
            self.resolved = False

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        master = self.cfg.get_master_node()
        return ({"OP_TARGET": self.old_name, "NEW_NAME": self.new_name},
                [master], [master])

    def execute(self, feedback: Feedback) -> str:
        if not self.resolved:
            feedback(f"Cannot resolve {self.new_name}; keeping the master IP "
                     f"{self.old_ip}")
        cluster = self.cfg.get_cluster()
        master = cluster.master_node
        ip_moves = self.new_ip != self.old_ip and bool(cluster.master_netdev)
        if ip_moves:
            self.rpc.call_node_stop_master([master], False)[master] \
                .warn_on_fail(feedback, "Deactivating the old master IP")
        cluster.cluster_name = self.new_name
        cluster.master_ip = self.new_ip
        self.cfg.update(cluster)
        if ip_moves:
            # The master's ssconf must name the new IP before it is started.
            from ganeti import ssconf

            values = ssconf.compute_values(self.cfg)
            self.rpc.call_write_ssconf_files([master], values)[master] \
                .warn_on_fail(feedback, "Writing the master's ssconf files")
            self.rpc.call_node_start_master([master], False, False)[master] \
                .warn_on_fail(feedback, "Activating the new master IP")
        return self.new_name
