"""gnt-instance add interrupted by a master crash (SIGKILL), on a 2-node
local cluster (fake hypervisor, lvm2 and DRBD simulators): in a pre hook
(nothing was made), while the OS create script runs (file, plain and
drbd disks exist, the instance is in the configuration), and while a
new DRBD mirror syncs.  The
restarted master rolls the add back before any other job runs: the
job ends in error saying so, the configuration has no such instance,
and its files, volumes and DRBD minors are gone from the nodes, so the
same add succeeds afterwards."""

from __future__ import annotations

import os
import re
import signal
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lvm_cluster_support import Plain

from ganeti import bootstrap, constants, daemonutil, errors, localcluster_env, luxi
from ganeti.chaos import wait_for
from ganeti.config import journal
from ganeti.localcluster import LocalCluster, LocalNode
from ganeti.standins import drbd as drbd_simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OS = "held-os"
INST = "crash1.example.com"
#: Bound on an event of another process (a script reached, a job ended).
WAIT = 180.0


class Crash(Plain):
    """The cluster, with an OS whose create script and a pre hook that
    wait, on the node where they run, until the test releases them."""

    def __init__(self, lc: LocalCluster) -> None:
        super().__init__(lc)
        for node in lc.nodes:
            self._install_os(node)

    @staticmethod
    def _script(node: LocalNode, what: str) -> str:
        root = node.root
        return ("#!/bin/sh\n"
                f"touch {root}/{what}-started\n"
                f"while [ ! -e {root}/{what}-release ]; do sleep 0.05; done\n"
                f"touch {root}/{what}-done\n")

    def _install_os(self, node: LocalNode) -> None:
        os_dir = Path(node.paths.os_search_path[0]) / OS
        os_dir.mkdir(parents=True, exist_ok=True)
        (os_dir / constants.OS_API_FILE).write_text("20\n")
        (os_dir / constants.OS_PARAMETERS_FILE).write_text("")
        for script in ("create", "import", "export", "rename", "verify"):
            body = (self._script(node, "create") if script == "create"
                    else "#!/bin/sh\nexit 0\n")
            path = os_dir / script
            path.write_text(body)
            path.chmod(0o755)

    def hold_pre_hook(self, node: LocalNode) -> None:
        directory = Path(node.paths.hooks_dir) / "instance-add-pre.d"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "10-hold"
        path.write_text(self._script(node, "hook"))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def drop_pre_hook(self, node: LocalNode) -> None:
        os.unlink(Path(node.paths.hooks_dir) / "instance-add-pre.d" / "10-hold")

    def submit_add(self, *args: str) -> int:
        out = self.ok("gnt-instance", "add", "--submit", "--no-name-check",
                      "--no-ip-check", "--no-nics", "-o", OS, "-B",
                      "memory=32", *args, INST)
        return int(out.split()[-1])

    def config(self) -> dict[str, Any]:
        doc: dict[str, Any] = journal.read_document(
            self.n1.paths.cluster_conf_file)
        return doc

    def crash_master_at(self, node: LocalNode, what: str) -> dict[str, Any]:
        """Once the held script runs on ``node``: SIGKILL the master, let
        the script end (on a real node it would run on too), start the
        master again.  Returns the configuration as the crash left it."""
        assert wait_for(lambda: os.path.exists(f"{node.root}/{what}-started"),
                        WAIT)
        left = self.kill_master()
        Path(f"{node.root}/{what}-release").touch()
        assert wait_for(lambda: os.path.exists(f"{node.root}/{what}-done"),
                        WAIT)
        for name in ("started", "release", "done"):
            os.unlink(f"{node.root}/{what}-{name}")
        self.start_master()
        return left

    def kill_master(self) -> dict[str, Any]:
        """SIGKILL the master daemon; the configuration it left."""
        master = self.lc.master()
        pid = daemonutil.running_pid(constants.MASTERD, master.paths)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: not daemonutil.process_alive(pid), WAIT)
        return self.config()

    def start_master(self) -> None:
        master = self.lc.master()
        daemonutil.start(constants.MASTERD, env=self.lc.env(master))
        bootstrap.wait_for_masterd(WAIT, paths=master.paths)

    def logged(self, job_id: int, text: str) -> bool:
        """Whether the job's log has a message containing ``text``."""
        with luxi.Client(self.lc.master().paths.master_socket) as client:
            oplogs = client.query_jobs([job_id], ["oplog"])[0][0]
        return any(text in str(entry[3]) for log in oplogs for entry in log)

    def simulator(self, node: LocalNode) -> drbd_simulator.DrbdSimulator:
        return drbd_simulator.DrbdSimulator(
            localcluster_env.drbd_state_dir(self.lc.directory), node.root,
            os.path.join(node.root, "dev"))

    def job_end(self, job_id: int) -> tuple[str, str]:
        """The job's final status and the message of its failed opcode."""
        address = self.lc.master().paths.master_socket
        fields = ["status", "opresult"]
        prev = None
        with luxi.Client(address) as client:
            while True:
                res = client.wait_for_job_change(job_id, fields, prev, None,
                                                 WAIT)
                assert res != "nochange", f"job {job_id} did not end"
                prev = res[0]
                if prev[0] in ("success", "error", "canceled"):
                    break
        status, results = prev
        failed = [errors.decode(r).message for r in results
                  if isinstance(r, list)]
        return status, (failed[0] if failed else "")

    def drbd_minors(self, node: LocalNode) -> set[int]:
        """The DRBD minors configured on ``node`` (its /proc/drbd)."""
        sim = self.simulator(node)
        return {int(m) for m in re.findall(r"^\s*(\d+): cs:(?!Unconfigured)",
                                           sim.read_proc(), re.MULTILINE)}

    def check_gone(self, left: dict[str, Any]) -> None:
        """No trace of the instance: not in the configuration, no file
        directory, volume or DRBD minor of it on any node."""
        assert INST not in self.config()["instances"]
        inst = left["instances"].get(INST)
        if inst is None:
            return
        volumes = _volumes(inst["disks"])
        minors = _minors(inst["disks"])
        for node in self.lc.nodes:
            assert not (set(self.lvs(node)) & volumes), (node.name, volumes)
            configured = self.drbd_minors(node)
            assert not (configured & minors.get(node.name, set())), \
                (node.name, configured)
            assert not os.path.exists(os.path.join(
                node.root, "srv", "ganeti", "file-storage", INST))
        out = self.ok("gnt-cluster", "verify")
        assert "ERROR" not in out, out


def _volumes(disks: list[dict[str, Any]]) -> set[str]:
    names = set()
    for disk in disks:
        if disk["dev_type"] == constants.LD_LV:
            names.add(str(disk["logical_id"][1]))
        names |= _volumes(disk.get("children") or [])
    return names


def _minors(disks: list[dict[str, Any]]) -> dict[str, set[int]]:
    """node -> the DRBD minors the disks use there."""
    found: dict[str, set[int]] = {}
    for disk in disks:
        if disk["dev_type"] == constants.LD_DRBD8:
            lid = disk["logical_id"]
            found.setdefault(lid[0], set()).add(int(lid[3]))
            found.setdefault(lid[1], set()).add(int(lid[4]))
    return found


@pytest.fixture
def crash(make_cluster: Callable[..., LocalCluster]) -> Crash:
    return Crash(make_cluster(2))


def test_add_interrupted_by_a_master_crash_is_rolled_back(
        crash: Crash) -> None:
    n1, n2 = crash.n1, crash.n2
    # 1. In the pre hook: nothing was made yet.
    crash.hold_pre_hook(n1)
    job = crash.submit_add("-t", "file", "--disk", "0:size=8M", "-n", n1.name)
    left = crash.crash_master_at(n1, "hook")
    crash.drop_pre_hook(n1)
    assert crash.job_end(job) == (
        "error", f"Rolled back after a master crash: instance {INST} was"
        " not created")
    crash.check_gone(left)

    # 2. While the OS installs, for each kind of disk: the instance and
    # its disks exist; all of it goes.
    for template, nodes in (("file", n1.name), ("plain", n2.name),
                            ("drbd", f"{n1.name}:{n2.name}")):
        job = crash.submit_add("-t", template, "--disk", "0:size=64M",
                               "-n", nodes)
        primary = n2 if template == "plain" else n1
        left = crash.crash_master_at(primary, "create")
        assert INST in left["instances"], template
        assert crash.job_end(job) == (
            "error", f"Rolled back after a master crash: instance {INST}"
            " removed"), template
        crash.check_gone(left)

    # 3. While the new mirror syncs (the simulator holds the resync).
    sim = crash.simulator(n1)
    sim.set_step(0)
    job = crash.submit_add("-t", "drbd", "--disk", "0:size=64M", "-n",
                           f"{n1.name}:{n2.name}")
    assert wait_for(lambda: crash.logged(job, "to sync disks"), WAIT)
    left = crash.kill_master()
    assert INST in left["instances"]
    assert crash.drbd_minors(n1) & _minors(left["instances"][INST]["disks"])[
        n1.name]
    sim.set_step(drbd_simulator.DEFAULT_STEP)
    crash.start_master()
    assert crash.job_end(job) == (
        "error", f"Rolled back after a master crash: instance {INST}"
        " removed")
    crash.check_gone(left)

    # Nothing stays taken (name, lock, minors): the same add succeeds.
    Path(f"{n1.root}/create-release").touch()
    crash.ok("gnt-instance", "add", "--no-name-check", "--no-ip-check",
             "--no-nics", "-o", OS, "-B", "memory=32", "-t", "drbd",
             "--disk", "0:size=64M", "-n", f"{n1.name}:{n2.name}", INST)
    assert INST in crash.config()["instances"]
