"""The server side of RFC 6455 websockets, enough to tunnel a TCP stream.

The web console's VNC viewer (noVNC) speaks RFB inside websocket binary
frames; :func:`tunnel` relays them to and from a TCP connection to the
VNC server.  Only what a relay needs is here: the opening handshake
(:func:`accept_key`, :func:`check_handshake`), a frame parser fed with
whatever bytes arrive (:class:`FrameReader`), unmasked server frames
(:func:`frame`), ping/pong and the closing handshake.  Client frames
must be masked (RFC 6455 5.1); a frame larger than :data:`MAX_FRAME`
closes the connection with 1009.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import logging
import select
import socket
import ssl
import struct
from collections.abc import Mapping
from typing import Final

from ganeti import http

_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
#: The largest frame accepted from a client (RFB messages are small).
MAX_FRAME: Final = 4 * 1024 * 1024
CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL: Final = 1002
CLOSE_TOO_BIG: Final = 1009
#: Seconds of silence in both directions before the relay gives up.
IDLE_TIMEOUT: Final = 3600.0

_log = logging.getLogger("ganeti.rapi.websocket")


class ProtocolError(Exception):
    """The client broke RFC 6455; ``code`` is the close status to send."""

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL) -> None:
        super().__init__(message)
        self.code = code


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def check_handshake(method: str, headers: Mapping[str, str]) -> str:
    """The client's key, after checking its opening handshake; a 400
    :class:`~ganeti.http.HttpError` naming what is wrong otherwise."""
    def bad(message: str) -> http.HttpError:
        return http.HttpError(http.HTTP_BAD_REQUEST, message)

    if method != "GET":
        raise bad("A websocket is opened with GET")
    if "websocket" not in headers.get("Upgrade", "").lower():
        raise bad("This resource is a websocket: 'Upgrade: websocket' "
                  "is required")
    tokens = [t.strip().lower() for t in headers.get("Connection", "").split(",")]
    if "upgrade" not in tokens:
        raise bad("This resource is a websocket: 'Connection: Upgrade' "
                  "is required")
    if headers.get("Sec-Websocket-Version", "").strip() != "13":
        raise bad("Only websocket version 13 is supported")
    key = headers.get("Sec-Websocket-Key", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except ValueError:
        raise bad("Invalid Sec-WebSocket-Key") from None
    return key


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked (server) frame."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])


@dataclasses.dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool


class FrameReader:
    """Parses client frames from the bytes fed to it, as they arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data`` (unmasked)."""
        self._buffer.extend(data)
        frames: list[Frame] = []
        while True:
            found = self._next()
            if found is None:
                return frames
            frames.append(found)

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise ProtocolError("Reserved bits set in a websocket frame")
        if not second & 0x80:
            raise ProtocolError("Client websocket frames must be masked")
        size = second & 0x7F
        offset = 2
        if size == 126:
            if len(buf) < 4:
                return None
            (size,) = struct.unpack_from("!H", buf, 2)
            offset = 4
        elif size == 127:
            if len(buf) < 10:
                return None
            (size,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
        if size > MAX_FRAME:
            raise ProtocolError(f"Websocket frame of {size} bytes is too big",
                                CLOSE_TOO_BIG)
        if len(buf) < offset + 4 + size:
            return None
        mask = bytes(buf[offset:offset + 4])
        start = offset + 4
        masked = bytes(buf[start:start + size])
        del buf[:start + size]
        # XOR with the repeated 4-byte key, as one big integer operation.
        key = (mask * (size // 4 + 1))[:size]
        payload = (int.from_bytes(masked, "big")
                   ^ int.from_bytes(key, "big")).to_bytes(size, "big")
        return Frame(opcode=first & 0x0F, payload=payload,
                     fin=bool(first & 0x80))


def tunnel(client: socket.socket, upstream: socket.socket,
           idle_timeout: float = IDLE_TIMEOUT) -> None:
    """Relay websocket frames from ``client`` to the TCP ``upstream`` and
    its bytes back as binary frames, until either side closes.  One
    thread: an SSL connection must not be read and written at once from
    two threads."""
    reader = FrameReader()
    client.settimeout(60.0)
    upstream.settimeout(60.0)
    try:
        while True:
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            if pending:
                ready = [client]
            else:
                ready, _, _ = select.select([client, upstream], [], [],
                                            idle_timeout)
                if not ready:
                    client.sendall(close_frame(CLOSE_NORMAL, "idle"))
                    return
            if upstream in ready:
                data = upstream.recv(65536)
                if not data:
                    client.sendall(close_frame(CLOSE_NORMAL, "VNC server closed"))
                    return
                client.sendall(frame(OP_BINARY, data))
            if client in ready:
                data = client.recv(65536)
                if not data:
                    return
                if not _relay(reader.feed(data), client, upstream):
                    return
    except ProtocolError as err:
        _log.info("Websocket closed: %s", err)
        _quiet_send(client, close_frame(err.code, str(err)))
    except OSError as err:
        _log.debug("Websocket relay ended: %s", err)


def _relay(frames: list[Frame], client: socket.socket,
           upstream: socket.socket) -> bool:
    """Handle the client's frames; False once the connection closes."""
    for item in frames:
        if item.opcode in (OP_BINARY, OP_TEXT, OP_CONT):
            upstream.sendall(item.payload)
        elif item.opcode == OP_PING:
            client.sendall(frame(OP_PONG, item.payload))
        elif item.opcode == OP_CLOSE:
            _quiet_send(client, frame(OP_CLOSE, item.payload[:2]))
            return False
        elif item.opcode != OP_PONG:
            raise ProtocolError(f"Unknown websocket opcode {item.opcode}")
    return True


def _quiet_send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)
