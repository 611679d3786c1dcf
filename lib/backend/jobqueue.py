"""This node's copy of the job queue (on master candidates).

Names are relative to the queue directory and limited to what the queue
itself writes (``serial``, ``job-<id>``, ``archive/<n>/job-<id>``), so a
call can never reach outside it.  Files are written atomically; the
queue directory's lock is not taken, since the master's queue lives on
another node (a candidate only stores the copy until it becomes master).
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, Final

from ganeti import errors, pathutils, redist, replica
from ganeti.backend import handler
from ganeti.utils import io

_NAME_RE: Final = re.compile(r"serial|job-[1-9][0-9]*|archive/[0-9]+/job-[1-9][0-9]*")


def _local(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise errors.OpPrereqError(
            f"Invalid job queue file name {name!r:.80}",
            errors.ErrorCode.FORBIDDEN)
    return os.path.join(pathutils.get().queue_dir, name)


@handler("jobqueue_update")
def jobqueue_update(file_name: str, content: list[str]) -> None:
    path = _local(file_name)
    if file_name.startswith("archive/"):
        raise errors.OpPrereqError("Archived jobs are only renamed into "
                                   "place", errors.ErrorCode.FORBIDDEN)
    io.ensure_dirs([(os.path.dirname(path), 0o700)])  # the queue directory
    io.write_file_atomic(path, redist.decode_data(content), mode=0o600)


@handler("replica_state")
def replica_state() -> dict[str, Any]:
    return replica.describe_here()


@handler("jobqueue_rename")
def jobqueue_rename(renames: list[list[str]]) -> None:
    for pair in renames:
        if len(pair) != 2:
            raise errors.OpPrereqError(f"Invalid rename {pair!r:.80}")
        old, new = _local(pair[0]), _local(pair[1])
        if not pair[1].startswith("archive/"):
            raise errors.OpPrereqError("Job files are only renamed into the "
                                       "archive", errors.ErrorCode.FORBIDDEN)
        queue_dir = pathutils.get().queue_dir
        io.ensure_dirs([(queue_dir, 0o700),
                        (os.path.join(queue_dir, "archive"), 0o700),
                        (os.path.dirname(new), 0o700)])
        try:
            os.replace(old, new)
        except FileNotFoundError:
            continue  # never replicated here (node promoted meanwhile)
        except OSError as err:
            raise errors.OpExecError(
                f"Cannot archive {old}: {err.strerror or err}",
                errors.ErrorCode.ENVIRON) from None


@handler("jobqueue_purge")
def jobqueue_purge() -> None:
    queue_dir = pathutils.get().queue_dir
    try:
        names = os.listdir(queue_dir)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(queue_dir, name)
        if name == "archive":
            shutil.rmtree(path, ignore_errors=True)
        elif name == "serial" or name.startswith("job-"):
            io.remove_file(path)
