"""A small client of the QEMU Machine Protocol (QMP) over a unix socket.

QMP is line-delimited JSON.  On connect qemu sends a greeting
(``{"QMP": {"version": ...}}``); the client must send
``qmp_capabilities`` before any other command.  Every command is
answered by ``{"return": ...}`` or ``{"error": {"class", "desc"}}``;
asynchronous events (``{"event": ...}``) may arrive in between and are
kept in :attr:`QmpClient.events` for callers that wait for one (such as
``SHUTDOWN`` after ``system_powerdown``).

Commands carry an ``id`` so that an answer is never taken for another
command's.  A client is used by one thread and lives for a short
exchange: open, a few commands, close (the driver opens one per
operation, so a qemu restarted in between is never talked to through a
stale connection).
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import errors

#: Seconds a command may take before the client gives up.
DEFAULT_TIMEOUT: Final = 10.0
#: Longest line accepted from qemu (a query-migrate answer is small; a
#: runaway peer must not fill our memory).
MAX_LINE: Final = 4 * 1024 * 1024


class QmpError(errors.HypervisorError):
    """qemu answered a command with an error, or the protocol broke.

    ``qmp_class`` is qemu's error class (``GenericError``,
    ``CommandNotFound``...), empty for protocol and connection failures.
    """

    def __init__(self, message: str = "",
                 code: errors.ErrorCode | str | None = None, *,
                 qmp_class: str = "", **details: Any) -> None:
        super().__init__(message, code, qmp_class=qmp_class, **details)
        self.qmp_class = qmp_class


class QmpClient:
    """One QMP connection; use as a context manager."""

    def __init__(self, path: str, *, timeout: float = DEFAULT_TIMEOUT,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.timeout = timeout
        self._monotonic = monotonic
        self._sock: socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        #: Events received so far, oldest first.
        self.events: list[dict[str, Any]] = []
        #: qemu's version from the greeting: (major, minor, micro).
        self.version: tuple[int, int, int] = (0, 0, 0)

    # --- connection ---------------------------------------------------------

    def connect(self) -> QmpClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise QmpError(f"Cannot connect to the QMP socket {self.path}:"
                           f" {err.strerror or err}") from None
        self._sock = sock
        greeting = self._read_message(self._monotonic() + self.timeout)
        qmp = greeting.get("QMP")
        if not isinstance(qmp, dict):
            self.close()
            raise QmpError(f"Not a QMP greeting on {self.path}:"
                           f" {_short(greeting)}")
        qemu = qmp.get("version", {}).get("qemu", {})
        try:
            self.version = (int(qemu["major"]), int(qemu["minor"]),
                            int(qemu["micro"]))
        except (KeyError, TypeError, ValueError):
            self.version = (0, 0, 0)
        self.execute("qmp_capabilities")
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> QmpClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands -----------------------------------------------------------

    def execute(self, command: str, arguments: Mapping[str, Any] | None = None,
                *, timeout: float | None = None) -> Any:
        """Run ``command``; its ``return`` value, or :class:`QmpError`
        carrying qemu's own description of the failure."""
        if self._sock is None:
            raise QmpError("QMP connection is not open")
        cmd_id = f"ganeti-{next(self._ids)}"
        message: dict[str, Any] = {"execute": command, "id": cmd_id}
        if arguments:
            message["arguments"] = dict(arguments)
        data = (json.dumps(message) + "\n").encode()
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise QmpError(f"QMP command {command} could not be sent:"
                           f" {err.strerror or err}") from None
        deadline = self._monotonic() + (self.timeout if timeout is None
                                        else timeout)
        while True:
            reply = self._read_message(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != cmd_id:
                continue  # an answer to nobody we know; ignore
            if "error" in reply:
                failure = (reply["error"] if isinstance(reply["error"], dict)
                           else {})
                desc = str(failure.get("desc", "unknown error"))
                raise QmpError(f"qemu refused {command}: {desc}",
                               qmp_class=str(failure.get("class", "")))
            return reply.get("return")

    def wait_event(self, name: str, timeout: float) -> dict[str, Any] | None:
        """The first event called ``name`` (already received or arriving
        within ``timeout`` seconds); None on timeout or when qemu closes
        the connection (it exits after a power-down)."""
        for event in self.events:
            if event.get("event") == name:
                self.events.remove(event)
                return event
        deadline = self._monotonic() + timeout
        while True:
            try:
                message = self._read_message(deadline)
            except QmpError:
                return None
            if message.get("event") == name:
                return message
            if "event" in message:
                self.events.append(message)

    # --- wire ---------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buf:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise QmpError(f"No answer on the QMP socket {self.path}"
                               f" within {self.timeout:g}s")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as err:
                raise QmpError(f"QMP socket {self.path}: {err.strerror or err}"
                               ) from None
            if not chunk:
                raise QmpError(f"qemu closed the QMP socket {self.path}")
            self._buf += chunk
            if len(self._buf) > MAX_LINE and b"\n" not in self._buf:
                raise QmpError(f"Oversized QMP message on {self.path}")
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            raise QmpError(f"Malformed QMP message on {self.path}:"
                           f" {_short(line)}") from None
        if not isinstance(message, dict):
            raise QmpError(f"Malformed QMP message on {self.path}:"
                           f" {_short(message)}")
        return message


def _short(value: object) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else (
        repr(value))
    return text[:120]
