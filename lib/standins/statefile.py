"""The state file of a stand-in: one JSON document in a directory,
changed under an exclusive lock (several node daemons, on one machine,
may run commands at once) and replaced atomically when it changed."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
from collections.abc import Iterator
from typing import Any, Final

STATE_FILE: Final = "state.json"


@contextlib.contextmanager
def locked_state(state_dir: str, default: dict[str, Any]
                 ) -> Iterator[dict[str, Any]]:
    """The state of ``state_dir`` (``default`` when there is none yet),
    locked while the block runs; written back when the block changed it
    and did not raise."""
    os.makedirs(state_dir, mode=0o750, exist_ok=True)
    path = os.path.join(state_dir, STATE_FILE)
    with open(os.path.join(state_dir, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            state = copy.deepcopy(default)
        before = json.dumps(state, sort_keys=True)
        yield state
        if json.dumps(state, sort_keys=True) != before:
            tmp = path + ".new"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(state, handle, sort_keys=True)
            os.replace(tmp, path)
