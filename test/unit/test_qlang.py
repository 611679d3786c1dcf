"""The query filter language: parsing, formatting, validation, evaluation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import errors, qlang

PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pylib")


def test_listing_commands_load_pyparsing_only_to_parse() -> None:
    # pyparsing was a third of the start-up of gnt-instance list, which
    # parses no filter text unless given one.
    code = ("import sys\n"
            "from ganeti.client import gnt_instance, gnt_node, listing\n"
            "from ganeti import query, qlang\n"
            "assert qlang.make_filter([], False) is None\n"
            "assert 'pyparsing' not in sys.modules\n"
            "assert qlang.parse('name == \"a\"') == ['=', 'name', 'a']\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": PYLIB})
    assert res.returncode == 0, res.stderr


# --- Parsing ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('name == "node1"', ["=", "name", "node1"]),
    ("name == 'node1'", ["=", "name", "node1"]),
    ("pinst_cnt != 0", ["!=", "pinst_cnt", 0]),
    ("mfree < 512", ["<", "mfree", 512]),
    ("mfree <= -1", ["<=", "mfree", -1]),
    ("mfree > 1", [">", "mfree", 1]),
    ("mfree >= 1", [">=", "mfree", 1]),
    ("offline == true", ["=", "offline", True]),
    ("offline == false", ["=", "offline", False]),
    ("offline", ["?", "offline"]),
    ("not offline", ["!", ["?", "offline"]]),
    ('"web" in tags', ["=[]", "tags", "web"]),
    ('"web" not in tags', ["!", ["=[]", "tags", "web"]]),
    ("name =~ m/^node[12]/", ["=~", "name", "^node[12]"]),
    ("name =~ m/node/i", ["=~", "name", "(?i)node"]),
    ("name !~ m#a/b#", ["!", ["=~", "name", "a/b"]]),
    (r"name =~ m/a\/b/", ["=~", "name", "a/b"]),
    ('name =* "node*"', ["=~", "name", "^node.*$"]),
    ('name !* "n?"', ["!", ["=~", "name", "^n.$"]]),
    ("a and b and c", ["&", ["?", "a"], ["?", "b"], ["?", "c"]]),
    ("a or b and c", ["|", ["?", "a"], ["&", ["?", "b"], ["?", "c"]]]),
    ("(a or b) and c", ["&", ["|", ["?", "a"], ["?", "b"]], ["?", "c"]]),
    ("not (a and b)", ["!", ["&", ["?", "a"], ["?", "b"]]]),
    ("not not a", ["!", ["!", ["?", "a"]]]),
    ("hv/kernel_path == \"\"", ["=", "hv/kernel_path", ""]),
    ('nic.mac/0 == "aa"', ["=", "nic.mac/0", "aa"]),
    (r'name == "a\"b\\c"', ["=", "name", 'a"b\\c']),
])
def test_parse(text: str, expected: list[Any]) -> None:
    assert qlang.parse(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "name ==", "== 1", "and", "a and", "a = 1", "(a", "a)",
    "name =~ m/(/", "name =~ /x/", '"x" in', "in == 1", "name == 1.5",
    "not", "a b",
])
def test_parse_errors_are_one_clear_line(text: str) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        qlang.parse(text)
    assert info.value.message.startswith("Invalid query filter: ")
    assert "\n" not in info.value.message
    assert len(info.value.message) < 200
    assert info.value.exit_code == errors.EXIT_FAILURE


# --- Validation ------------------------------------------------------------------

@pytest.mark.parametrize("filt", [
    None, [], "x", ["~", "a"], ["!"], ["!", "a"], ["!", ["?", "a"], ["?", "b"]],
    ["?"], ["?", 1], ["=", "a"], ["=", "a", 1, 2], ["=", 1, 1],
    ["=", "a", [1]], ["=", "a", None], ["=~", "a", 1], ["=~", "a", "("],
    ["&", ["?", "a"], "b"],
])
def test_validate_refuses(filt: Any) -> None:
    with pytest.raises(errors.OpPrereqError):
        qlang.validate(filt)


def test_validate_refuses_deep_nesting() -> None:
    filt: list[Any] = ["?", "a"]
    for _ in range(100):
        filt = ["!", filt]
    with pytest.raises(errors.OpPrereqError, match="deeply"):
        qlang.validate(filt)


def test_referenced_fields_in_first_use_order() -> None:
    filt = qlang.parse('b and (a == 1 or not b) and "x" in c')
    assert qlang.referenced_fields(filt) == ["b", "a", "c"]


# --- Round trip ------------------------------------------------------------------

_FIELDS = st.sampled_from(["name", "pinst_cnt", "tags", "hv/kernel_path",
                           "nic.mac/0", "a_b", "x.y-z"])
_VALUES = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
            max_size=8),
    st.integers(min_value=-10**12, max_value=10**12),
    st.booleans())
_REGEXES = st.text(alphabet="abc/#^|.*+?()[]\\", max_size=8).filter(
    lambda r: _compiles(r) and not r.endswith("\\"))


def _compiles(pattern: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "possible nested set" and friends
        try:
            re.compile(pattern)
        except (re.error, FutureWarning):
            return False
    return True


_LEAVES = st.one_of(
    st.tuples(st.sampled_from(sorted(qlang.COMPARE_OPS)), _FIELDS,
              _VALUES).map(list),
    st.tuples(st.just(qlang.OP_REGEXP), _FIELDS, _REGEXES).map(list),
    st.tuples(st.just(qlang.OP_CONTAINS), _FIELDS, _VALUES).map(list),
    st.tuples(st.just(qlang.OP_TRUE), _FIELDS).map(list),
)
FILTERS = st.recursive(
    _LEAVES,
    lambda sub: st.one_of(
        st.tuples(st.just(qlang.OP_NOT), sub).map(list),
        st.builds(lambda op, items: [op, *items],
                  st.sampled_from([qlang.OP_AND, qlang.OP_OR]),
                  st.lists(sub, min_size=2, max_size=4))),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(FILTERS)
def test_parse_format_round_trip(filt: list[Any]) -> None:
    text = qlang.format_filter(filt)
    assert qlang.parse(text) == filt


# --- Evaluation ------------------------------------------------------------------

def reference_eval(filt: list[Any], item: dict[str, Any]) -> bool:
    """A deliberately plain evaluator to check the compiled one against."""
    op = filt[0]
    if op == "&":
        return all(reference_eval(f, item) for f in filt[1:])
    if op == "|":
        return any(reference_eval(f, item) for f in filt[1:])
    if op == "!":
        return not reference_eval(filt[1], item)
    value = item.get(filt[1])
    if op == "?":
        return bool(value)
    want = filt[2]

    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "num"
        return type(v).__name__

    def equal(a: Any, b: Any) -> bool:
        return a is not None and kind(a) == kind(b) and a == b

    if op == "=":
        return equal(value, want)
    if op == "!=":
        return not equal(value, want)
    if op == "=~":
        return isinstance(value, str) and re.search(want, value) is not None
    if op == "=[]":
        return isinstance(value, list) and any(equal(v, want) for v in value)
    if value is None or kind(value) != kind(want) or kind(value) in (
            "bool", "list"):
        return False
    return {"<": value < want, "<=": value <= want, ">": value > want,
            ">=": value >= want}[op]


_ITEM_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
        ["", "a", "abc", "b/c", "#"]),
    st.lists(st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b"]),
                       st.booleans()), max_size=3))
ITEMS = st.fixed_dictionaries(
    {name: _ITEM_VALUES for name in ["name", "pinst_cnt", "tags",
                                     "hv/kernel_path", "nic.mac/0", "a_b",
                                     "x.y-z"]})


@settings(max_examples=400, deadline=None)
@given(FILTERS, ITEMS)
def test_compiled_filter_agrees_with_reference(filt: list[Any],
                                               item: dict[str, Any]) -> None:
    predicate = qlang.compile_filter(filt)
    assert predicate(item.get) == reference_eval(filt, item)


def test_evaluation_examples() -> None:
    item = {"name": "node1.example.com", "mfree": 512, "offline": False,
            "tags": ["web", "db"], "bootid": None}
    check = lambda text: qlang.compile_filter(qlang.parse(text))(item.get)  # noqa: E731
    assert check('name =~ m/^node1/')
    assert check("mfree >= 512 and not offline")
    assert check('"db" in tags')
    assert not check('"x" in tags')
    assert not check('mfree > "a"')
    assert not check("offline == 0")
    assert not check('bootid == "x"')
    assert check('bootid != "x"')
    assert not check("bootid")


def test_kind_checks() -> None:
    kinds = {"mfree": "unit", "name": "text", "tags": "list",
             "offline": "bool"}
    with pytest.raises(errors.OpPrereqError, match="numeric"):
        qlang.compile_filter(qlang.parse('mfree > "a"'), kinds)
    with pytest.raises(errors.OpPrereqError, match="list field"):
        qlang.compile_filter(qlang.parse('"a" in name'), kinds)
    with pytest.raises(errors.OpPrereqError, match="boolean"):
        qlang.compile_filter(qlang.parse("offline == 1"), kinds)
    with pytest.raises(errors.UnknownFieldError, match="nosuch") as info:
        qlang.compile_filter(qlang.parse("nosuch"), kinds)
    assert info.value.exit_code == errors.EXIT_UNKNOWN_FIELD
    qlang.compile_filter(qlang.parse("mfree > 1 and offline == true"), kinds)


# --- Command line helpers ----------------------------------------------------------

def test_make_filter() -> None:
    assert qlang.make_filter([], False) is None
    assert qlang.make_filter(["a", "b"], False) == [
        "|", ["=", "name", "a"], ["=", "name", "b"]]
    assert qlang.make_filter(["node*"], False) == [
        "|", ["=~", "name", "^node.*$"]]
    assert qlang.make_filter(["mfree > 1"], False) == [">", "mfree", 1]
    assert qlang.make_filter(["mfree", ">", "1"], True) == [">", "mfree", 1]
    with pytest.raises(errors.UsageError):
        qlang.make_filter([], True)
    assert qlang.make_simple_filter("name", []) is None
    assert qlang.make_simple_filter("name", ["x"]) == ["|", ["=", "name", "x"]]


def test_format_refuses_unwritable_names() -> None:
    with pytest.raises(errors.OpPrereqError):
        qlang.format_filter(["?", "and"])
    with pytest.raises(errors.OpPrereqError):
        qlang.format_filter(["=", "a b", 1])
