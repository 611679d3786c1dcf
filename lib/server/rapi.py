"""ganeti-rapi: the remote API daemon (REST over HTTPS, Ganeti's v2).

It runs on the master node, listens with HTTPS (port 5080 unless ``-p``)
presenting the RAPI certificate (``rapi.pem`` in the data directory),
authenticates users against the users file (``rapi_users``, re-read when
it changes and on SIGHUP) and turns requests into LUXI calls to the
master daemon: reads are queries, writes submit jobs and answer their
ids.  See ``doc/design/rapi.rst`` and ganeti-rapi(8).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from collections.abc import Sequence
from types import FrameType
from typing import Final

from ganeti import config, constants, crypto, daemon, errors, luxi, pathutils
from ganeti.http import server as http_server
from ganeti.http import tlsreload
from ganeti.rapi import auth, connector

NAME: Final = constants.RAPI
#: Request bodies are small JSON documents; refuse anything bigger.
MAX_BODY: Final = 1024 * 1024

_log = logging.getLogger("ganeti.rapi")


def users_file_path(paths: pathutils.Paths | None = None) -> str:
    """The users file: Ganeti 2.1's ``rapi_users`` in the data directory;
    the later location ``rapi/users`` is used only when it exists and the
    2.1 file does not."""
    paths = paths or pathutils.get()
    legacy = paths.rapi_users_file
    later = os.path.join(paths.data_dir, "rapi", "users")
    if not os.path.exists(legacy) and os.path.exists(later):
        return later
    return legacy


def build_server(address: tuple[str, int], cert_file: str,
                 users: auth.UsersFile, *,
                 require_authentication: bool = False,
                 master_socket: str | None = None,
                 limits: http_server.ServerLimits | None = None
                 ) -> http_server.HttpServer:
    """The RAPI HTTPS server on ``address`` (not started)."""
    files = tlsreload.CertFiles(cert_file, tlsreload.plain_server_context,
                                pin=False)
    socket_path = master_socket or pathutils.get().master_socket
    app = connector.RapiApp(
        auth.Authenticator(users, require_authentication=require_authentication),
        lambda: luxi.Client(socket_path))
    return http_server.HttpServer(
        address, app, tls_source=files.current,
        limits=limits or http_server.ServerLimits(max_body=MAX_BODY,
                                                  require_length=False),
        error_body=connector.error_body)


def _add_options(parser: argparse.ArgumentParser) -> None:
    daemon.add_listen_options(parser, constants.DEFAULT_RAPI_PORT)
    parser.add_argument("--require-authentication", action="store_true",
                        help="Require authentication for every request, "
                             "reads included")


def _check(options: argparse.Namespace) -> None:
    daemon.check_port(options)
    paths = pathutils.get()
    if not os.path.exists(paths.cluster_conf_file):
        raise errors.NotClusterError(
            f"Cluster configuration not found at {paths.cluster_conf_file}: "
            "this node is not part of a cluster")
    master = config.ConfigWriter(offline=True).get_cluster().master_node
    me = pathutils.hostname()
    if master != me:
        raise errors.NotMasterError(
            f"This is not the master node (this is {me}, the master is "
            f"{master}); the remote API runs on the master")
    crypto.load_pem_file(paths.rapi_cert_file)


def _run(ctx: daemon.DaemonContext) -> int:
    opts = ctx.options
    paths = pathutils.get()
    users = auth.UsersFile(users_file_path(paths))
    users.reload()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        _log.info("SIGHUP: re-reading the users file")
        users.reload()

    signal.signal(signal.SIGHUP, on_hup)
    server = build_server((opts.bind, opts.port), paths.rapi_cert_file, users,
                          require_authentication=opts.require_authentication)
    return daemon.serve_until_stopped(server, ctx)


SPEC: Final = daemon.DaemonSpec(
    name=NAME, description="Ganeti remote API daemon: REST over HTTPS on "
    "the master node", add_options=_add_options, check=_check, run=_run)


def main(argv: Sequence[str] | None = None) -> int:
    return daemon.main(SPEC, argv)
