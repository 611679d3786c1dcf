"""``gnt-cluster verify``: the instance checks, as Ganeti 2.1's.

What the nodes run comes from the ``node_verify`` fan-out that the node
checks already make (its ``instances`` key: the names each node's
hypervisors list), so the status checks cost no RPC of their own.  The
disk check asks each node that holds disks once, with the existing
``blockdev_getsizes`` call (``None`` for a disk that is not there), all
nodes at the same time.

Checks and their codes (Ganeti's, see :mod:`cluster_verify_report`):

- ``EINSTANCEDOWN``: marked up, not running on its primary node;
- ``EINSTANCEUPWHENDOWN`` (not in Ganeti): marked down, yet running on
  its primary node (``ERROR_up`` in ``gnt-instance list``);
- ``EINSTANCEWRONGNODE``: running on a node other than its primary;
- ``ENODEORPHANINSTANCE``: a node runs an instance the configuration
  does not know;
- ``EINSTANCEMISSINGDISK``: a disk is missing on a node that should
  hold it (file disks: the file on the primary node);
- ``EINSTANCEFAULTYDISK``: a disk of an instance marked up whose status
  the node could not give;
- ``EINSTANCEBADNODE``: the instance lives on an offline node;
- ``EINSTANCELAYOUT`` (warning): more than one secondary node;
- ``ENODERPC``: a node the instance needs did not answer;
- ``ENODEHV``: a node could not list its instances.

Nodes that are offline or did not answer are not judged on what they
run or hold (their failure is reported once, by the node checks).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Final

from ganeti import constants, errors, objects, storage
from ganeti.cmdlib.cluster_verify_report import (
    EINSTANCEBADNODE,
    EINSTANCEDOWN,
    EINSTANCEFAULTYDISK,
    EINSTANCELAYOUT,
    EINSTANCEMISSINGDISK,
    EINSTANCEUPWHENDOWN,
    EINSTANCEWRONGNODE,
    ENODEHV,
    ENODEORPHANINSTANCE,
    ENODERPC,
    Reporter,
)
from ganeti.rpc.result import RpcResult

#: Most nodes asked about their disks at the same time.
DISK_QUERY_WORKERS: Final = 16

#: ``node_verify`` keys: running instance names, or why there are none.
NV_INSTANCES: Final = "instances"
NV_INSTANCES_ERROR: Final = "instances_error"

#: One disk to look for: (instance name, disk index, disk).
DiskRef = tuple[str, int, objects.Disk]
#: Ask one node for the sizes of disks (``blockdev_getsizes``).
SizesCall = Callable[[str, list[dict[str, Any]]], RpcResult]


@dataclasses.dataclass(frozen=True)
class DiskAnswer:
    """What is known of one disk on one node."""

    node: str
    instance: str
    index: int
    disk: objects.Disk
    #: Size in MiB; None: missing on the node; str: why it is unknown.
    outcome: int | str | None


@dataclasses.dataclass
class InstanceView:
    """What the instance checks look at."""

    instances: dict[str, objects.Instance]
    nodes: dict[str, objects.Node]
    #: Online nodes whose ``node_verify`` answer failed.
    unreachable: set[str]
    #: Node -> names of the instances it runs, for every node that
    #: answered with a list.
    running: dict[str, set[str]]
    #: Node -> why it gave no instance list (it answered otherwise).
    list_errors: dict[str, str]
    #: Filled by :func:`gather_disks`.
    disks: list[DiskAnswer] = dataclasses.field(default_factory=list)
    #: Nodes whose disk query failed, with the reason.
    disk_errors: dict[str, str] = dataclasses.field(default_factory=dict)

    def judged(self, node: str) -> bool:
        """Whether the node's state can be judged (online, answered)."""
        info = self.nodes.get(node)
        return (info is not None and not info.offline
                and node not in self.unreachable)


def build_view(data: objects.ConfigData,
               answers: dict[str, dict[str, Any] | None]) -> InstanceView:
    """The view from the configuration and each online node's
    ``node_verify`` payload (None: the call failed)."""
    running: dict[str, set[str]] = {}
    list_errors: dict[str, str] = {}
    for node, info in answers.items():
        if info is None:
            continue
        names = info.get(NV_INSTANCES)
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            running[node] = set(names)
        else:
            list_errors[node] = str(info.get(NV_INSTANCES_ERROR)
                                    or "no instance list in the answer")
    return InstanceView(
        instances=data.instances, nodes=data.nodes,
        unreachable={n for n, info in answers.items() if info is None},
        running=running, list_errors=list_errors)


# --- gathering -------------------------------------------------------------------

def disks_by_node(view: InstanceView) -> dict[str, list[DiskRef]]:
    """Which disks each judged node should hold.  A disk lives on every
    node of its instance (file disks: only the primary node)."""
    wanted: dict[str, list[DiskRef]] = {}
    for name in sorted(view.instances):
        inst = view.instances[name]
        for node in inst.all_nodes:
            if not view.judged(node):
                continue
            for index, disk in enumerate(inst.disks):
                if disk.dev_type == constants.LD_FILE \
                        and node != inst.primary_node:
                    continue
                wanted.setdefault(node, []).append((name, index, disk))
    return wanted


def _driver_problem(dev_type: str, cache: dict[str, str | None]) -> str | None:
    """Why disks of ``dev_type`` cannot be asked about (no driver in
    this build), or None."""
    if dev_type not in cache:
        try:
            storage.get_device_class(dev_type)
            cache[dev_type] = None
        except errors.GenericError as err:
            cache[dev_type] = str(err)
    return cache[dev_type]


def _sizes(res: RpcResult, count: int) -> list[Any] | str:
    """The sizes in a ``blockdev_getsizes`` answer, or why there are none."""
    if res.fail_msg is not None:
        return res.fail_msg
    payload = res.payload
    if not isinstance(payload, list) or len(payload) != count:
        return "invalid answer from the node"
    return payload


def gather_disks(view: InstanceView, sizes: SizesCall) -> None:
    """Ask every node holding disks for their sizes, all nodes at once
    (one call per node).  Disks without a driver in this build are not
    sent; their outcome says why."""
    drivers: dict[str, str | None] = {}
    asked: dict[str, list[DiskRef]] = {}
    for node, refs in disks_by_node(view).items():
        for ref in refs:
            problem = _driver_problem(ref[2].dev_type, drivers)
            if problem is None:
                asked.setdefault(node, []).append(ref)
            else:
                view.disks.append(DiskAnswer(node, *ref, outcome=problem))
    if not asked:
        return

    def ask(node: str) -> RpcResult:
        return sizes(node, [disk.to_dict() for _, _, disk in asked[node]])

    workers = min(len(asked), DISK_QUERY_WORKERS)
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="verify-disks") as pool:
        answers = dict(zip(asked, pool.map(ask, asked), strict=True))
    for node, refs in asked.items():
        found = _sizes(answers[node], len(refs))
        if isinstance(found, str):
            view.disk_errors[node] = found
        for index, ref in enumerate(refs):
            outcome = found if isinstance(found, str) else found[index]
            view.disks.append(DiskAnswer(node, *ref, outcome=outcome))


# --- checks ------------------------------------------------------------------------

def _offline_nodes(view: InstanceView, nodes: Iterable[str]) -> list[str]:
    return [n for n in nodes if n in view.nodes and view.nodes[n].offline]


def check_instance_status(r: Reporter, view: InstanceView) -> None:
    """Up and down, on the right nodes, on nodes that are there."""
    runs_on: dict[str, list[str]] = {}
    for node in sorted(view.running):
        for name in view.running[node]:
            runs_on.setdefault(name, []).append(node)
    for name in sorted(view.instances):
        inst = view.instances[name]
        pnode = inst.primary_node
        offline = _offline_nodes(view, inst.all_nodes)
        r.error_if(bool(offline), EINSTANCEBADNODE, name,
                   f"instance lives on offline node(s) {', '.join(offline)}")
        r.error_if(len(inst.secondary_nodes) > 1, EINSTANCELAYOUT, name,
                   "instance has multiple secondary nodes: "
                   + ", ".join(inst.secondary_nodes), warning=True)
        for node in inst.all_nodes:
            role = "primary" if node == pnode else "secondary"
            r.error_if(node in view.unreachable, ENODERPC, node,
                       f"instance {name}, connection to {role} node failed")
        on_primary = view.running.get(pnode)
        if on_primary is not None and view.judged(pnode):
            r.error_if(inst.admin_up and name not in on_primary,
                       EINSTANCEDOWN, name,
                       f"instance not running on its primary node {pnode}")
            r.error_if(not inst.admin_up and name in on_primary,
                       EINSTANCEUPWHENDOWN, name,
                       f"instance is marked as down but runs on its primary"
                       f" node {pnode}")
        for node in runs_on.get(name, []):
            r.error_if(node != pnode, EINSTANCEWRONGNODE, name,
                       f"instance should not run on node {node}")


def check_orphan_instances(r: Reporter, view: InstanceView) -> None:
    """Instances running on a node but unknown to the configuration;
    nodes that could not say what they run."""
    for node in sorted(view.list_errors):
        r.error(ENODEHV, node, "rpc call to node failed (instancelist): "
                f"{view.list_errors[node]}")
    for node in sorted(view.running):
        for name in sorted(view.running[node]):
            r.error_if(name not in view.instances, ENODEORPHANINSTANCE, node,
                       f"instance {name} on node {node} should not exist")


def disk_label(disk: objects.Disk) -> str:
    """How a disk is named in messages: a file disk by its configured
    path, another by its type (the index follows in the message)."""
    if disk.dev_type == constants.LD_FILE and len(disk.logical_id) > 1:
        return str(disk.logical_id[1])
    return disk.dev_type


def check_instance_disks(r: Reporter, view: InstanceView) -> None:
    """Each disk is on the nodes that should hold it."""
    for node in sorted(view.disk_errors):
        r.error(ENODERPC, node,
                f"while getting disk information: {view.disk_errors[node]}")
    for answer in sorted(view.disks, key=lambda a: (a.instance, a.index,
                                                    a.node)):
        name, outcome = answer.instance, answer.outcome
        where = f"disk/{answer.index} on {answer.node}"
        if isinstance(outcome, str):
            r.error_if(view.instances[name].admin_up, EINSTANCEFAULTYDISK,
                       name, f"couldn't retrieve status for {where}: {outcome}")
            continue
        r.error_if(outcome is None, EINSTANCEMISSINGDISK, name,
                   f"volume {disk_label(answer.disk)} missing on node "
                   f"{answer.node} (disk/{answer.index})")


def non_redundant(view: InstanceView) -> int:
    """Instances without a secondary node (they do not survive the loss
    of their primary)."""
    return sum(1 for inst in view.instances.values()
               if not inst.secondary_nodes)
