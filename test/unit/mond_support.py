"""What the ganeti-mond unit tests share: recorded /proc texts and a
:class:`World` (one node's root with ssconf and config, a /proc
directory, the fake hypervisor and the lvm2 simulator)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import config_builders as cb

from ganeti import constants, objects, pathutils, ssconf
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.mond import collectors
from ganeti.mond.sources import Sources
from ganeti.standins.lvm import LvmSimulator

DISKSTATS = """\
   7       0 loop0 50 2 60 5 43 15 15 24 0 38 30 0 0 0 0 0 0
   8       0 sda 1200 10 96000 300 800 20 64000 500 2 1500 900
 253       1 dm-1 5 0 40 1 0 0 0 0 0 2 1
garbage line
"""
STAT_1 = """\
cpu  100 0 100 700 100 0 0 0 0 0
cpu0 50 0 50 350 50 0 0 0 0 0
cpu1 50 0 50 350 50 0 0 0 0 0
intr 12345
"""
STAT_2 = """\
cpu  200 0 200 900 100 0 0 0 0 0
cpu0 150 0 50 350 50 0 0 0 0 0
cpu1 50 0 150 550 50 0 0 0 0 0
"""
MEMINFO = """\
MemTotal:        4096000 kB
MemFree:         1024000 kB
MemAvailable:    2048000 kB
HugePages_Total:       0
"""
DRBD = """\
version: 8.4.11 (api:1/proto:86-101)
srcversion: 211FB288A383ED945B83420
 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:1024 nr:0 dw:2048 dr:4096 al:3 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
 1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
    ns:100 nr:0 dw:0 dr:100 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:786432
\t[====>...............] sync'ed: 25.0% (768/1024)M
\tfinish: 0:00:10 speed: 10,240 (10,240) K/sec
 2: cs:Unconfigured
 3: cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown   r-----
    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
"""
NODE = cb.node_name(1)


class World:
    """One node's view: a root with ssconf and config, a /proc directory,
    a fake hypervisor and an lvm2 simulator."""

    def __init__(self, tmp_path: Path, data: objects.ConfigData) -> None:
        self.paths = pathutils.Paths(str(tmp_path / "root"))
        self.proc = tmp_path / "proc"
        self.proc.mkdir()
        for name, text in (("diskstats", DISKSTATS), ("stat", STAT_1),
                           ("meminfo", MEMINFO), ("loadavg",
                                                  "0.50 0.25 0.10 1/100 42\n")):
            (self.proc / name).write_text(text)
        os.makedirs(self.paths.data_dir, exist_ok=True)
        self.data = data
        self.write_config()
        self.hv = FakeHypervisor(state_dir=str(tmp_path / "fake-hv"))
        self.lvm = LvmSimulator(str(tmp_path / "lvm"))
        self.clock = 1700000000.0
        self.sources = Sources(paths=self.paths, proc_dir=str(self.proc),
                               node_name=NODE, hypervisor_fn=lambda _n: self.hv,
                               lvm_runner_fn=self.lvm.runner,
                               clock=lambda: self.clock)

    def write_config(self) -> None:
        cb.write_config(self.paths.cluster_conf_file, self.data)
        values = {ssconf.SS_CLUSTER_NAME: "cluster.example.com",
                  ssconf.SS_MASTER_NODE: NODE,
                  ssconf.SS_HYPERVISOR_LIST: constants.HT_FAKE,
                  ssconf.SS_INSTANCE_LIST: "\n".join(sorted(
                      self.data.instances))}
        ssconf.write_files(values, self.paths)

    def start(self, name: str) -> None:
        inst = self.data.instances.get(name) or cb.make_instance(99, NODE,
                                                                 name=name)
        self.hv.start_instance(inst, [], {}, {"maxmem": 256, "minmem": 256,
                                              "vcpus": 2}, [])

    def report(self, name: str) -> dict[str, Any]:
        collector = next(c for c in collectors.COLLECTORS if c.name == name)
        return collectors.report(collector, self.sources)


def make_world(tmp_path: Path) -> World:
    """Instances 1-4 on this node (1 and 2 should run), 5 on another."""
    data = cb.make_config(nodes=2, instances=[
        {"i": 1, "admin_up": True}, {"i": 2, "admin_up": True},
        {"i": 3, "admin_up": False}, {"i": 4, "admin_up": False},
        {"i": 5, "primary": cb.node_name(2), "admin_up": True}])
    return World(tmp_path, data)
