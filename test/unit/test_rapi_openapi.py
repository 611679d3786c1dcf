"""The generated OpenAPI description of the RAPI (lib/rapi/openapi.py)."""

from __future__ import annotations

import json
import pathlib

from ganeti.rapi import base, connector, openapi

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "doc" / "rapi-openapi.json"


def test_committed_file_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(), \
        "doc/rapi-openapi.json is out of date: run tools/rapi-openapi"


def test_every_resource_and_method_is_described() -> None:
    doc = openapi.generate()
    assert doc["openapi"].startswith("3.")
    for pattern, cls in connector.TABLE:
        assert sorted(doc["paths"][pattern]) == sorted(
            m.lower() for m in cls.methods())


def test_body_comes_from_the_opcode_fields() -> None:
    doc = openapi.generate()
    op = doc["paths"]["/2/instances/{name}/rename"]["put"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["new_name"]
    assert schema["properties"]["ip_check"]["type"] == "boolean"
    # the path sets the instance; the common fields are not parameters
    assert "instance_name" not in schema["properties"]
    assert "dry_run" not in schema["properties"]
    assert schema["additionalProperties"] is False


def test_renamed_body_keys_and_extra_keys() -> None:
    doc = openapi.generate()
    op = doc["paths"]["/2/instances"]["post"]
    props = op["requestBody"]["content"]["application/json"]["schema"][
        "properties"]
    assert "name" in props and "instance_name" not in props
    assert "os" in props and "os_type" not in props
    assert props["__version__"]["enum"] == [1]
    assert props["pnode"] == {"type": "string", "nullable": True,
                              "description": props["pnode"]["description"]}


def test_writes_answer_job_ids_and_errors_have_ganetis_shape() -> None:
    doc = openapi.generate()
    op = doc["paths"]["/2/instances/{name}"]["delete"]
    assert op["responses"]["200"]["content"]["application/json"][
        "schema"]["type"] == "string"
    assert op["x-ganeti-access"] == ["write"]
    names = [p["name"] for p in op["parameters"]]
    assert names == ["name", "dry-run"]
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message", "explain"]


def test_schema_of_python_types() -> None:
    assert openapi._json_schema(list[int]) == {
        "type": "array", "items": {"type": "integer"}}
    assert openapi._json_schema(int | None) == {"type": "integer",
                                                "nullable": True}
    assert openapi._json_schema(dict[str, int]) == {"type": "object"}


def test_json_schema_declarations_are_passed_through() -> None:
    doc = openapi.generate()
    body = doc["paths"]["/2/nodes/{name}/role"]["put"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["enum"] == [
        "master-candidate", "regular", "drained", "offline"]
    assert isinstance(base.Body(opcode=base.opcodes.OpInstanceRemove).fixed,
                      frozenset)
    json.dumps(doc)  # JSON-able
