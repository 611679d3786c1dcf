"""The simple store: small files every node reads without the master.

Each value is one file ``ssconf_<key>`` in the data directory
(``pathutils.get().ssconf_file(key)``), with Ganeti 2.1's names.  Lists
have one element per line; the ``node_*_ips`` files have one ``name ip``
pair per line; booleans are ``True``/``False``.  Every node gets the same
files, so any node can answer "who is the master?", "which nodes are
master candidates?" without the configuration (which only master
candidates hold).

Keys (Ganeti 2.1): ``cluster_name``, ``cluster_tags``,
``file_storage_dir``, ``hypervisor_list``, ``instance_list``,
``maintain_node_health``, ``master_candidates``,
``master_candidates_ips``, ``master_ip``, ``master_netdev``,
``master_node``, ``node_list``, ``node_primary_ips``,
``node_secondary_ips``, ``offline_nodes``, ``online_nodes``,
``release_version``, ``uid_pool``.  This project adds one:

``redist_files``
    The distributed files beyond every node's static upload list (the
    cluster's extra files and the hypervisors' ancillary files in use),
    one ``<path> <target>`` per line (target ``all`` or ``candidates``),
    as :func:`ganeti.redist.ssconf_redist_value` computes them.  A node
    needs it to accept exactly those files by upload (the upload
    whitelist), even while it is not a master candidate.

Writers: :func:`write_files` replaces each file atomically (temporary
file, fsync, rename) and removes files of keys that are no longer
written, so a reader sees either the old or the new value of a key, never
a partial one.  The master computes the values with
:func:`compute_values`; :class:`SsconfPusher` (a configuration write
hook of the master daemon) sends them to every online node whenever they
change.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ganeti import constants, errors, objects, pathutils, uidpool
from ganeti.utils import io, retry
from ganeti.utils.text import nice_sort

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter
    from ganeti.rpc.client import RpcClient

#: Seconds between two pushes of the pusher (see :class:`SsconfPusher`).
PUSH_MIN_INTERVAL: Final = 1.0

SS_CLUSTER_NAME: Final = "cluster_name"
SS_CLUSTER_TAGS: Final = "cluster_tags"
SS_FILE_STORAGE_DIR: Final = "file_storage_dir"
SS_HYPERVISOR_LIST: Final = "hypervisor_list"
SS_INSTANCE_LIST: Final = "instance_list"
SS_MAINTAIN_NODE_HEALTH: Final = "maintain_node_health"
SS_MASTER_CANDIDATES: Final = "master_candidates"
SS_MASTER_CANDIDATES_IPS: Final = "master_candidates_ips"
SS_MASTER_IP: Final = "master_ip"
SS_MASTER_NETDEV: Final = "master_netdev"
SS_MASTER_NODE: Final = "master_node"
SS_NODE_LIST: Final = "node_list"
SS_NODE_PRIMARY_IPS: Final = "node_primary_ips"
SS_NODE_SECONDARY_IPS: Final = "node_secondary_ips"
SS_OFFLINE_NODES: Final = "offline_nodes"
SS_ONLINE_NODES: Final = "online_nodes"
SS_RELEASE_VERSION: Final = "release_version"
SS_UID_POOL: Final = "uid_pool"
#: This project's addition (see the module documentation).
SS_REDIST_FILES: Final = "redist_files"

#: Every key a node accepts, in a stable order.
VALID_KEYS: Final = (
    SS_CLUSTER_NAME, SS_CLUSTER_TAGS, SS_FILE_STORAGE_DIR, SS_HYPERVISOR_LIST,
    SS_INSTANCE_LIST, SS_MAINTAIN_NODE_HEALTH, SS_MASTER_CANDIDATES,
    SS_MASTER_CANDIDATES_IPS, SS_MASTER_IP, SS_MASTER_NETDEV, SS_MASTER_NODE,
    SS_NODE_LIST, SS_NODE_PRIMARY_IPS, SS_NODE_SECONDARY_IPS,
    SS_OFFLINE_NODES, SS_ONLINE_NODES, SS_RELEASE_VERSION, SS_UID_POOL,
    SS_REDIST_FILES,
)
#: Largest ssconf file a reader accepts (Ganeti's limit too).
MAX_SIZE: Final = 128 * 1024
#: Mode of the files: world-readable, nothing secret in them.
FILE_MODE: Final = 0o444

_LOG = logging.getLogger(__name__)


def check_keys(keys: Iterable[Any]) -> None:
    """Refuse unknown keys with one line naming them."""
    unknown = sorted(str(k) for k in keys if k not in VALID_KEYS)
    if unknown:
        raise errors.ParameterError(
            f"Unknown ssconf key(s): {', '.join(unknown)} (known: "
            f"{', '.join(VALID_KEYS)})", errors.ErrorCode.INVAL)


def _lines(values: Iterable[str]) -> str:
    return "\n".join(values)


def _format_uid_pool(pool: list[list[int]]) -> str:
    return uidpool.format_pool(pool, "\n")


def compute_values(cfg: ConfigWriter | objects.ConfigData) -> dict[str, str]:
    """The ssconf values of a configuration.

    ``cfg`` is a :class:`~ganeti.config.ConfigWriter` or an
    :class:`~ganeti.objects.ConfigData`.  Node lists are nice-sorted, so
    equal configurations give equal values (the pusher compares them).
    """
    data: objects.ConfigData = (cfg.snapshot() if hasattr(cfg, "snapshot")
                                else cfg)
    cluster = data.cluster
    nodes = [data.nodes[name] for name in nice_sort(data.nodes)]
    return {
        SS_CLUSTER_NAME: cluster.cluster_name,
        SS_CLUSTER_TAGS: _lines(sorted(cluster.tags)),
        SS_FILE_STORAGE_DIR: cluster.file_storage_dir,
        SS_HYPERVISOR_LIST: _lines(cluster.enabled_hypervisors),
        SS_INSTANCE_LIST: _lines(cfg.instance_names()
                                 if hasattr(cfg, "instance_names")
                                 else nice_sort(data.instances)),
        SS_MAINTAIN_NODE_HEALTH: str(bool(cluster.maintain_node_health)),
        SS_MASTER_CANDIDATES: _lines(n.name for n in nodes
                                     if n.master_candidate),
        SS_MASTER_CANDIDATES_IPS: _lines(n.primary_ip for n in nodes
                                         if n.master_candidate),
        SS_MASTER_IP: cluster.master_ip,
        SS_MASTER_NETDEV: cluster.master_netdev,
        SS_MASTER_NODE: cluster.master_node,
        SS_NODE_LIST: _lines(n.name for n in nodes),
        SS_NODE_PRIMARY_IPS: _lines(f"{n.name} {n.primary_ip}" for n in nodes),
        SS_NODE_SECONDARY_IPS: _lines(f"{n.name} {n.secondary_ip}"
                                      for n in nodes),
        SS_OFFLINE_NODES: _lines(n.name for n in nodes if n.offline),
        SS_ONLINE_NODES: _lines(n.name for n in nodes if not n.offline),
        SS_RELEASE_VERSION: constants.RELEASE_VERSION,
        SS_UID_POOL: _format_uid_pool(cluster.uid_pool),
        SS_REDIST_FILES: _redist_value(data),
    }


def _redist_value(data: objects.ConfigData) -> str:
    # Deferred: ganeti.redist imports this module.
    from ganeti import redist

    return redist.ssconf_redist_value(data)


def write_files(values: Mapping[str, str],
                paths: pathutils.Paths | None = None) -> None:
    """Write the given values, each file atomically; remove the files of
    known keys that are not given.  Unknown keys are refused before any
    file is touched."""
    check_keys(values)
    bad = sorted(k for k, v in values.items() if not isinstance(v, str))
    if bad:
        raise errors.ParameterError(
            f"ssconf values must be text: {', '.join(bad)}",
            errors.ErrorCode.INVAL)
    paths = paths or pathutils.get()
    os.makedirs(paths.data_dir, mode=0o755, exist_ok=True)
    for key in VALID_KEYS:
        path = paths.ssconf_file(key)
        if key in values:
            text = values[key]
            io.write_file_atomic(path, text + "\n" if text else "",
                                 mode=FILE_MODE, fsync=True)
        else:
            io.remove_file(path)


def remove_files(paths: pathutils.Paths | None = None) -> None:
    """Remove every ssconf file (the node leaves the cluster)."""
    paths = paths or pathutils.get()
    for key in VALID_KEYS:
        io.remove_file(paths.ssconf_file(key))


class SimpleStore:
    """Reads this node's ssconf files.

    A missing file means the node is not (yet) part of a cluster:
    :class:`errors.NotClusterError` naming the file.
    """

    def __init__(self, paths: pathutils.Paths | None = None) -> None:
        self.paths = paths or pathutils.get()

    def read(self, key: str) -> str:
        """The value of ``key`` without its trailing newline."""
        check_keys([key])
        path = self.paths.ssconf_file(key)
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_SIZE + 1)
        except FileNotFoundError:
            raise errors.NotClusterError(
                f"Cluster file {path} not found: this node is not part of a "
                "cluster (or the cluster configuration was not distributed "
                "to it yet)") from None
        except OSError as err:
            raise errors.ConfigurationError(
                f"Cannot read {path}: {err.strerror}",
                errors.ErrorCode.ENVIRON) from None
        if len(raw) > MAX_SIZE:
            raise errors.ConfigurationError(
                f"File {path} is larger than {MAX_SIZE} bytes")
        return raw.decode("utf-8", errors="replace").rstrip("\n")

    def read_list(self, key: str) -> list[str]:
        return [line for line in self.read(key).splitlines() if line.strip()]

    def read_pairs(self, key: str) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for line in self.read_list(key):
            name, _, value = line.partition(" ")
            pairs[name] = value.strip()
        return pairs

    def read_all(self) -> dict[str, str]:
        """Every value present (missing keys are left out)."""
        values: dict[str, str] = {}
        for key in VALID_KEYS:
            try:
                values[key] = self.read(key)
            except errors.NotClusterError:
                continue
        return values

    # --- typed accessors (Ganeti's names, snake_case) --------------------

    def get_cluster_name(self) -> str:
        return self.read(SS_CLUSTER_NAME)

    def get_master_node(self) -> str:
        return self.read(SS_MASTER_NODE)

    def get_master_ip(self) -> str:
        return self.read(SS_MASTER_IP)

    def get_master_netdev(self) -> str:
        return self.read(SS_MASTER_NETDEV)

    def get_file_storage_dir(self) -> str:
        return self.read(SS_FILE_STORAGE_DIR)

    def get_node_list(self) -> list[str]:
        return self.read_list(SS_NODE_LIST)

    def get_online_nodes(self) -> list[str]:
        return self.read_list(SS_ONLINE_NODES)

    def get_offline_nodes(self) -> list[str]:
        return self.read_list(SS_OFFLINE_NODES)

    def get_master_candidates(self) -> list[str]:
        return self.read_list(SS_MASTER_CANDIDATES)

    def get_master_candidates_ips(self) -> list[str]:
        return self.read_list(SS_MASTER_CANDIDATES_IPS)

    def get_node_primary_ips(self) -> dict[str, str]:
        return self.read_pairs(SS_NODE_PRIMARY_IPS)

    def get_node_secondary_ips(self) -> dict[str, str]:
        return self.read_pairs(SS_NODE_SECONDARY_IPS)

    def get_instance_list(self) -> list[str]:
        return self.read_list(SS_INSTANCE_LIST)

    def get_hypervisor_list(self) -> list[str]:
        return self.read_list(SS_HYPERVISOR_LIST)

    def get_cluster_tags(self) -> list[str]:
        return self.read_list(SS_CLUSTER_TAGS)

    def get_maintain_node_health(self) -> bool:
        return self.read(SS_MAINTAIN_NODE_HEALTH) == "True"

    def get_release_version(self) -> str:
        return self.read(SS_RELEASE_VERSION)

    def get_uid_pool(self) -> list[list[int]]:
        pool = []
        for item in self.read_list(SS_UID_POOL):
            lo, _, hi = item.partition("-")
            pool.append([int(lo), int(hi or lo)])
        return pool

    def get_redist_files(self) -> dict[str, str]:
        """Extra redistributed files: path -> target."""
        return self.read_pairs(SS_REDIST_FILES)


#: Sends the values to nodes: ``(nodes, values) -> {node: error or None}``.
PushFn = Callable[[list[str], dict[str, str]], dict[str, str | None]]


def rpc_push_fn(rpc: RpcClient) -> PushFn:
    """A :data:`PushFn` over the node RPC ``write_ssconf_files`` call."""
    def push(nodes: list[str], values: dict[str, str]) -> dict[str, str | None]:
        results = rpc.call_write_ssconf_files(nodes, values)
        return {node: res.fail_msg for node, res in results.items()}
    return push


#: Waits between pushes to a node that failed (start, factor, maximum).
RETRY_BACKOFF: Final[retry.Backoff] = (1.0, 2.0, 60.0)


class SsconfPusher:
    """Keeps every online node's ssconf equal to the master's config.

    Registered as a configuration write hook of the master daemon
    (:meth:`on_write`).  The hook only wakes a background thread, so a
    configuration change never waits for nodes; the thread computes the
    values from the *current* configuration (several quick changes
    coalesce into one push) and sends them to every online node when they
    differ from the last values every node accepted.  A node that failed
    is retried with :data:`RETRY_BACKOFF` (and at the next change), or by
    :meth:`push` (node add calls it to write the new node's files before
    the node is used).
    :meth:`flush` waits until the pushes of the changes so far are done.

    Pushes are at least ``min_interval`` seconds apart (changes meanwhile
    fold into the next one): some values grow with the cluster (the
    instance list is 250 KB at 10,000 instances) and go to every node, so
    one push per change would make each change cost the size of the
    cluster.  :meth:`flush` and :meth:`stop` cut the wait short.  The
    retries of a failed node keep that limit too.
    """

    def __init__(self, cfg: ConfigWriter, push_fn: PushFn, *,
                 retry_backoff: retry.Backoff = RETRY_BACKOFF,
                 min_interval: float = PUSH_MIN_INTERVAL) -> None:
        self._cfg = cfg
        self._push_fn = push_fn
        self._backoff = retry_backoff
        self._min_interval = min_interval
        self._cond = threading.Condition()
        self._dirty = False
        self._busy = False
        self._urgent = False
        self._last_push = -math.inf
        self._stopped = False
        self._last: dict[str, str] | None = None
        self._retry_delay: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="ssconf-pusher")
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def on_write(self, _serial: int) -> None:
        """The write hook: note the change, let the thread push it."""
        with self._cond:
            self._dirty = True
            self._cond.notify_all()

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until no change is pending; False on timeout."""
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._stopped or not (self._dirty or self._busy),
                timeout)

    def push(self, nodes: list[str] | None = None) -> dict[str, str | None]:
        """Push the current values now (to ``nodes``, default every online
        node), whatever was pushed before; per node the error or None."""
        values = compute_values(self._cfg)
        if nodes is None:
            nodes = [n.name for n in self._cfg.get_online_nodes()]
        return self._push_fn(nodes, values)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(
                        lambda: self._dirty or self._stopped,
                        self._retry_delay):
                    self._dirty = True  # a node failed: push again
                while not (self._stopped or self._urgent):
                    left = self._last_push + self._min_interval \
                        - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopped:
                    return
                self._dirty = self._urgent = False
                self._busy = True
                self._last_push = time.monotonic()
            try:
                self._push_if_changed()
            except Exception:  # keep pushing later changes whatever happens
                _LOG.exception("Pushing ssconf files failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _push_if_changed(self) -> None:
        values = compute_values(self._cfg)
        if values == self._last:
            return
        nodes = [n.name for n in self._cfg.get_online_nodes()]
        failed = {node: msg for node, msg in self._push_fn(nodes, values).items()
                  if msg}
        for node, msg in sorted(failed.items()):
            _LOG.warning("Cannot write ssconf files on node %s: %s", node, msg)
        self._last = None if failed else values
        # A node that was down gets its files without waiting for the
        # next change: retried with backoff until every node took them.
        self._retry_delay = (retry.next_delay(self._backoff, self._retry_delay)
                             if failed else None)
