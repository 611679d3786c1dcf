"""The confd wire format (Ganeti 2.1's, so its clients interoperate).

A datagram is the four bytes ``plj0`` followed by a signed envelope, a
JSON object ``{"msg": TEXT, "salt": SALT, "hmac": HEX}``: ``TEXT`` is the
JSON text of the request or reply, ``HEX`` the hex HMAC-SHA1 of
``SALT + TEXT`` (UTF-8) keyed with the cluster's ``hmac.key``.

- A request's salt is the sender's clock (whole seconds since the epoch,
  as a decimal string); the daemon drops requests more than
  :data:`MAX_CLOCK_SKEW` seconds away from its own clock.  The request
  (``protocol``, ``type``, ``query``, ``rsalt``) names a random
  ``rsalt``.
- A reply (``protocol``, ``status``, ``answer``, ``serial``) is signed
  with the request's ``rsalt`` as its salt, so a client accepts only
  replies to what it asked, and ``serial`` is the config's serial number
  (the client keeps the highest).

Every decoding failure raises :class:`PacketError` whose ``reason`` is a
short counter name (the daemon counts drops per reason).
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
import json
import secrets
import time
from typing import Any, Final

from ganeti import errors, pathutils
from ganeti.utils import io

MAGIC: Final = b"plj0"
PROTOCOL_VERSION: Final = 1
#: Seconds a request's timestamp may differ from the daemon's clock
#: (Ganeti: twice the 150 s allowed between nodes).
MAX_CLOCK_SKEW: Final = 300
#: Largest datagram sent or accepted (Ganeti's MAX_UDP_DATA_SIZE, 60 KiB).
MAX_UDP_DATA_SIZE: Final = 61440
#: Largest request the daemon reads; anything longer is dropped unread.
MAX_REQUEST_SIZE: Final = 16384
#: Longest ``rsalt`` accepted (clients send a 32-hex-digit UUID).
MAX_RSALT_LENGTH: Final = 128
#: Requests go to at most this many master candidates (Ganeti's default).
DEFAULT_REQ_COVERAGE: Final = 6


class ReqType(enum.IntEnum):
    """Request types; 0 to 9 are Ganeti's numbers."""

    PING = 0
    NODE_ROLE_BYNAME = 1
    NODE_PIP_BY_INSTANCE_IP = 2
    CLUSTER_MASTER = 3
    NODE_PIP_LIST = 4
    MC_PIP_LIST = 5
    INSTANCES_IPS_LIST = 6
    NODE_INSTANCES = 8
    INSTANCE_DISKS = 9
    #: This project's extension: the daemon's counters.
    STATS = 100


class Status(enum.IntEnum):
    OK = 0
    ERROR = 1
    NOTIMPLEMENTED = 2


class NodeRole(enum.IntEnum):
    MASTER = 0
    CANDIDATE = 1
    OFFLINE = 2
    DRAINED = 3
    REGULAR = 4


class ErrorCode(enum.IntEnum):
    """The answer of a reply whose status is :attr:`Status.ERROR`."""

    UNKNOWN_ENTRY = 1
    INTERNAL = 2
    ARGUMENT = 3


#: Keys of a dictionary query (strings: they are JSON object keys).
REQQ_LINK: Final = "0"
REQQ_IP: Final = "1"
REQQ_IPLIST: Final = "2"
REQQ_FIELDS: Final = "3"
#: Fields of a cluster master query.
REQFIELD_NAME: Final = "0"
REQFIELD_IP: Final = "1"
REQFIELD_MNODE_PIP: Final = "2"
REQFIELDS: Final = (REQFIELD_NAME, REQFIELD_IP, REQFIELD_MNODE_PIP)

_KNOWN_TYPES: Final = frozenset(int(t) for t in ReqType)
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                                   sort_keys=True, separators=(",", ":"))


class PacketError(Exception):
    """A datagram that is dropped: ``reason`` is its counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Request:
    type: int
    query: Any = None
    rsalt: str = ""
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "type": int(self.type),
                "query": self.query, "rsalt": self.rsalt}


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    answer: Any
    serial: int
    protocol: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "status": int(self.status),
                "answer": self.answer, "serial": self.serial}


def load_key(path: str | None = None) -> bytes:
    """The cluster's HMAC key: the bytes of ``hmac.key`` as they are,
    final newline included (as Ganeti keys with the file's contents, so
    its clients interoperate); OpPrereqError when it cannot be read or
    holds nothing but blanks."""
    path = path or pathutils.get().confd_hmac_key
    try:
        key = io.read_bytes(path)
    except errors.GenericError as err:
        raise errors.OpPrereqError(
            f"Cannot read the confd HMAC key {path}: {err}",
            errors.ErrorCode.ENVIRON) from None
    if not key.strip():
        raise errors.OpPrereqError(f"The confd HMAC key {path} is empty",
                                   errors.ErrorCode.ENVIRON)
    return key


def new_rsalt() -> str:
    return secrets.token_hex(16)


def sign(key: bytes, salt: str, text: str) -> str:
    """Hex HMAC-SHA1 of ``salt + text`` (one-shot: the C fast path)."""
    return hmac.digest(key, (salt + text).encode("utf-8"), "sha1").hex()


def encode_text(obj: Any) -> str:
    return _ENCODER.encode(obj)


def pack_text(key: bytes, salt: str, text: str) -> bytes:
    """A datagram carrying the already encoded message ``text``."""
    envelope = {"msg": text, "salt": salt, "hmac": sign(key, salt, text)}
    return MAGIC + _ENCODER.encode(envelope).encode("utf-8")


def pack(key: bytes, salt: str, message: dict[str, Any]) -> bytes:
    return pack_text(key, salt, encode_text(message))


def unpack(key: bytes, data: bytes, *,
           max_size: int = MAX_UDP_DATA_SIZE) -> tuple[Any, str]:
    """The verified message and salt of a datagram (PacketError if not)."""
    if len(data) > max_size:
        raise PacketError("oversized", f"{len(data)} bytes")
    if not data.startswith(MAGIC):
        raise PacketError("bad_magic", repr(data[:4]))
    try:
        envelope = json.loads(data[len(MAGIC):].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise PacketError("bad_json", str(err).splitlines()[0][:80]) from None
    if not isinstance(envelope, dict):
        raise PacketError("bad_envelope", "not a JSON object")
    text, salt, digest = (envelope.get("msg"), envelope.get("salt"),
                          envelope.get("hmac"))
    if not (isinstance(text, str) and isinstance(salt, str)
            and isinstance(digest, str)):
        raise PacketError("bad_envelope", "msg, salt and hmac must be strings")
    if not hmac.compare_digest(sign(key, salt, text).encode(),
                               digest.encode("utf-8", "replace")):
        raise PacketError("bad_signature", "HMAC does not verify")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise PacketError("bad_json", str(err).splitlines()[0][:80]) from None
    return message, salt


def _int_field(message: dict[str, Any], name: str,
               reason: str = "bad_request") -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PacketError(reason, f"field {name!r} must be an integer")
    return value


def parse_request(message: Any, salt: str, now: float) -> Request:
    """Check a verified request: timestamp salt in the window, fields."""
    if not (salt.isascii() and salt.isdigit() and len(salt) <= 20):
        raise PacketError("bad_timestamp", f"salt {salt[:30]!r}")
    skew = abs(now - int(salt))
    if skew > MAX_CLOCK_SKEW:
        raise PacketError("outside_window", f"clock skew {skew:.0f}s")
    if not isinstance(message, dict):
        raise PacketError("bad_request", "not a JSON object")
    protocol = _int_field(message, "protocol")
    if protocol != PROTOCOL_VERSION:
        raise PacketError("bad_request", f"protocol {protocol}")
    rtype = _int_field(message, "type")
    if rtype not in _KNOWN_TYPES:
        raise PacketError("bad_request", f"unknown request type {rtype}")
    rsalt = message.get("rsalt")
    if not isinstance(rsalt, str) or not rsalt or \
            len(rsalt) > MAX_RSALT_LENGTH:
        raise PacketError("bad_request", "missing or invalid rsalt")
    return Request(type=rtype, query=message.get("query"), rsalt=rsalt,
                   protocol=protocol)


def parse_reply(message: Any) -> Reply:
    """Check a verified reply's fields (PacketError if wrong)."""
    if not isinstance(message, dict):
        raise PacketError("bad_reply", "not a JSON object")
    protocol = _int_field(message, "protocol", "bad_reply")
    status = _int_field(message, "status", "bad_reply")
    serial = _int_field(message, "serial", "bad_reply")
    if protocol != PROTOCOL_VERSION or status not in {int(s) for s in Status}:
        raise PacketError("bad_reply", f"protocol {protocol}, status {status}")
    return Reply(status=status, answer=message.get("answer"), serial=serial,
                 protocol=protocol)


def pack_request(key: bytes, request: Request, now: float | None = None
                 ) -> bytes:
    """A request datagram salted with the clock (``now`` or the time)."""
    stamp = str(int(time.time() if now is None else now))
    return pack(key, stamp, request.to_dict())
