"""``-t drbd`` instances on a 3-node local cluster: every node uses the
lvm2 and the DRBD simulators out of the box (``tools/local-cluster start``
sets them up), the mirror's data reaches the secondary's volume."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_cluster import running_cluster
from lvm_cluster_support import Plain

from ganeti import constants, localcluster_env
from ganeti.config import journal
from ganeti.localcluster import LocalCluster, LocalNode
from ganeti.standins import drbd as drbd_simulator

INST = "db1.example.com"
OS = "ganeti-demo-os+minimal"


class Drbd(Plain):
    def __init__(self, lc: LocalCluster) -> None:
        super().__init__(lc)
        self.n3 = lc.node(3)

    def add(self, *args: str, name: str = INST) -> str:
        return self.ok("gnt-instance", "add", "--no-name-check",
                       "--no-ip-check", "-t", "drbd", "-o", OS, *args, name)

    def volume(self, node: LocalNode, lv: str) -> bytes:
        with open(self.disk_path(node, lv), "rb") as handle:
            return handle.read(4096)

    def drbd_state(self) -> dict[str, Any]:
        path = os.path.join(localcluster_env.drbd_state_dir(self.lc.directory),
                            "state.json")
        if not os.path.exists(path):
            return {"nodes": {}}  # no DRBD command ran yet
        with open(path, encoding="utf-8") as handle:
            state: dict[str, Any] = json.load(handle)
        return state

    def devices(self, node: LocalNode) -> dict[str, Any]:
        nodes = self.drbd_state()["nodes"]
        found: dict[str, Any] = nodes.get(node.root, {}).get("devices", {})
        return found

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = journal.read_document(
            self.n1.paths.cluster_conf_file)
        return data


@pytest.fixture(scope="module")
def shared() -> Iterator[Drbd]:
    with running_cluster("drbd", 3) as cluster:
        yield Drbd(cluster)


@pytest.fixture
def drbd(shared: Drbd) -> Iterator[Drbd]:
    """The module's cluster with no instance and every node online; what
    a test leaves (instances, an offline or drained node) is undone
    after it.  Tests that change the DRBD simulator's world take a
    cluster of their own (``make_cluster``)."""
    yield shared
    fix = shared
    for name in fix.ok("gnt-instance", "list", "--no-headers", "-o",
                       "name").split():
        fix.ok("gnt-instance", "remove", "-f", name)
    for row in fix.ok("gnt-node", "list", "--no-headers", "--separator", " ",
                      "-o", "name,offline,drained").splitlines():
        name, *flags = row.split()
        for option, flag in zip(("-O", "-D"), flags, strict=True):
            if flag == "Y":
                fix.ok("gnt-node", "modify", option, "no", name)


def test_drbd_create_info_remove(drbd: Drbd) -> None:
    n1, n2 = drbd.n1, drbd.n2
    pool_before = drbd.config()["cluster"]["tcpudp_port_pool"]
    out = drbd.add("--disk", "0:size=256M", "-n", f"{n1.name}:{n2.name}")
    assert f"waiting for instance {INST} to sync disks" in out
    assert f"instance {INST}'s disks are in sync" in out
    # Data and metadata volumes on both nodes, the data of the disk's size.
    for node in (n1, n2):
        lvs = drbd.lvs(node)
        sizes = sorted((name.rsplit("_", 1)[1], lv["size"])
                       for name, lv in lvs.items())
        assert sizes == [("data", 256), ("meta", 128)], lvs
    data = next(name for name in drbd.lvs(n2) if name.endswith("_data"))
    # The OS wrote through /dev/drbd0 on the primary: the bytes are on
    # the secondary's data volume too.
    assert drbd.volume(n2, data).strip(b"\0")
    assert drbd.volume(n2, data) == drbd.volume(n1, data)
    assert drbd.devices(n1)["0"]["role"] == "Primary"
    assert drbd.devices(n2)["0"]["role"] == "Secondary"
    info = drbd.ok("gnt-instance", "info", INST)
    assert f"- secondaries: {n2.name}" in info
    assert f"logical_id: {n1.name}:0, {n2.name}:0, port 11000" in info
    assert "/dev/drbd0 (status: ok)" in info
    assert f"on secondary ({n2.name}):" in info
    assert info.count("(status: ok)") == 2, info
    lid = drbd.config()["instances"][INST]["disks"][0]["logical_id"]
    assert lid[:5] == [n1.name, n2.name, 11000, 0, 0] and len(lid[5]) == 32
    # Verify knows the mirror's volumes on both nodes, also while its
    # disks are down.
    drbd.ok("gnt-cluster", "verify")
    drbd.ok("gnt-instance", "shutdown", INST)
    drbd.ok("gnt-instance", "deactivate-disks", INST)
    assert drbd.devices(n1) == drbd.devices(n2) == {}
    drbd.ok("gnt-cluster", "verify")
    drbd.ok("gnt-instance", "startup", INST)
    assert drbd.devices(n1)["0"]["role"] == "Primary"
    assert drbd.devices(n2)["0"]["net"] is not None  # connected again

    # A second mirror on the same nodes takes the next minors and port;
    # --no-wait-for-sync returns while it may still sync.
    out = drbd.add("--disk", "0:size=128M", "--no-wait-for-sync", "-n",
                   f"{n2.name}:{n1.name}", name="db2.example.com")
    assert "checking mirrors status" in out
    lid2 = drbd.config()["instances"]["db2.example.com"]["disks"][0][
        "logical_id"]
    assert lid2[:5] == [n2.name, n1.name, 11001, 1, 1]

    drbd.ok("gnt-instance", "remove", "-f", INST)
    drbd.ok("gnt-instance", "remove", "-f", "db2.example.com")
    for node in (n1, n2):
        assert drbd.lvs(node) == {}
        assert drbd.devices(node) == {}
        assert not [n for n in os.listdir(os.path.join(node.root, "dev"))
                    if n.startswith("drbd")]
    cluster = drbd.config()["cluster"]
    assert sorted(cluster["tcpudp_port_pool"]) == sorted(
        {*pool_before, 11000, 11001})
    # Minors and ports are free again: a new mirror gets the same ones.
    drbd.add("--disk", "0:size=128M", "--no-start", "-n",
             f"{n1.name}:{n2.name}")
    lid = drbd.config()["instances"][INST]["disks"][0]["logical_id"]
    assert lid[:5] == [n1.name, n2.name, 11000, 0, 0]


def test_modify_adds_and_removes_a_mirrored_disk(drbd: Drbd) -> None:
    n1, n2 = drbd.n1, drbd.n2
    drbd.add("--disk", "0:size=128M", "-n", f"{n1.name}:{n2.name}")
    out = drbd.ok("gnt-instance", "modify", "--disk", "add:size=128M", INST)
    assert "disk/1 -> add:size=128,mode=rw" in out, out
    disks = drbd.config()["instances"][INST]["disks"]
    lid = disks[1]["logical_id"]
    assert lid[:5] == [n1.name, n2.name, 11001, 1, 1] and len(lid[5]) == 32
    assert lid[5] != disks[0]["logical_id"][5]
    for node in (n1, n2):
        assert sorted(n.rsplit("_", 1)[1] for n in drbd.lvs(node)) == [
            "data", "data", "meta", "meta"]
    # The instance runs: the new mirror is up on both nodes, connected.
    assert drbd.devices(n1)["1"]["role"] == "Primary"
    assert drbd.devices(n2)["1"]["net"] is not None
    drbd.ok("gnt-cluster", "verify")

    drbd.ok("gnt-instance", "shutdown", INST)
    drbd.ok("gnt-instance", "modify", "--disk", "remove", INST)
    for node in (n1, n2):
        assert len(drbd.lvs(node)) == 2
        assert "1" not in drbd.devices(node)
    assert 11001 in drbd.config()["cluster"]["tcpudp_port_pool"]
    drbd.ok("gnt-cluster", "verify")
    drbd.ok("gnt-instance", "remove", "-f", INST)


def test_failed_install_rolls_back_both_nodes(drbd: Drbd) -> None:
    n1, n2 = drbd.n1, drbd.n2
    for node in drbd.lc.nodes:  # an OS whose create script fails
        broken = Path(node.paths.os_search_path[0]) / "broken-os"
        shutil.copytree(Path(node.paths.os_search_path[0])
                        / "ganeti-demo-os", broken)
        (broken / "create").write_text("#!/bin/sh\necho disk full >&2\n"
                                       "exit 1\n")
    drbd.fails("Could not add OS to instance", "gnt-instance", "add",
               "--no-name-check", "--no-ip-check", "-t", "drbd", "-o",
               "broken-os+minimal", "--disk", "0:size=128M", "-n",
               f"{n1.name}:{n2.name}", INST)
    assert drbd.ok("gnt-instance", "list", "--no-headers").strip() == ""
    for node in (n1, n2):
        assert drbd.lvs(node) == {}
        assert drbd.devices(node) == {}
    assert 11000 in drbd.config()["cluster"]["tcpudp_port_pool"]
    drbd.add("--disk", "0:size=128M", "--no-start", "-n",
             f"{n1.name}:{n2.name}")
    lid = drbd.config()["instances"][INST]["disks"][0]["logical_id"]
    assert lid[:5] == [n1.name, n2.name, 11000, 0, 0]


def test_peer_dying_mid_sync_rolls_the_creation_back(
        make_cluster: Callable[..., LocalCluster]) -> None:
    """The secondary dies while the initial sync runs: the mirror is
    degraded, the creation is undone on both nodes."""
    drbd = Drbd(make_cluster(3))
    n1, n2 = drbd.n1, drbd.n2
    state_dir = localcluster_env.drbd_state_dir(drbd.lc.directory)
    # Resyncs advance only when the test says so.
    drbd_simulator.DrbdSimulator(state_dir, n1.root, "").set_step(0)
    out = drbd.ok("gnt-instance", "add", "--submit", "--no-name-check",
                  "--no-ip-check", "-t", "drbd", "-o", OS, "--disk",
                  "0:size=128M", "-n", f"{n1.name}:{n2.name}", INST)
    job = out.split("JobID:")[1].split()[0]
    for _ in range(600):  # each look is a command: no sleep needed
        if "to sync disks" in drbd.ok("gnt-job", "info", job):
            break
    else:
        pytest.fail("the creation never waited for the sync")
    assert drbd_simulator.main([state_dir, n2.root, "fault", "crash"]) == 0
    watched = drbd.run("gnt-job", "watch", job)
    assert f"There are some degraded disks for instance {INST}" in \
        watched.stdout + watched.stderr
    assert drbd.ok("gnt-instance", "list", "--no-headers").strip() == ""
    for node in (n1, n2):
        assert drbd.lvs(node) == {}
        assert drbd.devices(node) == {}


def test_drbd9_user_space(make_cluster: Callable[..., LocalCluster],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The same creation with the DRBD 9 commands (the simulator reports
    a DRBD 9 kernel module, the driver follows)."""
    monkeypatch.setenv(drbd_simulator.VERSION_ENV, "9.2.5")
    drbd = Drbd(make_cluster(3))
    n1, n2 = drbd.n1, drbd.n2
    out = drbd.add("--disk", "0:size=128M", "-n", f"{n1.name}:{n2.name}")
    assert f"instance {INST}'s disks are in sync" in out
    assert drbd.drbd_state()["version"] == "9.2.5"
    res = drbd.drbd_state()["nodes"][n1.root]["resources"]["resource0"]
    assert res["peer"]["opts"]["protocol"] == "C"
    info = drbd.ok("gnt-instance", "info", INST)
    assert info.count("(status: ok)") == 2, info
    data = next(name for name in drbd.lvs(n2) if name.endswith("_data"))
    assert drbd.volume(n2, data).strip(b"\0")
    drbd.ok("gnt-instance", "remove", "-f", INST)
    assert drbd.devices(n1) == drbd.devices(n2) == {}


def test_drbd_bad_input(drbd: Drbd) -> None:
    n1, n2, n3 = drbd.n1, drbd.n2, drbd.n3
    disk = ("--disk", "0:size=128M")
    drbd.fails("The drbd template needs a secondary node (-n"
               " PRIMARY:SECONDARY)", "gnt-instance", "add", "--no-name-check",
               "--no-ip-check", "-t", "drbd", "-o", OS, *disk, "-n", n1.name,
               INST)
    drbd.fails(f"The secondary node cannot be the primary node ({n1.name})",
               "gnt-instance", "add", "--no-name-check", "--no-ip-check",
               "-t", "drbd", "-o", OS, *disk, "-n", f"{n1.name}:{n1.name}",
               INST)
    drbd.fails("Node 'nosuch' not known", "gnt-instance", "add",
               "--no-name-check", "--no-ip-check", "-t", "drbd", "-o", OS,
               *disk, "-n", f"{n1.name}:nosuch", INST)
    drbd.fails(f"needed {1024 * 1024 + 128} MiB", "gnt-instance", "add",
               "--no-name-check", "--no-ip-check", "-t", "drbd", "-o", OS,
               "--disk", "0:size=1T", "-n", f"{n1.name}:{n2.name}", INST)
    drbd.ok("gnt-node", "modify", "-D", "yes", n3.name)
    drbd.fails(f"secondary node {n3.name} is drained", "gnt-instance", "add",
               "--no-name-check", "--no-ip-check", "-t", "drbd", "-o", OS,
               *disk, "-n", f"{n1.name}:{n3.name}", INST)
    drbd.ok("gnt-node", "modify", "-D", "no", n3.name)
    drbd.ok("gnt-node", "modify", "-O", "yes", n3.name)
    drbd.fails(f"node {n3.name} is offline", "gnt-instance", "add",
               "--no-name-check", "--no-ip-check", "-t", "drbd", "-o", OS,
               *disk, "-n", f"{n1.name}:{n3.name}", INST)
    # Nothing was left behind: no instance, volume, device, minor or port.
    assert drbd.ok("gnt-instance", "list", "--no-headers").strip() == ""
    for node in (n1, n2, n3):
        assert drbd.lvs(node) == {}
    cluster = drbd.config()["cluster"]
    handed_out = range(constants.FIRST_DRBD_PORT,
                       cluster["highest_used_port"] + 1)
    assert set(handed_out) <= set(cluster["tcpudp_port_pool"])
    for node in (n1, n2, n3):
        assert drbd.devices(node) == {}
    assert drbd_simulator.ENABLE_ENV in drbd.lc.env()


def _dual_homed(make_cluster: Callable[..., LocalCluster]) -> Drbd:
    """A cluster whose nodes replicate over separate secondary IPs
    (``gnt-cluster init -s``, ``gnt-node add -s``): 127.x.y.(100 + N)."""
    lc = make_cluster(3, start=False)
    second = {node.name: node.ip.rsplit(".", 1)[0] + f".{100 + index}"
              for index, node in enumerate(lc.nodes, start=1)}
    lc.init_args += ["-s", second[lc.node(1).name]]
    lc.secondary_ips = second
    lc.start()
    return Drbd(lc)


def test_secondary_ips_carry_the_replication(
        make_cluster: Callable[..., LocalCluster]) -> None:
    drbd = _dual_homed(make_cluster)
    n1, n3 = drbd.n1, drbd.n3
    nodes = drbd.config()["nodes"]
    sec = {n: nodes[n.name]["secondary_ip"] for n in (n1, n3)}
    assert sec[n1].endswith(".101") and sec[n3].endswith(".103")
    new_ip = n3.ip.rsplit(".", 1)[0] + ".200"
    out = drbd.ok("gnt-node", "modify", "-s", new_ip, n3.name)
    assert f"secondary_ip -> {new_ip}" in out
    drbd.add("--disk", "0:size=128M", "-n", f"{n1.name}:{n3.name}")
    local = drbd.devices(n3)["0"]["net"]["local"]
    assert local == f"ipv4:{new_ip}:11000"
    assert drbd.devices(n1)["0"]["net"] == {
        **drbd.devices(n1)["0"]["net"], "local": f"ipv4:{sec[n1]}:11000",
        "remote": local}
    drbd.fails(f"mirrored instance {INST} is running", "gnt-node", "modify",
               "-s", n3.ip.rsplit(".", 1)[0] + ".201", n3.name)
    drbd.fails(f"already used by node {n1.name}", "gnt-node", "modify",
               "-s", sec[n1], n3.name)
    drbd.fails("the master has a separate secondary IP", "gnt-node",
               "modify", "-s", n3.ip, n3.name)
