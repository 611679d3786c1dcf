"""Tag opcodes, and the test opcodes of ``gnt-debug``."""

from __future__ import annotations

from typing import Any

from ganeti import constants, ht
from ganeti.opcodes.base import (
    OpCode,
    TDiskSpecList,
    TDiskTemplate,
    TDuration,
    TGroupName,
    THypervisor,
    TIallocatorName,
    TName,
    TNameList,
    TNicSpecList,
    TOsName,
    TRegexPattern,
    TTagKind,
    TTagList,
)
from ganeti.records import field

_DOC_TAG_NAME = "Node or instance name (None for the cluster)"


def _check_target(op: OpCode, kind: str, name: str | None) -> None:
    """Node, group and instance tags need the object's name; a node's or
    an instance's is a host name."""
    if kind != constants.TAG_CLUSTER and name is None:
        op.reject("name", f"the name of the {kind} is required")
    if kind not in (constants.TAG_CLUSTER, constants.TAG_NODEGROUP) and \
            name is not None and not TName(name):
        op.reject("name", f"expected a host name for a {kind}, got "
                          f"{name!r:.60}")


class OpTagsGet(OpCode):
    """The tags of the cluster, a node or an instance."""

    SUMMARY_FIELD = "name"

    kind: str = field(check=TTagKind, doc="Kind of object")
    name: str | None = field(default=None, check=TGroupName,
                             doc=_DOC_TAG_NAME)


    def check_consistency(self) -> None:
        _check_target(self, self.kind, self.name)

class OpTagsSearch(OpCode):
    """Find all tags matching a regular expression, and where they are."""

    SUMMARY_FIELD = "pattern"

    pattern: str = field(check=TRegexPattern, doc="Regular expression")


class OpTagsSet(OpCode):
    """Add tags to the cluster, a node or an instance."""

    SUMMARY_FIELD = "name"

    kind: str = field(check=TTagKind, doc="Kind of object")
    name: str | None = field(default=None, check=TGroupName,
                             doc=_DOC_TAG_NAME)
    tags: list[str] = field(check=TTagList, doc="Tags to add")


    def check_consistency(self) -> None:
        _check_target(self, self.kind, self.name)

class OpTagsDel(OpCode):
    """Remove tags from the cluster, a node or an instance."""

    SUMMARY_FIELD = "name"

    kind: str = field(check=TTagKind, doc="Kind of object")
    name: str | None = field(default=None, check=TGroupName,
                             doc=_DOC_TAG_NAME)
    tags: list[str] = field(check=TTagList, doc="Tags to remove")


    def check_consistency(self) -> None:
        _check_target(self, self.kind, self.name)

class OpTestDelay(OpCode):
    """Sleep on the master and/or nodes (``gnt-debug delay``).

    Exercises the job queue and the locks: with ``no_locks`` false the
    opcode holds the locks of ``on_nodes`` exclusively while it sleeps (the
    cluster lock shared), or the cluster lock exclusively when no nodes
    are named.
    """

    OP_ID = "OP_TEST_DELAY"
    SUMMARY_FIELD = "duration"

    duration: float = field(check=TDuration, doc="Seconds to sleep")
    on_master: bool = field(default=True, check=ht.TBool,
                            doc="Sleep on the master")
    on_nodes: list[str] = field(default=[], check=TNameList,
                                doc="Nodes to sleep on (after the master)")
    repeat: int = field(default=0,
                        check=ht.TRange(0, constants.MAX_TEST_REPEAT),
                        doc="Repeat the sleep this many more times")
    no_locks: bool = field(
        default=True, check=ht.TBool,
        doc="Take no locks (false: the locks of on_nodes, or the cluster "
            "lock exclusively when no nodes are named)")


class OpTestAllocator(OpCode):
    """Build an iallocator request, or run an iallocator on it."""

    SUMMARY_FIELD = "allocator"

    direction: str = field(
        check=ht.TElemOf(constants.VALID_IALLOCATOR_DIRECTIONS),
        doc="in: return the request; out: run the allocator on it")
    mode: str = field(check=ht.TElemOf(constants.VALID_IALLOCATOR_MODES),
                      doc="Kind of request")
    name: str = field(check=TName,
                      doc="Instance to allocate or relocate")
    allocator: str | None = field(default=None, check=TIallocatorName,
                                  doc="Iallocator to run (direction out)")
    mem_size: int | None = field(default=None,
                                 check=ht.TRange(0, constants.MAX_MEMORY_MIB),
                                 doc="Memory in MiB (allocate)")
    vcpus: int | None = field(default=None,
                              check=ht.TRange(1, constants.MAX_VCPUS),
                              doc="Virtual CPUs (allocate)")
    disks: list[dict[str, Any]] | None = field(
        default=None, check=TDiskSpecList, doc="Disks (allocate)")
    disk_template: str | None = field(default=None, check=TDiskTemplate,
                                      doc="Disk template (allocate)")
    os: str | None = field(default=None, check=TOsName, doc="OS (allocate)")
    tags: list[str] | None = field(default=None, check=TTagList,
                                   doc="Instance tags (allocate)")
    nics: list[dict[str, Any]] | None = field(
        default=None, check=TNicSpecList, doc="NICs (allocate)")
    hypervisor: str | None = field(default=None, check=THypervisor,
                                   doc="Hypervisor (allocate)")
    spindle_use: int = field(default=1, check=ht.TRange(0, 1024),
                             doc="Spindles the instance uses (allocate)")
    count: int = field(default=1, check=ht.TRange(1, 100),
                       doc="Instances to place (multi-allocate)")
    relocate_from: list[str] | None = field(
        default=None, check=TNameList,
        doc="Nodes to move away from (relocate; default: the secondary)")
    instances: list[str] | None = field(
        default=None, check=TNameList,
        doc="Instances to move (node-evacuate, change-group)")
    evac_mode: str = field(default=constants.NODE_EVAC_ALL,
                           check=ht.TElemOf(constants.NODE_EVAC_MODES),
                           doc="Which instances move (node-evacuate)")
    target_groups: list[str] | None = field(
        default=None, check=TNameList,
        doc="Groups to move to (change-group; default: all others)")

    def check_consistency(self) -> None:
        if self.direction == constants.IALLOCATOR_DIR_OUT and \
                self.allocator is None:
            self.reject("allocator", "running an allocator needs its name")
        if self.mode in (constants.IALLOCATOR_MODE_ALLOC,
                         constants.IALLOCATOR_MODE_MULTI_ALLOC):
            for name in ("mem_size", "vcpus", "disks", "disk_template", "os",
                         "nics"):
                if getattr(self, name) is None:
                    self.reject(name, "required for an allocation request")


class OpTestJobqueue(OpCode):
    """Exercise the job queue: lock-wait and exec notifications, log
    messages, failure (``gnt-debug test-jobqueue``)."""

    OP_ID = "OP_TEST_JQUEUE"

    notify_waitlock: bool = field(
        default=False, check=ht.TBool,
        doc="Notify the submitter while waiting for locks")
    notify_exec: bool = field(default=False, check=ht.TBool,
                              doc="Notify the submitter when executing")
    log_messages: list[str] = field(default=[], check=ht.TListOf(ht.TString),
                                    doc="Messages to write to the job log")
    fail: bool = field(default=False, check=ht.TBool,
                       doc="Fail at the end (tests error reporting)")
