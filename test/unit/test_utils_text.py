"""Tests for ganeti.utils.text: units, natural sort, key=value lists,
safe values."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import errors
from ganeti.utils import text
from ganeti.utils.text import (
    format_unit,
    is_safe_value,
    nice_sort,
    parse_key_values,
    parse_unit,
)

GIB = 1024
TIB = 1024 * 1024


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0), ("512", 512), (512, 512), (0, 0),
    ("512m", 512), ("512M", 512), ("512MB", 512), ("512mib", 512),
    ("1g", GIB), ("1G", GIB), ("1GiB", GIB), ("2gb", 2 * GIB),
    ("1t", TIB), ("1T", TIB), ("1TiB", TIB), ("3tb", 3 * TIB),
    ("1.5G", 1536), ("1.5g", 1536), (".5G", 512), ("0.5t", TIB // 2),
    ("0.1", 1), ("1.0001", 2), ("1.001G", 1026), ("3.", 3),
    (" 10 G ", 10 * GIB), ("+4M", 4),
])
def test_parse_unit(value, expected):
    assert parse_unit(value) == expected


@pytest.mark.parametrize(("value", "fragment"), [
    ("", "Empty"), ("   ", "Empty"), ("-1", "Negative"), ("-1.5G", "Negative"),
    (-3, "Negative"), ("abc", "Invalid size"), ("G", "Invalid size"),
    ("1.2.3", "Invalid size"), ("1x", "Unknown unit"), ("1kb", "Unknown unit"),
    ("1 G B", "Invalid size"), (True, "not a number"), (1.5, "expected"),
    (None, "expected"),
])
def test_parse_unit_errors(value, fragment):
    with pytest.raises(errors.UnitParseError, match=fragment) as info:
        parse_unit(value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("mib", "units", "expected"), [
    (0, "h", "0M"), (512, "h", "512M"), (1023, "h", "1023M"),
    (1024, "h", "1.0G"), (1536, "h", "1.5G"), (TIB - 1, "h", "1024.0G"),
    (2 * TIB, "h", "2.0T"), (int(2.5 * TIB), "h", "2.5T"),
    (512, "m", "512"), (3 * TIB, "m", str(3 * TIB)),
    (512, "g", "0.5"), (2048, "g", "2.0"), (TIB, "g", "1024.0"),
    (TIB, "t", "1.0"), (512, "t", "0.0"),
])
def test_format_unit(mib, units, expected):
    assert format_unit(mib, units) == expected


def test_format_unit_default_is_human():
    assert format_unit(1536) == "1.5G"


def test_format_unit_errors():
    with pytest.raises(errors.ParameterError, match="Invalid unit 'x'"):
        format_unit(10, "x")
    with pytest.raises(errors.ProgrammerError):
        format_unit("10")  # type: ignore[arg-type]
    with pytest.raises(errors.ProgrammerError):
        format_unit(True)


@given(st.integers(min_value=0, max_value=10**9))
def test_roundtrip_mib(mib):
    assert parse_unit(format_unit(mib, "m")) == mib
    assert parse_unit(f"{mib}M") == mib


@given(st.integers(min_value=0, max_value=10**6))
def test_roundtrip_whole_gib(gib):
    mib = gib * GIB
    assert parse_unit(format_unit(mib, "g") + "G") == mib
    if gib and mib < TIB:
        assert parse_unit(format_unit(mib, "h")) == mib


@given(st.integers(min_value=0, max_value=10**4))
def test_roundtrip_whole_tib(tib):
    mib = tib * TIB
    assert parse_unit(format_unit(mib, "t") + "T") == mib
    if tib:
        assert parse_unit(format_unit(mib, "h")) == mib


@given(st.integers(min_value=0, max_value=10**6),
       st.sampled_from(["", "m", "g", "t", "M", "G", "T", "gib", "TB"]))
def test_parse_unit_never_rounds_down(number, unit):
    # Fractions round up to a whole MiB: the result covers the value asked.
    value = number / 7
    factor = text._UNIT_FACTORS[unit.lower()]
    result = parse_unit(f"{value:.3f}{unit}")
    assert result >= round(value, 3) * factor - 1e-6
    assert result - round(value, 3) * factor < 1


def test_nice_sort_examples():
    assert nice_sort(["node10", "node2", "node1"]) == ["node1", "node2", "node10"]
    assert nice_sort(["b", "a10", "a9", "a", "10", "9"]) == [
        "9", "10", "a", "a9", "a10", "b"]
    assert nice_sort(["x1y10", "x1y2", "x01y3"]) == ["x01y3", "x1y2", "x1y10"]
    assert nice_sort([]) == []
    assert nice_sort(iter(["2", "1"])) == ["1", "2"]


def test_nice_sort_rejects_non_strings():
    with pytest.raises(errors.ProgrammerError):
        nice_sort(["a", 1])  # type: ignore[list-item]


_names = st.lists(st.text(alphabet="ab01239.-", max_size=8), max_size=20)


@given(_names, st.randoms(use_true_random=False))
def test_nice_sort_properties(names, rnd: random.Random):
    result = nice_sort(names)
    assert sorted(result) == sorted(names)  # same multiset
    shuffled = list(names)
    rnd.shuffle(shuffled)
    assert nice_sort(shuffled) == result  # independent of input order
    keys = [text.nice_sort_key(n) for n in result]
    assert keys == sorted(keys)


@given(st.integers(min_value=0, max_value=10**6),
       st.integers(min_value=0, max_value=10**6))
def test_nice_sort_orders_numbers_by_value(a, b):
    first, second = nice_sort([f"node{a}", f"node{b}"])
    assert int(first[4:]) <= int(second[4:])


def test_parse_key_values():
    assert parse_key_values("a=1,b=2") == {"a": "1", "b": "2"}
    assert parse_key_values("c,no_d,-e") == {"c": True, "d": False, "e": None}
    assert parse_key_values("") == {}
    assert parse_key_values("a=") == {"a": ""}
    assert parse_key_values("a=b=c") == {"a": "b=c"}
    assert parse_key_values("no_x=1") == {"no_x": "1"}
    assert parse_key_values(r"path=a\,b,k=c\\d") == {"path": "a,b", "k": "c\\d"}


@pytest.mark.parametrize(("value", "fragment"), [
    ("=1", "Empty parameter name"), ("a=1,,b=2", "Empty parameter name"),
    ("no_", "Empty parameter name"), ("-", "Empty parameter name"),
    ("a=1,a=2", "'a' given more than once"), ("c,no_c", "more than once"),
    ("x\\", "Trailing backslash"), (None, "Expected a key=value"),
])
def test_parse_key_values_errors(value, fragment):
    with pytest.raises(errors.ParameterError, match=fragment):
        parse_key_values(value)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                       st.text(alphabet="abc,=\\ 1", max_size=6), max_size=6))
def test_parse_key_values_roundtrip(params):
    def escape(s: str) -> str:
        return s.replace("\\", "\\\\").replace(",", "\\,")

    encoded = ",".join(f"{k}={escape(v)}" for k, v in params.items())
    assert parse_key_values(encoded) == params


@pytest.mark.parametrize(("value", "safe"), [
    ("", True), ("abc", True), ("a-b_c.d,e:f/g=h+i@j%k", True),
    ("with space", False), ("semi;colon", False), ("$(x)", False),
    ("quote'", False), ("new\nline", False), (None, False), (3, False),
])
def test_is_safe_value(value, safe):
    assert is_safe_value(value) is safe
