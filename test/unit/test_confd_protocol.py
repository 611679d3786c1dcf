"""The confd wire format: envelope, signature, request and reply checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganeti import errors
from ganeti.confd import protocol
from ganeti.confd.protocol import PacketError, ReqType, Request

KEY = b"0123456789abcdef" * 4
NOW = 1_700_000_000.0


def _envelope(data: bytes) -> dict[str, str]:
    assert data.startswith(b"plj0")
    result: dict[str, str] = json.loads(data[4:])
    return result


def test_known_vector() -> None:
    """The signature is HMAC-SHA1 of salt + message text, in hex: a
    vector from ``printf salttext | openssl dgst -sha1 -hmac key``, so
    the format cannot drift unnoticed."""
    assert protocol.sign(b"key", "salt", "text") == \
        "8cc1629a03751e98f849ac26a65e594b315b34d9"


def test_request_round_trip() -> None:
    req = Request(type=ReqType.NODE_ROLE_BYNAME, query="node1", rsalt="r1")
    data = protocol.pack_request(KEY, req, now=NOW)
    env = _envelope(data)
    assert env["salt"] == str(int(NOW))
    assert json.loads(env["msg"]) == {"protocol": 1, "type": 1,
                                      "query": "node1", "rsalt": "r1"}
    message, salt = protocol.unpack(KEY, data)
    assert protocol.parse_request(message, salt, NOW + 10) == req


def test_reply_signed_with_rsalt() -> None:
    reply = protocol.Reply(status=0, answer=["a"], serial=7)
    data = protocol.pack(KEY, "r1", reply.to_dict())
    message, salt = protocol.unpack(KEY, data)
    assert salt == "r1"
    assert protocol.parse_reply(message) == reply


def _reason(data: bytes, now: float = NOW, key: bytes = KEY) -> str:
    with pytest.raises(PacketError) as err:
        message, salt = protocol.unpack(key, data,
                                        max_size=protocol.MAX_REQUEST_SIZE)
        protocol.parse_request(message, salt, now)
    return err.value.reason


def _signed(message: object, salt: str = str(int(NOW)),
            key: bytes = KEY) -> bytes:
    return protocol.pack_text(key, salt, json.dumps(message))


VALID = {"protocol": 1, "type": 0, "query": None, "rsalt": "x"}


@pytest.mark.parametrize(("data", "reason"), [
    (b"plj0" + b" " * protocol.MAX_REQUEST_SIZE, "oversized"),
    (b"xxxx{}", "bad_magic"),
    (b"", "bad_magic"),
    (b"plj0{not json", "bad_json"),
    (b"plj0\xff\xfe", "bad_json"),
    (b"plj0[1,2]", "bad_envelope"),
    (b'plj0{"msg": "{}", "salt": "1"}', "bad_envelope"),
    (b'plj0{"msg": 1, "salt": "1", "hmac": "00"}', "bad_envelope"),
    (_signed(VALID, key=b"another key"), "bad_signature"),
    (_signed(VALID, salt="yesterday"), "bad_timestamp"),
    (_signed(VALID, salt=str(int(NOW) - 301)), "outside_window"),
    (_signed(VALID, salt=str(int(NOW) + 301)), "outside_window"),
    (_signed([1]), "bad_request"),
    (_signed(dict(VALID, protocol=2)), "bad_request"),
    (_signed(dict(VALID, protocol=True)), "bad_request"),
    (_signed(dict(VALID, type=77)), "bad_request"),
    (_signed(dict(VALID, type="0")), "bad_request"),
    (_signed(dict(VALID, rsalt="")), "bad_request"),
    (_signed(dict(VALID, rsalt="r" * 129)), "bad_request"),
    (_signed({k: v for k, v in VALID.items() if k != "rsalt"}),
     "bad_request"),
])
def test_bad_packets(data: bytes, reason: str) -> None:
    assert _reason(data) == reason


def test_signed_text_that_is_not_json() -> None:
    data = protocol.pack_text(KEY, str(int(NOW)), "{nope")
    assert _reason(data) == "bad_json"


def test_window_edges_are_accepted() -> None:
    for salt in (str(int(NOW) - 300), str(int(NOW) + 300)):
        message, got = protocol.unpack(KEY, _signed(VALID, salt=salt))
        protocol.parse_request(message, got, NOW)


def test_bad_replies() -> None:
    for message in ([], {"protocol": 1, "status": 9, "serial": 1},
                    {"protocol": 1, "status": 0, "serial": "1"}):
        with pytest.raises(PacketError) as err:
            protocol.parse_reply(message)
        assert err.value.reason == "bad_reply"


def test_load_key(tmp_path: Path) -> None:
    path = tmp_path / "hmac.key"
    path.write_text("abc\n")
    assert protocol.load_key(str(path)) == b"abc\n"  # verbatim, as Ganeti
    path.write_text("\n")
    with pytest.raises(errors.OpPrereqError, match="is empty"):
        protocol.load_key(str(path))
    with pytest.raises(errors.OpPrereqError, match="Cannot read"):
        protocol.load_key(str(tmp_path / "missing"))
