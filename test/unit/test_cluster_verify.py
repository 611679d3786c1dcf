"""gnt-cluster verify's checks, each fed stand-in RPC answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_verify_support import (
    CONF,
    N2,
    N3,
    make_env,
    problems,
    run_verify,
    sha1,
)
from config_builders import write_config

from ganeti import config, hooks, pathutils
from ganeti.cmdlib.cluster_verify_report import ENODEFILECHECK, format_problem


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    yield from make_env(tmp_path)


def test_clean_cluster(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc)
    assert ok, lines
    assert problems(lines) == []
    assert rpc.calls == ["node_verify", "fingerprint_files", "replica_state",
                         "node_info", "node_volumes", "hooks_runner"]


def test_format_of_error_codes() -> None:
    assert format_problem("ERROR", ENODEFILECHECK, "node2.example.com",
                          "file 'x' missing", error_codes=True) == \
        "ERROR:ENODEFILECHECK:node:node2.example.com:file 'x' missing"
    assert format_problem("ERROR", ENODEFILECHECK, "node2.example.com",
                          "file 'x' missing", error_codes=False) == \
        "ERROR: node node2.example.com: file 'x' missing"
    assert format_problem("WARNING", ("cluster", "ECLUSTERCFG"), None, "m",
                          error_codes=True) == "WARNING:ECLUSTERCFG:cluster::m"


def test_tampered_file_names_node_and_path(env: Any) -> None:
    cfg, rpc = env
    rpc.file_overrides[N2] = {CONF.rapi_users_file: sha1(b"tampered")}
    ok, lines = run_verify(cfg, rpc, error_codes=True)
    assert not ok
    assert problems(lines) == [
        f"  - ERROR:ENODEFILECHECK:node:{N2}:file '{CONF.rapi_users_file}'"
        " has wrong checksum (differs from the master's copy; run "
        "'gnt-cluster redist-conf')"]


def test_missing_and_unexpected_files(env: Any) -> None:
    cfg, rpc = env
    rpc.file_overrides[N2] = {CONF.cluster_conf_file: None}
    rpc.file_overrides[N3] = {CONF.cluster_conf_file: "0" * 40,
                              CONF.rapi_cert_file: "1" * 40}
    ok, lines = run_verify(cfg, rpc)
    assert not ok
    text = "\n".join(problems(lines))
    assert f"ERROR: node {N2}: file '{CONF.cluster_conf_file}' missing" in text
    assert f"node {N3}: file '{CONF.cluster_conf_file}' should not exist" \
        in text
    assert f"node {N3}: file '{CONF.rapi_cert_file}' exists on the node but " \
        "is missing on the master" not in text  # candidates-only, N3 is not
    assert len(problems(lines)) == 2


def test_unreachable_node(env: Any) -> None:
    cfg, rpc = env
    rpc.fail[(N3, "node_verify")] = "Error 111: Connection refused"
    rpc.fail[(N3, "fingerprint_files")] = "Error 111: Connection refused"
    rpc.fail[(N3, "hooks_runner")] = "Error 111: Connection refused"
    asked: list[list[str]] = []
    for name in ("call_fingerprint_files", "call_hooks_runner",
                 "call_replica_state", "call_node_info"):
        real = getattr(rpc, name)

        def record(nodes: list[str], *args: Any, real: Any = real) -> Any:
            asked.append(list(nodes))
            return real(nodes, *args)
        setattr(rpc, name, record)
    ok, lines = run_verify(cfg, rpc, error_codes=True)
    assert not ok
    # Reported once; a node that did not answer node_verify is asked
    # nothing more (a hung node would cost an RPC timeout per call).
    assert problems(lines) == [
        f"  - ERROR:ENODERPC:node:{N3}:while contacting node: Error 111: "
        "Connection refused"]
    assert asked and not any(N3 in nodes for nodes in asked)


def test_versions_time_and_hypervisor(env: Any) -> None:
    cfg, rpc = env
    rpc.per_node[N2] = {"protocol": 29}
    rpc.per_node[N3] = {"release": "2.0.0", "time": time.time() + 3600,
                        "hypervisor": {"fake": ["state dir not writable"]}}
    ok, lines = run_verify(cfg, rpc, error_codes=True)
    assert not ok
    found = problems(lines)
    assert any(f"ERROR:ENODEVERSION:node:{N2}:connection to node returned "
               "incompatible protocol version: master 30, node 29" in x
               for x in found)
    assert any(f"WARNING:ENODEVERSION:node:{N3}:software version mismatch" in x
               for x in found)
    assert any(f"ERROR:ENODETIME:node:{N3}:Node time diverges by at least" in x
               for x in found)
    assert any(f"ERROR:ENODEHV:node:{N3}:hypervisor fake: state dir not "
               "writable" in x for x in found)


def test_ssconf_drift(env: Any) -> None:
    cfg, rpc = env
    path = CONF.ssconf_file("master_node")
    rpc.file_overrides[N2] = {path: sha1(b"node9\n")}
    ok, lines = run_verify(cfg, rpc)
    assert not ok
    assert problems(lines) == [
        f"  - ERROR: node {N2}: ssconf files out of sync with the "
        f"configuration: {path}"]


def test_too_few_candidates(env: Any) -> None:
    cfg, rpc = env
    data = cfg.get_config_data()
    data.cluster.candidate_pool_size = 3
    cfg.close()
    paths = pathutils.get()
    write_config(paths.cluster_conf_file, data)
    cfg2 = config.ConfigWriter(paths.cluster_conf_file, offline=True)
    rpc.cfg = cfg2
    rpc.files[CONF.cluster_conf_file] = sha1(
        Path(paths.cluster_conf_file).read_bytes())
    try:
        ok, lines = run_verify(cfg2, rpc, error_codes=True)
    finally:
        cfg2.close()
    assert not ok
    assert [x for x in problems(lines) if "ECLUSTERCFG" in x] == [
        "  - ERROR:ECLUSTERCFG:cluster::cluster: 2 master candidate(s) but 3"
        " wanted (candidate_pool_size 3, 3 eligible node(s))"]


def test_config_problems(env: Any) -> None:
    cfg, rpc = env
    cfg.verify_config = lambda: ["instance x: unknown primary node"]
    ok, lines = run_verify(cfg, rpc)
    assert not ok
    assert "  - ERROR: cluster: instance x: unknown primary node" in lines


def test_hook_failure_is_an_error_with_its_output(env: Any) -> None:
    cfg, rpc = env
    rpc.hook_scripts[N2] = [["10-ok", hooks.HKR_SUCCESS, ""],
                            ["20-check", hooks.HKR_FAIL, "disk 90% full"]]
    ok, lines = run_verify(cfg, rpc)
    assert not ok
    at = lines.index("* Hooks Results")
    assert lines[at + 1:] == [
        f"  - ERROR: node {N2}: Script 20-check failed, output:",
        "      disk 90% full"]


def test_simulated_errors_report_every_check(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc, debug_simulate_errors=True,
                           error_codes=True)
    assert not ok
    codes = {line.split(":")[1] for line in problems(lines)}
    assert {"ECLUSTERCFG", "ENODERPC", "ENODEVERSION", "ENODETIME",
            "ENODEHV", "ENODEFILECHECK"} <= codes


def test_verbose_names_each_step(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc, verbose=True)
    assert ok
    assert "* Verifying distributed files" in lines


def test_every_check_prints_its_section_line(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc)
    assert ok
    sections = [line for line in lines if line.startswith("* ")]
    assert sections == [
        "* Verifying global settings", "* Gathering data (3 nodes)",
        "* Verifying node status", "* Verifying node versions",
        "* Verifying node time", "* Verifying hypervisors",
        "* Verifying distributed files", "* Verifying ssconf files",
        "* Verifying master candidates' replicas",
        "* Verifying volume groups and volumes",
        "* Verifying instance status", "* Verifying orphan instances",
        "* Verifying instance disks", "* Verifying instance policies",
        "* Verifying N+1 Memory redundancy"]
    ok, lines = run_verify(cfg, rpc, skip_checks=["nplusone_mem"])
    assert ok
    assert "* Verifying N+1 Memory redundancy" not in lines


def test_ignored_error_codes_become_warnings(env: Any) -> None:
    cfg, rpc = env
    rpc.file_overrides[N2] = {CONF.rapi_users_file: sha1(b"tampered")}
    ok, lines = run_verify(cfg, rpc, error_codes=True,
                           ignore_errors=["ENODEFILECHECK"])
    assert ok
    assert [line.split(":")[0] for line in problems(lines)] == ["  - WARNING"]
    assert problems(lines)[0].startswith("  - WARNING:ENODEFILECHECK:node:")


def test_unknown_ignored_code_is_rejected(env: Any) -> None:
    from ganeti import errors

    cfg, rpc = env
    with pytest.raises(errors.OpPrereqError, match=r"Unknown error code.*EBOGUS"):
        run_verify(cfg, rpc, ignore_errors=["EBOGUS"])


def test_lagging_candidate_is_reported_with_how_far(env: Any) -> None:
    cfg, rpc = env
    queue_dir = pathutils.get().queue_dir
    Path(queue_dir).mkdir(parents=True)
    for name in ("serial", "job-1", "job-2", "job-3"):
        Path(queue_dir, name).write_text(name)
    serial = cfg.get_serial_no()
    rpc.replica_overrides[N2] = {"config_serial": serial - 3,
                                 "queue": {"job-1": sha1(b"job-1")}}
    ok, lines = run_verify(cfg, rpc, error_codes=True)
    assert not ok
    assert problems(lines) == [
        f"  - ERROR:ENODEREPLICA:node:{N2}:config.data is 3 serial(s) behind"
        f" (node {serial - 3}, master {serial})",
        f"  - ERROR:ENODEREPLICA:node:{N2}:job queue is behind: 2 job file(s)"
        " missing or outdated, queue serial outdated"]
    # Once the candidate caught up, the error is gone.
    del rpc.replica_overrides[N2]
    ok, lines = run_verify(cfg, rpc)
    assert ok and problems(lines) == []
