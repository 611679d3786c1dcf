"""Client sockets for :mod:`ganeti.http.client`: TLS through memory BIOs.

:class:`TlsSocket` runs OpenSSL on memory buffers (``ssl.SSLObject``)
over a plain socket, where ``ssl.SSLSocket`` lets OpenSSL read the
socket itself.  The difference is the number of system calls: OpenSSL
reads a TLS record in two ``read`` calls (its 5-byte header, then the
rest), so every node RPC answer cost the master two reads; here one
``recv`` of up to :data:`CHUNK` bytes takes the whole answer (or many
records of a large one) and OpenSSL decrypts it from memory.  Sending
encrypts up to :data:`SEND_BATCH` bytes and hands the records to the
socket in one ``sendmsg``.

OpenSSL's memory buffers never shrink: each keeps the most it ever held
at once.  A kept-alive connection that once sent a 250 KB ssconf push
held 250 KB more for the rest of its life (about 100 MiB in a master
daemon with 100 nodes), so both buffers are given at most one record's
worth at a time (:data:`RECORD`): what a ``recv`` brought waits in a
Python object that is freed once OpenSSL has taken it, and the records
of a send are taken out one by one.  Measured over 200 connections:
about 35 KB each after small requests and answers (as with
``ssl.SSLSocket``), 125 KB after 250 KB requests and 100 KB answers
(385 KB before).

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
#: The most given to (or left in) OpenSSL's memory buffers at once: a
#: TLS record's plaintext (with its header and tag, the encrypted record
#: is a little larger).
RECORD: Final = 16 * 1024


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

    __slots__ = ("_in", "_more", "_out", "_pending", "_rest", "raw", "tls")

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
        #: Received bytes not given to OpenSSL yet.
        self._rest = memoryview(b"")

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

    def _feed(self) -> bool:
        """Give OpenSSL the next record's worth of what was received
        (False: nothing was left)."""
        rest = self._rest
        if not rest:
            return False
        self._in.write(rest[:RECORD])
        self._rest = rest[RECORD:]
        return True

    def _fill(self) -> None:
        """More TLS input: what was received before, else one read of the
        socket (its end, too)."""
        if self._feed():
            return
        try:
            data = self.raw.recv(CHUNK)
        except BlockingIOError:
            raise ssl.SSLWantReadError("The operation did not complete "
                                       "(read)") from None
        if not data:
            self._in.write_eof()
        elif len(data) <= RECORD:
            self._in.write(data)
        else:
            self._rest = memoryview(data)
            self._feed()

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
        """Encrypt up to :data:`SEND_BATCH` bytes of ``data`` (a record
        at a time) and send them; their count (what the kernel did not
        take waits for the next ``send`` or ``flush``)."""
        if self._pending:
            self.flush()
        tls, out = self.tls, self._out
        end = min(len(data), SEND_BATCH)
        if not end:
            return 0
        count = 0
        records: list[bytes] = []
        while count < end:
            count += tls.write(data[count:min(count + RECORD, end)])
            records.append(out.read())
        try:
            sent = (self.raw.send(records[0]) if len(records) == 1
                    else self.raw.sendmsg(records))
        except BlockingIOError:
            sent = 0
        if sent < sum(map(len, records)):
            self._pending = memoryview(b"".join(records))[sent:]
        return count

    def recv(self, size: int) -> bytes:
        """Up to ``size`` plaintext bytes: what one read of the socket
        brought (several TLS records when they came together).  OpenSSL
        is asked for a record at a time: it never returns more, and a
        larger request makes a larger short-lived object (the heap it
        leaves behind is what an idle connection then holds)."""
        tls, incoming = self.tls, self._in
        if not (incoming.pending or self._more):
            self._fill()
        parts: list[bytes] = []
        got = 0
        while got < size:
            want = min(size - got, RECORD)
            try:
                data = tls.read(want)
            except ssl.SSLWantReadError:
                if not parts:
                    self._fill()  # nothing received: SSLWantReadError
                    continue
                if self._feed():
                    continue
                break  # a partial record: the next call
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                break  # the end (now or at the next call)
            if not data:
                break
            parts.append(data)
            got += len(data)
            if len(data) < want and not (incoming.pending or self._rest):
                break  # all that came is read
        # A read that filled ``size`` may have left plaintext in OpenSSL.
        self._more = got == size
        if self._out.pending:  # TLS answered something (a key update)
            try:  # noqa: SIM105  (per answer: suppress() builds an object)
                self.flush()
            except ssl.SSLWantWriteError:
                pass
        return parts[0] if len(parts) == 1 else b"".join(parts)
