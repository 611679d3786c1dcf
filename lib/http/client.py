"""HTTP(S) client with a keep-alive connection pool.

:class:`HttpClient` keeps idle connections per ``(host, port)`` and reuses
them; it is safe to share between threads (each request holds its own
connection while it runs).  A connection is used for one request at a
time, so parallel requests to one host open parallel connections.

Timeouts: ``connect_timeout`` bounds connecting and the TLS handshake;
the request's ``timeout`` bounds every wait after that (sending, and the
wait for each piece of the answer).  A timeout's message names the limit
that fired and the phase (``Timeout after 10s connecting (connect
limit)``, ``Timeout after 300s waiting for the answer (call limit)``).

A server that closed a kept-alive connection while it sat in the pool is
detected on reuse and the request is sent once more, always on a fresh
connection (the other idle connections to that server are dropped: a
restarted server closed them all); such a request never reached the
server, so repeating it is safe.

Failures raise errors from :mod:`ganeti.errors` carrying details:
:class:`~ganeti.errors.NodeUnreachableError` (``errno`` when the OS gave
one; TLS failures have ``tls=True``), :class:`~ganeti.errors.TimeoutError`
and :class:`~ganeti.errors.ProtocolError` (a malformed answer).  Messages
are one line, in the ``Error 111: Connection refused`` style.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from ganeti import errors, serializer
from ganeti.http import JSON_TYPE, tls

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
#: Idle connections older than this are not reused (servers close them
#: after their own idle timeout, 60 s for ours).
DEFAULT_MAX_IDLE_AGE: Final = 30.0
DEFAULT_MAX_RESPONSE: Final = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (ProtocolError when it is not)."""
        return serializer.loads(self.body)


class _Connection(http.client.HTTPSConnection):
    """One connection; TLS (optional) with the peer pinned after connect."""

    def __init__(self, host: str, port: int, *,
                 context: ssl.SSLContext | None, pin: str | None,
                 connect_timeout: float) -> None:
        # Plain HTTP never uses the context; an empty one is cheap.
        super().__init__(host, port, timeout=connect_timeout,
                         context=context or ssl.SSLContext(
                             ssl.PROTOCOL_TLS_CLIENT))
        self._use_tls = context is not None
        self._pin = pin
        self.idle_since = time.monotonic()

    def connect(self) -> None:
        if not self._use_tls:
            http.client.HTTPConnection.connect(self)
            return
        super().connect()
        if self._pin is not None:
            assert isinstance(self.sock, ssl.SSLSocket)
            try:
                tls.check_pin(self.sock, self._pin)
            except tls.PinMismatch:
                self.close()
                raise


class _LimitTimeout(TimeoutError):
    """A timeout whose message already names the limit that fired."""


_RETRY_ON_REUSE: Final = (http.client.RemoteDisconnected, ConnectionResetError,
                          BrokenPipeError, ConnectionAbortedError,
                          ssl.SSLEOFError, ssl.SSLZeroReturnError)


class HttpClient:
    """A thread-safe pool of keep-alive connections.

    ``ssl_context`` None means plain HTTP; ``server_pin`` (a SHA-256
    fingerprint) requires servers to present exactly that certificate.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *,
                 server_pin: str | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 max_idle_per_host: int = 8,
                 max_idle_age: float = DEFAULT_MAX_IDLE_AGE,
                 max_response: int = DEFAULT_MAX_RESPONSE) -> None:
        if server_pin is not None and ssl_context is None:
            raise errors.ProgrammerError("Server pinning needs TLS")
        self._ssl = ssl_context
        self._pin = server_pin
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle_per_host
        self._max_idle_age = max_idle_age
        self._max_response = max_response
        self._idle: dict[tuple[str, int], collections.deque[_Connection]] = {}
        self._lock = threading.Lock()
        #: Connections opened so far (tests check reuse with it).
        self.connections_opened = 0

    def _take(self, key: tuple[str, int]) -> tuple[_Connection, bool]:
        now = time.monotonic()
        stale: list[_Connection] = []
        found: _Connection | None = None
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if now - conn.idle_since <= self._max_idle_age:
                    found = conn
                    break
                stale.append(conn)
            if found is None:
                self.connections_opened += 1
        for conn in stale:
            conn.close()
        if found is not None:
            return found, True
        return self._new_connection(key), False

    def _fresh(self, key: tuple[str, int]) -> _Connection:
        """A new connection, never one from the pool."""
        with self._lock:
            self.connections_opened += 1
        return self._new_connection(key)

    def _new_connection(self, key: tuple[str, int]) -> _Connection:
        return _Connection(key[0], key[1], context=self._ssl, pin=self._pin,
                           connect_timeout=self._connect_timeout)

    def _give_back(self, key: tuple[str, int], conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(key, collections.deque())
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection (busy ones close when done)."""
        with self._lock:
            pools = list(self._idle.values())
            self._idle.clear()
        for idle in pools:
            for conn in idle:
                conn.close()

    def _drop_idle(self, key: tuple[str, int]) -> None:
        """Close every idle connection to ``key``: one of them turned out
        dead, so the server was probably restarted and the others, opened
        to the same old server, are dead too."""
        with self._lock:
            idle = self._idle.pop(key, None)
        for conn in idle or ():
            conn.close()

    def request(self, host: str, port: int, method: str, path: str,
                body: bytes = b"", *, timeout: float,
                headers: Mapping[str, str] | None = None) -> HttpResponse:
        """Send one request and read the whole answer.

        A kept-alive connection the server closed meanwhile fails before
        the server read anything; then the idle connections to this
        server are dropped and the request is sent once more on a fresh
        connection, whose failure is final.
        """
        key = (host, port)
        all_headers = {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE}
        all_headers.update(headers or {})
        conn, reused = self._take(key)
        while True:
            try:
                return self._exchange(key, conn, method, path, body,
                                      all_headers, timeout)
            except _RETRY_ON_REUSE as err:
                conn.close()
                if not reused:
                    raise _map_error(err, host, port, timeout) from None
            except (OSError, http.client.HTTPException, tls.PinMismatch,
                    errors.ProtocolError) as err:
                conn.close()
                raise _map_error(err, host, port, timeout) from None
            except BaseException:
                conn.close()
                raise
            self._drop_idle(key)
            conn, reused = self._fresh(key), False

    def _exchange(self, key: tuple[str, int], conn: _Connection, method: str,
                  path: str, body: bytes, headers: Mapping[str, str],
                  timeout: float) -> HttpResponse:
        if conn.sock is None:
            limit = min(self._connect_timeout, timeout)
            conn.timeout = limit
            try:
                conn.connect()
            except TimeoutError:
                which = "connect" if limit < timeout else "call"
                raise _LimitTimeout(
                    f"Timeout after {limit:g}s connecting ({which} limit)"
                ) from None
        assert conn.sock is not None
        conn.sock.settimeout(timeout)
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() \
                and int(length) > self._max_response:
            raise errors.ProtocolError(
                f"Answer of {length} bytes exceeds the limit of "
                f"{self._max_response} bytes")
        data = resp.read()
        result = HttpResponse(status=resp.status, reason=resp.reason,
                              headers={k.title(): v
                                       for k, v in resp.getheaders()},
                              body=data)
        if resp.will_close:
            conn.close()
        else:
            self._give_back(key, conn)
        return result

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _map_error(err: BaseException, host: str, port: int,
               timeout: float) -> errors.GenericError:
    """One readable line for a failed exchange, as an error with details."""
    where: dict[str, Any] = {"address": host, "port": port}
    if isinstance(err, errors.GenericError):
        return err
    if isinstance(err, _LimitTimeout):
        return errors.TimeoutError(str(err), **where)
    if isinstance(err, TimeoutError):
        return errors.TimeoutError(
            f"Timeout after {timeout:g}s waiting for the answer (call limit)",
            **where)
    if isinstance(err, tls.PinMismatch):
        return errors.NodeUnreachableError(f"TLS error: {err}", tls=True,
                                           **where)
    if isinstance(err, ssl.SSLError):
        return errors.NodeUnreachableError(
            f"TLS error: {tls.describe_ssl_error(err)}", tls=True, **where)
    if isinstance(err, socket.gaierror):
        return errors.NodeUnreachableError(
            f"Cannot resolve {host}: {err.strerror}", **where)
    if isinstance(err, http.client.RemoteDisconnected):
        return errors.NodeUnreachableError(
            "Connection closed by the server before it answered", **where)
    if isinstance(err, http.client.IncompleteRead):
        return errors.ProtocolError("Answer cut short by the server", **where)
    if isinstance(err, http.client.HTTPException):
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        return errors.ProtocolError(f"Invalid HTTP answer: {text:.100}",
                                    **where)
    if isinstance(err, OSError) and err.errno is not None:
        return errors.NodeUnreachableError(
            f"Error {err.errno}: {err.strerror}", errno=err.errno, **where)
    text = str(err).splitlines()[0] if str(err) else ""
    return errors.NodeUnreachableError(
        f"{type(err).__name__}: {text}".rstrip(": "), **where)
