"""``gnt-cluster redist-conf`` (and RAPI ``PUT /2/redistribute-config``).

Pushes the ssconf values, ``config.data`` and every other distributed file
(``ganeti.redist.compute_file_list``) to the nodes that get them, and
the job queue is left to its replicator.  Failures are reported per node
and do not fail the operation: the command is the repair tool, so it
does all it can and says what it could not.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, opcodes, redist, replication
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, LogicalUnit


class LUClusterRedistConf(LogicalUnit):
    """Push the configuration and the ancillary files to every node."""

    OP = opcodes.OpClusterRedistConf
    HPATH = "cluster-redist-conf"
    HTYPE = constants.HTYPE_CLUSTER

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True, node=ALL, node_shared=True)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env: dict[str, object] = {
            "OP_TARGET": self.cfg.get_cluster().cluster_name}
        master = [self.cfg.get_master_node()]
        return env, master, [n.name for n in self.cfg.get_online_nodes()]

    def execute(self, feedback: Feedback) -> Any:
        # A background push of an older config.data must not land after
        # ours: let pending replication finish first.
        replication.flush_all(self.cfg)
        results = redist.distribute_files(self.ctx, feedback=feedback)
        for name in sorted(results):
            res = results[name]
            if res.skipped:
                feedback(f"Node {name} skipped: {res.skipped}")
        return None
