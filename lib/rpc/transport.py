"""The HTTPS transport of node RPC: the master's side of the wire.

``HttpsTransport(cert_file)`` implements
:class:`ganeti.rpc.client.Transport`: a call is ``PUT
https://<address>:<port>/<call>`` with the JSON list of arguments as
body, presenting the cluster certificate as client certificate and
accepting only a node that presents the same certificate.  Connections
are kept alive and reused across calls (one pool per transport, shared by
the fan-out threads).

Whatever goes wrong becomes an :class:`~ganeti.rpc.result.RpcResult` with
a one-line ``fail_msg``; nothing raises to the caller.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any, Final

from ganeti import constants, errors, pathutils, serializer
from ganeti.http import HTTP_OK, tls, tlsreload
from ganeti.http.client import HttpClient
from ganeti.rpc.result import RpcResult

DEFAULT_CONNECT_TIMEOUT: Final = 10.0


def decode_answer(node: str, call: str, status: int, body: bytes) -> RpcResult:
    """Turn a node daemon's HTTP answer into a result.

    The body is ``[true, payload]`` or ``[false, message]``; anything else
    (and any status but 200) is a failure saying what arrived.
    """
    try:
        data = serializer.loads(body)
    except errors.ProtocolError as err:
        data = None
        problem = f"invalid answer: {err}"
    else:
        problem = f"invalid answer: {body[:60]!r}"
    shaped = (isinstance(data, list) and len(data) == 2
              and isinstance(data[0], bool))
    if status != HTTP_OK:
        detail = str(data[1]) if shaped and data is not None else problem
        return RpcResult(node, call, fail_msg=f"HTTP {status}: {detail}")
    if not shaped or data is None:
        return RpcResult(node, call, fail_msg=problem)
    if data[0]:
        return RpcResult(node, call, payload=data[1])
    message = data[1] if isinstance(data[1], str) else repr(data[1])
    return RpcResult(node, call, fail_msg=message or "failed (no message)")


def _client_context(cert_file: str, trusted: list[bytes]) -> ssl.SSLContext:
    return tls.client_context(b"".join(trusted), cert_file=cert_file)


class HttpsTransport:
    """Node RPC over HTTPS with mutual TLS on the cluster certificate.

    ``cert_file`` is the combined key+certificate file (``server.pem``;
    None: this node's, from :mod:`ganeti.pathutils`).  The transport
    follows the file and its renewal companions
    (:class:`ganeti.http.tlsreload.CertFiles`): during ``gnt-cluster
    renew-crypto`` it accepts nodes presenting the old or the new
    certificate, and presents whichever its own node presents.
    """

    def __init__(self, cert_file: str | None = None, *,
                 port: int = constants.DEFAULT_NODED_PORT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        cert_file = cert_file or pathutils.get().noded_cert_file
        self._files = tlsreload.CertFiles(cert_file, _client_context)
        self.port = port
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._state: tlsreload.TlsState | None = None
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        """The connection pool for the current certificates (a new pool
        after they changed; the old one's idle connections are closed)."""
        state = self._files.current()
        with self._lock:
            old = self._http
            if self._http is None or state is not self._state:
                self._state = state
                self._http = HttpClient(state[0], server_pin=state[1],
                                        connect_timeout=self._connect_timeout)
            current = self._http
        if old is not None and old is not current:
            old.close()
        return current

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        try:
            body = serializer.dumps(args)
        except errors.ProgrammerError as err:
            return RpcResult(node, call, fail_msg=str(err))
        try:
            resp = self.http.request(address, self.port, "PUT", f"/{call}",
                                     body, timeout=timeout)
        except errors.GenericError as err:
            return RpcResult(node, call, fail_msg=f"{err} (node {node} at "
                             f"{address}:{self.port})")
        return decode_answer(node, call, resp.status, resp.body)

    def close(self) -> None:
        with self._lock:
            http = self._http
        if http is not None:
            http.close()

    def __enter__(self) -> HttpsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
