"""Asking confd: one request to several master candidates, best answer.

:meth:`ConfdClient.query` sends the same signed request (one fresh
``rsalt``) to up to :data:`~ganeti.confd.protocol.DEFAULT_REQ_COVERAGE`
candidates, waits until each has answered or the timeout passes, and
returns the reply with the highest config serial (a candidate that has
not yet received the last configuration answers with a lower one).
Replies that are not signed with the cluster key, answer another request
(their salt is not our ``rsalt``) or are malformed are ignored and
counted in :attr:`ConfdAnswer.ignored`; the source address of a valid
reply is not checked (the signature is what authenticates it).  No valid reply at all is
:class:`ganeti.errors.TimeoutError` naming who was asked.
"""

from __future__ import annotations

import dataclasses
import random
import select
import socket
import time
from collections.abc import Sequence
from typing import Any, Final

from ganeti import constants, errors, ssconf
from ganeti.confd import protocol
from ganeti.confd.protocol import PacketError, Reply, Request

#: Seconds to wait for replies unless told otherwise.
DEFAULT_TIMEOUT: Final = 2.0


@dataclasses.dataclass(frozen=True)
class ConfdAnswer:
    """The chosen reply and what the other candidates said."""

    reply: Reply
    #: Who sent the chosen reply (``ip:port``).
    peer: str
    #: Every valid reply, by peer.
    replies: dict[str, Reply]
    #: How many peers were asked.
    asked: int
    #: Datagrams that were not a valid reply to this request.
    ignored: int

    @property
    def status(self) -> int:
        return self.reply.status

    @property
    def answer(self) -> Any:
        return self.reply.answer

    @property
    def serial(self) -> int:
        return self.reply.serial


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class ConfdClient:
    """A client of the candidates ``peers`` (IP addresses)."""

    def __init__(self, key: bytes, peers: Sequence[str], *,
                 port: int = constants.DEFAULT_CONFD_PORT,
                 timeout: float = DEFAULT_TIMEOUT,
                 coverage: int = protocol.DEFAULT_REQ_COVERAGE) -> None:
        if not peers:
            raise errors.OpPrereqError(
                "No confd servers to ask (no master candidates known)",
                errors.ErrorCode.NOENT)
        if coverage < 1:
            raise errors.ParameterError("The coverage must be at least 1",
                                        errors.ErrorCode.INVAL)
        self.key = key
        self.peers = list(peers)
        self.port = port
        self.timeout = timeout
        self.coverage = coverage
        self._sockets: dict[socket.AddressFamily, socket.socket] = {}

    @classmethod
    def from_cluster(cls, **kwargs: Any) -> ConfdClient:
        """A client of this cluster: the key in ``hmac.key``, the
        candidates' primary IPs from ssconf."""
        peers = ssconf.SimpleStore().get_master_candidates_ips()
        return cls(protocol.load_key(), peers, **kwargs)

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> ConfdClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _socket(self, family: socket.AddressFamily) -> socket.socket:
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sockets[family] = sock
        return sock

    def targets(self, peers: Sequence[str] | None = None) -> list[str]:
        """The peers one request goes to: all of them up to the coverage,
        else a random choice of that many."""
        pool = list(peers if peers is not None else self.peers)
        if len(pool) <= self.coverage:
            return pool
        return random.sample(pool, self.coverage)

    def query(self, rtype: int, query: Any = None, *,
              peers: Sequence[str] | None = None,
              timeout: float | None = None) -> ConfdAnswer:
        """Ask; the reply with the highest serial (see the module doc)."""
        request = Request(type=int(rtype), query=query,
                          rsalt=protocol.new_rsalt())
        packet = protocol.pack_request(self.key, request)
        targets = self.targets(peers)
        for host in targets:
            try:
                self._socket(_family(host)).sendto(packet, (host, self.port))
            except OSError:
                continue  # unreachable now: it simply will not answer
        return self._collect(request.rsalt, targets,
                             self.timeout if timeout is None else timeout)

    def _collect(self, rsalt: str, targets: list[str],
                 timeout: float) -> ConfdAnswer:
        expected = {f"{host}:{self.port}" for host in targets}
        replies: dict[str, Reply] = {}
        ignored = 0
        deadline = time.monotonic() + timeout
        socks = list(self._sockets.values())
        while len(replies) < len(targets):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select(socks, [], [], left)
            for sock in readable:
                try:
                    data, addr = sock.recvfrom(protocol.MAX_UDP_DATA_SIZE + 1)
                except OSError:  # e.g. port unreachable from a dead peer
                    continue
                peer = f"{addr[0]}:{addr[1]}"
                try:
                    message, salt = protocol.unpack(self.key, data)
                    if salt != rsalt:
                        raise PacketError("wrong_salt", "not our request")
                    reply = protocol.parse_reply(message)
                except PacketError:
                    ignored += 1
                    continue
                # The signature with our rsalt authenticates the reply,
                # whatever its source address (a daemon bound to all
                # addresses may answer from another one than was asked).
                replies[peer] = reply
        if not replies:
            shown = ", ".join(sorted(expected))
            raise errors.TimeoutError(
                f"No answer from confd within {timeout:g}s (asked {shown})")
        best = max(replies, key=lambda p: replies[p].serial)
        return ConfdAnswer(reply=replies[best], peer=best, replies=replies,
                           asked=len(targets), ignored=ignored)
