"""The daily operations on a DRBD instance, on a 3-node local cluster
(fake hypervisor, lvm2 and DRBD simulators): create it, write data, fail
over, migrate live, move the secondary with replace-disks -n, evacuate a
node, verify-disks, convert to plain and back to drbd on another node,
the same operations through the RAPI (replace-disks, nodes/N/evacuate,
nodes/N/migrate), then lose the primary (its node daemon killed, its
DRBD devices gone) and fail over with --ignore-consistency.  The data
written survives every step, on both sides of the mirror."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from lvm_cluster_support import Plain

from ganeti import constants, daemonutil, localcluster_env
from ganeti.config import journal
from ganeti.localcluster import LocalCluster, LocalNode, command_path
from ganeti.standins import drbd as drbd_simulator

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest_plugins = ["rapi_cluster_support"]

INST = "db1.example.com"
OS = "ganeti-demo-os+minimal"
MARK = b"written by the instance before the operations\n"
#: Where the mark goes on the disk (past what the OS scripts write).
OFFSET = 64 * 1024 * 1024
#: Bound on waiting for a job log line of a running replace-disks.
MARKER_TIMEOUT = 120.0


class Story(Plain):
    def __init__(self, lc: LocalCluster) -> None:
        super().__init__(lc)
        self.n3 = lc.node(3)

    def inst(self) -> dict[str, Any]:
        data: dict[str, Any] = journal.read_document(
            self.n1.paths.cluster_conf_file)
        inst: dict[str, Any] = data["instances"][INST]
        return inst

    def nodes(self) -> tuple[str, str]:
        inst = self.inst()
        lid = inst["disks"][0]["logical_id"]
        primary = inst["primary_node"]
        return primary, next(n for n in lid[:2] if n != primary)

    def data_lv(self) -> str:
        disk = self.inst()["disks"][0]
        data = disk["children"][0] if disk["children"] else disk  # plain
        return str(data["logical_id"][1])

    def write_mark(self) -> None:
        """The instance writes through its DRBD device on the primary."""
        primary = self.lc.node_by_name(self.nodes()[0])
        minor = self.minor(primary)
        with open(os.path.join(primary.root, "dev", f"drbd{minor}"),
                  "r+b") as dev:
            dev.seek(OFFSET)
            dev.write(MARK)

    def minor(self, node: LocalNode) -> int:
        lid = self.inst()["disks"][0]["logical_id"]
        return int(lid[3] if lid[0] == node.name else lid[4])

    def mark_on(self, node: LocalNode) -> bytes:
        with open(self.disk_path(node, self.data_lv()), "rb") as handle:
            handle.seek(OFFSET)
            return handle.read(len(MARK))

    def check(self, primary: LocalNode, secondary: LocalNode) -> None:
        assert self.nodes() == (primary.name, secondary.name)
        # Any command lets the simulator copy what the primary wrote.
        info = self.ok("gnt-instance", "info", INST)
        assert self.mark_on(primary) == MARK
        assert self.mark_on(secondary) == MARK, info
        listing = self.ok("gnt-instance", "list", "--no-headers", "-o",
                          "name,pnode,status")
        assert listing.split() == [INST, primary.name, "running"], listing


@pytest.fixture
def story(make_cluster: Callable[..., LocalCluster]) -> Story:
    return Story(make_cluster(3))


def test_drbd_instance_through_the_daily_operations(story: Story) -> None:
    n1, n2, n3 = story.n1, story.n2, story.n3
    story.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "drbd", "-o", OS, "--disk", "0:size=128M", "-n",
             f"{n1.name}:{n2.name}", INST)
    story.write_mark()
    story.check(n1, n2)

    out = story.ok("gnt-instance", "failover", "-f", INST)
    assert "starting instance" in out, out
    story.check(n2, n1)

    out = story.ok("gnt-instance", "migrate", "-f", INST)
    assert "dual-master" in out and "* done" in out, out
    story.check(n1, n2)

    old_lv = story.data_lv()
    out = story.ok("gnt-instance", "replace-disks", "-n", n3.name, INST)
    assert "STEP 6/6" in out, out
    story.check(n1, n3)
    assert old_lv not in story.lvs(n2)

    out = story.ok("gnt-instance", "replace-disks", "-s", INST)
    story.check(n1, n3)
    assert not [lv for lv in story.lvs(n3)
                if lv.endswith(("_new", "_replaced"))], story.lvs(n3)

    # The primary's disks under the running instance: replaced live.
    out = story.ok("gnt-instance", "replace-disks", "-p", INST)
    assert "STEP 6/6" in out, out
    story.check(n1, n3)
    assert not [lv for lv in story.lvs(n1)
                if lv.endswith(("_new", "_replaced"))], story.lvs(n1)

    out = story.ok("gnt-node", "evacuate", "-f", "-n", n2.name, n3.name)
    assert f"Instance {INST} relocated to {n2.name}" in out, out
    story.check(n1, n2)
    assert story.lvs(n3) == {}

    assert story.ok("gnt-cluster", "verify-disks").strip() == \
        "No disks need to be activated."

    # Conversions of the stopped instance: to plain (the primary's data
    # volume stays) and back to a mirror on another node.
    story.ok("gnt-instance", "shutdown", INST)
    story.ok("gnt-instance", "modify", "-t", "plain", INST)
    assert story.inst()["disk_template"] == "plain"
    assert story.mark_on(n1) == MARK
    assert story.lvs(n2) == {}
    story.ok("gnt-instance", "modify", "-t", "drbd", "-n", n3.name, INST)
    story.ok("gnt-instance", "startup", INST)
    story.check(n1, n3)

    # The same operations through the RAPI run the real thing.
    from rapi_cluster_support import Rapi as RapiClient
    rapi: Rapi = RapiClient(story.lc)
    rapi.run("POST", f"/2/instances/{INST}/replace-disks",
             {"mode": "replace_new_secondary", "remote_node": n2.name})
    story.check(n1, n2)
    result = rapi.run("POST", f"/2/nodes/{n2.name}/evacuate",
                      {"remote_node": n3.name})
    assert result == [[INST, n3.name]], result
    story.check(n1, n3)
    assert rapi.run("POST", f"/2/nodes/{n1.name}/migrate") == [INST]
    story.check(n3, n1)

    # The primary dies: its node daemon and its DRBD devices.
    daemonutil.stop(constants.NODED, n3.paths)
    sim = drbd_simulator.DrbdSimulator(
        localcluster_env.drbd_state_dir(story.lc.directory), n3.root,
        os.path.join(n3.root, "dev"))
    sim.inject("crash")
    story.fails("--ignore-consistency", "gnt-instance", "failover", "-f",
                INST)
    out = story.ok("gnt-instance", "failover", "-f", "--ignore-consistency",
                   INST)
    assert "make sure node" in out, out
    assert story.nodes() == (n1.name, n3.name)
    assert story.mark_on(n1) == MARK
    listing = story.ok("gnt-instance", "list", "--no-headers", "-o",
                       "name,pnode,status")
    assert listing.split()[:2] == [INST, n1.name], listing


def _replace_until(story: Story, args: list[str],
                   *markers: str) -> subprocess.Popen[str]:
    """Start ``replace-disks ARGS``; return once its job log showed
    ``markers`` in turn (the simulator holds the resync that follows)."""
    proc = subprocess.Popen(
        [sys.executable, command_path("gnt-instance"), "replace-disks",
         *args, INST], env={**story.lc.env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    seen, wanted = [], list(markers)
    deadline = time.monotonic() + MARKER_TIMEOUT
    while wanted:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        line = proc.stdout.readline() if ready else ""
        if not line:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{wanted!r} never came: {''.join(seen)}")
        seen.append(line)
        if wanted[0] in line:
            wanted.pop(0)
    return proc


def _crash_master(story: Story, proc: subprocess.Popen[str]) -> None:
    """The master daemon dies (SIGKILL) and starts again."""
    master = story.lc.master()
    pid = daemonutil.running_pid(constants.MASTERD, master.paths)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    if proc.stdout is not None:
        proc.stdout.close()
    while daemonutil.process_alive(pid):
        time.sleep(0.05)  # the kernel reaps it; nothing to wait on
    daemonutil.start(constants.MASTERD, ["--rpc-transport", "https"],
                     env=story.lc.env(master))


def test_replace_disks_after_a_master_crash(story: Story) -> None:
    """replace-disks interrupted by a master crash (SIGKILL) while a
    resync it waits for is held by the simulator: -s while the new
    volumes sync (the rerun rolls back and replaces), -n after the new
    secondary was recorded (the rerun reconnects and finishes).  The
    configuration names existing volumes at every point and the data
    survives.  (A crash right after the swap of -s, whose resync DRBD
    does not need, is covered by the unit tests.)"""
    n1, n2, n3 = story.n1, story.n2, story.n3
    story.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "-t", "drbd", "-o", OS, "--disk", "0:size=128M", "-n",
             f"{n1.name}:{n2.name}", INST)
    story.write_mark()
    story.check(n1, n2)
    data = story.data_lv()
    sim = drbd_simulator.DrbdSimulator(
        localcluster_env.drbd_state_dir(story.lc.directory), n2.root,
        os.path.join(n2.root, "dev"))

    # 1. -s: the master dies while the device over the new volumes syncs.
    sim.set_step(0)
    _crash_master(story, _replace_until(story, ["-s"], "STEP 3/6",
                                        "waiting for the disks"))
    assert {data, data + "_new"} <= set(story.lvs(n2))
    sim.set_step(drbd_simulator.DEFAULT_STEP)
    out = story.ok("gnt-instance", "replace-disks", "-s", INST)
    assert "Rolling back the interrupted replacement" in out, out
    assert not [v for v in story.lvs(n2)
                if v.endswith(("_new", "_replaced"))], story.lvs(n2)
    story.check(n1, n2)

    # 2. -n: the master dies while the new secondary syncs, after the
    # configuration recorded it.
    sim.set_step(0)
    _crash_master(story, _replace_until(story, ["-n", n3.name], "STEP 5/6",
                                        "waiting for the disks"))
    assert story.nodes() == (n1.name, n3.name)
    assert data in story.lvs(n3)  # recorded only once it existed
    sim.set_step(drbd_simulator.DEFAULT_STEP)
    out = story.ok("gnt-instance", "replace-disks", "-n", n3.name, INST)
    assert f"Node {n3.name} is already the secondary" in out, out
    story.check(n1, n3)
