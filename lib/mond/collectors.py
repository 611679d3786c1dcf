"""The data collectors of ``ganeti-mond`` and Ganeti's report format.

Every collector is one row of :data:`COLLECTORS`: its name, category
(``storage``, ``instance`` or None), kind (:data:`KIND_PERFORMANCE` or
:data:`KIND_STATUS`), the version of its data format and the function
that gathers the data.  :func:`report` wraps the data in the report
object of Ganeti's monitoring agent design (``name``, ``version``,
``format_version``, ``timestamp`` in nanoseconds, ``category``,
``kind``, ``data``).

A collector that fails still answers: its report's ``data`` is
``{"status": {"code": 2, "message": ...}}`` (code 2: the collector could
not tell whether things are good or bad), so one broken source never
hides the others in ``/1/report/all``.

Status collectors put ``{"status": {"code", "message"}}`` in their data,
with Ganeti's codes (:data:`STATUS_OK` 0, :data:`STATUS_FIXING` 1,
:data:`STATUS_UNKNOWN` 2, :data:`STATUS_BROKEN` 4).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from ganeti import errors
from ganeti.hypervisor.base import InstanceInfo
from ganeti.mond import procfs
from ganeti.mond.sources import ConfigView, Sources

KIND_PERFORMANCE: Final = 0
KIND_STATUS: Final = 1
CAT_STORAGE: Final = "storage"
CAT_INSTANCE: Final = "instance"
#: The path segment of collectors without a category.
CAT_DEFAULT: Final = "default"
#: ``version`` of the built-in collectors.
BUILTIN_VERSION: Final = "B"

STATUS_OK: Final = 0
STATUS_FIXING: Final = 1
STATUS_UNKNOWN: Final = 2
STATUS_BROKEN: Final = 4

_log = logging.getLogger("ganeti.mond")


def status(code: int, message: str = "") -> dict[str, Any]:
    return {"code": code, "message": message}


@dataclasses.dataclass(frozen=True)
class Collector:
    name: str
    category: str | None
    kind: int
    format_version: int
    collect: Callable[[Sources], Any]
    doc: str
    #: Whether the collector applies to this node (drbd: where present).
    present: Callable[[Sources], bool] = lambda _sources: True

    @property
    def path_category(self) -> str:
        return self.category or CAT_DEFAULT


def report(collector: Collector, sources: Sources) -> dict[str, Any]:
    """The collector's report object; failures are reported inside it."""
    timestamp = int(sources.clock() * 1e9)
    try:
        data = collector.collect(sources)
    except errors.GenericError as err:
        data = {"status": status(STATUS_UNKNOWN, str(err))}
    except Exception as err:  # a collector bug must not hide the others
        _log.exception("Collector %s failed", collector.name)
        data = {"status": status(STATUS_UNKNOWN,
                                 f"{type(err).__name__}: {err}")}
    return {"name": collector.name, "version": BUILTIN_VERSION,
            "format_version": collector.format_version,
            "timestamp": timestamp, "category": collector.category,
            "kind": collector.kind, "data": data}


def failed(rep: dict[str, Any]) -> str | None:
    """The error of a report whose collector failed, else None."""
    data = rep.get("data")
    if isinstance(data, dict) and set(data) == {"status"} and \
            data["status"]["code"] == STATUS_UNKNOWN:
        return str(data["status"]["message"])
    return None


# --- diskstats ------------------------------------------------------------

def collect_diskstats(sources: Sources) -> list[dict[str, Any]]:
    return procfs.parse_diskstats(sources.read_proc("diskstats"))


# --- cpu load -------------------------------------------------------------

_CPU_LOCK: Final = threading.Lock()


def collect_cpu_load(sources: Sources) -> dict[str, Any]:
    """The load since the previous collection (kept in the sources), so
    that it is a recent rate rather than an average since boot."""
    cpus = procfs.parse_stat_cpus(sources.read_proc("stat"))
    if "cpu" not in cpus:
        raise errors.OpExecError("No cpu line in /proc/stat")
    now = sources.clock()
    sample = {name: procfs.cpu_busy_total(modes)
              for name, modes in cpus.items()}
    with _CPU_LOCK:
        then, old = sources.memory.get("cpu-load", (None, {}))
        sources.memory["cpu-load"] = (now, sample)

    def fraction(name: str) -> float:
        busy, total = sample[name]
        old_busy, old_total = old.get(name, (0, 0))
        if total <= old_total:  # no tick since (or a reset): since boot
            old_busy, old_total = 0, 0
        span = total - old_total
        return round((busy - old_busy) / span, 6) if span > 0 else 0.0

    per_cpu = sorted((n for n in cpus if n != "cpu"),
                     key=lambda n: int(n[3:]) if n[3:].isdigit() else -1)
    return {"cpu_number": len(per_cpu),
            "cpus": [fraction(n) for n in per_cpu],
            "cpu_total": fraction("cpu"),
            "window_seconds": None if then is None
            else round(now - then, 3)}


# --- drbd -----------------------------------------------------------------

_DRBD_CONNECTED: Final = frozenset({"Connected", "Unconfigured"})
_DRBD_SYNCING: Final = frozenset({"SyncSource", "SyncTarget", "PausedSyncS",
                                  "PausedSyncT", "WFBitMapS", "WFBitMapT",
                                  "WFSyncUUID", "StartingSyncS",
                                  "StartingSyncT"})


def drbd_device_status(device: dict[str, Any]) -> tuple[int, str]:
    """Ganeti's status code of one DRBD minor and why."""
    minor, conn = device["minor"], device.get("connectionState", "")
    if conn == "Unconfigured":
        return STATUS_OK, ""
    if conn in _DRBD_SYNCING:
        return STATUS_FIXING, f"minor {minor} is resynchronizing ({conn})"
    if conn not in _DRBD_CONNECTED:
        return STATUS_BROKEN, f"minor {minor}: connection state {conn}"
    disks = (device.get("localState", ""), device.get("remoteState", ""))
    if any(d != "UpToDate" for d in disks):
        return STATUS_BROKEN, f"minor {minor}: disk states {'/'.join(disks)}"
    return STATUS_OK, ""


def collect_drbd(sources: Sources) -> dict[str, Any]:
    data = procfs.parse_drbd(sources.read_proc("drbd"))
    worst, messages = STATUS_OK, []
    for device in data["device"]:
        code, message = drbd_device_status(device)
        worst |= code
        if message:
            messages.append(message)
    data["status"] = status(worst, "; ".join(messages))
    return data


# --- lv -------------------------------------------------------------------

def collect_lv(sources: Sources) -> list[dict[str, Any]]:
    try:
        volumes = sources.config().volumes
    except errors.GenericError:
        volumes = {}
    return [{"lv_name": lv.name, "vg_name": lv.vg_name,
             "lv_size": lv.size_mib * 1024 * 1024, "lv_attr": lv.attr,
             "stripes": lv.stripes, "origin": lv.origin,
             "instance": volumes.get((lv.vg_name, lv.name))}
            for lv in sources.lvm_runner().list_lvs()]


# --- instance status ------------------------------------------------------

def running_instances(sources: Sources) -> dict[str, tuple[str, InstanceInfo]]:
    """name -> (hypervisor, info) of what runs on this node, for every
    enabled hypervisor."""
    running: dict[str, tuple[str, InstanceInfo]] = {}
    for name in sources.hypervisor_names():
        for info in sources.hypervisor(name).get_all_instances_info():
            running[info.name] = (name, info)
    return running


def instance_rows(sources: Sources) -> list[dict[str, Any]]:
    """One row per instance this node is primary for or runs: what the
    config says and what the hypervisor says, and the status code."""
    running = running_instances(sources)
    view: ConfigView = sources.config()
    mine = {name: inst for name, inst in view.instances.items()
            if inst.primary_node == sources.node_name}
    rows = []
    for name in sorted(set(mine) | set(running)):
        conf = mine.get(name)
        hv_name, info = running.get(name, (None, None))
        actual = "up" if info is not None else "down"
        admin = None if conf is None else ("up" if conf.admin_up else "down")
        if conf is None and not view.complete and name in view.names:
            code, message = STATUS_OK, ""
        elif conf is None:
            code, message = STATUS_BROKEN, (
                "running here but not an instance of this node"
                if name in view.names else "running but unknown to the cluster")
        elif admin == actual:
            code, message = STATUS_OK, ""
        elif admin == "up":
            code, message = STATUS_FIXING, ("down but should run (the "
                                            "watcher restarts it)")
        else:
            code, message = STATUS_BROKEN, "running but should be down"
        rows.append({
            "name": name, "uuid": conf.uuid if conf else None,
            "admin_state": admin, "actual_state": actual,
            "uptime": info.uptime if info else None,
            "mtime": conf.mtime if conf else None,
            "state_reason": None,
            "hypervisor": hv_name or (conf.hypervisor if conf else None),
            "memory": info.memory if info else (conf.memory_mib if conf
                                                else None),
            "vcpus": info.vcpus if info else (conf.vcpus if conf else None),
            "status": status(code, message)})
    return rows


def collect_instance_status(sources: Sources) -> dict[str, Any]:
    rows = instance_rows(sources)
    bad = [r["name"] for r in rows if r["status"]["code"] != STATUS_OK]
    message = "" if not bad else (
        f"{len(bad)} instance(s) not as configured: {', '.join(bad[:10])}"
        + (" ..." if len(bad) > 10 else ""))
    return {"instances": rows,
            "status": status(STATUS_FIXING if bad else STATUS_OK, message)}


COLLECTORS: Final[tuple[Collector, ...]] = (
    Collector("cpu-load", None, KIND_PERFORMANCE, 1, collect_cpu_load,
              "CPU load per CPU and in total since the previous collection "
              "(/proc/stat)"),
    Collector("diskstats", CAT_STORAGE, KIND_PERFORMANCE, 1,
              collect_diskstats, "I/O counters of every block device "
              "(/proc/diskstats)"),
    Collector("drbd", CAT_STORAGE, KIND_STATUS, 1, collect_drbd,
              "DRBD devices and their health (/proc/drbd; only where it "
              "exists)", present=lambda s: s.has_proc("drbd")),
    Collector("inst-status", CAT_INSTANCE, KIND_STATUS, 1,
              collect_instance_status, "Instances of this node: admin state "
              "(config) against actual state (hypervisors)"),
    Collector("lv", CAT_STORAGE, KIND_PERFORMANCE, 1, collect_lv,
              "Logical volumes (lvs) and the instance owning each"),
)


def active(sources: Sources,
           collectors: tuple[Collector, ...] = COLLECTORS) -> list[Collector]:
    """The collectors that apply to this node."""
    return [c for c in collectors if c.present(sources)]
