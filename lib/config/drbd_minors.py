"""The DRBD minor map: which minor each node's DRBD devices use.

A minor is in use on a node when a ``drbd8`` disk of an instance names
it for that node (logical id ``[node_a, node_b, port, minor_a, minor_b,
secret]``), or while a job has it reserved (a creation between choosing
the minors and adding the instance).  New minors are the lowest free
ones, as in Ganeti; a node has :data:`MAX_MINORS` minors (DRBD 8's
limit; the kernel module's ``minor_count`` may be lower).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from ganeti import constants, errors, objects

MAX_MINORS: Final = 256


def _walk(disks: Iterable[objects.Disk]) -> Iterable[objects.Disk]:
    for disk in disks:
        yield disk
        yield from _walk(disk.children)


def minors_in_use(instances: Iterable[objects.Instance]
                  ) -> dict[str, dict[int, str]]:
    """node -> minor -> instance name, from the instances' disks."""
    used: dict[str, dict[int, str]] = {}
    for inst in instances:
        for disk in _walk(inst.disks):
            lid = disk.logical_id
            if disk.dev_type != constants.LD_DRBD8 or len(lid) != 6:
                continue
            for node, minor in ((lid[0], lid[3]), (lid[1], lid[4])):
                if isinstance(minor, int):
                    used.setdefault(str(node), {})[minor] = inst.name
    return used


def allocate(used: Mapping[str, Mapping[int, str]], nodes: Sequence[str],
             limit: int = MAX_MINORS) -> list[int]:
    """The lowest free minor on each of ``nodes`` (a node named twice gets
    two different minors); refuses when a node has none left."""
    taken = {node: set(minors) for node, minors in used.items()}
    result = []
    for node in nodes:
        mine = taken.setdefault(node, set())
        minor = next((m for m in range(limit) if m not in mine), None)
        if minor is None:
            raise errors.OpPrereqError(
                f"No free DRBD minor left on node {node} (all {limit} are"
                " used)", errors.ErrorCode.NORES)
        mine.add(minor)
        result.append(minor)
    return result
