"""Retrying an operation until it succeeds or a deadline passes.

The function asks for another attempt by raising :class:`RetryAgain`; any
other exception propagates at once.  The clock and the sleep are injected
so tests run in virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ganeti import errors

T = TypeVar("T")

#: ``(start, factor, maximum)``: wait ``start`` seconds, multiply by
#: ``factor`` after each attempt, never wait more than ``maximum``.
Backoff = tuple[float, float, float]


def next_delay(backoff: Backoff, delay: float | None) -> float:
    """The wait after ``delay`` (None: the first wait) under ``backoff``;
    for retry loops that cannot block in :func:`retry` (a thread that
    also waits for other work)."""
    start, factor, maximum = backoff
    return start if delay is None else min(maximum, delay * factor)


class RetryAgain(Exception):
    """Raised by the retried function to ask for another attempt; the
    message is reported if the retries time out."""


def _check_delay(delay: float | Backoff) -> Backoff:
    if isinstance(delay, tuple):
        if len(delay) != 3 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool)
                for x in delay):
            raise errors.ProgrammerError(
                f"Retry delay must be (start, factor, max), got {delay!r}")
        start, factor, maximum = (float(x) for x in delay)
        if start < 0 or factor < 1 or maximum < start:
            raise errors.ProgrammerError(
                f"Invalid retry back-off {delay!r}: need start >= 0, "
                "factor >= 1, max >= start")
        return start, factor, maximum
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        raise errors.ProgrammerError(f"Invalid retry delay {delay!r}")
    return float(delay), 1.0, float(delay)


def retry(fn: Callable[[], T], *, delay: float | Backoff, timeout: float,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn`` until it returns; on :class:`RetryAgain` wait and call it
    again.  ``fn`` is always called at least once.  When ``timeout`` seconds
    have passed, raise :class:`errors.OpRetryError` naming the last reason.
    """
    wait, factor, maximum = _check_delay(delay)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or timeout < 0:
        raise errors.ProgrammerError(f"Invalid retry timeout {timeout!r}")
    deadline = clock() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return fn()
        except RetryAgain as err:
            last = err
        remaining = deadline - clock()
        if remaining <= 0:
            reason = str(last) or "no reason given"
            raise errors.OpRetryError(
                f"Gave up after {attempts} attempt(s) in {timeout} s: {reason}",
                reason=reason, attempts=attempts) from last
        sleep(min(wait, remaining))
        wait = min(wait * factor, maximum)
