"""Crash-safe file writes and small file helpers.

Every persistent file of the cluster (config, job files, ssconf) is written
with :func:`write_file_atomic`: a temporary file in the same directory is
filled and fsynced, then renamed over the target, and the directory is
fsynced so the rename itself survives a power loss.  A process killed at
any moment leaves either the old or the new content under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterable

from ganeti import errors

_TMP_ATTEMPTS = 100


def _env_error(message: str) -> errors.OpExecError:
    return errors.OpExecError(message, errors.ErrorCode.ENVIRON)


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


def fsync_dir(path: str) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise _env_error(f"Cannot open directory {path} for fsync: "
                         f"{_describe(err)}") from err
    try:
        os.fsync(fd)
    except OSError as err:
        # Some file systems refuse fsync on directories; nothing to flush.
        if err.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise _env_error(f"Cannot fsync directory {path}: "
                             f"{_describe(err)}") from err
    finally:
        os.close(fd)


def _open_temp(directory: str, base: str) -> tuple[int, str]:
    """Create a fresh temporary file next to the target (O_EXCL)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    last: OSError | None = None
    for _ in range(_TMP_ATTEMPTS):
        name = os.path.join(directory, f".{base}.tmp{os.urandom(6).hex()}")
        try:
            fd = os.open(name, flags, 0o600)
        except FileExistsError as err:
            last = err
            continue
        return fd, name
    assert last is not None
    raise last


def write_file_atomic(path: str, data: bytes | str, *, mode: int = 0o600,
                      uid: int = -1, gid: int = -1,
                      fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically.

    The mode (and owner, when ``uid``/``gid`` are not -1) is set on the
    temporary file before any data is written, so the content is never
    visible with looser permissions.  ``str`` data is written as UTF-8.
    Failures raise :class:`errors.OpExecError` (code ``ENVIRON``) naming
    ``path``; the temporary file is removed.
    """
    if not isinstance(path, str) or not path:
        raise errors.ProgrammerError(f"Invalid path for atomic write: {path!r}")
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise errors.ProgrammerError(
            f"Data for {path} must be bytes or str, not {type(data).__name__}")
    directory, base = os.path.split(os.path.abspath(path))
    try:
        fd, tmp_name = _open_temp(directory, base)
    except OSError as err:
        raise _env_error(f"Cannot create temporary file for {path}: "
                         f"{_describe(err)}") from err
    done = False
    try:
        try:
            os.fchmod(fd, mode)
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
        done = True
    except OSError as err:
        raise _env_error(f"Cannot write file {path}: {_describe(err)}") from err
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    if fsync:
        fsync_dir(directory)


def read_bytes(path: str) -> bytes:
    """The whole content of ``path``; errors name the path."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise _env_error(f"Cannot read file {path}: {_describe(err)}") from err


def read_file(path: str, *, size: int = -1) -> str:
    """The content of ``path`` as UTF-8 text; at most ``size`` characters
    when ``size`` is not negative."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(size)
    except OSError as err:
        raise _env_error(f"Cannot read file {path}: {_describe(err)}") from err
    except UnicodeDecodeError as err:
        raise _env_error(f"File {path} is not valid UTF-8 text "
                         f"(byte {err.start})") from err


def ensure_dirs(dirs: Iterable[tuple[str, int]]) -> None:
    """Make sure each ``(path, mode)`` is a directory with exactly that mode.

    Missing directories are created (parents must exist); existing ones get
    their mode fixed; anything else in the way is an error.
    """
    for path, mode in dirs:
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        except OSError as err:
            raise _env_error(f"Cannot create directory {path}: "
                             f"{_describe(err)}") from err
        try:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode):
                raise _env_error(f"Path {path} exists but is not a directory")
            if stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)
        except OSError as err:
            raise _env_error(f"Cannot set mode of directory {path}: "
                             f"{_describe(err)}") from err


def remove_file(path: str) -> None:
    """Remove a file; a missing file is fine, other failures raise."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise _env_error(f"Cannot remove file {path}: {_describe(err)}") from err


def sha1_file(path: str) -> str:
    """Hex SHA-1 of a file's content (file checksums in cluster verify)."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except OSError as err:
        raise _env_error(f"Cannot read file {path}: {_describe(err)}") from err
    return digest.hexdigest()
