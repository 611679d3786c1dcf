"""The node's ``/metrics``: memory, CPU, disks and instances as
Prometheus families, read at scrape time through :class:`Sources`.

Each part (memory, cpu, disks, instances, lv, drbd) is gathered on its
own; one that fails leaves its families out and sets
``ganeti_mond_collector_up{collector=...}`` to 0 (1 for those that
worked), so a scrape always answers.  Instance samples are labelled
``name``, not ``instance``: Prometheus gives every scraped sample an
``instance`` label of its own (the target's address).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Final

from ganeti import errors, metrics
from ganeti.mond import collectors, procfs
from ganeti.mond.sources import Sources

_SECTOR: Final = 512
_MIB: Final = 1024 * 1024
_log = logging.getLogger("ganeti.mond")


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK") or 100
    except (ValueError, OSError):
        return 100


class NodeMetrics:
    """Builds the families of one scrape (a fresh set each time)."""

    def __init__(self) -> None:
        reg = self.registry = metrics.Registry()
        self.up = reg.gauge("ganeti_mond_collector_up",
                            "Whether the part of this scrape named by "
                            "collector could be gathered", ["collector"])
        self.mem_total = reg.gauge("ganeti_node_memory_total_bytes",
                                   "Physical memory of the node")
        self.mem_free = reg.gauge("ganeti_node_memory_free_bytes",
                                  "Unused memory of the node")
        self.mem_avail = reg.gauge(
            "ganeti_node_memory_available_bytes",
            "Memory available for new work without swapping")
        self.cpus = reg.gauge("ganeti_node_cpus", "CPUs of the node")
        self.cpu_seconds = reg.counter(
            "ganeti_node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode", ["cpu", "mode"])
        self.load = [reg.gauge(f"ganeti_node_load{n}",
                               f"Load average over {n} minute(s)")
                     for n in (1, 5, 15)]
        self.reads = reg.counter("ganeti_node_disk_reads_completed_total",
                                 "Reads completed", ["device"])
        self.read_bytes = reg.counter("ganeti_node_disk_read_bytes_total",
                                      "Bytes read", ["device"])
        self.writes = reg.counter("ganeti_node_disk_writes_completed_total",
                                  "Writes completed", ["device"])
        self.written = reg.counter("ganeti_node_disk_written_bytes_total",
                                   "Bytes written", ["device"])
        self.io_time = reg.counter("ganeti_node_disk_io_time_seconds_total",
                                   "Seconds spent doing I/O", ["device"])
        self.lv_size = reg.gauge("ganeti_node_lv_size_bytes",
                                 "Size of each logical volume (owner: the "
                                 "instance whose disk it is, empty if none)",
                                 ["vg", "lv", "owner"])
        self.drbd_code = reg.gauge("ganeti_node_drbd_status_code",
                                   "Ganeti status code of each DRBD minor "
                                   "(0 healthy, 1 syncing, 4 broken)",
                                   ["minor"])
        self.drbd_oos = reg.gauge("ganeti_node_drbd_out_of_sync_bytes",
                                  "Data of each DRBD minor out of sync",
                                  ["minor"])
        self.inst_running = reg.gauge("ganeti_instance_running",
                                      "Whether the instance runs here",
                                      ["name"])
        self.inst_admin = reg.gauge(
            "ganeti_instance_admin_up",
            "Whether the config says the instance should run", ["name"])
        self.inst_code = reg.gauge(
            "ganeti_instance_status_code",
            "Ganeti status code of the instance (0 as configured, 1 being "
            "fixed, 4 needs an administrator)", ["name"])
        self.inst_memory = reg.gauge("ganeti_instance_memory_bytes",
                                     "Memory of the instance", ["name"])
        self.inst_vcpus = reg.gauge("ganeti_instance_vcpus",
                                    "Virtual CPUs of the instance", ["name"])
        self.inst_uptime = reg.gauge("ganeti_instance_uptime_seconds",
                                     "Seconds since the instance started",
                                     ["name"])

    def gather(self, sources: Sources) -> str:
        parts: list[tuple[str, Callable[[Sources], None]]] = [
            ("memory", self._memory), ("cpu", self._cpu),
            ("diskstats", self._disks), ("inst-status", self._instances),
            ("lv", self._lvs)]
        if sources.has_proc("drbd"):
            parts.append(("drbd", self._drbd))
        for name, part in parts:
            try:
                part(sources)
            except errors.GenericError as err:
                _log.info("Metrics part %s failed: %s", name, err)
                self.up.set(0, name)
            except Exception:  # a bug in one part must not hide the rest
                _log.exception("Metrics part %s failed", name)
                self.up.set(0, name)
            else:
                self.up.set(1, name)
        return self.registry.render()

    def _memory(self, sources: Sources) -> None:
        info = procfs.parse_meminfo(sources.read_proc("meminfo"))
        if "MemTotal" not in info:
            raise errors.OpExecError("No MemTotal in /proc/meminfo")
        self.mem_total.set(info["MemTotal"])
        self.mem_free.set(info.get("MemFree", 0))
        if "MemAvailable" in info:
            self.mem_avail.set(info["MemAvailable"])

    def _cpu(self, sources: Sources) -> None:
        cpus = procfs.parse_stat_cpus(sources.read_proc("stat"))
        ticks = _clock_ticks()
        per_cpu = [name for name in cpus if name != "cpu"]
        if not per_cpu:
            raise errors.OpExecError("No per-CPU lines in /proc/stat")
        self.cpus.set(len(per_cpu))
        for name in per_cpu:
            for mode, value in cpus[name].items():
                self.cpu_seconds.set_total(value / ticks, name[3:], mode)
        loads = procfs.parse_loadavg(sources.read_proc("loadavg"))
        if loads is not None:
            for gauge, average in zip(self.load, loads, strict=True):
                gauge.set(average)

    def _disks(self, sources: Sources) -> None:
        for dev in collectors.collect_diskstats(sources):
            name = dev["name"]
            self.reads.set_total(dev["readsNum"], name)
            self.read_bytes.set_total(dev["secRead"] * _SECTOR, name)
            self.writes.set_total(dev["writes"], name)
            self.written.set_total(dev["secWritten"] * _SECTOR, name)
            self.io_time.set_total(dev["timeIO"] / 1000, name)

    def _instances(self, sources: Sources) -> None:
        rows = collectors.instance_rows(sources)
        self.inst_running.set_many(
            (r["name"], int(r["actual_state"] == "up")) for r in rows)
        self.inst_admin.set_many(
            (r["name"], int(r["admin_state"] == "up")) for r in rows
            if r["admin_state"] is not None)
        self.inst_code.set_many((r["name"], r["status"]["code"])
                                for r in rows)
        self.inst_memory.set_many((r["name"], r["memory"] * _MIB)
                                  for r in rows if r["memory"] is not None)
        self.inst_vcpus.set_many((r["name"], r["vcpus"]) for r in rows
                                 if r["vcpus"] is not None)
        self.inst_uptime.set_many((r["name"], round(r["uptime"], 3))
                                  for r in rows if r["uptime"] is not None)

    def _lvs(self, sources: Sources) -> None:
        for lv in collectors.collect_lv(sources):
            self.lv_size.set(lv["lv_size"], lv["vg_name"], lv["lv_name"],
                             lv["instance"] or "")

    def _drbd(self, sources: Sources) -> None:
        data = procfs.parse_drbd(sources.read_proc("drbd"))
        for device in data["device"]:
            code, _ = collectors.drbd_device_status(device)
            self.drbd_code.set(code, device["minor"])
            oos = device.get("perfIndicators", {}).get("outOfSync")
            if isinstance(oos, int):
                self.drbd_oos.set(oos * 1024, device["minor"])


def node_metrics(sources: Sources) -> str:
    """The exposition text of this node's metrics."""
    return NodeMetrics().gather(sources)
