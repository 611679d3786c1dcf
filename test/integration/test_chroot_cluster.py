"""The chroot hypervisor on a real local cluster (``--hypervisor chroot``):
instances of the busybox OS on file disks run their heartbeat service
inside their root (a loop-mounted ext4 filesystem), are listed, reached
through the console, rebooted, shut down (also when the init script
ignores ``stop``: killed after the timeout) and removed; bad roots fail
with one line naming the instance and the node; nothing stays behind
(mounts, loop devices, processes), also when the cluster is stopped with
instances running."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest_cluster import ok, running_cluster, wait_for

from ganeti import constants
from ganeti.hypervisor.chroot import ChrootDirs, roots
from ganeti.localcluster import LocalCluster

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0
                                 or not os.path.exists("/bin/busybox")
                                 or shutil.which("mkfs.ext4") is None,
                                 reason="needs root, busybox and mkfs.ext4")]

NODE = "node1.local-cluster.example"


def leftovers(directory: str) -> list[str]:
    """Mounts, loop devices and processes of anything under ``directory``."""
    found = [f"mount {m[0]}" for m in roots.mounts_at_or_below(directory)]
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        with open(backing) as handle:
            if handle.read().strip().startswith(directory + "/"):
                found.append(f"loop {backing.split('/')[3]}")
    found += [f"process {pid}" for pid in roots.processes_in(directory)]
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with running_cluster("ch", 1, hypervisor=constants.HT_CHROOT,
                         rapi=False) as lc:
        yield lc
    left = leftovers(lc.directory)
    assert not left, left


def gi(lc: LocalCluster, *args: str, input: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    return lc.gnt("gnt-instance", *args, input=input)


def add(lc: LocalCluster, name: str, *extra: str) -> str:
    return ok(gi(lc, "add", "-t", "file", "--disk", "0:size=16M",
                 "-o", "busybox+heartbeat", "-n", NODE, "--no-name-check",
                 "--no-ip-check", *extra, name))


def field(lc: LocalCluster, name: str, what: str) -> str:
    return ok(gi(lc, "list", "--no-headers", "-o", what, name)).strip()


def root_of(lc: LocalCluster, name: str) -> Path:
    return Path(ChrootDirs.under(lc.node(1).paths.run_dir).root(name))


def disk_of(lc: LocalCluster, name: str) -> Path:
    return Path(lc.node(1).paths.file_storage_dir) / name / "disk0"


def beats(lc: LocalCluster, name: str) -> int:
    path = root_of(lc, name) / "var/lib/heartbeat/count"
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def heartbeat_pid(lc: LocalCluster, name: str) -> str:
    return (root_of(lc, name) / "run/heartbeat.pid").read_text().strip()


def remove(lc: LocalCluster, name: str) -> None:
    ok(gi(lc, "remove", "-f", name))
    assert not leftovers(lc.directory)
    assert not disk_of(lc, name).exists()


def test_life_cycle(cluster: LocalCluster) -> None:
    name = "busy1.example.com"
    add(cluster, name)
    assert field(cluster, name, "status") == "running"
    root = root_of(cluster, name)
    assert roots.is_mounted(str(root))
    pids = roots.processes_in(str(root))
    assert pids, "the heartbeat service runs in the root"
    # The service is alive: its counter advances.
    first = wait_for(lambda: beats(cluster, name), "the first beat")
    wait_for(lambda: beats(cluster, name) > first, "the next beat")
    # The console is a shell in the root.
    out = ok(gi(cluster, "console", name,
                input="cat /etc/hostname; ls /ganeti-chroot\n"))
    assert out.split() == [name, "/ganeti-chroot"]
    shown = ok(gi(cluster, "console", "--show-cmd", name)).strip()
    assert shown == f"chroot {root} /bin/sh"
    # Soft reboot: the init script's stop and start in the mounted root.
    before = heartbeat_pid(cluster, name)
    ok(gi(cluster, "reboot", name))
    assert field(cluster, name, "status") == "running"
    assert heartbeat_pid(cluster, name) != before
    ok(gi(cluster, "reboot", "--type=hard", name))
    assert field(cluster, name, "status") == "running"
    counted = beats(cluster, name)
    ok(gi(cluster, "shutdown", "--timeout", "20", name))
    assert field(cluster, name, "status") == "ADMIN_down"
    assert not leftovers(cluster.directory)
    assert not root.exists()
    # Renamed (the OS rewrites the host name in the root), the root keeps
    # its data: the counter goes on from where it was.
    new = "busy1b.example.com"
    ok(gi(cluster, "rename", "--no-name-check", "--no-ip-check", name, new))
    ok(gi(cluster, "startup", new))
    wait_for(lambda: beats(cluster, new) > counted, "beats after restart")
    assert ok(gi(cluster, "console", new,
                 input="cat /etc/hostname\n")).split() == [new]
    remove(cluster, new)


STUBBORN = """cat > /stubborn <<'EOF'
#!/bin/sh
case "$1" in
  start) ( trap '' TERM; while :; do sleep 1; done ) </dev/null >/dev/null 2>&1 & ;;
  stop) echo "stubborn: ignoring stop" ;;
esac
EOF
chmod 755 /stubborn
"""


def test_init_script_ignoring_stop_is_killed_after_the_timeout(
        cluster: LocalCluster) -> None:
    name = "busy2.example.com"
    add(cluster, name)
    ok(gi(cluster, "console", name, input=STUBBORN))
    ok(gi(cluster, "shutdown", name))
    ok(gi(cluster, "modify", "-H", "init_script=/stubborn", name))
    ok(gi(cluster, "startup", name))
    assert roots.processes_in(str(root_of(cluster, name)))
    ok(gi(cluster, "shutdown", "--timeout", "1", name))
    assert not leftovers(cluster.directory)
    log = Path(ChrootDirs.under(cluster.node(1).paths.run_dir)
               .log_file(name)).read_text()
    assert "stubborn: ignoring stop" in log
    remove(cluster, name)


def test_watcher_restarts_an_instance_whose_processes_died(
        cluster: LocalCluster) -> None:
    name = "busy5.example.com"
    add(cluster, name)
    root = root_of(cluster, name)
    for pid in roots.processes_in(str(root)):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: field(cluster, name, "status") == "ERROR_down",
             "the instance to be seen down")
    assert roots.is_mounted(str(root))  # what the dead instance left
    out = ok(cluster.gnt("ganeti-watcher"))
    log = Path(cluster.node(1).paths.log_file("watcher")).read_text()
    assert field(cluster, name, "status") == "running", out + log
    counted = beats(cluster, name)
    wait_for(lambda: beats(cluster, name) > counted, "beats after restart")
    assert len(roots.mounts_at_or_below(str(root))) == 1
    remove(cluster, name)


def _start_fails(lc: LocalCluster, name: str, why: str) -> None:
    res = gi(lc, "startup", name)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines()
             if line.startswith("Could not start")]
    assert lines == [f"Could not start instance {name} on node {NODE}:"
                     f" Instance {name}: {why}"], res.stderr
    assert not leftovers(lc.directory)


def test_bad_roots_fail_with_one_line(cluster: LocalCluster) -> None:
    name = "busy3.example.com"
    res = gi(cluster, "add", "-t", "file", "--disk", "0:size=16M",
             "-o", "busybox+heartbeat", "-n", NODE, "--no-name-check", "--no-ip-check",
             "-H", "init_script=/sbin/nothing", name)
    assert res.returncode == 1
    assert (f"Could not start instance {name} on node {NODE}: Instance"
            f" {name}: the init script /sbin/nothing (hvparam init_script)"
            f" is missing in its root on disk/0 ({disk_of(cluster, name)})"
            in res.stderr), res.stderr
    assert not leftovers(cluster.directory)
    ok(gi(cluster, "modify", "-H", "init_script=/ganeti-chroot", name))
    disk = disk_of(cluster, name)
    with open(disk, "r+b") as handle:  # wipe the filesystem
        handle.write(bytes(1 << 20))
    _start_fails(cluster, name, f"disk/0 ({disk}) holds no filesystem (was it"
                 " installed by an OS for the chroot hypervisor?)")
    subprocess.run(["mkswap", str(disk)], capture_output=True, check=True)
    res = gi(cluster, "startup", name)
    assert res.returncode == 1
    assert (f"Could not start instance {name} on node {NODE}: Instance"
            f" {name}: cannot mount disk/0 ({disk}) as its root: mount"
            " failed: mount: ") in res.stderr, res.stderr
    assert "dmesg" not in res.stderr
    assert not leftovers(cluster.directory)
    remove(cluster, name)


def test_stopping_the_cluster_stops_its_instances(
        make_cluster: Callable[..., LocalCluster]) -> None:
    lc = make_cluster(1, hypervisor=constants.HT_CHROOT, rapi=False)
    add(lc, "busy4.example.com")
    assert roots.processes_in(lc.directory)
    stopped = lc.stop()
    assert "chroot instance busy4.example.com" in stopped
    assert not leftovers(lc.directory)
