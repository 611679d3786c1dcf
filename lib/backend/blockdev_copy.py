"""Node side of the disk copy calls (``blockdev_read_data``,
``blockdev_write_chunk``): reads the next data (never holes) and writes a
chunk of an existing disk found through its driver, so the usual
confinement of file disks to the file storage directory applies."""

from __future__ import annotations

import base64
import binascii
import errno
import os
from typing import Any

from ganeti import errors
from ganeti.backend import handler
from ganeti.backend.blockdev import decode_disk, device, disk_name
from ganeti.rpc.calls.blockdev_copy import MAX_CHUNK


def _path(disk: dict[str, Any]) -> tuple[str, str]:
    obj = decode_disk(disk)
    dev = device(obj)
    if not dev.exists():
        raise errors.BlockDeviceError(
            f"Cannot find {disk_name(obj)} on this node",
            errors.ErrorCode.NOENT)
    dev.activate()  # a logical volume has no device node until active
    return dev.dev_path, disk_name(obj)


def _next_extent(fd: int, offset: int, size: int) -> tuple[int, int] | None:
    """The data extent at or after ``offset``: (start, end), or None when
    only holes follow.  Where the file system cannot tell holes apart
    (``EINVAL``: a block device, an old file system) everything is data."""
    if offset >= size:
        return None
    try:
        start = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as err:
        if err.errno == errno.ENXIO:  # nothing but a hole up to the end
            return None
        if err.errno != errno.EINVAL:
            raise
        return offset, size
    try:
        end = os.lseek(fd, start, os.SEEK_HOLE)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        end = size
    return (start, min(end, size)) if start < size else None


@handler("blockdev_read_data")
def blockdev_read_data(disk: dict[str, Any], offset: int,
                       length: int) -> dict[str, Any] | None:
    path, name = _path(disk)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise errors.BlockDeviceError(f"Cannot open {name}: {err.strerror}",
                                      errors.ErrorCode.FAULT) from err
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        extent = _next_extent(fd, offset, size)
        if extent is None:
            return None
        start, end = extent
        data = os.pread(fd, min(length, end - start), start)
    finally:
        os.close(fd)
    if not data:  # the file shrank under us: nothing more to read
        return None
    text = (None if not data.strip(b"\0")
            else base64.b64encode(data).decode("ascii"))
    return {"offset": start, "length": len(data), "data": text}


@handler("blockdev_write_chunk")
def blockdev_write_chunk(disk: dict[str, Any], offset: int, data: str) -> None:
    path, name = _path(disk)
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise errors.ParameterError("Invalid base64 data",
                                    parameter="data") from None
    if len(raw) > MAX_CHUNK:
        raise errors.ParameterError(
            f"Chunk of {len(raw)} bytes is larger than {MAX_CHUNK}",
            parameter="data")
    if offset + len(raw) > os.path.getsize(path):
        raise errors.BlockDeviceError(
            f"Writing {len(raw)} bytes at offset {offset} would go past the"
            f" end of {name}", errors.ErrorCode.INVAL)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        view = memoryview(raw)
        while view:
            written = os.pwrite(fd, view, offset)
            offset += written
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
