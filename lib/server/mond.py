"""ganeti-mond: the monitoring daemon (every node, plain HTTP, port 1815).

It serves the data collectors' reports in Ganeti's format and the
Prometheus ``/metrics`` of this node (and, on the master node, of the
master daemon); see :mod:`ganeti.mond.app`, ``doc/design/monitoring.rst``
and ganeti-mond(8).  It starts before a new node has its ssconf files
(``gnt-node add`` starts it with the node daemon): until they arrive,
the collectors that need them report their error.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from ganeti import constants, daemon, pathutils
from ganeti.http import server as http_server
from ganeti.mond.app import MondApp, luxi_fetch
from ganeti.mond.sources import Sources

NAME: Final = constants.MOND
#: Requests are bodiless GETs.
MAX_BODY: Final = 64 * 1024


def build_server(address: tuple[str, int],
                 sources: Sources | None = None) -> http_server.HttpServer:
    """The monitoring HTTP server on ``address`` (not started)."""
    app = MondApp(sources or Sources(),
                  luxi_fetch(pathutils.get().master_socket))
    return http_server.HttpServer(
        address, app, limits=http_server.ServerLimits(
            max_body=MAX_BODY, require_length=False, idle_timeout=30.0,
            request_timeout=30.0))


def _add_options(parser: argparse.ArgumentParser) -> None:
    daemon.add_listen_options(parser, constants.DEFAULT_MOND_PORT)


def _check(options: argparse.Namespace) -> None:
    daemon.check_port(options)


def _run(ctx: daemon.DaemonContext) -> int:
    opts = ctx.options
    return daemon.serve_until_stopped(build_server((opts.bind, opts.port)), ctx)


SPEC: Final = daemon.DaemonSpec(
    name=NAME, description="Ganeti monitoring daemon: data collectors and "
    "Prometheus metrics over HTTP", add_options=_add_options, check=_check,
    run=_run)


def main(argv: Sequence[str] | None = None) -> int:
    return daemon.main(SPEC, argv)
