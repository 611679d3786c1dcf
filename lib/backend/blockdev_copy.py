"""Node side of the disk copy calls (``blockdev_read_chunk``,
``blockdev_write_chunk``): reads and writes a chunk of an existing disk
found through its driver, so the usual confinement of file disks to the
file storage directory applies."""

from __future__ import annotations

import base64
import binascii
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
    return dev.dev_path, disk_name(obj)


@handler("blockdev_read_chunk")
def blockdev_read_chunk(disk: dict[str, Any], offset: int,
                        length: int) -> str | None:
    path, _ = _path(disk)
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    if not data.strip(b"\0"):
        return None
    return base64.b64encode(data).decode("ascii")


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
