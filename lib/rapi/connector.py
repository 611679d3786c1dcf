"""The resource table and the application the RAPI's HTTPS server runs.

:data:`TABLE` maps path patterns to resource classes; ``{name}`` matches
one path segment (percent-decoded), ``{id}`` and ``{index}`` a number.
For each request the application finds the resource (404), checks the
method (405 with ``Allow``), authenticates (401/403), runs the handler
and answers its value as JSON.  Every failure becomes a JSON error body
``{"code": status, "message": reason, "explain": details}`` as Ganeti's.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from ganeti import errors, http, luxi, serializer
from ganeti.rapi import auth, base, rcluster, rgroups, rinstances, rjobs, rnodes, webui
from ganeti.rapi.base import Resource

_log = logging.getLogger("ganeti.rapi")

class Root(Resource):
    """``/``: the resources at the top."""

    DOC = "The list of resources"

    def GET(self) -> Any:
        return resource_list("/")


class V2(Resource):
    """``/2``: the version 2 resources."""

    DOC = "The version 2 resources"

    def GET(self) -> Any:
        return resource_list("/2")


_I = "/2/instances/{name}"
_N = "/2/nodes/{name}"

#: Path pattern -> resource, in the order ``/`` and ``/2`` list them.
TABLE: Final[list[tuple[str, type[Resource]]]] = [
    ("/", Root),
    ("/version", rcluster.Version),
    ("/2", V2),
    ("/2/info", rcluster.Info),
    ("/2/features", rcluster.Features),
    ("/2/redistribute-config", rcluster.RedistributeConfig),
    ("/2/modify", rcluster.ClusterModify),
    ("/2/tags", rcluster.Tags),
    ("/2/os", rcluster.OperatingSystems),
    ("/2/groups", rgroups.Groups),
    ("/2/groups/{name}", rgroups.Group),
    ("/2/groups/{name}/modify", rgroups.GroupModify),
    ("/2/groups/{name}/rename", rgroups.GroupRename),
    ("/2/groups/{name}/assign-nodes", rgroups.GroupAssignNodes),
    ("/2/groups/{name}/tags", rgroups.GroupTags),
    ("/2/query/{name}", rcluster.Query),
    ("/2/query/{name}/fields", rcluster.QueryFields),
    ("/2/jobs", rjobs.Jobs),
    ("/2/jobs/{id}", rjobs.Job),
    ("/2/jobs/{id}/wait", rjobs.JobWait),
    ("/2/nodes", rnodes.Nodes),
    (_N, rnodes.Node),
    (f"{_N}/role", rnodes.NodeRole),
    (f"{_N}/modify", rnodes.NodeModify),
    (f"{_N}/evacuate", rnodes.NodeEvacuate),
    (f"{_N}/migrate", rnodes.NodeMigrate),
    (f"{_N}/powercycle", rnodes.NodePowercycle),
    (f"{_N}/storage", rnodes.NodeStorage),
    (f"{_N}/storage/modify", rnodes.NodeStorageModify),
    (f"{_N}/storage/repair", rnodes.NodeStorageRepair),
    (f"{_N}/tags", rnodes.NodeTags),
    ("/2/instances", rinstances.Instances),
    (_I, rinstances.Instance),
    (f"{_I}/info", rinstances.InstanceInfo),
    (f"{_I}/startup", rinstances.InstanceStartup),
    (f"{_I}/shutdown", rinstances.InstanceShutdown),
    (f"{_I}/reboot", rinstances.InstanceReboot),
    (f"{_I}/reinstall", rinstances.InstanceReinstall),
    (f"{_I}/replace-disks", rinstances.InstanceReplaceDisks),
    (f"{_I}/activate-disks", rinstances.InstanceActivateDisks),
    (f"{_I}/deactivate-disks", rinstances.InstanceDeactivateDisks),
    (f"{_I}/migrate", rinstances.InstanceMigrate),
    (f"{_I}/failover", rinstances.InstanceFailover),
    (f"{_I}/rename", rinstances.InstanceRename),
    (f"{_I}/prepare-export", rinstances.InstancePrepareExport),
    (f"{_I}/export", rinstances.InstanceExport),
    (f"{_I}/modify", rinstances.InstanceModify),
    (f"{_I}/disk/{{index}}/grow", rinstances.InstanceDiskGrow),
    (f"{_I}/console", rinstances.InstanceConsole),
    (f"{_I}/tags", rinstances.InstanceTags),
]

_PLACEHOLDERS: Final = {"{name}": "([^/]+)", "{id}": "([0-9]{1,18})",
                        "{index}": "([0-9]{1,4})"}
#: Query strings with more arguments than this are refused.
MAX_QUERY_ARGS: Final = 256


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern)
    for placeholder, group in _PLACEHOLDERS.items():
        regex = regex.replace(re.escape(placeholder), group)
    return re.compile(regex)


_COMPILED: Final = [(_compile(p), cls) for p, cls in TABLE]


def lookup(path: str) -> tuple[type[Resource], tuple[str, ...]] | None:
    """The resource for a (still percent-encoded) path and the decoded
    parts its pattern captured; None for an unknown path."""
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    for regex, cls in _COMPILED:
        match = regex.fullmatch(path)
        if match is not None:
            try:
                items = tuple(urllib.parse.unquote(g, errors="strict")
                              for g in match.groups())
            except UnicodeDecodeError:
                raise base.bad_request("Invalid percent-encoding in the "
                                       "path") from None
            return cls, items
    return None


def resource_list(prefix: str) -> list[dict[str, str]]:
    """The fixed resources directly below ``prefix`` (``GET /``, ``/2``)."""
    base_path = prefix.rstrip("/")
    found = []
    for pattern, _cls in TABLE:
        if "{" in pattern or pattern == prefix:
            continue
        parent, _, name = pattern.rpartition("/")
        if parent == base_path:
            found.append({"name": name, "uri": pattern})
    return found


def error_body(status: int, message: str) -> bytes:
    """Ganeti's error shape: the status, its reason and the details."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return serializer.dumps({"code": status, "message": reason,
                             "explain": message})


class RapiApp:
    """The ``Request -> Response`` application of the RAPI server."""

    def __init__(self, authenticator: auth.Authenticator,
                 luxi_factory: Callable[[], luxi.Client]) -> None:
        self.authenticator = authenticator
        self.luxi_factory = luxi_factory
        self.webui = webui.WebUi(authenticator, luxi_factory)

    def __call__(self, request: http.Request) -> http.Response:
        split = urllib.parse.urlsplit(request.path)
        if split.path == "/ui" or split.path.startswith(webui.PREFIX):
            return self.webui(request, split.path)
        found = lookup(split.path)
        if found is None:
            raise base.not_found(f"No resource at {split.path[:100]!r}")
        cls, items = found
        allowed = cls.methods()
        if request.method not in allowed:
            raise http.HttpError(
                http.HTTP_METHOD_NOT_ALLOWED,
                f"Method {request.method[:20]} is not supported here; "
                f"allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)})
        webui.check_not_cross_site(request.method, request.headers)
        client = request.client_address[0]
        user = self.authenticator.check(request.headers,
                                        cls.access(request.method), client)
        try:
            queryargs = urllib.parse.parse_qs(
                split.query, keep_blank_values=True,
                max_num_fields=MAX_QUERY_ARGS)
        except ValueError as err:
            raise base.bad_request(f"Invalid query string: {err}") from None
        ctx = base.Context(method=request.method, path=split.path,
                           items=items, queryargs=queryargs,
                           headers=request.headers, raw_body=request.body,
                           luxi_factory=self.luxi_factory, user=user)
        try:
            result: Any = getattr(cls(ctx), request.method)()
        except errors.GenericError as err:
            status = err.http_status
            _log.info("%s %s by %s from %s failed (%d): %s", request.method,
                      split.path[:100], user or "anonymous", client, status,
                      err)
            raise http.HttpError(status, _one_line(str(err))) from None
        if request.method != "GET":
            _log.info("%s %s by %s from %s", request.method, split.path[:100],
                      user or "anonymous", client)
        if isinstance(result, luxi.RawResult):  # already JSON
            return http.Response(body=result.data)
        return http.json_response(result)


def _one_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""
