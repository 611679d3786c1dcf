"""gnt-cluster verify's checks, each fed stand-in RPC answers."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, node_name, write_config

from ganeti import config, constants, hooks, opcodes, pathutils, ssconf
from ganeti.cmdlib.base import LUContext
from ganeti.cmdlib.cluster_verify import (
    ENODEFILECHECK,
    LUClusterVerify,
    format_problem,
    ssconf_content,
)
from ganeti.rpc.result import RpcResult

CONF = pathutils.Paths("")
N1, N2, N3 = node_name(1), node_name(2), node_name(3)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class StandInRpc:
    """Answers like healthy nodes; tests change ``answers`` per node."""

    def __init__(self, cfg: config.ConfigWriter, master_files: dict[str, bytes]
                 ) -> None:
        self.cfg = cfg
        values = ssconf.compute_values(cfg)
        self.files = {path: sha1(data) for path, data in master_files.items()}
        for key, value in values.items():
            self.files[CONF.ssconf_file(key)] = sha1(ssconf_content(value))
        self.per_node: dict[str, dict[str, Any]] = {}
        self.file_overrides: dict[str, dict[str, str | None]] = {}
        self.fail: dict[tuple[str, str], str] = {}
        self.hook_scripts: dict[str, list[list[object]]] = {}
        self.calls: list[str] = []

    def _result(self, node: str, call: str, payload: Any) -> RpcResult:
        msg = self.fail.get((node, call))
        if msg is not None:
            return RpcResult(node, call, fail_msg=msg)
        return RpcResult(node, call, payload=payload)

    def call_node_verify(self, nodes: list[str], hvs: list[str]
                         ) -> dict[str, RpcResult]:
        self.calls.append("node_verify")
        out = {}
        for node in nodes:
            info = {"protocol": constants.PROTOCOL_VERSION,
                    "release": constants.RELEASE_VERSION,
                    "time": time.time(),
                    "hypervisor": {hv: [] for hv in hvs}}
            info.update(self.per_node.get(node, {}))
            out[node] = self._result(node, "node_verify", info)
        return out

    def call_fingerprint_files(self, nodes: list[str], paths: list[str]
                               ) -> dict[str, RpcResult]:
        self.calls.append("fingerprint_files")
        out = {}
        for node in nodes:
            sums = {p: self.files.get(p) for p in paths}
            if node not in self.cfg.get_config_data().nodes or \
                    not self.cfg.get_node(node).master_candidate:
                sums[CONF.cluster_conf_file] = None
            sums.update(self.file_overrides.get(node, {}))
            out[node] = self._result(node, "fingerprint_files", sums)
        return out

    def call_hooks_runner(self, nodes: list[str], hpath: str, phase: str,
                          env: dict[str, str]) -> dict[str, RpcResult]:
        self.calls.append("hooks_runner")
        assert hpath == "cluster-verify" and phase == "post"
        assert env["GANETI_OP_CODE"] == "OP_CLUSTER_VERIFY"
        return {n: self._result(n, "hooks_runner", self.hook_scripts.get(n, []))
                for n in nodes}


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    paths = pathutils.set_root(str(tmp_path))
    os.makedirs(paths.data_dir)
    data = make_config(nodes=3)
    data.nodes[N3].master_candidate = False
    data.cluster.candidate_pool_size = 2
    write_config(paths.cluster_conf_file, data)
    files = {CONF.cluster_conf_file: Path(paths.cluster_conf_file).read_bytes(),
             CONF.rapi_users_file: b"admin pw write\n",
             CONF.noded_cert_file: b"cert"}
    for path, content in files.items():
        Path(paths.under(path)).write_bytes(content)
    cfg = config.ConfigWriter(paths.cluster_conf_file, offline=True)
    rpc = StandInRpc(cfg, files)
    yield cfg, rpc
    cfg.close()
    pathutils.set_root(None)


def run_verify(cfg: Any, rpc: Any, **kwargs: Any) -> tuple[bool, list[str]]:
    lines: list[str] = []
    op = opcodes.OpClusterVerify(**kwargs)
    lu = LUClusterVerify(LUContext(cfg=cfg, rpc=rpc, master=N1), op,
                         lines.append)
    lu.expand_names()
    lu.check_prereq()
    return lu.execute(lines.append), lines


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("  - ")]


def test_clean_cluster(env: Any) -> None:
    cfg, rpc = env
    ok, lines = run_verify(cfg, rpc)
    assert ok, lines
    assert problems(lines) == []
    assert rpc.calls == ["node_verify", "fingerprint_files", "hooks_runner"]


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
    ok, lines = run_verify(cfg, rpc, error_codes=True)
    assert not ok
    assert problems(lines) == [
        f"  - ERROR:ENODERPC:node:{N3}:while contacting node: Error 111: "
        "Connection refused",
        f"  - ERROR:ENODEHOOKS:node:{N3}:Communication failure in hooks "
        "execution: Error 111: Connection refused"]


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
