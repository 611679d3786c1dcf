"""Instance resources: thin builders of instance opcodes.

Each write maps Ganeti's query arguments and body parameters onto the
opcode's fields and submits one job; the job fails with a clear message
while the logical unit behind an opcode does not exist yet.
"""

from __future__ import annotations

from typing import Any, Final

from ganeti import constants, luxi, opcodes, query_bulk
from ganeti.rapi import ACCESS_WRITE, base
from ganeti.rapi.base import Resource, bad_request, not_found
from ganeti.rapi.rcluster import Tags

#: Fields of ``/2/instances?bulk=1`` and ``/2/instances/X``.
I_FIELDS: Final = query_bulk.FIELDS
#: Rows of :data:`I_FIELDS` as the RAPI answers them.
instance_dicts = query_bulk.instance_dicts


#: The instance creation request format of ``instance-create-reqv1``.
CREATE_REQUEST_VERSION: Final = 1
#: Body keys of a creation request whose opcode field is named otherwise.
CREATE_RENAME: Final = {"name": "instance_name", "os": "os_type"}


def query_instances(ctx: base.Context, names: list[str], fields: list[str]
                    ) -> list[list[Any]]:
    with ctx.luxi() as client:
        rows: list[list[Any]] = client.call("QueryInstances", names, fields,
                                            ctx.use_locking)
    return rows


class _InstanceResource(Resource):
    """A resource under ``/2/instances/X``."""

    def _static(self, **values: Any) -> dict[str, Any]:
        return {"instance_name": self.item(), "dry_run": self.ctx.dry_run,
                **values}

    def _job(self, cls: type[opcodes.OpCode], body: dict[str, Any] | None = None,
             **static: Any) -> str:
        return self.submit(base.fill_opcode(cls, body or {},
                                            self._static(**static)))


class Instances(Resource):
    """``GET`` the instances; ``POST`` a version 1 creation request."""

    DOC = "Instances (bulk: with details); create one (job)"
    QUERY = {"GET": {"bulk": "bool"}}
    BODY = {"POST": base.Body(
        opcodes.OpInstanceCreate, fixed=frozenset(), rename=CREATE_RENAME,
        extra={"__version__": {"type": "integer",
                               "enum": [CREATE_REQUEST_VERSION]}})}

    def GET(self) -> Any:
        if self.ctx.bulk:  # encoded by the master: sent on as it is
            with self.ctx.luxi() as client:
                return luxi.RawResult(client.call_raw(
                    "QueryInstancesBulk", [], self.ctx.use_locking))
        rows = query_instances(self.ctx, [], ["name"])
        return base.uri_list([row[0] for row in rows], "/2/instances/%s")

    def POST(self) -> Any:
        body = dict(self.ctx.body_dict())
        version = body.pop("__version__", 0)
        if version != CREATE_REQUEST_VERSION:
            raise bad_request(
                f"Unsupported instance creation request version {version!r:.20}"
                f"; send \"__version__\": {CREATE_REQUEST_VERSION} and the "
                "version 1 parameters")
        return self.submit(base.fill_opcode(
            opcodes.OpInstanceCreate, body, {"dry_run": self.ctx.dry_run},
            rename=CREATE_RENAME))


class Instance(_InstanceResource):
    """``GET`` an instance's fields, ``DELETE`` to remove it (job)."""

    DOC = "One instance"

    def GET(self) -> Any:
        rows = query_instances(self.ctx, [self.item()], I_FIELDS)
        if not rows:
            raise not_found(f"Instance '{self.item()}' not found")
        return instance_dicts(rows)[0]

    def DELETE(self) -> Any:
        return self._job(opcodes.OpInstanceRemove)


class InstanceInfo(_InstanceResource):
    """``GET ?static=0|1``: a job collecting detailed information."""

    DOC = "Detailed instance information (job)"
    QUERY = {"GET": {"static": "bool"}}

    def GET(self) -> Any:
        return self.submit(base.fill_opcode(opcodes.OpInstanceQueryData, {}, {
            "instances": [self.item()],
            "static": self.ctx.query_bool("static")}))


class InstanceStartup(_InstanceResource):
    """``PUT ?force=0|1``; a body may give hvparams/beparams for this
    start only."""

    DOC = "Start an instance (job)"
    QUERY = {"PUT": {"force": "bool"}}
    BODY = {"PUT": base.Body(opcodes.OpInstanceStartup,
                             fixed=frozenset(["instance_name", "force"]))}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceStartup, self.ctx.body_dict(),
                         force=self.ctx.force)


class InstanceShutdown(_InstanceResource):
    """``PUT``, with an optional body ``{"timeout": seconds}``."""

    DOC = "Stop an instance (job)"
    BODY = {"PUT": base.Body(opcodes.OpInstanceShutdown)}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceShutdown, self.ctx.body_dict())


class InstanceReboot(_InstanceResource):
    """``POST ?type=soft|hard|full&ignore_secondaries=0|1``."""

    DOC = "Reboot an instance (job)"
    QUERY = {"POST": {"type": "str", "ignore_secondaries": "bool"}}
    BODY = {"POST": base.Body(opcodes.OpInstanceReboot, fixed=frozenset(
        ["instance_name", "reboot_type", "ignore_secondaries"]))}

    def POST(self) -> Any:
        return self._job(
            opcodes.OpInstanceReboot, self.ctx.body_dict(),
            reboot_type=self.ctx.query_str("type",
                                           constants.INSTANCE_REBOOT_HARD),
            ignore_secondaries=self.ctx.query_bool("ignore_secondaries"))


class InstanceReinstall(_InstanceResource):
    """``POST`` a body ``{"os", "start", "osparams"}`` or, for older
    clients, ``?os=&nostartup=0|1``: one job that stops the instance,
    reinstalls it and (unless told otherwise) starts it again."""

    DOC = "Reinstall an instance's OS (job)"
    QUERY = {"POST": {"os": "str", "nostartup": "bool"}}
    BODY = {"POST": {"type": "object", "additionalProperties": False,
                     "nullable": True, "properties": {"os": {"type": "string"},
                                    "start": {"type": "boolean"},
                                    "osparams": {"type": "object",
                                                 "nullable": True}}}}

    def POST(self) -> Any:
        body = self.ctx.body_dict()
        query = [k for k in self.ctx.queryargs if k in ("os", "nostartup")]
        if body and query:
            raise bad_request("Can't combine query and body parameters")
        if body:
            unknown = sorted(set(body) - {"os", "start", "osparams",
                                          "priority"})
            if unknown:
                raise bad_request("Unknown body parameter(s): "
                                  f"{', '.join(unknown)}")
            os_name = body.get("os")
            start = body.get("start", True)
            osparams = body.get("osparams")
            if not isinstance(start, bool):
                raise bad_request("The 'start' parameter must be a boolean")
        else:
            os_name = self.ctx.query_str("os")
            start = not self.ctx.query_bool("nostartup")
            osparams = None
        name = self.item()
        ops = [
            base.fill_opcode(opcodes.OpInstanceShutdown, {}, self._static()),
            base.fill_opcode(opcodes.OpInstanceReinstall, {}, self._static(
                os_type=os_name, osparams=osparams)),
        ]
        if start:
            ops.append(base.fill_opcode(opcodes.OpInstanceStartup, {},
                                        {"instance_name": name,
                                         "dry_run": self.ctx.dry_run}))
        return self.submit(*ops)


class InstanceReplaceDisks(_InstanceResource):
    """``POST`` with ``mode``, ``disks``, ``remote_node``, ``iallocator``,
    ``early_release`` in the body or as query arguments."""

    DOC = "Replace an instance's disks (job)"
    QUERY = {"POST": {"mode": "str", "disks": "list", "remote_node": "str",
                      "iallocator": "str", "early_release": "bool"}}
    BODY = {"POST": base.Body(opcodes.OpInstanceReplaceDisks)}

    def POST(self) -> Any:
        params = base.params_from_body_or_query(self.ctx, {
            "mode": base.q_str, "disks": base.q_int_list,
            "remote_node": base.q_str, "iallocator": base.q_str,
            "early_release": base.q_bool})
        disks = params.get("disks")
        if isinstance(disks, str):  # "0,1" in a body, as Ganeti accepts
            params["disks"] = base.parse_int_list(disks, "disks")
        return self._job(opcodes.OpInstanceReplaceDisks, params)


class InstanceActivateDisks(_InstanceResource):
    """``PUT ?ignore_size=0|1``."""

    DOC = "Activate an instance's disks (job)"
    QUERY = {"PUT": {"ignore_size": "bool"}}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceActivateDisks,
                         ignore_size=self.ctx.query_bool("ignore_size"))


class InstanceDeactivateDisks(_InstanceResource):
    DOC = "Deactivate an instance's disks (job)"

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceDeactivateDisks)


class InstanceMigrate(_InstanceResource):
    """``PUT`` a body ``{"mode", "live", "cleanup"}``."""

    DOC = "Migrate an instance (job)"
    BODY = {"PUT": base.Body(opcodes.OpInstanceMigrate)}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceMigrate, self.ctx.body_dict())


class InstanceFailover(_InstanceResource):
    """``PUT`` a body ``{"ignore_consistency", "shutdown_timeout"}``."""

    DOC = "Fail an instance over to its secondary node (job)"
    BODY = {"PUT": base.Body(opcodes.OpInstanceFailover)}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceFailover, self.ctx.body_dict())


class InstanceRename(_InstanceResource):
    """``PUT`` a body ``{"new_name", "ip_check", "name_check"}``."""

    DOC = "Rename an instance (job)"
    BODY = {"PUT": base.Body(opcodes.OpInstanceRename)}

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceRename, self.ctx.body_dict())


def _refuse_remote(mode: str | None) -> None:
    if mode == constants.EXPORT_MODE_REMOTE:
        raise bad_request("Remote (inter-cluster) exports are not supported"
                          " by this version; use mode 'local'")


class InstancePrepareExport(_InstanceResource):
    """``PUT`` with the ``mode`` query argument (only ``local``)."""

    DOC = "Prepare an instance export (job)"
    QUERY = {"PUT": {"mode": "str"}}

    def PUT(self) -> Any:
        mode = self.ctx.require_str("mode")
        _refuse_remote(mode)
        return self._job(opcodes.OpBackupPrepare, mode=mode)


class InstanceExport(_InstanceResource):
    """``PUT`` a body ``{"mode", "destination", "shutdown",
    "remove_instance", "shutdown_timeout"}`` (``destination``: the target
    node of a local export)."""

    DOC = "Export an instance to a node (job)"
    BODY = {"PUT": base.Body(opcodes.OpBackupExport,
                             rename={"destination": "target_node"})}

    def PUT(self) -> Any:
        body = self.ctx.body_dict()
        _refuse_remote(body.get("mode"))
        for key in ("x509_key_name", "destination_x509_ca"):
            if key in body:
                raise bad_request(f"Parameter '{key}' is only used by remote"
                                  " exports, which this version does not"
                                  " support")
        return self.submit(base.fill_opcode(
            opcodes.OpBackupExport, body, self._static(),
            rename={"destination": "target_node"}))


class InstanceModify(_InstanceResource):
    """``PUT`` a body of OpInstanceSetParams fields."""

    DOC = "Change an instance's parameters (job)"

    def PUT(self) -> Any:
        return self._job(opcodes.OpInstanceSetParams, self.ctx.body_dict())


class InstanceDiskGrow(_InstanceResource):
    """``POST`` a body ``{"amount": MiB, "wait_for_sync": bool}`` to
    ``.../disk/N/grow``."""

    DOC = "Grow one disk of an instance (job)"

    def POST(self) -> Any:
        return self._job(opcodes.OpInstanceGrowDisk, self.ctx.body_dict(),
                         disk=int(self.item(1)))


class InstanceConsole(_InstanceResource):
    """``GET``: how to reach the console (runs a job and answers its
    result).  Needs ``write`` access, as in Ganeti."""

    DOC = "Console information of an instance"
    GET_ACCESS = (ACCESS_WRITE,)

    def GET(self) -> Any:
        return base.run_job(self.ctx, [base.fill_opcode(
            opcodes.OpInstanceConsole, {}, {"instance_name": self.item()})])


class InstanceTags(Tags):
    KIND = constants.TAG_INSTANCE
    DOC = "Tags of an instance"
