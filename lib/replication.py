"""Keeping the master candidates' copies current, in the background.

Two replicators run in the master daemon, each a thread fed by a cheap
callback so the producer never waits for a node:

:class:`ConfigReplicator`
    a ``ConfigWriter`` write hook; sends the new configuration journal
    lines to every online master candidate but the master (the whole
    ``config.data`` and journal to one that missed lines).  Several
    writes in a row coalesce into one round.
:class:`QueueReplicator`
    a job queue batch hook (``JobQueue.add_replication_hook``); after a
    batch is durable on the master it sends the written job files and the
    serial (``jobqueue_update``) and the archive moves
    (``jobqueue_rename``) to the same nodes, newest content per file.

A failure is logged and the node is retried with the next change; the
master daemon also pushes ``config.data`` once when it starts, so a
candidate that missed a push (or a master failover) catches up then.
``gnt-cluster verify`` reports a stale ``config.data`` (checksum differs),
and ``redist-conf`` or a promotion copies everything again.  Stopping a
replicator first finishes the work kicked so far (bounded), so a master
daemon that stops leaves the candidates current.  Replication is
asynchronous: a job submission returns when the job is durable on the
master, not on the candidates (see the design note for what a master
failover can lose).

:func:`register` records flushable replicators per configuration, so that
``gnt-cluster verify`` can wait for pending pushes (:func:`flush_all`)
before comparing files, instead of reporting a push still in flight.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ganeti import errors, pathutils, redist
from ganeti.config import journal

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter
    from ganeti.rpc.client import RpcClient
    from ganeti.rpc.result import RpcResult

_LOG = logging.getLogger(__name__)


class Flushable(Protocol):
    def flush(self, timeout: float = ...) -> bool: ...


_registry: weakref.WeakKeyDictionary[ConfigWriter, list[Flushable]] = \
    weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def register(cfg: ConfigWriter, replicator: Flushable) -> None:
    """Make ``replicator`` known to :func:`flush_all` for ``cfg``."""
    with _registry_lock:
        _registry.setdefault(cfg, []).append(replicator)


def flush_all(cfg: ConfigWriter, timeout: float = 30.0) -> bool:
    """Wait for every replicator of ``cfg``; False if one timed out."""
    with _registry_lock:
        items = list(_registry.get(cfg, []))
    return all([r.flush(timeout) for r in items])


def candidate_targets(cfg: ConfigWriter, master: str) -> list[str]:
    """Online master candidates other than the master."""
    return [n.name for n in cfg.get_master_candidates()
            if not n.offline and n.name != master]


class _Worker(abc.ABC):
    """A background thread woken by :meth:`_kick`; :meth:`flush` waits
    until everything kicked so far is done.  Subclasses say what one
    round of work is (:meth:`_work`)."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._pending = False
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=name)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was kicked so far (within ``timeout``), then end
        the thread: a master daemon that stops (a failover stops the old
        one) leaves the candidates with everything it wrote."""
        if self._thread.is_alive() and not self.flush(timeout):
            _LOG.warning("%s: pending work not done within %.0fs at stop",
                         self._thread.name, timeout)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _kick(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._stopped or not (self._pending or self._busy),
                timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopped)
                if self._stopped:
                    return
                self._pending = False
                self._busy = True
            try:
                self._work()
            except Exception:  # keep replicating later changes
                _LOG.exception("%s failed", self._thread.name)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    @abc.abstractmethod
    def _work(self) -> None:
        """One round: push what changed since the last round."""


class ConfigReplicator(_Worker):
    """Keeps the candidates' configuration current after each write.

    A candidate whose serial number this replicator knows gets the
    journal lines written since (``config_journal_append``: the size of
    the change, not of the configuration); one it does not know (first
    round, after a failure) or that refuses the lines (it missed some,
    or the lines it needs were compacted away) gets the whole files
    (:func:`push_config`).
    """

    def __init__(self, cfg: ConfigWriter, rpc: RpcClient, master: str) -> None:
        super().__init__("config-replicator")
        self._cfg = cfg
        self._rpc = rpc
        self._master = master
        #: Candidate -> serial number of its copy, as last acknowledged.
        self._known: dict[str, int] = {}

    def on_write(self, _serial: int) -> None:
        """The ConfigWriter write hook."""
        self._kick()

    def _work(self) -> None:
        nodes = candidate_targets(self._cfg, self._master)
        self._known = {n: s for n, s in self._known.items() if n in nodes}
        by_serial: dict[int, list[str]] = {}
        whole: list[str] = []
        for node in nodes:
            if node in self._known:
                by_serial.setdefault(self._known[node], []).append(node)
            else:
                whole.append(node)
        for serial, group in sorted(by_serial.items()):
            lines = self._cfg.journal_since(serial)
            if lines is None:
                whole.extend(group)
            elif lines:
                whole.extend(self._append(group, lines))
        if whole:
            self._push_whole(whole)

    def _append(self, nodes: list[str], lines: list[bytes]) -> list[str]:
        """Send journal lines; the nodes that need the whole files."""
        answers = self._rpc.call_config_journal_append(
            nodes, [line.decode() for line in lines])
        failed = []
        for node, res in answers.items():
            if res.fail_msg:
                _LOG.info("Configuration journal not taken by %s (%s); "
                          "sending the whole configuration", node,
                          res.fail_msg)
                self._known.pop(node, None)
                failed.append(node)
            else:
                self._known[node] = int(res.payload)
        return failed

    def _push_whole(self, nodes: list[str]) -> None:
        # The files pushed are at least this serial (read after it).
        serial = self._cfg.get_serial_no()
        failures = push_config(self._rpc, nodes)
        for node in nodes:
            if node in failures:
                _LOG.warning("Cannot push the configuration to %s: %s",
                             node, failures[node])
                self._known.pop(node, None)
            else:
                self._known[node] = serial


def push_config(rpc: RpcClient, nodes: list[str]) -> dict[str, str]:
    """Upload this node's ``config.data`` and its journal (as they are on
    disk) to ``nodes``, replacing theirs; the failures, node -> message.

    The journal is read first: a compaction between the two reads then
    gives a newer base with an older journal (its entries are in the
    base), never an older base with a journal that does not follow it.
    """
    if not nodes:
        return {}
    path = pathutils.Paths("").cluster_conf_file
    journal_file = journal.journal_path(path)
    entries = redist.read_local(journal_file)
    local = redist.read_local(path)
    if local is None:
        raise errors.ConfigurationError(
            f"Configuration file {path} vanished", errors.ErrorCode.ENVIRON)
    if entries is None:  # none yet: the candidates' must go too
        entries = dataclasses.replace(local, path=journal_file,
                                      data=redist.encode_data(b""))
    failed = {node: str(res.fail_msg)
              for node, res in rpc.call_upload_file(nodes, *local.args()).items()
              if res.fail_msg}
    rest = [n for n in nodes if n not in failed]
    if rest:
        failed.update(
            (node, str(res.fail_msg))
            for node, res in rpc.call_upload_file(rest,
                                                  *entries.args()).items()
            if res.fail_msg)
    return failed


#: ``(written {name: content}, renames [(old, new)])`` of one batch, names
#: relative to the queue directory.
BatchHook = Callable[[dict[str, bytes], list[tuple[str, str]]], None]


class QueueReplicator(_Worker):
    """Sends job queue batches to the candidates (see the module doc)."""

    def __init__(self, cfg: ConfigWriter, rpc: RpcClient, master: str) -> None:
        super().__init__("queue-replicator")
        self._cfg = cfg
        self._rpc = rpc
        self._master = master
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}
        self._renames: list[tuple[str, str]] = []

    def on_batch(self, written: dict[str, bytes],
                 renames: list[tuple[str, str]]) -> None:
        """The job queue batch hook: queue the batch, wake the thread."""
        with self._lock:
            self._files.update(written)
            self._renames.extend(renames)
        self._kick()

    def _work(self) -> None:
        with self._lock:
            files, self._files = self._files, {}
            renames, self._renames = self._renames, []
        nodes = candidate_targets(self._cfg, self._master)
        if not nodes:
            return
        # The serial first: a candidate never holds a job above its serial.
        for name in sorted(files, key=lambda n: (n != "serial", n)):
            answers = self._rpc.call_jobqueue_update(
                nodes, name, redist.encode_data(files[name]))
            self._log_failures(answers, f"queue file {name}")
        if renames:
            answers = self._rpc.call_jobqueue_rename(
                nodes, [list(pair) for pair in renames])
            self._log_failures(answers, "archive moves")

    @staticmethod
    def _log_failures(answers: dict[str, RpcResult], what: str) -> None:
        for node, res in answers.items():
            if res.fail_msg:
                _LOG.warning("Cannot replicate %s to %s: %s", what, node,
                             res.fail_msg)
