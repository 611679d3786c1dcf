"""Node-level calls: version, test delay, the watcher's pause file."""

from __future__ import annotations

import time

from ganeti import constants, pathutils
from ganeti.backend import handler
from ganeti.utils import io


@handler("version")
def version() -> int:
    return constants.PROTOCOL_VERSION


@handler("test_delay")
def test_delay(duration: float) -> None:
    time.sleep(duration)


@handler("set_watcher_pause")
def set_watcher_pause(until: float | None) -> None:
    """The pause file every node's watcher reads (ganeti-watcher(8))."""
    path = pathutils.get().watcher_pause_file
    if until is None:
        io.remove_file(path)
    else:
        io.write_file_atomic(path, f"{int(until)}\n", mode=0o644)
