"""Ganeti's own htools (Debian's ganeti-htools: hspace, hbal, hinfo,
hcheck, hroller) against a 3-node local cluster over its RAPI
(``-m https://HOST:5080``): they load the cluster, and what they print
matches it (node names, instance counts, memory figures, balance).

One cluster serves every test of the module: fake hypervisor, instances
of four disk templates (diskless, file, plain on the lvm2 stand-in, drbd
on the DRBD simulator) and one stopped instance.  The tests skip when the
tools are missing (``tools/bootstrap-env`` installs them; in CI a missing
tool is a failure).  ``test_hbal_moves_reach_its_prediction`` changes the
layout (and runs the RAPI with ``--require-authentication``, the
credentials in the URL) and so runs last.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest_cluster import running_cluster
from lvm_cluster_support import Plain

from ganeti import localcluster
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

TOOLS = ("hspace", "hbal", "hinfo", "hcheck", "hroller")
OS = "ganeti-demo-os+minimal"
TIMEOUT = 120.0


@dataclass
class Inst:
    name: str
    template: str
    nodes: tuple[int, ...]
    maxmem: int
    disk: str | None = "64M"
    running: bool = True


INSTANCES = [
    Inst("dl1.example.com", "diskless", (1,), 128, disk=None),
    Inst("file1.example.com", "file", (2,), 192),
    Inst("plain1.example.com", "plain", (1,), 256),
    Inst("drbd1.example.com", "drbd", (2, 3), 320, disk="128M"),
    Inst("down1.example.com", "plain", (3,), 64, running=False),
]


class HTools:
    """The cluster and the tools' command lines against its RAPI."""

    def __init__(self, lc: LocalCluster) -> None:
        self.lc = lc
        self.plain = Plain(lc)  # installs the demo OS on every node
        self.url = lc.rapi_url
        # htools read with anonymous GETs; credentials in the URL (curl's
        # user:password@) are what a RAPI demanding them would take.
        assert lc.rapi_password is not None
        host = self.url.removeprefix("https://")
        self.auth_url = (f"https://{localcluster.RAPI_USER}:"
                         f"{lc.rapi_password}@{host}")

    def name(self, index: int) -> str:
        return self.lc.node(index).name

    def add(self, inst: Inst) -> None:
        nodes = ":".join(self.name(k) for k in inst.nodes)
        disk = ["--disk", f"0:size={inst.disk}"] if inst.disk else []
        start = [] if inst.running else ["--no-start"]
        self.plain.ok("gnt-instance", "add", "--no-name-check",
                      "--no-ip-check", "-o", OS, "-t", inst.template,
                      *disk, "-B", f"maxmem={inst.maxmem},minmem={inst.maxmem}",
                      "-n", nodes, *start, inst.name)

    def run(self, tool: str, *args: str, url: str | None = None,
            luxi: str | None = None) -> subprocess.CompletedProcess[str]:
        source = [f"--luxi={luxi}"] if luxi else ["-m", url or self.url]
        return subprocess.run([tool, *source, *args],
                              capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                              check=False)

    def tool(self, tool: str, *args: str, url: str | None = None,
             luxi: str | None = None) -> str:
        res = self.run(tool, *args, url=url, luxi=luxi)
        out = res.stdout + res.stderr
        assert res.returncode == 0, f"{tool} {args}: {out}"
        assert "failed to load data" not in out, out
        return out  # hinfo -p prints its node table on stderr

    def nodes(self) -> dict[str, dict[str, int]]:
        """``gnt-node list``'s memory, disk and instance counts, per
        node."""
        fields = ["mtotal", "mfree", "dtotal", "dfree", "pinst_cnt",
                  "sinst_cnt"]
        out = self.plain.ok("gnt-node", "list", "--no-headers", "--units=m",
                            "--separator=|", "-o", ",".join(["name", *fields]))
        rows = [line.split("|") for line in out.splitlines()]
        return {row[0]: dict(zip(fields, map(int, row[1:]), strict=True))
                for row in rows}


def _machine(text: str) -> dict[str, str]:
    """``KEY=value`` lines of a ``--machine-readable`` output."""
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line)


@pytest.fixture(scope="module")
def ht() -> Iterator[HTools]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        reason = (f"htools missing: {', '.join(missing)} (Debian package"
                  " ganeti-htools; tools/bootstrap-env installs it)")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_cluster("ht", 3) as lc:
        tools = HTools(lc)
        for inst in INSTANCES:
            tools.add(inst)
        yield tools


def _running_mem(node: int) -> int:
    return sum(i.maxmem for i in INSTANCES if i.running and i.nodes[0] == node)


def test_hinfo_shows_the_cluster(ht: HTools) -> None:
    # The bare host form: htools add https:// and the default port 5080.
    host = ht.url.removeprefix("https://").removesuffix(":5080")
    url = host if ht.lc.rapi_port == 5080 else ht.url
    out = ht.tool("hinfo", "-p", url=url)
    assert f"Loaded 3 nodes, {len(INSTANCES)} instances, 1 node group" in out
    assert "Cluster is N+1 happy" in out
    lines = out.splitlines()
    header = next(k for k, line in enumerate(lines)
                  if line.split()[:2] == ["F", "Name"])
    columns = lines[header].split()[1:]  # the flag column is blank
    table = {}
    for line in lines[header + 1:header + 4]:
        row = dict(zip(columns, line.split(), strict=True))
        table[row["Name"]] = row
    gnt = ht.nodes()
    assert set(table) == set(gnt) == {ht.name(k) for k in (1, 2, 3)}
    for index in (1, 2, 3):
        row, node = table[ht.name(index)], gnt[ht.name(index)]
        assert int(row["t_mem"]) == node["mtotal"]
        assert int(row["f_mem"]) == node["mfree"]
        assert int(row["i_mem"]) == _running_mem(index)
        assert int(row["pcnt"]) == node["pinst_cnt"]
        assert int(row["scnt"]) == node["sinst_cnt"]


#: hspace's tiered allocation starts from this spec (disk, memory, CPUs)
#: instead of the policy's maximum (the default policy's is huge: its
#: descent from there takes seconds) and plans DRBD instances.
HSPACE_ARGS = ("--tiered-alloc", "8192,1024,1", "--disk-template", "drbd")


def test_hspace_counts_the_cluster(ht: HTools) -> None:
    values = _machine(ht.tool("hspace", "--machine-readable", *HSPACE_ARGS))
    gnt = ht.nodes()
    assert values["HTS_OK"] == "1"
    assert values["HTS_CLUSTER_NODES"] == "3"
    assert int(values["HTS_INI_INST_CNT"]) == len(INSTANCES)
    assert int(values["HTS_CLUSTER_MEM"]) == sum(n["mtotal"]
                                                 for n in gnt.values())
    assert int(values["HTS_INI_MEM_INST"]) == sum(_running_mem(k)
                                                  for k in (1, 2, 3))
    # The disk its instances take on the nodes' storage (plain and drbd
    # volumes, DRBD metadata included, on both nodes of drbd1) is what
    # the volume groups have given out.
    assert int(values["HTS_INI_DSK_INST"]) == sum(
        n["dtotal"] - n["dfree"] for n in gnt.values())
    assert values["HTS_TSPEC_INI_DISK_TEMPLATE"] == "drbd"
    # It finds room for more instances of the policy's standard spec.
    assert int(values["HTS_TRL_INST_CNT"]) > len(INSTANCES)
    human = ht.tool("hspace", *HSPACE_ARGS)
    assert "The cluster has 3 nodes and the following resources:" in human
    assert f"There are {len(INSTANCES)} initial instances on the cluster." \
        in human


def test_hcheck_finds_no_problem(ht: HTools) -> None:
    values = _machine(ht.tool("hcheck", "--machine-readable"))
    assert values["HCHECK_OK"] == "1"
    for key in ("N1_FAIL", "OFFLINE_PRI", "OFFLINE_SEC", "CONFLICT_TAGS"):
        assert values[f"HCHECK_INIT_CLUSTER_{key}"] == "0", key
    assert "Cluster is not healthy: False" in ht.tool("hcheck")


def test_hroller_keeps_the_drbd_pair_apart(ht: HTools) -> None:
    out = ht.tool("hroller", "--no-headers")
    groups = [line.split(",") for line in out.split()]
    flat = [name for group in groups for name in group]
    assert sorted(flat) == sorted(ht.name(k) for k in (1, 2, 3))
    # drbd1's primary and secondary are never rebooted together.
    pair = {ht.name(2), ht.name(3)}
    assert all(not pair <= set(group) for group in groups), groups


def test_tools_read_the_master_socket_too(ht: HTools) -> None:
    """``-L``: htools' LUXI loader (Ganeti's generic ``Query``) on the
    master's socket sees what the RAPI shows."""
    socket_path = ht.lc.master().paths.master_socket
    out = ht.tool("hinfo", luxi=socket_path)
    assert f"Loaded 3 nodes, {len(INSTANCES)} instances, 1 node group" in out
    values = _machine(ht.tool("hspace", "--machine-readable", *HSPACE_ARGS,
                              luxi=socket_path))
    over_rapi = _machine(ht.tool("hspace", "--machine-readable",
                                 *HSPACE_ARGS))
    for key in ("HTS_CLUSTER_MEM", "HTS_INI_INST_CNT", "HTS_INI_MEM_INST",
                "HTS_INI_DSK_INST", "HTS_TRL_INST_CNT"):
        assert values[key] == over_rapi[key], key


def _commands(text: str) -> list[list[str]]:
    return [shlex.split(line) for line in text.splitlines()
            if line.strip().startswith("gnt-")]


@pytest.fixture
def rapi_requiring_users(ht: HTools) -> Iterator[None]:
    """The cluster's RAPI restarted with ``--require-authentication``
    (reads need a user too), restored afterwards."""
    ht.lc.stop_rapi()
    ht.lc.start_rapi("--require-authentication")
    try:
        yield
    finally:
        ht.lc.stop_rapi()
        ht.lc.start_rapi()


@pytest.mark.usefixtures("rapi_requiring_users")
def test_hbal_moves_reach_its_prediction(ht: HTools) -> None:
    """The dry run and ``-C`` with the cluster's RAPI user in the URL (a
    RAPI that wants one for reads refuses the tools without it); the
    commands it prints run on the cluster, after which hbal starts from
    the score it predicted and finds nothing more to do."""
    refused = ht.run("hbal")
    assert refused.returncode != 0
    assert "failed to load data" in refused.stdout + refused.stderr
    dry = ht.tool("hbal", url=ht.auth_url)
    assert f"Loaded 3 nodes, {len(INSTANCES)} instances" in dry
    planned = ht.tool("hbal", "-C", url=ht.auth_url)
    improved = re.search(r"Cluster score improved from \S+ to (\S+)", planned)
    if improved is None:  # already balanced: nothing to run
        assert "No solution found" in planned \
            or "already well balanced" in planned, planned
        return
    commands = _commands(planned)
    assert commands, planned
    for argv in commands:
        ht.plain.ok(argv[0], *argv[1:])
    after = ht.tool("hbal", url=ht.auth_url)
    assert f"Initial score: {improved.group(1)}" in after, (planned, after)
    assert "No solution found" in after, after


def test_hbal_executes_its_moves_over_luxi(ht: HTools) -> None:
    """``-L -X``: hbal submits its moves as jobs on the master's socket
    (Ganeti 3.0's opcodes: ``depends``, ``reason``, ``allow_failover``,
    ``ignore_hvversions``...) and waits for them; then it finds nothing
    more to do.  Runs after the RAPI test, from the layout the module
    started with (the DRBD instance back on its first node)."""
    drbd = next(inst for inst in INSTANCES if inst.template == "drbd")
    primary = ht.plain.ok("gnt-instance", "list", "--no-headers", "-o",
                          "pnode", drbd.name).strip()
    if primary != ht.name(drbd.nodes[0]):
        ht.plain.ok("gnt-instance", "migrate", "-f", drbd.name)
    socket_path = ht.lc.master().paths.master_socket
    planned = ht.tool("hbal", luxi=socket_path)
    assert re.search(r"Cluster score improved from", planned), planned
    out = ht.tool("hbal", "-X", luxi=socket_path)
    jobs = re.search(r"Got job IDs (\d+)", out)
    assert jobs is not None, out
    info = ht.plain.ok("gnt-job", "info", jobs.group(1))
    assert "Status: success" in info, info
    assert "OP_INSTANCE_MIGRATE" in info
    assert "allow_failover: True" in info
    assert "reason: [['hbal', 'hbal (ganeti) version" in info, info
    after = ht.tool("hbal", luxi=socket_path)
    assert "No solution found" in after, after
    primary = ht.plain.ok("gnt-instance", "list", "--no-headers", "-o",
                          "pnode", drbd.name).strip()
    assert primary == ht.name(drbd.nodes[1])
