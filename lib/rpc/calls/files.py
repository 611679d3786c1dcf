"""Files on nodes: redistribution uploads, checksums, copyfile, command.

``data`` arguments carry file content as an *encoded pair* (see
:func:`ganeti.redist.encode_data`): ``["plain", text]`` for UTF-8 text or
``["zlib+base64", text]`` for any bytes, compressed with zlib and then
base64-encoded, so binary files and large ones cross the JSON body.
"""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

#: ``[encoding, payload]`` of a file's content.
TEncodedData = ht.Check(
    lambda v: (isinstance(v, list) and len(v) == 2
               and v[0] in ("plain", "zlib+base64")
               and isinstance(v[1], str)),
    "an encoded file ([\"plain\" or \"zlib+base64\", text])")
_T_MODE = ht.TRange(0, 0o7777)
_T_ID = ht.TAnd(ht.TInt, ht.TGe(-1))

_FILE_ARGS = (
    Arg("path", ht.TAbsolutePath, "Configured path (relocated on the node)"),
    Arg("data", TEncodedData, "Encoded content"),
    Arg("mode", _T_MODE, "Permission bits"),
    Arg("uid", _T_ID, "Owner uid; -1 keeps the writer's"),
    Arg("gid", _T_ID, "Owner gid; -1 keeps the writer's"),
    Arg("atime", ht.TNonNegativeNumber, "Access time to set"),
    Arg("mtime", ht.TNonNegativeNumber, "Modification time to set"),
)

CALLS = [
    RpcCall("upload_file", Fanout.MULTI, Timeout.NORMAL, _FILE_ARGS, ht.TNone,
            "Write one redistributed file; only paths on the node's upload "
            "list are accepted"),
    RpcCall("copyfile", Fanout.MULTI, Timeout.NORMAL, _FILE_ARGS, ht.TNone,
            "Write any file (gnt-cluster copyfile): no upload list applies"),
    RpcCall("fingerprint_files", Fanout.MULTI, Timeout.FAST,
            (Arg("paths", ht.TListOf(ht.TAbsolutePath),
                 "Configured paths"),),
            ht.TDictOf(ht.TString, ht.TMaybe(ht.TString)),
            "SHA-1 of each file; None for a missing one"),
    RpcCall("run_command", Fanout.MULTI, Timeout.SLOW,
            (Arg("argv", ht.TAnd(ht.TListOf(ht.TNonEmptyString), ht.Check(
                bool, "a non-empty list")), "Program and arguments (no "
                "shell)"),
             Arg("timeout", ht.TNonNegativeNumber, "Seconds before the "
                 "command is killed")),
            ht.TDictOf(ht.TString, ht.TAny),
            "Run a command (gnt-cluster command): exit_code, output, "
            "fail_reason"),
]
