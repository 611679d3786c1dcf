"""What a master candidate's copy holds, and how far it is behind.

A replica is described by :func:`describe`: the serial number of its
``config.data`` and the SHA-1 of each file of its live job queue
(``serial`` and ``job-<id>``).  A candidate's node daemon answers it
(RPC ``replica_state``); the master computes its own with the same
function and :func:`compare` says what the candidate lacks.  The
replicators (:mod:`ganeti.replication`) send what is missing through the
ordinary upload calls, and ``gnt-cluster verify`` reports the lag.  Only
serials and checksums are compared, never the way changes are shipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Final

from ganeti import errors, pathutils
from ganeti.config import journal
from ganeti.utils import io

KEY_CONFIG_SERIAL: Final = "config_serial"
KEY_QUEUE: Final = "queue"

_LIVE_RE: Final = re.compile(r"serial|job-[1-9][0-9]*")


def config_serial(path: str) -> int | None:
    """The ``serial_no`` of the configuration at ``path``, its journal
    applied (``config.data`` alone is the last compaction); None when the
    file is missing or unreadable as a configuration."""
    try:
        return journal.read_serial(path)
    except (OSError, ValueError, errors.GenericError):
        return None


def queue_files(queue_dir: str) -> dict[str, str]:
    """Name -> SHA-1 of each live queue file (``serial``, ``job-<id>``)."""
    try:
        names = os.listdir(queue_dir)
    except FileNotFoundError:
        return {}
    result: dict[str, str] = {}
    for name in names:
        if not _LIVE_RE.fullmatch(name):
            continue
        try:
            result[name] = io.sha1_file(os.path.join(queue_dir, name))
        except errors.OpExecError:
            continue  # archived or removed meanwhile
    return result


def describe(config_path: str, queue_dir: str) -> dict[str, Any]:
    """This node's replica (the ``replica_state`` RPC's answer)."""
    return {KEY_CONFIG_SERIAL: config_serial(config_path),
            KEY_QUEUE: queue_files(queue_dir)}


def job_id(name: str) -> int | None:
    return int(name[4:]) if name.startswith("job-") else None


def archive_name(job: int) -> str:
    """The name of an archived job file in the queue directory."""
    return f"archive/{job // 10000}/job-{job}"


@dataclasses.dataclass(frozen=True)
class Lag:
    """What a candidate lacks compared to the master."""

    #: The master's config serial and the candidate's (None: missing).
    config_master: int | None
    config_node: int | None
    #: Live queue files missing or different on the candidate.
    queue_outdated: tuple[str, ...]
    #: Jobs the master archived that the candidate still has live.
    queue_archived: tuple[str, ...]

    @property
    def config_behind(self) -> int:
        """How many serials the candidate's config is behind (0: current;
        a missing file counts the master's serial)."""
        if self.config_master is None:
            return 0
        return max(0, self.config_master - (self.config_node or 0))

    @property
    def queue_behind(self) -> int:
        return len(self.queue_outdated) + len(self.queue_archived)

    def describe_queue(self) -> str:
        jobs = [n for n in self.queue_outdated if n != "serial"]
        parts = [f"{len(jobs)} job file(s) missing or outdated"]
        if "serial" in self.queue_outdated:
            parts.append("queue serial outdated")
        if self.queue_archived:
            parts.append(f"{len(self.queue_archived)} archived job(s) still"
                         " live")
        return ", ".join(parts)


def compare(master: dict[str, Any], node: Any) -> Lag:
    """How far the replica ``node`` (a ``replica_state`` answer) is
    behind ``master`` (:func:`describe` on the master)."""
    node = node if isinstance(node, dict) else {}
    theirs = node.get(KEY_QUEUE)
    theirs = theirs if isinstance(theirs, dict) else {}
    ours: dict[str, str] = master[KEY_QUEUE]
    outdated = tuple(sorted((n for n, s in ours.items() if theirs.get(n) != s),
                            key=_order))
    archived = tuple(sorted((n for n in theirs if n not in ours
                             and job_id(n) is not None), key=_order))
    node_serial = node.get(KEY_CONFIG_SERIAL)
    return Lag(config_master=master[KEY_CONFIG_SERIAL],
               config_node=node_serial if isinstance(node_serial, int)
               else None,
               queue_outdated=outdated, queue_archived=archived)


def _order(name: str) -> tuple[int, int]:
    """``serial`` first (a candidate never holds a job above its serial),
    then jobs by id."""
    job = job_id(name)
    return (0, 0) if job is None else (1, job)


def describe_here() -> dict[str, Any]:
    """:func:`describe` of this node's own files."""
    here = pathutils.get()
    return describe(here.cluster_conf_file, here.queue_dir)


def stable_lag(before: dict[str, Any], after: dict[str, Any],
               node: Any) -> Lag:
    """:func:`compare` for a master whose queue moves while it looks
    (jobs run during ``gnt-cluster verify``, the verify job itself): the
    master's state ``before`` and ``after`` asking the node; a queue file
    counts only when the master's copy did not change in between, so
    only what the candidate should already have is reported."""
    lag = compare(before, node)
    ours_after: dict[str, str] = after[KEY_QUEUE]
    ours_before: dict[str, str] = before[KEY_QUEUE]
    return dataclasses.replace(lag, queue_outdated=tuple(
        name for name in lag.queue_outdated
        if ours_after.get(name) == ours_before[name]))
