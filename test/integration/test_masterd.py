"""The master daemon driven by the real CLI: gnt-debug, gnt-job,
gnt-cluster against ``ganeti-masterd`` under a temporary root."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    MASTER,
    Cli,
    HttpsMaster,
    MasterDaemon,
    make_config,
    wait_for,
)

from ganeti import constants, daemonutil

pytestmark = pytest.mark.integration

CTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
JOB_ID = re.compile(r"^JobID: (\d+)$", re.M)


def submit(gnt: Cli, *args: str) -> int:
    result = gnt("gnt-debug", "delay", "--submit", *args)
    assert result.returncode == 0, result.stderr
    match = JOB_ID.search(result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def test_delay_waits_and_prints_the_log(master: MasterDaemon, gnt: Cli) -> None:
    result = gnt("gnt-debug", "delay", "-r", "2", "0.01")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(CTIME + r" Test delay iteration 0/2", lines[0])
    assert re.fullmatch(CTIME + r" Test delay iteration 1/2", lines[1])


def test_submit_then_watch(master: MasterDaemon, gnt: Cli) -> None:
    job_id = submit(gnt, "-r", "1", "0.2")
    result = gnt("gnt-job", "watch", str(job_id))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Output from job {job_id} follows"
    assert set(lines[1]) == {"-"}
    assert lines[2].endswith("Test delay iteration 0/1")
    assert master.job_field(job_id, "status") == "success"


def test_failed_job_exit_code_and_message(master: MasterDaemon,
                                          gnt: Cli) -> None:
    result = gnt("gnt-debug", "delay", "-n", "nosuch.example.com", "0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Failure: prerequisites not met for this operation:",
        "Node 'nosuch.example.com' not known"]
    job_id = submit(gnt, "-n", "nosuch.example.com", "0")
    watched = gnt("gnt-job", "watch", str(job_id))
    assert watched.returncode == 1
    assert "Node 'nosuch.example.com' not known" in watched.stderr


def test_list_fields_and_formats(master: MasterDaemon, gnt: Cli) -> None:
    assert gnt("gnt-debug", "delay", "0").returncode == 0
    assert gnt("gnt-debug", "delay", "-r", "1", "0").returncode == 0
    listed = gnt("gnt-job", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "Status", "Summary"]
    assert [line.split() for line in lines[1:]] == [
        ["1", "success", "TEST_DELAY(0.0)"], ["2", "success", "TEST_DELAY(0.0)"]]
    extra = gnt("gnt-job", "list", "--no-headers", "--separator=|",
                "-o", "+received_ts,end_ts,opstatus")
    rows = [line.split("|") for line in extra.stdout.splitlines()]
    assert len(rows) == 2
    ts = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
    for row in rows:
        assert row[1:3] == ["success", "TEST_DELAY(0.0)"]
        assert re.fullmatch(ts, row[3]) and re.fullmatch(ts, row[4])
        assert row[5] == "success"
    only = gnt("gnt-job", "list", "-o", "id,status", "2")
    assert only.stdout.splitlines()[1].split() == ["2", "success"]


def test_info_layout(master: MasterDaemon, gnt: Cli) -> None:
    assert gnt("gnt-debug", "delay", "-r", "1", "0").returncode == 0
    info = gnt("gnt-job", "info", "1")
    assert info.returncode == 0, info.stderr
    text = info.stdout
    for expected in ["Job ID: 1", "  Status: success", "  Received:  ",
                     "  Processing start: ", "  Processing end:   ",
                     "  Opcodes:", "    OP_TEST_DELAY", "      Status: success",
                     "      Input fields:", "        duration: 0.0",
                     "        repeat: 1", "      No output data",
                     "      Execution log:"]:
        assert expected in text, expected
    assert re.search(r"^        \S+ \S+:message: Test delay iteration 0/1$",
                     text, re.M)
    missing = gnt("gnt-job", "info", "4242")
    assert missing.stdout.strip() == "Job ID: 4242 not found"


def test_cancel_a_queued_job(cluster_root: Path, masterd_factory: Callable[
        [Path], MasterDaemon], gnt: Cli) -> None:
    master = masterd_factory(cluster_root).start("--workers", "1")
    blocker = submit(gnt, "600")
    master.wait_status(blocker, ["running"])
    queued = submit(gnt, "0")
    assert master.job_field(queued, "status") == "queued"
    result = gnt("gnt-job", "cancel", str(queued))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Job {queued} canceled"
    assert master.job_field(queued, "status") == "canceled"
    watched = gnt("gnt-job", "watch", str(queued))
    assert watched.returncode == 1
    assert f"Job {queued} was canceled" in watched.stderr
    running = gnt("gnt-job", "cancel", str(blocker))
    assert running.returncode == 1
    assert "already running" in running.stderr
    master.kill()  # the blocker would hold a SIGTERM for ten minutes


def test_archive_and_autoarchive(master: MasterDaemon, gnt: Cli) -> None:
    for _ in range(3):
        assert gnt("gnt-debug", "delay", "0").returncode == 0
    assert gnt("gnt-job", "archive", "1").returncode == 0
    listed = gnt("gnt-job", "list", "--no-headers", "-o", "id")
    assert listed.stdout.split() == ["2", "3"]
    # An archived job is still shown by id.
    assert "Job ID: 1\n" in gnt("gnt-job", "info", "1").stdout
    again = gnt("gnt-job", "archive", "1")
    assert again.returncode == 1
    assert again.stderr.strip() == "Failed to archive job with ID '1'"
    kept = gnt("gnt-job", "autoarchive", "1d")
    assert kept.returncode == 0
    assert kept.stdout.strip() == "Archived 0 jobs, 0 unchecked left"
    done = gnt("gnt-job", "autoarchive", "all")
    assert done.stdout.strip() == "Archived 2 jobs, 0 unchecked left"
    assert gnt("gnt-job", "list", "--no-headers").stdout == ""


def test_queue_drain(master: MasterDaemon, gnt: Cli) -> None:
    assert gnt("gnt-cluster", "queue", "info").stdout == \
        "The drain flag is unset\n"
    assert gnt("gnt-cluster", "queue", "drain").returncode == 0
    assert gnt("gnt-cluster", "queue", "info").stdout == \
        "The drain flag is set\n"
    refused = gnt("gnt-debug", "delay", "0")
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("Failure: the job queue is marked for"
                                      " drain and doesn't accept new requests")
    assert gnt("gnt-cluster", "queue", "undrain").returncode == 0
    assert gnt("gnt-debug", "delay", "0").returncode == 0
    bad = gnt("gnt-cluster", "queue", "flush")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1


def test_locks_show_a_delay_holding_a_node(
        tmp_path: Path, masterd_factory: Callable[[Path], MasterDaemon]) -> None:
    root = tmp_path / "locks"
    root.mkdir()
    make_config(root, extra_nodes=2)
    master = masterd_factory(root).start("--rpc-transport", "in-process")
    gnt = Cli(root)
    job_id = submit(gnt, "--no-master", "-n", "node2.example.com", "600")
    master.wait_status(job_id, ["running"])

    def holder_line() -> str | None:
        out = gnt("gnt-debug", "locks", "--no-headers", "--separator=|").stdout
        for line in out.splitlines():
            if line.startswith("node/node2.example.com|"):
                return line
        return None

    line = wait_for(holder_line, "the node lock to be listed")
    assert line == f"node/node2.example.com|exclusive|job/{job_id}|-"
    table = gnt("gnt-debug", "locks").stdout.splitlines()
    assert table[0].split() == ["Name", "Mode", "Owner", "Pending"]
    assert any(row.split()[:3] == ["cluster/BGL", "shared", f"job/{job_id}"]
               for row in table[1:])
    names = gnt("gnt-debug", "locks", "-o", "name", "--no-headers").stdout
    assert "node/node3.example.com" in names.split()
    master.kill()  # the delay would hold a SIGTERM for ten minutes


def test_cluster_info_and_getmaster(master: MasterDaemon, gnt: Cli) -> None:
    got = gnt("gnt-cluster", "getmaster")
    assert (got.returncode, got.stdout) == (0, "node1.example.com\n")
    info = gnt("gnt-cluster", "info")
    assert info.returncode == 0, info.stderr
    lines = info.stdout.splitlines()
    assert lines[0] == "Cluster name: cluster.example.com"
    assert "Master node: node1.example.com" in lines
    assert "Hypervisor parameters:" in lines


def test_bad_input_gives_one_line_errors(master: MasterDaemon, gnt: Cli,
                                         tmp_path: Path) -> None:
    cases = [
        (("gnt-job", "watch", "4242"), 1, "Job 4242 not found"),
        (("gnt-job", "watch", "abc"), 2, "Error: Invalid job ID 'abc'"),
        (("gnt-job", "cancel", "4242"), 1, "Job 4242 not found"),
        (("gnt-job", "autoarchive", "3x"), 2,
         "Error: Invalid time specification '3x'"),
        (("gnt-debug", "delay", "soon"), 2,
         "Error: Invalid duration 'soon': not a number"),
    ]
    for argv, code, message in cases:
        result = gnt(*argv)
        assert (result.returncode, result.stderr.strip()) == (code, message), argv
    bad_option = gnt("gnt-job", "list", "--bogus")
    assert bad_option.returncode == 2
    unknown_field = gnt("gnt-job", "list", "-o", "nosuch")
    assert unknown_field.returncode == 14
    assert "nosuch" in unknown_field.stderr
    not_json = tmp_path / "broken.json"
    not_json.write_text("[{")
    not_ops = tmp_path / "notops.json"
    not_ops.write_text(json.dumps([{"OP_ID": "OP_NO_SUCH"}]))
    for path in (not_json, not_ops, tmp_path / "missing.json"):
        result = gnt("gnt-debug", "submit-job", str(path))
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert str(path) in result.stderr
    assert gnt("gnt-job", "list", "--no-headers").stdout == ""


def test_submit_job_files(master: MasterDaemon, gnt: Cli,
                          tmp_path: Path) -> None:
    ops = tmp_path / "delay.json"
    ops.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 0,
                                "repeat": 1}]))
    quiet = gnt("gnt-debug", "submit-job", "--job-repeat", "2", str(ops))
    assert (quiet.returncode, quiet.stdout) == (0, "")
    only = gnt("gnt-debug", "submit-job", "--submit", "--op-repeat", "3",
               str(ops))
    assert only.returncode == 0
    (job_id,) = [int(m) for m in JOB_ID.findall(only.stdout)]
    assert job_id == 3
    master.wait_status(job_id, ["success"])
    assert master.job_field(job_id, "summary") == ["TEST_DELAY(0.0)"] * 3
    verbose = gnt("gnt-debug", "submit-job", "--verbose", str(ops))
    assert verbose.stdout.splitlines()[0] == "Submitted jobs 4"
    assert verbose.stdout.splitlines()[-1] == "Job 4: success"


def test_no_master_daemon(cluster_root: Path, gnt: Cli) -> None:
    result = gnt("gnt-job", "list")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Cannot communicate with the master daemon.")


def test_default_transport_is_https_to_the_node_daemons(
        https_master: HttpsMaster) -> None:
    """Without --rpc-transport the master reaches its own node through
    that node's ganeti-noded: live node data comes from it, and stops
    when it stops (an in-process transport would still answer)."""
    gnt = https_master.gnt
    listed = gnt("gnt-node", "list", "--no-headers", "-o", "name,mtotal")
    assert listed.returncode == 0, listed.stderr
    name, mtotal = listed.stdout.split()
    assert name == MASTER and mtotal != "?"
    assert daemonutil.stop(constants.NODED, https_master.paths)
    listed = gnt("gnt-node", "list", "--no-headers", "-o", "name,mtotal")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [MASTER, "?"]
