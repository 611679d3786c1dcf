"""ganeti-noded: the node daemon, answering the master's RPC calls.

It listens with HTTPS (port 1811 unless ``-p``) on the address given by
``-b`` (all addresses by default), presents the cluster certificate
(``server.pem`` in the data directory) and accepts only clients that
present that same certificate: the node trusts only the cluster.

A call is ``PUT /<call name>`` whose body is the JSON list of the call's
arguments; the answer is ``[true, payload]`` or ``[false, message]``
(see ``doc/design/rpc.rst``).  Arguments are checked against the call's
row in :data:`ganeti.rpc.defs.CALLS` by :func:`ganeti.backend.dispatch`.

Several node daemons can share a machine, each under its own root
(``GANETI_ROOTDIR``) and bound to its own loopback address.

By default (``--mlock``; ``--no-mlock`` turns it off) the daemon locks
its memory into RAM before it serves, so that it keeps answering when
instances exhaust the node's memory (:mod:`ganeti.utils.memlock`).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from typing import Any, Final

from ganeti import (
    backend,
    constants,
    crypto,
    daemon,
    errors,
    http,
    pathutils,
    serializer,
)
from ganeti.http import server as http_server
from ganeti.http import tlsreload
from ganeti.utils import memlock

NAME: Final = "ganeti-noded"
#: Bodies carry whole files (config, ssconf, uploads): allow large ones.
MAX_BODY: Final = 64 * 1024 * 1024
_CALL_PATH: Final = re.compile(r"/([a-z][a-z0-9_]{0,63})")

_log = logging.getLogger("ganeti.noded")


def error_body(_status: int, message: str) -> bytes:
    """Even HTTP-level refusals carry the RPC failure shape."""
    return serializer.dumps([False, message])


def _answer(success: bool, payload: Any) -> http.Response:
    return http.Response(body=serializer.dumps([success, payload]))


def _one_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def handle_request(request: http.Request) -> http.Response:
    """Run one RPC call; every failure becomes ``[false, message]``."""
    if request.method != "PUT":
        raise http.HttpError(http.HTTP_METHOD_NOT_ALLOWED,
                             f"Method {request.method} not allowed: node RPC "
                             "calls use PUT", headers={"Allow": "PUT"})
    match = _CALL_PATH.fullmatch(request.path)
    if match is None:
        return _answer(False, f"Invalid RPC call path {request.path!r:.70}")
    name = match.group(1)
    try:
        try:
            args = serializer.loads(request.body)
        except errors.ProtocolError as err:
            raise errors.ProtocolError(f"RPC {name}: {err}") from None
        result = backend.dispatch(name, args)
    except errors.GenericError as err:
        _log.info("RPC %s from %s refused or failed: %s", name,
                  request.client_address[0], err)
        return _answer(False, _one_line(str(err)))
    except Exception as err:
        _log.exception("RPC %s failed", name)
        return _answer(False, _one_line(f"{type(err).__name__}: {err}"))
    try:
        body = serializer.dumps([True, result])
    except errors.ProgrammerError as err:
        _log.error("RPC %s: result cannot be encoded: %s", name, err)
        return _answer(False, f"RPC {name}: result cannot be encoded")
    _log.debug("RPC %s from %s done", name, request.client_address[0])
    return http.Response(body=body)


def build_server(address: tuple[str, int], cert_file: str, *,
                 limits: http_server.ServerLimits | None = None
                 ) -> http_server.HttpServer:
    """The noded HTTPS server on ``address`` with the cluster certificate
    in ``cert_file`` (presented, and required from clients)."""
    files = tlsreload.CertFiles(cert_file, tlsreload.mutual_server_context)
    backend.load_handlers()
    return http_server.HttpServer(
        address, handle_request, tls_source=files.current,
        limits=limits or http_server.ServerLimits(max_body=MAX_BODY),
        error_body=error_body)


def _add_options(parser: argparse.ArgumentParser) -> None:
    daemon.add_listen_options(parser, constants.DEFAULT_NODED_PORT)
    lock = parser.add_mutually_exclusive_group()
    lock.add_argument("--mlock", dest="mlock", action="store_true",
                      default=True,
                      help="Lock the daemon's memory into RAM (the default)")
    lock.add_argument("--no-mlock", dest="mlock", action="store_false",
                      help="Do not lock the daemon's memory")


def _check(options: argparse.Namespace) -> None:
    if not 0 < options.port < 65536:
        raise errors.UsageError(f"Invalid port {options.port}")
    crypto.load_pem_file(pathutils.get().noded_cert_file)


def _lock_memory() -> None:
    """Stay in RAM when the node runs short of memory; where the system
    does not allow it, say why and go on (ganeti.utils.memlock)."""
    outcome = memlock.lock_memory()
    if outcome.locked:
        _log.info("%s", outcome.message)
    else:
        _log.warning("%s", outcome.message)


def _prepare(options: argparse.Namespace) -> None:
    # Before any thread starts: threads would get allocator arenas of
    # their own, and a stack that exists at mlockall would be locked
    # whole.  After detaching: locks are not inherited by fork.
    memlock.limit_arenas(1)
    if options.mlock:
        _lock_memory()


def _run(ctx: daemon.DaemonContext) -> int:
    opts = ctx.options
    server = build_server((opts.bind, opts.port),
                          pathutils.get().noded_cert_file)
    server.start()
    try:
        ctx.stop_event.wait()
    finally:
        server.stop()
    return 0


SPEC: Final = daemon.DaemonSpec(
    name=NAME, description="Ganeti node daemon: answers the master's RPC "
    "calls over HTTPS", add_options=_add_options, check=_check, run=_run,
    prepare=_prepare)


def main(argv: Sequence[str] | None = None) -> int:
    return daemon.main(SPEC, argv)
