"""The fake hypervisor: lifecycle, accounting, faults, migration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from testkit import FakeClock

from ganeti import constants, errors, objects, params, serializer
from ganeti.hypervisor import base, fake
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.utils import process

PYLIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "pylib")

NAME = "inst1.example.com"
NAME2 = "inst2.example.com"


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fake.MEMORY_ENV, raising=False)
    monkeypatch.delenv(fake.CPU_ENV, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


def make_hv(root: Any, clock: FakeClock, *, memory: int | None = 1024,
            cpus: int = 4) -> FakeHypervisor:
    hv = FakeHypervisor(state_dir=str(root), now=clock.time,
                        monotonic=clock.time, sleep=clock.sleep)
    if memory is not None:
        hv.set_node_resources(memory_total=memory, cpu_total=cpus)
    return hv


@pytest.fixture
def hv(tmp_path, clock: FakeClock) -> FakeHypervisor:
    return make_hv(tmp_path / "node1", clock)


def instance(name: str = NAME) -> objects.Instance:
    return objects.Instance(name=name, primary_node="node1.example.com",
                            hypervisor=constants.HT_FAKE,
                            disk_template=constants.DT_DISKLESS)


def bep(memory: int = 128, vcpus: int = 1) -> dict[str, Any]:
    return params.fill(params.be_defaults(), {"maxmem": memory, "vcpus": vcpus})


def hvp(**overrides: Any) -> dict[str, Any]:
    return params.fill(params.hv_defaults(constants.HT_FAKE), overrides)


NICS = [{"mac": "aa:00:00:00:00:01", "ip": None, "mode": "bridged",
         "link": "xen-br0"}]


def start(hv: FakeHypervisor, name: str = NAME, memory: int = 128,
          vcpus: int = 1, disks: list[tuple[str, objects.Disk]] | None = None
          ) -> None:
    hv.start_instance(instance(name), disks or [], hvp(), bep(memory, vcpus),
                      NICS)


# --- Lifecycle ------------------------------------------------------------------

def test_start_list_info_stop(hv: FakeHypervisor, clock: FakeClock) -> None:
    assert hv.list_instances() == []
    start(hv, memory=256, vcpus=2)
    assert hv.list_instances() == [NAME]
    clock.now += 30
    info = hv.get_instance_info(NAME)
    assert info is not None
    assert (info.name, info.memory, info.vcpus, info.state) == (
        NAME, 256, 2, base.InstanceState.RUNNING)
    assert info.uptime == pytest.approx(30)
    assert hv.get_all_instances_info() == [info]
    assert hv.stop_instance(NAME, timeout=10) == base.StopOutcome.SOFT
    assert clock.slept == 0
    assert hv.list_instances() == []
    assert hv.get_instance_info(NAME) is None
    assert hv.stop_instance(NAME) == base.StopOutcome.NOT_RUNNING


def test_state_file_records_what_started(hv: FakeHypervisor, tmp_path) -> None:
    disk_file = tmp_path / "disk0"
    disk_file.write_bytes(b"")
    disk = objects.Disk(dev_type=constants.LD_FILE, size=10,
                        logical_id=["loop", "/srv/x/disk0"], iv_name="disk/0")
    hv.start_instance(instance(), [(str(disk_file), disk)],
                      hvp(kernel_path="", kernel_args=""), bep(), NICS)
    state = hv.instance_state(NAME)
    assert state is not None
    assert state["status"] == "running"
    assert state["hvparams"] == hvp()
    assert state["nics"] == NICS
    assert state["disks"] == [{"path": str(disk_file), "dev_type": "file",
                               "iv_name": "disk/0", "size": 10, "mode": "rw"}]
    on_disk = json.loads((tmp_path / "node1" / "instances"
                          / f"{NAME}.json").read_text())
    assert on_disk == state


def test_listings_reuse_the_states_read_until_a_change(
        hv: FakeHypervisor, tmp_path, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Every listing read every instance file: 0.1 s of a node's answer at
    # 3,333 instances.
    reads = []
    real = FakeHypervisor._read_states
    monkeypatch.setattr(FakeHypervisor, "_read_states",
                        lambda self: reads.append(1) or real(self))
    start(hv, NAME)
    reads.clear()
    assert hv.list_instances() == [NAME]
    assert hv.list_instances() == [NAME]
    assert [i.name for i in hv.get_all_instances_info()] == [NAME]
    assert len(reads) == 1
    # A change through another object (another process) is seen.
    other = make_hv(tmp_path / "node1", clock, memory=None)
    start(other, NAME2)
    reads.clear()
    assert hv.list_instances() == [NAME, NAME2]
    other.stop_instance(NAME, timeout=1)
    assert hv.list_instances() == [NAME2]
    assert hv.get_node_info().memory_free == 1024 - 128
    assert len(reads) == 2
    # Without a token (a change cut short, an older state directory)
    # every listing reads the files.
    (tmp_path / "node1" / "generation").unlink()
    assert hv.list_instances() == [NAME2]
    assert hv.list_instances() == [NAME2]
    assert len(reads) == 4


def test_instance_ids_are_unique(hv: FakeHypervisor) -> None:
    start(hv, NAME)
    start(hv, NAME2)
    infos = hv.get_all_instances_info()
    assert [i.name for i in infos] == [NAME, NAME2]
    assert len({i.id for i in infos}) == 2


def test_refuses_second_start(hv: FakeHypervisor) -> None:
    start(hv)
    with pytest.raises(errors.HypervisorError,
                       match="already running") as info:
        start(hv)
    assert info.value.code == errors.ErrorCode.STATE


def test_refuses_missing_disk(hv: FakeHypervisor, tmp_path) -> None:
    disk = objects.Disk(dev_type=constants.LD_FILE, size=10,
                        logical_id=["loop", "/srv/x/disk0"], iv_name="disk/0")
    with pytest.raises(errors.HypervisorError, match="disk/0 is missing"):
        hv.start_instance(instance(), [(str(tmp_path / "nope"), disk)], hvp(),
                          bep(), NICS)
    assert hv.list_instances() == []


def test_refuses_bad_hvparams(hv: FakeHypervisor) -> None:
    with pytest.raises(errors.ParameterError, match="vnc_tls"):
        hv.start_instance(instance(), [], hvp(vnc_tls=True), bep(), NICS)
    with pytest.raises(errors.HypervisorError, match="kernel_path"):
        hv.start_instance(instance(), [], hvp(kernel_path="/no/such/kernel"),
                          bep(), NICS)


def test_requires_filled_beparams(hv: FakeHypervisor) -> None:
    with pytest.raises(errors.ProgrammerError, match="must be filled"):
        hv.start_instance(instance(), [], hvp(), {"maxmem": 128}, NICS)


def test_reboot(hv: FakeHypervisor, clock: FakeClock) -> None:
    start(hv)
    clock.now += 100
    hv.reboot_instance(NAME)
    info = hv.get_instance_info(NAME)
    assert info is not None and info.uptime == 0
    state = hv.instance_state(NAME)
    assert state is not None and state["reboots"] == 1
    with pytest.raises(errors.HypervisorError, match="not running") as err:
        hv.reboot_instance(NAME2)
    assert err.value.code == errors.ErrorCode.STATE


# --- Memory accounting ------------------------------------------------------------

def test_memory_and_vcpus_accounting(hv: FakeHypervisor) -> None:
    node = hv.get_node_info()
    assert (node.memory_total, node.memory_free, node.cpu_total,
            node.vcpus_used) == (1024, 1024, 4, 0)
    start(hv, NAME, memory=512, vcpus=3)
    node = hv.get_node_info()
    assert (node.memory_free, node.vcpus_used) == (512, 3)
    with pytest.raises(errors.HypervisorError,
                       match="needed 600 MiB, free 512 MiB") as info:
        start(hv, NAME2, memory=600)
    assert info.value.code == errors.ErrorCode.NORES
    assert hv.list_instances() == [NAME]
    start(hv, NAME2, memory=512)
    assert hv.get_node_info().memory_free == 0
    hv.stop_instance(NAME, force=True)
    assert hv.get_node_info().memory_free == 512


def test_start_instances_is_all_or_none(hv: FakeHypervisor) -> None:
    names = [f"b{k}.example.com" for k in range(3)]

    def batch(memory: int) -> list[Any]:
        return [(instance(n), [], hvp(), bep(memory), NICS) for n in names]

    with pytest.raises(errors.HypervisorError,
                       match="needed 1200 MiB, free 1024 MiB"):
        hv.start_instances(batch(400))
    assert hv.list_instances() == []
    hv.start_instances(batch(300))
    assert sorted(hv.list_instances()) == names
    assert hv.get_node_info().memory_free == 1024 - 900
    assert len({hv.get_instance_info(n).id for n in names}) == 3
    with pytest.raises(errors.HypervisorError, match="already running"):
        hv.start_instances(batch(1)[:1])


def test_dom0_memory_and_cpu_topology(hv: FakeHypervisor) -> None:
    hv.set_node_resources(memory_dom0=256, cpu_nodes=2, cpu_sockets=2)
    node = hv.get_node_info()
    assert (node.memory_dom0, node.memory_free, node.cpu_nodes,
            node.cpu_sockets) == (256, 768, 2, 2)
    hv.set_node_resources(cpu_nodes=None)  # back to the machine's
    assert hv.get_node_info().cpu_nodes >= 1  # type: ignore[operator]
    hv.set_node_resources(cpu_nodes=0)  # reported as unknown
    assert hv.get_node_info().cpu_nodes is None
    with pytest.raises(errors.ParameterError, match="Unknown node resource"):
        hv.set_node_resources(disk=3)  # type: ignore[arg-type]
    with pytest.raises(errors.ParameterError, match="memory_total"):
        hv.set_node_resources(memory_total=-1)


def test_memory_from_environment(tmp_path, clock: FakeClock,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fake.MEMORY_ENV, "2048")
    monkeypatch.setenv(fake.CPU_ENV, "16")
    hv = make_hv(tmp_path / "n", clock, memory=None)
    node = hv.get_node_info()
    assert (node.memory_total, node.cpu_total) == (2048, 16)
    hv.set_node_resources(memory_total=512)  # node.json wins
    assert hv.get_node_info().memory_total == 512
    monkeypatch.setenv(fake.MEMORY_ENV, "lots")
    hv.set_node_resources(memory_total=None)
    with pytest.raises(errors.HypervisorError, match=fake.MEMORY_ENV):
        hv.get_node_info()


def test_memory_from_the_machine(tmp_path, clock: FakeClock) -> None:
    hv = make_hv(tmp_path / "n", clock, memory=None)
    node = hv.get_node_info()
    assert node.memory_total == node.memory_free
    assert node.cpu_total >= 1


# --- Stopping -----------------------------------------------------------------------

def test_soft_stop_ignored_then_hard_after_timeout(hv: FakeHypervisor,
                                                   clock: FakeClock) -> None:
    start(hv)
    hv.inject_fault(fake.FAULT_IGNORE_SOFT_STOP)
    assert hv.stop_instance(NAME, timeout=7) == base.StopOutcome.HARD
    assert clock.slept == pytest.approx(7)
    assert hv.list_instances() == []
    assert hv.armed_faults() == {}
    assert hv.get_node_info().memory_free == 1024


def test_forced_stop_is_hard(hv: FakeHypervisor, clock: FakeClock) -> None:
    start(hv)
    hv.inject_fault(fake.FAULT_IGNORE_SOFT_STOP)
    assert hv.stop_instance(NAME, force=True) == base.StopOutcome.HARD
    assert clock.slept == 0
    # The soft stop never ran, so the fault is still armed.
    assert fake.FAULT_IGNORE_SOFT_STOP in hv.armed_faults()


# --- Faults -----------------------------------------------------------------------

def test_fault_shared_by_two_drivers_on_one_root(tmp_path,
                                                 clock: FakeClock) -> None:
    arming = make_hv(tmp_path / "node1", clock)
    daemon = FakeHypervisor(state_dir=str(tmp_path / "node1"))
    arming.inject_fault("start_instance", "disk controller on fire")
    with pytest.raises(errors.HypervisorError,
                       match=r"^disk controller on fire$") as info:
        start(daemon)
    assert info.value.details == {"injected": "start_instance"}
    assert daemon.list_instances() == []
    start(daemon)  # once only
    assert arming.list_instances() == [NAME]


@pytest.mark.parametrize("operation, call", [
    ("stop_instance", lambda hv: hv.stop_instance(NAME)),
    ("reboot_instance", lambda hv: hv.reboot_instance(NAME)),
    ("list_instances", lambda hv: hv.list_instances()),
    ("get_instance_info", lambda hv: hv.get_instance_info(NAME)),
    ("get_all_instances_info", lambda hv: hv.get_all_instances_info()),
    ("get_node_info", lambda hv: hv.get_node_info()),
    ("get_console_command",
     lambda hv: hv.get_console_command(instance(), hvp())),
    ("verify", lambda hv: hv.verify()),
    ("migration_info", lambda hv: hv.migration_info(instance())),
    ("migrate_instance",
     lambda hv: hv.migrate_instance(instance(), "192.0.2.2", True)),
    ("get_migration_status", lambda hv: hv.get_migration_status(instance())),
])
def test_every_operation_can_fail_once(hv: FakeHypervisor, operation: str,
                                       call: Any) -> None:
    start(hv)
    hv.inject_fault(operation, f"{operation} broke")
    with pytest.raises(errors.HypervisorError, match=f"^{operation} broke$"):
        call(hv)
    call(hv)
    assert hv.armed_faults() == {}


def test_faults_across_processes(tmp_path, clock: FakeClock) -> None:
    hv = make_hv(tmp_path / "node1", clock)
    script = textwrap.dedent(f"""
        from ganeti.hypervisor.fake import FakeHypervisor
        FakeHypervisor(state_dir={str(tmp_path / 'node1')!r}).inject_fault(
            "get_node_info", "from another process")
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False,
                            env={**os.environ, "PYTHONPATH": PYLIB},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with pytest.raises(errors.HypervisorError, match="from another process"):
        hv.get_node_info()


def test_fault_bookkeeping(hv: FakeHypervisor) -> None:
    with pytest.raises(errors.ParameterError, match="Unknown fake hypervisor"
                                                    " operation 'explode'"):
        hv.inject_fault("explode")
    hv.inject_fault("verify")
    hv.inject_fault("list_instances", "x")
    assert hv.armed_faults() == {"verify": "Injected failure",
                                 "list_instances": "x"}
    hv.clear_faults()
    assert hv.armed_faults() == {}
    assert hv.verify() == []


# --- Console and verify -------------------------------------------------------------

def test_console_prints_instance_state(hv: FakeHypervisor) -> None:
    console = hv.get_console_command(instance(), hvp())
    assert console.kind == base.ConsoleKind.MESSAGE
    assert "not running" in console.message
    start(hv)
    console = hv.get_console_command(instance(), hvp())
    assert console.kind == base.ConsoleKind.COMMAND
    result = process.run_cmd(console.command)
    assert not result.failed, result.fail_reason
    assert serializer.loads(result.stdout)["name"] == NAME


def test_verify_reports_problems(hv: FakeHypervisor, tmp_path) -> None:
    assert hv.verify() == []
    start(hv, memory=512)
    hv.set_node_resources(memory_total=256)
    assert hv.verify() == ["fake hypervisor: memory overcommitted by 256 MiB"]
    assert hv.get_node_info().memory_free == -256
    (tmp_path / "node1" / "node.json").write_text("{broken")
    problems = hv.verify()
    assert len(problems) == 1 and "Corrupt state file" in problems[0]


def test_rejects_unsafe_instance_names(hv: FakeHypervisor) -> None:
    with pytest.raises(errors.HypervisorError, match="Invalid instance name"):
        hv.get_instance_info("../../etc/passwd")


# --- Migration ----------------------------------------------------------------------

@pytest.fixture
def pair(tmp_path, clock: FakeClock) -> tuple[FakeHypervisor, FakeHypervisor]:
    return (make_hv(tmp_path / "src", clock),
            make_hv(tmp_path / "dst", clock, memory=2048))


def test_live_migration_moves_state(pair: tuple[FakeHypervisor, FakeHypervisor],
                                    clock: FakeClock) -> None:
    src, dst = pair
    start(src, memory=512, vcpus=2)
    before = src.instance_state(NAME)
    clock.now += 50
    inst = instance()
    info = src.migration_info(inst)
    dst.accept_instance(inst, info, "192.0.2.2")
    assert dst.list_instances() == []  # reserved, not running yet
    assert dst.get_node_info().memory_free == 2048 - 512
    assert dst.get_migration_status(inst).status == base.MigrationState.NONE
    src.migrate_instance(inst, "192.0.2.2", live=True)
    status = src.get_migration_status(inst)
    assert (status.status, status.info) == (base.MigrationState.COMPLETED,
                                            "192.0.2.2:8102")
    assert src.list_instances() == []
    dst.finalize_migration(inst, info, success=True)
    src.finalize_migration_source(inst, success=True)
    assert dst.list_instances() == [NAME]
    assert src.list_instances() == []
    assert src.instance_state(NAME) is None
    assert src.get_node_info().memory_free == 1024
    assert dst.get_node_info().memory_free == 2048 - 512
    after = dst.instance_state(NAME)
    assert after is not None and before is not None
    for key in ("memory", "vcpus", "hvparams", "nics", "disks", "start_time"):
        assert after[key] == before[key]
    moved = dst.get_instance_info(NAME)
    assert moved is not None and moved.uptime == pytest.approx(50)


def test_failed_migration_restores_source(
        pair: tuple[FakeHypervisor, FakeHypervisor]) -> None:
    src, dst = pair
    start(src, memory=512)
    inst = instance()
    info = src.migration_info(inst)
    dst.accept_instance(inst, info, "192.0.2.2")
    src.inject_fault("migrate_instance", "connection reset")
    with pytest.raises(errors.HypervisorError, match="connection reset"):
        src.migrate_instance(inst, "192.0.2.2", live=True)
    dst.finalize_migration(inst, info, success=False)
    src.finalize_migration_source(inst, success=False)
    assert src.list_instances() == [NAME]
    assert dst.instance_state(NAME) is None
    assert dst.get_node_info().memory_free == 2048
    assert src.get_node_info().memory_free == 1024 - 512


def test_failure_after_transfer_restores_source(
        pair: tuple[FakeHypervisor, FakeHypervisor]) -> None:
    src, dst = pair
    start(src)
    inst = instance()
    info = src.migration_info(inst)
    dst.accept_instance(inst, info, "192.0.2.2")
    src.migrate_instance(inst, "192.0.2.2", live=False)
    dst.inject_fault("finalize_migration", "target crashed")
    with pytest.raises(errors.HypervisorError, match="target crashed"):
        dst.finalize_migration(inst, info, success=True)
    dst.finalize_migration(inst, info, success=False)
    src.finalize_migration_source(inst, success=False)
    assert src.list_instances() == [NAME]
    assert dst.list_instances() == [] and dst.instance_state(NAME) is None


def test_target_refuses_without_memory(tmp_path, clock: FakeClock) -> None:
    src = make_hv(tmp_path / "src", clock)
    dst = make_hv(tmp_path / "dst", clock, memory=256)
    start(src, memory=512)
    inst = instance()
    with pytest.raises(errors.HypervisorError, match="Not enough memory"):
        dst.accept_instance(inst, src.migration_info(inst), "192.0.2.2")
    assert dst.instance_state(NAME) is None
    src.finalize_migration_source(inst, success=False)
    assert src.list_instances() == [NAME]


def test_target_refuses_when_instance_present(
        pair: tuple[FakeHypervisor, FakeHypervisor]) -> None:
    src, dst = pair
    start(src)
    start(dst)
    inst = instance()
    with pytest.raises(errors.HypervisorError, match="already running"):
        dst.accept_instance(inst, src.migration_info(inst), "192.0.2.2")


def test_migration_blob_is_checked(
        pair: tuple[FakeHypervisor, FakeHypervisor]) -> None:
    src, dst = pair
    start(src)
    info = src.migration_info(instance())
    for bad in ("not json", "[]", '{"format": "other", "state": {}}'):
        with pytest.raises(errors.HypervisorError) as err:
            dst.accept_instance(instance(), bad, "192.0.2.2")
        assert err.value.code == errors.ErrorCode.INVAL
    with pytest.raises(errors.HypervisorError, match="not for instance"):
        dst.accept_instance(instance(NAME2), info, "192.0.2.2")


def test_migration_needs_a_running_instance(
        pair: tuple[FakeHypervisor, FakeHypervisor]) -> None:
    src, dst = pair
    inst = instance()
    with pytest.raises(errors.HypervisorError, match="not running"):
        src.migration_info(inst)
    with pytest.raises(errors.HypervisorError, match="not running"):
        src.migrate_instance(inst, "192.0.2.2", live=True)
    with pytest.raises(errors.HypervisorError, match="not accepted"):
        dst.finalize_migration(inst, "{}", success=True)
    dst.finalize_migration(inst, "{}", success=False)  # nothing to undo
    with pytest.raises(errors.HypervisorError, match="unknown"):
        src.finalize_migration_source(inst, success=False)
    src.finalize_migration_source(inst, success=True)  # already gone
    start(src)
    with pytest.raises(errors.HypervisorError, match="has not been migrated"):
        src.finalize_migration_source(inst, success=True)
    with pytest.raises(errors.HypervisorError, match="unknown"):
        dst.get_migration_status(inst)
