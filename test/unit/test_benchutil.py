"""What the benchmark tools share (ganeti.benchutil)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ganeti import benchutil, constants, objects
from ganeti.hypervisor import fake
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.localcluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("max_nodes, sizes", [
    (1, [1]), (5, [1, 5]), (10, [1, 10]), (50, [1, 10, 50]),
])
def test_fanout_never_goes_beyond_the_nodes_there_are(
        max_nodes: int, sizes: list[int]) -> None:
    # bench-rpc called 5 nodes "10 node(s)" with --nodes-max 5.
    assert benchutil.fanout_sizes(max_nodes) == sizes


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert benchutil.percentile(values, 0.5) == 50.0
    assert benchutil.percentile(values, 0.99) == 99.0
    assert benchutil.percentile(values, 1.0) == 100.0
    assert benchutil.percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError, match="no values"):
        benchutil.percentile([], 0.5)


class ScriptedCluster(LocalCluster):
    """A local cluster whose commands answer from a script (the process
    boundary); nothing is started."""

    def __init__(self, directory: str, answers: list[tuple[int, str]]) -> None:
        super().__init__(directory, nodes=2)
        self.answers = answers
        self.ran: list[tuple[str, ...]] = []

    def gnt(self, command: str, *args: str,
            **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.ran.append((command, *args))
        code, output = self.answers.pop(0)
        return subprocess.CompletedProcess([command, *args], code, output, "")


def test_timed_gnt_returns_the_output_of_a_success(tmp_path: Path) -> None:
    cluster = ScriptedCluster(str(tmp_path), [(0, "all fine\n")])
    elapsed, output = benchutil.timed_gnt(cluster, "gnt-cluster", "verify")
    assert output == "all fine\n"
    assert elapsed >= 0
    assert cluster.ran == [("gnt-cluster", "verify")]


def test_a_failed_command_stops_the_benchmark(tmp_path: Path) -> None:
    # bench-rpc counted the time of failed verify runs into its median.
    cluster = ScriptedCluster(str(tmp_path), [
        (1, "ERROR: node node2: file missing\n")])
    with pytest.raises(SystemExit) as info:
        benchutil.timed_gnt(cluster, "gnt-cluster", "verify")
    message = str(info.value.code)
    assert "'gnt-cluster verify' failed with exit code 1" in message
    assert "ERROR: node node2: file missing" in message
    assert "\n" not in message


def test_bulk_started_instances_run_on_their_primary_nodes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bench-rapi measured 5,000 instances that never started.
    monkeypatch.delenv(fake.MEMORY_ENV, raising=False)
    cluster = LocalCluster(str(tmp_path / "c"), nodes=2)
    node1, node2 = cluster.nodes
    FakeHypervisor(node1.paths.fake_hv_dir).set_node_resources(
        memory_total=64, cpu_total=2)
    settings = objects.Cluster(cluster_name="cluster.example.com",
                               master_node=node1.name, master_ip="127.0.0.9")
    instances = [objects.Instance(
        name=f"bulk{k}.bench.example", primary_node=(node1, node2)[k % 2].name,
        hypervisor=constants.HT_FAKE, disk_template=constants.DT_DISKLESS,
        beparams={"maxmem": 32}, admin_up=True) for k in range(5)]
    benchutil.start_fake_instances(cluster, settings, instances)
    on1 = FakeHypervisor(node1.paths.fake_hv_dir)
    on2 = FakeHypervisor(node2.paths.fake_hv_dir)
    assert sorted(on1.list_instances()) == [
        "bulk0.bench.example", "bulk2.bench.example", "bulk4.bench.example"]
    assert sorted(on2.list_instances()) == [
        "bulk1.bench.example", "bulk3.bench.example"]
    # Node 1 had room for two of its three: its memory was raised.
    info = on1.get_node_info()
    assert info.memory_total == 96
    assert info.memory_free == 0


@pytest.mark.parametrize("tool, args", [
    ("bench-rpc", ["--nodes-max", "0"]),
    ("bench-rpc", ["--engine", "curl"]),
    ("bench-fanout", ["--nodes", "0"]),
    ("bench-fanout", ["--nodes", "251"]),
    ("bench-rapi", ["--big", "0"]),
    ("bench-instances", ["--seq", "2", "--cycles", "3"]),
])
def test_bench_tools_refuse_impossible_sizes(tool: str,
                                            args: list[str]) -> None:
    env = dict(os.environ, **{benchutil.NO_REEXEC_ENV: "1"})
    res = subprocess.run([sys.executable, str(REPO / "tools" / tool), *args],
                         capture_output=True, text=True, env=env, timeout=120,
                         stdin=subprocess.DEVNULL, check=False)
    assert res.returncode == 2
    assert res.stdout == ""
    assert f"{tool}: error:" in res.stderr


class _IdleCluster:
    """Stands in for LocalCluster: records where it was made."""

    made: list[str] = []

    def __init__(self, path: str, **_kwargs: Any) -> None:
        self.made.append(path)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_missing_bench_directory_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bench-scale --dir /tmp/new ended in a FileNotFoundError traceback.
    monkeypatch.setattr(benchutil, "LocalCluster", _IdleCluster)
    where = tmp_path / "new" / "deeper"
    with benchutil.local_cluster(str(where), nodes=1, prefix="127.0.0."):
        assert _IdleCluster.made[-1].startswith(str(where / "bench-"))
    assert where.is_dir() and not list(where.iterdir())


def test_a_bench_directory_that_cannot_be_made_is_one_line(
        tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    where = str(tmp_path / "file" / "x")
    with pytest.raises(SystemExit) as info, \
            benchutil.local_cluster(where, nodes=1, prefix="127.0.0."):
        pass
    message = str(info.value.code)
    assert "cannot make a directory under" in message
    assert "Not a directory" in message and "\n" not in message


def test_cpu_seconds_counts_the_processes_used_time() -> None:
    before = benchutil.cpu_seconds([os.getpid()])
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert benchutil.cpu_seconds([os.getpid()]) >= before + 0.03
    # A process gone (or never there) counts nothing.
    assert benchutil.cpu_seconds([2 ** 22 + 1]) == 0


def test_wait_quiet_waits_for_idle_daemons_at_most_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c",
                                "import time; time.sleep(30)"])
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for pid, limit, quiet in ((sleeper.pid, 5.0, True),
                                  (spinner.pid, 0.3, False)):
            monkeypatch.setattr(benchutil, "daemon_pids",
                                lambda _c, pid=pid: [("noded", pid)])
            waited = benchutil.wait_quiet(None, limit,  # type: ignore[arg-type]
                                          window=0.2)
            # An idle one is quiet after one window; a busy one never is.
            assert (waited < 1.0) if quiet else (waited >= limit)
    finally:
        for proc in (sleeper, spinner):
            proc.kill()
            proc.wait()
