"""The watcher's persistent state and the pause file.

The state file (``<data dir>/watcher.data``, JSON) remembers between two
runs, on the master:

- per instance, how often the watcher tried to start it since it last
  saw it running (``restart_count``) and when it last tried; at
  :data:`MAX_RESTARTS` it gives up (and says so once);
- per node, the boot id it last reported, so that a reboot (a new boot
  id) is noticed and the disks of that node's instances re-activated.

It is written crash-safely (temporary file, fsync, rename) at the end of
each run; a missing or unreadable file is an empty state (logged), never
an error: the worst outcome is that counting starts again.

The pause file (``<data dir>/watcher.pause``) holds one number, the end
of the pause as seconds since the epoch (what ``gnt-cluster watcher
pause`` writes through the master daemon).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final

from ganeti import pathutils
from ganeti.utils import io

#: Start attempts before the watcher gives up on an instance (Ganeti's 5).
MAX_RESTARTS: Final = 5

_KEY_INSTANCES: Final = "instance"
_KEY_NODES: Final = "node"
_KEY_COUNT: Final = "restart_count"
_KEY_WHEN: Final = "restart_when"
_KEY_BOOTID: Final = "bootid"


class WatcherState:
    """Restart counts per instance and boot ids per node."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self._instances: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in (data.get(_KEY_INSTANCES) or {}).items()
            if isinstance(v, dict)}
        self._nodes: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in (data.get(_KEY_NODES) or {}).items()
            if isinstance(v, dict)}

    @classmethod
    def load(cls, path: str | None = None) -> WatcherState:
        path = path or pathutils.get().watcher_state_file
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as err:
            logging.warning("Cannot read the watcher state %s (%s); starting"
                            " with an empty one", path, err)
            return cls()
        if not isinstance(data, dict):
            logging.warning("Ignoring malformed watcher state %s", path)
            return cls()
        return cls(data)

    def save(self, path: str | None = None) -> None:
        path = path or pathutils.get().watcher_state_file
        io.write_file_atomic(path, json.dumps(self.to_dict(), sort_keys=True,
                                              indent=1) + "\n", mode=0o644)

    def to_dict(self) -> dict[str, Any]:
        return {_KEY_INSTANCES: self._instances, _KEY_NODES: self._nodes}

    # --- instances ----------------------------------------------------------

    def restart_count(self, name: str) -> int:
        return int(self._instances.get(name, {}).get(_KEY_COUNT, 0))

    def record_restart(self, name: str, now: float | None = None) -> int:
        """Count one more start attempt; returns the new count."""
        entry = self._instances.setdefault(name, {})
        entry[_KEY_COUNT] = int(entry.get(_KEY_COUNT, 0)) + 1
        entry[_KEY_WHEN] = time.time() if now is None else now
        return int(entry[_KEY_COUNT])

    def forget_instance(self, name: str) -> bool:
        """Reset an instance's count (it runs again); True if it had one."""
        return self._instances.pop(name, None) is not None

    def prune_instances(self, known: set[str]) -> None:
        """Drop entries of instances that no longer exist."""
        for name in [n for n in self._instances if n not in known]:
            del self._instances[name]

    # --- nodes --------------------------------------------------------------

    def node_boot_id(self, name: str) -> str | None:
        value = self._nodes.get(name, {}).get(_KEY_BOOTID)
        return str(value) if value else None

    def set_node_boot_id(self, name: str, boot_id: str) -> None:
        self._nodes.setdefault(name, {})[_KEY_BOOTID] = boot_id

    def prune_nodes(self, known: set[str]) -> None:
        for name in [n for n in self._nodes if n not in known]:
            del self._nodes[name]


def pause_end(path: str | None = None) -> float | None:
    """The end of the pause in the pause file, or None (no valid file)."""
    path = path or pathutils.get().watcher_pause_file
    try:
        with open(path, encoding="ascii") as handle:
            return float(handle.read().strip())
    except (OSError, ValueError):
        return None


def paused_until(now: float | None = None, path: str | None = None
                 ) -> float | None:
    """The end of a pause still in force, else None."""
    end = pause_end(path)
    if end is None or end <= (time.time() if now is None else now):
        return None
    return end
