"""``gnt-node powercycle`` on a 3-node local cluster (fake hypervisor).

The node daemon answers, then the power stand-in (``ganeti.standins.power``,
a local-cluster node never reboots the machine) cuts the node's power:
its daemons are killed and its instances stopped; then it boots: the
daemons start again as they were started.  The master node needs
``--force``; without ``--yes`` and without a terminal nothing is done.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ganeti import constants, daemon
from ganeti.localcluster import LocalCluster
from ganeti.standins import power as power_standin

pytestmark = pytest.mark.integration

INSTANCE = "pc1.example.com"
DEMO_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
WAIT = 60.0


def ok(cluster: LocalCluster, command: str, *args: str) -> str:
    res = cluster.gnt(command, *args)
    assert res.returncode == 0, f"{command} {args}: {res.stdout}{res.stderr}"
    return res.stdout


def instance_status(cluster: LocalCluster) -> str:
    return ok(cluster, "gnt-instance", "list", "--no-headers", "-o",
              "status", INSTANCE).strip()


def test_powercycle_cuts_the_power_then_the_node_boots(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(3)
    node = cluster.node(2)
    for each in cluster.nodes:
        shutil.copytree(DEMO_OS, Path(each.paths.os_search_path[0])
                        / "ganeti-demo-os")
    ok(cluster, "gnt-instance", "add", "-t", "diskless", "--no-nics",
       "-o", "ganeti-demo-os+minimal", "-n", node.name, "--no-name-check",
       "--no-ip-check", INSTANCE)
    assert instance_status(cluster) == "running"
    pid_file = node.paths.pid_file(constants.NODED)
    before = daemon.read_pid(pid_file)
    assert before is not None

    # Refused: the master without --force, and no confirmation.
    master = cluster.gnt("gnt-node", "powercycle", "--yes",
                         cluster.node(1).name)
    assert master.returncode == 1
    assert "is the master node: power-cycling it needs force" \
        in master.stdout + master.stderr
    unconfirmed = cluster.gnt("gnt-node", "powercycle", node.name)
    assert unconfirmed.returncode == 1
    assert "use --yes" in unconfirmed.stderr

    res = cluster.gnt("gnt-node", "powercycle", "--yes", node.name)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "Reboot scheduled in 5 seconds"

    # The node daemon is killed and started again: a new pid, serving.
    deadline = time.monotonic() + WAIT
    log = os.path.join(node.paths.run_dir, power_standin.LOG_NAME)
    while True:
        now = daemon.read_pid(pid_file)
        if (now not in (None, before) and daemon.is_running(pid_file)
                and os.path.exists(log)
                and "boot:" in Path(log).read_text(encoding="utf-8")):
            break
        assert time.monotonic() < deadline, "the node never came back"
        time.sleep(0.2)
    text = Path(log).read_text(encoding="utf-8")
    assert f"killed ganeti-noded ({before})" in text, text
    assert f"stopped {INSTANCE}" in text, text
    assert "boot: started ganeti-noded" in text, text
    # The instance lost its power too: marked up, not running.
    deadline = time.monotonic() + WAIT
    while instance_status(cluster) != "ERROR_down":
        assert time.monotonic() < deadline, instance_status(cluster)
        time.sleep(0.5)
    ok(cluster, "gnt-instance", "start", INSTANCE)
    assert instance_status(cluster) == "running"


def test_the_master_with_force_comes_back_whole(
        make_cluster: Callable[..., LocalCluster]) -> None:
    """Every daemon of the master node (master daemon, RAPI, confd...)
    loses its power and starts again; the cluster verifies clean."""
    cluster = make_cluster(2)
    master = cluster.node(1)
    before = {name: daemon.read_pid(master.paths.pid_file(name))
              for name in constants.DAEMONS}
    running = [name for name, pid in before.items() if pid is not None]
    assert constants.MASTERD in running and constants.NODED in running
    res = cluster.gnt("gnt-node", "powercycle", "--yes", "--force",
                      master.name)
    assert res.returncode == 0, res.stdout + res.stderr
    log = Path(master.paths.run_dir) / power_standin.LOG_NAME
    deadline = time.monotonic() + WAIT
    while not (log.exists() and "boot:" in log.read_text(encoding="utf-8")):
        assert time.monotonic() < deadline, "the master never came back"
        time.sleep(0.2)
    text = log.read_text(encoding="utf-8")
    killed = next(line for line in text.splitlines()
                  if "power off: killed" in line)
    for name in running:
        assert f"{name} ({before[name]})" in killed, text
        assert f"boot: started {name}" in text, text
    deadline = time.monotonic() + WAIT
    while True:
        res = cluster.gnt("gnt-cluster", "verify")
        if res.returncode == 0:
            break
        assert time.monotonic() < deadline, res.stdout + res.stderr
        time.sleep(0.5)
    for name in running:
        assert daemon.read_pid(master.paths.pid_file(name)) != before[name]
