"""Hypothesis against a live master daemon's LUXI socket.

Three layers of :mod:`ganeti.luxi`: the framing (any bytes, split by
the ETX byte anywhere), the request envelope (``method``, ``args``,
``version`` of any JSON type) and each method's arguments (declared in
:data:`ganeti.luxi.METHODS`).  Every message must get a reply on the
same connection (no hang, no dropped connection), a request the
declaration refuses must get an error reply, and afterwards the daemons
are the same processes with no traceback in their logs.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
from fuzz_support import FUZZ_SETTINGS, argument_lists, json_values
from hypothesis import given
from hypothesis import strategies as st

from ganeti import constants, errors, luxi
from ganeti.localcluster import LocalCluster

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from fuzz_cluster_support import Watch

pytestmark = pytest.mark.integration
pytest_plugins = ["fuzz_cluster_support"]

#: A reply must come within this (a hang fails the test).
REPLY_TIMEOUT = 60.0
#: Methods whose valid calls change the cluster: fuzzed with arguments
#: their declaration refuses only.
CHANGING = frozenset(["SetDrainFlag", "SetWatcherPause", "ArchiveJob",
                      "AutoArchiveJobs", "CancelJob"])


def exchange(cluster: LocalCluster, payload: bytes) -> list[Any]:
    """Send ``payload`` raw, close the sending side, and read the decoded
    replies until the daemon closes the connection."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(REPLY_TIMEOUT)
    with contextlib.closing(sock):
        sock.connect(cluster.master().paths.master_socket)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.endswith(luxi.EOM) or not data, data[-100:]
    return [json.loads(part) for part in data.split(luxi.EOM)[:-1]]


def refused_locally(message: bytes) -> bool:
    """Whether the declaration refuses the request (parse_request raises)."""
    try:
        luxi.parse_request(message)
    except errors.GenericError:
        return True
    return False


def check_replies(payload: bytes, replies: list[Any]) -> None:
    *messages, rest = payload.split(luxi.EOM)
    expected = messages + ([rest] if rest else [])
    assert len(replies) == len(expected), (payload[:200], replies)
    for message, reply in zip(expected, replies, strict=True):
        assert isinstance(reply, dict) and isinstance(reply.get("success"),
                                                      bool), reply
        if message is rest or refused_locally(message):
            assert reply["success"] is False, (message[:200], reply)
            errors.decode(reply["result"])  # a well-formed error


@FUZZ_SETTINGS
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_framing(cluster: LocalCluster, watch: Watch,
                 parts: list[bytes]) -> None:
    payload = luxi.EOM.join(parts)
    check_replies(payload, exchange(cluster, payload))
    watch.check()


envelopes = st.dictionaries(
    st.sampled_from([luxi.KEY_METHOD, luxi.KEY_ARGS, luxi.KEY_VERSION,
                     "other"]),
    json_values() | st.sampled_from(sorted(luxi.METHODS))
    | st.just(constants.PROTOCOL_VERSION)) | json_values()


@FUZZ_SETTINGS
@given(envelopes)
def test_envelope(cluster: LocalCluster, watch: Watch,
                  request_value: Any) -> None:
    payload = json.dumps(request_value).encode() + luxi.EOM
    check_replies(payload, exchange(cluster, payload))
    watch.check()


@pytest.mark.parametrize("name", sorted(luxi.METHODS))
@FUZZ_SETTINGS
@given(data=st.data())
def test_method_arguments(cluster: LocalCluster, watch: Watch, name: str,
                          data: st.DataObject) -> None:
    method = luxi.METHODS[name]
    args = data.draw(argument_lists([a.check for a in method.args]))
    payload = luxi.format_request(name, args, constants.PROTOCOL_VERSION)
    if name in CHANGING and not refused_locally(payload):
        return  # a valid call that would change the cluster under test
    check_replies(payload + luxi.EOM, exchange(cluster, payload + luxi.EOM))
    watch.check()


def test_huge_long_poll_timeout_is_capped(cluster: LocalCluster,
                                          watch: Watch) -> None:
    """Regression: a timeout beyond a float's range (JSON allows it) made
    WaitForJobChange fail with an OverflowError traceback in the log."""
    payload = luxi.format_request(
        "WaitForJobChange", [0, ["status"], None, None, 10**400],
        constants.PROTOCOL_VERSION) + luxi.EOM
    (reply,) = exchange(cluster, payload)
    assert reply["success"] is False
    assert reply["result"][0] == "OpPrereqError", reply  # no such job
    watch.check()
