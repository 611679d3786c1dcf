"""ganeti.serializer: deterministic compact JSON, strict decoding."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import errors, serializer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


def test_dumps_is_compact_sorted_utf8() -> None:
    out = serializer.dumps({"b": [1, 2], "a": "é", "c": {"z": None, "y": 1.5}})
    assert out == '{"a":"é","b":[1,2],"c":{"y":1.5,"z":null}}'.encode()
    assert isinstance(out, bytes)


def test_dumps_is_deterministic_over_insertion_order() -> None:
    one = {"x": 1, "y": {"b": 2, "a": 1}}
    two = {"y": {"a": 1, "b": 2}, "x": 1}
    assert serializer.dumps(one) == serializer.dumps(two)


def test_dumps_pretty_is_indented_and_ends_with_newline() -> None:
    text = serializer.dumps_pretty({"b": 1, "a": [1]})
    assert text == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'
    assert serializer.loads(text) == {"a": [1], "b": 1}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf,
                                   {1, 2}, object(), {"a": b"bytes"}])
def test_dumps_rejects_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(errors.ProgrammerError, match="Cannot encode"):
        serializer.dumps(value)
    with pytest.raises(errors.ProgrammerError):
        serializer.dumps_pretty(value)


def test_loads_accepts_bytes_and_str() -> None:
    assert serializer.loads(b'{"a":[1,"\xc3\xa9"]}') == {"a": [1, "é"]}
    assert serializer.loads('{"a":[1,"é"]}') == {"a": [1, "é"]}
    assert serializer.loads(bytearray(b"[true]")) == [True]


@pytest.mark.parametrize("data, where", [
    (b'{"a": 1,', "line 1 column 9"),
    (b'{"a": 1}\n{"b": 2}', "line 2 column 1"),
    (b"", "line 1 column 1"),
    (b"[1, 2,\n  ]", "line 2 column 3"),
])
def test_loads_malformed_is_protocol_error_with_position(data: bytes,
                                                          where: str) -> None:
    with pytest.raises(errors.ProtocolError) as info:
        serializer.loads(data)
    message = str(info.value)
    assert message.startswith("Invalid JSON: ")
    assert where in message
    assert "\n" not in message


@pytest.mark.parametrize("data", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_loads_rejects_non_finite_numbers(data: str) -> None:
    with pytest.raises(errors.ProtocolError, match="non-finite"):
        serializer.loads(data)


def test_loads_rejects_invalid_utf8() -> None:
    with pytest.raises(errors.ProtocolError, match="not UTF-8 at byte 2"):
        serializer.loads(b'["\xff"]')


def test_loads_rejects_non_text_input() -> None:
    with pytest.raises(errors.ProgrammerError):
        serializer.loads(12)  # type: ignore[arg-type]


def test_loads_deep_nesting_is_protocol_error() -> None:
    with pytest.raises(errors.ProtocolError):
        serializer.loads("[" * 100000 + "]" * 100000)


@given(json_values)
def test_round_trip(value: object) -> None:
    encoded = serializer.dumps(value)
    assert serializer.loads(encoded) == value
    assert serializer.loads(serializer.dumps_pretty(value)) == value
    # Canonical: decoding and re-encoding gives the same bytes.
    assert serializer.dumps(serializer.loads(encoded)) == encoded


@given(json_values)
def test_same_as_standard_json_with_sorted_keys(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
    assert serializer.dumps(value) == expected
