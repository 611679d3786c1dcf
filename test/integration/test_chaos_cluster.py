"""A short run of tools/chaos: the master daemon killed (SIGKILL) twice
under a stream of mixed jobs, a node daemon stopped or killed in
between, on a 3-node local cluster.  No acknowledged job may be lost or
left unfinished, no job id reused, and gnt-cluster verify must find the
configuration sound.  How far the master candidates' replicas stay
behind is reported by the harness (replication is made resumable
separately); this test prints it without failing on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAOS = Path(__file__).resolve().parents[2] / "tools" / "chaos"
#: The findings that break the queue's or the configuration's promises.
HARD = ("lost", "handed out twice", "not finished", "gnt-cluster verify",
        "not running before the fault", "died")


@pytest.mark.xfail(
    strict=False,
    reason="open finding of the harness: under a job stream with node"
    " faults, a restarted ganeti-masterd sometimes takes over 30 s before"
    " it starts serving (doc/design/chaos.rst, 'Findings')")
def test_master_kills_lose_no_acknowledged_job() -> None:
    res = subprocess.run(
        [sys.executable, str(CHAOS), "--rounds", "1", "--kills", "2",
         "--seed", "7", "--max-interval", "1.0", "--catchup-timeout", "10",
         "--job-timeout", "120"],
        capture_output=True, text=True, timeout=600, check=False)
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["master_kills"] == 2, out
    assert report["jobs_acknowledged"] > 0, out
    hard = [f for f in report["findings"] if any(h in f for h in HARD)]
    assert hard == [], out
    # Exit 1 exactly when something was found (replica lag included).
    assert res.returncode == (1 if report["findings"] else 0), out
    print("replica lag:", report["replica_lag"])


def test_chaos_refuses_bad_options() -> None:
    res = subprocess.run([sys.executable, str(CHAOS), "--rounds", "0"],
                         capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 2 and "--rounds must be at least 1" in res.stderr
