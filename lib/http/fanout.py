"""Node RPC fan-out outside the interpreter lock: the C engine.

:class:`FanoutClient` has the :meth:`~FanoutClient.request_many` of
:class:`ganeti.http.client.HttpClient` for what node RPC sends (mutual
TLS, peers pinned to the cluster certificates, kept-alive connections)
and drives the whole batch in C (``_fanout.c``: OpenSSL and one
``epoll`` loop) without holding the interpreter lock; only the results
are turned into Python objects.  Same limits, same one-line failures,
same retry of a request whose kept-alive connection the server had
closed.  The answers carry status and body only (node RPC reads no
header).

The engine is a compiled module, built by ``tools/bootstrap-env`` (and
``make``) when a C compiler, the Python headers and OpenSSL's are there.
Which engine node RPC uses (:func:`selected`): the environment variable
``GANETI_RPC_ENGINE`` (``c``: the C engine, an error when it is not
built; ``python``: :class:`~ganeti.http.client.HttpClient`); unset, the
C engine where it is built, else the Python client.
``doc/design/rpc.rst`` has the figures.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any, Final

from ganeti import errors
from ganeti.http.client import (
    DEFAULT_MAX_IDLE_AGE,
    DEFAULT_MAX_RESPONSE,
    HttpResponse,
    Outcome,
    Request,
    request_encoder,
)

_engine: ModuleType | None
try:
    from ganeti.http import _fanout as _engine
except ImportError:  # not built here
    _engine = None

ENGINE_ENV: Final = "GANETI_RPC_ENGINE"
ENGINES: Final = ("c", "python")
_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})


def built() -> bool:
    """Whether the C engine can be loaded."""
    return _engine is not None


def selected() -> str:
    """``"c"`` or ``"python"``: the engine node RPC uses here (see the
    module's description); a bad or unsatisfiable choice is an error."""
    wanted = os.environ.get(ENGINE_ENV, "").strip().lower()
    if not wanted:
        return "c" if _engine is not None else "python"
    if wanted not in ENGINES:
        raise errors.ConfigurationError(
            f"{ENGINE_ENV}={wanted!r}: must be one of {', '.join(ENGINES)}")
    if wanted == "c" and _engine is None:
        raise errors.ConfigurationError(
            f"{ENGINE_ENV}=c but the C engine is not built (run "
            "tools/bootstrap-env, or make)")
    return wanted


class FanoutClient:
    """Requests to many nodes at once through the C engine.

    ``cert_file`` holds the key and certificate presented; ``trusted``
    the certificates (PEM) a node may present; ``pins`` their SHA-256
    fingerprints (lowercase hex) checked after the handshake (None: no
    pin).  A file OpenSSL cannot use is a :class:`ValueError`.
    """

    def __init__(self, cert_file: str, trusted: Sequence[bytes],
                 pins: Collection[str] | None, *,
                 connect_timeout: float,
                 max_idle_age: float = DEFAULT_MAX_IDLE_AGE,
                 max_response: int = DEFAULT_MAX_RESPONSE) -> None:
        if _engine is None:
            raise errors.ConfigurationError("the C engine is not built")
        self._engine = _engine.Engine(
            cert_file, b"".join(trusted),
            [bytes.fromhex(pin) for pin in sorted(pins or ())],
            connect_timeout, max_idle_age, max_response)

    @property
    def connections_opened(self) -> int:
        count: int = self._engine.connections_opened
        return count

    def request_many(self, requests: Sequence[Request]) -> list[Outcome]:
        """Send every request at once; one outcome per request, in order."""
        encode = request_encoder()
        raw = self._engine.request_many(
            [(req.host, req.port, *encode(req), float(req.timeout))
             for req in requests])
        return [_outcome(res, req) for res, req in
                zip(raw, requests, strict=True)]

    def drop_idle(self) -> None:
        """Close the idle connections; the pool stays in use."""
        self._engine.drop_idle()

    def close(self) -> None:
        """Close the idle connections and the pool: a connection that
        finishes later is closed, not kept (the client is done)."""
        self._engine.close()

    def __enter__(self) -> FanoutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(res: tuple[Any, ...], req: Request) -> Outcome:
    """The engine's result tuple as the client's outcome."""
    if len(res) == 3:
        status, body, seconds = res
        return HttpResponse(status, "", _NO_HEADERS, body), seconds
    kind, message, code, seconds = res
    where: dict[str, Any] = {"address": req.host, "port": req.port}
    error: errors.GenericError
    if kind == "timeout":
        error = errors.TimeoutError(message, **where)
    elif kind == "protocol":
        error = errors.ProtocolError(message, **where)
    elif kind == "tls":
        error = errors.NodeUnreachableError(message, tls=True, **where)
    elif code:
        error = errors.NodeUnreachableError(message, errno=code, **where)
    else:
        error = errors.NodeUnreachableError(message, **where)
    return error, seconds
