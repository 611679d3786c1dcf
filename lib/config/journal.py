"""The configuration journal: changes appended beside ``config.data``.

``config.data`` is a complete configuration document as of some serial
number (the *base*); ``config.data.journal`` beside it holds the changes
made since, one line each, in serial order.  A change costs one appended
line and one fsync instead of a rewrite of the whole document; when the
journal has grown as large as the base, the writer *compacts*: it
writes the whole document to ``config.data`` (atomically) and empties
the journal.  See ``doc/design/config-journal.rst``.

An entry is one compact JSON object on one line::

    {"serial": 42, "set": {"serial_no": 42, "mtime": ..., "cluster": {...}},
     "items": {"instances": {"inst1": {...}, "gone": null}}}

``set`` replaces top-level fields of the document; ``items`` replaces
(or, with ``null``, removes) single objects of the sections (the
top-level mappings of named objects: ``nodes``, ``instances``, and any
the schema adds).  Entries are generic over the objects: the journal
never needs to know their fields.

Reading (:func:`read_document`) applies to the base the entries that
follow its serial number, in order; entries at or below it are left
over from before a compaction (a crash between writing the base and
emptying the journal) and skipped.  The journal ends at the first line
that is not a complete entry (a crash in the middle of an append: that
change was never acknowledged) or that does not follow the previous
serial (a journal that belongs to another base).

Compaction is deterministic: :func:`should_compact` depends only on the
sizes of the two files, so a master candidate that appends the same
entries to the same base compacts at the same points and holds files
identical to the master's (``gnt-cluster verify`` compares checksums).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any, Final

from ganeti import errors, serializer
from ganeti.utils import io

#: Suffix of the journal file beside the config file.
JOURNAL_SUFFIX: Final = ".journal"
#: The journal is compacted once it reaches the base's size, and never
#: below this many bytes (small clusters would compact at every change).
MIN_COMPACT_BYTES: Final = 256 * 1024
#: Mode of the journal: like ``config.data``, it holds secrets.
JOURNAL_MODE: Final = 0o600

_LOG = logging.getLogger(__name__)

Entry = dict[str, Any]


def journal_path(path: str) -> str:
    """The journal of the config file ``path``."""
    return path + JOURNAL_SUFFIX


def should_compact(base_size: int, journal_size: int) -> bool:
    """Whether a journal of ``journal_size`` bytes beside a base of
    ``base_size`` bytes is due for compaction."""
    return journal_size >= max(base_size, MIN_COMPACT_BYTES)


def encode_entry(entry: Entry) -> bytes:
    """One journal line (with its newline)."""
    return serializer.dumps(entry) + b"\n"


def parse_entries(raw: bytes) -> tuple[list[Entry], int]:
    """The complete entries at the start of ``raw`` and the number of
    bytes they take; a torn or corrupt line ends the journal."""
    entries: list[Entry] = []
    used = 0
    while used < len(raw):
        end = raw.find(b"\n", used)
        if end < 0:
            break
        try:
            entry = serializer.loads(raw[used:end])
        except errors.ProtocolError:
            break
        if not isinstance(entry, dict) or \
                not isinstance(entry.get("serial"), int):
            break
        entries.append(entry)
        used = end + 1
    return entries, used


def read_entries(path: str) -> tuple[list[Entry], int]:
    """The entries of the journal of ``path`` (none if it is missing)."""
    try:
        raw = io.read_bytes(journal_path(path))
    except errors.GenericError:
        if os.path.exists(journal_path(path)):
            raise
        return [], 0
    return parse_entries(raw)


def apply_entry(doc: dict[str, Any], entry: Entry) -> None:
    """Apply one entry to a config document (a dict, changed in place)."""
    for key, value in entry.get("set", {}).items():
        doc[key] = value
    for section, items in entry.get("items", {}).items():
        table = doc.setdefault(section, {})
        for name, value in items.items():
            if value is None:
                table.pop(name, None)
            else:
                table[name] = value


def apply_entries(doc: dict[str, Any], entries: Iterable[Entry]) -> int:
    """Apply the entries that follow the document's serial number; the
    number applied.  Stops at a gap (see the module doc)."""
    applied = 0
    for entry in entries:
        serial = doc.get("serial_no")
        if not isinstance(serial, int) or entry["serial"] <= serial:
            continue
        if entry["serial"] != serial + 1:
            _LOG.warning("Configuration journal jumps from serial %s to %s;"
                         " ignoring the rest", serial, entry["serial"])
            break
        apply_entry(doc, entry)
        applied += 1
    return applied


def _decode_base(path: str, raw: bytes) -> Any:
    try:
        return serializer.loads(raw)
    except errors.ProtocolError as err:
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is corrupt: {err}") from None


def load_document(path: str, raw: bytes) -> Any:
    """Decode the base ``raw`` of ``path`` and apply its journal."""
    doc = _decode_base(path, raw)
    if isinstance(doc, dict):
        entries, _ = read_entries(path)
        apply_entries(doc, entries)
    return doc


def read_document(path: str) -> Any:
    """The complete configuration document of ``path``: the base with its
    journal applied (what every reader of ``config.data`` must use)."""
    return load_document(path, io.read_bytes(path))


def signature(path: str) -> tuple[object, ...]:
    """Changes whenever the document of ``path`` may have changed (the
    identity, size and time of both files)."""
    sig: list[object] = []
    for name in (path, journal_path(path)):
        try:
            st = os.stat(name)
        except OSError:
            sig.append(None)
            continue
        sig.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(sig)


def append(path: str, lines: Iterable[bytes]) -> int:
    """Append ``lines`` to the journal of ``path`` and fsync it; the new
    size of the journal."""
    name = journal_path(path)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                     JOURNAL_MODE)
        try:
            for line in lines:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    except OSError as err:
        raise errors.OpExecError(
            f"Cannot append to {name}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None


def truncate(path: str, size: int) -> None:
    """Cut the journal of ``path`` to ``size`` bytes (a torn tail)."""
    fd = os.open(journal_path(path), os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_base(path: str, payload: bytes, mode: int) -> None:
    """Compaction: write the whole document ``payload`` as the base, then
    empty the journal.  A crash between the two leaves a journal whose
    entries the new base already holds (skipped on reading)."""
    io.write_file_atomic(path, payload, mode=mode)
    io.write_file_atomic(journal_path(path), b"", mode=JOURNAL_MODE)


def compact_file(path: str, mode: int) -> int:
    """Compact the files of ``path`` as they are (a candidate's copy);
    the serial number of the document."""
    doc = read_document(path)
    if not isinstance(doc, dict):
        raise errors.ConfigurationError(
            f"Cluster configuration {path} is not a JSON object")
    write_base(path, serializer.dumps(doc), mode)
    serial = doc.get("serial_no")
    return serial if isinstance(serial, int) else 0


class Replica:
    """A master candidate's copy of the files, kept current by journal
    lines from the master (the node daemon's ``config_journal_append``).

    Lines are appended exactly as the master appended them, and the copy
    is compacted at the same points (:func:`should_compact`), so the
    files stay identical to the master's.  The serial number of the copy
    is cached by the files' :func:`signature` (parsing the whole document
    happens only when someone else changed the files: a full upload).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._serial = 0
        self._good = 0

    def _load(self, path: str) -> None:
        key = signature(path)
        if key == self._key:
            return
        try:
            base = io.read_bytes(path)
            doc = serializer.loads(base)
        except errors.GenericError as err:
            raise errors.ConfigurationError(
                f"Cannot read the configuration {path}: {err}") from None
        if not isinstance(doc, dict) or \
                not isinstance(doc.get("serial_no"), int):
            raise errors.ConfigurationError(
                f"Cluster configuration {path} is corrupt")
        entries, good = read_entries(path)
        apply_entries(doc, entries)
        self._key, self._serial, self._good = key, doc["serial_no"], good

    def append(self, path: str, lines: list[bytes], mode: int) -> int:
        """Apply the master's journal ``lines``; the serial number after.

        Lines at or below the copy's serial are skipped (sent twice); a
        line that does not follow it is
        :class:`errors.ConfigurationError`: the copy is behind (or of
        another history) and needs the whole files.
        """
        with self._lock:
            self._load(path)
            serial = self._serial
            todo: list[tuple[int, bytes]] = []
            for line in lines:
                entries, used = parse_entries(line)
                if len(entries) != 1 or used != len(line):
                    raise errors.ConfigurationError(
                        "Not one configuration journal entry per line")
                number = entries[0]["serial"]
                if number <= serial:
                    continue
                if number != serial + 1:
                    raise errors.ConfigurationError(
                        f"Configuration copy is at serial {self._serial}, "
                        f"the journal sent starts at {number}: it needs "
                        "the whole configuration", errors.ErrorCode.STATE)
                todo.append((number, line))
                serial = number
            if not todo:
                return self._serial
            size = os.path.getsize(journal_path(path)) \
                if os.path.exists(journal_path(path)) else 0
            if size != self._good:  # a torn tail: never acknowledged
                truncate(path, self._good)
                size = self._good
            base_size = os.path.getsize(path)
            pending: list[bytes] = []
            for _, line in todo:
                pending.append(line)
                size += len(line)
                if should_compact(base_size, size):
                    append(path, pending)
                    pending = []
                    compact_file(path, mode)
                    base_size, size = os.path.getsize(path), 0
            if pending:
                size = append(path, pending)
            self._serial, self._good = serial, size
            self._key = signature(path)
            return serial


class _SerialState:
    """How far :func:`read_serial` has read the files of one path."""

    __slots__ = ("base", "base_serial", "journal", "offset", "serial",
                 "stopped")

    def __init__(self, base: tuple[int, int, int], base_serial: int | None
                 ) -> None:
        #: (inode, size, mtime) of the base this state belongs to.
        self.base = base
        self.base_serial = base_serial
        #: Inode of the journal read so far, and the bytes of complete
        #: entries read from it.
        self.journal: int | None = None
        self.offset = 0
        self.serial = base_serial
        #: A gap was met: later entries are ignored (as apply_entries).
        self.stopped = False

    def restart(self, journal: int | None) -> None:
        self.journal = journal
        self.offset = 0
        self.serial = self.base_serial
        self.stopped = False

    def follow(self, entries: Iterable[Entry]) -> None:
        """Advance the serial over ``entries`` as :func:`apply_entries`
        advances a document's."""
        for entry in entries:
            if self.stopped or not isinstance(self.serial, int):
                return
            if entry["serial"] <= self.serial:
                continue
            if entry["serial"] != self.serial + 1:
                self.stopped = True
                return
            self.serial = entry["serial"]


_serial_lock = threading.Lock()
_serial_states: dict[str, _SerialState] = {}


def read_serial(path: str) -> int | None:
    """The ``serial_no`` of the document of ``path`` (what
    :func:`read_document` would return), without decoding the whole
    document each time: the base is decoded once per compaction (its
    identity, size and time tell), and the journal is read from where the
    previous call stopped.  None when the base is missing or has no
    serial; other errors as :func:`read_document`'s.

    A master candidate answers ``replica_state`` with it, and the master
    describes its own replica with it at every ``gnt-cluster verify``:
    decoding 5 MB of configuration for one number (10,000 instances) cost
    the master, and each candidate at once, half a second of CPU time.
    """
    st = os.stat(path)
    base = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _serial_lock:
        state = _serial_states.get(path)
        if state is None or state.base != base:
            doc = _decode_base(path, io.read_bytes(path))
            serial = doc.get("serial_no") if isinstance(doc, dict) else None
            state = _SerialState(base, serial if isinstance(serial, int)
                                 else None)
            _serial_states[path] = state
        try:
            jst = os.stat(journal_path(path))
        except FileNotFoundError:
            state.restart(None)
            return state.serial
        if jst.st_ino != state.journal or jst.st_size < state.offset:
            state.restart(jst.st_ino)
        if not state.stopped and jst.st_size > state.offset:
            with open(journal_path(path), "rb") as handle:
                handle.seek(state.offset)
                entries, used = parse_entries(handle.read())
            state.follow(entries)
            state.offset += used
        return state.serial
