"""Builders shared by the instance and OS LU tests (no tests here).

:func:`lu_env` gives a processor over a real ConfigWriter and lock
manager, with the in-process RPC transport: every node's calls run in
this process under the one test root, so the fake hypervisor, file
disks and OS definitions are real.  OS definitions are written into the
root's OS search path with :func:`install_os`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config_builders import make_config, write_config
from test_osdef_support import make_os, read_env

from ganeti import config, constants, errors, hooks, locking, mcpu, opcodes, pathutils
from ganeti.cmdlib import instance_create
from ganeti.cmdlib.base import LUContext
from ganeti.locking.retry import LockAttemptTimeoutStrategy
from ganeti.rpc.client import LocalTransport, RpcClient

NODE1 = "node1.example.com"
NODE2 = "node2.example.com"


@dataclasses.dataclass
class GlmContext(LUContext):
    glm: Any = None


class Ctx(mcpu.DirectContext):
    """The job context the processor talks to; collects feedback."""

    job_id = 7

    def __init__(self) -> None:
        self.messages: list[str] = []
        super().__init__(self.messages.append)


@dataclasses.dataclass
class Env:
    root: Path
    proc: mcpu.Processor
    cfg: config.ConfigWriter
    ctx: Ctx

    def run(self, op: opcodes.OpCode) -> Any:
        """Run ``op``; whatever the outcome, the lock manager then knows
        exactly the instances and nodes of the configuration."""
        self.ctx = Ctx()
        try:
            return self.proc.execute(op, self.ctx)
        finally:
            self.assert_locks_match_config()

    def assert_locks_match_config(self) -> None:
        glm = self.proc.glm
        assert glm.names(locking.LEVEL_INSTANCE) == sorted(
            self.cfg.instance_names())
        assert glm.names(locking.LEVEL_NODE) == sorted(self.cfg.node_names())
        assert glm.names(locking.LEVEL_NODEGROUP) == sorted(
            self.cfg.nodegroup_uuids())
        for level in locking.LEVELS:
            assert not glm.is_owned(level)

    @property
    def os_root(self) -> Path:
        return Path(pathutils.get().os_search_path[0])

    def env_of(self, script: str, name: str = "testos") -> dict[str, str]:
        return read_env(self.os_root, script, name)

    def instance_locks(self) -> list[str]:
        return list(self.proc.glm.names(locking.LEVEL_INSTANCE))


def fast_strategy() -> LockAttemptTimeoutStrategy:
    return LockAttemptTimeoutStrategy(attempts=3, base=0.01, maximum=0.05,
                                      max_pause=0.0)


def lu_env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    """The body of the ``env`` fixtures."""
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "4096")
    pathutils.set_root(str(tmp_path))
    data = make_config(nodes=2, instances=0,
                       file_storage_dir=pathutils.CONFIGURED_FILE_STORAGE_DIR)
    conf = pathutils.get().cluster_conf_file
    os.makedirs(os.path.dirname(conf), exist_ok=True)
    path = write_config(conf, data)
    cfg = config.ConfigWriter(path, lock_file=str(tmp_path / "cfg.lock"))
    glm = locking.GanetiLockManager(nodes=cfg.node_names(),
                                    instances=cfg.instance_names(),
                                    nodegroups=cfg.nodegroup_uuids())
    rpc = RpcClient(cfg.get_node, LocalTransport())
    proc = mcpu.Processor(
        GlmContext(cfg=cfg, rpc=rpc, master=NODE1, glm=glm), glm,
        hooks.RpcHooksRunner(rpc), strategy=fast_strategy,
        sleep=lambda s: None)
    instance_create.set_name_services(
        resolver=lambda name: (_ for _ in ()).throw(errors.ResolverError(
            f"no resolver in unit tests ({name})")),
        pinger=lambda ip: False)
    try:
        yield Env(tmp_path, proc, cfg, Ctx())
    finally:
        instance_create.set_name_services()
        rpc.close()
        cfg.close()
        pathutils.set_root(None)


def install_os(env: Env, name: str = "testos", **kwargs: Any) -> Path:
    return make_os(env.os_root, name, **kwargs)


def add_bridge(root: Path, name: str = constants.DEFAULT_BRIDGE) -> None:
    """Make ``name`` a bridge for ``bridges_exist`` under the root."""
    (root / "sys" / "class" / "net" / name / "bridge").mkdir(parents=True)


def create_op(name: str = "inst1.example.com", **kwargs: Any
              ) -> opcodes.OpInstanceCreate:
    values: dict[str, Any] = {
        "instance_name": name, "mode": constants.INSTANCE_CREATE,
        "disk_template": constants.DT_FILE, "disks": [{"size": 64}],
        "nics": [{"mode": "routed", "ip": "192.0.2.50"}],
        "os_type": "testos", "pnode": NODE1, "name_check": False,
        "ip_check": False, "start": False}
    values.update(kwargs)
    return opcodes.OpInstanceCreate(**values)
