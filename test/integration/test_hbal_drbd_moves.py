"""``hbal -X`` (Debian's ganeti-htools 3.0) executing failover and
replace-disks moves on a 3-node local cluster (fake hypervisor, DRBD
simulator): every DRBD secondary starts on node 3, and the disks are
large enough for hbal to move them; its jobs pair
``OP_INSTANCE_MIGRATE`` (``allow_failover``) with
``OP_INSTANCE_REPLACE_DISKS`` (``replace_new_secondary``) in either
order, and the cluster ends balanced and clean."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest_cluster import running_cluster
from lvm_cluster_support import Plain

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OS = "ganeti-demo-os+minimal"
#: (name, primary node, disk): 60 GiB mirrors make the secondaries'
#: disk use on node 3 the imbalance hbal corrects.
INSTANCES = [("da.example.com", 1, "256M"), ("db.example.com", 2, "256M"),
             ("dc.example.com", 1, "60G"), ("dd.example.com", 1, "60G")]


def hbal(socket_path: str, *args: str) -> str:
    res = subprocess.run(["hbal", f"--luxi={socket_path}", *args],
                         capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    return out


def test_hbal_executes_failover_and_replace_disks_moves() -> None:
    if shutil.which("hbal") is None:
        reason = "hbal missing (Debian package ganeti-htools)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_cluster("hbd", 3, rapi=False) as lc:
        plain = Plain(lc)  # the demo OS on every node
        name = [lc.node(k).name for k in (1, 2, 3)]
        # Resync at 20 GiB/s (the simulator's clock): the new mirrors are
        # in sync before hbal moves them (a migration needs that).
        plain.ok("gnt-cluster", "modify", "-D", "drbd:resync_rate=20971520")
        for inst, primary, size in INSTANCES:
            plain.ok("gnt-instance", "add", "-t", "drbd", "--disk",
                     f"0:size={size}", "-o", OS, "-B",
                     "maxmem=256,minmem=256", "-n",
                     f"{name[primary - 1]}:{name[2]}", "--no-name-check",
                     "--no-ip-check", inst)
        socket_path = lc.master().paths.master_socket
        planned = hbal(socket_path)
        assert re.search(r"a=(f r:|r:\S+ f)", planned), planned
        out = hbal(socket_path, "-X")
        jobs = re.findall(r"Got job IDs (\d+)", out)
        assert jobs, out
        ops = []
        for job in jobs:
            info = plain.ok("gnt-job", "info", job)
            assert "Status: success" in info, info
            ops += re.findall(r"^    (OP_\w+)", info, re.MULTILINE)
        assert "OP_INSTANCE_REPLACE_DISKS" in ops, ops
        assert "OP_INSTANCE_MIGRATE" in ops, ops
        assert "No solution found" in hbal(socket_path)
        layout = plain.ok("gnt-instance", "list", "--no-headers",
                          "--separator=|", "-o", "name,pnode,snodes,status")
        rows = [line.split("|") for line in layout.splitlines()]
        assert all(row[3] == "running" for row in rows), layout
        secondaries = [row[2] for row in rows]
        assert secondaries.count(name[2]) < len(INSTANCES), layout
        verify = lc.gnt("gnt-cluster", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "ERROR" not in verify.stdout, verify.stdout
