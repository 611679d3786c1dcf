"""A fake cluster of nodes with DRBD disks, answering the node RPC calls
the DRBD operations make (no tests here).

It stands at the RPC boundary (the master's ``RpcClient``): each node has
its logical volumes (with a content token, so data can be followed), its
DRBD devices (active, role, connected, dual-primary) and its running
instances.  Calls are recorded.  Faults: :meth:`FakeCluster.kill` (the
node daemon is dead), :meth:`FakeCluster.degrade` (a disk is degraded on
a node), :meth:`FakeCluster.fail_next` (the next call of a name fails).

Invariants the fake enforces, as DRBD and the hypervisors do: a
migration needs the target's disks in dual-primary mode; an instance
starts only on a node whose disks are active; a DRBD device is created
with its two volumes (as the drbd8 driver does) and assembled only over
existing ones; a device created as a secondary is filled from its peer
by the next resync.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from config_builders import make_config, make_instance, write_config
from instance_ops_env import Ctx

from ganeti import config, constants, hooks, locking, mcpu, objects
from ganeti.cmdlib.base import LUContext
from ganeti.iallocator import runner
from ganeti.locking.retry import LockAttemptTimeoutStrategy
from ganeti.rpc.client import RpcClient
from ganeti.rpc.result import RpcResult
from ganeti.storage.base import SyncStatus

NODES = [f"node{i}.example.com" for i in (1, 2, 3)]
INST = "inst1.example.com"


@dataclasses.dataclass
class Dev:
    active: bool = False
    primary: bool = False
    connected: bool = False
    dual: bool = False
    #: Created over new volumes: the next resync fills it from the peer.
    fresh: bool = False
    #: The data volume it runs over ("vg/lv").
    data: str = ""


@dataclasses.dataclass
class Node:
    name: str
    alive: bool = True
    lvs: dict[str, str] = dataclasses.field(default_factory=dict)
    devs: dict[str, Dev] = dataclasses.field(default_factory=dict)
    running: set[str] = dataclasses.field(default_factory=set)
    degraded: set[str] = dataclasses.field(default_factory=set)
    vg_free: int = 100000


def _lv(disk: dict[str, Any]) -> str:
    return "/".join(str(p) for p in disk["logical_id"])


class FakeCluster:
    """Answers ``rpc.call_<name>(nodes, *args)`` and ``rpc.call``."""

    def __init__(self, cfg: config.ConfigWriter) -> None:
        self.cfg = cfg
        self.nodes = {n: Node(n) for n in cfg.node_names()}
        self.calls: list[tuple[str, str]] = []
        self.faults: dict[str, str] = {}
        self.migrating: dict[str, str] = {}

    # --- test helpers ---------------------------------------------------------

    def add_instance_disks(self, inst: objects.Instance,
                           running: bool = True) -> None:
        for disk in inst.disks:
            for node in inst.all_nodes:
                for child in disk.children:
                    self.nodes[node].lvs[_lv(child.to_dict())] = \
                        f"data-of-{inst.name}"
                self.nodes[node].devs[disk.uuid] = Dev(
                    active=running, primary=running
                    and node == inst.primary_node, connected=running,
                    data=_lv(disk.children[0].to_dict()))
        if running:
            self.nodes[inst.primary_node].running.add(inst.name)

    def write(self, name: str, token: str) -> None:
        """The instance writes ``token`` to its first disk: on the primary
        and, through DRBD, on a connected secondary."""
        inst = self.cfg.get_instance(name)
        assert inst is not None
        disk = inst.disks[0]
        data = _lv(disk.children[0].to_dict())
        for node in inst.all_nodes:
            dev = self.nodes[node].devs.get(disk.uuid)
            if node == inst.primary_node or (dev is not None
                                              and dev.connected):
                self.nodes[node].lvs[data] = token

    def data(self, name: str) -> dict[str, str | None]:
        """What each node of ``name`` holds on its first data volume."""
        inst = self.cfg.get_instance(name)
        assert inst is not None
        data = _lv(inst.disks[0].children[0].to_dict())
        return {n: self.nodes[n].lvs.get(data) for n in inst.all_nodes}

    def kill(self, node: str) -> None:
        self.nodes[node].alive = False

    def degrade(self, node: str, disk_uuid: str) -> None:
        self.nodes[node].degraded.add(disk_uuid)

    def fail_next(self, call: str, msg: str = "injected failure") -> None:
        self.faults[call] = msg

    def names(self, node: str | None = None) -> list[str]:
        return [c for c, n in self.calls if node is None or n == node]

    def assert_volumes_exist(self) -> None:
        """The configuration points only at volumes that exist."""
        for name in self.cfg.instance_names():
            inst = self.cfg.get_instance(name)
            assert inst is not None
            for disk in inst.disks:
                for node in inst.all_nodes:
                    for child in disk.children:
                        lv = _lv(child.to_dict())
                        assert lv in self.nodes[node].lvs, (node, lv)

    # --- the RPC client surface ---------------------------------------------

    def close(self) -> None:
        pass

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("call_"):
            return lambda nodes, *args: self.call(attr[5:], nodes, *args)
        raise AttributeError(attr)

    def call(self, name: str, nodes: list[str], *args: Any
             ) -> dict[str, RpcResult]:
        out = {}
        for node in nodes:
            self.calls.append((name, node))
            obj = self.cfg.get_node(node)
            if obj is not None and obj.offline:
                out[node] = RpcResult(node, name, offline=True,
                                      fail_msg="node is marked offline")
                continue
            if not self.nodes[node].alive:
                out[node] = RpcResult(node, name,
                                      fail_msg="connection refused")
                continue
            if name in self.faults:
                out[node] = RpcResult(node, name,
                                      fail_msg=self.faults.pop(name))
                continue
            try:
                payload = getattr(self, f"_{name}")(self.nodes[node], *args)
            except _Fail as err:
                out[node] = RpcResult(node, name, fail_msg=str(err))
            else:
                out[node] = RpcResult(node, name, payload=payload)
        return out

    # --- block devices ---------------------------------------------------------

    def _dev(self, node: Node, disk: dict[str, Any]) -> Dev:
        if disk["dev_type"] != constants.LD_DRBD8:
            raise _Fail("not a drbd disk")
        if disk.get("physical_id") is None or \
                disk["physical_id"][0] is None:
            raise _Fail("disk sent without its physical id")
        dev = node.devs.get(disk["uuid"])
        if dev is None:
            raise _Fail(f"no drbd device {disk['iv_name']}")
        return dev

    def _status(self, node: Node, disk: dict[str, Any]) -> dict[str, Any]:
        dev = self._dev(node, disk)
        missing = [c for c in disk["children"] if _lv(c) not in node.lvs]
        degraded = (disk["uuid"] in node.degraded or not dev.connected
                    or bool(missing))
        return SyncStatus(dev_path=f"/dev/drbd{disk['physical_id'][4]}",
                          is_degraded=degraded,
                          ldisk_status="faulty" if missing else "okay"
                          ).to_dict()

    def _blockdev_find(self, node: Node, disk: dict[str, Any]) -> Any:
        dev = node.devs.get(disk["uuid"])
        if dev is None or not dev.active:
            return None
        return self._status(node, disk)

    def _blockdev_getmirrorstatus(self, node: Node,
                                  disks: list[dict[str, Any]]) -> Any:
        return [self._status(node, d) for d in disks]

    def _blockdev_create(self, node: Node, disk: dict[str, Any], size: int,
                         owner: str, on_primary: bool) -> str:
        if disk["dev_type"] == constants.LD_LV:
            lv = _lv(disk)
            if lv in node.lvs:
                raise _Fail(f"volume {lv} already exists")
            node.lvs[lv] = ""
            return "/dev/" + lv
        # As the drbd8 driver: the volumes, the metadata, then assembled.
        for child in disk["children"]:
            if _lv(child) in node.lvs:
                raise _Fail(f"volume {_lv(child)} already exists")
        old = node.devs.get(disk["uuid"])
        if old is not None and old.active:
            raise _Fail(f"drbd device {disk['iv_name']} already exists")
        for child in disk["children"]:
            node.lvs[_lv(child)] = ""
        node.devs[disk["uuid"]] = Dev(active=True, connected=True,
                                      primary=on_primary,
                                      fresh=not on_primary,
                                      data=_lv(disk["children"][0]))
        return f"/dev/drbd{disk['physical_id'][4]}"

    def _children(self, node: Node, disk: dict[str, Any]) -> None:
        for child in disk["children"]:
            if _lv(child) not in node.lvs:
                raise _Fail(f"volume {_lv(child)} not found")

    def _blockdev_remove(self, node: Node, disk: dict[str, Any]) -> None:
        if disk["dev_type"] == constants.LD_LV:
            node.lvs.pop(_lv(disk), None)
            return
        node.devs.pop(disk["uuid"], None)
        for child in disk["children"]:
            node.lvs.pop(_lv(child), None)

    def _blockdev_rename(self, node: Node, pairs: list[Any]) -> None:
        for disk, new_id in pairs:
            old = _lv(disk)
            if old not in node.lvs:
                raise _Fail(f"volume {old} not found")
            node.lvs["/".join(str(p) for p in new_id)] = node.lvs.pop(old)

    def _blockdev_assemble(self, node: Node, disk: dict[str, Any],
                           owner: str, on_primary: bool) -> str:
        self._children(node, disk)
        dev = self._dev(node, disk)
        dev.active, dev.connected = True, True
        dev.data = _lv(disk["children"][0])
        dev.primary = dev.primary or on_primary
        return f"/dev/drbd{disk['physical_id'][4]}"

    def _blockdev_shutdown(self, node: Node, disk: dict[str, Any]) -> None:
        dev = node.devs.get(disk["uuid"])
        if dev is not None:
            dev.active = dev.primary = dev.connected = dev.dual = False

    def _drbd_detach_disk(self, node: Node, disk: dict[str, Any]) -> None:
        self._dev(node, disk).data = ""

    def _drbd_attach_disks(self, node: Node, disk: dict[str, Any],
                           init_meta: bool) -> None:
        dev = self._dev(node, disk)
        if dev.data:
            return
        self._children(node, disk)
        # Attached again (new volumes or not): the peer resyncs it.
        dev.data, dev.fresh = _lv(disk["children"][0]), True

    def _blockdev_close(self, node: Node, owner: str,
                        disks: list[dict[str, Any]]) -> None:
        if owner in node.running:
            raise _Fail(f"instance {owner} runs here: device busy")
        for disk in disks:
            self._dev(node, disk).primary = False

    def _blockdev_grow(self, node: Node, disk: dict[str, Any],
                       amount: int) -> int:
        self._children(node, disk)
        return int(disk["size"]) + amount

    # --- network ---------------------------------------------------------------

    def _net_devs(self, node: Node, ips: dict[str, str],
                  disks: list[dict[str, Any]]) -> list[Dev]:
        if node.name not in ips:
            raise _Fail("own address not given")
        devs = []
        for disk in disks:
            if node.name not in disk["logical_id"][:2]:
                raise _Fail(f"disk {disk['iv_name']} is not on this node")
            devs.append(self._dev(node, dict(disk, physical_id=["x"])))
        return devs

    def _drbd_disconnect_net(self, node: Node, ips: dict[str, str],
                             disks: list[dict[str, Any]]) -> None:
        for dev in self._net_devs(node, ips, disks):
            dev.connected = dev.dual = False

    def _drbd_attach_net(self, node: Node, ips: dict[str, str],
                         disks: list[dict[str, Any]], name: str,
                         multimaster: bool) -> None:
        for dev in self._net_devs(node, ips, disks):
            dev.connected, dev.dual = True, multimaster

    def _drbd_wait_sync(self, node: Node, ips: dict[str, str],
                        disks: list[dict[str, Any]]) -> list[Any]:
        for disk, dev in zip(disks, self._net_devs(node, ips, disks),
                             strict=True):
            if not dev.connected:
                raise _Fail(f"disk {disk['iv_name']} is not connected")
            if dev.fresh:
                self._sync_to(node, disk, dev)
        return [True, 100.0]

    def _sync_to(self, node: Node, disk: dict[str, Any], dev: Dev) -> None:
        peer = self.nodes[next(n for n in disk["logical_id"][:2]
                               if n != node.name)]
        src = peer.devs.get(disk["uuid"])
        if src is None or not src.connected or src.fresh or not peer.alive:
            raise _Fail(f"disk {disk['iv_name']}: no peer to sync from")
        node.lvs[dev.data] = peer.lvs[src.data]
        dev.fresh = False

    # --- instances -----------------------------------------------------------

    def _check_disks(self, node: Node, inst: dict[str, Any],
                     dual: bool = False) -> None:
        for disk in inst["disks"]:
            dev = node.devs.get(disk["uuid"])
            if dev is None or not dev.active:
                raise _Fail(f"disk {disk['iv_name']} is not active here")
            if dual and not dev.dual:
                raise _Fail(f"disk {disk['iv_name']} is not dual-primary")

    def _instance_start(self, node: Node, inst: dict[str, Any], *rest: Any
                        ) -> None:
        self._check_disks(node, inst)
        node.running.add(inst["name"])

    def _instance_shutdown(self, node: Node, inst: dict[str, Any],
                           timeout: int) -> str:
        if inst["name"] not in node.running:
            return "not-running"
        node.running.discard(inst["name"])
        return "soft"

    def _instance_info(self, node: Node, name: str, hv: str) -> Any:
        return {"state": "running"} if name in node.running else None

    def _instance_list(self, node: Node, hvs: list[str]) -> list[str]:
        return sorted(node.running)

    def _node_info(self, node: Node, *args: Any) -> dict[str, Any]:
        return {"memory_free": 4096, "vg_free": node.vg_free,
                "vg_size": 200000}

    def _bridges_exist(self, node: Node, bridges: list[str]) -> None:
        return None

    def _instance_migratable(self, node: Node, inst: dict[str, Any]) -> None:
        if inst["name"] not in node.running:
            raise _Fail(f"instance {inst['name']} is not running")

    def _migration_info(self, node: Node, inst: dict[str, Any]) -> str:
        return "info"

    def _accept_instance(self, node: Node, inst: dict[str, Any], info: str,
                         target: str) -> None:
        self._check_disks(node, inst, dual=True)

    def _instance_migrate(self, node: Node, inst: dict[str, Any],
                          target: str, live: bool) -> None:
        self.migrating[inst["name"]] = node.name

    def _instance_get_migration_status(self, node: Node,
                                       inst: dict[str, Any]) -> Any:
        return {"status": "completed", "transferred_mib": 1,
                "total_mib": 1}

    def _finalize_migration(self, node: Node, inst: dict[str, Any],
                            info: str, success: bool) -> None:
        if success:
            node.running.add(inst["name"])

    def _finalize_migration_source(self, node: Node, inst: dict[str, Any],
                                   success: bool) -> None:
        if success:
            node.running.discard(inst["name"])

    def _blockdev_read_data(self, node: Node, disk: dict[str, Any],
                            offset: int, length: int) -> Any:
        """The volume's token as the disk's only data, at offset 0."""
        token = node.lvs.get(_lv(disk), "")
        if offset > 0 or not token:
            return None
        data = token.encode()
        return {"offset": 0, "length": len(data),
                "data": base64.b64encode(data).decode()}

    def _blockdev_write_chunk(self, node: Node, disk: dict[str, Any],
                              offset: int, data: str) -> None:
        """A write through a mirror: its data volume here, and the peer's
        when connected."""
        dev = self._dev(node, disk)
        token = base64.b64decode(data).decode()
        node.lvs[dev.data] = token
        peer = self.nodes[next(n for n in disk["logical_id"][:2]
                               if n != node.name)]
        other = peer.devs.get(disk["uuid"])
        if dev.connected and other is not None and other.connected:
            peer.lvs[other.data] = token

    def _node_volumes(self, node: Node, vg: str) -> list[list[Any]]:
        return [[vg, lv.split("/", 1)[1], 1024] for lv in sorted(node.lvs)
                if lv.startswith(vg + "/")]


class _Fail(Exception):
    pass


def _no_hooks(nodes: Any, hpath: str, phase: str, env: Any
              ) -> list[hooks.NodeResult]:
    return [hooks.NodeResult(n, []) for n in nodes]


@dataclasses.dataclass
class Env:
    cfg: config.ConfigWriter
    fake: FakeCluster
    proc: mcpu.Processor
    ctx: Ctx

    def run(self, op: Any) -> Any:
        self.ctx = Ctx()
        return self.proc.execute(op, self.ctx)

    def fails(self, op: Any, exc: type[BaseException], match: str
              ) -> BaseException:
        with pytest.raises(exc, match=match) as info:
            self.run(op)
        return info.value

    def inst(self, name: str = INST) -> objects.Instance:
        inst = self.cfg.get_instance(name)
        assert inst is not None
        return inst


def drbd_env(tmp_path: Path, instances: int = 1,
             admin_up: bool = True) -> Iterator[Env]:
    """A config of three nodes and ``instances`` DRBD instances (primary
    node1, secondary node2), their disks and running state in the fake.
    No external iallocator is found (``-I hail`` is the built-in one)."""
    data = make_config(nodes=3)
    for k in range(1, instances + 1):
        data.cluster.highest_used_port += 1
        inst = make_instance(k, NODES[0], secondary=NODES[1],
                             disk_template=constants.DT_DRBD8,
                             port=data.cluster.highest_used_port,
                             admin_up=admin_up)
        data.instances[inst.name] = inst
    path = write_config(tmp_path / "config.data", data)
    cfg = config.ConfigWriter(path, lock_file=str(tmp_path / "cfg.lock"))
    fake = FakeCluster(cfg)
    for name in cfg.instance_names():
        inst = cfg.get_instance(name)
        assert inst is not None
        fake.add_instance_disks(inst, running=admin_up)
    glm = locking.GanetiLockManager(nodes=cfg.node_names(),
                                    instances=cfg.instance_names())
    proc = mcpu.Processor(
        LUContext(cfg=cfg, rpc=cast(RpcClient, fake), master=NODES[0]), glm,
        _no_hooks,
        strategy=lambda: LockAttemptTimeoutStrategy(
            attempts=3, base=0.01, maximum=0.05, max_pause=0.0),
        sleep=lambda s: None)
    runner.set_search_path(())
    try:
        yield Env(cfg, fake, proc, Ctx())
    finally:
        runner.set_search_path(None)
        cfg.close()
