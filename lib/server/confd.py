"""ganeti-confd: answers configuration queries over signed UDP.

It runs on every master candidate (the nodes holding ``config.data``),
listens on UDP port 1814 unless ``-p`` (on the address given by ``-b``,
all addresses by default), checks every request against the cluster's
``hmac.key`` and answers from an index of the configuration kept in
memory, reloaded when the file changes.  SIGHUP logs the counters.  See
:mod:`ganeti.confd`, ``doc/design/confd.rst`` and ganeti-confd(8).
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence
from types import FrameType
from typing import Final

from ganeti import config, constants, daemon, errors, pathutils
from ganeti.confd import protocol, server
from ganeti.confd.index import node_role
from ganeti.confd.protocol import NodeRole

NAME: Final = constants.CONFD

_log = logging.getLogger("ganeti.confd")
#: The socket bound by the start-up check, handed to the daemon body.
_PREBOUND: list[server.UdpServer] = []


def _add_options(parser: argparse.ArgumentParser) -> None:
    daemon.add_listen_options(parser, constants.DEFAULT_CONFD_PORT)


def check_candidate(paths: pathutils.Paths | None = None) -> None:
    """Refuse (with the reason) unless this node is a master candidate
    with a readable configuration and HMAC key."""
    paths = paths or pathutils.get()
    data, _ = config.read_config(paths.cluster_conf_file)
    me = pathutils.hostname()
    node = data.nodes.get(me)
    if node is None:
        raise errors.NotClusterError(
            f"This node ({me}) is not in the cluster configuration")
    if node_role(node, data.cluster.master_node) not in (NodeRole.MASTER,
                                                          NodeRole.CANDIDATE):
        raise errors.OpPrereqError(
            f"This node ({me}) is not a master candidate; ganeti-confd runs"
            " on master candidates only", errors.ErrorCode.STATE)
    protocol.load_key(paths.confd_hmac_key)


def _check(options: argparse.Namespace) -> None:
    if not 0 < options.port < 65536:
        raise errors.UsageError(f"Invalid port {options.port}")
    check_candidate()
    # Bound before detaching (the socket survives the fork): a taken port
    # is reported on the terminal, and once daemon-util returns, queries
    # sent to the port wait in its buffer instead of being refused.
    _PREBOUND[:] = [server.UdpServer((options.bind, options.port),
                                     server.ConfdProcessor(b""))]


def _run(ctx: daemon.DaemonContext) -> int:
    opts = ctx.options
    paths = pathutils.get()
    processor = server.ConfdProcessor(protocol.load_key(paths.confd_hmac_key))
    reloader = server.ConfigReloader(paths.cluster_conf_file, processor)

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        _log.info("Counters: %s", " ".join(
            f"{k}={v}" for k, v in sorted(processor.stats().items())))

    signal.signal(signal.SIGHUP, on_hup)
    reloader.start()
    udp = (_PREBOUND.pop() if _PREBOUND
           else server.UdpServer((opts.bind, opts.port), processor))
    udp.processor = processor
    udp.start()
    _log.info("Listening on UDP %s:%d (config watch: %s)", opts.bind,
              opts.port, "inotify" if reloader.uses_inotify else "polling")
    try:
        ctx.stop_event.wait()
    finally:
        udp.stop()
        reloader.stop()
        on_hup(signal.SIGHUP, None)
    return errors.EXIT_SUCCESS


SPEC: Final = daemon.DaemonSpec(
    name=NAME, description="Ganeti configuration daemon: answers signed "
    "configuration queries over UDP on master candidates",
    add_options=_add_options, check=_check, run=_run)


def main(argv: Sequence[str] | None = None) -> int:
    return daemon.main(SPEC, argv)

