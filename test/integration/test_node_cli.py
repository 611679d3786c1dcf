"""``gnt-node list/info/modify``, ``gnt-cluster modify`` and tags on a real
three-node local cluster (node daemons over HTTPS, master daemon)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ganeti import errors, localcluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[localcluster.LocalCluster]:
    directory: Path = tmp_path_factory.mktemp("lc")
    # A prefix of its own: other local clusters may use 127.0.0.x.
    cluster = localcluster.LocalCluster(str(directory), nodes=3,
                                        prefix="127.0.83.")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def run(lc: localcluster.LocalCluster, command: str, *args: str
        ) -> tuple[int, str, str]:
    res = lc.gnt(command, *args)
    return res.returncode, res.stdout, res.stderr


def test_node_list_formats(lc: localcluster.LocalCluster) -> None:
    names = [n.name for n in lc.nodes]
    code, out, err = run(lc, "gnt-node", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Node", "DTotal", "DFree", "MTotal", "MNode",
                                "MFree", "Pinst", "Sinst"]
    assert [line.split()[0] for line in lines[1:]] == names
    code, out, _ = run(lc, "gnt-node", "list", "--no-headers",
                       "--separator=:", "--units=m",
                       "-o", "name,pip,mtotal,mfree,role,bootid")
    rows = [line.split(":") for line in out.splitlines()]
    assert [r[0] for r in rows] == names
    assert [r[1] for r in rows] == [n.ip for n in lc.nodes]
    assert all(r[2].isdigit() and int(r[2]) > 0 for r in rows)
    assert [r[4] for r in rows] == ["M", "C", "C"]
    assert all(r[5] != "?" for r in rows)
    code, _, err = run(lc, "gnt-node", "list", "-o", "name,nosuch")
    assert code == errors.EXIT_UNKNOWN_FIELD and "nosuch" in err
    code, out, _ = run(lc, "gnt-node", "list", "--no-headers", "-o", "name",
                       "-F", 'role == "M"')
    assert out.split() == [names[0]]


def test_node_info_modify_and_tags(lc: localcluster.LocalCluster) -> None:
    third = lc.nodes[2].name
    code, out, _ = run(lc, "gnt-node", "info", third)
    assert code == 0 and out.splitlines()[0] == f"Node name: {third}"
    code, _, err = run(lc, "gnt-node", "modify", "-O", "yes", lc.nodes[0].name)
    assert code == 1 and "master-failover" in err
    code, out, err = run(lc, "gnt-node", "modify", "-D", "yes", third)
    assert code == 0, err
    assert "drained -> True" in out
    code, out, _ = run(lc, "gnt-node", "list", "--no-headers", "-o",
                       "role,drained,master_candidate", third)
    assert out.split() == ["D", "Y", "N"]
    assert run(lc, "gnt-node", "modify", "-D", "no", third)[0] == 0
    assert run(lc, "gnt-node", "add-tags", third, "rack1", "web")[0] == 0
    code, out, _ = run(lc, "gnt-node", "list-tags", third)
    assert out.split() == ["rack1", "web"]
    assert run(lc, "gnt-node", "remove-tags", third, "web")[0] == 0
    assert run(lc, "gnt-cluster", "add-tags", "prod")[0] == 0
    code, out, _ = run(lc, "gnt-cluster", "search-tags", "^(prod|rack)")
    assert out.splitlines() == ["/cluster prod", f"/nodes/{third} rack1"]
    assert run(lc, "gnt-cluster", "remove-tags", "prod")[0] == 0
    assert run(lc, "gnt-cluster", "list-tags")[1].split() == []


def test_cluster_modify(lc: localcluster.LocalCluster) -> None:
    code, _, err = run(lc, "gnt-cluster", "modify", "-N", "link=br7",
                       "-H", "fake:kernel_args=quiet,kernel_path=/k",
                       "-D", "drbd:resync_rate=2000", "-B", "memory=256")
    assert code == 0, err
    code, out, _ = run(lc, "gnt-cluster", "info")
    assert "link: br7" in out and "kernel_args: quiet" in out
    assert "maxmem: 256" in out and "minmem: 256" in out
    code, _, err = run(lc, "gnt-cluster", "modify", "-H", "fake:bogus=1")
    assert code == 1 and "bogus" in err
    code, _, err = run(lc, "gnt-cluster", "modify", "-D", "plain:x=1")
    assert code == 1 and "'x'" in err
    assert run(lc, "gnt-cluster", "modify", "--candidate-pool-size", "1")[0] \
        == 0
    third = lc.nodes[2].name
    code, _, err = run(lc, "gnt-node", "modify", "-C", "no", third)
    assert code == 0, err
    assert run(lc, "gnt-cluster", "modify", "--candidate-pool-size", "3")[0] \
        == 0
    code, out, _ = run(lc, "gnt-node", "list", "--no-headers", "-o",
                       "master_candidate")
    assert out.split() == ["Y", "Y", "Y"]
