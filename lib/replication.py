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

Nothing is lost when a push fails or the master daemon dies: the files
on the master's disk are the truth, and a candidate is *caught up* by
comparing, not by replaying a backlog.  A node whose push failed gets no
more pushes; it is retried with a bounded backoff by a catch-up
that asks it what it holds (RPC ``replica_state``: config serial with
its journal applied, the checksum of each live queue file, see
:mod:`ganeti.replica`) and sends what it lacks through the ordinary
calls (journal lines since its serial or the whole files,
``jobqueue_update``, ``jobqueue_rename``).  The master daemon catches up
every candidate when it starts, so a kill -9 of the master daemon in the
middle of a stream of jobs, or a candidate that was down, ends with the
candidates current.  ``gnt-cluster verify`` reports a candidate whose
config or queue is behind, and by how much (``ENODEREPLICA``).
Stopping a replicator first finishes the work kicked so far (bounded), so
a master daemon that stops leaves the candidates current.  Replication is
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
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from ganeti import errors, pathutils, redist, replica
from ganeti.config import journal
from ganeti.http import client as http_client
from ganeti.utils import retry

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter
    from ganeti.rpc.client import RpcClient
    from ganeti.rpc.result import RpcResult

_LOG = logging.getLogger(__name__)


class Flushable(Protocol):
    def flush(self, timeout: float = ...) -> bool: ...


#: How long ``gnt-cluster verify`` waits for pending pushes, in all: the
#: RPC connect limit (a healthy candidate takes far less; a hung one would
#: make verify wait its full call limit for nothing).
VERIFY_FLUSH_TIMEOUT: Final = http_client.DEFAULT_CONNECT_TIMEOUT

_registry: weakref.WeakKeyDictionary[ConfigWriter, list[Flushable]] = \
    weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def register(cfg: ConfigWriter, replicator: Flushable) -> None:
    """Make ``replicator`` known to :func:`flush_all` for ``cfg``."""
    with _registry_lock:
        _registry.setdefault(cfg, []).append(replicator)


def flush_all(cfg: ConfigWriter, timeout: float = 30.0) -> bool:
    """Wait for every replicator of ``cfg``, ``timeout`` seconds in all
    (one deadline, not one per replicator: a hung node keeps them all
    busy); False if one was still busy then."""
    with _registry_lock:
        items = list(_registry.get(cfg, []))
    deadline = time.monotonic() + timeout
    return all([r.flush(max(0.0, deadline - time.monotonic()))
                for r in items])


def catch_up_all(cfg: ConfigWriter, nodes: list[str]) -> None:
    """Have every replicator of ``cfg`` catch ``nodes`` up now (verify
    found them behind without a failed push, e.g. files lost there)."""
    with _registry_lock:
        items = list(_registry.get(cfg, []))
    for item in items:
        if isinstance(item, _Worker):
            item.catch_up(nodes)


def candidate_targets(cfg: ConfigWriter, master: str) -> list[str]:
    """Online master candidates other than the master."""
    return [n.name for n in cfg.get_master_candidates()
            if not n.offline and n.name != master]


#: Waits between the catch-ups of a node that failed (start, factor,
#: maximum; ``ganeti.utils.retry``); it is retried as long as it stays an
#: online candidate.
CATCH_UP_BACKOFF: Final[retry.Backoff] = (1.0, 2.0, 60.0)


class _Worker(abc.ABC):
    """A background thread woken by :meth:`_kick`; :meth:`flush` waits
    until everything kicked so far was attempted once.

    Each round pushes what changed to the candidates that are current
    (:meth:`_push`).  A node whose push failed is *behind*: it gets no
    more pushes but a catch-up (:meth:`_catch_up`: ask the node what it
    has, send what it lacks) with the next change or when its retry is
    due, with :data:`CATCH_UP_BACKOFF` between timed attempts, until one
    succeeds.
    :meth:`catch_up` makes nodes due now (the master daemon does it for
    every candidate at start)."""

    def __init__(self, name: str, cfg: ConfigWriter, rpc: RpcClient,
                 master: str, *,
                 backoff: retry.Backoff = CATCH_UP_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cfg = cfg
        self._rpc = rpc
        self._master = master
        self._backoff = backoff
        self._clock = clock
        self._cond = threading.Condition()
        self._pending = False
        self._busy = False
        self._stopped = False
        #: node -> (monotonic time the retry is due, last delay or None)
        self._behind: dict[str, tuple[float, float | None]] = {}
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

    def catch_up(self, nodes: list[str] | None = None) -> None:
        """Compare ``nodes`` (default: every candidate) with the master
        and send them what they lack, now (in the thread)."""
        if nodes is None:
            nodes = candidate_targets(self._cfg, self._master)
        with self._cond:
            now = self._clock()
            for node in nodes:
                self._behind[node] = (now, self._behind.get(node,
                                                             (0, None))[1])
            self._cond.notify_all()

    def behind(self) -> list[str]:
        """The nodes waiting for a catch-up (their push failed)."""
        with self._cond:
            return sorted(self._behind)

    def flush(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._stopped or not (self._pending or self._busy),
                timeout)

    def _due(self) -> list[str]:
        now = self._clock()
        return sorted(n for n, (due, _) in self._behind.items() if due <= now)

    def _next_wait(self) -> float | None:
        if not self._behind:
            return None
        soonest = min(due for due, _ in self._behind.values())
        return max(0.0, soonest - self._clock())

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._stopped or self._pending or self._due()):
                    self._cond.wait(self._next_wait())
                if self._stopped:
                    return
                pushed, self._pending = self._pending, False
                due = self._due()
                self._busy = True
            try:
                self.run_round(pushed, due)
            except Exception:  # keep replicating later changes
                _LOG.exception("%s failed", self._thread.name)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def run_round(self, pushed: bool, due: list[str]) -> None:
        """One round: push the changes to the current candidates (when
        ``pushed``), then catch up the ``due`` nodes that are behind."""
        targets = candidate_targets(self._cfg, self._master)
        with self._cond:
            for node in set(self._behind) - set(targets):
                del self._behind[node]  # no longer a candidate (or offline)
            current = [n for n in targets if n not in self._behind]
        if pushed:
            for node, message in self._push(current).items():
                self._failed(node, message)
            # A change also retries the nodes behind, due or not (as a
            # push to them would have): one that came back gets the
            # change now, not after its backoff.
            due = sorted(set(due) | (set(self.behind()) - set(current)))
        for node in due:
            if node not in targets:
                continue
            try:
                failure = self._catch_up(node)
            except errors.GenericError as err:
                failure = str(err)
            if failure is not None:
                self._failed(node, failure)
                continue
            with self._cond:
                self._behind.pop(node, None)
            _LOG.info("%s: %s is current", self._thread.name, node)

    def _failed(self, node: str, message: str) -> None:
        with self._cond:
            delay = retry.next_delay(self._backoff,
                                     self._behind.get(node, (0, None))[1])
            self._behind[node] = (self._clock() + delay, delay)
        _LOG.warning("%s: cannot update %s (%s); catching it up in %.0fs",
                     self._thread.name, node, message, delay)

    @abc.abstractmethod
    def _push(self, nodes: list[str]) -> dict[str, str]:
        """Push what changed since the last round; node -> failure."""

    @abc.abstractmethod
    def _catch_up(self, node: str) -> str | None:
        """Bring ``node`` up to date; the failure or None."""

    def _replica_state(self, node: str) -> tuple[Any, str | None]:
        """``node``'s ``replica_state`` answer, or the failure."""
        res = self._rpc.call_replica_state([node])[node]
        if res.fail_msg:
            return None, str(res.fail_msg)
        return res.payload, None


class ConfigReplicator(_Worker):
    """Keeps the candidates' configuration current after each write.

    A candidate whose serial number this replicator knows gets the
    journal lines written since (``config_journal_append``: the size of
    the change, not of the configuration); one it does not know (first
    round, after a failure) or that refuses the lines (it missed some,
    or the lines it needs were compacted away) gets the whole files
    (:func:`push_config`).  A candidate whose push failed is behind: its
    catch-up asks its serial (``replica_state``) and sends the journal
    lines since that serial, or the whole files.
    """

    def __init__(self, cfg: ConfigWriter, rpc: RpcClient, master: str,
                 **kwargs: Any) -> None:
        super().__init__("config-replicator", cfg, rpc, master, **kwargs)
        #: Candidate -> serial number of its copy, as last acknowledged
        #: (only this thread uses it).
        self._known: dict[str, int] = {}

    def on_write(self, _serial: int) -> None:
        """The ConfigWriter write hook."""
        self._kick()

    def _push(self, nodes: list[str]) -> dict[str, str]:
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
        return self._push_whole(whole) if whole else {}

    def _append(self, nodes: list[str], lines: list[bytes]) -> list[str]:
        """Send journal lines; the nodes that need the whole files (they
        refused the lines or did not answer: a node that is down fails
        the whole push too, and is then behind)."""
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

    def _push_whole(self, nodes: list[str]) -> dict[str, str]:
        # The files pushed are at least this serial (read after it).
        serial = self._cfg.get_serial_no()
        failures = push_config(self._rpc, nodes)
        for node in nodes:
            if node in failures:
                self._known.pop(node, None)
            else:
                self._known[node] = serial
        return failures

    def _catch_up(self, node: str) -> str | None:
        """Compare serials; a node behind gets the journal lines since
        its serial (or the whole files when they are gone or refused)."""
        self._known.pop(node, None)
        state, message = self._replica_state(node)
        if message is not None:
            return message
        ours = replica.config_serial(pathutils.get().cluster_conf_file)
        lag = replica.compare({replica.KEY_CONFIG_SERIAL: ours,
                               replica.KEY_QUEUE: {}}, state)
        if lag.config_node is not None:
            self._known[node] = lag.config_node
        if not lag.config_behind:
            return None
        _LOG.info("config of %s is %d serial(s) behind; sending what it "
                  "lacks", node, lag.config_behind)
        return self._push([node]).get(node)


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

    def __init__(self, cfg: ConfigWriter, rpc: RpcClient, master: str,
                 **kwargs: Any) -> None:
        super().__init__("queue-replicator", cfg, rpc, master, **kwargs)
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

    def _push(self, nodes: list[str]) -> dict[str, str]:
        with self._lock:
            files, self._files = self._files, {}
            renames, self._renames = self._renames, []
        failed: dict[str, str] = {}
        if not nodes:
            return failed
        # The serial first: a candidate never holds a job above its serial.
        for name in sorted(files, key=lambda n: (n != "serial", n)):
            answers = self._rpc.call_jobqueue_update(
                [n for n in nodes if n not in failed], name,
                redist.encode_data(files[name]))
            _note_failures(failed, answers, f"queue file {name}")
        if renames:
            answers = self._rpc.call_jobqueue_rename(
                [n for n in nodes if n not in failed],
                [list(pair) for pair in renames])
            _note_failures(failed, answers, "archive moves")
        return failed

    def _catch_up(self, node: str) -> str | None:
        state, message = self._replica_state(node)
        if message is not None:
            return message
        queue_dir = pathutils.get().queue_dir
        lag = replica.compare({replica.KEY_CONFIG_SERIAL: None,
                               replica.KEY_QUEUE:
                               replica.queue_files(queue_dir)}, state)
        if lag.queue_behind:
            _LOG.info("Job queue of %s is behind (%s); sending the rest",
                      node, lag.describe_queue())
        for name in lag.queue_outdated:
            message = self._send(node, os.path.join(queue_dir, name), name)
            if message is not None:
                return message
        for name in lag.queue_archived:
            job = replica.job_id(name)
            assert job is not None
            archived = replica.archive_name(job)
            message = self._send(node, os.path.join(queue_dir, archived), name)
            if message is None:
                res = self._rpc.call_jobqueue_rename([node],
                                                     [[name, archived]])[node]
                message = res.fail_msg and str(res.fail_msg)
            if message:
                return message
        return None

    def _send(self, node: str, path: str, name: str) -> str | None:
        """Send the master's file ``path`` as queue file ``name``; a file
        gone meanwhile (archived, removed) is skipped."""
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            return None
        res = self._rpc.call_jobqueue_update(
            [node], name, redist.encode_data(content))[node]
        return str(res.fail_msg) if res.fail_msg else None


def _note_failures(failed: dict[str, str], answers: dict[str, RpcResult],
                   what: str) -> None:
    for node, res in answers.items():
        if res.fail_msg:
            failed[node] = f"{what}: {res.fail_msg}"
