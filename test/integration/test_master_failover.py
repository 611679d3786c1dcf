"""Master failover on a real 3-node cluster: voting and --no-voting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest_cluster import ssconf_files, wait_for

from ganeti import bootstrap, constants, daemonutil, errors
from ganeti.config import journal
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

N1, N2, N3 = (f"node{k}.local-cluster.example" for k in (1, 2, 3))


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def masterd_on(cluster: LocalCluster, k: int) -> bool:
    return daemonutil.is_running(constants.MASTERD, cluster.node(k).paths)


def ready_for_failover(cluster: LocalCluster) -> None:
    wait_for(lambda: all(ssconf_files(cluster, k) == ssconf_files(cluster, 1)
                         for k in (2, 3)), "identical ssconf")
    def same_config() -> bool:
        try:
            return all(config_bytes(cluster, k) == config_bytes(cluster, 1)
                       for k in (2, 3))
        except OSError:
            return False

    wait_for(same_config, "config.data and its journal on the candidates")


def test_failover_with_voting(cluster3: LocalCluster) -> None:
    ready_for_failover(cluster3)
    res = cluster3.gnt("gnt-cluster", "master-failover", node=1)
    assert res.returncode == errors.EXIT_FAILURE
    assert "already the master" in res.stderr
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", node=2))
    assert f"Master role moved from {N1} to {N2}" in out
    assert masterd_on(cluster3, 2)
    assert not masterd_on(cluster3, 1)
    for k in (1, 2, 3):
        assert ssconf_files(cluster3, k)["ssconf_master_node"] == f"{N2}\n"
    assert ok(cluster3.gnt("gnt-cluster", "getmaster", node=3)).strip() == N2
    assert cluster3.master().name == N2
    # The new master works: it removes a node.
    ok(cluster3.gnt("gnt-node", "remove", N3, node=2))
    # The old master cannot start a master daemon any more.
    res = cluster3.gnt("ganeti-masterd", node=1)
    assert res.returncode == errors.EXIT_NOTMASTER, res.stderr
    assert "not the master" in res.stderr
    # And back.
    ok(cluster3.gnt("gnt-cluster", "masterfailover", node=1))
    assert masterd_on(cluster3, 1) and not masterd_on(cluster3, 2)


def test_failover_without_majority_needs_no_voting(
        cluster3: LocalCluster) -> None:
    ready_for_failover(cluster3)
    # The master and node3 die: node2 alone is no majority of 3.
    for k, daemons in ((1, (constants.MASTERD, constants.NODED)),
                       (3, (constants.NODED,))):
        for name in daemons:
            daemonutil.stop(name, cluster3.node(k).paths)
    res = cluster3.gnt("gnt-cluster", "master-failover", node=2)
    assert res.returncode == errors.EXIT_FAILURE
    assert "1 of 3 master candidate(s) agree" in res.stderr
    assert "2 did not answer" in res.stderr
    res = cluster3.gnt("gnt-cluster", "master-failover", "--no-voting", node=2)
    assert res.returncode == errors.EXIT_CONFIRMATION
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", "--no-voting",
                          "--yes-do-it", node=2))
    assert "could not stop the master role" in out
    assert masterd_on(cluster3, 2)
    assert ok(cluster3.gnt("gnt-cluster", "getmaster", node=2)).strip() == N2


def config_bytes(cluster: LocalCluster, k: int) -> bytes:
    """Node ``k``'s config.data and its journal (candidates keep copies
    identical to the master's)."""
    path = cluster.node(k).paths.cluster_conf_file
    entries = Path(journal.journal_path(path))
    return Path(path).read_bytes() + b"\0" + (
        entries.read_bytes() if entries.exists() else b"")


def serial_and_master(cluster: LocalCluster, k: int) -> tuple[int, str]:
    doc = journal.read_document(cluster.node(k).paths.cluster_conf_file)
    return doc["serial_no"], doc["cluster"]["master_node"]


def test_failover_and_back_keep_one_config(cluster3: LocalCluster) -> None:
    """Issue 18: the failover wrote the new configuration only on the new
    master, so verify failed on every other candidate ("config.data has
    wrong checksum"), and failing back started from the old master's
    stale copy: two nodes held the same serial naming different masters,
    and what changed under the second master was lost."""
    ready_for_failover(cluster3)
    before, _ = serial_and_master(cluster3, 1)
    ok(cluster3.gnt("gnt-cluster", "master-failover", node=2))
    # The command itself brought every candidate up to date.
    after = [serial_and_master(cluster3, k) for k in (1, 2, 3)]
    assert after[0] == after[1] == after[2], after
    serial, master = after[0]
    assert serial > before and master == N2
    out = ok(cluster3.gnt("gnt-cluster", "verify", node=2))
    assert "wrong checksum" not in out
    assert config_bytes(cluster3, 1) == config_bytes(cluster3, 2) \
        == config_bytes(cluster3, 3)
    # A change under the new master survives the way back.
    ok(cluster3.gnt("gnt-cluster", "add-tags", "failed-over", node=2))
    ok(cluster3.gnt("gnt-cluster", "master-failover", node=1))
    back = [serial_and_master(cluster3, k) for k in (1, 2, 3)]
    assert back[0] == back[1] == back[2], back
    assert back[0][0] > serial and back[0][1] == N1
    out = ok(cluster3.gnt("gnt-cluster", "verify", node=1))
    assert "wrong checksum" not in out
    assert "failed-over" in ok(cluster3.gnt("gnt-cluster", "list-tags",
                                            node=1)).split()
    assert config_bytes(cluster3, 1) == config_bytes(cluster3, 2) \
        == config_bytes(cluster3, 3)


def test_failover_to_a_lagging_candidate_takes_the_newest_config(
        cluster3: LocalCluster) -> None:
    """A candidate that missed a push (its node daemon was down) and then
    becomes the master starts from the newest copy the others hold, not
    from its own: nothing changed meanwhile is lost."""
    ready_for_failover(cluster3)
    n3 = cluster3.node(3)
    daemonutil.stop(constants.NODED, n3.paths)
    ok(cluster3.gnt("gnt-cluster", "add-tags", "while-away", node=1))
    stale, _ = serial_and_master(cluster3, 3)
    newest, _ = serial_and_master(cluster3, 1)
    assert stale < newest
    # The master would catch node3 up as soon as its daemon answers (its
    # retry of the missed push): the master daemon goes first, as after a
    # crash, so node3 is still behind when it takes the master role.
    daemonutil.stop(constants.MASTERD, cluster3.node(1).paths)
    daemonutil.start(constants.NODED, ["-b", n3.ip], env=cluster3.env(n3))
    bootstrap.wait_for_noded(n3.name, n3.ip,
                             cert_file=n3.paths.noded_cert_file)
    assert serial_and_master(cluster3, 3)[0] == stale
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", node=3))
    assert f"Taking the newer configuration of node {N1}" in out
    states = [serial_and_master(cluster3, k) for k in (1, 2, 3)]
    assert states == [(newest + 1, N3)] * 3
    assert "while-away" in ok(cluster3.gnt("gnt-cluster", "list-tags",
                                           node=3)).split()
    out = ok(cluster3.gnt("gnt-cluster", "verify", node=3))
    assert "wrong checksum" not in out


def test_unreachable_candidate_catches_up_after_failover(
        cluster3: LocalCluster) -> None:
    """A candidate down during the failover is named in the command's
    output, and gets the configuration with the next change."""
    ready_for_failover(cluster3)
    n3 = cluster3.node(3)
    daemonutil.stop(constants.NODED, n3.paths)
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", node=2))
    assert f"Warning: node {N3} did not get the new configuration" in out
    assert serial_and_master(cluster3, 3)[1] == N1
    daemonutil.start(constants.NODED, ["-b", n3.ip], env=cluster3.env(n3))
    bootstrap.wait_for_noded(n3.name, n3.ip,
                             cert_file=n3.paths.noded_cert_file)
    ok(cluster3.gnt("gnt-cluster", "add-tags", "after", node=2))
    out = ok(cluster3.gnt("gnt-cluster", "verify", node=2))
    assert "wrong checksum" not in out
    assert config_bytes(cluster3, 3) == config_bytes(cluster3, 2)
    assert serial_and_master(cluster3, 3)[1] == N2
    wait_for(lambda: ssconf_files(cluster3, 3) == ssconf_files(cluster3, 2),
             "node3's ssconf files")


def test_changes_reach_candidates_as_journal_lines(
        cluster3: LocalCluster) -> None:
    """A change reaches the candidates as journal lines (their config.data
    is not rewritten); a candidate that missed lines gets the whole files;
    a failover right after keeps every acknowledged change."""
    ready_for_failover(cluster3)
    paths = [cluster3.node(k).paths.cluster_conf_file for k in (1, 2, 3)]
    bases = [Path(p).read_bytes() for p in paths]
    ok(cluster3.gnt("gnt-cluster", "add-tags", "line1", node=1))
    ready_for_failover(cluster3)
    assert [Path(p).read_bytes() for p in paths] == bases
    lines = Path(journal.journal_path(paths[1])).read_bytes()
    assert b"line1" in lines and len(lines) < 64 * 1024
    # node3 misses two changes while its node daemon is down...
    n3 = cluster3.node(3)
    daemonutil.stop(constants.NODED, n3.paths)
    ok(cluster3.gnt("gnt-cluster", "add-tags", "away1", node=1))
    ok(cluster3.gnt("gnt-cluster", "add-tags", "away2", node=1))
    daemonutil.start(constants.NODED, ["-b", n3.ip], env=cluster3.env(n3))
    bootstrap.wait_for_noded(n3.name, n3.ip,
                             cert_file=n3.paths.noded_cert_file)
    # ...and catches up with the next one (the whole files).
    ok(cluster3.gnt("gnt-cluster", "add-tags", "back", node=1))
    ready_for_failover(cluster3)
    tags = {"line1", "away1", "away2", "back"}
    for path in paths:
        assert tags <= set(journal.read_document(path)["cluster"]["tags"])
    out = ok(cluster3.gnt("gnt-cluster", "master-failover", node=3))
    assert f"Master role moved from {N1} to {N3}" in out
    assert tags <= set(ok(cluster3.gnt("gnt-cluster", "list-tags",
                                       node=3)).split())
