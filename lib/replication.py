"""Keeping the master candidates' copies current, in the background.

Two replicators run in the master daemon, each a thread fed by a cheap
callback so the producer never waits for a node:

:class:`ConfigReplicator`
    a ``ConfigWriter`` write hook; pushes ``config.data`` (the file as
    written) to every online master candidate but the master.  Several
    writes in a row coalesce into one push of the newest file.
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
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ganeti import errors, pathutils, redist

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
    """Pushes ``config.data`` to the candidates after each write."""

    def __init__(self, cfg: ConfigWriter, rpc: RpcClient, master: str) -> None:
        super().__init__("config-replicator")
        self._cfg = cfg
        self._rpc = rpc
        self._master = master

    def on_write(self, _serial: int) -> None:
        """The ConfigWriter write hook."""
        self._kick()

    def _work(self) -> None:
        nodes = candidate_targets(self._cfg, self._master)
        for node, message in push_config(self._rpc, nodes).items():
            _LOG.warning("Cannot push the configuration to %s: %s",
                         node, message)


def push_config(rpc: RpcClient, nodes: list[str]) -> dict[str, str]:
    """Upload this node's ``config.data`` (as it is on disk) to ``nodes``;
    the failures, node -> message."""
    if not nodes:
        return {}
    path = pathutils.Paths("").cluster_conf_file
    local = redist.read_local(path)
    if local is None:
        raise errors.ConfigurationError(
            f"Configuration file {path} vanished", errors.ErrorCode.ENVIRON)
    return {node: str(res.fail_msg)
            for node, res in rpc.call_upload_file(nodes, *local.args()).items()
            if res.fail_msg}


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
