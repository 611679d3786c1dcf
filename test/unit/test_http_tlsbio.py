"""The HTTP client's TLS sockets over memory BIOs, against a real TLS peer."""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from ganeti import crypto
from ganeti.http import tls
from ganeti.http.tlsbio import CHUNK, RECORD, TlsSocket

WAIT = 30.0
T = TypeVar("T")
BIG = bytes(range(256)) * 4096  # 1 MiB: many TLS records, several sends


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, bytes]:
    path = str(tmp_path / "server.pem")
    key, cert_pem = crypto.generate_self_signed("cluster", validity_days=1)
    crypto.write_pem_file(path, key, cert_pem)
    return path, cert_pem


@contextlib.contextmanager
def peer(cert: tuple[str, bytes], serve: Callable[[ssl.SSLSocket], None]
         ) -> Iterator[TlsSocket]:
    """A TLS server thread running ``serve`` on one connection, and a
    non-blocking :class:`TlsSocket` connected to it (handshake done)."""
    path, cert_pem = cert
    ctx = tls.server_context(path, client_ca_pem=cert_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)

    def run() -> None:
        with contextlib.suppress(OSError), ctx.wrap_socket(
                listener.accept()[0], server_side=True) as conn:
            conn.settimeout(WAIT)
            serve(conn)

    thread = threading.Thread(target=run)
    thread.start()
    raw = socket.create_connection(listener.getsockname(), timeout=WAIT)
    # A small send buffer: large writes must wait for the kernel.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    raw.setblocking(False)
    sock = TlsSocket(raw, tls.client_context(cert_pem, cert_file=path))
    try:
        pump(sock, sock.do_handshake)
        yield sock
    finally:
        sock.close()
        thread.join(WAIT)
        listener.close()


def pump(sock: TlsSocket, step: Callable[[], T]) -> T:
    """Run ``step`` until it stops asking to wait for the socket."""
    while True:
        try:
            return step()
        except (ssl.SSLWantReadError, BlockingIOError):
            ready = select.select([sock.raw], [], [], WAIT)[0]
        except ssl.SSLWantWriteError:
            ready = select.select([], [sock.raw], [], WAIT)[1]
        assert ready, "the peer stopped"


def send_all(sock: TlsSocket, data: bytes) -> None:
    view, sent = memoryview(data), 0
    while sent < len(data):
        rest = view[sent:]
        sent += pump(sock, lambda: sock.send(rest))  # noqa: B023  (called at once)
    pump(sock, sock.flush)


def recv_exactly(sock: TlsSocket, size: int, piece: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        want = min(piece, size - got)
        data = pump(sock, lambda: sock.recv(want))  # noqa: B023  (called at once)
        assert data, "end of stream before all the data"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def read_exactly(conn: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk
        data += chunk
    return data


@pytest.mark.parametrize("piece", [7, 16384, CHUNK])
def test_large_data_both_ways_in_any_piece_size(
        cert: tuple[str, bytes], piece: int) -> None:
    # Small pieces leave decrypted bytes inside OpenSSL between calls;
    # large ones take many records per read of the socket.
    def serve(conn: ssl.SSLSocket) -> None:
        got = read_exactly(conn, len(BIG))
        conn.sendall(hashlib.sha256(got).digest() + BIG)

    with peer(cert, serve) as sock:
        send_all(sock, BIG)
        assert recv_exactly(sock, 32, piece) == hashlib.sha256(BIG).digest()
        assert recv_exactly(sock, len(BIG), piece) == BIG


class _Measured:
    """Stands between a TlsSocket and one of its memory BIOs (the TLS
    object keeps the real one) and records the most it held."""

    def __init__(self, bio: ssl.MemoryBIO) -> None:
        self.bio = bio
        self.most = 0

    @property
    def pending(self) -> int:
        return self.bio.pending

    def write(self, data: bytes | memoryview) -> int:
        self.most = max(self.most, self.bio.pending + len(data))
        return self.bio.write(data)

    def write_eof(self) -> None:
        self.bio.write_eof()

    def read(self) -> bytes:
        self.most = max(self.most, self.bio.pending)
        return self.bio.read()


def test_memory_buffers_hold_at_most_a_record(
        cert: tuple[str, bytes]) -> None:
    # OpenSSL's memory BIOs keep the most they ever held for the life of
    # the connection: a 256 KiB batch made every kept-alive connection
    # of the master daemon 250 KB larger (100 MiB at 100 nodes).
    def serve(conn: ssl.SSLSocket) -> None:
        conn.sendall(hashlib.sha256(read_exactly(conn, len(BIG))).digest()
                     + BIG)

    with peer(cert, serve) as sock:
        incoming = sock._in = _Measured(sock._in)  # type: ignore[assignment]
        outgoing = sock._out = _Measured(sock._out)  # type: ignore[assignment]
        send_all(sock, BIG)
        assert recv_exactly(sock, 32, CHUNK) == hashlib.sha256(BIG).digest()
        assert recv_exactly(sock, len(BIG), CHUNK) == BIG
    assert 0 < incoming.most <= RECORD
    # A record's plaintext, its header and its tag.
    assert RECORD < outgoing.most <= RECORD + 256


@pytest.mark.parametrize("notify", [True, False])
def test_end_of_stream_reads_empty(cert: tuple[str, bytes],
                                   notify: bool) -> None:
    # With or without TLS close_notify (a peer that just closes), as
    # ssl.SSLSocket does by default.
    def serve(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"bye")
        if notify:
            conn.unwrap()
        else:
            conn.shutdown(socket.SHUT_RDWR)

    with peer(cert, serve) as sock:
        assert recv_exactly(sock, 3, CHUNK) == b"bye"
        assert pump(sock, lambda: sock.recv(CHUNK)) == b""
