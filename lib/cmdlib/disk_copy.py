"""Copying a disk from one node to another, driven by the master, with
progress in the job log.

The master asks the source node for the next data at or after a position
(``blockdev_read_data`` skips holes), writes it on the target node
(``blockdev_write_chunk``) and moves on; between calls it reports
progress through the job's feedback function.  Because the master drives
every step there is nothing to poll and no state on the nodes: progress
is simply what the loop has done so far.  See
doc/design/instance-operations.rst ("Move").
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from ganeti import objects
from ganeti.cmdlib.base import Feedback
from ganeti.rpc.calls.blockdev_copy import MAX_CHUNK
from ganeti.rpc.client import RpcClient

MIB = 1024 * 1024

#: Seconds between two progress lines of one disk (the last line, with
#: the totals, is always written).
PROGRESS_INTERVAL = 5.0


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h01m``: short enough for a progress line."""
    secs = max(0, round(seconds))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    return f"{secs // 3600}h{secs % 3600 // 60:02d}m"


def _mib(nbytes: int) -> str:
    return f"{nbytes / MIB:.1f} MiB"


@dataclasses.dataclass
class CopyProgress:
    """Progress of one disk copy: where the copy is in the disk (holes are
    passed over at once) and how many data bytes were sent.

    ``line`` is what goes into the job log; ``update`` writes it when
    ``interval`` seconds passed since the last one.  The ETA assumes the
    rest of the disk goes at the pace so far (position per second).
    """

    name: str
    total: int
    feedback: Feedback
    clock: Callable[[], float] = time.monotonic
    interval: float = PROGRESS_INTERVAL
    position: int = 0
    sent: int = 0

    def __post_init__(self) -> None:
        self.started = self.last = self.clock()

    def line(self) -> str:
        elapsed = self.clock() - self.started
        done = min(self.position, self.total)
        percent = 100 * done // self.total if self.total else 100
        rate = self.sent / elapsed if elapsed > 0 else 0.0
        text = (f"  {self.name}: {percent}% of {_mib(self.total)},"
                f" {_mib(self.sent)} of data sent, {_mib(int(rate))}/s")
        if done >= self.total:
            return f"{text}, done in {format_duration(elapsed)}"
        if done and elapsed > 0:
            eta = elapsed * (self.total - done) / done
            return f"{text}, ETA {format_duration(eta)}"
        return f"{text}, ETA unknown"

    def update(self, position: int, sent_now: int) -> None:
        self.position, self.sent = position, self.sent + sent_now
        now = self.clock()
        if now - self.last >= self.interval and position < self.total:
            self.last = now
            self.feedback(self.line())

    def finish(self) -> None:
        self.position = self.total
        self.feedback(self.line())


def copy_disk(rpc: RpcClient, disk: objects.Disk, source: str, target: str,
              progress: CopyProgress,
              target_disk: objects.Disk | None = None) -> int:
    """Copy the data of ``disk`` from ``source`` to the same disk (or to
    ``target_disk``: a template conversion copies a volume into a
    mirror), already created at full size (sparse) on ``target``;
    returns the data bytes sent.  Raises the RPC error of the first
    failing call.

    The next read runs while the current chunk is written (one read
    ahead, in a helper thread), so the source's read and the target's
    write overlap; the writes stay in order.
    """
    data = disk.to_dict()
    written = data if target_disk is None else target_disk.to_dict()
    total = disk.size * MIB

    def read(position: int) -> dict[str, Any] | None:
        res = rpc.call_blockdev_read_data(
            [source], data, position, min(MAX_CHUNK, total - position))[source]
        extent: dict[str, Any] | None = res.raise_on_fail(
            f"Reading {disk.iv_name} on {source}")
        return None if extent is None or extent["offset"] >= total else extent

    sent = 0
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="disk-copy") as pool:
        pending: concurrent.futures.Future[dict[str, Any] | None] | None = (
            pool.submit(read, 0) if total else None)
        while pending is not None:
            extent = pending.result()
            if extent is None:  # only holes are left
                break
            start, length = extent["offset"], extent["length"]
            chunk = extent["data"]
            position = start + length
            pending = pool.submit(read, position) if position < total else None
            if chunk is not None:
                rpc.call_blockdev_write_chunk([target], written, start,
                                              chunk)[target].raise_on_fail(
                    f"Writing {disk.iv_name} on {target}")
                sent += length
            progress.update(position, length if chunk is not None else 0)
    progress.finish()
    return sent
