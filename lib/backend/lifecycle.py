"""Cluster membership and the master role, node side."""

from __future__ import annotations

import logging
import os
import signal
import threading

from ganeti import (
    constants,
    daemon,
    daemonutil,
    errors,
    pathutils,
    redist,
    serializer,
    ssconf,
)
from ganeti.backend import handler, jobqueue
from ganeti.bootstrap import (
    activate_master_ip,
    deactivate_master_ip,
    remove_cluster_files,
)
from ganeti.config import journal
from ganeti.utils import io

#: Delay between answering ``node_leave_cluster`` and stopping: lets the
#: answer reach the master before the daemon closes its connections.
LEAVE_STOP_DELAY = 1.0

_LOG = logging.getLogger(__name__)


def _in_node_daemon() -> bool:
    """Whether this process is the node daemon of this root (and not, say,
    a master daemon answering calls in-process)."""
    path = pathutils.get().pid_file(constants.NODED)
    return daemon.read_pid(path) == os.getpid() and daemon.is_running(path)


def ensure_confd() -> None:
    """Start ganeti-confd here if this node daemon just received the
    configuration (it is a candidate now: added or promoted) and none
    runs.  Never fatal: the upload succeeded, and the watcher starts the
    daemon later if this start fails."""
    if not _in_node_daemon() or daemonutil.is_running(constants.CONFD):
        return
    try:
        # Bound to this node's primary IP, from the configuration itself
        # (the ssconf files may arrive later).
        doc = journal.read_document(pathutils.get().cluster_conf_file)
        ip = doc["nodes"][pathutils.hostname()]["primary_ip"]
        daemonutil.start(constants.CONFD, ["-b", str(ip)])
    except (KeyError, TypeError):
        _LOG.warning("Not starting %s: this node is not in the configuration",
                     constants.CONFD)
    except errors.GenericError as err:
        _LOG.warning("Cannot start %s: %s", constants.CONFD, err)


@handler("node_leave_cluster")
def node_leave_cluster() -> None:
    if not _in_node_daemon():
        raise errors.OpExecError(
            "node_leave_cluster is answered only by the node daemon itself "
            "(this process is not this root's ganeti-noded)")
    remove_cluster_files()
    try:
        daemonutil.stop(constants.MOND)
    except errors.GenericError as err:
        _LOG.error("Cannot stop the monitoring daemon: %s", err)
    daemonutil.stop(constants.CONFD)
    _LOG.warning("This node left the cluster; stopping the node daemon")
    timer = threading.Timer(LEAVE_STOP_DELAY, os.kill,
                            (os.getpid(), signal.SIGTERM))
    timer.daemon = True
    timer.start()


@handler("node_demote_from_mc")
def node_demote_from_mc() -> list[str]:
    """This node is no master candidate any more: remove the files only
    candidates keep, so verify finds no stale ``config.data`` and the
    node holds no RAPI secrets it no longer needs.  A later promotion
    ships them again.  Like ``node_leave_cluster`` it is answered only
    by the node daemon itself, never in-process by a master."""
    if not _in_node_daemon():
        raise errors.OpExecError(
            "node_demote_from_mc is answered only by the node daemon itself "
            "(this process is not this root's ganeti-noded)")
    store = ssconf.SimpleStore()
    me = pathutils.hostname()
    if store.get_master_node() == me or daemonutil.is_running(
            constants.MASTERD):
        raise errors.OpPrereqError(
            f"This node ({me}) is the master; it keeps the candidates' "
            "files", errors.ErrorCode.STATE)
    paths = pathutils.get()
    removed = []
    for path in redist.candidate_only_paths(paths):
        local = redist.relocate_safely(path, paths)
        if os.path.lexists(local):
            io.remove_file(local)
            removed.append(path)
    jobqueue.jobqueue_purge()
    # confd answers on candidates only (its configuration is gone anyway).
    daemonutil.stop(constants.CONFD)
    return removed


def _check_master_here(store: ssconf.SimpleStore) -> None:
    master = store.get_master_node()
    me = pathutils.hostname()
    if master != me:
        raise errors.NotMasterError(
            f"This node ({me}) is not the master according to its ssconf "
            f"files (the master is {master})")


@handler("node_start_master")
def node_start_master(start_daemons: bool, no_voting: bool) -> None:
    store = ssconf.SimpleStore()
    _check_master_here(store)
    netdev = store.get_master_netdev()
    if netdev:
        activate_master_ip(store.get_master_ip(), netdev)
    if start_daemons:
        args: list[str] = []  # default transport (HTTPS) reaches every node
        if no_voting:
            args += ["--no-voting", "--yes-do-it"]
        daemonutil.start(constants.MASTERD, args)


@handler("node_stop_master")
def node_stop_master(stop_daemons: bool) -> None:
    store = ssconf.SimpleStore()
    if stop_daemons:
        daemonutil.stop(constants.MASTERD)
    netdev = store.get_master_netdev()
    if netdev:
        deactivate_master_ip(store.get_master_ip(), netdev)


@handler("master_info")
def master_info() -> list[str]:
    store = ssconf.SimpleStore()
    return [store.get_cluster_name(), store.get_master_node(),
            store.get_master_ip(), store.get_master_netdev()]


#: This node's copy of the configuration, as journal lines keep it.
_REPLICA = journal.Replica()


@handler("config_journal_append")
def config_journal_append(lines: list[str]) -> int:
    path = pathutils.get().cluster_conf_file
    if not os.path.exists(path):
        raise errors.ConfigurationError(
            f"No configuration at {path} to append to: it needs the whole"
            " configuration", errors.ErrorCode.STATE)
    return _REPLICA.append(path, [line.encode() for line in lines],
                           journal.JOURNAL_MODE)


@handler("config_fetch")
def config_fetch(known_serial: int) -> list[object]:
    """This node's configuration serial (-1 without one), with the file
    when it is newer than ``known_serial``."""
    path = pathutils.get().cluster_conf_file
    if not os.path.exists(path):
        return [-1, None]
    try:
        doc = journal.read_document(path)
        serial = int(doc["serial_no"])
    except (errors.ProtocolError, KeyError, TypeError, ValueError):
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is corrupt") from None
    # The complete document: the base with the journal applied.
    return [serial, redist.encode_data(serializer.dumps(doc))
            if serial > known_serial else None]
