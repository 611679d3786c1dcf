"""HTTP(S) client: many requests at once from one thread, keep-alive pool.

:class:`HttpClient` sends a batch of requests (:meth:`~HttpClient.
request_many`: the node RPC fan-out, one request per node) or a single
one (:meth:`~HttpClient.request`) and drives them from the calling
thread with one ``epoll`` loop: non-blocking connect, TLS
handshake, send and receive, each socket stepping when the kernel says
it can.  No thread per request, no executor futures, no
``http.client`` header parsing (it goes through the e-mail parser): the
master's CPU per answer is a few system calls, OpenSSL (outside the
interpreter lock) and a short parse of the status line and headers (see
``doc/design/rpc.rst`` for the figures).  It is safe to share between
threads: each batch runs its own loop on the connections it took; only
the idle pool is shared.  Each thread has one ``epoll`` for all its
batches, and a connection stays registered with it between requests
(idle in the pool too), so a request on a kept-alive connection costs no
``epoll_ctl``; a connection taken by another thread moves to that
thread's ``epoll``.

- TLS (optional) with the peer pinned (``server_pin``, a SHA-256
  fingerprint, checked right after the handshake) and the client
  certificate of the context; OpenSSL works on memory buffers
  (:mod:`ganeti.http.tlsbio`), so an answer costs one ``recv``.
- Keep-alive: idle connections per ``(host, port)`` are reused up to
  ``max_idle_age`` seconds; a connection is used for one request at a
  time, so parallel requests to one host open parallel connections.  A
  server that closed a kept-alive connection while it sat in the pool is
  detected on reuse (before the server read anything) and the request is
  sent once more, always on a fresh connection (the other idle
  connections to that server are dropped: a restarted server closed them
  all); such a request never reached the server, so repeating it is safe.
- Timeouts: ``min(connect_timeout, timeout)`` bounds connecting and the
  TLS handshake; the request's ``timeout`` bounds every wait after that
  (sending, and the wait for each piece of the answer).  A timeout's
  message names the limit that fired and the phase (``Timeout after 10s
  connecting (connect limit)``, ``Timeout after 300s waiting for the
  answer (call limit)``).
- Answers must carry ``Content-Length`` or end with the connection
  (``Transfer-Encoding: chunked`` is refused as a protocol error: none
  of the project's servers sends it).

Failures are errors from :mod:`ganeti.errors` carrying details, one per
request (a failing request never affects the others):
:class:`~ganeti.errors.NodeUnreachableError` (``errno`` when the OS gave
one; TLS failures have ``tls=True``), :class:`~ganeti.errors.TimeoutError`
and :class:`~ganeti.errors.ProtocolError` (a malformed answer).  Messages
are one line, in the ``Error 111: Connection refused`` style;
:meth:`~HttpClient.request` raises them, :meth:`~HttpClient.request_many`
returns them in place of the answer.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import http.client
import os
import select
import socket
import ssl
import threading
import time
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final, NamedTuple

from ganeti import errors, serializer
from ganeti.http import JSON_TYPE, tls
from ganeti.http.tlsbio import CHUNK, PlainSocket, TlsSocket

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
#: Idle connections older than this are not reused (servers close them
#: after their own idle timeout, 60 s for ours).
DEFAULT_MAX_IDLE_AGE: Final = 30.0
DEFAULT_MAX_RESPONSE: Final = 256 * 1024 * 1024


class HttpResponse(NamedTuple):
    """One answer (a named tuple: built per answer, a frozen dataclass
    cost three times as much)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (ProtocolError when it is not)."""
        return serializer.loads(self.body)


class _LimitTimeout(TimeoutError):
    """A timeout whose message already names the limit that fired."""


_RETRY_ON_REUSE: Final = (http.client.RemoteDisconnected, ConnectionResetError,
                          BrokenPipeError, ConnectionAbortedError,
                          ssl.SSLEOFError, ssl.SSLZeroReturnError)


#: Longest status line plus headers accepted.
_MAX_HEAD: Final = 64 * 1024
#: Parsed heads kept per client (all forgotten when there are more).
_KNOWN_HEADS: Final = 256
#: A parsed head: status, reason, headers, whether the server closes the
#: connection after it, and the length of the body (None: until the end).
_Head = tuple[int, str, Mapping[str, str], bool, int | None]

_CONNECT, _HANDSHAKE, _SEND, _RECV = range(4)
_READ, _WRITE = select.EPOLLIN, select.EPOLLOUT


class Request(NamedTuple):
    """One request (a named tuple, as :class:`HttpResponse`)."""

    host: str
    port: int
    method: str
    path: str
    body: bytes = b""
    timeout: float = 60.0
    headers: Mapping[str, str] | None = None


#: One request's outcome: the answer or the error, and the seconds it took.
Outcome = tuple[HttpResponse | errors.GenericError, float]


_Socket = PlainSocket | TlsSocket


class _Conn:
    """One connection, for its whole life: in use by one exchange
    (``owner``) or idle in the pool since ``since``, and registered with
    the ``epoll`` of the thread that used it last (``poller``, for
    ``events``), so that a kept-alive connection costs no ``epoll_ctl``
    per request."""

    __slots__ = ("events", "owner", "poller", "since", "sock")

    def __init__(self, sock: _Socket, owner: _Exchange | None) -> None:
        self.sock = sock
        self.since = 0.0
        self.owner = owner
        self.poller: _Poller | None = None
        self.events = 0


class _Exchange:
    """One request in flight."""

    __slots__ = (
        "body",
        "body_at",
        "buf",
        "conn",
        "data",
        "deadline",
        "headers",
        "index",
        "length",
        "reason",
        "req",
        "reused",
        "sent",
        "sock",
        "stage",
        "started",
        "status",
        "will_close",
    )

    def __init__(self, index: int, req: Request, data: tuple[bytes, bytes],
                 started: float) -> None:
        self.index = index
        self.req = req
        #: What to send: this request's own bytes (head), then a body
        #: shared by every request of a fan-out (empty when the head
        #: holds it).
        self.data, self.body = data
        self.sock: _Socket | None = None
        #: True: taken from the pool; None: the retry after a failed
        #: reuse, which must open a fresh connection.
        self.reused: bool | None = False
        self.stage = _CONNECT
        self.sent = 0
        #: What came so far: the first piece as it came (an answer in
        #: one piece is never copied), a bytearray from the second on.
        self.buf: bytes | bytearray = b""
        self.status = 0
        self.reason = ""
        self.headers: Mapping[str, str] = {}
        self.body_at = -1       # offset of the body in buf; -1: no head yet
        self.length: int | None = None
        self.will_close = False
        self.deadline = 0.0
        self.started = started
        self.conn: _Conn | None = None


class _Poller:
    """One thread's ``epoll`` and the connection of each registered socket.

    A connection stays registered while it sits in the pool; the thread
    that takes it next moves it to its own poller when it is another
    one.  Moves, and removals by a thread other than the owner of the
    connection, happen under the client's pool lock (``lock``).  An idle
    connection that becomes ready (its server closed it) is removed from
    the poller when it wakes it (level-triggered, it would wake it again
    at every wait); it is registered again when it is used.
    """

    __slots__ = ("_by_fd", "_epoll", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self._epoll = select.epoll()
        self._by_fd: dict[int, _Conn] = {}
        self._lock = lock

    def want(self, ex: _Exchange, events: int) -> None:
        """Wait for ``events`` on the connection of ``ex`` in this poller."""
        conn = ex.conn
        assert conn is not None
        if conn.poller is self:
            if conn.events != events:
                self._epoll.modify(conn.sock.fileno(), events)
                conn.events = events
            return
        with self._lock:
            fd = conn.sock.fileno()
            if conn.poller is not None:
                conn.poller._remove(fd)
            self._epoll.register(fd, events)
            self._by_fd[fd] = conn
            conn.poller, conn.events = self, events

    def _remove(self, fd: int) -> None:
        """Unregister ``fd`` (the caller holds the lock)."""
        conn = self._by_fd.pop(fd, None)
        if conn is not None:
            conn.poller = None
            with contextlib.suppress(OSError):  # not there: nothing to do
                self._epoll.unregister(fd)

    def drop_idle(self, conn: _Conn) -> None:
        """Unregister ``conn`` if it is still idle and registered here."""
        with self._lock:
            if conn.owner is None and conn.poller is self:
                self._remove(conn.sock.fileno())

    def wait(self, timeout: float) -> list[_Conn]:
        by_fd = self._by_fd
        return [conn for fd, _mask in self._epoll.poll(timeout)
                if (conn := by_fd.get(fd)) is not None]


def _discard(conn: _Conn, lock: threading.Lock) -> None:
    """Close ``conn``, unregistered first: closing the socket alone would
    leave it registered while a child process still held a copy of it
    (and the poller would wake for it); the poller forgets its number
    before another socket can get it."""
    with lock:
        if conn.poller is not None:
            conn.poller._remove(conn.sock.fileno())
    conn.sock.close()


class HttpClient:
    """A thread-safe pool of keep-alive connections, driven by one
    selector loop per batch of requests.

    ``ssl_context`` None means plain HTTP; ``server_pin`` (a SHA-256
    fingerprint, or several) requires servers to present exactly that
    certificate (one of them).
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *,
                 server_pin: str | Collection[str] | None = None,
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
        self._idle: dict[tuple[str, int], collections.deque[_Conn]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        #: Heads already parsed (the nodes of a fan-out answer with the
        #: same head: same server, second and length).
        self._heads: dict[bytes, _Head] = {}
        #: Connections opened so far (tests check reuse with it).
        self.connections_opened = 0

    # --- the pool -----------------------------------------------------------

    def _poller(self) -> _Poller:
        """The calling thread's poller (made on its first request)."""
        try:
            poller: _Poller = self._local.poller
        except AttributeError:
            poller = self._local.poller = _Poller(self._lock)
        return poller

    def _take(self, key: tuple[str, int], ex: _Exchange) -> _Conn | None:
        now = time.monotonic()
        stale: list[_Conn] = []
        found: _Conn | None = None
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if now - conn.since <= self._max_idle_age:
                    found = conn
                    conn.owner = ex
                    break
                stale.append(conn)
        for conn in stale:
            _discard(conn, self._lock)
        return found

    def _give_back(self, key: tuple[str, int], conn: _Conn) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, collections.deque())
            if len(idle) < self._max_idle:
                conn.owner = None
                conn.since = time.monotonic()
                idle.append(conn)
                return
        _discard(conn, self._lock)

    def _drop_idle(self, key: tuple[str, int]) -> None:
        with self._lock:
            idle = self._idle.pop(key, None)
        for conn in idle or ():
            _discard(conn, self._lock)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            pools = list(self._idle.values())
            self._idle.clear()
        for idle in pools:
            for conn in idle:
                _discard(conn, self._lock)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests -----------------------------------------------------------

    def request(self, host: str, port: int, method: str, path: str,
                body: bytes = b"", *, timeout: float,
                headers: Mapping[str, str] | None = None) -> HttpResponse:
        """Send one request and read the whole answer (raises on failure)."""
        outcome = self.request_many([Request(host, port, method, path, body,
                                             timeout, headers)])[0][0]
        if isinstance(outcome, errors.GenericError):
            raise outcome
        return outcome

    def request_many(self, requests: Sequence[Request]) -> list[Outcome]:
        """Send every request at once; one outcome per request, in order."""
        started = time.monotonic()
        results: list[Outcome | None] = [None] * len(requests)
        sel = self._poller()
        active: set[_Exchange] = set()
        # No deadline of ``active`` is earlier: deadlines only move later
        # as exchanges advance, so the earliest is searched for only when
        # this one has passed (a search per answer made a fan-out cost
        # O(N^2) when the answers come one at a time).
        soonest = 0.0

        def finish(ex: _Exchange,
                   outcome: HttpResponse | errors.GenericError) -> None:
            active.discard(ex)
            results[ex.index] = (outcome, time.monotonic() - ex.started)

        def drive(ex: _Exchange, opening: bool) -> None:
            """Open or advance ``ex``; on failure record its error, or
            retry once on a fresh connection after a failed reuse."""
            nonlocal soonest
            try:
                answer = (self._open(ex, sel) if opening
                          else self._step(ex, sel))
            except _RETRY_ON_REUSE as err:
                self._close(ex)
                if ex.reused and ex.body_at < 0 and not ex.buf:
                    self._drop_idle((ex.req.host, ex.req.port))
                    active.discard(ex)
                    fresh = _Exchange(ex.index, ex.req, (ex.data, ex.body),
                                      ex.started)
                    fresh.reused = None
                    active.add(fresh)
                    drive(fresh, True)
                    soonest = min(soonest, fresh.deadline)
                else:
                    finish(ex, _map_error(err, ex.req.host, ex.req.port,
                                         ex.req.timeout))
                return
            except Exception as err:  # one failure line per request
                self._close(ex)
                finish(ex, _map_error(err, ex.req.host, ex.req.port,
                                     ex.req.timeout))
                return
            if answer is not None:
                finish(ex, answer)
                self._release(ex)

        try:
            encode = request_encoder()
            for index, req in enumerate(requests):
                ex = _Exchange(index, req, encode(req), started)
                active.add(ex)
                drive(ex, True)
            soonest = min((ex.deadline for ex in active), default=0.0)
            while active:
                for conn in sel.wait(max(soonest - time.monotonic(), 0.0)):
                    if conn.owner in active:
                        drive(conn.owner, False)
                    else:  # idle, or already moved to another thread
                        sel.drop_idle(conn)
                now = time.monotonic()
                if now < soonest:
                    continue
                for ex in [ex for ex in active if ex.deadline <= now]:
                    self._close(ex)
                    finish(ex, _map_error(self._timed_out(ex), ex.req.host,
                                         ex.req.port, ex.req.timeout))
                soonest = min((ex.deadline for ex in active), default=now)
        finally:
            for ex in active:
                self._close(ex)
        return [res for res in results if res is not None]

    # --- one exchange -------------------------------------------------------

    def _timed_out(self, ex: _Exchange) -> _LimitTimeout:
        """The timeout of ``ex``, naming the phase and the limit that
        fired (the smaller of the connect and call limits connecting)."""
        timeout = ex.req.timeout
        if ex.stage in (_CONNECT, _HANDSHAKE):
            limit = min(self._connect_timeout, timeout)
            which = "connect" if limit < timeout else "call"
            return _LimitTimeout(
                f"Timeout after {limit:g}s connecting ({which} limit)")
        phase = ("sending the request" if ex.stage == _SEND
                 else "waiting for the answer")
        return _LimitTimeout(f"Timeout after {timeout:g}s {phase} (call limit)")

    def _open(self, ex: _Exchange,
              sel: _Poller) -> HttpResponse | None:
        """Take an idle connection and send at once, or start connecting."""
        key = (ex.req.host, ex.req.port)
        conn = None if ex.reused is None else self._take(key, ex)
        now = time.monotonic()
        if conn is not None:
            ex.conn, ex.sock, ex.reused, ex.stage = conn, conn.sock, True, _SEND
            ex.deadline = now + ex.req.timeout
            return self._step(ex, sel)
        ex.reused = False
        with self._lock:
            self.connections_opened += 1
        family, kind, proto, _name, addr = socket.getaddrinfo(
            ex.req.host, ex.req.port, type=socket.SOCK_STREAM)[0]
        raw = socket.socket(family, kind, proto)
        ex.sock = (PlainSocket(raw) if self._ssl is None
                   else TlsSocket(raw, self._ssl))
        ex.conn = _Conn(ex.sock, ex)
        raw.setblocking(False)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = raw.connect_ex(addr)
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        ex.deadline = now + min(self._connect_timeout, ex.req.timeout)
        sel.want(ex, _WRITE)
        return None

    def _step(self, ex: _Exchange,
              sel: _Poller) -> HttpResponse | None:
        """Advance ``ex`` as far as the socket allows; the answer once it
        is complete."""
        sock = ex.sock
        assert sock is not None
        if ex.stage == _CONNECT:
            code = sock.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            ex.stage = _SEND if self._ssl is None else _HANDSHAKE
        if ex.stage == _HANDSHAKE:
            assert isinstance(sock, TlsSocket)
            try:
                sock.do_handshake()
            except ssl.SSLWantReadError:
                sel.want(ex, _READ)
                return None
            except ssl.SSLWantWriteError:
                sel.want(ex, _WRITE)
                return None
            if self._pin is not None:
                tls.check_pin(sock.tls, self._pin)
            ex.stage = _SEND
            ex.deadline = time.monotonic() + ex.req.timeout
        if ex.stage == _SEND:
            try:
                # Views, not slices: a slice copies what is left at
                # every TLS record (16 KiB) of a large body.
                head = len(ex.data)
                while ex.sent < head:
                    ex.sent += sock.send(memoryview(ex.data)[ex.sent:])
                if ex.body:
                    while ex.sent - head < len(ex.body):
                        ex.sent += sock.send(
                            memoryview(ex.body)[ex.sent - head:])
                sock.flush()
            except (ssl.SSLWantWriteError, BlockingIOError):
                sel.want(ex, _WRITE)
                return None
            except ssl.SSLWantReadError:
                sel.want(ex, _READ)
                return None
            finally:
                ex.deadline = time.monotonic() + ex.req.timeout
            ex.stage = _RECV
            sel.want(ex, _READ)
            return None
        return self._receive(ex, sel)

    def _receive(self, ex: _Exchange,
                 sel: _Poller) -> HttpResponse | None:
        sock = ex.sock
        assert sock is not None
        eof = complete = False
        while True:
            try:
                chunk = sock.recv(CHUNK)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            except ssl.SSLWantWriteError:
                sel.want(ex, _WRITE)
                break
            if not chunk:
                eof = True
                break
            if not ex.buf:
                ex.buf = chunk
            else:
                if type(ex.buf) is bytes:
                    ex.buf = bytearray(ex.buf)
                ex.buf += chunk
            if ex.body_at < 0:
                self._parse_head(ex)
            elif ex.length is None:
                self._check_unsized(ex)
            if ex.length is not None and ex.body_at >= 0 \
                    and len(ex.buf) - ex.body_at >= ex.length:
                complete = True
                break
        ex.deadline = time.monotonic() + ex.req.timeout
        if complete or (eof and ex.body_at >= 0 and ex.length is None):
            buf = ex.buf
            end = len(buf) if ex.length is None else ex.body_at + ex.length
            if end != len(buf):  # bytes beyond the answer: out of step
                ex.will_close = True
            return HttpResponse(
                ex.status, ex.reason, ex.headers,
                buf[ex.body_at:end] if type(buf) is bytes
                else bytes(memoryview(buf)[ex.body_at:end]))
        if eof:
            if not ex.buf:
                raise http.client.RemoteDisconnected(
                    "Remote end closed connection without response")
            raise http.client.IncompleteRead(bytes(ex.buf))
        return None

    def _parse_head(self, ex: _Exchange) -> None:
        end = ex.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(ex.buf) > _MAX_HEAD:
                raise errors.ProtocolError(
                    f"Answer headers longer than {_MAX_HEAD} bytes")
            return
        head = bytes(ex.buf[:end])
        known = self._heads.get(head)
        if known is None:
            known = self._parse_new_head(head)
            if len(self._heads) >= _KNOWN_HEADS:
                self._heads.clear()
            self._heads[head] = known
        ex.status, ex.reason, ex.headers, ex.will_close, ex.length = known
        ex.body_at = end + 4
        if ex.length is None:
            self._check_unsized(ex)

    def _parse_new_head(self, head: bytes) -> _Head:
        lines = head.decode("iso-8859-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 \
                or not code.isdigit():
            raise http.client.BadStatusLine(lines[0])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise http.client.HTTPException(
                    f"invalid header line {line[:40]!r}")
            headers[name.strip().title()] = value.strip()
        status = int(code)
        connection = headers.get("Connection", "").lower()
        will_close = connection == "close" or (
            version == "HTTP/1.0" and connection != "keep-alive")
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            raise errors.ProtocolError("Chunked answers are not supported")
        length = headers.get("Content-Length")
        size: int | None = None
        if status in (204, 304) or 100 <= status < 200:
            size = 0
        elif length is not None:
            if not length.isdigit():
                raise http.client.HTTPException(
                    f"invalid Content-Length {length[:20]!r}")
            size = int(length)
            if size > self._max_response:
                raise errors.ProtocolError(
                    f"Answer of {length} bytes exceeds the limit of "
                    f"{self._max_response} bytes")
        else:
            will_close = True
        return (status, reason, types.MappingProxyType(headers), will_close,
                size)

    def _check_unsized(self, ex: _Exchange) -> None:
        """An answer that ends with the connection stays under the limit."""
        if len(ex.buf) - ex.body_at > self._max_response:
            raise errors.ProtocolError(
                f"Answer exceeds the limit of {self._max_response} bytes")

    def _release(self, ex: _Exchange) -> None:
        """After a complete answer: keep the connection or close it."""
        if ex.conn is None:
            return
        if ex.will_close:
            self._close(ex)
        else:
            self._give_back((ex.req.host, ex.req.port), ex.conn)
            ex.sock = ex.conn = None

    def _close(self, ex: _Exchange) -> None:
        if ex.conn is not None:
            _discard(ex.conn, self._lock)
            ex.sock = ex.conn = None


#: A body up to this size is sent in one piece with the head; a larger one
#: is sent after it, from the one copy every request of a fan-out shares
#: (the ssconf files are 250 KB at 10,000 instances: a copy per node was
#: 25 MB for 100 nodes).
INLINE_BODY: Final = 16 * 1024


def request_encoder() -> Callable[[Request], tuple[bytes, bytes]]:
    """Encodes requests as (head, shared body); the requests of a fan-out
    (same method, path, body and headers, another host) share all but
    their ``Host`` line."""
    parts: dict[tuple[str, str, int, int], tuple[bytes, bytes]] = {}

    def encode(req: Request) -> tuple[bytes, bytes]:
        key = (req.method, req.path, id(req.body), id(req.headers))
        found = parts.get(key)
        if found is None:
            fields = {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE,
                      "Accept-Encoding": "identity"}
            fields.update(req.headers or {})
            fields["Content-Length"] = str(len(req.body))
            rest = "".join(f"{name}: {value}\r\n"
                           for name, value in fields.items())
            found = parts[key] = (
                f"{req.method} {req.path} HTTP/1.1\r\n".encode("latin-1"),
                (rest + "\r\n").encode("latin-1")
                + (req.body if len(req.body) <= INLINE_BODY else b""))
        host = f"[{req.host}]" if ":" in req.host else req.host
        return (b"%sHost: %s:%d\r\n%s" % (found[0], host.encode("latin-1"),
                                           req.port, found[1]),
                b"" if len(req.body) <= INLINE_BODY else req.body)

    return encode


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
