"""The master's RPC client: stubs from the call table, parallel fan-out.

``RpcClient(nodes_fn, transport)`` sends a call to nodes through a
*transport* (a callable ``(node, address, call, args, timeout) ->
RpcResult``).  Offline nodes are skipped with a clear ``fail_msg``;
several nodes are called in parallel.  Stubs ``call_<name>`` exist for
every row of :data:`ganeti.rpc.defs.CALLS` and check their arguments
against the row before sending.

Transports: :class:`LocalTransport` answers in-process from
:mod:`ganeti.backend` (the master's own node, unit tests, and the
documented ``local`` RPC mode of benchmarks);
:class:`ganeti.rpc.transport.HttpsTransport` talks to ``ganeti-noded``.

Fan-out: every node of a call is sent at once, so a call to N nodes
costs about as much as its slowest node.  A transport with a
``call_many`` method (:class:`BatchTransport`, such as
:class:`~ganeti.rpc.transport.HttpsTransport`) gets all the nodes of a
call in one batch and drives them from the calling thread; any other
transport is called once per node, one thread each (the calling thread
takes one node itself).  Each call's timeout is its row's
:class:`~ganeti.rpc.defs.Timeout` class; the transport enforces it, and
the client stops waiting for a transport that overruns it by more than
:data:`GRACE` seconds.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from ganeti import errors, ht
from ganeti.rpc import defs
from ganeti.rpc.result import RpcResult

#: Extra seconds granted to a transport beyond the call's timeout.
GRACE: Final = 30.0


class NodeInfo(Protocol):
    name: str
    primary_ip: str
    offline: bool


class Transport(Protocol):
    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult: ...


class BatchTransport(Transport, Protocol):
    def call_many(self, calls: Sequence[tuple[str, str, str, list[Any], float]]
                  ) -> list[tuple[RpcResult, float]]: ...


class LocalTransport:
    """Answers calls in this process through the backend dispatcher."""

    def __init__(self, nodes: Sequence[str] | None = None) -> None:
        #: Nodes this transport serves; None: every node.
        self.nodes = None if nodes is None else frozenset(nodes)

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        from ganeti import backend
        if self.nodes is not None and node not in self.nodes:
            return RpcResult(node, call, fail_msg="node not reachable: no "
                             "node daemon transport for remote nodes")
        try:
            payload = backend.dispatch(call, args)
        except errors.GenericError as err:
            return RpcResult(node, call, fail_msg=str(err))
        except Exception as err:  # a backend bug must not kill the caller
            return RpcResult(node, call,
                             fail_msg=f"{type(err).__name__}: {err}")
        return RpcResult(node, call, payload=payload)


class RpcClient:
    """Fan-out RPC client; one result per node."""

    def __init__(self, nodes_fn: Callable[[str], NodeInfo | None],
                 transport: Transport, *, max_workers: int = 256) -> None:
        self._nodes_fn = nodes_fn
        self._transport = transport
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="rpc")
        #: Told ``(node, seconds, failed)`` after each call sent to a node
        #: (the master's metrics; see ganeti.master_metrics).
        self.observer: Callable[[str, float, bool], None] | None = None

    @property
    def transport(self) -> Transport:
        """The transport the calls go through (a client for a node the
        config does not know can share it)."""
        return self._transport

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def call(self, name: str, nodes: Sequence[str], *args: Any) -> dict[str, RpcResult]:
        spec = defs.CALLS.get(name)
        if spec is None:
            raise errors.ProgrammerError(f"Unknown RPC call {name!r}")
        if len(args) != len(spec.args):
            raise errors.ProgrammerError(
                f"RPC {name}: expected {len(spec.args)} arguments, got "
                f"{len(args)}")
        for arg, value in zip(spec.args, args, strict=True):
            if not arg.check(value):
                raise errors.ProgrammerError(
                    f"RPC {name}: argument {arg.name}: "
                    f"{ht.describe_failure(arg.check, value)}")
        results: dict[str, RpcResult] = {}
        targets: list[tuple[str, str]] = []
        for node in dict.fromkeys(nodes):
            info = self._nodes_fn(node)
            if info is None:
                results[node] = RpcResult(node, name,
                                          fail_msg="node not in the config")
            elif info.offline:
                results[node] = RpcResult(node, name, offline=True,
                                          fail_msg="node is marked offline")
            else:
                targets.append((node, info.primary_ip))
        if targets and hasattr(self._transport, "call_many"):
            results.update(self._send_batch(targets, spec, list(args)))
            return {node: results[node] for node in nodes}
        pending = {node: self._pool.submit(self._send, node, address, spec,
                                           args)
                   for node, address in targets[1:]}
        if targets:
            node, address = targets[0]
            results[node] = self._send(node, address, spec, args)
        for node, future in pending.items():
            try:
                results[node] = future.result(timeout=float(spec.timeout)
                                              + GRACE)
            except concurrent.futures.TimeoutError:
                results[node] = RpcResult(
                    node, name, fail_msg=f"no answer within {spec.timeout}s")
        return {node: results[node] for node in nodes}

    def _send_batch(self, targets: list[tuple[str, str]], spec: defs.RpcCall,
                    args: list[Any]) -> dict[str, RpcResult]:
        transport: BatchTransport = self._transport  # type: ignore[assignment]
        timeout = float(spec.timeout)
        try:
            answers = transport.call_many(
                [(node, address, spec.name, args, timeout)
                 for node, address in targets])
        except Exception as err:  # a transport bug must not raise here
            answers = [(RpcResult(node, spec.name,
                                  fail_msg=f"{type(err).__name__}: {err}"),
                        0.0) for node, _address in targets]
        results = {}
        for (node, _address), (res, seconds) in zip(targets, answers,
                                                    strict=True):
            res = self._checked(res, spec)
            if self.observer is not None:
                self.observer(node, seconds, res.fail_msg is not None)
            results[node] = res
        return results

    def _send(self, node: str, address: str, spec: defs.RpcCall,
              args: Sequence[Any]) -> RpcResult:
        started = time.monotonic()
        res = self._send_checked(node, address, spec, args)
        if self.observer is not None:
            self.observer(node, time.monotonic() - started,
                          res.fail_msg is not None)
        return res

    def _send_checked(self, node: str, address: str, spec: defs.RpcCall,
                      args: Sequence[Any]) -> RpcResult:
        try:
            res = self._transport(node, address, spec.name, list(args),
                                  float(spec.timeout))
        except Exception as err:  # a transport bug must not lose the others
            return RpcResult(node, spec.name,
                             fail_msg=f"{type(err).__name__}: {err}")
        return self._checked(res, spec)

    @staticmethod
    def _checked(res: RpcResult, spec: defs.RpcCall) -> RpcResult:
        """``res``, or a failure when its payload is not of the call's
        result type."""
        if res.fail_msg is None and not spec.result(res.payload):
            return RpcResult(res.node, spec.name, fail_msg="invalid result: " +
                             ht.describe_failure(spec.result, res.payload))
        return res

    def __getattr__(self, attr: str) -> Callable[..., dict[str, RpcResult]]:
        if attr.startswith("call_") and attr[5:] in defs.CALLS:
            name = attr[5:]
            return lambda nodes, *args: self.call(name, nodes, *args)
        raise AttributeError(attr)
