"""The uid pool on a real two-node KVM local cluster (qemu under TCG,
BIOS-only guests: the check is which uid each qemu runs under, which
needs no OS): the pool set at init and grown by modify reaches every
node's ssconf and ``gnt-cluster info``; guests under
``security_model=pool`` each run under their own uid of the pool, also
across the two nodes of this one machine; a stop gives the uid back, a
start with the pool exhausted is a clear error that leaves no qemu, a
migration moves the guest to a uid of the target, and bad ranges are
refused."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import ok
from kvm_guest_support import kvm_demo_cluster

from ganeti import constants, serializer, uidpool
from ganeti.localcluster import LocalCluster
from ganeti.utils import process

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                                 reason=f"{constants.KVM_PATH} missing")]

N1, N2 = "node1.local-cluster.example", "node2.local-cluster.example"


def _free_uids(count: int) -> int:
    """The first of ``count`` consecutive uids no user of this machine has
    (from 71000 on)."""
    used = set(uidpool.system_users())
    base = 71000
    while any(base + i in used for i in range(count)):
        base += count
    return base


BASE = _free_uids(3)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with kvm_demo_cluster(2, ["--uid-pool", f"{BASE}-{BASE + 1}"]) as cl:
        yield cl


def gnt(cl: LocalCluster, *args: str) -> str:
    return ok(cl.gnt(*args))


def _qemu_uid(cl: LocalCluster, node: int, name: str) -> int:
    """The real uid of ``name``'s qemu on ``node`` (from /proc), checked
    against the uid its runtime file records."""
    root = cl.node(node).paths.run_dir
    with open(os.path.join(root, "kvm-hypervisor/pid", name)) as handle:
        pid = int(handle.read())
    with open(f"/proc/{pid}/status") as handle:
        uids = next(line.split()[1:] for line in handle
                    if line.startswith("Uid:"))
    assert len(set(uids)) == 1, uids  # real, effective, saved, fs
    with open(os.path.join(root, "kvm-hypervisor/conf", name)) as handle:
        assert serializer.loads(handle.read())["uid"] == int(uids[0])
    return int(uids[0])


def _lock_files(cl: LocalCluster, node: int) -> set[int]:
    return uidpool.UidAllocator(os.path.join(
        cl.node(node).paths.run_dir, uidpool.LOCK_SUBDIR)).taken()


def _add(cl: LocalCluster, name: str, node: str, *args: str) -> None:
    gnt(cl, "gnt-instance", "add", "-o", "ganeti-demo-os+minimal", "-t", "diskless",
        "--no-name-check", "--no-ip-check", "-B", "memory=32", "-n", node,
        *args, name)


def test_pool_set_shown_and_shipped(cluster: LocalCluster) -> None:
    pool = f"{BASE}-{BASE + 1}"
    assert f"  - uid pool: {pool}\n" in gnt(cluster, "gnt-cluster", "info")
    gnt(cluster, "gnt-cluster", "modify", "--add-uids", str(BASE + 2))
    info = gnt(cluster, "gnt-cluster", "info")
    assert f"  - uid pool: {pool}, {BASE + 2}\n" in info
    for node in cluster.nodes:
        ssconf = Path(node.paths.ssconf_file("uid_pool")).read_text()
        assert ssconf.split() == [pool, str(BASE + 2)]


@pytest.mark.parametrize(("option", "spec", "message"), [
    ("--uid-pool", f"{BASE + 5}-{BASE}", "the lower bound is above"),
    ("--add-uids", "100-200", "uids below 1000 are system accounts"),
    ("--add-uids", "a-b", "expected N or N-M"),
])
def test_bad_ranges_are_refused(cluster: LocalCluster, option: str,
                                spec: str, message: str) -> None:
    res = cluster.gnt("gnt-cluster", "modify", option, spec)
    assert res.returncode != 0
    # The CLI's failure header, then the one-line reason naming the range.
    assert spec in res.stderr.splitlines()[-1]
    assert message in res.stderr.splitlines()[-1]


def test_range_of_an_existing_user_is_refused(cluster: LocalCluster) -> None:
    user = max((e for e in pwd.getpwall() if e.pw_uid >= uidpool.UID_MIN),
               key=lambda e: e.pw_uid, default=None)
    if user is None:
        pytest.skip("no user with a uid of 1000 or more on this machine")
    res = cluster.gnt("gnt-cluster", "modify", "--add-uids", str(user.pw_uid))
    assert res.returncode != 0
    assert f"{user.pw_name} ({user.pw_uid})" in res.stderr


def test_each_guest_runs_under_its_own_uid(cluster: LocalCluster) -> None:
    gnt(cluster, "gnt-cluster", "modify", "--uid-pool",
        f"{BASE}-{BASE + 2}", "-H", "kvm:security_model=pool")
    names = ["pool1.example.com", "pool2.example.com", "pool3.example.com"]
    _add(cluster, names[0], N1)
    _add(cluster, names[1], N1)
    _add(cluster, names[2], N2)
    uids = [_qemu_uid(cluster, 1, names[0]), _qemu_uid(cluster, 1, names[1]),
            _qemu_uid(cluster, 2, names[2])]
    assert sorted(uids) == [BASE, BASE + 1, BASE + 2]
    assert _lock_files(cluster, 1) == set(uids[:2])
    info = gnt(cluster, "gnt-instance", "info", names[2])
    assert f"\n  Running as uid: {uids[2]}\n" in info

    # The pool is exhausted: a fourth start is refused and leaves no qemu.
    extra = "pool4.example.com"
    _add(cluster, extra, N1, "--no-start")
    res = cluster.gnt("gnt-instance", "startup", extra)
    assert res.returncode != 0
    assert "No free uid in the uid pool" in res.stdout + res.stderr
    res = process.run_cmd(["pgrep", "-f", "--", f"-name {extra}"])
    assert res.exit_code == 1 and res.stdout == ""  # 1: no such process
    res = process.run_cmd(["pgrep", "-f", "--", f"-name {names[0]}"])
    assert res.exit_code == 0 and res.stdout.strip()  # the pattern works

    # A stop gives the uid back; the next start takes it.
    gnt(cluster, "gnt-instance", "shutdown", "--timeout=0", names[0])
    assert _lock_files(cluster, 1) == {uids[1]}
    gnt(cluster, "gnt-instance", "startup", extra)
    assert _qemu_uid(cluster, 1, extra) == uids[0]

    # A migration takes a uid on the target (here the one the stop
    # freed) and gives the source's back.
    gnt(cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
        extra)
    gnt(cluster, "gnt-instance", "migrate", "-f", names[2])
    assert _qemu_uid(cluster, 1, names[2]) == uids[0]
    assert _lock_files(cluster, 2) == set()
    assert _lock_files(cluster, 1) == {uids[0], uids[1]}
    for name in names:
        gnt(cluster, "gnt-instance", "remove", "-f", "--shutdown-timeout=0",
            name)
    assert _lock_files(cluster, 1) == set() == _lock_files(cluster, 2)
