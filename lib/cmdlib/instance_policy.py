"""Instance policy checks of instance add, modify and grow-disk.

An instance's policy is its group's: the group of its primary node, with
the cluster's policy filled in (:meth:`objects.Cluster.fill_ipolicy`).
A violation refuses the operation (``OpPrereqError``, nothing changed)
unless the opcode says ``ignore_ipolicy``; then it is a warning in the
job's log.  Modify and grow-disk refuse only violations the change
brings: an instance that was outside the policy before (the policy
changed since) can still be modified in other ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganeti import errors, ipolicy, objects

if TYPE_CHECKING:
    from ganeti.cmdlib.base import Feedback
    from ganeti.config import ConfigWriter

def instance_violations(cfg: ConfigWriter, inst: objects.Instance,
                        cluster: objects.Cluster | None = None) -> list[str]:
    """What is wrong with ``inst`` under its group's policy."""
    cluster = cluster if cluster is not None else cfg.get_cluster()
    group = cfg.node_group_of(inst.primary_node)
    return policy_violations(cluster.fill_ipolicy(group), inst, cluster)


def policy_violations(policy: ipolicy.Policy, inst: objects.Instance,
                      cluster: objects.Cluster) -> list[str]:
    """What is wrong with ``inst`` under the filled ``policy`` (verify
    fills each group's policy once, not once per instance)."""
    be = cluster.filled_beparams(inst)
    return ipolicy.spec_violations(
        policy, mem_size=int(be["maxmem"]),
        cpu_count=int(be["vcpus"]),
        disk_sizes=[d.size for d in inst.disks], nic_count=len(inst.nics),
        spindle_use=int(be["spindle_use"]),
        disk_template=inst.disk_template)


def check_instance_policy(cfg: ConfigWriter, inst: objects.Instance, *,
                          ignore: bool, feedback: Feedback,
                          before: objects.Instance | None = None) -> None:
    """Refuse (or, with ``ignore``, warn about) the violations of
    ``inst``; with ``before``, only those ``before`` did not have."""
    found = instance_violations(cfg, inst)
    if before is not None:
        old = set(instance_violations(cfg, before))
        found = [v for v in found if v not in old]
    if not found:
        return
    group = cfg.node_group_of(inst.primary_node)
    where = (f"group {group.name} ({group.uuid})" if group is not None
             else "the cluster")
    msg = (f"Instance {inst.name} violates the instance policy of {where}: "
           f"{'; '.join(found)}")
    if ignore:
        feedback(f"Warning: {msg} (ignored: --ignore-ipolicy)")
        return
    raise errors.OpPrereqError(f"{msg} (override with --ignore-ipolicy)",
                               errors.ErrorCode.INVAL)


__all__ = ["check_instance_policy", "instance_violations", "policy_violations"]
