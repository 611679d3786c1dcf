"""The OpenAPI 3 description of the RAPI, generated from its declarations.

Everything comes from the code that serves the requests: the paths and
their placeholders from :data:`ganeti.rapi.connector.TABLE`, the methods
and their summaries from the resource classes, the access a method needs
from their ``*_ACCESS``, the query arguments and bodies from their
:attr:`~ganeti.rapi.base.Resource.QUERY` and
:attr:`~ganeti.rapi.base.Resource.BODY` declarations, and a body's
properties from the fields of the opcode it fills (type, check, default,
documentation).  ``tools/rapi-openapi`` writes the result to
``doc/rapi-openapi.json``; a unit test keeps that file equal to it.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Final

from ganeti import constants, opcodes, serializer
from ganeti.rapi import base, connector

OPENAPI_VERSION: Final = "3.0.3"

_PARAM_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "{name}": {"type": "string", "minLength": 1,
               "pattern": "^[^/]+$"},
    "{id}": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    "{index}": {"type": "string", "pattern": "^[0-9]{1,4}$"},
}

_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["code", "message", "explain"],
    "properties": {"code": {"type": "integer"},
                   "message": {"type": "string"},
                   "explain": {}},
}

#: The query argument kinds of :attr:`Resource.QUERY`.
_QUERY_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    # Ganeti's booleans: an integer, 0 is false and any other true
    "bool": {"type": "integer",
             "description": "A boolean: 0 is false, other integers true"},
    "int": {"type": "integer"},
    "str": {"type": "string"},
    "list": {"type": "string"},
}


def _json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a field's Python type (its check, which is code,
    is given as the description)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = (_json_schema(inner[0]) if len(inner) == 1
                  else {"anyOf": [_json_schema(a) for a in inner]})
        if type(None) in args:
            schema = {**schema, "nullable": True}
        return schema
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin in (list, tuple) or hint in (list, tuple):
        item = _json_schema(args[0]) if args and origin is list else {}
        return {"type": "array", "items": item}
    if origin is dict or hint is dict:
        return {"type": "object"}
    return {}


def _body_schema(decl: base.Body) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    renamed = {target: key for key, target in decl.rename.items()}
    for name, spec in decl.opcode.fields().items():
        if name in opcodes.COMMON_FIELDS or name in decl.fixed:
            continue
        key = renamed.get(name, name)
        schema = _json_schema(spec.type)
        desc = spec.check.desc if spec.check is not None else ""
        schema["description"] = (f"{spec.doc} ({desc})" if desc and spec.doc
                                 else spec.doc or desc)
        properties[key] = schema
        if spec.required:
            required.append(key)
    properties.update({k: dict(v) for k, v in decl.extra.items()})
    # null (or no body) is no parameters, as Ganeti's clients send it
    result: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False,
                              "nullable": True}
    if required:
        result["required"] = sorted(required)
    return result


def _operation(cls: type[base.Resource], method: str,
               params: list[dict[str, Any]]) -> dict[str, Any]:
    summary = cls.DOC or (cls.__doc__ or "").strip().split("\n")[0]
    access = list(cls.access(method))
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}{cls.__name__}",
        "summary": summary,
        "x-ganeti-access": access,
    }
    query = [{"name": name, "in": "query", "required": False,
              "schema": dict(_QUERY_SCHEMAS[kind])}
             for name, kind in cls.QUERY.get(method, {}).items()]
    if method != "GET" and not cls.ANSWERS_RESULT:
        query.append({"name": "dry-run", "in": "query", "required": False,
                      "schema": dict(_QUERY_SCHEMAS["bool"])})
    if params or query:
        op["parameters"] = params + query
    decl = cls.BODY.get(method)
    if decl is not None:
        schema = (_body_schema(decl) if isinstance(decl, base.Body)
                  else dict(decl))
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schema}}}
    ok = ({"description": "The id of the submitted job",
           "content": {"application/json": {"schema": {
               "type": "string", "pattern": "^[0-9]+$"}}}}
          if method != "GET" and not cls.ANSWERS_RESULT else
          {"description": "The resource",
           "content": {"application/json": {"schema": {}}}})
    op["responses"] = {
        "200": ok,
        "4XX": {"$ref": "#/components/responses/Error"},
        "default": {"$ref": "#/components/responses/Error"},
    }
    return op


def generate() -> dict[str, Any]:
    """The OpenAPI 3 document of the RAPI, as a JSON-able object."""
    paths: dict[str, Any] = {}
    for pattern, cls in connector.TABLE:
        params = [{"name": ph.strip("{}"), "in": "path", "required": True,
                   "schema": dict(schema)}
                  for ph, schema in _PARAM_SCHEMAS.items() if ph in pattern]
        paths[pattern] = {m.lower(): _operation(cls, m, params)
                          for m in cls.methods()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Ganeti remote API",
                 "version": f"2 (protocol {constants.PROTOCOL_VERSION})",
                 "description": "Generated by tools/rapi-openapi from the "
                                "RAPI's resource declarations"},
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR_SCHEMA},
            "responses": {"Error": {
                "description": "An error, as Ganeti reports it",
                "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Error"}}}}},
            "securitySchemes": {"basic": {"type": "http",
                                          "scheme": "basic"}},
        },
    }


def render() -> str:
    """The document as ``doc/rapi-openapi.json`` holds it."""
    return serializer.dumps_pretty(generate())
