"""Copying a disk between nodes through the master (``gnt-instance move``).

The master reads a chunk on the source node and writes it on the target
node; chunks travel base64-encoded in the JSON body.  A chunk that holds
only zero bytes comes back as None and is not sent again: the target's
disk was created sparse, so it already reads as zeros there and sparse
disks stay sparse.  See doc/design/instance-operations.rst for the size
limits.
"""

from __future__ import annotations

from typing import Final

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: The largest chunk one call moves (4 MiB; about 5.4 MiB of base64).
MAX_CHUNK: Final = 4 * 1024 * 1024

_DISK = Arg("disk", ht.TDict, "Disk.to_dict()")
_OFFSET = Arg("offset", ht.TNonNegativeInt, "Byte offset in the disk")

CALLS = [
    RpcCall("blockdev_read_chunk", Fanout.SINGLE, Timeout.FAST,
            (_DISK, _OFFSET,
             Arg("length", ht.TRange(1, MAX_CHUNK), "Bytes to read")),
            ht.TMaybe(ht.TString),
            "Read a chunk of a disk: base64 text, or None when it is all"
            " zeros (reads past the end give the bytes that exist)"),
    RpcCall("blockdev_write_chunk", Fanout.SINGLE, Timeout.FAST,
            (_DISK, _OFFSET, Arg("data", ht.TString, "Base64 of the bytes")),
            ht.TNone,
            "Write a chunk into an existing disk at the offset (never past"
            " its end)"),
]
