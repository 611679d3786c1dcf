"""Named checks."""

from __future__ import annotations

import pytest

from ganeti import ht


@pytest.mark.parametrize(("check", "good", "bad"), [
    (ht.TInt, [0, -3, 10**20], [True, 1.0, "1", None]),
    (ht.TNonNegativeInt, [0, 5], [-1, False, 2.5]),
    (ht.TPositiveInt, [1], [0, -1]),
    (ht.TNumber, [1, 1.5], [True, "1"]),
    (ht.TString, ["", "x"], [1, None]),
    (ht.TNonEmptyString, ["x"], ["", 1]),
    (ht.TIPv4Address, ["192.0.2.1"], ["192.0.2.256", "::1", 3, "a"]),
    (ht.TIPAddress, ["192.0.2.1", "2001:db8::1"], ["x", "1.2.3"]),
    (ht.TMacAddress, ["aa:00:00:12:34:56", "AA:BB:CC:DD:EE:FF"],
     ["aa:00:00:12:34", "zz:00:00:12:34:56", 5]),
    (ht.THostname, ["node1", "node1.example.com", "a-b.c"],
     ["-x", "a..b", "", "a b", "x_y"]),
    (ht.TAbsolutePath, ["/etc/x"], ["etc/x", "/a\0b", None]),
    (ht.TSafeString, ["abc-1.2:3/4=5", ""], ["a b", "a;b", "$(x)", "a\nb"]),
    (ht.TTag, ["web", "env:prod"], ["", "a b", "x" * 129]),
])
def test_checks(check: ht.Check, good: list[object], bad: list[object]) -> None:
    for value in good:
        assert check(value), (check, value)
    for value in bad:
        assert not check(value), (check, value)


def test_combinators() -> None:
    check = ht.TMaybe(ht.TListOf(ht.TElemOf(["a", "b"])))
    assert check(None)
    assert check(["a", "b"])
    assert not check(["c"])
    assert not check("a")
    assert (ht.TInt | ht.TString)("x")
    assert not (ht.TInt & ht.TNonNegativeInt)(-1)
    assert ht.TDictOf(ht.TString, ht.TInt)({"a": 1})
    assert not ht.TDictOf(ht.TString, ht.TInt)({"a": "1"})
    assert ht.TRange(1, 3)(3) and not ht.TRange(1, 3)(4)
    assert ht.TGe(0.5)(0.5) and not ht.TGe(0.5)(0)


def test_describe_failure_is_one_short_line() -> None:
    msg = ht.describe_failure(ht.TInt, "x" * 500)
    assert msg.startswith("expected an integer, got ")
    assert "\n" not in msg and len(msg) < 120


def test_check_swallows_type_errors() -> None:
    assert not ht.TGe(1)(object())
