"""Hypothesis strategies of confd packets: valid requests signed with a
key, and broken ones the daemon must drop (unit and integration tests)."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import strategies as st

from ganeti.confd import protocol
from ganeti.confd.protocol import ReqType

KEY = b"k" * 64
OTHER_KEY = b"o" * 64

queries = st.one_of(
    st.none(), st.text(max_size=20),
    st.sampled_from(["node1.example.com", "inst1.example.com", "10.1.0.1"]),
    st.dictionaries(st.sampled_from(["0", "1", "2", "3", "x"]),
                    st.one_of(st.text(max_size=8), st.lists(
                        st.text(max_size=8), max_size=3), st.integers()),
                    max_size=3))


@st.composite
def valid_requests(draw: st.DrawFn, key: bytes = KEY) -> bytes:
    request = protocol.Request(type=draw(st.sampled_from(list(ReqType))),
                               query=draw(queries),
                               rsalt=draw(st.text("0123456789abcdef",
                                                  min_size=1, max_size=32)))
    return protocol.pack_request(key, request)


def _resign(message: Any, salt: str, key: bytes) -> bytes:
    return protocol.pack_text(key, salt, json.dumps(message))


@st.composite
def broken_requests(draw: st.DrawFn, key: bytes = KEY) -> bytes:
    """Packets the daemon must drop: noise, mutated valid packets,
    another key, a time outside the window, wrong fields, oversized."""
    base = draw(valid_requests(key))
    message, _salt = protocol.unpack(key, base)
    now = int(time.time())
    kind = draw(st.sampled_from(["noise", "flip", "truncate", "append",
                                 "other_key", "old", "future", "fields",
                                 "oversized", "unsigned"]))
    if kind == "noise":
        return draw(st.binary(max_size=300))
    if kind == "flip":
        pos = draw(st.integers(0, len(base) - 1))
        bit = 1 << draw(st.integers(0, 7))
        return base[:pos] + bytes([base[pos] ^ bit]) + base[pos + 1:]
    if kind == "truncate":
        return base[:draw(st.integers(0, len(base) - 1))]
    if kind == "append":  # not whitespace only: JSON allows that
        return base + b"x" + draw(st.binary(max_size=20))
    if kind == "other_key":
        return _resign(message, str(now), OTHER_KEY if key != OTHER_KEY
                       else KEY)
    if kind == "old":
        return _resign(message, str(now - draw(st.integers(400, 10**9))),
                       key)
    if kind == "future":
        return _resign(message, str(now + draw(st.integers(400, 10**9))),
                       key)
    if kind == "fields":
        field = draw(st.sampled_from(["protocol", "type", "rsalt"]))
        value = draw(st.one_of(st.none(), st.just(""), st.just(99),
                               st.just(True), st.just([1])))
        return _resign(dict(message, **{field: value}), str(now), key)
    if kind == "oversized":
        return base + b" " * protocol.MAX_REQUEST_SIZE
    envelope = {"msg": json.dumps(message), "salt": str(now)}
    return protocol.MAGIC + json.dumps(envelope).encode()
