"""ConfigWriter: the master's owner of ``config.data``.

One :class:`ConfigWriter` per master daemon holds the configuration in
memory, answers lookups, applies changes and writes the file after each
change.

Concurrency
    Every method takes one internal (re-entrant) lock, so a writer can be
    shared by all job threads.  Readers get **copies**: ``get_instance``
    and friends return fresh objects that the caller may change freely
    without affecting the configuration.  To change an object a logical
    unit reads it, modifies the copy and hands it to :meth:`update`; the
    copy must still be current (its ``serial_no`` equal to the stored
    one), otherwise the change would silently undo someone else's, and
    :meth:`update` refuses it.  Between processes, a writer that is not
    ``offline`` holds an exclusive lock on the config lock file for its
    whole life, so two masters can never write the same file.

Persistence
    Each change increments ``ConfigData.serial_no`` (and the changed
    object's ``serial_no``/``mtime``) and appends one line with the
    changed objects to the journal beside the file, fsynced
    (:mod:`ganeti.config.journal`); when the journal is as large as the
    file, the whole document is written to the file
    (:func:`ganeti.utils.io.write_file_atomic`: temporary file, fsync,
    rename, directory fsync; mode 0600) and the journal emptied.  A crash
    at any moment leaves the previous or the new configuration.  If
    writing fails, the in-memory configuration goes back to what the
    files hold and the error is raised.  After each successful write the
    write hooks run with the new serial number (the replicator sends the
    new journal lines to the master candidates); they run under the
    lock, in serial order.  What changed is found by identity
    (:class:`~ganeti.config.tracker.ChangeTracker`, which also keeps the
    indexes), so stored objects are never changed in place.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final

from ganeti import cfgupgrade, constants, errors, objects, params, pathutils, serializer
from ganeti.config import document, journal
from ganeti.config.groups import GroupsMixin, check_group_params
from ganeti.config.names import NameIndex
from ganeti.config.reservations import ReservationsMixin
from ganeti.config.tracker import ChangeTracker
from ganeti.config.tracker import walk_disks as _walk_disks
from ganeti.config.verify import verify_config
from ganeti.utils import io
from ganeti.utils.filelock import FileLock
from ganeti.utils.text import nice_sort

#: A callback run after each successful write with the new serial number.
WriteHook = Callable[[int], None]

#: Mode of ``config.data``: it holds secrets (DRBD shared secrets).
CONFIG_FILE_MODE: Final = 0o600

_LOG = logging.getLogger(__name__)

#: What :meth:`ConfigWriter.update` stores.
_Obj = objects.Cluster | objects.Node | objects.Instance | objects.NodeGroup

EC = errors.ErrorCode


def _default_lock_file(cfg_file: str | None, path: str) -> str:
    if cfg_file is None:
        return pathutils.get().config_lock_file
    return os.path.join(os.path.dirname(os.path.abspath(path)), ".config.lock")


def _take_file_lock(path: str, lock_file: str, timeout: float) -> FileLock:
    try:
        lock = FileLock(lock_file)
    except errors.LockError as err:
        raise errors.ConfigurationError(
            f"Cannot lock cluster configuration {path}: {err}",
            EC.ENVIRON) from None
    try:
        lock.exclusive(timeout=timeout)
    except errors.LockTimeoutError:
        lock.close()
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is in use by another process "
            f"(lock file {lock_file} is held); is another master running?",
            EC.LOCKED) from None
    except errors.GenericError:
        lock.close()
        raise
    return lock


def read_config(path: str) -> tuple[objects.ConfigData, bool]:
    """Load and decode a config file with its journal (the changes since
    its last compaction, :mod:`ganeti.config.journal`); True if it had to
    be upgraded.

    A missing file is :class:`errors.NotClusterError`; an unreadable,
    corrupt or invalid one is :class:`errors.ConfigurationError` (or its
    subclass :class:`errors.ConfigVersionMismatch`) naming the file.
    """
    if not os.path.exists(path):
        raise errors.NotClusterError(
            f"Cluster configuration not found at {path}; is this node part"
            " of a cluster?")
    try:
        raw = io.read_bytes(path)
        doc = journal.load_document(path, raw)
    except errors.ConfigurationError:
        raise
    except errors.GenericError as err:
        raise errors.ConfigurationError(
            f"Cannot read cluster configuration: {err}", EC.ENVIRON) from None
    return decode_document(path, doc)


def decode_config(path: str, raw: bytes) -> tuple[objects.ConfigData, bool]:
    """Decode the bytes of a complete config document (no journal; see
    :func:`read_config`)."""
    try:
        doc = serializer.loads(raw)
    except errors.ProtocolError as err:
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is corrupt: {err}") from None
    return decode_document(path, doc)


def decode_document(path: str, doc: object) -> tuple[objects.ConfigData, bool]:
    """Decode a config document (JSON already parsed)."""
    if not isinstance(doc, dict):
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is corrupt: expected a JSON "
            f"object, got {type(doc).__name__}")
    try:
        upgraded = cfgupgrade.check_version(doc)
        if upgraded:
            doc = cfgupgrade.upgrade(doc)
    except errors.ConfigVersionMismatch as err:
        raise errors.ConfigVersionMismatch(
            f"Cluster configuration {path}: {err}", err.code) from None
    except errors.ConfigurationError as err:
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is corrupt: {err}") from None
    try:
        data = objects.ConfigData.from_dict(doc)
    except errors.GenericError as err:
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is invalid: {err}") from None
    return data, upgraded


class ConfigWriter(GroupsMixin, ReservationsMixin):
    """Owner of the cluster configuration; see the module documentation.

    ``cfg_file`` defaults to ``pathutils.get().cluster_conf_file``; the
    lock file to ``pathutils.get().config_lock_file`` for the default file
    and to ``.config.lock`` beside any other file.  ``offline`` writers
    (tools run while no master is active) take no lock.  ``rng`` drives MAC
    and ID generation (inject a seeded one in tests).  ``lock_timeout``
    is how long to wait for the lock (0: fail at once if held);
    ``file_lock`` adopts a lock already held (as :func:`initialize` does).
    A configuration found at an older version is upgraded and written back
    once at load.
    """

    def __init__(self, cfg_file: str | None = None, *, offline: bool = False,
                 lock_file: str | None = None, lock_timeout: float = 0.0,
                 rng: random.Random | None = None,
                 file_lock: FileLock | None = None) -> None:
        self._path = cfg_file or pathutils.get().cluster_conf_file
        self._offline = offline
        self._lock = threading.RLock()
        self._rng = rng if rng is not None else random.Random()
        self._hooks: list[WriteHook] = []
        self._encoder = document.DocumentEncoder()
        #: Temporary reservations of this process: value -> owner.
        self._reserved_macs: dict[str, str | None] = {}
        self._reserved_ids: dict[str, str | None] = {}
        #: DRBD minors reserved by jobs: (node, minor) -> owner.
        self._reserved_minors: dict[tuple[str, int], str] = {}
        self._closed = False
        self._file_lock: FileLock | None = file_lock
        if not os.path.exists(self._path):
            if file_lock is not None:
                file_lock.close()
            raise errors.NotClusterError(
                f"Cluster configuration not found at {self._path}; is this "
                "node part of a cluster?")
        if file_lock is None and not offline:
            self._file_lock = _take_file_lock(
                self._path, lock_file or _default_lock_file(cfg_file,
                                                            self._path),
                lock_timeout)
        try:
            upgraded, repair = self._load()
            if upgraded:
                _LOG.info("Writing upgraded configuration %s", self._path)
                self._write(compact=True)
            elif repair:
                self._compact()
        except BaseException:
            self.close()
            raise

    # --- life cycle ---------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def offline(self) -> bool:
        return self._offline

    def close(self) -> None:
        """Release the file lock; later changes raise ProgrammerError."""
        with self._lock:
            self._closed = True
            if self._file_lock is not None:
                self._file_lock.close()
                self._file_lock = None

    def __enter__(self) -> ConfigWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def add_write_hook(self, hook: WriteHook) -> None:
        """Call ``hook(serial_no)`` after each successful write.

        A failing hook is logged and does not undo the write (the file is
        already the new configuration).
        """
        with self._lock:
            self._hooks.append(hook)

    def remove_write_hook(self, hook: WriteHook) -> None:
        with self._lock:
            self._hooks.remove(hook)

    # --- internals ----------------------------------------------------------

    def _load(self) -> tuple[bool, bool]:
        """(Re)read the files; whether the document had to be upgraded
        (written back as a new serial), and whether the journal needs a
        repair (a compaction) before it can be appended to."""
        try:
            base = io.read_bytes(self._path)
            entries, good = journal.read_entries(self._path)
        except errors.GenericError as err:
            raise errors.ConfigurationError(
                f"Cannot read cluster configuration: {err}",
                EC.ENVIRON) from None
        try:
            doc = serializer.loads(base)
        except errors.ProtocolError as err:
            raise errors.ConfigurationError(
                f"Cluster configuration {self._path} is corrupt: {err}"
            ) from None
        applied = journal.apply_entries(doc, entries) \
            if isinstance(doc, dict) else 0
        self._data, upgraded = decode_document(self._path, doc)
        self._encoder.clear()
        self._tracker = ChangeTracker(self._data)
        self._base_size = len(base)
        journal_file = journal.journal_path(self._path)
        self._journal_size = os.path.getsize(journal_file) \
            if os.path.exists(journal_file) else 0
        #: The journal lines since the last compaction, for replication.
        self._entries: list[tuple[int, bytes]] = []
        if applied == len(entries):
            self._entries = [(e["serial"], journal.encode_entry(e))
                             for e in entries]
        # A torn tail (a crash in an append) or entries of another base:
        # the journal cannot be appended to as it is.
        return upgraded, (applied != len(entries)
                          or good != self._journal_size)

    def _reindex(self) -> None:
        """Bring the indexes up to date after changing ``self._data``."""
        self._tracker.sync()

    @property
    def _node_names(self) -> NameIndex:
        return self._tracker.node_names

    @property
    def _inst_names(self) -> NameIndex:
        return self._tracker.inst_names

    @property
    def _node_uuids(self) -> dict[str, str]:
        return self._tracker.node_uuids

    @property
    def _inst_uuids(self) -> dict[str, str]:
        return self._tracker.inst_uuids

    def _write(self, *, compact: bool = False) -> int:
        """Record the changes of the in-memory config: one journal entry,
        or the whole document when ``compact`` or the journal is due for
        compaction (:mod:`ganeti.config.journal`).  On an error nothing
        is acknowledged: the config goes back to what the files hold."""
        if self._closed:
            raise errors.ProgrammerError(
                f"Configuration writer for {self._path} is closed")
        data = self._data
        data.serial_no += 1
        data.mtime = objects.now()
        serial = data.serial_no
        try:
            entry = self._tracker.take_entry(serial)
            if compact:
                self._compact()
            else:
                line = journal.encode_entry(entry)
                self._journal_size = journal.append(self._path, [line])
                self._entries.append((serial, line))
        except BaseException:
            self._reload()
            raise
        if not compact and journal.should_compact(self._base_size,
                                                  self._journal_size):
            try:
                self._compact()
            except errors.GenericError as err:
                # The change is durable in the journal; compact later.
                _LOG.warning("Cannot compact %s: %s", self._path, err)
        for hook in list(self._hooks):
            try:
                hook(serial)
            except Exception:
                _LOG.exception("Configuration write hook %r failed", hook)
        return serial

    def _compact(self) -> None:
        payload = self._encoder.encode(self._data)
        journal.write_base(self._path, payload, CONFIG_FILE_MODE)
        self._base_size, self._journal_size = len(payload), 0
        self._entries = []

    def _reload(self) -> None:
        if any(self._load()):
            self._compact()

    def compact(self) -> None:
        """Write the whole document to ``config.data`` and empty the
        journal now (tools that then read or replace the file whole)."""
        with self._lock:
            self._compact()

    def journal_since(self, serial: int) -> list[bytes] | None:
        """The journal lines of the changes after ``serial``, in order;
        None if they are not all in the journal any more (compacted: the
        whole file is needed)."""
        with self._lock:
            current = self._data.serial_no
            if serial >= current:
                return []
            if not self._entries or self._entries[0][0] > serial + 1:
                return None
            return [line for s, line in self._entries if s > serial]

    def _node_key(self, name: str) -> str | None:
        if name in self._data.nodes:
            return name
        return self._node_names.lookup(name)

    def _inst_key(self, name: str) -> str | None:
        if name in self._data.instances:
            return name
        return self._inst_names.lookup(name)

    def _need_node(self, name: str) -> objects.Node:
        key = self._node_key(name)
        if key is None:
            raise errors.OpPrereqError(f"Node {name} is not in the "
                                       "configuration", EC.NOENT)
        return self._data.nodes[key]

    def _need_instance(self, name: str) -> objects.Instance:
        key = self._inst_key(name)
        if key is None:
            raise errors.OpPrereqError(f"Instance {name} is not in the "
                                       "configuration", EC.NOENT)
        return self._data.instances[key]

    def _uuid_used(self, uuid: str) -> bool:
        return uuid == self._data.cluster.uuid or uuid in self._tracker.uuids

    def _id_used(self, ident: str) -> bool:
        """Whether ``ident`` is a UUID or a string of a disk identity."""
        return self._uuid_used(ident) or ident in self._tracker.idents

    def _mac_user(self, mac: str, skip: str | None = None) -> str | None:
        """The instance using ``mac`` (lower case), leaving out ``skip``."""
        user = self._tracker.macs.get(mac)
        return None if user == skip else user

    # --- lookups ------------------------------------------------------------

    def get_config_data(self) -> objects.ConfigData:
        """A copy of the whole document (costly on large clusters)."""
        with self._lock:
            return self._data.copy()

    def snapshot(self) -> objects.ConfigData:
        """A read-only view of the whole document, cheap at any size.

        Its sections are new mappings holding the stored objects
        themselves (the writer never changes a stored node or instance in
        place: it replaces it), so later changes do not show in it; the
        cluster is copied.  Callers must not change what it holds: take
        copies (``get_instance`` ...) to change anything.
        """
        with self._lock:
            view = copy.copy(self._data)
            for name in view.fields():
                value = getattr(view, name)
                if isinstance(value, dict):
                    setattr(view, name, dict(value))
            view.cluster = self._data.cluster.copy()
            return view

    def view_instances(self, names: Iterable[str]) -> list[objects.Instance]:
        """The stored instances called ``names`` (any case; unknown names
        left out), in that order: not copies, so read-only (queries over
        10,000 instances must not copy each one)."""
        with self._lock:
            found = (self._inst_key(name) for name in names)
            return [self._data.instances[key] for key in found
                    if key is not None]

    def view_nodes(self, names: Iterable[str]) -> list[objects.Node]:
        """Like :meth:`view_instances`, for nodes."""
        with self._lock:
            found = (self._node_key(name) for name in names)
            return [self._data.nodes[key] for key in found if key is not None]

    def get_serial_no(self) -> int:
        with self._lock:
            return self._data.serial_no

    def get_cluster(self) -> objects.Cluster:
        with self._lock:
            return self._data.cluster.copy()

    def get_master_node(self) -> str:
        with self._lock:
            return self._data.cluster.master_node

    def get_node(self, name: str) -> objects.Node | None:
        """A copy of the node called ``name`` (any case), or None."""
        with self._lock:
            key = self._node_key(name)
            return None if key is None else self._data.nodes[key].copy()

    def get_instance(self, name: str) -> objects.Instance | None:
        """A copy of the instance called ``name`` (any case), or None."""
        with self._lock:
            key = self._inst_key(name)
            return None if key is None else self._data.instances[key].copy()

    def get_node_by_uuid(self, uuid: str) -> objects.Node | None:
        with self._lock:
            name = self._node_uuids.get(uuid)
            return None if name is None else self._data.nodes[name].copy()

    def get_instance_by_uuid(self, uuid: str) -> objects.Instance | None:
        with self._lock:
            name = self._inst_uuids.get(uuid)
            return None if name is None else self._data.instances[name].copy()

    def node_names(self) -> list[str]:
        """All node names, nice-sorted (``node2`` before ``node10``)."""
        with self._lock:
            self._tracker.sync()
            return self._tracker.node_order.names()

    def instance_names(self) -> list[str]:
        """All instance names, nice-sorted."""
        with self._lock:
            self._tracker.sync()
            return self._tracker.inst_order.names()

    def _nodes_where(self, pred: Callable[[objects.Node], bool]
                     ) -> list[objects.Node]:
        with self._lock:
            nodes = self._data.nodes
            return [nodes[n].copy() for n in nice_sort(nodes) if pred(nodes[n])]

    def get_master_candidates(self) -> list[objects.Node]:
        """Copies of the nodes flagged master candidate (the master is
        one), nice-sorted by name."""
        return self._nodes_where(lambda n: n.master_candidate)

    def get_online_nodes(self) -> list[objects.Node]:
        """Copies of the nodes not marked offline, nice-sorted by name."""
        return self._nodes_where(lambda n: not n.offline)

    def get_node_instances(self, name: str) -> tuple[list[str], list[str]]:
        """Names of the instances with ``name`` as primary, and as
        secondary node (both nice-sorted)."""
        with self._lock:
            node = self._need_node(name).name
            primary = [i.name for i in self._data.instances.values()
                       if i.primary_node == node]
            secondary = [i.name for i in self._data.instances.values()
                         if node in i.secondary_nodes]
            return nice_sort(primary), nice_sort(secondary)

    def expand_node_name(self, name: str) -> str | None:
        """The full stored name for ``name``: exact, case-insensitive, or
        the unique name whose leading DNS labels are ``name``
        (``node1`` -> ``node1.example.com``).  None if there is no such
        node or the short name is ambiguous."""
        with self._lock:
            return self._node_names.expand(name)

    def expand_instance_name(self, name: str) -> str | None:
        """Like :meth:`expand_node_name`, for instances."""
        with self._lock:
            return self._inst_names.expand(name)

    def verify_config(self) -> list[str]:
        """Problems of the configuration, one line each (see
        :func:`ganeti.config.verify.verify_config`)."""
        with self._lock:
            return verify_config(self._data)

    # --- changes: nodes -----------------------------------------------------

    def add_node(self, node: objects.Node) -> None:
        """Add a new node.  Its name must be unused (case-insensitively),
        its UUID and IP addresses too.  Sets its serial number to 1 and its
        ctime/mtime to now, on ``node`` as well as in the config."""
        with self._lock:
            new = node.copy()
            if new.name in self._node_names:
                raise errors.OpPrereqError(
                    f"Node {new.name} is already in the configuration "
                    f"(as {self._node_names.lookup(new.name)})", EC.EXISTS)
            if self._uuid_used(new.uuid):
                raise errors.OpPrereqError(
                    f"UUID {new.uuid} of node {new.name} is already used",
                    EC.NOTUNIQUE)
            self._check_node_ips(new)
            new.group = self._resolve_group(new.group or None).uuid
            new.serial_no = 1
            new.ctime = new.mtime = objects.now()
            self._data.nodes[new.name] = new
            self._reindex()
            self._write()
            node.serial_no, node.ctime, node.mtime = 1, new.ctime, new.mtime
            node.group = new.group

    def _check_node_ips(self, node: objects.Node) -> None:
        mine = {node.primary_ip, node.secondary_ip}
        for other in self._data.nodes.values():
            if other.uuid == node.uuid:
                continue
            shared = mine & {other.primary_ip, other.secondary_ip}
            if shared:
                raise errors.OpPrereqError(
                    f"IP address {min(shared)} of node {node.name} is "
                    f"already used by node {other.name}", EC.NOTUNIQUE)

    def remove_node(self, name: str) -> None:
        """Remove a node.  Refused for the master node and for a node that
        instances still use."""
        with self._lock:
            node = self._need_node(name)
            if node.name == self._data.cluster.master_node:
                raise errors.OpPrereqError(
                    f"Node {node.name} is the master node and cannot be "
                    "removed", EC.STATE)
            users = [i.name for i in self._data.instances.values()
                     if node.name in i.all_nodes]
            if users:
                raise errors.OpPrereqError(
                    f"Node {node.name} is still used by instance(s) "
                    f"{', '.join(nice_sort(users))}", EC.STATE)
            del self._data.nodes[node.name]
            self._reindex()
            self._write()

    # --- changes: instances -------------------------------------------------

    def _check_instance(self, inst: objects.Instance,
                        previous: objects.Instance | None) -> None:
        """Checks of an added or updated instance against the config."""
        data = self._data
        for node in inst.all_nodes:
            if node not in data.nodes:
                raise errors.OpPrereqError(
                    f"Node {node} of instance {inst.name} is not in the "
                    "configuration", EC.NOENT)
        if inst.hypervisor not in data.cluster.enabled_hypervisors:
            raise errors.OpPrereqError(
                f"Hypervisor {inst.hypervisor} of instance {inst.name} is not"
                " enabled on the cluster", EC.STATE)
        skip = previous.name if previous else None
        seen: set[str] = set()
        for nic in inst.nics:
            mac = nic.mac.lower()
            owner = self._mac_user(mac, skip)
            if owner is not None or mac in seen:
                raise errors.OpPrereqError(
                    f"MAC address {nic.mac} of instance {inst.name} is "
                    f"already used by {owner or 'another of its NICs'}",
                    EC.NOTUNIQUE)
            seen.add(mac)
        if inst.network_port is not None:
            other = self._tracker.ports.get(inst.network_port)
            if other is not None and (previous is None
                                      or other != previous.name):
                raise errors.OpPrereqError(
                    f"Network port {inst.network_port} of instance "
                    f"{inst.name} is already used by {other}", EC.NOTUNIQUE)

    def _check_instance_params(self, inst: objects.Instance) -> None:
        cluster = self._data.cluster
        params.check_hv_params(inst.hypervisor, inst.hvparams,
                               level="instance")
        params.check_be_params(inst.beparams)
        for nic in inst.nics:
            params.check_nic_params(nic.nicparams)
            params.check_nic(cluster.fill_nic(nic.nicparams), nic.ip)
        for disk in inst.disks:
            params.check_disk_params(inst.disk_template, disk.params)

    def add_instance(self, inst: objects.Instance) -> None:
        """Add a new instance.

        Checked: the name is unused (case-insensitively), the UUIDs are
        new, the nodes exist, the hypervisor is enabled, the MAC addresses
        and network port are unused, and the parameters are valid
        (:mod:`ganeti.params`; raises :class:`errors.ParameterError`).
        Its MACs and IDs reserved in this process are released.  Sets its
        serial number to 1 and ctime/mtime to now (on ``inst`` too).
        """
        with self._lock:
            new = inst.copy()
            if new.name in self._inst_names:
                raise errors.OpPrereqError(
                    f"Instance {new.name} is already in the configuration "
                    f"(as {self._inst_names.lookup(new.name)})", EC.EXISTS)
            mine = [new.uuid, *(n.uuid for n in new.nics),
                    *(d.uuid for d in _walk_disks(new.disks))]
            clash = [u for u in mine if self._uuid_used(u)]
            if clash or len(set(mine)) != len(mine):
                raise errors.OpPrereqError(
                    f"Instance {new.name} reuses UUID "
                    f"{clash[0] if clash else 'among its own objects'}",
                    EC.NOTUNIQUE)
            self._check_instance(new, None)
            self._check_instance_params(new)
            new.serial_no = 1
            new.ctime = new.mtime = objects.now()
            self._data.instances[new.name] = new
            self._reindex()
            self._write()
            inst.serial_no, inst.ctime, inst.mtime = 1, new.ctime, new.mtime
            for nic in new.nics:
                self._reserved_macs.pop(nic.mac.lower(), None)
            for ident in self._all_ids_of(new):
                self._reserved_ids.pop(ident, None)

    @staticmethod
    def _all_ids_of(inst: objects.Instance) -> Iterable[str]:
        yield inst.uuid
        for disk in _walk_disks(inst.disks):
            yield disk.uuid
            for value in (*disk.logical_id, *disk.physical_id):
                if isinstance(value, str):
                    yield value

    def remove_instance(self, name: str) -> None:
        """Remove an instance; its network port and its DRBD disks' ports
        return to the cluster's free port pool (its DRBD minors are free
        with it)."""
        with self._lock:
            inst = self._need_instance(name)
            del self._data.instances[inst.name]
            ports = {int(d.logical_id[2]) for d in _walk_disks(inst.disks)
                     if d.dev_type == constants.LD_DRBD8
                     and len(d.logical_id) == 6}
            if inst.network_port is not None:
                ports.add(inst.network_port)
            if ports:
                self._return_ports(ports)
            self._reindex()
            self._write()

    def rename_instance(self, old: str, new: str) -> None:
        """Rename an instance.  File-based disks whose path has a directory
        named after the instance are moved to the new name's directory (the
        node renames the directory itself)."""
        with self._lock:
            inst = self._need_instance(old)
            other = self._inst_names.lookup(new)
            if other is not None and other != inst.name:
                raise errors.OpPrereqError(
                    f"Instance {new} is already in the configuration",
                    EC.EXISTS)
            renamed = inst.copy()
            renamed.name = new
            renamed.validate()
            for disk in _walk_disks(renamed.disks):
                if disk.dev_type == constants.LD_FILE:
                    disk.logical_id = _rename_path(disk.logical_id,
                                                   inst.name, new)
                    disk.physical_id = _rename_path(disk.physical_id,
                                                    inst.name, new)
            self._bump(renamed)
            del self._data.instances[inst.name]
            self._data.instances[new] = renamed
            self._reindex()
            self._write()

    def set_instance_admin_up(self, name: str, up: bool) -> None:
        """Record whether the instance should run; writes only on change."""
        with self._lock:
            inst = self._need_instance(name)
            if inst.admin_up == up:
                return
            changed = inst.copy()
            changed.admin_up = up
            self._bump(changed)
            self._data.instances[inst.name] = changed
            self._write()

    @staticmethod
    def _bump(obj: _Obj) -> None:
        obj.serial_no += 1
        obj.mtime = objects.now()

    # --- changes: update ----------------------------------------------------

    def update(self, obj: _Obj) -> None:
        """Store a changed copy of the cluster, a node, an instance or a
        node group.

        ``obj`` must be a copy of an object of this configuration (same
        name and UUID) that is still current (same ``serial_no``);
        anything else is :class:`errors.ProgrammerError`.  Renames go
        through :meth:`rename_instance`.  On success the serial number and
        mtime of ``obj`` (and of the configuration) are incremented.
        Tags are changed the same way: ``add_tag``/``remove_tag`` on the
        copy, then ``update``.
        """
        with self._lock:
            data = self._data
            current: _Obj | None
            if isinstance(obj, objects.NodeGroup):
                current = data.nodegroups.get(obj.uuid)
                kind, name = "Node group", obj.name
            elif isinstance(obj, objects.Cluster):
                current = data.cluster
                kind, name = "Cluster", obj.cluster_name
            elif isinstance(obj, objects.Node):
                current = data.nodes.get(obj.name)
                kind, name = "Node", obj.name
            elif isinstance(obj, objects.Instance):
                current = data.instances.get(obj.name)
                kind, name = "Instance", obj.name
            else:
                raise errors.ProgrammerError(
                    f"Cannot update objects of type {type(obj).__name__} in "
                    "the configuration")
            if current is None or current.uuid != obj.uuid:
                raise errors.ProgrammerError(
                    f"{kind} {name} (UUID {obj.uuid}) is not part of this "
                    "configuration")
            if current.serial_no != obj.serial_no:
                raise errors.ProgrammerError(
                    f"{kind} {name} was changed since this copy was read "
                    f"(serial {obj.serial_no}, now {current.serial_no}); "
                    "read it again and redo the change")
            new = obj.copy()
            if isinstance(new, objects.NodeGroup):
                assert isinstance(current, objects.NodeGroup)
                if new.name != current.name:
                    raise errors.ProgrammerError(
                        "Group renames go through rename_nodegroup")
                check_group_params(new)
            elif isinstance(new, objects.Cluster):
                if new.master_node not in data.nodes:
                    raise errors.OpPrereqError(
                        f"Master node {new.master_node} is not in the "
                        "configuration", EC.NOENT)
            elif isinstance(new, objects.Node):
                self._check_node_ips(new)
                if new.group not in data.nodegroups:
                    raise errors.OpPrereqError(
                        f"Node group {new.group} of node {new.name} is not "
                        "in the configuration", EC.NOENT)
            else:
                assert isinstance(current, objects.Instance)
                self._check_instance(new, current)
            self._bump(new)
            if isinstance(new, objects.NodeGroup):
                data.nodegroups[new.uuid] = new
            elif isinstance(new, objects.Cluster):
                data.cluster = new
            elif isinstance(new, objects.Node):
                data.nodes[new.name] = new
            else:
                data.instances[new.name] = new
            self._write()
            obj.serial_no, obj.mtime = new.serial_no, new.mtime


def _rename_path(ident: list[object], old: str, new: str) -> list[object]:
    """Replace a path component ``old`` by ``new`` in a file disk's id
    (``[driver, path]``)."""
    if len(ident) < 2 or not isinstance(ident[1], str):
        return ident
    parts = ident[1].split("/")
    if old not in parts[:-1]:
        return ident
    parts = [new if p == old else p for p in parts[:-1]] + parts[-1:]
    return [ident[0], "/".join(parts), *ident[2:]]


def initialize(path: str, cluster: objects.Cluster, master: objects.Node, *,
               lock_file: str | None = None,
               rng: random.Random | None = None) -> ConfigWriter:
    """Create a new configuration with ``master`` as its only node.

    Refuses to overwrite an existing file.  The cluster's parameter
    defaults are completed (``upgrade_defaults``) and the result must pass
    :func:`verify_config`.  Returns a writer holding the config lock.
    """
    lock_path = lock_file or _default_lock_file(path, path)
    lock = _take_file_lock(path, lock_path, 0.0)
    try:
        if os.path.exists(path):
            raise errors.ConfigurationError(
                f"Cluster configuration {path} already exists; refusing to "
                "overwrite it", EC.EXISTS)
        if cluster.master_node != master.name:
            raise errors.OpPrereqError(
                f"Cluster master node {cluster.master_node} is not the given"
                f" master {master.name}", EC.INVAL)
        cluster = cluster.copy()
        master = master.copy()
        cluster.upgrade_defaults()
        master.master_candidate = True
        master.offline = master.drained = False
        group = objects.NodeGroup(name=constants.INITIAL_NODE_GROUP_NAME)
        master.group = group.uuid
        data = objects.ConfigData(cluster=cluster,
                                  nodes={master.name: master},
                                  nodegroups={group.uuid: group}, serial_no=1)
        problems = verify_config(data)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 \
                else ""
            raise errors.ConfigurationError(
                f"Invalid initial configuration: {problems[0]}{more}",
                EC.INVAL)
        journal.write_base(path, serializer.dumps(data.to_dict()),
                           CONFIG_FILE_MODE)
    except BaseException:
        lock.close()
        raise
    return ConfigWriter(path, rng=rng, file_lock=lock)


__all__ = ["CONFIG_FILE_MODE", "ConfigWriter", "WriteHook",
           "decode_config", "initialize", "read_config"]
