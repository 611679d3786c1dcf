"""HTTPS plumbing shared by the node daemon, the RAPI and the RPC client.

- :mod:`ganeti.http.tls`: TLS contexts and certificate pinning;
- :mod:`ganeti.http.server`: a threaded HTTP/1.1 server with limits on
  body size and on how long a client may take to send a request;
- :mod:`ganeti.http.client`: a keep-alive connection pool with
  per-request timeouts, driving many requests at once from one thread
  (the node RPC fan-out).

This module holds what both sides share: the request and response
records an application sees, :class:`HttpError`, and JSON helpers.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import errors, serializer

HTTP_OK: Final = 200
HTTP_BAD_REQUEST: Final = 400
HTTP_FORBIDDEN: Final = 403
HTTP_NOT_FOUND: Final = 404
HTTP_METHOD_NOT_ALLOWED: Final = 405
HTTP_REQUEST_TIMEOUT: Final = 408
HTTP_LENGTH_REQUIRED: Final = 411
HTTP_PAYLOAD_TOO_LARGE: Final = 413
HTTP_INTERNAL_ERROR: Final = 500
HTTP_NOT_IMPLEMENTED: Final = 501
HTTP_SERVICE_UNAVAILABLE: Final = 503

JSON_TYPE: Final = "application/json"


class HttpError(Exception):
    """Raised by an application (or the server) to answer with an error
    status; ``message`` is one line that goes into the error body."""

    def __init__(self, status: int, message: str, *,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as an application sees it (the body fully read)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client_address: tuple[str, int]
    #: SHA-256 of the client's certificate (None: no certificate).
    peer_fingerprint: str | None = None


#: Takes over a connection after a ``101 Switching Protocols`` answer.
#: The client speaks the new protocol only after reading the answer
#: (RFC 6455 4.1), so nothing of it is buffered in the HTTP reader.
Upgrade = Callable[[socket.socket], None]


@dataclasses.dataclass(frozen=True)
class Response:
    status: int = HTTP_OK
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: With status 101: runs the new protocol on the connection once the
    #: answer is sent; the connection is closed when it returns.
    upgrade: Upgrade | None = None


#: An application: a request in, a response out; may raise HttpError.
App = Callable[[Request], Response]
#: Builds the body of an error answer from status and message.
ErrorFormatter = Callable[[int, str], bytes]


def json_response(value: Any, status: int = HTTP_OK) -> Response:
    return Response(status=status, body=serializer.dumps(value))


def parse_json_body(request: Request) -> Any:
    """The request body decoded as JSON; a 400 :class:`HttpError` when it
    is not valid JSON."""
    try:
        return serializer.loads(request.body)
    except errors.ProtocolError as err:
        raise HttpError(HTTP_BAD_REQUEST, str(err)) from None


def default_error_body(status: int, message: str) -> bytes:
    """The RAPI's error body shape: ``{"code", "message", "explain"}``."""
    return serializer.dumps({"code": status, "message": message,
                             "explain": ""})
