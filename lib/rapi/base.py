"""What every RAPI resource shares: the request context, query arguments,
bodies turned into opcodes, and jobs submitted or awaited over LUXI.

A resource is a class with a method per HTTP verb it answers (``GET``,
``PUT``, ``POST``, ``DELETE``), each returning a JSON-able value, and the
access each verb needs (``GET_ACCESS`` ...).  Handlers raise
:class:`~ganeti.http.HttpError` for HTTP-level refusals; any
:class:`~ganeti.errors.GenericError` (a bad opcode field, an error from
the master) is answered with the status its code maps to.

Conventions kept from Ganeti's RAPI:

- boolean query arguments are integers (``?bulk=1``, ``?force=0``);
- a write answers the id of the job it submitted, as a JSON string;
- bodies are JSON; most are objects whose keys are the opcode's fields,
  so a wrong key or value is reported by the opcode declaration, naming
  the field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, NamedTuple

from ganeti import constants, errors, http, jqueue, luxi, opcodes, serializer
from ganeti.rapi import ACCESS_WRITE

HTTP_UNSUPPORTED_MEDIA_TYPE: Final = 415
HTTP_GATEWAY_TIMEOUT: Final = 504
#: How long a resource that runs a job and answers its result waits.
JOB_WAIT_TIMEOUT: Final = 300.0
#: The longest a ``/2/jobs/J/wait`` request is held (Ganeti's value).
WFJC_TIMEOUT: Final = 10.0
METHODS: Final = ("GET", "PUT", "POST", "DELETE")

_JOBS_FINALIZED: Final = frozenset([constants.JOB_STATUS_SUCCESS,
                                    constants.JOB_STATUS_ERROR,
                                    constants.JOB_STATUS_CANCELED])


def bad_request(message: str) -> http.HttpError:
    return http.HttpError(http.HTTP_BAD_REQUEST, message)


def not_found(message: str) -> http.HttpError:
    return http.HttpError(http.HTTP_NOT_FOUND, message)


@dataclasses.dataclass
class Context:
    """One request as a resource sees it."""

    method: str
    path: str
    #: The parts of the path the pattern captured (names, ids).
    items: tuple[str, ...]
    queryargs: Mapping[str, list[str]]
    headers: Mapping[str, str]
    raw_body: bytes
    luxi_factory: Callable[[], luxi.Client]
    user: str | None = None
    _body: Any = dataclasses.field(default=None, init=False)
    _body_parsed: bool = dataclasses.field(default=False, init=False)

    # --- LUXI ------------------------------------------------------------

    @contextlib.contextmanager
    def luxi(self) -> Iterator[luxi.Client]:
        """A LUXI connection for this request (closed afterwards)."""
        client = self.luxi_factory()
        try:
            yield client
        finally:
            client.close()

    # --- body -----------------------------------------------------------------

    def body(self) -> Any:
        """The JSON body (None when empty)."""
        if not self._body_parsed:
            self._body = self._parse_body()
            self._body_parsed = True
        return self._body

    def _parse_body(self) -> Any:
        if not self.raw_body.strip():
            return None
        ctype = self.headers.get("Content-Type")
        if ctype is not None:
            base = ctype.split(";", 1)[0].strip().lower()
            if base != http.JSON_TYPE:
                raise http.HttpError(
                    HTTP_UNSUPPORTED_MEDIA_TYPE,
                    f"Request bodies must be {http.JSON_TYPE}, not "
                    f"{base[:60]!r}")
        try:
            return serializer.loads(self.raw_body)
        except errors.ProtocolError as err:
            raise bad_request(f"Invalid request body: {err}") from None

    def body_dict(self) -> dict[str, Any]:
        """The body as an object of parameters ({} when empty)."""
        body = self.body()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object, not "
                              f"{_json_kind(body)}")
        return body

    # --- query arguments ------------------------------------------------------

    def query_list(self, name: str) -> list[str]:
        return list(self.queryargs.get(name, []))

    def query_str(self, name: str, default: str | None = None) -> str | None:
        values = self.queryargs.get(name)
        if not values:
            return default
        if len(values) > 1:
            raise bad_request(f"Only one value for the '{name}' query "
                              "argument is allowed")
        return values[0]

    def query_int(self, name: str, default: int | None = None) -> int | None:
        text = self.query_str(name)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise bad_request(f"Invalid value {text[:40]!r} for the '{name}' "
                              "query argument: expected an integer") from None

    def query_bool(self, name: str, default: bool = False) -> bool:
        """A boolean query argument: an integer, 0 is false (Ganeti's)."""
        value = self.query_int(name)
        return default if value is None else bool(value)

    def require_str(self, name: str) -> str:
        value = self.query_str(name)
        if value is None or value == "":
            raise bad_request(f"Missing the required '{name}' query argument")
        return value

    @property
    def dry_run(self) -> bool:
        return self.query_bool("dry-run")

    @property
    def bulk(self) -> bool:
        return self.query_bool("bulk")

    @property
    def force(self) -> bool:
        return self.query_bool("force")

    @property
    def use_locking(self) -> bool:
        return self.query_bool("lock")


def _json_kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", dict: "an object"}
    return kinds.get(type(value), "null")


class Body(NamedTuple):
    """The body a method takes: the fields of ``opcode`` (less the common
    ones and ``fixed``, which the path and query set), body keys renamed
    by ``rename`` (body key -> field), plus ``extra`` keys (JSON Schemas).
    Read by :mod:`ganeti.rapi.openapi` for the OpenAPI description."""

    opcode: type[opcodes.OpCode]
    fixed: frozenset[str] = frozenset(["instance_name", "node_name"])
    rename: Mapping[str, str] = {}
    extra: Mapping[str, Any] = {}


class Resource:
    """Base of the resources; see the module documentation."""

    #: Access needed per method; empty: anyone (unless authentication is
    #: required for everything).
    GET_ACCESS: ClassVar[tuple[str, ...]] = ()
    PUT_ACCESS: ClassVar[tuple[str, ...]] = (ACCESS_WRITE,)
    POST_ACCESS: ClassVar[tuple[str, ...]] = (ACCESS_WRITE,)
    DELETE_ACCESS: ClassVar[tuple[str, ...]] = (ACCESS_WRITE,)
    #: One line for the listing of ``/`` and ``/2`` and the documentation.
    DOC: ClassVar[str] = ""
    #: The body each method reads: a :class:`Body` or a JSON Schema.
    BODY: ClassVar[Mapping[str, Body | Mapping[str, Any]]] = {}
    #: The query arguments each method reads, by kind (bool, int, str,
    #: list), besides ``dry-run`` on writes.
    QUERY: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    #: Whether a write answers a result rather than a job id.
    ANSWERS_RESULT: ClassVar[bool] = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def methods(cls) -> list[str]:
        return [m for m in METHODS if callable(getattr(cls, m, None))]

    @classmethod
    def access(cls, method: str) -> tuple[str, ...]:
        value: tuple[str, ...] = getattr(cls, f"{method}_ACCESS")
        return value

    # --- helpers shared by the resources ------------------------------------

    def submit(self, *ops: opcodes.OpCode) -> str:
        """Submit one job of ``ops``; its id, as Ganeti answers it."""
        return submit_job(self.ctx, list(ops))

    def item(self, index: int = 0) -> str:
        return self.ctx.items[index]


def submit_job(ctx: Context, ops: Sequence[opcodes.OpCode]) -> str:
    """Submit one job; a ``priority`` in the request body (Ganeti's opcode
    parameter, -20..19) applies to every opcode of the job, also where
    the resource builds its opcodes from query arguments."""
    dicts = [op.to_dict() for op in ops]
    body = ctx.body()
    if isinstance(body, dict) and "priority" in body:
        try:
            priority = jqueue.check_priority(body["priority"])
        except errors.OpPrereqError as err:
            raise bad_request(str(err)) from None
        dicts = [{**one, "priority": priority} for one in dicts]
    with ctx.luxi() as client:
        job_id = client.submit_job(dicts)
    return str(job_id)


def fill_opcode(cls: type[opcodes.OpCode], body: Mapping[str, Any],
                static: Mapping[str, Any] | None = None,
                rename: Mapping[str, str] | None = None) -> opcodes.OpCode:
    """Build an opcode from body parameters plus ``static`` values (from
    the path and the query) that the body may not repeat.  ``rename``
    maps body keys to opcode fields (Ganeti's ``name`` -> ``instance_name``).
    Field errors come from the opcode's declaration, naming the field.
    """
    static = dict(static or {})
    params: dict[str, Any] = {}
    for key, value in body.items():
        target = (rename or {}).get(key, key)
        if target in static:
            raise bad_request(f"Parameter '{key}' must not be given in the "
                              "request body here")
        if target in params:
            raise bad_request(f"Parameter '{target}' given twice")
        if target == "OP_ID":
            raise bad_request("Parameter 'OP_ID' is not allowed")
        params[target] = value
    params.update(static)
    return cls.from_dict(params)


#: Converters of query arguments into body values, by kind.
QueryKind = Callable[[Context, str], Any]


def q_str(ctx: Context, name: str) -> Any:
    return ctx.query_str(name)


def q_bool(ctx: Context, name: str) -> Any:
    return ctx.query_bool(name)


def q_int(ctx: Context, name: str) -> Any:
    return ctx.query_int(name)


def q_int_list(ctx: Context, name: str) -> Any:
    """``0,2`` -> ``[0, 2]`` (Ganeti's list of disk indices)."""
    text = ctx.query_str(name)
    if text is None:
        return None
    return parse_int_list(text, name)


def parse_int_list(text: str, name: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise bad_request(f"Invalid value {text[:40]!r} for '{name}': expected "
                          "comma-separated integers") from None


#: Query arguments every write understands; not "parameters" of the body.
GENERIC_ARGS: Final = frozenset(["dry-run", "force", "bulk", "lock"])


def params_from_body_or_query(ctx: Context,
                              kinds: Mapping[str, QueryKind]) -> dict[str, Any]:
    """Operation parameters from the body or, for older clients, from the
    query arguments named in ``kinds`` (never both, as Ganeti)."""
    body = ctx.body_dict()
    given = [k for k in ctx.queryargs if k in kinds]
    if body and given:
        raise bad_request("Can't combine query and body parameters "
                          f"(query: {', '.join(sorted(given))})")
    if body:
        return body
    params = {}
    for name in given:
        value = kinds[name](ctx, name)
        if value is not None:
            params[name] = value
    return params


def uri_list(ids: Sequence[Any], fmt: str, key: str = "id") -> list[dict[str, Any]]:
    """``[{"id": x, "uri": "/2/.../x"}]``: the non-bulk listings."""
    return [{key: item, "uri": fmt % item} for item in ids]


def rows_to_dicts(fields: Sequence[str], rows: Sequence[Sequence[Any]]
                  ) -> list[dict[str, Any]]:
    return [dict(zip(fields, row, strict=True)) for row in rows]


def run_job(ctx: Context, ops: Sequence[opcodes.OpCode],
            timeout: float = JOB_WAIT_TIMEOUT) -> Any:
    """Submit a job, wait for it and return the result of its last opcode;
    a failed job raises its error (answered with the error's status)."""
    with ctx.luxi() as client:
        job_id = client.submit_job([op.to_dict() for op in ops])
        deadline = time.monotonic() + timeout
        prev_info: list[Any] | None = None
        prev_serial: int | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise http.HttpError(
                    HTTP_GATEWAY_TIMEOUT,
                    f"Job {job_id} did not finish within {timeout:.0f}s; "
                    f"follow it at /2/jobs/{job_id}")
            change = client.wait_for_job_change(
                job_id, ["status"], prev_info, prev_serial,
                min(remaining, luxi.WFJC_TIMEOUT))
            if not isinstance(change, list):
                continue  # no change within the poll interval
            prev_info, log = change
            for entry in log:
                prev_serial = max(prev_serial or 0, int(entry[0]))
            if prev_info and prev_info[0] in _JOBS_FINALIZED:
                break
        (row,) = client.query_jobs([job_id], ["status", "opresult"])
    if row is None:
        raise errors.JobLost(f"Job {job_id} disappeared")
    status, results = row
    if status == constants.JOB_STATUS_SUCCESS:
        return results[-1] if results else None
    for result in results:
        if (isinstance(result, list) and len(result) == 2
                and isinstance(result[0], str)
                and isinstance(result[1], list)):
            raise errors.decode(result)
    raise errors.OpExecError(f"Job {job_id} ended with status {status}")
