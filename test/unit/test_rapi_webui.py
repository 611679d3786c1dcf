"""The web console's server side without a browser: static files and
their authentication, the cross-site write refusal, the websocket
protocol, the VNC relay and the HTTP server's protocol switch."""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from test_rapi_resources import WRITER, Client

from ganeti import http
from ganeti.http import server as http_server
from ganeti.rapi import users, websocket, webui

READER = ("reader", "readpw")
KEY = base64.b64encode(b"0123456789abcdef").decode()


@pytest.fixture
def client(tmp_path: Path) -> Client:
    made = Client(tmp_path)
    users.write_users_file(str(tmp_path / "rapi_users"),
                           [(*WRITER, ["write"]), (*READER, ["read"])])
    return made


def raw(client: Client, method: str, path: str, *,
        user: tuple[str, str] | None = WRITER,
        headers: dict[str, str] | None = None) -> http.Response | int:
    """The response, or the status of the HttpError raised."""
    sent = dict(headers or {})
    if user is not None:
        token = base64.b64encode(":".join(user).encode()).decode()
        sent["Authorization"] = f"Basic {token}"
    request = http.Request(method=method, path=path, headers=sent, body=b"",
                           client_address=("127.0.0.1", 1))
    try:
        return client.app(request)
    except http.HttpError as err:
        return err.status


# --- static files -------------------------------------------------------------

def test_pages_need_a_user(client: Client) -> None:
    assert raw(client, "GET", "/ui/", user=None) == 401
    assert raw(client, "GET", "/ui/", user=(READER[0], "wrong")) == 401
    page = raw(client, "GET", "/ui/", user=READER)
    assert isinstance(page, http.Response)
    assert page.content_type.startswith("text/html")
    assert b'src="app.js"' in page.body
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_content_types_and_the_vendored_novnc(client: Client) -> None:
    for path, kind in [("/ui/app.js", "text/javascript"),
                       ("/ui/style.css", "text/css"),
                       ("/ui/console.html", "text/html"),
                       ("/ui/vendor/novnc-1.3.0/core/rfb.js",
                        "text/javascript")]:
        answer = raw(client, "GET", path)
        assert isinstance(answer, http.Response), path
        assert answer.content_type.startswith(kind), path


@pytest.mark.parametrize("path", [
    "/ui/../connector.py", "/ui/%2e%2e/connector.py", "/ui/vendor/",
    "/ui/nothing.js", "/ui/.hidden", "/ui/vendor/novnc-1.3.0/..%2f..%2fweb"
    "ui.py", "/ui/a%00b"])
def test_no_way_out_of_the_tree(client: Client, path: str) -> None:
    assert raw(client, "GET", path) == 404


def test_ui_without_slash_redirects_and_writes_are_405(client: Client
                                                       ) -> None:
    answer = raw(client, "GET", "/ui")
    assert isinstance(answer, http.Response)
    assert answer.status == 301 and answer.headers["Location"] == "/ui/"
    assert raw(client, "POST", "/ui/index.html") == 405


def test_ui_files_are_what_the_module_serves() -> None:
    assert os.path.isfile(os.path.join(webui.UI_DIR, "index.html"))
    assert os.path.isfile(os.path.join(
        webui.UI_DIR, "vendor", "novnc-1.3.0", "LICENSE.MPL-2.0"))


# --- cross-site writes --------------------------------------------------------

HOST = {"Host": "master.example.com:5080"}


@pytest.mark.parametrize("headers", [
    {"Content-Type": "text/plain"},
    {"Content-Type": "application/x-www-form-urlencoded"},
    {"Content-Type": "multipart/form-data; boundary=x"},
    {**HOST, "Origin": "https://evil.example.org"},
    {**HOST, "Origin": "http://master.example.com:5080"},
    {**HOST, "Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_simple_cross_site_writes_are_refused(client: Client,
                                              headers: dict[str, str]
                                              ) -> None:
    """What a form or a no-cors fetch of another site can send: refused
    before authentication, so cached credentials do not help."""
    status, body, _ = client.request(
        "POST", "/2/instances/a.example.com/reboot", raw=b"a=b",
        headers=headers)
    assert status in (403, 415), body
    assert client.luxi.jobs == []
    with pytest.raises(http.HttpError):
        webui.check_not_cross_site("PUT", headers)


@pytest.mark.parametrize("headers", [
    {}, {"Content-Type": "application/json"},
    {**HOST, "Origin": "https://master.example.com:5080",
     "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"},
])
def test_same_origin_and_script_writes_pass(client: Client,
                                            headers: dict[str, str]) -> None:
    hdrs = {"Content-Type": "application/json", **headers}
    if not headers:
        hdrs = {}
    webui.check_not_cross_site("POST", hdrs)
    status, _, _ = client.request("PUT", "/2/instances/a.example.com/startup",
                                  headers=hdrs)
    assert status == 200 and len(client.luxi.jobs) == 1


def test_reads_are_not_checked() -> None:
    webui.check_not_cross_site("GET", {"Origin": "https://evil.example.org",
                                       "Content-Type": "text/plain"})


# --- websocket protocol -------------------------------------------------------

def test_accept_key_of_the_rfc_example() -> None:
    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == \
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def masked(opcode: int, payload: bytes, mask: bytes = b"\x01\x02\x03\x04",
           fin: bool = True) -> bytes:
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70001])
def test_frames_round_trip_in_pieces(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    data = masked(websocket.OP_BINARY, payload)
    reader = websocket.FrameReader()
    frames = []
    for start in range(0, len(data), 1000):
        frames.extend(reader.feed(data[start:start + 1000]))
    assert frames == [websocket.Frame(websocket.OP_BINARY, payload, True)]
    server = websocket.frame(websocket.OP_BINARY, payload)
    assert server[0] == 0x82 and server.endswith(payload)
    assert len(server) - size == (2 if size < 126 else 4 if size < 65536
                                  else 10)


def test_bad_frames() -> None:
    with pytest.raises(websocket.ProtocolError, match="masked"):
        websocket.FrameReader().feed(b"\x82\x01a")
    with pytest.raises(websocket.ProtocolError, match="Reserved"):
        websocket.FrameReader().feed(b"\xc2\x81abcdx")
    big = struct.pack("!BBQ", 0x82, 0xFF, websocket.MAX_FRAME + 1)
    with pytest.raises(websocket.ProtocolError) as info:
        websocket.FrameReader().feed(big)
    assert info.value.code == websocket.CLOSE_TOO_BIG


def handshake(**extra: str) -> dict[str, str]:
    return {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
            "Sec-Websocket-Version": "13", "Sec-Websocket-Key": KEY, **extra}


@pytest.mark.parametrize(("change", "message"), [
    ({"Upgrade": "h2c"}, "Upgrade: websocket"),
    ({"Connection": "close"}, "Connection: Upgrade"),
    ({"Sec-Websocket-Version": "8"}, "version 13"),
    ({"Sec-Websocket-Key": "short"}, "Sec-WebSocket-Key"),
])
def test_bad_handshakes(change: dict[str, str], message: str) -> None:
    with pytest.raises(http.HttpError, match=message):
        websocket.check_handshake("GET", handshake(**change))
    assert websocket.check_handshake("GET", handshake()) == KEY


def test_tunnel_relays_both_ways_and_answers_pings() -> None:
    client, browser = socket.socketpair()
    upstream, vnc = socket.socketpair()
    relay = threading.Thread(target=websocket.tunnel, args=(client, upstream))
    relay.start()
    try:
        vnc.sendall(b"RFB 003.008\n")
        assert browser.recv(100) == websocket.frame(websocket.OP_BINARY,
                                                    b"RFB 003.008\n")
        browser.sendall(masked(websocket.OP_BINARY, b"RFB 003.008\n"))
        assert vnc.recv(100) == b"RFB 003.008\n"
        browser.sendall(masked(websocket.OP_PING, b"hi"))
        assert browser.recv(100) == websocket.frame(websocket.OP_PONG, b"hi")
        browser.sendall(masked(websocket.OP_CLOSE, struct.pack("!H", 1000)))
        assert browser.recv(100)[0] == 0x88
    finally:
        relay.join(timeout=30)
        for sock in (client, browser, upstream, vnc):
            sock.close()
    assert not relay.is_alive()


# --- the VNC websocket --------------------------------------------------------

def test_vnc_socket_needs_a_writer(client: Client) -> None:
    path = "/ui/vnc/a.example.com"
    assert raw(client, "GET", path, user=None, headers=handshake()) == 401
    assert raw(client, "GET", path, user=READER, headers=handshake()) == 403
    assert raw(client, "GET", path, headers={
        **handshake(), **HOST, "Origin": "https://evil.example.org"}) == 403
    assert raw(client, "GET", path, headers={"Upgrade": "websocket"}) == 400
    assert client.luxi.jobs == []


@pytest.mark.parametrize(("info", "expected"), [
    ({"kind": "vnc", "host": "192.0.2.1", "port": 5901}, ("192.0.2.1", 5901)),
    ({"kind": "vnc", "host": "0.0.0.0", "port": 5902, "node_ip": "192.0.2.7"},
     ("192.0.2.7", 5902)),
    ({"kind": "command", "host": "192.0.2.1", "port": 5903},
     ("192.0.2.1", 5903)),
])
def test_vnc_address(info: dict[str, Any], expected: tuple[str, int]) -> None:
    assert webui.vnc_address("a", info) == expected


def test_no_vnc_server_is_409_with_the_reason() -> None:
    with pytest.raises(http.HttpError, match="not running") as info:
        webui.vnc_address("a", {"kind": "message",
                                "message": "Instance a is not running"})
    assert info.value.status == 409
    with pytest.raises(http.HttpError, match="'command'"):
        webui.vnc_address("a", {"kind": "command", "command": ["socat"]})


# --- the server's protocol switch ---------------------------------------------

def test_server_hands_the_connection_to_the_upgrade() -> None:
    """A 101 answer with an upgrade: the server writes the head and the
    upgrade owns the socket (here: echo one line, upper-cased)."""
    def echo(sock: socket.socket) -> None:
        sock.sendall(sock.recv(100).upper())

    def app(request: http.Request) -> http.Response:
        return http.Response(status=101, headers={"Upgrade": "echo"},
                             upgrade=echo)

    with http_server.HttpServer(("127.0.0.1", 0), app) as server, \
            socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"Upgrade: echo\r\n" in head
        sock.sendall(b"hello")
        assert sock.recv(100) == b"HELLO"
