"""tools/burnin on a 3-node local cluster (fake hypervisor, lvm2 and DRBD
simulators): every step of each template family, then a run that fails
(an unknown OS) reported in the summary with a non-zero exit code, and
bad options refused.

In the suite one instance of each of ``file`` (not mirrored: move) and
``drbd`` (mirrored: replace-disks, failover, migrate) runs every step,
both burnins at once; ``plain`` runs in the admin guide's example
(test_admin_guide.py) and ``diskless`` only skips steps (test_burnin.py).
The full soak, every template with more instances::

    GANETI_BURNIN_TEMPLATES=diskless,file,plain,drbd GANETI_BURNIN_INSTANCES=2 \
        .venv/bin/python -m pytest test/integration/test_burnin_cluster.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_cluster import running_cluster
from lvm_cluster_support import EXAMPLE_OS

from ganeti.localcluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURNIN = Path(__file__).resolve().parents[2] / "tools" / "burnin"
OS = "ganeti-demo-os+minimal"
#: The templates whose burnin runs (at once), and instances per template.
TEMPLATES = os.environ.get("GANETI_BURNIN_TEMPLATES", "file,drbd").split(",")
INSTANCES = int(os.environ.get("GANETI_BURNIN_INSTANCES", "1"))


@pytest.fixture(scope="module")
def lc() -> Iterator[LocalCluster]:
    with running_cluster("burnin", 3) as cluster:
        for node in cluster.nodes:
            shutil.copytree(EXAMPLE_OS, Path(node.paths.os_search_path[0])
                            / "ganeti-demo-os")
        yield cluster


def burnin(lc: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BURNIN), *args], env=lc.env(),
                          capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.fixture(scope="module")
def burnins(lc: LocalCluster) -> dict[str, tuple[int, str]]:
    """Template -> (exit code, output) of its burnin; all run at once, as
    burnin runs beside other jobs on a real cluster."""
    procs = {}
    for template in TEMPLATES:
        names = [f"{template}{i + 1}.example.com" for i in range(INSTANCES)]
        procs[template] = subprocess.Popen(
            [sys.executable, str(BURNIN), "-o", OS, "-t", template,
             "--no-name-check", "-p", "--rename",
             f"renamed-{template}.example.com", *names],
            env=lc.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
    done = {}
    try:
        for template, proc in procs.items():
            out, _ = proc.communicate(timeout=600)
            done[template] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def summary(out: str) -> dict[str, str]:
    """Step name -> its summary state ("ok", "FAILED", "skipped: why")."""
    lines = out.split("Summary:\n", 1)[1].splitlines()
    steps = {}
    for line in lines:
        if line.startswith("  ") and not line.startswith("    "):
            name, state = line[2:40].strip(), line[41:]
            steps[name] = state.split(" (")[0]
    return steps


# Every step, with the reason it is skipped for a template (None: runs).
NOT_MIRRORED = "skipped: the {t} template is not mirrored"
NO_DISKS = "skipped: the diskless template has no disks"
EXPECTED_SKIPS: dict[str, dict[str, str]] = {
    "diskless": {
        "grow-disk": NO_DISKS, "export/import": NO_DISKS,
        "reinstall": NO_DISKS, "activate/deactivate disks": NO_DISKS,
        "add/remove disk": NO_DISKS},
    "file": {}, "plain": {},
    "drbd": {"move": "skipped: a mirrored instance moves by failover"},
}
MIRROR_STEPS = ("replace-disks (secondary, primary)",
                "replace-disks (new secondary)", "failover", "migrate")


@pytest.mark.parametrize("template", TEMPLATES)
def test_burnin_passes_every_supported_step(
        lc: LocalCluster, burnins: dict[str, tuple[int, str]],
        template: str) -> None:
    returncode, out = burnins[template]
    assert returncode == 0, out
    assert out.rstrip().endswith("Burnin passed"), out
    steps = summary(out)
    expected = dict(EXPECTED_SKIPS[template])
    if template != "drbd":
        expected.update({s: NOT_MIRRORED.format(t=template)
                         for s in MIRROR_STEPS})
    for step, state in steps.items():
        assert state == expected.get(step, "ok"), (step, out)
    assert len(steps) == 17, steps
    listing = lc.gnt("gnt-instance", "list", "--no-headers", "-o", "name")
    assert template not in listing.stdout, listing.stdout


def test_burnin_reports_a_failure_and_exits_non_zero(lc: LocalCluster) -> None:
    res = burnin(lc, "-o", "no-such-os", "-t", "diskless", "--no-name-check",
                 "bad1.example.com")
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    steps = summary(out)
    assert steps["create"] == "FAILED", out
    assert steps["reboot"] == "skipped: no instance left", out
    assert "bad1.example.com: job " in out and "no-such-os" in out, out
    assert out.rstrip().endswith("Burnin FAILED: 1 failed job(s)"), out
    assert "Traceback" not in out, out


@pytest.mark.parametrize(("args", "message"), [
    (["-t", "diskless", "a.example.com", "a.example.com"],
     "instance names must be distinct"),
    (["--reboot-types", "warm", "a.example.com"], "unknown reboot type(s) warm"),
    (["-t", "drbd", "-n", "nowhere.example.com", "a.example.com"],
     "Unknown or offline node(s): nowhere.example.com"),
])
def test_burnin_refuses_bad_input(lc: LocalCluster, args: list[str],
                                  message: str) -> None:
    res = burnin(lc, "-o", OS, *args)
    assert res.returncode != 0 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
