"""The instance calls with the fake hypervisor: the whole lifecycle through
the node's dispatcher, migration between two node roots, bad input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_backend_instance_support import (
    BEPARAMS,
    HVPARAMS,
    INST,
    call,
    client,
    create_disks,
    failure,
    make_instance,
    nicparams,
    on_node,
    start_args,
)
from testkit import make_unbuilt

from ganeti import constants, objects, pathutils
from ganeti.hypervisor import fake
from ganeti.hypervisor.base import ConsoleInfo, InstanceInfo, MigrationStatus


@pytest.fixture(autouse=True)
def _memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fake node has the same resources, whatever this machine has."""
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "4096")
    monkeypatch.setenv("FAKE_HV_CPU_COUNT", "4")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[pathutils.Paths]:
    with on_node(tmp_path / "node1") as paths:
        yield paths


def hv_state(name: str = INST) -> dict[str, Any] | None:
    return fake.FakeHypervisor().instance_state(name)


def test_lifecycle(node: pathutils.Paths) -> None:
    inst = make_instance()
    paths = create_disks(inst)
    assert call("instance_list", ["fake"]) == []
    assert call("instance_info", INST, "fake") is None
    assert call("instance_start", *start_args(inst)) is None
    state = hv_state()
    assert state is not None
    assert [d["path"] for d in state["disks"]] == paths
    assert state["nics"] == [{"mac": "aa:00:00:11:22:33", "ip": "192.0.2.7",
                              "mode": "bridged", "link": "xen-br0"}]
    assert call("instance_list", ["fake", "fake"]) == [INST]
    info = InstanceInfo.from_dict(call("instance_info", INST, "fake"))
    assert (info.name, info.memory, info.vcpus, info.state) == (
        INST, 128, 1, "running")
    everything = call("all_instances_info", ["fake"])
    assert list(everything) == [INST]
    assert InstanceInfo.from_dict(everything[INST]).id == info.id
    console = ConsoleInfo.from_dict(call("instance_console_info",
                                         inst.to_dict(), HVPARAMS))
    assert console.kind == "command"
    assert console.command[0] == "cat"
    assert "already running" in failure("instance_start", *start_args(inst))

    call("instance_reboot", inst.to_dict(), "soft", 10, HVPARAMS, BEPARAMS,
         nicparams(inst))
    assert hv_state()["reboots"] == 1  # type: ignore[index]
    first_id = hv_state()["id"]  # type: ignore[index]
    for kind in ("hard", "full"):
        call("instance_reboot", inst.to_dict(), kind, 10, HVPARAMS, BEPARAMS,
             nicparams(inst))
        assert hv_state()["id"] != first_id  # type: ignore[index]
        first_id = hv_state()["id"]  # type: ignore[index]

    assert call("instance_shutdown", inst.to_dict(), 5) == "soft"
    assert call("instance_shutdown", inst.to_dict(), 5) == "not-running"
    assert call("instance_list", ["fake"]) == []
    assert "not running on this node" in failure(
        "instance_reboot", inst.to_dict(), "soft", 1, HVPARAMS, BEPARAMS,
        nicparams(inst))
    console = ConsoleInfo.from_dict(call("instance_console_info",
                                         inst.to_dict(), HVPARAMS))
    assert console.kind == "message"


def test_shutdown_goes_hard_when_the_guest_ignores_it(
        node: pathutils.Paths) -> None:
    inst = make_instance()
    create_disks(inst)
    call("instance_start", *start_args(inst))
    fake.FakeHypervisor().inject_fault(fake.FAULT_IGNORE_SOFT_STOP, "ignored")
    assert call("instance_shutdown", inst.to_dict(), 0) == "hard"
    assert hv_state() is None


def test_start_needs_the_disks_and_refuses_bad_params(
        node: pathutils.Paths) -> None:
    inst = make_instance()
    message = failure("instance_start", *start_args(inst))
    assert message == (f"Cannot activate disk/0: File disk"
                       f" /srv/ganeti/file-storage/{INST}/disk0 does not exist")
    create_disks(inst)
    args = start_args(inst)
    args[1] = dict(HVPARAMS, colour="red")
    assert "colour" in failure("instance_start", *args)
    args = start_args(inst)
    args[3] = []
    assert failure("instance_start", *args) == (
        f"Instance {INST} has 1 NIC(s) but 0 nicparams were given")
    args = start_args(inst)
    args[2] = dict(BEPARAMS, maxmem=10**9)
    assert "memory" in failure("instance_start", *args).lower()
    assert hv_state() is None


def test_injected_fault_is_reported(node: pathutils.Paths) -> None:
    inst = make_instance(disks=[])
    fake.FakeHypervisor().inject_fault("start_instance", "no luck today")
    assert failure("instance_start", *start_args(inst)) == "no luck today"
    assert call("instance_start", *start_args(inst)) is None


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("instance_start", ["inst", {}, {}, []],
     "argument 'instance': expected a dictionary, got 'inst'"),
    ("instance_start", [{"name": INST}, {}, {}, []],
     "Invalid instance: Instance: missing required field 'primary_node'"),
    ("instance_shutdown", [{}, -1],
     "argument 'timeout': expected a non-negative integer, got -1"),
    ("instance_reboot", [{}, "gentle", 1, {}, {}, []],
     "argument 'reboot_type': expected one of full, hard, soft, got 'gentle'"),
    ("instance_info", [INST, "vmware"],
     "Unknown hypervisor 'vmware' (known: chroot, fake, kvm, xen-hvm,"
     " xen-pvm)"),
    ("instance_list", ["kvm"],
     "expected a list of a non-empty string, got 'kvm'"),
    ("instance_list", [["xen-pvm"]],
     "Hypervisor xen-pvm is not available in this build"),
    ("instance_migrate", [{}, "127.0.0.2", "yes"],
     "argument 'live': expected a boolean, got 'yes'"),
    ("bridges_exist", ["br0"],
     "argument 'bridges': expected a list of a non-empty string, got 'br0'"),
])
def test_bad_arguments(node: pathutils.Paths, name: str, args: list[Any],
                       expected: str, monkeypatch: Any) -> None:
    make_unbuilt(monkeypatch, "xen-pvm")
    assert expected in failure(name, *args)


def test_unknown_instance(node: pathutils.Paths) -> None:
    inst = make_instance(name="ghost.example.com", disks=[])
    assert call("instance_info", inst.name, "fake") is None
    assert call("instance_shutdown", inst.to_dict(), 1) == "not-running"
    assert "not running" in failure("migration_info", inst.to_dict())
    assert "not running" in failure("instance_migratable", inst.to_dict())
    assert "unknown on this node" in failure(
        "instance_get_migration_status", inst.to_dict())


def test_migration_between_two_roots(tmp_path: Path) -> None:
    """The five-step migration, each step run as the node it concerns."""
    inst = make_instance()
    source, target = tmp_path / "node1", tmp_path / "node2"
    for root in (source, target):  # file disks: storage both nodes see
        with on_node(root):
            create_disks(inst)
    with on_node(source):
        call("instance_start", *start_args(inst))
        call("instance_migratable", inst.to_dict())
        info = call("migration_info", inst.to_dict())
    with on_node(target):
        call("accept_instance", inst.to_dict(), info, "127.0.0.2")
        assert call("instance_list", ["fake"]) == []  # only incoming
    with on_node(source):
        call("instance_migrate", inst.to_dict(), "127.0.0.2", True)
        status = MigrationStatus.from_dict(
            call("instance_get_migration_status", inst.to_dict()))
        assert status.status == "completed"
    with on_node(target):
        call("finalize_migration", inst.to_dict(), info, True)
        assert call("instance_list", ["fake"]) == [INST]
    with on_node(source):
        call("finalize_migration_source", inst.to_dict(), True)
        assert call("instance_list", ["fake"]) == []
        assert hv_state() is None
    with on_node(target):
        assert call("instance_shutdown", inst.to_dict(), 5) == "soft"


def test_failed_migration_is_undone(tmp_path: Path) -> None:
    inst = make_instance()
    source, target = tmp_path / "node1", tmp_path / "node2"
    with on_node(source):
        create_disks(inst)
        call("instance_start", *start_args(inst))
        info = call("migration_info", inst.to_dict())
    with on_node(target):
        # The target lacks the disks: it refuses to receive the instance.
        assert failure("accept_instance", inst.to_dict(), info,
                       "127.0.0.2").startswith("Cannot activate disk/0: ")
        create_disks(inst)
        call("accept_instance", inst.to_dict(), info, "127.0.0.2")
    with on_node(source):
        fake.FakeHypervisor().inject_fault("migrate_instance", "link down")
        assert failure("instance_migrate", inst.to_dict(), "127.0.0.2",
                       False) == "link down"
    with on_node(target):
        call("finalize_migration", inst.to_dict(), info, False)
        assert hv_state() is None
    with on_node(source):
        call("finalize_migration_source", inst.to_dict(), False)
        assert call("instance_list", ["fake"]) == [INST]


def test_results_pass_the_row_checks_through_the_client(
        node: pathutils.Paths) -> None:
    inst = make_instance()
    create_disks(inst)
    rpc = client()
    try:
        rpc.call_instance_start(["node1"], *start_args(inst))["node1"] \
            .raise_on_fail()
        for name, args in [
                ("instance_info", [INST, "fake"]),
                ("all_instances_info", [["fake"]]),
                ("instance_list", [["fake"]]),
                ("instance_console_info", [inst.to_dict(), HVPARAMS]),
                ("instance_migratable", [inst.to_dict()]),
                ("migration_info", [inst.to_dict()]),
                ("instance_get_migration_status", [inst.to_dict()]),
                ("instance_shutdown", [inst.to_dict(), 3])]:
            result = rpc.call(name, ["node1"], *args)["node1"]
            assert result.fail_msg is None, (name, result.fail_msg)
        failed = rpc.call_instance_shutdown(["node1"], {"x": 1}, 3)["node1"]
        assert failed.fail_msg == "Invalid instance: Instance: unknown" \
            " field(s): x"
    finally:
        rpc.close()


def test_bridges_exist(node: pathutils.Paths) -> None:
    """Under a node root the bridges are stand-ins below <root>/sys."""
    sysfs = node.under("/sys/class/net")
    os.makedirs(os.path.join(sysfs, "br0", "bridge"))
    os.makedirs(os.path.join(sysfs, "eth0"))  # an interface, not a bridge
    assert call("bridges_exist", []) is None
    assert call("bridges_exist", ["br0", "br0"]) is None
    assert failure("bridges_exist", ["br0", "eth0", "xen-br0", "../br0"]) == (
        "Missing bridges: eth0, xen-br0, ../br0")


def test_bridges_on_the_real_system() -> None:
    """With no root the kernel's own sysfs answers: loopback is an
    interface but never a bridge."""
    with on_node(Path("/")):
        assert pathutils.get().under("/sys/class/net") == "/sys/class/net"
        if os.path.isdir("/sys/class/net/lo"):
            assert failure("bridges_exist", ["lo"]) == "Missing bridges: lo"


def test_instance_objects_round_trip_the_wire() -> None:
    inst = make_instance()
    again = objects.Instance.from_dict(inst.to_dict())
    assert again == inst
    assert again.disks[0].dev_type == constants.LD_FILE
