"""Advisory file locks (``flock``) between processes.

A :class:`FileLock` opens (creating if needed) one file and holds a shared
or exclusive ``flock`` on it.  ``timeout=None`` blocks, ``timeout=0`` tries
once, a positive timeout retries non-blocking attempts with a growing
back-off until the deadline.  The clock and the sleep are injectable so
tests can drive the waiting without real time passing.

Use as a context manager through :meth:`FileLock.exclusive_ctx` /
:meth:`FileLock.shared_ctx`, which lock on entry and unlock on exit::

    lock = FileLock(path)
    with lock.exclusive_ctx(timeout=5):
        ...

or ``with FileLock(path) as lock:`` to close the file descriptor at the end
(closing also drops any lock held).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from ganeti import errors

#: Back-off between non-blocking attempts: start, factor, maximum (seconds).
_BACKOFF = (0.005, 1.5, 0.1)


class FileLock:
    """A ``flock``-based lock on the file at ``path``."""

    def __init__(self, path: str, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(path, str) or not path:
            raise errors.ProgrammerError(f"Invalid lock file path: {path!r}")
        self.path = path
        self._clock = clock
        self._sleep = sleep
        try:
            self._fd: int | None = os.open(
                path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        except OSError as err:
            raise errors.LockError(
                f"Cannot open lock file {path}: {err.strerror or err}",
                errors.ErrorCode.ENVIRON) from err

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise errors.LockError(f"Lock file {self.path} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _lock(self, operation: int, kind: str, timeout: float | None) -> None:
        fd = self.fd
        if timeout is not None and timeout < 0:
            raise errors.ProgrammerError(
                f"Negative timeout {timeout} for lock {self.path}")
        if timeout is None:
            try:
                fcntl.flock(fd, operation)
            except OSError as err:
                raise errors.LockError(
                    f"Cannot acquire {kind} lock on {self.path}: "
                    f"{err.strerror or err}") from err
            return
        deadline = self._clock() + timeout
        delay, factor, max_delay = _BACKOFF
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EWOULDBLOCK,
                                     errno.EACCES):
                    raise errors.LockError(
                        f"Cannot acquire {kind} lock on {self.path}: "
                        f"{err.strerror or err}") from err
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise errors.LockTimeoutError(
                    f"Timeout after {timeout} s waiting for {kind} lock "
                    f"on {self.path}")
            self._sleep(min(delay, remaining))
            delay = min(delay * factor, max_delay)

    def exclusive(self, timeout: float | None = None) -> None:
        """Take (or convert to) an exclusive lock."""
        self._lock(fcntl.LOCK_EX, "exclusive", timeout)

    def shared(self, timeout: float | None = None) -> None:
        """Take (or convert to) a shared lock."""
        self._lock(fcntl.LOCK_SH, "shared", timeout)

    def unlock(self) -> None:
        """Release the lock; unlocking an unlocked file is harmless."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        except OSError as err:
            raise errors.LockError(
                f"Cannot release lock on {self.path}: "
                f"{err.strerror or err}") from err

    def close(self) -> None:
        """Close the file descriptor, releasing any lock; idempotent."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @contextmanager
    def exclusive_ctx(self, timeout: float | None = None) -> Iterator[FileLock]:
        """Hold the exclusive lock for the ``with`` block."""
        self.exclusive(timeout)
        try:
            yield self
        finally:
            if self._fd is not None:
                self.unlock()

    @contextmanager
    def shared_ctx(self, timeout: float | None = None) -> Iterator[FileLock]:
        """Hold a shared lock for the ``with`` block."""
        self.shared(timeout)
        try:
            yield self
        finally:
            if self._fd is not None:
                self.unlock()

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten lock must not leak its descriptor (and its lock).
        fd = getattr(self, "_fd", None)
        if fd is not None:
            self._fd = None
            os.close(fd)

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"fd={self._fd}"
        return f"<FileLock {self.path} {state}>"
