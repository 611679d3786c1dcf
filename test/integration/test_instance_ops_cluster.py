"""Instance operations on a real 2-node local cluster: the real
``gnt-instance`` commands, masterd, node daemons over HTTPS, the fake
hypervisor and file disks under each node's own root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ganeti import pathutils
from ganeti.config import journal
from ganeti.hypervisor.fake import FAULT_IGNORE_SOFT_STOP, FakeHypervisor
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

EXAMPLE_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
OS_NAME = "ganeti-demo-os+minimal"
GNT_INSTANCE = ("import sys\n"
                "from ganeti.client import gnt_instance\n"
                "sys.exit(gnt_instance.main(['gnt-instance', *sys.argv[1:]]))\n")


class Cluster:
    def __init__(self, lc: LocalCluster) -> None:
        self.lc = lc
        self.n1, self.n2 = lc.node(1), lc.node(2)
        for node in (self.n1, self.n2):
            target = Path(node.paths.os_search_path[0]) / "ganeti-demo-os"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(EXAMPLE_OS, target)

    def gi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", GNT_INSTANCE, *args],
                              env=self.lc.env(), capture_output=True,
                              text=True, timeout=300, check=False,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args: str) -> str:
        res = self.gi(*args)
        assert res.returncode == 0, f"{args}: {res.stdout}{res.stderr}"
        return res.stdout

    def fails(self, code: int, match: str, *args: str) -> str:
        res = self.gi(*args)
        out = res.stdout + res.stderr
        assert res.returncode == code, f"{args}: {out}"
        assert match in out, out
        return out

    def hv(self, index: int) -> FakeHypervisor:
        node = self.lc.node(index)
        return FakeHypervisor(state_dir=node.paths.fake_hv_dir)

    def add(self, name: str, *extra: str) -> None:
        self.ok("add", "--no-name-check", "--no-ip-check", "-o", OS_NAME,
                "-n", self.n1.name, *extra, name)

    def config(self) -> dict[str, object]:
        data: dict[str, object] = journal.read_document(
            self.lc.master().paths.cluster_conf_file)
        return data

    def inst(self, name: str) -> dict[str, object]:
        instances = self.config()["instances"]
        assert isinstance(instances, dict)
        result: dict[str, object] = instances[name]
        return result


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster],
            monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "1024")
    return Cluster(make_cluster(2))


ROUTED = "0:mode=routed,link=100,ip=198.51.100.10"


def test_lifecycle_disks_and_move(cluster: Cluster) -> None:
    c = cluster
    name = "web1.local-cluster.example"
    c.add(name, "-t", "file", "--disk", "0:size=16M", "--net", ROUTED,
          "-B", "memory=128", "--no-start")
    assert not c.inst(name)["admin_up"]

    c.ok("startup", name)
    assert c.hv(1).list_instances() == [name] and c.inst(name)["admin_up"]
    first = c.hv(1).instance_state(name)
    assert first is not None

    for kind in ("soft", "hard", "full"):
        c.ok("reboot", "--type", kind, name)
    state = c.hv(1).instance_state(name)
    assert state is not None and state["reboots"] == 0  # hard/full: new run
    assert state["id"] != first["id"]

    shown = c.ok("console", "--show-cmd", name).strip()
    assert shown.startswith("cat ") and c.n1.root in shown
    assert json.loads(c.ok("console", name))["name"] == name

    # A guest that ignores the soft stop is stopped hard after the timeout.
    c.hv(1).inject_fault(FAULT_IGNORE_SOFT_STOP)
    out = c.ok("shutdown", "--timeout", "0", name)
    assert "stopped hard" in out
    assert c.hv(1).list_instances() == [] and not c.inst(name)["admin_up"]
    c.fails(1, "is not running", "reboot", name)

    disk_path = c.n1.paths.under(
        f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{name}/disk0")
    out = c.ok("activate-disks", name)
    assert out.strip() == f"{c.n1.name}:disk/0:{disk_path}"
    c.ok("deactivate-disks", name)
    c.ok("grow-disk", name, "0", "8M")
    assert os.path.getsize(disk_path) == 24 * 1024 * 1024
    c.fails(1, "Invalid disk index 3", "grow-disk", name, "3", "1M")

    with open(disk_path, "r+b") as handle:
        handle.seek(5 * 1024 * 1024)
        handle.write(b"payload in the middle")
    c.ok("startup", name)
    c.ok("move", "-f", "-n", c.n2.name, name)
    assert c.inst(name)["primary_node"] == c.n2.name
    assert c.hv(2).list_instances() == [name] and c.hv(1).list_instances() == []
    moved = c.n2.paths.under(
        f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{name}/disk0")
    assert not os.path.exists(disk_path)
    with open(moved, "rb") as handle:
        data = handle.read()
    assert len(data) == 24 * 1024 * 1024
    assert data[5 * 1024 * 1024:][:21] == b"payload in the middle"
    with open(disk_path.replace(c.n1.root, c.n2.root), "rb") as handle:
        assert handle.read(17) == b"GANETI-DEMO-OS 1\n"


def test_migrate_and_failover(cluster: Cluster) -> None:
    c = cluster
    name = "db1.local-cluster.example"
    c.add(name, "-t", "diskless", "--net", ROUTED, "-B", "memory=256")
    assert c.hv(1).list_instances() == [name]
    before = c.hv(1).instance_state(name)
    assert before is not None

    c.ok("migrate", "-f", name)
    assert c.inst(name)["primary_node"] == c.n2.name
    assert c.hv(2).list_instances() == [name]
    assert c.hv(1).instance_state(name) is None
    after = c.hv(2).instance_state(name)
    assert after is not None and after["start_time"] == before["start_time"]

    # A failing step rolls back: the instance keeps running on node 2.
    c.hv(1).inject_fault("accept_instance", "target refuses")
    c.fails(1, "target refuses", "migrate", "-f", "--non-live", name)
    assert c.hv(2).list_instances() == [name]
    assert c.inst(name)["primary_node"] == c.n2.name

    c.ok("failover", "-f", name)
    assert c.inst(name)["primary_node"] == c.n1.name
    assert c.hv(1).list_instances() == [name] and c.hv(2).list_instances() == []
    c.ok("migrate", "-f", "--cleanup", name)

    fname = "files1.local-cluster.example"
    c.add(fname, "-t", "file", "--disk", "0:size=8M", "--net", ROUTED,
          "-B", "memory=64")
    c.fails(1, "file disks are local to the primary node; use gnt-instance"
            " move", "migrate", "-f", fname)
    c.fails(1, "file disks are local to the primary node", "failover", "-f",
            fname)


def test_modify_and_bridges(cluster: Cluster) -> None:
    c = cluster
    name = "app1.local-cluster.example"
    c.add(name, "-t", "diskless", "--net", ROUTED, "--no-start")

    out = c.ok("modify", "-B", "memory=192", name)
    assert "Modified instance" in out and "be/maxmem -> 192" in out
    assert "be/minmem -> 192" in out
    c.fails(1, "routed NIC requires an IP address", "modify", "--net",
            "add:mode=routed", name)
    c.fails(1, "colour", "modify", "-B", "colour=red", name)
    c.fails(1, "global", "modify", "-H", "migration_port=9000", name)
    c.fails(1, "nope", "modify", "-H", "nope=1", name)
    c.fails(1, "not supported for diskless", "modify", "--disk",
            "add:size=1G", name)

    # A bridged NIC whose bridge does not exist on the node.
    c.fails(1, "Missing bridges: br-ops", "modify", "--net",
            "add:link=br-ops", name)
    c.ok("modify", "-f", "--net", "add:link=br-ops", name)
    nics = c.inst(name)["nics"]
    assert isinstance(nics, list) and len(nics) == 2
    c.fails(1, "Missing bridges: br-ops", "startup", name)
    assert c.hv(1).list_instances() == []
    # The node daemon looks for /sys/class/net/<bridge>/bridge under its
    # own root (relocation): give node 1 that entry and the start passes.
    os.makedirs(c.n1.paths.under("/sys/class/net/br-ops/bridge"))
    c.ok("startup", name)
    assert c.hv(1).list_instances() == [name]

    c.ok("modify", "--net", "remove", name)
    assert len(c.inst(name)["nics"]) == 1  # type: ignore[arg-type]
    c.ok("shutdown", "--all", "--force-multiple")
    assert c.hv(1).list_instances() == []
    c.fails(1, "use --force-multiple", "startup", "--all")


def test_move_of_a_large_sparse_disk(cluster: Cluster) -> None:
    """A 2 GiB file disk holding a few MiB moves as data only: holes stay
    holes on the target, the content is identical, and the job log shows
    progress lines with the totals."""
    c = cluster
    name = "sparse1.local-cluster.example"
    c.add(name, "-t", "file", "--disk", "0:size=2G", "--net", ROUTED,
          "--no-start")
    source = c.n1.paths.under(
        f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{name}/disk0")
    mib = 1024 * 1024
    with open(source, "r+b") as handle:
        for offset in (mib, 700 * mib + 5, 2047 * mib):
            handle.seek(offset)
            handle.write(os.urandom(mib))
    with open(source, "rb") as handle:
        expected = handle.read()

    out = c.ok("move", "-f", "-n", c.n2.name, name)
    assert f"disk/0: copying 2048 MiB from {c.n1.name} to {c.n2.name}" in out
    last = [line for line in out.splitlines() if "disk/0: 100% of" in line]
    assert len(last) == 1, out
    assert "of 2048.0 MiB," in last[0] and "MiB/s, done in" in last[0]
    sent = float(last[0].split("MiB,")[1].split(" MiB of data sent")[0])
    assert 3.0 <= sent < 16.0, last[0]

    target = source.replace(c.n1.root, c.n2.root)
    assert not os.path.exists(source)
    with open(target, "rb") as handle:
        assert handle.read() == expected
    assert os.path.getsize(target) == 2048 * mib
    assert os.stat(target).st_blocks * 512 < 8 * mib
    c.ok("remove", "-f", name)
