"""A stand-in node RPC for the verify LU and a configuration to verify.

``StandInRpc`` answers like healthy nodes of the configuration: every
instance marked up runs on its primary node, every disk is there, every
file matches the master's copy.  Tests change that per node:
``per_node`` (extra ``node_verify`` keys), ``running`` (the instances a
node runs), ``missing_disks`` ((node, configured path) pairs),
``file_overrides``, ``fail`` ((node, call) -> failure message),
``hook_scripts``, ``vg_info`` (node_info overrides),
``extra_volumes`` (volumes no disk of the configuration is) and
``replica_overrides`` (a candidate's ``replica_state`` answer keys).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from config_builders import make_config, node_name, write_config

from ganeti import (
    config,
    constants,
    objects,
    opcodes,
    pathutils,
    replica,
    ssconf,
)
from ganeti.cmdlib.base import LUContext
from ganeti.cmdlib.cluster_verify import LUClusterVerify, ssconf_content
from ganeti.rpc.calls.node_info import NODE_INFO_KEYS
from ganeti.rpc.result import RpcResult

CONF = pathutils.Paths("")
N1, N2, N3 = node_name(1), node_name(2), node_name(3)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class StandInRpc:
    """Answers like healthy nodes; tests change the answers per node."""

    def __init__(self, cfg: config.ConfigWriter, master_files: dict[str, bytes]
                 ) -> None:
        self.cfg = cfg
        values = ssconf.compute_values(cfg)
        self.files = {path: sha1(data) for path, data in master_files.items()}
        for key, value in values.items():
            self.files[CONF.ssconf_file(key)] = sha1(ssconf_content(value))
        self.per_node: dict[str, dict[str, Any]] = {}
        self.running: dict[str, set[str]] = {}
        for inst in cfg.get_config_data().instances.values():
            if inst.admin_up:
                self.running.setdefault(inst.primary_node, set()).add(
                    inst.name)
        self.missing_disks: set[tuple[str, str]] = set()
        self.file_overrides: dict[str, dict[str, str | None]] = {}
        self.fail: dict[tuple[str, str], str] = {}
        self.hook_scripts: dict[str, list[list[object]]] = {}
        #: node_info overrides (vg_size, vg_error) and volumes no disk is.
        self.vg_info: dict[str, dict[str, Any]] = {}
        self.extra_volumes: dict[str, list[list[Any]]] = {}
        self.replica_overrides: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        #: Disks asked about, per node (blockdev_getsizes).
        self.disk_queries: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

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
                    "hypervisor": {hv: [] for hv in hvs},
                    "instances": sorted(self.running.get(node, ()))}
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

    def call_blockdev_getsizes(self, nodes: list[str],
                               disks: list[dict[str, Any]]
                               ) -> dict[str, RpcResult]:
        assert len(nodes) == 1
        node = nodes[0]
        with self._lock:  # nodes are asked from several threads
            self.calls.append("blockdev_getsizes")
            self.disk_queries[node] = disks
        sizes = [None if (node, d["logical_id"][1]) in self.missing_disks
                 else d["size"] for d in disks]
        return {node: self._result(node, "blockdev_getsizes", sizes)}

    def call_node_info(self, nodes: list[str], vg: str | None,
                       hvs: list[str], fsd: str) -> dict[str, RpcResult]:
        self.calls.append("node_info")
        out = {}
        for node in nodes:
            info = dict.fromkeys(NODE_INFO_KEYS)
            info.update(vg_size=262144, vg_free=262144, memory_free=65536)
            info.update(self.vg_info.get(node, {}))
            out[node] = self._result(node, "node_info", info)
        return out

    def call_node_volumes(self, nodes: list[str], vg: str
                          ) -> dict[str, RpcResult]:
        self.calls.append("node_volumes")
        data = self.cfg.get_config_data()
        out = {}
        for node in nodes:
            vols = [[*map(str, d.logical_id), d.size, ["/dev/sda1"],
                     "-wi-a-----"]
                    for inst in data.instances.values()
                    if inst.primary_node == node for d in inst.disks
                    if d.dev_type == constants.LD_LV]
            out[node] = self._result(node, "node_volumes",
                                     vols + self.extra_volumes.get(node, []))
        return out

    def call_replica_state(self, nodes: list[str]) -> dict[str, RpcResult]:
        """A current copy of the master's files, unless overridden."""
        self.calls.append("replica_state")
        out = {}
        for node in nodes:
            state = replica.describe_here()
            state.update(self.replica_overrides.get(node, {}))
            out[node] = self._result(node, "replica_state", state)
        return out

    def call_hooks_runner(self, nodes: list[str], hpath: str, phase: str,
                          env: dict[str, str]) -> dict[str, RpcResult]:
        self.calls.append("hooks_runner")
        assert hpath == "cluster-verify" and phase == "post"
        assert env["GANETI_OP_CODE"] == "OP_CLUSTER_VERIFY"
        return {n: self._result(n, "hooks_runner", self.hook_scripts.get(n, []))
                for n in nodes}


def make_env(root: Path, instances: list[dict[str, Any]] | None = None,
             tweak: Callable[[objects.ConfigData], None] | None = None,
             ) -> Iterator[tuple[config.ConfigWriter, StandInRpc]]:
    """A 3-node cluster (node3 no master candidate) under ``root`` with
    ``instances`` (keyword dictionaries of ``make_instance``); ``tweak``
    changes the configuration before it is written."""
    paths = pathutils.set_root(str(root))
    os.makedirs(paths.data_dir)
    data = make_config(nodes=3, instances=instances or [])
    data.nodes[N3].master_candidate = False
    data.cluster.candidate_pool_size = 2
    if tweak is not None:
        tweak(data)
    write_config(paths.cluster_conf_file, data)
    files = {CONF.cluster_conf_file: Path(paths.cluster_conf_file).read_bytes(),
             CONF.rapi_users_file: b"admin pw write\n",
             CONF.noded_cert_file: b"cert"}
    for path, content in files.items():
        Path(paths.under(path)).write_bytes(content)
    cfg = config.ConfigWriter(paths.cluster_conf_file, offline=True)
    rpc = StandInRpc(cfg, files)
    try:
        yield cfg, rpc
    finally:
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
