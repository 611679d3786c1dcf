"""ganeti-mond's data collectors and /proc parsers, on recorded /proc
texts, the fake hypervisor, the lvm2 simulator and a written config."""

from __future__ import annotations

import os
from pathlib import Path

import config_builders as cb
import pytest
from metrics_check import promtool_check, value
from mond_support import DRBD, STAT_2, World, make_world

from ganeti.mond import collectors, procfs
from ganeti.mond.node_metrics import node_metrics


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)

def test_report_format(world: World) -> None:
    rep = world.report("diskstats")
    assert set(rep) == {"name", "version", "format_version", "timestamp",
                        "category", "kind", "data"}
    assert rep["version"] == "B" and rep["format_version"] == 1
    assert rep["timestamp"] == 1700000000 * 10**9
    assert (rep["category"], rep["kind"]) == ("storage",
                                              collectors.KIND_PERFORMANCE)


def test_diskstats_parses_devices_and_skips_garbage(world: World) -> None:
    devices = world.report("diskstats")["data"]
    assert [d["name"] for d in devices] == ["loop0", "sda", "dm-1"]
    sda = devices[1]
    assert (sda["major"], sda["minor"], sda["readsNum"], sda["secWritten"],
            sda["timeIO"], sda["wIOmillis"]) == (8, 0, 1200, 64000, 1500, 900)


def test_cpu_load_is_a_rate_between_collections(world: World) -> None:
    first = world.report("cpu-load")["data"]
    assert first["cpu_number"] == 2 and first["window_seconds"] is None
    assert first["cpu_total"] == pytest.approx(200 / 1000)  # since boot
    (world.proc / "stat").write_text(STAT_2)
    world.clock += 10
    second = world.report("cpu-load")["data"]
    # cpu: busy +200 of +400 ticks; cpu0 +100 busy of +100; cpu1 +100/+300.
    assert second["cpu_total"] == pytest.approx(0.5)
    assert second["cpus"] == [pytest.approx(1.0), pytest.approx(1 / 3, 1e-5)]
    assert second["window_seconds"] == 10


def test_drbd_parse_and_status() -> None:
    data = procfs.parse_drbd(DRBD)
    assert data["versionInfo"] == {"version": "8.4.11", "api": "1",
                                   "proto": "86-101",
                                   "srcversion": "211FB288A383ED945B83420"}
    first, syncing, unconfigured, _alone = data["device"]
    assert first["connectionState"] == "Connected"
    assert (first["localRole"], first["remoteState"],
            first["replicationProtocol"], first["ioFlags"]) == (
        "Primary", "UpToDate", "C", "r-----")
    assert first["perfIndicators"]["diskRead"] == 4096
    assert first["perfIndicators"]["writeOrder"] == "f"
    assert syncing["syncStatus"] == {
        "percentage": 25.0, "progress": "768/1024", "progressUnit": "M",
        "timeToFinish": "0:00:10", "speed": 10240, "speedUnit": "K/sec"}
    assert unconfigured == {"minor": 2, "connectionState": "Unconfigured"}
    codes = [collectors.drbd_device_status(d)[0] for d in data["device"]]
    assert codes == [0, 1, 0, 4]


def test_drbd_collector_only_where_proc_drbd_exists(world: World) -> None:
    assert "drbd" not in [c.name for c in collectors.active(world.sources)]
    (world.proc / "drbd").write_text(DRBD)
    assert "drbd" in [c.name for c in collectors.active(world.sources)]
    status = world.report("drbd")["data"]["status"]
    assert status["code"] == 1 | 4
    assert "minor 1 is resynchronizing" in status["message"]
    assert "minor 3: connection state StandAlone" in status["message"]


def test_instance_status_compares_config_and_hypervisor(world: World) -> None:
    world.start(cb.instance_name(1))          # up, should be up
    world.start(cb.instance_name(3))          # up, should be down
    world.start("stray.example.com")          # unknown to the cluster
    data = world.report("inst-status")["data"]
    rows = {r["name"]: r for r in data["instances"]}
    # inst5 has another primary node: not reported here.
    assert sorted(rows) == sorted([cb.instance_name(i) for i in (1, 2, 3, 4)]
                                  + ["stray.example.com"])
    one = rows[cb.instance_name(1)]
    assert (one["admin_state"], one["actual_state"], one["status"]["code"],
            one["memory"], one["vcpus"]) == ("up", "up", 0, 256, 2)
    assert one["uuid"] == world.data.instances[cb.instance_name(1)].uuid
    assert rows[cb.instance_name(2)]["status"]["code"] == 1  # watcher fixes
    assert rows[cb.instance_name(2)]["uptime"] is None
    assert rows[cb.instance_name(3)]["status"]["code"] == 4
    assert rows[cb.instance_name(4)]["status"]["code"] == 0
    assert rows["stray.example.com"]["status"] == {
        "code": 4, "message": "running but unknown to the cluster"}
    assert data["status"]["code"] == 1


def test_instance_status_without_config_uses_ssconf_list(world: World) -> None:
    world.start(cb.instance_name(1))
    os.unlink(world.paths.cluster_conf_file)
    rows = world.report("inst-status")["data"]["instances"]
    assert [(r["name"], r["admin_state"], r["status"]["code"])
            for r in rows] == [(cb.instance_name(1), None, 0)]


def test_lv_collector_names_owners(world: World) -> None:
    world.lvm.create_vg("xenvg", {"/dev/sdb": 10240})
    inst = world.data.instances[cb.instance_name(1)]
    vg, lv = inst.disks[0].logical_id
    runner = world.lvm.runner()
    runner.lvcreate(vg, lv, 128)
    runner.lvcreate("xenvg", "foreign", 64)
    lvs = {r["lv_name"]: r for r in world.report("lv")["data"]}
    assert lvs[lv]["instance"] == inst.name
    assert lvs[lv]["lv_size"] == 128 * 1024 * 1024
    assert lvs["foreign"]["instance"] is None


def test_failing_collector_reports_error_without_breaking_others(
        world: World) -> None:
    world.hv.inject_fault("get_all_instances_info", "hypervisor is gone")
    (world.proc / "diskstats").unlink()
    reports = {c.name: collectors.report(c, world.sources)
               for c in collectors.active(world.sources)}
    broken = reports["diskstats"]["data"]["status"]
    assert broken["code"] == collectors.STATUS_UNKNOWN
    assert "diskstats" in broken["message"]
    assert collectors.failed(reports["diskstats"])
    assert reports["inst-status"]["data"]["status"] == {
        "code": collectors.STATUS_UNKNOWN, "message": "hypervisor is gone"}
    assert collectors.failed(reports["cpu-load"]) is None
    assert reports["cpu-load"]["data"]["cpu_number"] == 2


def test_config_is_parsed_again_only_when_it_changes(world: World) -> None:
    first = world.sources.config()
    assert world.sources.config() is first
    world.data.instances[cb.instance_name(1)].admin_up = False
    world.data.serial_no += 1
    world.write_config()
    second = world.sources.config()
    assert second is not first
    assert not second.instances[cb.instance_name(1)].admin_up


def test_node_metrics_values_and_promtool(world: World) -> None:
    world.start(cb.instance_name(1))
    text = node_metrics(world.sources)
    promtool_check(text)
    assert value(text, "ganeti_node_memory_total_bytes") == 4096000 * 1024
    assert value(text, "ganeti_node_memory_available_bytes") == 2048000 * 1024
    assert value(text, "ganeti_node_cpus") == 2
    ticks = os.sysconf("SC_CLK_TCK")
    assert value(text, "ganeti_node_cpu_seconds_total", cpu="0",
                 mode="idle") == pytest.approx(350 / ticks)
    assert value(text, "ganeti_node_load5") == 0.25
    assert value(text, "ganeti_node_disk_written_bytes_total",
                 device="sda") == 64000 * 512
    assert value(text, "ganeti_node_disk_io_time_seconds_total",
                 device="sda") == 1.5
    name = cb.instance_name(1)
    assert value(text, "ganeti_instance_running", name=name) == 1
    assert value(text, "ganeti_instance_admin_up", name=name) == 1
    assert value(text, "ganeti_instance_memory_bytes", name=name) == 256 << 20
    assert value(text, "ganeti_instance_running",
                 name=cb.instance_name(2)) == 0
    assert value(text, "ganeti_instance_status_code",
                 name=cb.instance_name(2)) == 1
    for part in ("memory", "cpu", "diskstats", "inst-status", "lv"):
        assert value(text, "ganeti_mond_collector_up", collector=part) == 1


def test_node_metrics_part_failure_is_reported(world: World) -> None:
    (world.proc / "meminfo").unlink()
    (world.proc / "drbd").write_text(DRBD)
    text = node_metrics(world.sources)
    promtool_check(text)
    assert value(text, "ganeti_mond_collector_up", collector="memory") == 0
    assert value(text, "ganeti_node_memory_total_bytes") is None
    assert value(text, "ganeti_mond_collector_up", collector="cpu") == 1
    assert value(text, "ganeti_node_drbd_status_code", minor="3") == 4
    assert value(text, "ganeti_node_drbd_out_of_sync_bytes",
                 minor="1") == 786432 * 1024
