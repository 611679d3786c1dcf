"""tools/bench-scale --quick: a 10-node local cluster filled with 200
instances through jobs, measured, stopped and removed.  Only the report's
shape is checked (no timing assertions: the machine is shared)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_cluster import short_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

FIELDS = ("nodes", "instances", "noded_rss_mib_avg", "noded_pss_mib_avg",
          "total_rss_mib", "total_pss_mib", "masterd_rss_mib",
          "masterd_peak_rss_mib", "verify_s", "verify_rc", "node_list_s",
          "instance_list_s", "rapi_bulk_s", "start_s", "create_per_s",
          "load_avg_start", "load_avg_end", "daemons", "settle_s",
          "verify_errors")


def test_quick_mode_reports_every_figure_and_cleans_up() -> None:
    directory = short_dir()
    try:
        proc = subprocess.run(
            [sys.executable, str(REPO / "tools" / "bench-scale"), "--quick",
             "--dir", directory],
            capture_output=True, text=True, timeout=1800, check=False,
            env=dict(os.environ, GANETI_BENCH_NO_REEXEC="1"))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert set(FIELDS) <= set(report)
        assert (report["nodes"], report["instances"]) == (10, 200)
        # Node daemons, monitoring daemons, the master, RAPI and confd.
        assert report["daemons"] >= 2 * 10 + 2
        assert report["verify_rc"] in (0, 1)
        assert len(report["load_avg_end"]) == 3
        for key in FIELDS:
            if key.endswith(("_s", "_mib", "_mib_avg")):
                assert report[key] > 0, key
        # The cluster was stopped (every daemon waited for) and removed.
        assert os.listdir(directory) == []
    finally:
        shutil.rmtree(directory, ignore_errors=True)
