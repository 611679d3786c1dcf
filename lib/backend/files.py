"""Files on this node: redistributed uploads, checksums, copyfile, command.

``upload_file`` accepts only the node's upload list
(:func:`ganeti.redist.allowed_upload_paths`: a static set plus the
``redist_files`` ssconf value the master published); ``copyfile`` accepts
any absolute path.  Both take *configured* paths and write them relocated
under this node's root, atomically (temporary file, fsync, rename) with
the given mode, owner and times; missing parent directories are created
(mode 0755).  A path must be absolute and normalized, and may not leave
the node's root through a symbolic link.

Trust: every call comes over mutual TLS with the cluster certificate, so
only the master (or whoever holds that certificate, who can do anything
else the node daemon does) reaches them.  The upload list is not a
defence against the master: it keeps a wrong or confused master (or a
bug) from overwriting arbitrary files through the routine redistribution
path, while ``copyfile`` and ``run_command`` are the explicit,
administrator-driven tools (Ganeti runs them over ssh as root).
"""

from __future__ import annotations

import os
from typing import Any, Final

from ganeti import errors, pathutils, redist
from ganeti.backend import handler
from ganeti.utils import io, process

#: Output of ``run_command`` kept (bytes of text, the end of it).
MAX_COMMAND_OUTPUT: Final = 1024 * 1024


def _write(path: str, data: list[str], mode: int, uid: int, gid: int,
           atime: float, mtime: float) -> None:
    paths = pathutils.get()
    local = redist.relocate_safely(path, paths)
    content = redist.decode_data(data)
    parent = os.path.dirname(local)
    try:
        os.makedirs(parent, mode=0o755, exist_ok=True)
    except OSError as err:
        raise errors.OpExecError(
            f"Cannot create directory {parent}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    # Created directories may have been symlinked meanwhile: check again.
    redist.relocate_safely(path, paths)
    io.write_file_atomic(local, content, mode=mode, uid=uid, gid=gid)
    try:
        os.utime(local, (atime, mtime))
    except OSError as err:
        raise errors.OpExecError(
            f"Cannot set the times of {local}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None


@handler("upload_file")
def upload_file(path: str, data: list[str], mode: int, uid: int, gid: int,
                atime: float, mtime: float) -> None:
    redist.check_configured_path(path)
    if path not in redist.allowed_upload_paths():
        raise errors.OpPrereqError(
            f"Upload of {path} refused: not a file this node accepts from "
            "the cluster (see 'gnt-cluster redist-conf')",
            errors.ErrorCode.FORBIDDEN)
    _write(path, data, mode, uid, gid, atime, mtime)
    if path == pathutils.Paths().cluster_conf_file:
        # Deferred: lifecycle imports the bootstrap machinery.
        from ganeti.backend import lifecycle

        lifecycle.ensure_confd()


@handler("copyfile")
def copyfile(path: str, data: list[str], mode: int, uid: int, gid: int,
             atime: float, mtime: float) -> None:
    _write(path, data, mode, uid, gid, atime, mtime)


@handler("fingerprint_files")
def fingerprint_files(paths: list[str]) -> dict[str, str | None]:
    node_paths = pathutils.get()
    result: dict[str, str | None] = {}
    for path in paths:
        local = redist.relocate_safely(path, node_paths)
        try:
            result[path] = io.sha1_file(local)
        except errors.OpExecError:
            if os.path.lexists(local) and not os.path.isfile(local):
                raise
            result[path] = None
    return result


@handler("run_command")
def run_command(argv: list[str], timeout: float) -> dict[str, Any]:
    res = process.run_cmd(argv, cwd="/", timeout=timeout or None)
    output = res.output
    if len(output) > MAX_COMMAND_OUTPUT:
        output = "[output truncated]\n" + output[-MAX_COMMAND_OUTPUT:]
    return {"exit_code": res.exit_code, "signal": res.signal,
            "output": output, "fail_reason": res.fail_reason}
