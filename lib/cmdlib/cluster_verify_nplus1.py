"""``gnt-cluster verify``: N+1 memory redundancy (Ganeti's ``ENODEN1``).

An instance with a secondary node (a mirrored disk template) is failed
over to that node when its primary fails.  For every node N and every
primary node P of instances whose secondary is N, the memory of those
instances (backend parameter ``maxmem``, only instances with
``auto_balance``) must fit in N's free memory as N reports it; else the
cluster could not survive P's failure::

    ERROR: node node2: not enough memory to accommodate instance
    failovers should node node1 fail (1024 MiB needed, 512 MiB free)

Nodes that are offline are not judged; the free memory is asked only of
the nodes that are some instance's secondary (one ``node_info`` fan-out,
none at all on a cluster without mirrored instances).  The check is
optional: ``--no-nplus1-mem`` (``skip_checks`` ``nplusone_mem``) skips
it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ganeti import objects
from ganeti.cmdlib.cluster_verify_report import ENODEN1, Reporter
from ganeti.rpc.result import RpcResult

#: Secondary node -> primary node -> MiB its instances need there.
FailoverNeeds = dict[str, dict[str, int]]


def failover_needs(data: objects.ConfigData) -> FailoverNeeds:
    """What each secondary node must hold should a primary fail."""
    needs: FailoverNeeds = {}
    for name in sorted(data.instances):
        inst = data.instances[name]
        be = data.cluster.fill_be(inst.beparams)
        if not be.get("auto_balance", True):
            continue
        memory = int(be.get("maxmem", 0))
        for node in inst.secondary_nodes:
            if node == inst.primary_node:
                continue
            per_primary = needs.setdefault(node, {})
            per_primary[inst.primary_node] = \
                per_primary.get(inst.primary_node, 0) + memory
    return needs


def free_memory(res: RpcResult | None) -> int | str:
    """A node's free memory from its ``node_info`` answer, or why it is
    not known."""
    if res is None:
        return "no answer"
    if res.fail_msg is not None:
        return res.fail_msg
    free = res.payload.get("memory_free")
    if isinstance(free, int):
        return free
    return str(res.payload.get("hv_error") or "no free memory reported")


def check(r: Reporter, needs: FailoverNeeds,
          free: Mapping[str, int | str]) -> None:
    """Report every (secondary, primary) pair whose failovers would not
    fit; ``free`` has the judged secondaries only."""
    for node in sorted(free):
        available = free[node]
        if isinstance(available, str):
            r.error(ENODEN1, node, "cannot check N+1 memory redundancy:"
                    f" {available}")
            continue
        for primary, needed in sorted(needs.get(node, {}).items()):
            r.error_if(needed > available, ENODEN1, node,
                       "not enough memory to accommodate instance failovers"
                       f" should node {primary} fail ({needed} MiB needed,"
                       f" {available} MiB free)")
