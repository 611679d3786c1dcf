"""Start-up savings below the CLI: records and the opcode package.

Record classes share one ``__repr__`` and ``__eq__`` instead of having
them generated per class; they must behave as the dataclass-generated
ones.  The opcode package imports its area modules on first use; every
name must still resolve, to its own module, and :data:`OP_MAPPING` must
be complete whenever it is seen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ganeti import opcodes
from ganeti.records import Record, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


# --- records behave as dataclasses ---------------------------------------------

class Sample(Record):
    size: int = field(default=1)
    items: list[Any] = field(default=[])
    note: str | None = field(default=None, compare=False)
    parent: Sample | None = field(default=None)


@dataclasses.dataclass(kw_only=True)
class Reference:
    size: int = 1
    items: list[Any] = dataclasses.field(default_factory=list)
    note: str | None = dataclasses.field(default=None, compare=False)
    parent: Reference | None = None


def _pair(**kwargs: Any) -> tuple[Sample, Reference]:
    return Sample(**kwargs), Reference(**kwargs)


def test_repr_is_the_dataclass_repr() -> None:
    rec, ref = _pair(size=3, items=["a", 1], note="n")
    assert repr(rec) == repr(ref).replace("Reference", "Sample", 1)
    rec.parent = rec
    ref.parent = ref
    assert repr(rec) == repr(ref).replace("Reference", "Sample", 1)


@pytest.mark.parametrize(("left", "right"), [
    ({}, {}),
    ({"size": 2}, {"size": 3}),
    ({"note": "a"}, {"note": "b"}),       # not compared
    ({"items": [1]}, {"items": [1]}),
    ({"items": [1]}, {"items": [2]}),
])
def test_eq_is_the_dataclass_eq(left: dict[str, Any],
                                right: dict[str, Any]) -> None:
    assert (Sample(**left) == Sample(**right)) == \
        (Reference(**left) == Reference(**right))
    assert (Sample(**left) != Sample(**right)) == \
        (Reference(**left) != Reference(**right))


def test_eq_keeps_identity_semantics_of_tuples() -> None:
    nan = float("nan")

    class One(Record):
        value: float = field(default=0.0)

    assert One(value=nan) == One(value=nan)
    assert Sample(size=nan) == Sample(size=nan)
    assert Sample() != Reference()
    assert Sample().__eq__(Reference()) is NotImplemented
    assert One() == One()


def test_records_are_unhashable_unless_they_say_otherwise() -> None:
    with pytest.raises(TypeError):
        hash(Sample())

    class Hashed(Record):
        name: str = field(default="x")

        def __hash__(self) -> int:
            return hash(self.name)

    class OwnEq(Record):
        name: str = field(default="x")

        def __eq__(self, other: object) -> bool:
            return True

    assert hash(Hashed()) == hash("x")
    assert OwnEq() == 1
    assert OwnEq.__hash__ is None
    assert Reference.__hash__ is None  # what dataclasses do, for reference


def test_records_are_still_dataclasses() -> None:
    assert dataclasses.is_dataclass(Sample)
    assert [f.name for f in dataclasses.fields(Sample)] == \
        ["size", "items", "note", "parent"]
    copy = dataclasses.replace(Sample(size=5), note="x")
    assert (copy.size, copy.note) == (5, "x")
    with pytest.raises(TypeError):
        Sample(1)  # keyword-only


# --- the opcode package loads its areas on demand -----------------------------

def test_every_opcode_is_found_in_its_area_by_its_name() -> None:
    """The prefix table sends each name to the module declaring it (so a
    lookup imports one area, never all of them)."""
    prefixes = opcodes._AREA_OF_PREFIX
    for cls in opcodes.OP_MAPPING.values():
        areas = [area for prefix, area in prefixes
                 if cls.__name__.startswith(prefix)]
        assert areas, f"{cls.__name__} matches no prefix"
        assert f"ganeti.opcodes.{areas[0]}" == cls.__module__, cls.__name__


def test_areas_are_the_modules_that_declare_opcodes() -> None:
    modules = {cls.__module__ for cls in opcodes.OP_MAPPING.values()}
    assert modules == {f"ganeti.opcodes.{a}" for a in opcodes.AREAS}


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        opcodes.OpNoSuchThing  # noqa: B018
    with pytest.raises(AttributeError):
        opcodes.no_such_name  # noqa: B018
    assert not hasattr(opcodes, "OpInstanceNoSuchThing")


_PROBE = """
import json, sys
from ganeti import opcodes
{code}
print(json.dumps([result, sorted(m for m in sys.modules
                                 if m.startswith("ganeti.opcodes"))]))
"""


def _fresh(code: str) -> tuple[Any, set[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "pylib")
    res = subprocess.run([sys.executable, "-c", _PROBE.format(code=code)],
                         env=env, capture_output=True, text=True,
                         timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    result, modules = json.loads(res.stdout.splitlines()[-1])
    return result, set(modules)


def test_one_opcode_imports_one_area() -> None:
    result, modules = _fresh(
        "result = opcodes.OpInstanceStartup(instance_name='i').OP_ID")
    assert result == "OP_INSTANCE_STARTUP"
    assert modules == {"ganeti.opcodes", "ganeti.opcodes.base",
                       "ganeti.opcodes.instance"}


def test_op_mapping_is_complete_when_first_seen() -> None:
    result, modules = _fresh("result = len(opcodes.OP_MAPPING)")
    assert result == len(opcodes.OP_MAPPING)
    assert modules == {"ganeti.opcodes", "ganeti.opcodes.base"} | {
        f"ganeti.opcodes.{a}" for a in opcodes.AREAS}


def test_load_finds_opcodes_of_areas_not_imported_yet() -> None:
    result, _modules = _fresh(
        "result = opcodes.OpCode.load({'OP_ID': 'OP_TAGS_GET',"
        " 'kind': 'cluster'}).summary()")
    assert result == "TAGS_GET"
    result, _modules = _fresh(
        "from ganeti.opcodes import OpTestDelay\n"
        "result = type(opcodes.OpCode.load({'OP_ID': 'OP_TEST_DELAY',"
        " 'duration': 0})).__name__")
    assert result == "OpTestDelay"
