"""Exports on a real 2-node local cluster: ``gnt-backup export`` streams
each disk node to node, ``gnt-backup import`` restores it under a new
name on the other node, ``list`` and ``remove``; and the bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_instance_ops_cluster import Cluster

from ganeti import pathutils
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

GNT_BACKUP = ("import sys\n"
              "from ganeti.client import gnt_backup\n"
              "sys.exit(gnt_backup.main(['gnt-backup', *sys.argv[1:]]))\n")
MIB = 1024 * 1024


class BackupCluster(Cluster):
    def gb(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", GNT_BACKUP, *args],
                              env=self.lc.env(), capture_output=True,
                              text=True, timeout=300, check=False,
                              stdin=subprocess.DEVNULL)

    def bok(self, *args: str) -> str:
        res = self.gb(*args)
        assert res.returncode == 0, f"{args}: {res.stdout}{res.stderr}"
        return res.stdout + res.stderr

    def bfails(self, match: str, *args: str) -> str:
        res = self.gb(*args)
        out = res.stdout + res.stderr
        assert res.returncode != 0, f"{args}: {out}"
        assert match in out, out
        return out

    def disk(self, index: int, name: str) -> str:
        return self.lc.node(index).paths.under(
            f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/{name}/disk0")

    def export_dir(self, index: int) -> Path:
        return Path(self.lc.node(index).paths.export_dir)


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster],
            monkeypatch: pytest.MonkeyPatch) -> BackupCluster:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "1024")
    return BackupCluster(make_cluster(2))


def _pattern(size: int) -> bytes:
    block = bytes(range(256)) * 4096  # 1 MiB, every byte value
    return (block * (size // len(block) + 1))[:size]


def test_export_then_import_on_the_other_node(cluster: BackupCluster) -> None:
    c = cluster
    name, copy = "src1.local-cluster.example", "copy1.local-cluster.example"
    c.add(name, "-t", "file", "--disk", "0:size=8M", "-B", "memory=64")
    data = _pattern(8 * MIB)
    c.ok("shutdown", name)
    with open(c.disk(1, name), "r+b") as handle:
        handle.write(data)
    c.ok("startup", name)

    # Running instance with a file disk: no snapshot, so --noshutdown is
    # refused and nothing is left behind.
    c.bfails("have no snapshots", "export", "-n", c.n2.name, "--noshutdown",
             name)
    assert not c.export_dir(2).exists() or not any(c.export_dir(2).iterdir())

    out = c.bok("export", "-n", c.n2.name, name)
    assert "disk/0: 100% of 8.0 MiB, 8.0 MiB of data sent" in out, out
    assert c.hv(1).list_instances() == [name]  # started again
    exported = c.export_dir(2) / name
    assert sorted(os.listdir(exported)) == ["config.ini", "disk0.dump"]
    assert (exported / "disk0.dump").read_bytes() == data
    config = (exported / "config.ini").read_text()
    assert "[export]" in config and f"source = {c.n1.name}" in config
    assert "disk0_size = 8" in config and "disk0_dump = disk0.dump" in config

    listing = c.bok("list")
    assert f"Node: {c.n2.name}\nExports:\n  {name}\n" in listing, listing
    assert c.bok("list", "--node", c.n1.name).strip() == \
        f"Node: {c.n1.name}\nExports:"

    # Import under a new name on node 1 from node 2's export: the dump
    # crosses between the node daemons.
    out = c.bok("import", "--no-name-check", "--no-ip-check", "-t", "file",
                "-n", c.n1.name, "--src-node", c.n2.name, "--src-dir", name,
                "--no-start", copy)
    assert "importing disk/0" in out, out
    assert "disk/0: 100% of 8.0 MiB, 8.0 MiB of data sent" in out, out
    assert Path(c.disk(1, copy)).read_bytes() == data
    assert c.inst(copy)["os"] == c.inst(name)["os"]

    # An export already there is replaced, only at the end.
    c.ok("shutdown", name)
    with open(c.disk(1, name), "r+b") as handle:
        handle.write(b"second")
    c.bok("export", "-n", c.n2.name, name)
    assert (exported / "disk0.dump").read_bytes()[:6] == b"second"

    c.bok("remove", name)
    assert not exported.exists()
    c.bfails("No export of", "remove", name)


def test_bad_exports_and_imports(cluster: BackupCluster) -> None:
    c = cluster
    name = "bad1.local-cluster.example"
    c.add(name, "-t", "file", "--disk", "0:size=8M", "--no-start")
    export_root = c.export_dir(2)

    # A left-over temporary directory is named, not mixed into.
    export_root.mkdir(parents=True, exist_ok=True)
    (export_root / f"{name}.new").mkdir()
    c.bfails(f"An unfinished export of {name} exists", "export", "-n",
             c.n2.name, name)
    assert (export_root / f"{name}.new").is_dir()
    c.bok("remove", name)
    assert not (export_root / f"{name}.new").exists()

    # Import from a missing export, and from a corrupt config.ini.
    c.bfails("No export of nothere", "import", "--no-name-check",
             "--no-ip-check", "-t", "file", "-n", c.n1.name, "--src-node",
             c.n2.name, "--src-dir", "nothere", "new1.local-cluster.example")
    c.bok("export", "-n", c.n2.name, name)
    (export_root / name / "config.ini").write_text("[export]\nversion = 0\n")
    c.bfails("Invalid export config", "import", "--no-name-check",
             "--no-ip-check", "-t", "file", "-n", c.n1.name, "--src-node",
             c.n2.name, "--src-dir", name, "new2.local-cluster.example")
    instances = c.config()["instances"]
    assert isinstance(instances, dict)
    assert "new2.local-cluster.example" not in instances

    # An export on the instance's own node, imported on that node.
    c.bok("export", "-n", c.n1.name, name)
    local = c.export_dir(1) / name / "disk0.dump"
    assert local.read_bytes() == Path(c.disk(1, name)).read_bytes()
    c.bok("import", "--no-name-check", "--no-ip-check", "-t", "file", "-n",
          c.n1.name, "--src-node", c.n1.name, "--src-dir",
          str(c.export_dir(1) / name), "--no-start", "loc.local-cluster.example")
    # The demo OS renames the system in its header block on import.
    imported = Path(c.disk(1, "loc.local-cluster.example")).read_bytes()
    assert imported[1024:] == local.read_bytes()[1024:]
    assert b"instance=loc.local-cluster.example\n" in imported[:1024]

    # --remove-instance: the export stays, the instance and its disk go.
    c.bok("export", "-n", c.n2.name, "--remove-instance", name)
    instances = c.config()["instances"]
    assert isinstance(instances, dict) and name not in instances
    assert not os.path.exists(c.disk(1, name))
    assert c.bok("list", "--node", c.n2.name).split()[-1] == name


def test_export_to_a_full_node(cluster: BackupCluster) -> None:
    """A target whose export directory has less room than the disks is
    refused before anything is written (a 4 MiB tmpfs)."""
    c = cluster
    name = "full1.local-cluster.example"
    c.add(name, "-t", "file", "--disk", "0:size=8M", "--no-start")
    export_root = c.export_dir(2)
    export_root.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m",
                              "tmpfs", str(export_root)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        c.bfails("Not enough space", "export", "-n", c.n2.name, name)
        assert os.listdir(export_root) == []
    finally:
        subprocess.run(["umount", str(export_root)], check=True)
