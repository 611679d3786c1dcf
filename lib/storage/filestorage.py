"""The file block device: one sparse file per disk.

A file disk's ``logical_id`` is ``[driver, path]`` (driver ``loop`` or
``blktap``, as in Ganeti 2.1) where ``path`` is the *configured* path,
``<file storage dir>/<instance name>/disk<N>``.  The configuration holds
configured paths only; the driver relocates them under the node's root at
use time with ``context.paths.under(path)``, so one configuration serves
nodes running under different ``GANETI_ROOTDIR`` roots (the local
multi-node cluster) as well as real nodes (root ``/``).

Every path is confined to the cluster's file storage directory
(``StorageContext.file_storage_dir``, a configured path): a path that
leaves it with ``..`` is refused before anything is touched, and so is one
whose relocated form resolves outside the (relocated) directory through a
symbolic link.  The check runs on every operation, not once, because a
link may appear between two calls.

Files are created sparse (``ftruncate``), so a 10 GiB disk costs no space
until written.  Activation is a no-op beyond checking that the file exists:
the hypervisor (or the fake one) uses the file path itself; attaching a
loop device is the business of the hypervisor driver that needs one.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Final

from ganeti import constants, errors, ht
from ganeti.storage.base import BlockDev, StorageContext

MIB: Final = 1024 * 1024

#: Mode of the directories the driver creates (instance directories).
DIR_MODE: Final = 0o750
#: Mode of the file storage directory when the driver has to create it.
BASE_DIR_MODE: Final = 0o755
#: Mode of the disk files.
FILE_MODE: Final = 0o600


def _error(message: str, code: errors.ErrorCode = errors.ErrorCode.FAULT,
           **details: Any) -> errors.BlockDeviceError:
    return errors.BlockDeviceError(message, code, **details)


def _os_error(what: str, path: str, err: OSError) -> errors.BlockDeviceError:
    return _error(f"Cannot {what} {path}: {err.strerror or err}",
                  errors.ErrorCode.ENVIRON)


def _is_strictly_under(path: str, base: str) -> bool:
    base = base.rstrip("/") or "/"
    prefix = base if base == "/" else base + "/"
    return path != base and path.startswith(prefix)


def confine(configured_path: Any, context: StorageContext) -> str:
    """The relocated path of ``configured_path``, which must lie strictly
    inside the file storage directory, also after resolving symbolic links.

    Raises :class:`~ganeti.errors.BlockDeviceError` (code ``wrong_input``)
    naming the path otherwise.
    """
    base = os.path.normpath(context.file_storage_dir)
    if not ht.TAbsolutePath(configured_path) or not ht.TAbsolutePath(base):
        raise _error(f"File storage path {configured_path!r:.80} is not an"
                     " absolute path", errors.ErrorCode.INVAL)
    normal = os.path.normpath(configured_path)
    if not _is_strictly_under(normal, base):
        raise _error(f"File storage path {configured_path} is not inside the"
                     f" file storage directory {base}", errors.ErrorCode.INVAL)
    real = context.paths.under(normal)
    resolved = os.path.realpath(real)
    resolved_base = os.path.realpath(context.paths.under(base))
    if not _is_strictly_under(resolved, resolved_base):
        raise _error(f"File storage path {configured_path} leaves the file"
                     f" storage directory {base} through a symbolic link",
                     errors.ErrorCode.INVAL)
    return real


def _check_logical_id(logical_id: Any) -> tuple[str, str]:
    if (not isinstance(logical_id, (list, tuple)) or len(logical_id) != 2
            or logical_id[0] not in constants.FILE_DRIVERS
            or not ht.TAbsolutePath(logical_id[1])):
        raise _error(f"Invalid file disk logical id {logical_id!r:.100}:"
                     " expected [driver, absolute path] with driver one of"
                     f" {', '.join(sorted(constants.FILE_DRIVERS))}",
                     errors.ErrorCode.INVAL)
    return str(logical_id[0]), str(logical_id[1])


def _make_dirs(path: str, mode: int = DIR_MODE) -> None:
    """Create ``path`` and missing parents; the directories made get
    ``mode`` whatever the umask."""
    missing: list[str] = []
    current = path
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
            os.chmod(directory, mode)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise _error(f"Cannot create directory {directory}: a file is"
                             " in the way", errors.ErrorCode.ENVIRON) from None
        except OSError as err:
            raise _os_error("create directory", directory, err) from err


def _make_inner_dirs(real_dir: str, context: StorageContext) -> None:
    """Create directories inside the storage directory with
    :data:`DIR_MODE`; the storage directory itself (and its parents), if
    missing, is made like any system directory (0755)."""
    base = context.paths.under(os.path.normpath(context.file_storage_dir))
    _make_dirs(base, BASE_DIR_MODE)
    _make_dirs(real_dir)


class FileDevice(BlockDev):
    """A disk stored as a sparse file; see the module documentation."""

    DEV_TYPE = constants.LD_FILE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.driver, self.configured_path = _check_logical_id(self.logical_id)

    def _real(self) -> str:
        return confine(self.configured_path, self.context)

    @property
    def dev_path(self) -> str:
        return self._real()

    def exists(self) -> bool:
        return os.path.isfile(self._real())

    def _stat(self) -> os.stat_result:
        path = self._real()
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise _error(f"File disk {self.configured_path} does not exist",
                         errors.ErrorCode.NOENT) from None
        except OSError as err:
            raise _os_error("stat", path, err) from err
        if not stat.S_ISREG(info.st_mode):
            raise _error(f"File disk {self.configured_path} is not a regular"
                         " file", errors.ErrorCode.ENVIRON)
        return info

    @property
    def size_mib(self) -> int:
        return -(-self._stat().st_size // MIB)

    def create(self, size_mib: int) -> None:
        size = self._check_size("disk size", size_mib, allow_zero=False)
        path = self._real()
        _make_inner_dirs(os.path.dirname(path), self.context)
        path = self._real()  # again: the directories now exist
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, FILE_MODE)
        except FileExistsError:
            raise _error(f"File disk {self.configured_path} already exists;"
                         " refusing to overwrite it",
                         errors.ErrorCode.EXISTS) from None
        except OSError as err:
            raise _os_error("create file disk", path, err) from err
        try:
            try:
                os.ftruncate(fd, size * MIB)
            finally:
                os.close(fd)
        except OSError as err:
            os.unlink(path)
            raise _os_error("allocate file disk", path, err) from err

    def remove(self) -> None:
        path = self._real()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise _os_error("remove file disk", path, err) from err

    def grow(self, amount_mib: int) -> None:
        if ht.TInt(amount_mib) and amount_mib < 0:
            raise _error(f"Cannot shrink file disk {self.configured_path}"
                         f" (by {-amount_mib} MiB): disks can only grow",
                         errors.ErrorCode.INVAL)
        amount = self._check_size("growth amount", amount_mib, allow_zero=True)
        current = self._stat().st_size
        if amount == 0:
            return
        path = self._real()
        try:
            os.truncate(path, current + amount * MIB)
        except OSError as err:
            raise _os_error("grow file disk", path, err) from err

    def activate(self) -> None:
        self._stat()

    def deactivate(self) -> None:
        """Nothing holds the file open on the driver's side."""

    def rename(self, new_id: list[Any]) -> None:
        driver, new_path = _check_logical_id(new_id)
        old_real = self._real()
        new_real = confine(new_path, self.context)
        self._stat()
        if os.path.lexists(new_real):
            raise _error(f"Cannot rename file disk {self.configured_path} to"
                         f" {new_path}: the target exists",
                         errors.ErrorCode.EXISTS)
        _make_inner_dirs(os.path.dirname(new_real), self.context)
        new_real = confine(new_path, self.context)
        try:
            os.rename(old_real, new_real)
        except OSError as err:
            raise _os_error("rename file disk", old_real, err) from err
        self.logical_id = [driver, new_path]
        self.driver, self.configured_path = driver, new_path


# --- Instance directories ----------------------------------------------------

def create_storage_dir(configured_dir: str,
                       context: StorageContext | None = None) -> str:
    """Create an instance's storage directory (mode 0750); existing is fine.

    Returns the relocated path.
    """
    ctx = context or StorageContext()
    _make_inner_dirs(confine(configured_dir, ctx), ctx)
    return confine(configured_dir, ctx)


def remove_storage_dir(configured_dir: str,
                       context: StorageContext | None = None) -> None:
    """Remove an empty instance storage directory; missing is fine, a
    directory that still holds files is refused."""
    real = confine(configured_dir, context or StorageContext())
    try:
        os.rmdir(real)
    except FileNotFoundError:
        pass
    except OSError as err:
        if os.path.isdir(real) and os.listdir(real):
            raise _error(f"File storage directory {configured_dir} is not"
                         " empty", errors.ErrorCode.STATE) from None
        raise _os_error("remove directory", real, err) from err


def rename_storage_dir(old_dir: str, new_dir: str,
                       context: StorageContext | None = None) -> None:
    """Rename an instance storage directory (instance rename).

    Idempotent: if the old directory is gone and the new one exists, the
    rename already happened.  An existing target is otherwise refused.
    """
    ctx = context or StorageContext()
    old_real = confine(old_dir, ctx)
    new_real = confine(new_dir, ctx)
    if not os.path.isdir(old_real):
        if os.path.isdir(new_real):
            return
        raise _error(f"File storage directory {old_dir} does not exist",
                     errors.ErrorCode.NOENT)
    if os.path.lexists(new_real):
        raise _error(f"Cannot rename {old_dir} to {new_dir}: the target"
                     " exists", errors.ErrorCode.EXISTS)
    _make_inner_dirs(os.path.dirname(new_real), ctx)
    try:
        os.rename(old_real, new_real)
    except OSError as err:
        raise _os_error("rename directory", old_real, err) from err
