"""Instance allocators on a 3-node local cluster (fake hypervisor, lvm2
and DRBD simulators): Debian's real ``hail`` and the built-in allocator
place new plain, file and drbd instances, move a DRBD secondary
(replace-disks -I) and evacuate a node; the cluster default iallocator
is used when neither -n nor -I is given; ``gnt-debug iallocator`` shows
the request and the answer.  Allocators that print garbage, fail, hang
or answer a node that does not exist, is offline or the wrong number of
nodes are refused with one line, and nothing is left behind."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lvm_cluster_support import Plain

from ganeti.cmdlib.iallocator import TIMEOUT_ENV
from ganeti.config import journal
from ganeti.localcluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HAIL = "/usr/lib/ganeti/iallocators/hail"
OS = "ganeti-demo-os+minimal"
#: The timeout the bad allocators meet (seconds; masterd's environment).
TIMEOUT = "4"

needs_hail = pytest.mark.skipif(not os.access(HAIL, os.X_OK),
                                reason="Debian's ganeti-htools (hail) is"
                                " not installed")


class Cluster(Plain):
    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = journal.read_document(
            self.n1.paths.cluster_conf_file)
        return data

    def nodes_of(self, name: str) -> list[str]:
        inst = self.config()["instances"][name]
        nodes = [inst["primary_node"]]
        for disk in inst["disks"]:
            if disk["dev_type"] == "drbd8":
                nodes += [n for n in disk["logical_id"][:2]
                          if n not in nodes]
        return nodes

    def add(self, name: str, template: str, *place: str) -> str:
        return self.ok("gnt-instance", "add", "--no-name-check",
                       "--no-ip-check", "--no-start", "-t", template, "-o",
                       OS, "--disk", "0:size=64M", *place, name)

    def all_lvs(self) -> dict[str, list[str]]:
        return {n.name: sorted(self.lvs(n)) for n in self.lc.nodes}

    def allocator(self, name: str, body: str) -> None:
        """Install an allocator program on the master (its own root)."""
        directory = Path(self.n1.paths.under("/usr/lib/ganeti/iallocators"))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def cl(make_cluster: Callable[..., LocalCluster],
       monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv(TIMEOUT_ENV, TIMEOUT)
    return Cluster(make_cluster(3))


@needs_hail
def test_hail_places_replaces_and_evacuates(cl: Cluster) -> None:
    out = cl.ok("gnt-debug", "iallocator", "--dir", "in", "-m", "allocate",
                "--mem", "128", "--disks", "64", "-t", "drbd", "-o", OS,
                "new.example.com")
    doc = json.loads(out)
    assert set(doc["nodes"]) == {n.name for n in cl.lc.nodes}
    assert doc["request"]["required_nodes"] == 2
    answer = json.loads(cl.ok("gnt-debug", "iallocator", "--dir", "out",
                              "-I", "hail", "-m", "allocate", "--mem", "128",
                              "--disks", "64", "-t", "drbd", "-o", OS,
                              "new.example.com"))
    assert answer["success"] and len(answer["result"]) == 2

    for name, template in [("p1.example.com", "plain"),
                           ("f1.example.com", "file"),
                           ("d1.example.com", "drbd")]:
        out = cl.add(name, template, "-I", "hail")
        nodes = cl.nodes_of(name)
        assert len(nodes) == (2 if template == "drbd" else 1)
        assert f"Selected node(s) {', '.join(nodes)}" in out, out

    primary, old = cl.nodes_of("d1.example.com")
    cl.ok("gnt-instance", "replace-disks", "-I", "hail", "d1.example.com")
    new_primary, new = cl.nodes_of("d1.example.com")
    assert new_primary == primary and new not in (primary, old)

    out = cl.ok("gnt-node", "evacuate", "-f", "-s", "-I", "hail", new)
    after = cl.nodes_of("d1.example.com")
    assert after[0] == primary and new not in after, out
    assert f"Instance d1.example.com relocated to {after[1]}" in out

    # failover -I: the third node becomes the secondary, then the primary.
    third = next(n.name for n in cl.lc.nodes if n.name not in after)
    cl.ok("gnt-instance", "failover", "-f", "-I", "hail", "d1.example.com")
    assert cl.nodes_of("d1.example.com") == [third, after[0]]


def test_builtin_and_the_default_iallocator(cl: Cluster) -> None:
    cl.fails("No primary node given (-n) and no iallocator", "gnt-instance",
             "add", "--no-name-check", "--no-ip-check", "-t", "plain", "-o",
             OS, "--disk", "0:size=64M", "x1.example.com")
    cl.ok("gnt-cluster", "modify", "--default-iallocator", "builtin")
    assert "default instance allocator: builtin" in cl.ok("gnt-cluster",
                                                          "info")
    cl.add("b1.example.com", "drbd")
    nodes = cl.nodes_of("b1.example.com")
    assert len(nodes) == 2
    third = next(n.name for n in cl.lc.nodes if n.name not in nodes)
    cl.ok("gnt-instance", "failover", "-f", "-I", "builtin", "b1.example.com")
    assert cl.nodes_of("b1.example.com") == [third, nodes[0]]
    cl.add("b2.example.com", "plain", "-I", "builtin")
    cl.fails("'nosuch' not found in the iallocator search path",
             "gnt-instance", "add", "--no-name-check", "--no-ip-check", "-t",
             "plain", "-o", OS, "--disk", "0:size=64M", "-I", "nosuch",
             "x2.example.com")
    assert "x2.example.com" not in cl.config()["instances"]


@pytest.mark.parametrize(("body", "match"), [
    ("echo 'this is not JSON'", "answered garbage instead of JSON"),
    ("echo 'out of cheese' >&2; exit 2",
     "failed (exit code 2): out of cheese"),
    ("exec sleep 600", f"did not answer within {TIMEOUT} seconds"),
    ("echo '{\"success\": true, \"info\": \"\", \"result\":"
     " [\"ghost.example.com\"]}'",
     "answered node 'ghost.example.com' for instance bad.example.com,"
     " which is not in the cluster"),
    ("echo '{\"success\": true, \"info\": \"\", \"result\": []}'",
     "answered 0 node(s) for instance bad.example.com; 1 needed"),
    ("echo '{\"success\": false, \"info\": \"no room\", \"result\": null}'",
     "found no solution: no room"),
])
def test_bad_allocators_change_nothing(cl: Cluster, body: str,
                                       match: str) -> None:
    cl.allocator("bad", body)
    before_lvs = cl.all_lvs()
    before = cl.config()
    out = cl.fails(match, "gnt-instance", "add", "--no-name-check",
                   "--no-ip-check", "-t", "plain", "-o", OS, "--disk",
                   "0:size=64M", "-I", "bad", "bad.example.com")
    assert "Iallocator 'bad'" in out, out
    after = cl.config()
    assert after["instances"] == before["instances"]
    assert cl.all_lvs() == before_lvs


def test_answer_naming_an_offline_node(cl: Cluster) -> None:
    n3 = cl.lc.node(3).name
    cl.ok("gnt-node", "modify", "-O", "yes", "--force", n3)
    cl.allocator("off", "echo '{\"success\": true, \"info\": \"\","
                 f" \"result\": [\"{n3}\"]}}'")
    cl.fails(f"answered node {n3} for instance off.example.com, which is"
             " offline", "gnt-instance", "add", "--no-name-check",
             "--no-ip-check", "-t", "plain", "-o", OS, "--disk",
             "0:size=64M", "-I", "off", "off.example.com")
    assert "off.example.com" not in cl.config()["instances"]


@pytest.mark.parametrize("allocator", [
    "builtin", pytest.param("hail", marks=needs_hail)])
def test_group_evacuate(make_cluster: Callable[..., LocalCluster],
                        allocator: str) -> None:
    cl = Cluster(make_cluster(4))
    n3, n4 = cl.lc.node(3).name, cl.lc.node(4).name
    cl.ok("gnt-group", "add", "rack2")
    cl.ok("gnt-group", "assign-nodes", "rack2", n3, n4)
    n1, n2 = cl.n1.name, cl.n2.name
    cl.add("d1.example.com", "drbd", "-n", f"{n1}:{n2}")
    cl.add("p1.example.com", "plain", "-n", n2)
    if allocator == "hail":
        # hail moves no plain instance between groups (as in Ganeti): the
        # whole evacuation is refused before anything moves.
        cl.fails("p1.example.com: Instances of type plain cannot be"
                 " relocated", "gnt-group", "evacuate", "-I", "hail",
                 "default")
        assert cl.nodes_of("d1.example.com") == [n1, n2]
        cl.ok("gnt-instance", "remove", "-f", "p1.example.com")
    out = cl.ok("gnt-group", "evacuate", "-I", allocator, "default")
    assert sorted(cl.nodes_of("d1.example.com")) == [n3, n4], out
    if allocator == "builtin":
        assert cl.nodes_of("p1.example.com")[0] in (n3, n4), out
    assert "Instance d1.example.com moved to group rack2" in out, out
    # Nothing left on the evacuated nodes.
    assert cl.lvs(cl.n1) == {} and cl.lvs(cl.n2) == {}
