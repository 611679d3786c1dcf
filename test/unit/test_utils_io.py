"""Tests for ganeti.utils.io: atomic writes (including kill -9 safety),
reads, directories, removal, checksums."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest
from testkit import run_unprivileged

from ganeti import errors
from ganeti.utils import io

PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pylib")


def _mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_creates_file_with_mode(tmp_path):
    target = str(tmp_path / "config.data")
    io.write_file_atomic(target, b"hello", mode=0o640)
    assert io.read_bytes(target) == b"hello"
    assert _mode(target) == 0o640


def test_write_replaces_and_resets_mode(tmp_path):
    target = tmp_path / "f"
    target.write_text("old")
    os.chmod(target, 0o666)
    io.write_file_atomic(str(target), "new ü")
    assert io.read_file(str(target)) == "new ü"
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_write_without_fsync(tmp_path):
    target = str(tmp_path / "f")
    io.write_file_atomic(target, b"x" * 100000, fsync=False)
    assert len(io.read_bytes(target)) == 100000


def test_write_empty_data(tmp_path):
    target = str(tmp_path / "empty")
    io.write_file_atomic(target, b"")
    assert io.read_bytes(target) == b""


def test_write_chown_to_self(tmp_path):
    target = str(tmp_path / "owned")
    io.write_file_atomic(target, "x", uid=os.getuid(), gid=os.getgid())
    info = os.stat(target)
    assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())


def test_write_into_missing_directory_fails_cleanly(tmp_path):
    target = str(tmp_path / "nodir" / "f")
    with pytest.raises(errors.OpExecError) as info:
        io.write_file_atomic(target, b"x")
    assert info.value.code == errors.ErrorCode.ENVIRON
    assert target in str(info.value)
    assert "\n" not in str(info.value)


def test_failed_replace_removes_temp_file(tmp_path):
    # The target is a non-empty directory: os.replace fails after the temp
    # file was written, and the temp file must be cleaned up.
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(errors.OpExecError, match="occupied"):
        io.write_file_atomic(str(target), b"data")
    assert sorted(os.listdir(tmp_path)) == ["occupied"]


def test_failed_chown_removes_temp_file(tmp_path):
    def attempt(directory: str) -> None:
        with pytest.raises(errors.OpExecError, match="f"):
            io.write_file_atomic(os.path.join(directory, "f"), b"data", uid=0)
        assert os.listdir(directory) == []

    if os.getuid() == 0:
        # Root may chown to anyone: fail as a user who may not.
        run_unprivileged(attempt)
    else:
        attempt(str(tmp_path))


def test_write_rejects_bad_data_type(tmp_path):
    with pytest.raises(errors.ProgrammerError, match="bytes or str"):
        io.write_file_atomic(str(tmp_path / "f"), 42)  # type: ignore[arg-type]
    with pytest.raises(errors.ProgrammerError):
        io.write_file_atomic("", b"x")


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from ganeti.utils import io

    def content(i):
        body = (f"version {i} " * 20000).encode()
        return f"{i}:{len(body)}:".encode() + body + b":end"

    target = sys.argv[2]
    i = 0
    while True:
        i += 1
        io.write_file_atomic(target, content(i), fsync=(i % 2 == 0))
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
""")


def _check_complete(data: bytes) -> int:
    version, length, rest = data.split(b":", 2)
    body = (f"version {int(version)} " * 20000).encode()
    assert int(length) == len(body)
    assert rest == body + b":end"
    return int(version)


@pytest.mark.parametrize("kill_after", [1, 2, 5, 11, 23])
def test_kill_9_leaves_a_complete_version(tmp_path, kill_after):
    target = tmp_path / "state"
    io.write_file_atomic(str(target), b"0:0::end")
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), PYLIB, str(target)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for _ in range(kill_after):
            line = proc.stdout.readline()
            assert line, "writer died early"
        written = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    version = _check_complete(target.read_bytes())
    # The child reported `written` done and may have finished more since.
    assert version >= written
    leftovers = set(os.listdir(tmp_path)) - {"state", "writer.py"}
    assert all(name.startswith(".state.tmp") for name in leftovers)


def test_read_file_and_size(tmp_path):
    path = tmp_path / "t"
    path.write_text("abcdef")
    assert io.read_file(str(path)) == "abcdef"
    assert io.read_file(str(path), size=3) == "abc"
    assert io.read_bytes(str(path)) == b"abcdef"


def test_read_missing_file(tmp_path):
    missing = str(tmp_path / "missing")
    for fn in (io.read_file, io.read_bytes):
        with pytest.raises(errors.OpExecError, match="missing"):
            fn(missing)


def test_read_file_invalid_utf8(tmp_path):
    path = tmp_path / "bin"
    path.write_bytes(b"ok\xff")
    with pytest.raises(errors.OpExecError, match="UTF-8"):
        io.read_file(str(path))


def test_ensure_dirs_creates_and_fixes_mode(tmp_path):
    new = tmp_path / "new"
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o777)
    os.chmod(existing, 0o777)
    io.ensure_dirs([(str(new), 0o750), (str(existing), 0o700)])
    assert new.is_dir() and _mode(new) == 0o750
    assert _mode(existing) == 0o700
    io.ensure_dirs([(str(new), 0o750)])  # idempotent
    assert _mode(new) == 0o750


def test_ensure_dirs_rejects_file_in_the_way(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(errors.OpExecError, match="not a directory"):
        io.ensure_dirs([(str(blocker), 0o755)])


def test_ensure_dirs_rejects_symlink_in_the_way(tmp_path):
    (tmp_path / "real").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    with pytest.raises(errors.OpExecError, match="not a directory"):
        io.ensure_dirs([(str(link), 0o755)])


def test_ensure_dirs_missing_parent(tmp_path):
    with pytest.raises(errors.OpExecError, match="Cannot create directory"):
        io.ensure_dirs([(str(tmp_path / "a" / "b"), 0o755)])


def test_remove_file(tmp_path):
    path = tmp_path / "gone"
    path.write_text("x")
    io.remove_file(str(path))
    assert not path.exists()
    io.remove_file(str(path))  # missing is fine


def test_remove_file_other_errors_raise(tmp_path):
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(errors.OpExecError, match="Cannot remove"):
        io.remove_file(str(directory))


def test_fsync_dir(tmp_path):
    io.fsync_dir(str(tmp_path))
    with pytest.raises(errors.OpExecError, match="nowhere"):
        io.fsync_dir(str(tmp_path / "nowhere"))


def test_sha1_file(tmp_path):
    path = tmp_path / "data"
    payload = os.urandom(200000)
    path.write_bytes(payload)
    assert io.sha1_file(str(path)) == hashlib.sha1(payload).hexdigest()
    with pytest.raises(errors.OpExecError):
        io.sha1_file(str(tmp_path / "nothing"))
