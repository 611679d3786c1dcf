"""File watching: inotify (when pyinotify imports) and the polling fallback."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from testkit import WAIT

from ganeti.utils import filewatch, io


@pytest.mark.parametrize("use_inotify", [True, False])
def test_change_replace_and_remove_are_seen(tmp_path: Path,
                                            use_inotify: bool) -> None:
    if use_inotify and filewatch.pyinotify is None:
        pytest.skip("pyinotify does not import on this Python")
    path = tmp_path / "users"
    path.write_text("a\n")
    seen = threading.Event()
    watcher = filewatch.FileWatcher(str(path), seen.set, interval=0.01,
                                    use_inotify=use_inotify).start()
    try:
        assert watcher.uses_inotify is use_inotify
        io.write_file_atomic(str(path), "b\n")  # replaced by rename
        assert seen.wait(WAIT)
        seen.clear()
        path.unlink()
        assert seen.wait(WAIT)
        seen.clear()
        path.write_text("c\n")
        assert seen.wait(WAIT)
    finally:
        watcher.stop()


def test_other_files_do_not_trigger(tmp_path: Path) -> None:
    if filewatch.pyinotify is None:
        pytest.skip("pyinotify does not import on this Python")
    seen = threading.Event()
    marker = threading.Event()
    watcher = filewatch.FileWatcher(str(tmp_path / "users"), seen.set).start()
    other = filewatch.FileWatcher(str(tmp_path / "marker"), marker.set).start()
    try:
        (tmp_path / "unrelated").write_text("x")
        (tmp_path / "marker").write_text("x")
        assert marker.wait(WAIT)  # events are delivered in order
        assert not seen.is_set()
    finally:
        watcher.stop()
        other.stop()


def test_callback_errors_do_not_stop_watching(tmp_path: Path) -> None:
    path = tmp_path / "f"
    first = threading.Event()
    second = threading.Event()

    def callback() -> None:
        (second if first.is_set() else first).set()
        raise RuntimeError("a buggy callback")

    watcher = filewatch.FileWatcher(str(path), callback, interval=0.01,
                                    use_inotify=False).start()
    try:
        path.write_text("1")
        assert first.wait(WAIT)
        path.write_text("22")
        assert second.wait(WAIT)
    finally:
        watcher.stop()


def test_signature() -> None:
    assert filewatch.signature("/nonexistent/x") is None
