"""The web console under ``/ui/``: static pages, the VNC websocket, and
the cross-site request check every RAPI write goes through.

The console is static files (HTML, CSS, JavaScript ES modules, noVNC
vendored under ``ui/vendor/novnc-1.3.0``) whose scripts call the RAPI's
``/2/...`` resources; nothing here reads the configuration or submits a
job by itself, so what a user may see or do is what the RAPI allows.
Serving the files needs an authenticated user (``read`` or ``write``);
the browser's Basic authentication then covers the RAPI calls.

``/ui/vnc/NAME`` is a websocket relayed to the VNC server of instance
``NAME`` on its primary node.  It needs ``write`` access, like
``/2/instances/NAME/console`` whose job (``OpInstanceConsole``) tells
where the server listens.

Cross-site requests: browsers send cached Basic credentials with any
request to the origin, including a form another site submits.  Such a
"simple" request carries a non-JSON content type, an ``Origin`` naming
another site, or ``Sec-Fetch-Site: cross-site``; :func:`check_not_cross_site`
refuses every write showing one of these (the console itself sends JSON
from the same origin, and scripts and ``curl`` send none of them).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import errors, http, luxi, opcodes
from ganeti.rapi import ACCESS_READ, ACCESS_WRITE, auth, base, websocket

#: The directory of the static files (next to this module).
UI_DIR: Final = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
PREFIX: Final = "/ui/"
VNC_PREFIX: Final = "/ui/vnc/"
#: Seconds to connect to a VNC server.
VNC_CONNECT_TIMEOUT: Final = 10.0
#: Headers of every static answer: no framing (clickjacking), no
#: guessing of content types, scripts only from this origin.
SECURITY_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self'; frame-ancestors 'none'; form-action 'none'"),
    "Cache-Control": "no-cache",
}
_TYPES: Final = {".html": "text/html; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8",
                 ".png": "image/png", ".svg": "image/svg+xml",
                 ".txt": "text/plain; charset=utf-8"}
_SAFE_METHODS: Final = frozenset(["GET", "HEAD"])

_log = logging.getLogger("ganeti.rapi.webui")


def check_not_cross_site(method: str, headers: Mapping[str, str]) -> None:
    """Refuse a write that a page of another site may have sent (see the
    module doc): 403 for a foreign origin, 415 for a non-JSON type."""
    if method in _SAFE_METHODS:
        return
    fetch_site = headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site in ("cross-site", "same-site"):
        raise http.HttpError(http.HTTP_FORBIDDEN,
                             f"Cross-site {method} refused (Sec-Fetch-Site: "
                             f"{fetch_site})")
    origin = headers.get("Origin")
    if origin is not None and not _same_origin(origin, headers.get("Host")):
        raise http.HttpError(http.HTTP_FORBIDDEN,
                             f"Cross-site {method} from origin "
                             f"{origin[:80]!r} refused")
    ctype = headers.get("Content-Type")
    if ctype is not None:
        kind = ctype.split(";", 1)[0].strip().lower()
        if kind != http.JSON_TYPE:
            raise http.HttpError(base.HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 f"Write requests must be {http.JSON_TYPE}, "
                                 f"not {kind[:60]!r}")


def _same_origin(origin: str, host: str | None) -> bool:
    if origin == "null" or not host:
        return False
    parts = urllib.parse.urlsplit(origin)
    return parts.scheme == "https" and parts.netloc.lower() == host.lower()


def _static_file(path: str) -> str:
    """The file under :data:`UI_DIR` that ``path`` names; 404 for
    anything else (no directory listing, no way out of the tree)."""
    relative = urllib.parse.unquote(path[len(PREFIX):])
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") or "\\" in part
           or "\x00" in part for part in parts):
        raise base.not_found(f"No file at {path[:100]!r}")
    full = os.path.join(UI_DIR, *parts)
    if not os.path.isfile(full):
        raise base.not_found(f"No file at {path[:100]!r}")
    return full


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(path)[0] \
        or "application/octet-stream"


class WebUi:
    """Answers the requests under ``/ui/``."""

    def __init__(self, authenticator: auth.Authenticator,
                 luxi_factory: Callable[[], luxi.Client],
                 connect: Callable[[tuple[str, int], float], socket.socket]
                 = socket.create_connection) -> None:
        self.authenticator = authenticator
        self.luxi_factory = luxi_factory
        self.connect = connect

    def __call__(self, request: http.Request, path: str) -> http.Response:
        client = request.client_address[0]
        if path.startswith(VNC_PREFIX):
            return self._vnc(request, path, client)
        if path == PREFIX.rstrip("/"):
            return http.Response(status=301, headers={"Location": PREFIX},
                                 content_type="text/plain")
        if request.method not in _SAFE_METHODS:
            raise http.HttpError(http.HTTP_METHOD_NOT_ALLOWED,
                                 "The web console's files are read with GET",
                                 headers={"Allow": "GET, HEAD"})
        self.authenticator.check(request.headers, (ACCESS_READ,), client)
        full = _static_file(path)
        with open(full, "rb") as handle:
            data = handle.read()
        return http.Response(body=data, content_type=content_type(full),
                             headers=SECURITY_HEADERS)

    def _vnc(self, request: http.Request, path: str,
             client: str) -> http.Response:
        """Authenticate (write access), check the websocket handshake,
        find the VNC server and connect to it; the relay runs after the
        101 answer."""
        user = self.authenticator.check(request.headers, (ACCESS_WRITE,),
                                        client)
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin,
                                                   request.headers.get("Host")):
            raise http.HttpError(http.HTTP_FORBIDDEN,
                                 f"Websocket from origin {origin[:80]!r} "
                                 "refused")
        key = websocket.check_handshake(request.method, request.headers)
        name = urllib.parse.unquote(path[len(VNC_PREFIX):])
        if not name or "/" in name:
            raise base.not_found(f"No resource at {path[:100]!r}")
        address = self._vnc_address(name, request.headers)
        try:
            upstream = self.connect(address, VNC_CONNECT_TIMEOUT)
        except OSError as err:
            raise http.HttpError(
                502, f"Cannot connect to the VNC server of {name} at "
                f"{address[0]}:{address[1]}: {err.strerror or err}") from None
        _log.info("VNC console of %s (%s:%d) opened by %s from %s", name,
                  *address, user, client)

        def relay(sock: socket.socket) -> None:
            try:
                websocket.tunnel(sock, upstream)
            finally:
                upstream.close()
                _log.info("VNC console of %s closed", name)

        headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Accept": websocket.accept_key(key)}
        asked = request.headers.get("Sec-Websocket-Protocol", "")
        if "binary" in [p.strip() for p in asked.split(",")]:
            headers["Sec-WebSocket-Protocol"] = "binary"
        return http.Response(status=101, headers=headers, upgrade=relay)

    def _vnc_address(self, name: str,
                     headers: Mapping[str, str]) -> tuple[str, int]:
        ctx = base.Context(method="GET", path="", items=(name,), queryargs={},
                           headers=headers, raw_body=b"",
                           luxi_factory=self.luxi_factory)
        try:
            info: Any = base.run_job(ctx, [base.fill_opcode(
                opcodes.OpInstanceConsole, {}, {"instance_name": name})])
        except errors.GenericError as err:
            raise http.HttpError(err.http_status, str(err).splitlines()[0]
                                 if str(err) else type(err).__name__) from None
        return vnc_address(name, info)


def vnc_address(name: str, info: Any) -> tuple[str, int]:
    """Where the VNC server of ``name`` listens, from its console
    information; 409 when it has none (the message says what it has)."""
    if not isinstance(info, dict):
        raise http.HttpError(http.HTTP_INTERNAL_ERROR,
                             f"Unexpected console information for {name}")
    port = info.get("port")
    host = str(info.get("host") or "")
    if not port or not host:
        detail = info.get("message") or f"its console is of kind " \
            f"{info.get('kind')!r}"
        raise http.HttpError(409, f"Instance {name} has no VNC console: "
                                  f"{detail}")
    if host in ("0.0.0.0", "::"):
        host = str(info.get("node_ip") or host)
    return host, int(port)
