"""Instance policy checks of instance add, modify, grow-disk and moves.

An instance's policy is its group's: the group of its primary node, with
the cluster's policy filled in (:meth:`objects.Cluster.fill_ipolicy`).
A violation refuses the operation (``OpPrereqError``, nothing changed)
unless the opcode says ``ignore_ipolicy``; then it is a warning in the
job's log.  Modify and grow-disk refuse only violations the change
brings: an instance that was outside the policy before (the policy
changed since) can still be modified in other ways.  A move to a node
of another group (migrate, failover, a new secondary) is checked against
that group's policy.
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
    _refuse_or_warn(f"Instance {inst.name} violates the instance policy of"
                    f" {where}: {'; '.join(found)}", ignore, feedback)


def _refuse_or_warn(msg: str, ignore: bool, feedback: Feedback) -> None:
    if ignore:
        feedback(f"Warning: {msg} (ignored: --ignore-ipolicy)")
        return
    raise errors.OpPrereqError(f"{msg} (override with --ignore-ipolicy)",
                               errors.ErrorCode.INVAL)


def check_target_policy(cfg: ConfigWriter, inst: objects.Instance,
                        node: str, *, ignore: bool, feedback: Feedback,
                        what: str) -> None:
    """Refuse (or, with ``ignore``, warn about) moving ``inst`` to
    ``node`` (migrate, failover, a new secondary; ``what`` says which, as
    in "migrate instance X to node Y") when the node's group
    is not the instance's and its policy finds violations the current
    group's does not (within one group, nothing changes)."""
    target = cfg.node_group_of(node)
    current = cfg.node_group_of(inst.primary_node)
    if target is None or (current is not None and target.uuid == current.uuid):
        return
    cluster = cfg.get_cluster()
    found = policy_violations(cluster.fill_ipolicy(target), inst, cluster)
    old = set(instance_violations(cfg, inst, cluster))
    found = [v for v in found if v not in old]
    if not found:
        return
    _refuse_or_warn(f"Cannot {what}: instance {inst.name} violates the"
                    f" instance policy of group {target.name}"
                    f" ({target.uuid}): {'; '.join(found)}", ignore, feedback)


__all__ = ["check_instance_policy", "check_target_policy",
           "instance_violations", "policy_violations"]
