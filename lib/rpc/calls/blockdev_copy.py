"""Copying a disk between nodes through the master (``gnt-instance move``).

The master drives the copy: it asks the source node for the next chunk
of *data* at or after an offset (``blockdev_read_data``: the node skips
holes with ``SEEK_DATA``/``SEEK_HOLE``) and writes what comes back on the
target node (``blockdev_write_chunk``), whose disk was created sparse at
its full size.  Holes are never read, sent or written, so they stay holes
and a sparse disk costs calls in proportion to its data, not its size.
The master reports progress in the job log between calls.  See
doc/design/instance-operations.rst for the design and its limits.
"""

from __future__ import annotations

from typing import Any, Final

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: The largest chunk one call moves (4 MiB; about 5.4 MiB of base64).
MAX_CHUNK: Final = 4 * 1024 * 1024

_DISK = Arg("disk", ht.TDict, "Disk.to_dict()")
_OFFSET = Arg("offset", ht.TNonNegativeInt, "Byte offset in the disk")


def _is_extent(value: Any) -> bool:
    if not isinstance(value, dict) or set(value) != {"offset", "length",
                                                      "data"}:
        return False
    return (ht.TNonNegativeInt(value["offset"])
            and ht.TRange(1, MAX_CHUNK)(value["length"])
            and ht.TMaybe(ht.TString)(value["data"]))


#: One read: where the data starts, how many bytes it covers and their
#: base64 (None when those bytes are all zeros: allocated but empty).
TExtent: Final = ht.Check(_is_extent, "a data extent {offset, length, data}")

CALLS = [
    RpcCall("blockdev_read_data", Fanout.SINGLE, Timeout.FAST,
            (_DISK, _OFFSET,
             Arg("length", ht.TRange(1, MAX_CHUNK), "Most bytes to read")),
            ht.TMaybe(TExtent),
            "Read the next data of a disk at or after the offset, skipping"
            " holes and stopping at the next one: {offset, length, data}"
            " (data None when all zeros), or None when only holes follow"),
    RpcCall("blockdev_write_chunk", Fanout.SINGLE, Timeout.FAST,
            (_DISK, _OFFSET, Arg("data", ht.TString, "Base64 of the bytes")),
            ht.TNone,
            "Write a chunk into an existing disk at the offset (never past"
            " its end)"),
]
