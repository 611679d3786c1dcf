"""The sparse-aware disk copy between two nodes (``gnt-instance move``):
the real node handlers answer through the RPC client, each "node" under
its own root directory (the transport switches the root per call), so
source and target are distinct files as on a real cluster."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ganeti import constants, errors, objects, pathutils
from ganeti.backend.blockdev_copy import blockdev_read_data
from ganeti.cmdlib import disk_copy
from ganeti.rpc.client import LocalTransport, RpcClient
from ganeti.rpc.result import RpcResult

MIB = 1024 * 1024
SIZE_MIB = 64
SRC, DST = "node1.example.com", "node2.example.com"
DIRECTORY = f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/inst1.example.com"

#: (offset, bytes) written into the source: data at a few places, one
#: piece crossing a 4 MiB chunk boundary, one at the very end.
PIECES = [(0, b"boot sector" * 100),
          (4 * MIB - 700, os.urandom(1500)),
          (23 * MIB + 12345, os.urandom(200 * 1024)),
          (SIZE_MIB * MIB - 10, b"last bytes")]
#: An allocated run of zeros: data to SEEK_DATA, nothing worth sending.
ZEROS = (40 * MIB, 2 * MIB)


class _Node:
    name: str
    primary_ip = "127.0.0.1"
    offline = False

    def __init__(self, name: str) -> None:
        self.name = name


class PerNodeRoots:
    """The RPC transport: the in-process backend, under the root of the
    node the call is for.  The root is process-wide, so calls take turns
    (the copy reads ahead in a second thread)."""

    def __init__(self, roots: dict[str, str]) -> None:
        self.roots = roots
        self.local = LocalTransport()
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        #: Calls answered with this failure instead (call name -> message).
        self.fail: dict[str, str] = {}

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        with self.lock:
            self.calls.append((node, call))
            if call in self.fail:
                return RpcResult(node, call, fail_msg=self.fail[call])
            pathutils.set_root(self.roots[node])
            return self.local(node, address, call, args, timeout)


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[RpcClient, PerNodeRoots,
                                            objects.Disk]]:
    roots = {SRC: str(tmp_path / "n1"), DST: str(tmp_path / "n2")}
    transport = PerNodeRoots(roots)
    rpc = RpcClient(_Node, transport)
    disk = objects.Disk(dev_type=constants.LD_FILE, size=SIZE_MIB,
                        logical_id=[constants.FD_LOOP, f"{DIRECTORY}/disk0"],
                        iv_name="disk/0")
    try:
        for node in (SRC, DST):
            rpc.call_file_storage_dir_create([node], DIRECTORY)[
                node].raise_on_fail()
            rpc.call_blockdev_create([node], disk.to_dict(), SIZE_MIB,
                                     "inst1.example.com", True)[
                node].raise_on_fail()
        yield rpc, transport, disk
    finally:
        rpc.close()
        pathutils.set_root(None)


def path_on(transport: PerNodeRoots, node: str) -> str:
    return f"{transport.roots[node]}{DIRECTORY}/disk0"


def fill_source(path: str) -> None:
    with open(path, "r+b") as handle:
        for offset, data in PIECES:
            handle.seek(offset)
            handle.write(data)
        handle.seek(ZEROS[0])
        handle.write(b"\0" * ZEROS[1])
        handle.flush()
        os.fsync(handle.fileno())


def test_sparse_copy_keeps_holes_and_content(nodes: Any) -> None:
    rpc, transport, disk = nodes
    src, dst = path_on(transport, SRC), path_on(transport, DST)
    fill_source(src)
    lines: list[str] = []
    sent = disk_copy.copy_disk(rpc, disk, SRC, DST, disk_copy.CopyProgress(
        "disk/0", SIZE_MIB * MIB, lines.append))

    with open(src, "rb") as a, open(dst, "rb") as b:
        assert a.read() == b.read()
    assert os.path.getsize(dst) == SIZE_MIB * MIB
    data_bytes = sum(len(data) for _, data in PIECES)
    assert data_bytes <= sent < data_bytes + 4 * MIB
    allocated = os.stat(dst).st_blocks * 512
    # Only the blocks around the data are allocated: not the holes, and
    # not the source's allocated zeros either.
    assert allocated < data_bytes + 64 * 1024
    assert os.stat(src).st_blocks * 512 >= ZEROS[1]
    # Holes are never read chunk by chunk: a handful of calls, not 16.
    writes = [c for c in transport.calls if c[1] == "blockdev_write_chunk"]
    assert len(writes) == 4 and all(n == DST for n, _ in writes)
    assert lines[-1].startswith("  disk/0: 100% of 64.0 MiB,")


def test_a_failed_write_stops_the_copy(nodes: Any) -> None:
    rpc, transport, disk = nodes
    fill_source(path_on(transport, SRC))
    transport.fail["blockdev_write_chunk"] = "No space left on device"
    lines: list[str] = []
    with pytest.raises(errors.RpcError, match=(
            f"Writing disk/0 on {DST}: call 'blockdev_write_chunk' on node"
            f" {DST} failed: No space left on device")):
        disk_copy.copy_disk(rpc, disk, SRC, DST, disk_copy.CopyProgress(
            "disk/0", SIZE_MIB * MIB, lines.append))
    # One write tried; at most the one read ahead after it; no totals.
    assert [c for _, c in transport.calls].count("blockdev_write_chunk") == 1
    assert [c for _, c in transport.calls].count("blockdev_read_data") <= 2
    assert lines == []


def test_empty_disk_moves_nothing(nodes: Any) -> None:
    rpc, transport, disk = nodes
    lines: list[str] = []
    assert disk_copy.copy_disk(rpc, disk, SRC, DST, disk_copy.CopyProgress(
        "disk/0", SIZE_MIB * MIB, lines.append)) == 0
    assert [c for _, c in transport.calls[-1:]] == ["blockdev_read_data"]
    assert os.stat(path_on(transport, DST)).st_blocks == 0
    assert len(lines) == 1 and "0.0 MiB of data sent" in lines[0]


def test_progress_lines_in_the_feedback(nodes: Any) -> None:
    rpc, transport, disk = nodes
    fill_source(path_on(transport, SRC))
    lines: list[str] = []
    progress = disk_copy.CopyProgress("disk/0", SIZE_MIB * MIB, lines.append,
                                      clock=FakeClock(3.0), interval=5.0)
    disk_copy.copy_disk(rpc, disk, SRC, DST, progress)
    # Each read/write step advances the clock by 3 s past the previous
    # line's 5 s interval at least every other step: several lines with
    # a rising percentage, the rate and an ETA, then the totals.
    assert len(lines) >= 3
    for line in lines[:-1]:
        assert line.startswith("  disk/0: ") and "MiB/s, ETA " in line
    percents = [int(line.split(": ")[1].split("%")[0]) for line in lines]
    assert percents == sorted(percents) and percents[-1] == 100
    assert percents[0] < 100
    assert "done in" in lines[-1] and "ETA" not in lines[-1]


def test_progress_line_arithmetic() -> None:
    clock = FakeClock(0.0)
    lines: list[str] = []
    progress = disk_copy.CopyProgress("disk/1", 100 * MIB, lines.append,
                                      clock=clock)
    clock.now += 10
    progress.update(25 * MIB, 5 * MIB)
    assert lines == ["  disk/1: 25% of 100.0 MiB, 5.0 MiB of data sent,"
                     " 0.5 MiB/s, ETA 30s"]
    clock.now += 1
    progress.update(30 * MIB, 0)  # within the interval: no line
    assert len(lines) == 1
    clock.now += 3589
    progress.finish()
    assert lines[-1] == ("  disk/1: 100% of 100.0 MiB, 5.0 MiB of data sent,"
                         " 0.0 MiB/s, done in 1h00m")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59.4, "59s"), (60, "1m00s"), (185, "3m05s"),
    (7260, "2h01m")])
def test_format_duration(seconds: float, text: str) -> None:
    assert disk_copy.format_duration(seconds) == text


def test_read_data_skips_holes_and_stops_at_the_next(nodes: Any) -> None:
    _, transport, disk = nodes
    fill_source(path_on(transport, SRC))
    pathutils.set_root(transport.roots[SRC])
    first = blockdev_read_data(disk.to_dict(), 5000, 4 * MIB)
    assert first is not None
    # The first data after 5000 is the piece around the 4 MiB boundary
    # (file systems allocate whole blocks: it starts at its block).
    assert 4 * MIB - 4096 - 700 <= first["offset"] <= 4 * MIB - 700
    assert first["offset"] + first["length"] <= 4 * MIB + 4096 + 800
    zeros = blockdev_read_data(disk.to_dict(), ZEROS[0], MIB)
    assert zeros == {"offset": ZEROS[0], "length": MIB, "data": None}
    assert blockdev_read_data(disk.to_dict(), SIZE_MIB * MIB, 1) is None
