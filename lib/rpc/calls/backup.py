"""Exports (``gnt-backup``): dumping disks with the OS ``export`` script
into a node's export directory and restoring them with ``import``.

The dump never passes through the master: the node running the OS
script talks to the node holding the export itself, over the same HTTPS
channel with the cluster certificate (``export_write_chunk`` while
exporting, ``export_read_chunk`` while importing).  The master only
starts each disk's transfer and, at the end, writes ``config.ini`` and
renames the temporary directory into place.  See doc/design/backup.rst.
"""

from __future__ import annotations

from typing import Final

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: The largest chunk of a dump one node-to-node call moves (4 MiB).
CHUNK: Final = 4 * 1024 * 1024

TExportName: Final = ht.Check(
    lambda v: (isinstance(v, str) and bool(v) and "/" not in v
               and "\0" not in v and v not in (".", "..")),
    "an export or file name (no '/')")

_NAME = Arg("name", TExportName, "Export directory name (instance name)")
_FILE = Arg("filename", TExportName, "File inside the export directory")
_OS_ARGS = (
    Arg("instance", ht.TDict, "Instance.to_dict()"),
    Arg("disk_index", ht.TNonNegativeInt, "Index of the disk"),
    Arg("peer", ht.TString, "Address of the node holding the export"
        " ('' for this node)"),
    _NAME, _FILE,
    Arg("hvparams", ht.TDict, "Filled hypervisor parameters"),
    Arg("beparams", ht.TDict, "Filled backend parameters"),
    Arg("nicparams", ht.TListOf(ht.TDict), "Filled NIC parameters"),
    Arg("osparams", ht.TDict, "Filled OS parameters"),
)
_TRANSFER = ht.TDictOf(ht.TElemOf(("bytes", "seconds", "log_path")),
                       ht.TOr(ht.TNonNegativeInt, ht.TNumber, ht.TString))

CALLS = [
    RpcCall("export_prepare", Fanout.SINGLE, Timeout.FAST,
            (_NAME, Arg("needed", ht.TNonNegativeInt,
                        "Bytes the dumps are expected to take")),
            ht.TNone,
            "Create the temporary directory of a new export, after checking"
            " the free space; refuses when one is already there"),
    RpcCall("export_disk", Fanout.SINGLE, Timeout.LONG, _OS_ARGS, _TRANSFER,
            "Run the OS export script of one disk here and stream its"
            " output into the export's temporary directory on the peer"),
    RpcCall("export_write_chunk", Fanout.SINGLE, Timeout.FAST,
            (_NAME, _FILE, Arg("offset", ht.TNonNegativeInt, "Byte offset"),
             Arg("data", ht.TString, "Base64 of the bytes")),
            ht.TNone,
            "Append a chunk to a dump in a temporary export directory"),
    RpcCall("transfer_progress", Fanout.SINGLE, Timeout.URGENT,
            (_NAME, _FILE), ht.TNonNegativeInt,
            "Bytes of a dump moved so far by the export_disk or import_disk"
            " running here (0: none running)"),
    RpcCall("export_finalize", Fanout.SINGLE, Timeout.FAST,
            (_NAME, Arg("config", ht.TString, "Text of config.ini")),
            ht.TNone,
            "Write config.ini and move the temporary export into place,"
            " replacing an older export of the same name"),
    RpcCall("export_abort", Fanout.SINGLE, Timeout.FAST, (_NAME,), ht.TBool,
            "Remove the temporary directory of a failed export"),
    RpcCall("export_list", Fanout.MULTI, Timeout.FAST, (),
            ht.TListOf(ht.TString), "The exports on this node"),
    RpcCall("export_info", Fanout.SINGLE, Timeout.FAST, (_NAME,), ht.TString,
            "The config.ini of an export"),
    RpcCall("export_remove", Fanout.MULTI, Timeout.FAST, (_NAME,), ht.TBool,
            "Remove an export (False: there was none)"),
    RpcCall("export_read_chunk", Fanout.SINGLE, Timeout.FAST,
            (_NAME, _FILE, Arg("offset", ht.TNonNegativeInt, "Byte offset"),
             Arg("length", ht.TRange(1, CHUNK), "Most bytes to read")),
            ht.TString,
            "Base64 of the next bytes of a dump ('' at its end)"),
    RpcCall("import_disk", Fanout.SINGLE, Timeout.LONG, _OS_ARGS, _TRANSFER,
            "Run the OS import script of one disk here, its input streamed"
            " from the export on the peer"),
]
