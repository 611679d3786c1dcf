"""The cluster configuration, as the master daemon owns it.

- :class:`ConfigWriter` (:mod:`ganeti.config.writer`): loads
  ``config.data``, answers lookups with copies, applies changes, records
  each change durably (a journal entry) and runs the write hooks.
- :func:`initialize`: creates the configuration of a new cluster.
- :func:`verify_config` (:mod:`ganeti.config.verify`): every consistency
  problem of a configuration document, one line each.
- :class:`NameIndex` (:mod:`ganeti.config.names`): case-insensitive names
  and short-name expansion.
- :class:`DocumentEncoder` (:mod:`ganeti.config.document`): incremental
  encoding, so that a compaction re-encodes only the objects that changed.
- :mod:`ganeti.config.journal`: the changes appended beside
  ``config.data`` since its last compaction; every reader of the file
  goes through :func:`ganeti.config.journal.read_document` (or
  :func:`read_config`).
- :class:`~ganeti.config.tracker.ChangeTracker`: what changed since the
  last write (by identity), and the indexes kept up to date from it.
"""

from __future__ import annotations

from ganeti.config import journal
from ganeti.config.document import DocumentEncoder
from ganeti.config.names import NameIndex
from ganeti.config.verify import verify_config
from ganeti.config.writer import (
    CONFIG_FILE_MODE,
    ConfigWriter,
    WriteHook,
    decode_config,
    initialize,
    read_config,
)

__all__ = ["CONFIG_FILE_MODE", "ConfigWriter", "DocumentEncoder", "NameIndex",
           "WriteHook", "decode_config", "initialize", "journal",
           "read_config", "verify_config"]
