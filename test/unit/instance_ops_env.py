"""A processor over a real config and the in-process node backend, for the
instance operation tests (startup, shutdown, migrate, modify...).

Every node is answered by the same backend under one root (the RPC
``LocalTransport``), so "the node" is this process: the fake hypervisor's
state directory, the file storage directory and ``/sys/class/net`` all
live under ``tmp_path``.  Two-node behaviour (migration, move) is tested
on a real local cluster in test/integration.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, make_instance, write_config

from ganeti import config, constants, errors, hooks, locking, mcpu, objects, pathutils
from ganeti.cmdlib.base import LUContext
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.locking.retry import LockAttemptTimeoutStrategy
from ganeti.rpc.client import LocalTransport, RpcClient

FILE_INST = "inst1.example.com"
DISKLESS_INST = "inst2.example.com"
SDIR = pathutils.CONFIGURED_FILE_STORAGE_DIR


class Ctx(mcpu.DirectContext):
    """The job context the processor talks to; collects feedback."""

    job_id = 1

    def __init__(self) -> None:
        self.messages: list[str] = []
        super().__init__(self.messages.append)


class Env:
    def __init__(self, root: Path, proc: mcpu.Processor,
                 cfg: config.ConfigWriter, rpc: RpcClient) -> None:
        self.root = root
        self.proc = proc
        self.cfg = cfg
        self.rpc = rpc
        self.ctx = Ctx()

    @property
    def hv(self) -> FakeHypervisor:
        return FakeHypervisor()

    def run(self, op: Any) -> Any:
        self.ctx = Ctx()
        return self.proc.execute(op, self.ctx)

    def fails(self, op: Any, exc: type[BaseException], match: str) -> Any:
        with pytest.raises(exc, match=match) as info:
            self.run(op)
        return info.value

    def inst(self, name: str = FILE_INST) -> objects.Instance:
        inst = self.cfg.get_instance(name)
        assert inst is not None
        return inst

    def running(self) -> list[str]:
        return self.hv.list_instances()

    def make_bridge(self, name: str) -> None:
        os.makedirs(os.path.join(pathutils.get().under("/sys/class/net"),
                                 name, "bridge"), exist_ok=True)

    def disk_path(self, name: str = FILE_INST, index: int = 0) -> str:
        disk = self.inst(name).disks[index]
        return pathutils.get().under(str(disk.logical_id[1]))


def file_instance(i: int, primary: str, **kwargs: Any) -> objects.Instance:
    inst = make_instance(i, primary, disk_template=constants.DT_FILE, **kwargs)
    for disk in inst.disks:
        disk.size = 64
    return inst


def create_disks(rpc: RpcClient, inst: objects.Instance) -> None:
    node = inst.primary_node
    for disk in inst.disks:
        directory = os.path.dirname(str(disk.logical_id[1]))
        rpc.call_file_storage_dir_create([node], directory)[node].raise_on_fail()
        rpc.call_blockdev_create([node], disk.to_dict(), disk.size, inst.name,
                                 True)[node].raise_on_fail()


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[Env]:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "1024")
    monkeypatch.setenv("FAKE_HV_CPU_COUNT", "2")
    pathutils.set_root(str(tmp_path))
    data = make_config(nodes=2)
    nodes = list(data.nodes)
    for inst in (file_instance(1, nodes[0]),
                 make_instance(2, nodes[0],
                               disk_template=constants.DT_DISKLESS)):
        data.instances[inst.name] = inst
    data.cluster.file_storage_dir = SDIR
    path = write_config(tmp_path / "config.data", data)
    cfg = config.ConfigWriter(path, lock_file=str(tmp_path / "cfg.lock"))
    glm = locking.GanetiLockManager(nodes=cfg.node_names(),
                                    instances=cfg.instance_names())
    rpc = RpcClient(cfg.get_node, LocalTransport())
    proc = mcpu.Processor(
        LUContext(cfg=cfg, rpc=rpc, master=nodes[0]), glm,
        hooks.RpcHooksRunner(rpc),
        strategy=lambda: LockAttemptTimeoutStrategy(
            attempts=3, base=0.01, maximum=0.05, max_pause=0.0),
        sleep=lambda s: None)
    env = Env(tmp_path, proc, cfg, rpc)
    create_disks(rpc, env.inst(FILE_INST))
    env.make_bridge(constants.DEFAULT_BRIDGE)
    try:
        yield env
    finally:
        rpc.close()
        cfg.close()
        pathutils.set_root(None)


__all__ = ["DISKLESS_INST", "FILE_INST", "SDIR", "Ctx", "Env", "create_disks",
           "env_fixture", "errors", "file_instance"]
