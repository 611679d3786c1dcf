"""Reading and checking an allocator's answer.

The answer is a JSON object ``{"success": bool, "info": str, "result":
...}``.  ``result`` has one shape per mode:

- ``allocate``: the node names, ``required_nodes`` of them (primary
  first);
- ``relocate``: one node name, the new secondary;
- ``node-evacuate``, ``change-group``: ``[moved, failed, jobs]`` with
  ``moved`` a list of ``[instance, group, [nodes]]``, ``failed`` a list of
  ``[instance, reason]`` and ``jobs`` lists of opcodes (read but not run:
  the logical units move the instances themselves, to the nodes in
  ``moved``);
- ``multi-allocate``: ``[[[instance, [nodes]], ...], [failed instance,
  ...]]``.

Every node named must exist in the request, be online, undrained and
vm-capable; the nodes of one instance must differ and lie in one group
(the request's target groups for ``change-group``, the instance's own
group otherwise, except where it moves).  Any failure raises
:func:`answer_error` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ganeti import constants, errors

Doc = dict[str, Any]


def answer_error(allocator: str, msg: str) -> errors.OpPrereqError:
    """The allocator's answer is unusable (garbage, wrong shape, a node
    that cannot take the instance); nothing was changed.  A plain
    OpPrereqError (jobs carry error classes by name), with the allocator
    in its details."""
    code = (errors.ErrorCode.NORES if msg.startswith("found no")
            else errors.ErrorCode.ENVIRON)
    return errors.OpPrereqError(f"Iallocator '{allocator}' {msg}", code,
                                allocator=allocator)


@dataclasses.dataclass
class Move:
    """One instance's new place (evacuation answers)."""

    instance: str
    group: str
    nodes: list[str]


@dataclasses.dataclass
class Answer:
    info: str
    #: ``allocate``/``relocate``: the nodes.
    nodes: list[str] = dataclasses.field(default_factory=list)
    #: evacuations and ``multi-allocate``: each instance's new place.
    moves: list[Move] = dataclasses.field(default_factory=list)
    #: evacuations and ``multi-allocate``: ``(instance, reason)``.
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: evacuations: the allocator's job proposal, as given.
    jobs: list[Any] = dataclasses.field(default_factory=list)


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class _Checker:
    def __init__(self, allocator: str, doc: Mapping[str, Any]) -> None:
        self.allocator = allocator
        self.doc = doc
        self.nodes: Mapping[str, Any] = doc.get("nodes", {})
        self.groups: Mapping[str, Any] = doc.get("nodegroups", {})
        self.instances: Mapping[str, Any] = doc.get("instances", {})

    def fail(self, msg: str) -> errors.OpPrereqError:
        return answer_error(self.allocator, msg)

    def node(self, name: str, inst: str) -> Mapping[str, Any]:
        node = self.nodes.get(name)
        if node is None:
            raise self.fail(f"answered node '{name:.80}' for instance {inst},"
                            " which is not in the cluster")
        for flag, what in (("offline", "offline"), ("drained", "drained")):
            if node.get(flag):
                raise self.fail(f"answered node {name} for instance {inst},"
                                f" which is {what}")
        if not node.get("vm_capable", True):
            raise self.fail(f"answered node {name} for instance {inst},"
                            " which is not vm-capable")
        return dict(node)

    def place(self, inst: str, names: Any, count: int | None,
              groups: Sequence[str] | None = None) -> list[str]:
        """Check the nodes of one instance; returns them."""
        if not _str_list(names):
            raise self.fail(f"answered {json.dumps(names)[:80]} for instance"
                            f" {inst} instead of a list of node names")
        if count is not None and len(names) != count:
            raise self.fail(f"answered {len(names)} node(s) for instance"
                            f" {inst}; {count} needed")
        if len(set(names)) != len(names):
            raise self.fail(f"answered the same node twice for instance"
                            f" {inst} ({', '.join(names)})")
        in_groups = {self.node(n, inst).get("group") for n in names}
        if len(in_groups) > 1:
            raise self.fail(f"answered nodes of different groups for"
                            f" instance {inst} ({', '.join(names)})")
        if groups is not None and names and not in_groups <= set(groups):
            raise self.fail(f"answered node(s) {', '.join(names)} for"
                            f" instance {inst} outside the allowed groups")
        return list(names)


def _envelope(allocator: str, text: str) -> tuple[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise answer_error(allocator, "answered garbage instead of JSON"
                          f" ({first[:60]!r})") from None
    if not isinstance(data, dict):
        raise answer_error(allocator, "answered a JSON "
                          f"{type(data).__name__} instead of an object")
    for key, kind in (("success", bool), ("info", str)):
        if not isinstance(data.get(key), kind):
            raise answer_error(allocator, f"answered without a valid"
                              f" '{key}' ({kind.__name__})")
    if "result" not in data:
        raise answer_error(allocator, "answered without a 'result'")
    info = " ".join(data["info"].split())
    if not data["success"]:
        raise answer_error(allocator, f"found no solution: {info[:300]}")
    return info, data["result"]


def parse(allocator: str, doc: Mapping[str, Any], text: str) -> Answer:
    """Parse and check ``text``, the answer to the request ``doc``."""
    info, result = _envelope(allocator, text)
    req = doc["request"]
    mode = req["type"]
    chk = _Checker(allocator, doc)
    if mode == constants.IALLOCATOR_MODE_ALLOC:
        nodes = chk.place(req["name"], result, int(req["required_nodes"]))
        return Answer(info, nodes=nodes)
    if mode == constants.IALLOCATOR_MODE_RELOC:
        return Answer(info, nodes=_relocated(chk, req, result))
    if mode in (constants.IALLOCATOR_MODE_NODE_EVAC,
                constants.IALLOCATOR_MODE_CHG_GROUP):
        return _evacuation(chk, req, info, result)
    if mode == constants.IALLOCATOR_MODE_MULTI_ALLOC:
        return _multi(chk, req, info, result)
    raise errors.ProgrammerError(f"Unknown iallocator mode {mode}")


def _relocated(chk: _Checker, req: Mapping[str, Any],
               result: Any) -> list[str]:
    name = req["name"]
    nodes = chk.place(name, result, 1)
    inst = chk.instances.get(name, {})
    current = list(inst.get("nodes", []))
    if nodes[0] in current:
        raise chk.fail(f"answered node {nodes[0]} for instance {name},"
                       " which already is one of its nodes")
    if current:
        want = chk.nodes.get(current[0], {}).get("group")
        if chk.nodes[nodes[0]].get("group") != want:
            raise chk.fail(f"answered node {nodes[0]} for instance {name},"
                           " which is outside the instance's group")
    return nodes


def _group_uuid(chk: _Checker, ident: str) -> str | None:
    if ident in chk.groups:
        return ident
    for uuid, group in chk.groups.items():
        if group.get("name") == ident:
            return str(uuid)
    return None


def _evacuation(chk: _Checker, req: Mapping[str, Any], info: str,
                result: Any) -> Answer:
    if not (isinstance(result, list) and len(result) == 3
            and all(isinstance(part, list) for part in result)):
        raise chk.fail("answered a result that is not [moved, failed,"
                       " jobs]")
    moved, failed, jobs = result
    wanted = set(req["instances"])
    targets = req.get("target_groups") or None
    answer = Answer(info, jobs=jobs)
    seen: set[str] = set()
    for entry in moved:
        if not (isinstance(entry, list) and len(entry) == 3
                and isinstance(entry[0], str) and isinstance(entry[1], str)):
            raise chk.fail(f"answered a move {json.dumps(entry)[:80]} that"
                           " is not [instance, group, nodes]")
        name, group, nodes = entry
        if name not in wanted or name in seen:
            raise chk.fail(f"answered a move of instance {name:.80}, which"
                           " was not asked for (or twice)")
        seen.add(name)
        inst = chk.instances[name]
        count = len(inst.get("nodes", [])) or None
        uuid = _group_uuid(chk, group)
        if uuid is None:
            raise chk.fail(f"answered unknown group '{group:.80}' for"
                           f" instance {name}")
        if targets is not None and uuid not in targets:
            raise chk.fail(f"answered group {group} for instance {name},"
                           " which is not a target group")
        placed = chk.place(name, nodes, count, [uuid])
        answer.moves.append(Move(name, uuid, placed))
    for entry in failed:
        if not (isinstance(entry, list) and len(entry) == 2
                and all(isinstance(v, str) for v in entry)):
            raise chk.fail(f"answered a failure {json.dumps(entry)[:80]}"
                           " that is not [instance, reason]")
        answer.failed.append((entry[0], " ".join(entry[1].split())))
    missing = wanted - seen - {name for name, _ in answer.failed}
    if missing:
        raise chk.fail(f"answered nothing for instance(s)"
                       f" {', '.join(sorted(missing))}")
    return answer


def _multi(chk: _Checker, req: Mapping[str, Any], info: str,
           result: Any) -> Answer:
    if not (isinstance(result, list) and len(result) == 2
            and isinstance(result[0], list) and _str_list(result[1])):
        raise chk.fail("answered a result that is not [allocated, failed]")
    wanted = {r["name"]: r for r in req["instances"]}
    answer = Answer(info)
    seen: set[str] = set()
    for entry in result[0]:
        if not (isinstance(entry, list) and len(entry) == 2
                and isinstance(entry[0], str)):
            raise chk.fail(f"answered an allocation {json.dumps(entry)[:80]}"
                           " that is not [instance, nodes]")
        name, nodes = entry
        if name not in wanted or name in seen:
            raise chk.fail(f"answered instance {name:.80}, which was not"
                           " asked for (or twice)")
        seen.add(name)
        placed = chk.place(name, nodes, int(wanted[name]["required_nodes"]))
        group = str(chk.nodes[placed[0]].get("group"))
        answer.moves.append(Move(name, group, placed))
    answer.failed = [(name, "") for name in result[1]]
    missing = set(wanted) - seen - set(result[1])
    if missing:
        raise chk.fail(f"answered nothing for instance(s)"
                       f" {', '.join(sorted(missing))}")
    return answer
