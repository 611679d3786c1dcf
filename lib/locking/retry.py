"""Acquiring with growing timeouts, then blocking (the 2.1 retry strategy).

Taking many locks of a level in sorted order while blocking builds convoys:
an opcode waiting for the last name keeps all earlier names, and everyone
wanting one of those waits too.  Instead an opcode tries with a timeout;
on failure it lets go of everything it got at that level, pauses briefly
(so those queued behind it get their turn) and tries again with a longer
timeout.  After a few attempts it blocks, so it cannot be starved forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable

from ganeti import errors
from ganeti.locking.manager import GanetiLockManager
from ganeti.locking.sharedlock import PRIO_DEFAULT

#: Called before each pause: (failed attempts so far, the timeout that
#: failed, the pause about to be taken).  May raise to abandon the acquire
#: (e.g. a canceled job).
RetryCallback = Callable[[int, float, float], None]


class LockAttemptTimeoutStrategy:
    """The timeouts of successive lock attempts of one acquire.

    Attempt ``n`` (from 0) gets about ``base * 2**n`` seconds, spread by
    ``jitter`` (a fraction, so that colliding opcodes do not retry in
    step) and capped at ``maximum``.  After ``attempts`` timed attempts
    the next timeout is None: block.  With ``block=False`` it raises
    :class:`errors.LockTimeoutError` instead.  The random source is
    injectable; pass a seeded :class:`random.Random` for repeatable runs.
    """

    def __init__(self, *, attempts: int = 5, base: float = 1.0,
                 maximum: float = 15.0, jitter: float = 0.1,
                 max_pause: float = 0.5, block: bool = True,
                 rng: random.Random | None = None) -> None:
        if attempts < 0:
            raise errors.ProgrammerError("attempts must not be negative")
        if base <= 0 or maximum < base:
            raise errors.ProgrammerError(
                "need 0 < base <= maximum for lock attempt timeouts")
        if not 0 <= jitter < 1:
            raise errors.ProgrammerError("jitter must be in [0, 1)")
        if max_pause < 0:
            raise errors.ProgrammerError("max_pause must not be negative")
        self.attempts = attempts
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
        self.max_pause = max_pause
        self.block = block
        self._rng = rng if rng is not None else random.Random()
        self._tries = 0

    @property
    def tries(self) -> int:
        """Timeouts handed out so far."""
        return self._tries

    def next_timeout(self) -> float | None:
        """The timeout for the next attempt; None means "block"."""
        if self._tries >= self.attempts:
            if not self.block:
                raise errors.LockTimeoutError(
                    f"locks not acquired after {self._tries} attempts")
            return None
        nominal = min(self.base * 2.0 ** self._tries, self.maximum)
        spread = 1.0 + self._rng.uniform(-self.jitter, self.jitter)
        self._tries += 1
        return min(nominal * spread, self.maximum)

    def pause(self) -> float:
        """How long to wait, holding nothing, before the next attempt."""
        return self._rng.uniform(0.0, self.max_pause)


def acquire_with_retries(mgr: GanetiLockManager, level: int,
                         names: Iterable[str] | str | None, shared: bool,
                         strategy: LockAttemptTimeoutStrategy,
                         on_retry: RetryCallback | None = None, *,
                         sleep: Callable[[float], None] = time.sleep,
                         priority: Callable[[], int] = lambda: PRIO_DEFAULT,
                         ) -> set[str]:
    """Acquire ``names`` of ``level`` following ``strategy``.

    ``priority()`` is read before each attempt: a job whose priority is
    changed while it waits competes with the new one from its next attempt.

    Each timed-out attempt leaves nothing held at ``level`` (the caller's
    locks at lower levels stay); then ``on_retry`` is called, the caller
    pauses via ``sleep``, and the next attempt starts.  Returns the names
    acquired.  Raises whatever the acquire, the strategy or ``on_retry``
    raise (:class:`errors.LockError`, :class:`errors.LockTimeoutError`...).
    """
    if names is not None and not isinstance(names, str):
        names = list(names)  # may be iterated once per attempt
    while True:
        timeout = strategy.next_timeout()
        got = mgr.acquire(level, names, shared=shared, timeout=timeout,
                          priority=priority())
        if got is not None:
            return got
        if timeout is None:
            raise errors.ProgrammerError("a blocking acquire returned no locks")
        if mgr.is_owned(level):
            # The lock set already lets go on a timeout; this keeps the
            # promise even if that ever changes.
            mgr.release(level)
        pause = strategy.pause()
        if on_retry is not None:
            on_retry(strategy.tries, timeout, pause)
        sleep(pause)
