"""ganeti-noded under memory pressure: it locks its memory (the default
``--mlock``), and it keeps answering RPC calls while a memory cgroup it
shares with an allocation hog sits at its limit.

The cgroup is a child of this process's own memory cgroup (cgroup v1's
memory controller or cgroup v2's ``memory.max``); the test is skipped
where neither can be created.  The hog, the daemon and the cgroup are
removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_noded import (
    WAIT,
    Cluster,
    Node,
    accepts,
    client_for,
    free_port,
    start_noded,
    stop,
)
from testkit import wait_for

from ganeti import crypto
from ganeti.utils import memlock

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
#: The cgroup's memory limit: the hog fills what the daemon leaves.
LIMIT = 256 * MIB
#: The hog stops this close to the limit: less than the new pages (the
#: connection threads' stacks) that the calls below make the daemon
#: touch, so that the kernel has to reclaim.  The daemon's allocator
#: has one arena and serves the calls from memory it already has.
MARGIN = 64 * 1024


class MemoryCgroup:
    """A memory cgroup of the test's own (v1 or v2), removed by close()."""

    def __init__(self, path: Path, v2: bool) -> None:
        self.path = path
        self.v2 = v2

    @classmethod
    def create(cls, name: str) -> MemoryCgroup:
        own_v1 = own_v2 = None
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                _num, controllers, rel = line.rstrip("\n").split(":", 2)
                if "memory" in controllers.split(","):
                    own_v1 = rel
                elif controllers == "":
                    own_v2 = rel
        candidates = []
        if own_v1 is not None:
            candidates.append((Path("/sys/fs/cgroup/memory" + own_v1), False))
        if own_v2 is not None:
            candidates.append((Path("/sys/fs/cgroup" + own_v2), True))
        reasons = []
        for parent, v2 in candidates:
            path = parent / name
            try:
                if v2:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                path.mkdir()
            except OSError as err:
                reasons.append(f"{parent}: {err.strerror}")
                continue
            group = cls(path, v2)
            if (path / group._file("limit")).exists():
                return group
            group.close()
            reasons.append(f"{parent}: no memory controller")
        pytest.skip("cannot create a memory cgroup: "
                    + ("; ".join(reasons) or "no memory controller"))

    def _file(self, what: str) -> str:
        names = {"limit": ("memory.limit_in_bytes", "memory.max"),
                 "usage": ("memory.usage_in_bytes", "memory.current"),
                 "peak": ("memory.max_usage_in_bytes", "memory.peak")}
        return names[what][self.v2]

    def read(self, what: str) -> int:
        return int((self.path / self._file(what)).read_text().split()[0])

    def limit_hits(self) -> int:
        """How often a charge met the limit (v1 failcnt, v2 ``max``)."""
        if not self.v2:
            return int((self.path / "memory.failcnt").read_text())
        for line in (self.path / "memory.events").read_text().splitlines():
            key, value = line.split()
            if key == "max":
                return int(value)
        return 0

    def set_limit(self, limit: int) -> None:
        (self.path / self._file("limit")).write_text(str(limit))

    def add(self, pid: int) -> None:
        if not self.v2:  # bring the pages already charged along
            with contextlib.suppress(OSError):
                (self.path / "memory.move_charge_at_immigrate").write_text("3")
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(p) for p in
                (self.path / "cgroup.procs").read_text().split()]

    def close(self) -> None:
        """Kill what is left inside and remove the cgroup."""
        if not self.path.exists():
            return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self.pids(), "the cgroup to empty")
        self.path.rmdir()


HOG = r"""
import sys
usage_file, limit, margin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open("/proc/self/oom_score_adj", "w") as handle:
    handle.write("1000")  # if the kernel must kill, the hog goes first
sys.stdin.readline()  # moved into the cgroup
def usage():
    with open(usage_file) as handle:
        return int(handle.read())
held = []
while usage() < limit - margin:
    step = min(1 << 20, limit - margin - usage())
    held.append(b"\x01" * max(step, 4096))  # written: resident
print("full", flush=True)
sys.stdin.readline()  # until the test is done
"""


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Cluster, subprocess.Popen[bytes]]]:
    cert_file = str(tmp_path / "server.pem")
    key_pem, cert_pem = crypto.generate_self_signed("cluster", validity_days=1)
    crypto.write_pem_file(cert_file, key_pem, cert_pem)
    one = Node("node1", "127.0.0.1", tmp_path / "node1")
    port = free_port([one.primary_ip])
    os.makedirs(one.paths.data_dir)
    shutil.copy(cert_file, one.paths.noded_cert_file)
    one.proc = start_noded(one, port)
    try:
        wait_for(lambda: accepts(one.primary_ip, port)
                 or one.proc.poll() is not None,  # type: ignore[union-attr]
                 "noded to listen")
        assert one.proc.poll() is None, (one.root / "noded.out").read_text()
        yield Cluster({"node1": one}, port, cert_file, cert_pem), one.proc
    finally:
        stop(one.proc)


def _log(cluster: Cluster) -> str:
    return (cluster.nodes["node1"].root / "noded.out").read_text()


def test_noded_locks_its_memory_by_default(
        node: tuple[Cluster, subprocess.Popen[bytes]]) -> None:
    cluster, proc = node
    if os.geteuid() != 0:
        pytest.skip("the daemon may not lock its memory without root here")
    assert "memory locked" in _log(cluster)
    assert memlock.locked_kib(proc.pid) > 0


def _whole_locked_regions(pid: int, min_kib: int) -> list[str]:
    """Anonymous mappings of at least ``min_kib`` that are resident and
    locked in full (a thread stack locked by ``MCL_CURRENT``)."""
    found = []
    header = ""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps") as handle:
        lines = handle.read().splitlines()
    for line in [*lines, "end-of-smaps"]:
        key, _, value = line.partition(":")
        if " " in key or "-" in key or key == "end-of-smaps":
            anon = len(header.split()) < 6  # no path: anonymous
            if (header and anon and fields.get("Size", 0) >= min_kib
                    and fields.get("Locked", 0) >= fields["Size"]):
                found.append(f"{header} ({fields['Size']} KiB)")
            header, fields = line, {}
        elif value.strip().endswith("kB"):
            fields[key] = int(value.split()[0])
    return found


def test_noded_locks_no_thread_stack_whole(
        node: tuple[Cluster, subprocess.Popen[bytes]]) -> None:
    # Memory is locked before the daemon's first thread: a stack that
    # exists at mlockall(MCL_CURRENT) would be resident whole (8 MiB of
    # each of 100 node daemons on one machine).
    cluster, proc = node
    if os.geteuid() != 0:
        pytest.skip("the daemon may not lock its memory without root here")
    assert "memory locked" in _log(cluster)
    assert _whole_locked_regions(proc.pid, 8 * 1024) == []


def test_noded_answers_while_its_cgroup_is_at_the_limit(
        node: tuple[Cluster, subprocess.Popen[bytes]]) -> None:
    cluster, proc = node
    group = MemoryCgroup.create(f"ganeti-test-{os.getpid()}")
    hog = None
    try:
        group.set_limit(LIMIT)
        group.add(proc.pid)
        hog = subprocess.Popen(
            [sys.executable, "-c", HOG, str(group.path / group._file("usage")),
             str(LIMIT), str(MARGIN)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        group.add(hog.pid)
        assert hog.stdin is not None and hog.stdout is not None
        hog.stdin.write("go\n")
        hog.stdin.flush()
        assert hog.stdout.readline() == "full\n"
        assert group.read("usage") >= LIMIT - MARGIN

        # Calls from several threads at once: each is a connection and a
        # thread in the daemon, all allocating inside the full cgroup.
        rpc, transport = client_for(cluster)
        answers: list[object] = []
        lock = threading.Lock()

        def ask() -> None:
            for _ in range(5):
                result = rpc.call_version(["node1"])["node1"]
                with lock:
                    answers.append(result.payload if result.fail_msg is None
                                   else result.fail_msg)

        try:
            threads = [threading.Thread(target=ask) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT * 4)
        finally:
            rpc.close()
            transport.close()
        assert answers == [30] * 40
        assert proc.poll() is None, _log(cluster)
        assert group.read("peak") >= LIMIT - MARGIN
        assert group.limit_hits() > 0  # the kernel had to reclaim
    finally:
        if hog is not None:
            if hog.poll() is None:
                hog.kill()
            hog.wait()
            for stream in (hog.stdin, hog.stdout):
                if stream is not None:
                    stream.close()
        if proc.poll() is None:
            # Back to our own cgroup, so that removing this one (which
            # kills what is left inside) spares the daemon.
            (group.path.parent / "cgroup.procs").write_text(str(proc.pid))
        group.close()
