"""Watching a file for changes, with pyinotify where it works.

pyinotify imports ``asyncore``, which Python 3.12 removed; this module is
the only place that imports it.  :class:`FileWatcher` uses inotify through
pyinotify when the import succeeds and falls back to comparing the file's
``(st_ino, st_mtime_ns, st_size)`` at a fixed interval otherwise, so the
project runs unchanged on 3.12 and later.  Either way the callback runs in
a background thread when the file is created, written, replaced (renamed
over, as atomic writes do) or removed.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)


def _load_pyinotify() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import pyinotify  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # ImportError, or asyncore missing (3.12+)
        return None
    return pyinotify


pyinotify = _load_pyinotify()

#: Signature of a file: None when the file does not exist.
Signature = tuple[int, int, int] | None


def signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class FileWatcher:
    """Calls ``callback()`` after ``path`` changes; :meth:`stop` ends it.

    ``use_inotify=False`` forces the polling fallback (tests use it to
    cover both paths).  Changes are coalesced: a burst of events gives at
    least one callback after the last of them.
    """

    def __init__(self, path: str, callback: Callable[[], None], *,
                 interval: float = 1.0, use_inotify: bool | None = None) -> None:
        self.path = os.path.abspath(path)
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._notifier: Any = None
        if use_inotify is None:
            use_inotify = pyinotify is not None
        self.uses_inotify = bool(use_inotify and pyinotify is not None)
        self._thread: threading.Thread | None = None
        self._last: Signature = None

    def start(self) -> FileWatcher:
        if self.uses_inotify:
            self._start_inotify()
        else:
            # The baseline is taken here, not in the thread: a change made
            # right after start() returns must be seen.
            self._last = signature(self.path)
            self._thread = threading.Thread(target=self._poll, daemon=True,
                                            name=f"watch:{self.path}")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _fire(self) -> None:
        try:
            self.callback()
        except Exception:  # a callback bug must not end the watching
            _log.exception("File watch callback for %s failed", self.path)

    # --- polling fallback ---------------------------------------------------

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            current = signature(self.path)
            if current != self._last:
                self._last = current
                self._fire()

    # --- inotify ----------------------------------------------------------------

    def _start_inotify(self) -> None:
        assert pyinotify is not None
        directory, name = os.path.split(self.path)
        wm = pyinotify.WatchManager()
        mask = (pyinotify.IN_CLOSE_WRITE | pyinotify.IN_MOVED_TO
                | pyinotify.IN_DELETE | pyinotify.IN_CREATE
                | pyinotify.IN_MOVED_FROM)
        watcher = self

        class Handler(pyinotify.ProcessEvent):  # type: ignore[misc,name-defined,unused-ignore]
            def process_default(self, event: Any) -> None:
                if event.name == name:
                    watcher._fire()

        notifier = pyinotify.ThreadedNotifier(wm, Handler())
        notifier.daemon = True
        notifier.start()
        wm.add_watch(directory, mask)
        self._notifier = notifier
