"""The HTTPS transport of node RPC: the master's side of the wire.

``HttpsTransport(cert_file)`` implements
:class:`ganeti.rpc.client.Transport`: a call is ``PUT
https://<address>:<port>/<call>`` with the JSON list of arguments as
body, presenting the cluster certificate as client certificate and
accepting only a node that presents the same certificate.  Connections
are kept alive and reused across calls (one pool per transport, shared by
the threads that call through it).

:meth:`HttpsTransport.call_many` sends one call to many nodes at once
from the calling thread, no thread per node:
:class:`ganeti.http.fanout.FanoutClient` (the C engine, outside the
interpreter lock) when ``GANETI_RPC_ENGINE=c`` chooses it, else
:class:`ganeti.http.client.HttpClient` (one ``epoll`` loop in Python);
``GANETI_RPC_ENGINE`` chooses (:func:`ganeti.http.fanout.selected`).
:class:`ganeti.rpc.client.RpcClient` uses it for every fan-out.

Whatever goes wrong becomes an :class:`~ganeti.rpc.result.RpcResult` with
a one-line ``fail_msg``; nothing raises to the caller.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Sequence
from typing import Any, Final

from ganeti import constants, errors, pathutils, serializer
from ganeti.http import HTTP_OK, fanout, tls, tlsreload
from ganeti.http.client import HttpClient, Outcome, Request
from ganeti.rpc.result import RpcResult

_log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT: Final = 10.0

#: One call to one node: ``(node, address, call, args, timeout)``.
Call = tuple[str, str, str, list[Any], float]


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
        # The usual answer first, without building the failure texts.
        if (status == HTTP_OK and type(data) is list and len(data) == 2
                and data[0] is True):
            return RpcResult(node, call, payload=data[1])
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
        #: The C engine's client for ``_fanout_state`` (fan-outs only).
        self.engine = fanout.selected()
        self._fanout_state: tlsreload.TlsState | None = None
        self._fanout: fanout.FanoutClient | None = None

    @property
    def http(self) -> HttpClient:
        """The connection pool for the current certificates (a new pool
        after they changed; the old one's idle connections are closed)."""
        return self._client_for(self._files.current())

    def _client_for(self, state: tlsreload.TlsState) -> HttpClient:
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

    def _sender(self) -> tuple[tlsreload.TlsState,
                               HttpClient | fanout.FanoutClient]:
        """The current TLS state and what sends a batch with it: the C
        engine's client when selected (built again when the certificates
        changed), else the connection pool of :attr:`http`.  Files the C
        engine cannot load (a renewal replacing the key between two
        reads) make that batch go through the pool."""
        if self.engine != "c":
            state = self._files.current()  # a stat per file: once per call
            return state, self._client_for(state)
        state, trusted = self._files.material()
        with self._lock:
            old = self._fanout
            if self._fanout is not None and state is self._fanout_state:
                return state, self._fanout
            try:
                self._fanout = fanout.FanoutClient(
                    self._files.cert_file, trusted, state[1],
                    connect_timeout=self._connect_timeout)
            except ValueError as err:
                _log.warning("Node RPC through the Python client for now: "
                             "%s", err)
                self._fanout = None
            else:
                self._fanout_state = state
            current = self._fanout
        if old is not None and old is not current:
            old.close()
        return state, current or self._client_for(state)

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        return self.call_many([(node, address, call, args, timeout)])[0][0]

    def call_many(self, calls: Sequence[Call]) -> list[tuple[RpcResult, float]]:
        """Send every call at once; per call its result and the seconds it
        took, in order.  The arguments of calls sharing one ``args`` list
        (a fan-out) are encoded once."""
        results: list[tuple[RpcResult, float] | None] = [None] * len(calls)
        requests: list[Request] = []
        sent: list[int] = []
        bodies: dict[int, bytes] = {}
        for index, (node, address, call, args, timeout) in enumerate(calls):
            body = bodies.get(id(args))
            if body is None:
                try:
                    body = bodies[id(args)] = serializer.dumps(args)
                except errors.ProgrammerError as err:
                    results[index] = (RpcResult(node, call,
                                                fail_msg=str(err)), 0.0)
                    continue
            requests.append(Request(address, self.port, "PUT", f"/{call}",
                                    body, timeout))
            sent.append(index)
        outcomes = self._request_following_renewal(requests)
        for index, (outcome, seconds) in zip(sent, outcomes, strict=True):
            node, address, call = calls[index][:3]
            if isinstance(outcome, errors.GenericError):
                res = RpcResult(node, call, fail_msg=f"{outcome} (node {node}"
                                f" at {address}:{self.port})")
            else:
                res = decode_answer(node, call, outcome.status, outcome.body)
            results[index] = (res, seconds)
        return [res for res in results if res is not None]

    def _request_following_renewal(
            self, requests: list[Request]) -> list[Outcome]:
        """Send ``requests``; those that failed TLS while the certificate
        files changed under them are sent once more with the new files.

        A renewal can switch a node between the moment the trusted set
        was read and the moment its connection is made (a slow or busy
        caller): the peer then presents a certificate this state did not
        trust yet, although the files now trust it.
        """
        state, sender = self._sender()
        outcomes = sender.request_many(requests)
        again = [k for k, (outcome, _s) in enumerate(outcomes)
                 if isinstance(outcome, errors.NodeUnreachableError)
                 and outcome.details.get("tls")]
        if not again or self._files.current() is state:
            return outcomes
        retried = self._sender()[1].request_many(
            [requests[k] for k in again])
        for k, outcome in zip(again, retried, strict=True):
            outcomes[k] = outcome
        return outcomes

    def drop_idle(self) -> None:
        """Close the kept-alive connections not in use (a node daemon
        restarted since would not answer on them); both pools stay in
        use."""
        with self._lock:
            http, engine = self._http, self._fanout
        if http is not None:
            http.close()  # idle connections only; the pool goes on
        if engine is not None:
            engine.drop_idle()

    def close(self) -> None:
        """Close the idle connections; a later call starts afresh (a new
        C engine: the closed one keeps no connection)."""
        with self._lock:
            http, engine = self._http, self._fanout
            self._fanout = None
            self._fanout_state = None
        if http is not None:
            http.close()
        if engine is not None:
            engine.close()

    @property
    def connections_opened(self) -> int:
        """Connections opened by the current sender of fan-outs."""
        return self._sender()[1].connections_opened

    def __enter__(self) -> HttpsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
