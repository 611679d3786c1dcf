"""The confd daemon's engine: datagrams in, signed replies out.

:class:`ConfdProcessor` turns one datagram into a reply or into nothing:
a packet that is too long, lacks the magic, is not JSON, is unsigned or
signed with another key, carries a timestamp outside the window or a
malformed request is dropped and counted under its reason (see
:mod:`ganeti.confd.protocol`), never answered.  A bug in a handler is
counted too (``internal_error``) and logged; it never ends the daemon.

:class:`UdpServer` runs the processor on a UDP socket in one thread (the
work per query is one HMAC, one dictionary lookup and one JSON encoding;
threads would only contend for the interpreter).  :class:`ConfigReloader`
loads ``config.data`` into a :class:`~ganeti.confd.index.ConfigIndex`
and loads it again whenever the file changes (through
:class:`ganeti.utils.filewatch.FileWatcher`: inotify, or polling where
inotify is unavailable); a missing file disables answering (the node is
no candidate any more), a corrupt one keeps the last good index.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import logging
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ganeti import errors
from ganeti.confd import protocol
from ganeti.confd.index import ConfigIndex
from ganeti.confd.protocol import ErrorCode, PacketError, ReqType, Status
from ganeti.config import journal
from ganeti.config.follower import ConfigFollower
from ganeti.utils import filewatch

_log = logging.getLogger("ganeti.confd")

#: Least time between two loads of the configuration (seconds).
RELOAD_MIN_INTERVAL: Final = 1.0
#: Receive buffer asked for (bytes).
RECEIVE_BUFFER: Final = 4 * 1024 * 1024
#: Counters always present in the statistics (others appear when used).
BASE_COUNTERS: Final = ("received", "answered", "dropped", "reloads")


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


class ConfdProcessor:
    """Answers requests from the current :class:`ConfigIndex`."""

    def __init__(self, key: bytes, index: ConfigIndex | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.index = index
        self.clock = clock
        self.counters: collections.Counter[str] = collections.Counter(
            dict.fromkeys(BASE_COUNTERS, 0))

    def set_index(self, index: ConfigIndex | None) -> None:
        self.index = index  # one reference swap: handlers need no lock

    def stats(self) -> dict[str, Any]:
        """The counters, plus what the index holds."""
        result: dict[str, Any] = dict(self.counters)
        index = self.index
        result["serial"] = index.serial if index else None
        result["nodes"] = len(index.roles) if index else 0
        result["instances"] = len(index.instances) if index else 0
        return result

    def _drop(self, reason: str, detail: str, peer: str) -> None:
        self.counters["dropped"] += 1
        key = f"dropped_{reason}"
        self.counters[key] += 1
        count = self.counters[key]
        # Logged at 1, 10, 100... per reason: a flood cannot fill the log.
        if _is_power_of_ten(count):
            _log.info("Dropped packet from %s (%s, %d so far): %s", peer,
                      reason, count, detail)

    def process(self, data: bytes, peer: str = "?") -> bytes | None:
        """The reply datagram to ``data``, or None when it is dropped."""
        try:
            return self._process(data, peer)
        except Exception:  # a bug must not end the daemon
            self.counters["internal_error"] += 1
            _log.exception("Datagram from %s: processing failed", peer)
            return None

    def _process(self, data: bytes, peer: str) -> bytes | None:
        self.counters["received"] += 1
        try:
            message, salt = protocol.unpack(
                self.key, data, max_size=protocol.MAX_REQUEST_SIZE)
            request = protocol.parse_request(message, salt, self.clock())
        except PacketError as err:
            self._drop(err.reason, err.detail, peer)
            return None
        index = self.index
        if index is None:
            self._drop("disabled", "no configuration loaded", peer)
            return None
        if request.type == ReqType.STATS:
            status, answer = int(Status.OK), self.stats()
        else:
            status, answer = index.handlers[request.type](request.query)
        reply = self._pack(request.rsalt, status, answer, index.serial)
        if len(reply) > protocol.MAX_UDP_DATA_SIZE:
            self.counters["reply_too_large"] += 1
            _log.warning("Reply to request type %d from %s is %d bytes, more"
                         " than a datagram holds; answering an error",
                         request.type, peer, len(reply))
            reply = self._pack(request.rsalt, Status.ERROR,
                               ErrorCode.INTERNAL, index.serial)
        self.counters["answered"] += 1
        return reply

    def _pack(self, rsalt: str, status: int, answer: Any, serial: int) -> bytes:
        text = protocol.encode_text(protocol.Reply(
            status=int(status), answer=answer, serial=serial).to_dict())
        return protocol.pack_text(self.key, rsalt, text)


def _family(host: str) -> socket.AddressFamily:
    try:
        return (socket.AF_INET6 if ipaddress.ip_address(host).version == 6
                else socket.AF_INET)
    except ValueError:
        return socket.AF_INET


class UdpServer:
    """Serves a processor on ``address`` (bound at construction)."""

    def __init__(self, address: tuple[str, int],
                 processor: ConfdProcessor) -> None:
        self.processor = processor
        self.sock = socket.socket(_family(address[0]), socket.SOCK_DGRAM)
        try:
            self.sock.bind(address)
        except OSError as err:
            self.sock.close()
            raise errors.GenericError(
                f"Cannot bind UDP {address[0]}:{address[1]}: {err.strerror}",
                errors.ErrorCode.ENVIRON) from None
        # Room for bursts (many clients at once); the kernel caps it.
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 RECEIVE_BUFFER)
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def serve(self) -> None:
        """Answer datagrams until :meth:`stop`."""
        buffer_size = protocol.MAX_UDP_DATA_SIZE + 1
        sock = self.sock
        process = self.processor.process
        while not self._stopping:
            readable, _, _ = select.select([sock.fileno(), self._wake_r], [], [])
            if self._wake_r in readable:
                return
            while True:
                try:
                    data, peer = sock.recvfrom(buffer_size)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as err:  # e.g. ICMP errors reported late
                    _log.debug("recvfrom: %s", err)
                    break
                reply = process(data, f"{peer[0]}:{peer[1]}")
                if reply is not None:
                    with contextlib.suppress(OSError):
                        sock.sendto(reply, peer)

    def start(self) -> UdpServer:
        self._thread = threading.Thread(target=self.serve, daemon=True,
                                        name="confd-udp")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class ConfigReloader:
    """Keeps the processor's index in step with ``config.data``.

    Loads are rate-limited to one per ``min_interval`` seconds (Ganeti
    reloads at most once a second): the master rewrites the file after
    every job, and a burst of writes then costs one load, after the
    last of them, instead of one per write.  A notification for the file
    as it was last loaded (same inode, mtime and size) loads nothing.
    """

    def __init__(self, path: str, processor: ConfdProcessor, *,
                 use_inotify: bool | None = None,
                 interval: float = 1.0,
                 min_interval: float = RELOAD_MIN_INTERVAL) -> None:
        self.path = path
        self.processor = processor
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Set after every load that changed what is served.
        self.changed = threading.Event()
        #: How many times the file was read (tests; the log).
        self.reads = 0
        self._loaded: tuple[object, ...] | bool = False
        #: Decodes only the changes when just the journal grew.
        self._follower = ConfigFollower(path)
        self._last_start = -math.inf
        # Changes land in the journal; compactions rewrite config.data.
        self._watchers = [filewatch.FileWatcher(
            name, self.on_change, interval=interval, use_inotify=use_inotify)
            for name in (path, journal.journal_path(path))]

    def on_change(self) -> None:
        """A change was seen (in the watcher's thread)."""
        if journal.signature(self.path) == self._loaded:
            return
        wait = self._last_start + self.min_interval - time.monotonic()
        # Changes during the wait are folded into the one load after it.
        if wait > 0 and self._stop.wait(wait):
            return
        self.load()

    def load(self) -> bool:
        """(Re)build the index from the file; whether it is serving."""
        with self._lock:
            start = self._last_start = time.monotonic()
            self._loaded = journal.signature(self.path)
            self.reads += 1
            try:
                data = self._follower.read()
                index = ConfigIndex(data)
            except errors.NotClusterError:
                if self.processor.index is not None:
                    _log.warning("%s is gone: not answering queries until it"
                                 " is back", self.path)
                    self.processor.set_index(None)
                    self.changed.set()
                return False
            except errors.GenericError as err:
                _log.error("Cannot load %s, keeping the last good one: %s",
                           self.path, err)
                return self.processor.index is not None
            current = self.processor.index
            if current is not None and current.serial == index.serial:
                return True
            self.processor.set_index(index)
            self.processor.counters["reloads"] += 1
            self.changed.set()
            _log.info("Loaded configuration serial %d (%d nodes, %d "
                      "instances) in %.3fs", index.serial, len(index.roles),
                      len(index.instances), time.monotonic() - start)
            return True

    def start(self) -> ConfigReloader:
        # Watch first: a change made while loading is then seen.
        for watcher in self._watchers:
            watcher.start()
        self.load()
        return self

    def stop(self) -> None:
        self._stop.set()
        for watcher in self._watchers:
            watcher.stop()

    @property
    def uses_inotify(self) -> bool:
        return self._watchers[0].uses_inotify
