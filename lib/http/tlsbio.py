"""Client sockets for :mod:`ganeti.http.client`: TLS through memory BIOs.

:class:`TlsSocket` runs OpenSSL on memory buffers (``ssl.SSLObject``)
over a plain socket, where ``ssl.SSLSocket`` lets OpenSSL read the
socket itself.  The difference is the number of system calls: OpenSSL
reads a TLS record in two ``read`` calls (its 5-byte header, then the
rest), so every node RPC answer cost the master two reads; here one
``recv`` of up to :data:`CHUNK` bytes takes the whole answer (or many
records of a large one) and OpenSSL decrypts it from memory.  Sending
encrypts up to :data:`SEND_BATCH` bytes and hands the records to the
socket in one ``send``.

Both classes have the subset of the socket interface the client uses,
with the non-blocking behaviour of ``ssl.SSLSocket``: ``recv`` and
``send`` raise ``ssl.SSLWantReadError`` / ``ssl.SSLWantWriteError``
(TLS) or ``BlockingIOError`` (plain) when they cannot go on, ``recv``
returns ``b""`` at the end of the stream (also an end without TLS
``close_notify``, as ``SSLSocket`` does by default), and ``flush``
sends what encrypted output is left (TLS sockets keep what the kernel
did not take; ``SSLWantWriteError`` while some is left).
"""

from __future__ import annotations

import socket
import ssl
from typing import Final

#: Bytes read per receive call (TLS records are at most 16 KiB).
CHUNK: Final = 256 * 1024
#: Plaintext encrypted per ``send``: bounds the encrypted copy held in
#: memory while a large body goes out.
SEND_BATCH: Final = 256 * 1024


class PlainSocket:
    """A plain non-blocking socket with the interface of :class:`TlsSocket`."""

    __slots__ = ("raw",)

    def __init__(self, raw: socket.socket) -> None:
        self.raw = raw

    def fileno(self) -> int:
        return self.raw.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self.raw.settimeout(timeout)

    def send(self, data: memoryview) -> int:
        return self.raw.send(data)

    def flush(self) -> None:
        """Nothing is ever left: the kernel took what ``send`` counted."""

    def recv(self, size: int) -> bytes:
        return self.raw.recv(size)

    def close(self) -> None:
        self.raw.close()


class TlsSocket:
    """A client TLS connection over the non-blocking socket ``raw``."""

    __slots__ = ("_in", "_more", "_out", "_pending", "raw", "tls")

    def __init__(self, raw: socket.socket, context: ssl.SSLContext) -> None:
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        #: The TLS state (peer certificate: ``tls.getpeercert``).
        self.tls = context.wrap_bio(self._in, self._out)
        #: Encrypted bytes the kernel has not taken yet.
        self._pending = memoryview(b"")
        #: OpenSSL may hold decrypted bytes that ``recv`` did not return.
        self._more = False

    def fileno(self) -> int:
        return self.raw.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self.raw.settimeout(timeout)

    def close(self) -> None:
        self.raw.close()

    def do_handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                self._fill()
                continue
            self.flush()
            return

    def _fill(self) -> None:
        """One read of the socket into the TLS input (its end, too)."""
        try:
            data = self.raw.recv(CHUNK)
        except BlockingIOError:
            raise ssl.SSLWantReadError("The operation did not complete "
                                       "(read)") from None
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def flush(self) -> None:
        if not self._pending:
            if not self._out.pending:
                return
            self._pending = memoryview(self._out.read())
        elif self._out.pending:  # output produced while some was waiting
            self._pending = memoryview(bytes(self._pending) + self._out.read())
        while self._pending:
            try:
                sent = self.raw.send(self._pending)
            except BlockingIOError:
                raise ssl.SSLWantWriteError("The operation did not complete "
                                            "(write)") from None
            self._pending = self._pending[sent:]

    def send(self, data: memoryview) -> int:
        """Encrypt up to :data:`SEND_BATCH` bytes of ``data`` and send
        them; their count (what the kernel did not take waits for the
        next ``send`` or ``flush``)."""
        if self._pending:
            self.flush()
        count: int = self.tls.write(data[:SEND_BATCH])
        out = self._out.read()
        try:
            sent = self.raw.send(out)
        except BlockingIOError:
            sent = 0
        if sent < len(out):
            self._pending = memoryview(out)[sent:]
        return count

    def recv(self, size: int) -> bytes:
        """Up to ``size`` plaintext bytes: what one read of the socket
        brought (several TLS records when they came together)."""
        tls, incoming = self.tls, self._in
        if not (incoming.pending or self._more):
            self._fill()
        data = b""
        while True:
            try:
                data = tls.read(size)
            except ssl.SSLWantReadError:
                self._fill()
                continue
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return b""
            break
        # A read that filled ``size`` may have left plaintext in OpenSSL.
        self._more = len(data) == size
        if incoming.pending and not self._more:
            parts = [data]
            got = len(data)
            while got < size and incoming.pending:
                try:
                    more = tls.read(size - got)
                except (ssl.SSLWantReadError, ssl.SSLEOFError,
                        ssl.SSLZeroReturnError):
                    break  # a partial record, or the end: the next call
                if not more:
                    break
                parts.append(more)
                got += len(more)
            self._more = got == size
            data = b"".join(parts)
        if self._out.pending:  # TLS answered something (a key update)
            try:  # noqa: SIM105  (per answer: suppress() builds an object)
                self.flush()
            except ssl.SSLWantWriteError:
                pass
        return data
