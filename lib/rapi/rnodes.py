"""Node resources: listing, role, modify, evacuate, migrate, storage."""

from __future__ import annotations

from typing import Any, Final

from ganeti import constants, opcodes
from ganeti.rapi import ACCESS_WRITE, base
from ganeti.rapi.base import Resource, bad_request, not_found
from ganeti.rapi.rcluster import Tags

#: Fields of ``/2/nodes?bulk=1`` and ``/2/nodes/N``: Ganeti 2.1's plus
#: ``master_capable``, ``vm_capable``, ``group.uuid``, ``ndparams``,
#: ``sptotal``, ``spfree`` and ``cnos`` (2.4+), which allocation tools
#: (htools' RAPI loader) read.
N_FIELDS: Final = ["name", "offline", "master_candidate", "drained",
                   "dtotal", "dfree", "sptotal", "spfree",
                   "mtotal", "mnode", "mfree",
                   "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes",
                   "csockets", "pip", "sip", "role", "pinst_list",
                   "sinst_list", "master_capable", "vm_capable", "ndparams",
                   "group.uuid", "ctime", "mtime", "uuid", "serial_no",
                   "tags"]

ROLE_MASTER: Final = "master"
ROLE_CANDIDATE: Final = "master-candidate"
ROLE_REGULAR: Final = "regular"
ROLE_DRAINED: Final = "drained"
ROLE_OFFLINE: Final = "offline"
#: The one-letter ``role`` node field -> the RAPI role name.
ROLE_NAMES: Final = {"M": ROLE_MASTER, "C": ROLE_CANDIDATE, "R": ROLE_REGULAR,
                     "D": ROLE_DRAINED, "O": ROLE_OFFLINE}
#: A role -> the OpNodeSetParams flags that give it.
ROLE_FLAGS: Final[dict[str, dict[str, bool]]] = {
    ROLE_CANDIDATE: {"master_candidate": True},
    ROLE_REGULAR: {"master_candidate": False, "offline": False,
                   "drained": False},
    ROLE_DRAINED: {"drained": True},
    ROLE_OFFLINE: {"offline": True},
}


def query_nodes(ctx: base.Context, names: list[str], fields: list[str]
                ) -> list[list[Any]]:
    with ctx.luxi() as client:
        rows: list[list[Any]] = client.call("QueryNodes", names, fields,
                                            ctx.use_locking)
    return rows


class Nodes(Resource):
    DOC = "Nodes (bulk: with details)"
    QUERY = {"GET": {"bulk": "bool"}}

    def GET(self) -> Any:
        if self.ctx.bulk:
            return base.rows_to_dicts(N_FIELDS,
                                      query_nodes(self.ctx, [], N_FIELDS))
        rows = query_nodes(self.ctx, [], ["name"])
        return base.uri_list([row[0] for row in rows], "/2/nodes/%s")


class Node(Resource):
    DOC = "One node"

    def GET(self) -> Any:
        rows = query_nodes(self.ctx, [self.item()], N_FIELDS)
        if not rows:
            raise not_found(f"Node '{self.item()}' not found")
        return base.rows_to_dicts(N_FIELDS, rows)[0]


class NodeRole(Resource):
    """``GET`` the role, ``PUT`` a role name (a JSON string) to change it;
    ``?force=1`` and ``?auto-promote=1`` as ``gnt-node modify``."""

    DOC = "Role of a node"
    QUERY = {"PUT": {"force": "bool", "auto-promote": "bool"}}
    BODY = {"PUT": {"type": "string", "enum": list(ROLE_FLAGS)}}

    def GET(self) -> Any:
        rows = query_nodes(self.ctx, [self.item()], ["role"])
        if not rows:
            raise not_found(f"Node '{self.item()}' not found")
        role = rows[0][0]
        return ROLE_NAMES.get(role, role)

    def PUT(self) -> Any:
        role = self.ctx.body()
        if not isinstance(role, str):
            raise bad_request("The request body must be a role name as a "
                              f"JSON string, one of {', '.join(ROLE_FLAGS)}")
        if role not in ROLE_FLAGS:
            raise bad_request(f"Can't set the role {role[:40]!r}: choose one "
                              f"of {', '.join(ROLE_FLAGS)}")
        return self.submit(base.fill_opcode(opcodes.OpNodeSetParams, {}, {
            "node_name": self.item(), "force": self.ctx.force,
            "auto_promote": self.ctx.query_bool("auto-promote"),
            "dry_run": self.ctx.dry_run, **ROLE_FLAGS[role]}))


class NodeModify(Resource):
    """``POST`` a body of OpNodeSetParams fields (Ganeti 2.6)."""

    DOC = "Change a node (job)"
    BODY = {"POST": base.Body(opcodes.OpNodeSetParams)}

    def POST(self) -> Any:
        return self.submit(base.fill_opcode(
            opcodes.OpNodeSetParams, self.ctx.body_dict(),
            {"node_name": self.item(), "dry_run": self.ctx.dry_run}))


class NodeEvacuate(Resource):
    """``POST ?iallocator=`` or ``?remote_node=`` (or the same as a body):
    one job moving the node's secondary instances."""

    DOC = "Evacuate a node's secondary instances (job)"
    QUERY = {"POST": {"iallocator": "str", "remote_node": "str"}}
    BODY = {"POST": base.Body(opcodes.OpNodeEvacuate)}

    def POST(self) -> Any:
        params = base.params_from_body_or_query(self.ctx, {
            "iallocator": base.q_str, "remote_node": base.q_str})
        return self.submit(base.fill_opcode(
            opcodes.OpNodeEvacuate, params,
            {"node_name": self.item(), "dry_run": self.ctx.dry_run}))


class NodeMigrate(Resource):
    """``POST ?live=0|1`` or ``?mode=live|non-live`` (or a body with
    ``mode``/``live``): migrate the node's primary instances."""

    DOC = "Migrate a node's primary instances (job)"
    QUERY = {"POST": {"live": "bool", "mode": "str"}}
    BODY = {"POST": base.Body(opcodes.OpNodeMigrate)}

    def POST(self) -> Any:
        params = base.params_from_body_or_query(self.ctx, {
            "live": base.q_bool, "mode": base.q_str})
        return self.submit(base.fill_opcode(
            opcodes.OpNodeMigrate, params,
            {"node_name": self.item(), "dry_run": self.ctx.dry_run}))


class NodePowercycle(Resource):
    """``POST ?force=1`` (or a body with ``force``): hard-reboot the node
    through its node daemon (Ganeti 2.6; the master needs force)."""

    DOC = "Power-cycle a node (job)"
    QUERY = {"POST": {"force": "bool"}}
    BODY = {"POST": base.Body(opcodes.OpNodePowercycle)}

    def POST(self) -> Any:
        params = base.params_from_body_or_query(self.ctx,
                                                {"force": base.q_bool})
        return self.submit(base.fill_opcode(
            opcodes.OpNodePowercycle, params,
            {"node_name": self.item(), "dry_run": self.ctx.dry_run}))


class NodeStorage(Resource):
    """``GET ?storage_type=&output_fields=a,b``: a job listing the node's
    storage units (its result is the list)."""

    DOC = "Storage units of a node (job)"
    QUERY = {"GET": {"storage_type": "str", "output_fields": "list"}}
    GET_ACCESS = (ACCESS_WRITE,)  # it runs a job on the node

    def GET(self) -> Any:
        fields = self.ctx.require_str("output_fields").split(",")
        return self.submit(base.fill_opcode(opcodes.OpNodeQueryStorage, {}, {
            "nodes": [self.item()],
            "storage_type": self.ctx.require_str("storage_type"),
            "output_fields": [f for f in fields if f]}))


class NodeStorageModify(Resource):
    """``PUT ?storage_type=&name=&allocatable=0|1``."""

    DOC = "Change a storage unit (job)"
    QUERY = {"PUT": {"storage_type": "str", "name": "str",
                     "allocatable": "bool"}}

    def PUT(self) -> Any:
        changes: dict[str, Any] = {}
        if self.ctx.query_str("allocatable") is not None:
            changes["allocatable"] = \
                self.ctx.query_bool("allocatable")
        return self.submit(base.fill_opcode(opcodes.OpNodeModifyStorage, {}, {
            "node_name": self.item(),
            "storage_type": self.ctx.require_str("storage_type"),
            "name": self.ctx.require_str("name"), "changes": changes,
            "dry_run": self.ctx.dry_run}))


class NodeStorageRepair(Resource):
    """``PUT ?storage_type=&name=[&ignore_consistency=1]``."""

    DOC = "Repair a storage unit (job)"
    QUERY = {"PUT": {"storage_type": "str", "name": "str",
                     "ignore_consistency": "bool"}}

    def PUT(self) -> Any:
        return self.submit(base.fill_opcode(opcodes.OpRepairNodeStorage, {}, {
            "node_name": self.item(),
            "storage_type": self.ctx.require_str("storage_type"),
            "name": self.ctx.require_str("name"),
            "ignore_consistency": self.ctx.query_bool("ignore_consistency"),
            "dry_run": self.ctx.dry_run}))


class NodeTags(Tags):
    KIND = constants.TAG_NODE
    DOC = "Tags of a node"
