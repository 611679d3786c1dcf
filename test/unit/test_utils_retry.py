"""Tests for ganeti.utils.retry in virtual time."""

from __future__ import annotations

import pytest
from testkit import FakeClock

from ganeti import errors
from ganeti.utils.retry import RetryAgain, retry


def _flaky(failures: int, result: str = "done"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise RetryAgain(f"not yet ({len(calls)})")
        return result

    return fn, calls


def test_returns_at_once():
    clock = FakeClock()
    fn, calls = _flaky(0)
    assert retry(fn, delay=1, timeout=10, clock=clock.time,
                 sleep=clock.sleep) == "done"
    assert len(calls) == 1 and clock.sleeps == []


def test_fixed_delay():
    clock = FakeClock()
    fn, calls = _flaky(3)
    assert retry(fn, delay=0.5, timeout=10, clock=clock.time,
                 sleep=clock.sleep) == "done"
    assert len(calls) == 4
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_backoff_grows_and_caps():
    clock = FakeClock()
    fn, _ = _flaky(5)
    retry(fn, delay=(0.1, 2.0, 0.5), timeout=60, clock=clock.time,
          sleep=clock.sleep)
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_timeout_names_last_reason():
    clock = FakeClock()
    fn, calls = _flaky(1000)
    with pytest.raises(errors.OpRetryError) as info:
        retry(fn, delay=1.0, timeout=3.5, clock=clock.time, sleep=clock.sleep)
    err = info.value
    assert f"not yet ({len(calls)})" in str(err)
    assert err.details["reason"] == f"not yet ({len(calls)})"
    assert err.details["attempts"] == len(calls)
    assert isinstance(err.__cause__, RetryAgain)
    # The last wait is clipped to the deadline; no time is wasted past it.
    assert sum(clock.sleeps) == pytest.approx(3.5)
    assert clock.sleeps[-1] == pytest.approx(0.5)
    assert err.code == errors.ErrorCode.TIMEOUT


def test_reason_missing():
    clock = FakeClock()

    def fn() -> None:
        raise RetryAgain()

    with pytest.raises(errors.OpRetryError, match="no reason given"):
        retry(fn, delay=1, timeout=1, clock=clock.time, sleep=clock.sleep)


def test_zero_timeout_tries_once():
    clock = FakeClock()
    fn, calls = _flaky(1)
    with pytest.raises(errors.OpRetryError, match="1 attempt"):
        retry(fn, delay=1, timeout=0, clock=clock.time, sleep=clock.sleep)
    assert len(calls) == 1 and clock.sleeps == []


def test_other_exceptions_propagate():
    clock = FakeClock()

    def fn() -> None:
        raise ValueError("real failure")

    with pytest.raises(ValueError, match="real failure"):
        retry(fn, delay=1, timeout=10, clock=clock.time, sleep=clock.sleep)
    assert clock.sleeps == []


@pytest.mark.parametrize("delay", [
    -1, "1", True, (1, 2), (0.1, 0.5, 1), (1, 2, 0.5), (-1, 2, 3), (1, "x", 3),
])
def test_bad_delay(delay):
    with pytest.raises(errors.ProgrammerError):
        retry(lambda: None, delay=delay, timeout=1)


@pytest.mark.parametrize("timeout", [-1, "5", None, False])
def test_bad_timeout(timeout):
    with pytest.raises(errors.ProgrammerError, match="timeout"):
        retry(lambda: None, delay=1, timeout=timeout)


def test_real_clock_default_zero_delay():
    fn, calls = _flaky(2)
    assert retry(fn, delay=0, timeout=30) == "done"
    assert len(calls) == 3
