"""Node group resources (Ganeti 2.4+): ``/2/groups`` and below.

- ``GET /2/groups`` (``?bulk=1``: with :data:`G_FIELDS`), ``POST`` a new
  group (body ``group_name``, or ``name`` as older clients send it,
  ``alloc_policy``, ``ndparams``, ``diskparams``, ``ipolicy``);
- ``GET``/``DELETE`` ``/2/groups/G``;
- ``PUT /2/groups/G/modify`` (the fields of ``OpGroupSetParams``),
  ``/rename`` (``new_name``), ``/assign-nodes`` (``nodes``, ``?force``);
- ``/2/groups/G/tags`` as the other tag resources.

Writes answer a job id; ``?dry-run=1`` is honoured.
"""

from __future__ import annotations

from typing import Any, Final

from ganeti import constants, opcodes
from ganeti.rapi import base
from ganeti.rapi.base import Resource, not_found
from ganeti.rapi.rcluster import Tags

#: Fields of ``/2/groups?bulk=1`` and ``/2/groups/G`` (Ganeti's).
G_FIELDS: Final = ["alloc_policy", "name", "node_cnt", "node_list",
                   "ipolicy", "custom_ipolicy", "diskparams",
                   "custom_diskparams", "ndparams", "custom_ndparams",
                   "networks", "ctime", "mtime", "uuid", "serial_no", "tags"]


def query_groups(ctx: base.Context, names: list[str], fields: list[str]
                 ) -> list[list[Any]]:
    with ctx.luxi() as client:
        rows: list[list[Any]] = client.call("QueryGroups", names, fields,
                                            ctx.use_locking)
    return rows


class Groups(Resource):
    DOC = "Node groups (bulk: with details); create one (job)"

    def GET(self) -> Any:
        if self.ctx.bulk:
            return base.rows_to_dicts(G_FIELDS,
                                      query_groups(self.ctx, [], G_FIELDS))
        rows = query_groups(self.ctx, [], ["name"])
        return base.uri_list([row[0] for row in rows], "/2/groups/%s",
                             key="name")

    def POST(self) -> Any:
        return self.submit(base.fill_opcode(
            opcodes.OpGroupAdd, self.ctx.body_dict(),
            {"dry_run": self.ctx.dry_run}, rename={"name": "group_name"}))


class _GroupResource(Resource):
    def _job(self, cls: type[opcodes.OpCode],
             body: dict[str, Any] | None = None, **static: Any) -> str:
        return self.submit(base.fill_opcode(cls, body or {}, {
            "group_name": self.item(), "dry_run": self.ctx.dry_run,
            **static}))


class Group(_GroupResource):
    DOC = "One node group; DELETE removes it (job)"

    def GET(self) -> Any:
        rows = query_groups(self.ctx, [self.item()], G_FIELDS)
        if not rows:
            raise not_found(f"Node group '{self.item()}' not found")
        return base.rows_to_dicts(G_FIELDS, rows)[0]

    def DELETE(self) -> Any:
        return self._job(opcodes.OpGroupRemove)


class GroupModify(_GroupResource):
    DOC = "Change a node group's parameters (job)"

    def PUT(self) -> Any:
        return self._job(opcodes.OpGroupSetParams, self.ctx.body_dict())


class GroupRename(_GroupResource):
    DOC = "Rename a node group (job)"

    def PUT(self) -> Any:
        return self._job(opcodes.OpGroupRename, self.ctx.body_dict())


class GroupAssignNodes(_GroupResource):
    DOC = "Move nodes into a node group (job)"

    def PUT(self) -> Any:
        return self._job(opcodes.OpGroupAssignNodes, self.ctx.body_dict(),
                         force=self.ctx.force)


class GroupTags(Tags):
    KIND = constants.TAG_NODEGROUP
    DOC = "Tags of a node group"
