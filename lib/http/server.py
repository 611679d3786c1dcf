"""A threaded HTTP/1.1 server with TLS, for noded and the RAPI.

One thread per connection (the standard library's ``ThreadingMixIn``),
bounded by :attr:`ServerLimits.max_connections`; the TLS handshake runs
in that thread, so a slow client never stalls ``accept``.  Every read
from a client has a deadline: :attr:`ServerLimits.idle_timeout` to start
a request (also between requests on a kept-alive connection), then
:attr:`ServerLimits.request_timeout` to send the rest of it, headers and
body together.  A client trickling one byte at a time cannot hold a
worker longer than that.  Bodies above :attr:`ServerLimits.max_body` are
refused with 413 before they are read.

The application is a plain callable ``Request -> Response``
(:data:`ganeti.http.App`); error answers (the server's own and
:class:`~ganeti.http.HttpError` raised by the application) get their body
from an *error formatter*, so noded answers ``[false, message]`` and the
RAPI its ``{"code", "message", "explain"}`` objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import io
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ganeti import errors, pathutils
from ganeti.http import (
    HTTP_BAD_REQUEST,
    HTTP_INTERNAL_ERROR,
    HTTP_LENGTH_REQUIRED,
    HTTP_NOT_IMPLEMENTED,
    HTTP_PAYLOAD_TOO_LARGE,
    HTTP_REQUEST_TIMEOUT,
    App,
    ErrorFormatter,
    HttpError,
    Request,
    Response,
    default_error_body,
    tls,
)

if TYPE_CHECKING:
    from ganeti.http.tlsreload import TlsState

_MAX_LINE: Final = 65536
#: Refused bodies up to this many times the limit are read and dropped.
_DISCARD_FACTOR: Final = 4
_log = logging.getLogger("ganeti.http.server")


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """How much a client may send and how long it may take (seconds)."""

    max_body: int = 16 * 1024 * 1024
    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    request_timeout: float = 60.0
    write_timeout: float = 60.0
    max_connections: int = 1024
    #: Whether a PUT/POST without Content-Length is refused (411).  The
    #: node daemon requires it; the RAPI does not: by RFC 9112 such a
    #: request has an empty body, and ``curl -X PUT URL`` sends one.
    require_length: bool = True


class _DeadlineReader(io.RawIOBase):
    """Socket reads that fail with TimeoutError once a deadline passes.

    A per-``recv`` socket timeout alone would let a client reset the clock
    with every byte; here the deadline is absolute.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = float("inf")
        self._after_first: float | None = None

    def arm(self, first: float, rest: float) -> None:
        """``first`` seconds for the first byte, then ``rest`` for the
        remainder of the request."""
        self._deadline = time.monotonic() + first
        self._after_first = rest

    def disarm(self) -> None:
        """No deadline: the connection was upgraded to another protocol,
        which keeps its own time."""
        self._deadline = float("inf")
        self._after_first = None
        self._sock.settimeout(None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._deadline != float("inf"):
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("read deadline passed")
            self._sock.settimeout(remaining)
        count = self._sock.recv_into(buffer)
        if count and self._after_first is not None:
            self._deadline = time.monotonic() + self._after_first
            self._after_first = None
        return count


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"ganeti/{pathutils.PACKAGE_VERSION}"
    server: _TcpServer
    connection: socket.socket

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 65536)
        self._limits = self.server.owner.limits

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        self.close_connection = True
        # Error answers before the request line is parsed (too long,
        # timed out) log these; the base class sets them only on parsing.
        self.command = ""
        self.path = ""
        self.request_version = ""
        self._reader.arm(self._limits.idle_timeout,
                         self._limits.request_timeout)
        try:
            try:
                line = self.rfile.readline(_MAX_LINE + 1)
            except TimeoutError:
                return  # idle: close quietly
            if not line:
                return
            self.raw_requestline = line
            if len(line) > _MAX_LINE:
                self.send_error(414, "Request line too long")
                return
            if not self.parse_request():
                return
            self._serve()
        except TimeoutError:
            _log.info("Client %s too slow sending its request",
                      self.client_address[0])
            self.send_error(HTTP_REQUEST_TIMEOUT,
                            "Request not received in time")
        except (OSError, ValueError) as err:
            _log.debug("Connection from %s failed: %s",
                       self.client_address[0], err)

    def _read_body(self) -> bytes | None:
        """The request body, or None after an error answer."""
        if "Transfer-Encoding" in self.headers:
            self.send_error(HTTP_NOT_IMPLEMENTED,
                            "Transfer-Encoding is not supported; send "
                            "Content-Length")
            return None
        text = self.headers.get("Content-Length")
        if text is None:
            if self.command in ("PUT", "POST") and self._limits.require_length:
                self.send_error(HTTP_LENGTH_REQUIRED,
                                "Content-Length is required")
                return None
            return b""
        if not text.strip().isdigit():
            self.send_error(HTTP_BAD_REQUEST,
                            f"Invalid Content-Length {text[:20]!r}")
            return None
        length = int(text)
        if length > self._limits.max_body:
            self.send_error(HTTP_PAYLOAD_TOO_LARGE,
                            f"Request body of {length} bytes exceeds the "
                            f"limit of {self._limits.max_body} bytes")
            self._discard(length)
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _discard(self, length: int) -> None:
        """Read and drop a refused body of moderate size, so that a client
        still sending it gets to read the answer instead of a reset.  The
        request deadline still applies; huge bodies are not waited for."""
        if length > _DISCARD_FACTOR * self._limits.max_body:
            return
        with contextlib.suppress(OSError, ValueError):
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    return
                length -= len(chunk)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        owner = self.server.owner
        conn = self.connection
        request = Request(
            method=self.command, path=self.path,
            headers={k.title(): v for k, v in self.headers.items()},
            body=body, client_address=self.client_address,
            peer_fingerprint=(tls.peer_fingerprint(conn)
                              if isinstance(conn, ssl.SSLSocket) else None))
        try:
            response = owner.app(request)
        except HttpError as err:
            response = Response(status=err.status,
                                body=owner.error_body(err.status, err.message),
                                headers=err.headers)
        except Exception as err:
            _log.exception("Error serving %s %s", self.command, self.path[:80])
            response = Response(
                status=HTTP_INTERNAL_ERROR,
                body=owner.error_body(HTTP_INTERNAL_ERROR,
                                      f"Internal error: {type(err).__name__}"))
        if response.upgrade is not None and response.status == 101:
            self._switch(response)
            return
        self._write(response)

    def _switch(self, response: Response) -> None:
        """Answer 101 and hand the connection to the new protocol."""
        assert response.upgrade is not None
        self.close_connection = True
        reason = self.responses.get(101, ("",))[0]
        lines = [f"HTTP/1.1 101 {reason}", f"Server: {self.server_version}"]
        lines.extend(f"{k}: {v}" for k, v in response.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.connection.settimeout(self._limits.write_timeout)
        self.connection.sendall(head)
        self._reader.disarm()
        _log.debug("%s %s %s -> 101", self.client_address[0], self.command,
                   self.path[:80])
        response.upgrade(self.connection)

    def _write(self, response: Response) -> None:
        """Status line, headers and body in one send (no Nagle stalls)."""
        reason = self.responses.get(response.status, ("",))[0]
        lines = [f"HTTP/1.1 {response.status} {reason}",
                 f"Server: {self.server_version}",
                 f"Date: {self.date_time_string()}",
                 f"Content-Type: {response.content_type}",
                 f"Content-Length: {len(response.body)}"]
        lines.extend(f"{k}: {v}" for k, v in response.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = head if self.command == "HEAD" else head + response.body
        self.connection.settimeout(self._limits.write_timeout)
        self.connection.sendall(payload)
        _log.debug("%s %s %s -> %d", self.client_address[0], self.command,
                   self.path[:80], response.status)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Error answers of the server itself; the connection is closed
        (the rest of the request may still be in flight)."""
        self.close_connection = True
        code = int(code)
        text = message or self.responses.get(code, ("Error",))[0]
        _log.info("Refused request from %s: %d %s", self.client_address[0],
                  code, text)
        with contextlib.suppress(OSError):
            self._write(Response(status=code,
                                 body=self.server.owner.error_body(code, text)))

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s: " + format, self.client_address[0], *args)


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: HttpServer, address: tuple[str, int]) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.owner.slot_acquire():
            _log.warning("Too many connections, refusing %s",
                         client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.owner.slot_release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.owner.serve_connection(request, client_address)


class HttpServer:
    """An HTTP(S) server running ``app`` on ``address``.

    ``ssl_context`` from :func:`ganeti.http.tls.server_context`; with
    ``client_pin`` (a SHA-256 fingerprint) only clients presenting exactly
    that certificate get past the handshake.
    """

    def __init__(self, address: tuple[str, int], app: App, *,
                 ssl_context: ssl.SSLContext | None = None,
                 client_pin: str | None = None,
                 tls_source: Callable[[], TlsState] | None = None,
                 limits: ServerLimits = ServerLimits(),
                 error_body: ErrorFormatter = default_error_body) -> None:
        if client_pin is not None and ssl_context is None:
            raise errors.ProgrammerError("Client pinning needs TLS")
        self.app = app
        self.limits = limits
        self.error_body = error_body
        if tls_source is not None and ssl_context is not None:
            raise errors.ProgrammerError("Give a TLS context or a source")
        self._ssl = ssl_context
        self._pin: str | frozenset[str] | None = client_pin
        #: Called for each connection: the context and pins to use now
        #: (certificates renewed while the server runs).
        self._tls_source = tls_source
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        #: Connection threads still running (see :meth:`stop`).
        self._running = 0
        self._closing = False
        self._idle = threading.Condition(self._active_lock)
        self._thread: threading.Thread | None = None
        try:
            self._tcp = _TcpServer(self, address)
        except OSError as err:
            raise errors.OpExecError(
                f"Cannot listen on {address[0]}:{address[1]}: "
                f"{err.strerror or err}", errors.ErrorCode.ENVIRON) from None

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when 0 was asked for)."""
        host, port = self._tcp.server_address[:2]
        return str(host), int(port)

    def slot_acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def slot_release(self) -> None:
        self._slots.release()

    def serve_connection(self, sock: socket.socket,
                         client_address: tuple[str, int]) -> None:
        """One connection, in its own thread: handshake, pin, requests."""
        with self._active_lock:
            self._running += 1
        conn = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            context, pin = ((self._ssl, self._pin) if self._tls_source is None
                            else self._tls_source())
            if context is not None:
                sock.settimeout(self.limits.handshake_timeout)
                conn = context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False)
            with self._active_lock:
                if self._closing:
                    return
                self._active.add(conn)
            if isinstance(conn, ssl.SSLSocket):
                conn.do_handshake()
                if pin is not None:
                    tls.check_pin(conn, pin)
            _Handler(conn, client_address, self._tcp)
        except (OSError, tls.PinMismatch) as err:
            _log.info("Connection from %s refused: %s", client_address[0],
                      _one_line(err))
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._active_lock:
                self._active.discard(conn)
                self._running -= 1
                self._idle.notify_all()

    def start(self) -> None:
        """Serve in a background thread."""
        # The poll interval only bounds how long stop() waits for the loop.
        self._thread = threading.Thread(target=self._tcp.serve_forever,
                                        args=(0.05,), name="http-accept",
                                        daemon=True)
        self._thread.start()
        _log.info("Listening on %s:%d (%s)", *self.address,
                  "https" if self._ssl or self._tls_source else "http")

    def stop(self) -> None:
        """Stop accepting, drop open connections, release the port.

        Returns once the connection threads have ended (they end quickly:
        their sockets are shut down), at most after
        :attr:`ServerLimits.handshake_timeout`.  A daemon must not exit
        while one of them is inside OpenSSL (a handshake in progress):
        interpreter shutdown stops such threads where they stand, and the
        process could then hang in OpenSSL's exit-time cleanup.
        """
        if self._thread is not None:
            self._tcp.shutdown()
            self._thread.join()
            self._thread = None
        self._tcp.server_close()
        with self._active_lock:
            self._closing = True
            active = list(self._active)
        for conn in active:
            with contextlib.suppress(OSError):
                # The socket's own shutdown: SSLSocket.shutdown would also
                # drop the TLS object under the thread using it.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0,
                                timeout=self.limits.handshake_timeout)

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _one_line(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError):
        return tls.describe_ssl_error(err)
    text = str(err) or type(err).__name__
    return text.splitlines()[0]
