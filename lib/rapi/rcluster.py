"""Cluster-level resources: version, info, features, tags,
redist-conf, modify, OS list and the generic queries (the node groups
are in :mod:`ganeti.rapi.rgroups`)."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from ganeti import constants, http, opcodes
from ganeti.rapi import VERSION, base
from ganeti.rapi.base import Resource, bad_request, not_found

#: Features of this server (``GET /2/features``): the request formats
#: that clients may use instead of the older ones.
FEATURES: Final = ["instance-create-reqv1", "instance-reinstall-reqv1",
                   "node-migrate-reqv1"]



class Version(Resource):
    """``/version``: the API version (2)."""

    DOC = "The remote API version"

    def GET(self) -> Any:
        return VERSION


class Info(Resource):
    """``/2/info``: cluster information (``gnt-cluster info``)."""

    DOC = "Cluster information"

    def GET(self) -> Any:
        with self.ctx.luxi() as client:
            return client.query_cluster_info()


class Features(Resource):
    DOC = "Features of this server"

    def GET(self) -> Any:
        return list(FEATURES)


class RedistributeConfig(Resource):
    DOC = "Push the configuration to all nodes (job)"

    def PUT(self) -> Any:
        return self.submit(base.fill_opcode(
            opcodes.OpClusterRedistConf, {}, {"dry_run": self.ctx.dry_run}))


class ClusterModify(Resource):
    DOC = "Change cluster parameters (job)"
    BODY = {"PUT": base.Body(opcodes.OpClusterSetParams)}

    def PUT(self) -> Any:
        return self.submit(base.fill_opcode(
            opcodes.OpClusterSetParams, self.ctx.body_dict(),
            {"dry_run": self.ctx.dry_run}))


class Tags(Resource):
    """Tags of an object: ``GET`` lists them, ``PUT`` adds and ``DELETE``
    removes the ``?tag=`` arguments (a job each)."""

    KIND: ClassVar[str] = constants.TAG_CLUSTER
    DOC = "Cluster tags"
    QUERY = {"PUT": {"tag": "str"}, "DELETE": {"tag": "str"}}
    BODY = {"PUT": {"type": "array", "items": {"type": "string"}}}

    def _name(self) -> str | None:
        return None if self.KIND == constants.TAG_CLUSTER else self.item()

    def GET(self) -> Any:
        with self.ctx.luxi() as client:
            return client.call("QueryTags", self.KIND, self._name() or "")

    def _tags(self, verb: str) -> list[Any]:
        tags: list[Any] = self.ctx.query_list("tag")
        if self.ctx.method == "PUT":
            body = self.ctx.body()
            if body is not None:
                # Checked even when the query names the tags: a body the
                # resource declares is never silently ignored.
                if not (isinstance(body, list)
                        and all(isinstance(t, str) for t in body)):
                    raise bad_request("The request body must be a list of "
                                      "tags (strings)")
                tags = tags or body
        if not tags:
            raise bad_request(f"Give the tags to {verb} as 'tag' query "
                              "arguments (?tag=a&tag=b)")
        return tags

    def _op(self, cls: type[opcodes.OpCode], tags: list[Any]) -> str:
        return self.submit(base.fill_opcode(cls, {}, {
            "kind": self.KIND, "name": self._name(), "tags": tags,
            "dry_run": self.ctx.dry_run}))

    def PUT(self) -> Any:
        return self._op(opcodes.OpTagsSet, self._tags("add"))

    def DELETE(self) -> Any:
        return self._op(opcodes.OpTagsDel, self._tags("remove"))


class OperatingSystems(Resource):
    """``/2/os``: names of the OSes valid on all nodes, with variants
    (``name+variant``), from a diagnose job (as Ganeti 2.1)."""

    DOC = "Valid operating systems"

    def GET(self) -> Any:
        rows = base.run_job(self.ctx, [opcodes.OpOsDiagnose(
            output_fields=["name", "valid", "variants"], names=[])])
        if not isinstance(rows, list):
            raise http.HttpError(502, "Can't get the OS list")
        names: list[str] = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and row[1]):
                continue
            name, _valid, variants = row
            if variants:
                names.extend(f"{name}+{variant}" for variant in variants)
            else:
                names.append(name)
        return names


# --- generic queries (/2/query) --------------------------------------------------

def _check_resource(name: str) -> str:
    if name not in constants.QR_VIA_OP:
        known = ", ".join(sorted(constants.QR_VIA_OP))
        raise not_found(f"Unknown query resource '{name}' (known: {known})")
    return name


def _split_fields(values: list[str]) -> list[str]:
    return [f for value in values for f in value.split(",") if f]


class Query(Resource):
    """``/2/query/R``: fields of items; ``GET ?fields=a,b`` or ``PUT``
    ``{"fields": [...], "qfilter": [...]}``."""

    DOC = "Generic query"
    QUERY = {"GET": {"fields": "list"}}
    BODY = {"PUT": {"type": "object", "additionalProperties": False,
                    "required": ["fields"],
                    "properties": {"fields": {"type": "array",
                                              "items": {"type": "string"}},
                                   "qfilter": {"nullable": True},
                                   "filter": {"nullable": True}}}}
    ANSWERS_RESULT = True

    def _run(self, fields: Any, qfilter: Any) -> Any:
        # Answered by the master directly (LUXI Query), as Ganeti 2.6
        # does: a job per query filled the job list (the web console
        # lists instances this way).  The opcode checks the arguments.
        op = base.fill_opcode(opcodes.OpQuery, {}, {
            "what": _check_resource(self.item()), "output_fields": fields,
            "filter": qfilter})
        assert isinstance(op, opcodes.OpQuery)
        with self.ctx.luxi() as client:
            return client.call("Query", op.what, list(op.output_fields),
                               op.filter)

    def GET(self) -> Any:
        fields = _split_fields(self.ctx.query_list("fields"))
        if not fields:
            raise bad_request("Missing the 'fields' query argument")
        return self._run(fields, None)

    def PUT(self) -> Any:
        body = self.ctx.body_dict()
        unknown = sorted(set(body) - {"fields", "qfilter", "filter"})
        if unknown:
            raise bad_request(f"Unknown body parameter(s): {', '.join(unknown)}")
        if "qfilter" in body and "filter" in body:
            raise bad_request("Give either 'qfilter' or 'filter', not both")
        if "fields" not in body:
            raise bad_request("Missing the 'fields' body parameter")
        return self._run(body["fields"], body.get("qfilter", body.get("filter")))

    PUT_ACCESS = ()  # a query changes nothing


class QueryFields(Resource):
    """``/2/query/R/fields``: descriptions of the fields (``?fields=``)."""

    DOC = "Fields of a generic query"
    QUERY = {"GET": {"fields": "list"}}

    def GET(self) -> Any:
        fields = _split_fields(self.ctx.query_list("fields")) or None
        op = base.fill_opcode(opcodes.OpQueryFields, {}, {
            "what": _check_resource(self.item()), "output_fields": fields})
        assert isinstance(op, opcodes.OpQueryFields)
        with self.ctx.luxi() as client:
            return client.call("QueryFields", op.what, op.output_fields)
