"""The typed record codec."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import errors, ht
from ganeti.records import Record, field


class Inner(Record):
    ERROR = errors.ConfigurationError
    n: int = field(check=ht.TNonNegativeInt, doc="A count")


class Outer(Record):
    ERROR = errors.OpPrereqError
    name: str = field(check=ht.TNonEmptyString, doc="A name")
    ratio: float = field(default=1.0)
    maybe: str | None = field(default=None)
    items: list[Inner] = field(default=[])
    by_key: dict[str, Inner] = field(default={})
    free: dict[str, Any] = field(default={})
    either: int | str = field(default=0)
    flag: bool = field(default=False)


def test_round_trip() -> None:
    obj = Outer(name="x", items=[Inner(n=1)], by_key={"a": Inner(n=2)},
                free={"k": [1, "v"]}, either="s", flag=True)
    data = obj.to_dict()
    assert data["items"] == [{"n": 1}]
    assert Outer.from_dict(data) == obj


def test_defaults_are_not_shared() -> None:
    a, b = Outer(name="a"), Outer(name="b")
    a.items.append(Inner(n=1))
    assert b.items == []


def test_int_accepted_as_float() -> None:
    assert Outer.from_dict({"name": "x", "ratio": 2}).ratio == 2.0


@pytest.mark.parametrize(("data", "fragment"), [
    ({"name": ""}, "Outer.name: expected a non-empty string"),
    ({"name": 3}, "Outer.name: expected a string, got 3"),
    ({}, "missing required field 'name'"),
    ({"name": "x", "bogus": 1}, "unknown field(s): bogus"),
    ({"name": "x", "items": [{"n": -1}]}, "Outer.items"),
    ({"name": "x", "items": "no"}, "expected a list"),
    ({"name": "x", "flag": 1}, "expected a boolean"),
    ({"name": "x", "either": 1.5}, "an integer or a string"),
    ("not a dict", "expected a dictionary"),
])
def test_errors_name_the_field(data: Any, fragment: str) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        Outer.from_dict(data)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_nested_error_uses_outer_class() -> None:
    with pytest.raises(errors.OpPrereqError):
        Outer.from_dict({"name": "x", "by_key": {"a": {"n": "x"}}})


def test_validate_objects_built_in_code() -> None:
    obj = Outer(name="x")
    obj.validate()
    obj.name = ""
    with pytest.raises(errors.OpPrereqError, match=r"Outer\.name"):
        obj.validate()


def test_copy_is_deep() -> None:
    obj = Outer(name="x", items=[Inner(n=1)])
    dup = obj.copy()
    dup.items[0].n = 5
    assert obj.items[0].n == 1


def test_field_table() -> None:
    specs = Outer.fields()
    assert specs["name"].required and specs["name"].doc == "A name"
    assert not specs["ratio"].required


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10)


@given(st.dictionaries(st.sampled_from(
    ["name", "ratio", "maybe", "items", "by_key", "free", "either", "flag",
     "junk"]), json_values, max_size=6))
def test_decode_raises_only_the_record_error(data: dict[str, Any]) -> None:
    try:
        obj = Outer.from_dict(data)
    except errors.OpPrereqError:
        return
    assert Outer.from_dict(obj.to_dict()) == obj


@given(st.dictionaries(st.sampled_from(
    ["name", "ratio", "maybe", "items", "by_key", "free", "either", "flag",
     "junk"]), json_values, max_size=6) | json_values)
def test_accepts_agrees_with_decoding(data: Any) -> None:
    # accepts() judges node answers without decoding them; it must say
    # yes exactly where from_dict succeeds.
    try:
        Outer.from_dict(data)
    except errors.OpPrereqError:
        decodes = False
    else:
        decodes = True
    assert Outer.accepts(data) is decodes


def test_validate_rejects_string_for_list() -> None:
    obj = Outer(name="x")
    obj.free = "abc"  # type: ignore[assignment]
    with pytest.raises(errors.OpPrereqError, match="free"):
        obj.validate()
    obj = Outer(name="x")
    obj.items = "abc"  # type: ignore[assignment]
    with pytest.raises(errors.OpPrereqError, match="items"):
        obj.validate()
