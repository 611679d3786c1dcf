"""The hypervisor registry, the driver base class and its records."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from testkit import FakeClock, make_unbuilt

from ganeti import constants, errors, hypervisor, objects, params, pathutils
from ganeti.hypervisor import base
from ganeti.hypervisor.fake import FakeHypervisor


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    yield
    pathutils.set_root(None)


# --- Registry ----------------------------------------------------------------

def test_every_ganeti_hypervisor_is_known() -> None:
    assert set(hypervisor.HYPERVISORS) == set(constants.HYPER_TYPES)
    assert set(hypervisor.HYPERVISORS) == set(params.HV_PARAMETERS)


def test_fake_is_available(tmp_path) -> None:
    hv = hypervisor.get_hypervisor(constants.HT_FAKE,
                                   state_dir=str(tmp_path / "hv"))
    assert isinstance(hv, FakeHypervisor)
    assert hv.state_dir == str(tmp_path / "hv")
    assert hypervisor.get_hypervisor_class("fake") is FakeHypervisor
    assert hypervisor.is_available("fake")
    assert {"chroot", "fake", "kvm", "xen-hvm", "xen-pvm"} <= set(
        hypervisor.available_hypervisors())


@pytest.mark.parametrize("name", ["xen-pvm", "xen-hvm", "chroot"])
def test_known_but_unavailable(name: str, monkeypatch: Any) -> None:
    make_unbuilt(monkeypatch, name)
    with pytest.raises(errors.OpPrereqError,
                       match=f"^Hypervisor {name} is not available in this"
                             " build$") as info:
        hypervisor.get_hypervisor(name)
    assert info.value.code == errors.ErrorCode.ENVIRON
    assert not hypervisor.is_available(name)


@pytest.mark.parametrize("name", ["vmware", "", None, 3])
def test_unknown_hypervisor(name: Any) -> None:
    with pytest.raises(errors.ParameterError, match="Unknown hypervisor") as info:
        hypervisor.get_hypervisor(name)
    assert "fake" in info.value.message and "kvm" in info.value.message


def test_default_state_dir_follows_root(tmp_path) -> None:
    pathutils.set_root(str(tmp_path))
    hv = hypervisor.get_hypervisor("fake")
    assert isinstance(hv, FakeHypervisor)
    assert hv.state_dir == pathutils.get().fake_hv_dir
    assert hv.state_dir.startswith(str(tmp_path))


# --- Parameter syntax (master side) -------------------------------------------

def test_syntax_accepts_own_keys_and_converts() -> None:
    checked = FakeHypervisor.check_parameter_syntax(
        {"kernel_path": "/boot/vmlinuz", "kernel_args": "ro",
         "migration_port": "8200"})
    assert checked == {"kernel_path": "/boot/vmlinuz", "kernel_args": "ro",
                       "migration_port": 8200}
    FakeHypervisor.check_parameter_syntax(params.hv_defaults("fake"))


def test_syntax_rejects_key_of_another_hypervisor() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"Unknown hypervisor parameter 'vnc_tls' for"
                             r" hypervisor 'fake' \(it belongs to"
                             r" hypervisor 'kvm'\)"):
        FakeHypervisor.check_parameter_syntax({"vnc_tls": True})


def test_syntax_rejects_unknown_key() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"^Unknown hypervisor parameter 'bogus' for"
                             r" hypervisor 'fake'$"):
        FakeHypervisor.check_parameter_syntax({"bogus": 1})


def test_syntax_rejects_bad_value() -> None:
    with pytest.raises(errors.ParameterError, match="migration_port"):
        FakeHypervisor.check_parameter_syntax({"migration_port": 70000})
    with pytest.raises(errors.ParameterError, match="kernel_path"):
        FakeHypervisor.check_parameter_syntax({"kernel_path": "relative"})


def test_syntax_rejects_global_below_cluster_level() -> None:
    with pytest.raises(errors.ParameterError, match="global"):
        FakeHypervisor.check_parameter_syntax({"migration_port": 9000},
                                              level="instance")


def test_cross_parameter_rule() -> None:
    with pytest.raises(errors.ParameterError,
                       match="'kernel_args' requires 'kernel_path'"):
        FakeHypervisor.check_parameter_syntax({"kernel_args": "quiet"})
    # Judged on the values as they take effect: defaults fill the rest.
    assert FakeHypervisor.parameter_rule_problems(
        params.fill(params.hv_defaults("fake"), {"kernel_args": "x"}))
    assert not FakeHypervisor.parameter_rule_problems(
        params.fill(params.hv_defaults("fake"),
                    {"kernel_args": "x", "kernel_path": "/k"}))


def test_param_rule_wording() -> None:
    rule = base.ParamRule("vnc_tls", "vnc_bind_address", "TLS needs a listener")
    assert rule.problem("kvm", {"vnc_tls": False}) is None
    assert rule.problem("kvm", {"vnc_tls": True,
                                "vnc_bind_address": "0.0.0.0"}) is None
    assert rule.problem("kvm", {"vnc_tls": True, "vnc_bind_address": ""}) == (
        "hvparams 'kvm': parameter 'vnc_tls' requires 'vnc_bind_address' to"
        " be set (TLS needs a listener)")


# --- Node-side validation -----------------------------------------------------

def test_validate_parameters_checks_files_under_root(tmp_path) -> None:
    pathutils.set_root(str(tmp_path))
    hv = FakeHypervisor(state_dir=str(tmp_path / "hv"))
    hv.validate_parameters({"kernel_path": ""})  # empty: nothing to check
    with pytest.raises(errors.HypervisorError,
                       match="'kernel_path': /boot/vmlinuz-fake is not an"
                             " existing file on this node") as info:
        hv.validate_parameters({"kernel_path": "/boot/vmlinuz-fake"})
    assert info.value.code == errors.ErrorCode.ENVIRON
    os.makedirs(tmp_path / "boot")
    (tmp_path / "boot" / "vmlinuz-fake").write_text("kernel")
    hv.validate_parameters({"kernel_path": "/boot/vmlinuz-fake"})


class _DirParamHv(FakeHypervisor):
    NODE_PATH_PARAMETERS = {"kernel_path": "dir"}


def test_validate_parameters_directory_kind(tmp_path) -> None:
    pathutils.set_root(str(tmp_path))
    hv = _DirParamHv(state_dir=str(tmp_path / "hv"))
    (tmp_path / "kfile").write_text("")
    with pytest.raises(errors.HypervisorError, match="existing directory"):
        hv.validate_parameters({"kernel_path": "/kfile"})
    hv.validate_parameters({"kernel_path": "/"})


# --- Ancillary files ----------------------------------------------------------

class _VncHv(FakeHypervisor):
    """A driver declaring a file parameter, as kvm and xen-hvm will."""

    ANCILLARY_FILE_PARAMETERS = ("vnc_password_file",)


def test_ancillary_files_from_declared_parameters() -> None:
    hvparams = [
        {"vnc_password_file": "/etc/ganeti/vnc-cluster-password"},
        {"vnc_password_file": "/etc/ganeti/vnc-b"},
        {"vnc_password_file": "/etc/ganeti/vnc-cluster-password"},
        {"vnc_password_file": ""},
        {},
    ]
    assert _VncHv.get_ancillary_files(hvparams) == [
        "/etc/ganeti/vnc-b", "/etc/ganeti/vnc-cluster-password"]
    assert _VncHv.get_ancillary_files([]) == []


def test_fake_has_no_ancillary_files() -> None:
    assert FakeHypervisor.get_ancillary_files(
        [params.hv_defaults("fake"),
         {"vnc_password_file": "/etc/ganeti/x"}]) == []


# --- The stop algorithm and the defaults of the base class --------------------

class _MemoryHv(base.BaseHypervisor):
    """A minimal in-memory driver: exercises the base class alone."""

    NAME = constants.HT_FAKE

    def __init__(self, *, obeys_soft: bool, obeys_hard: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.running: set[str] = set()
        self.obeys_soft = obeys_soft
        self.obeys_hard = obeys_hard
        self.calls: list[str] = []

    def start_instance(self, instance: objects.Instance,
                       block_devices: base.BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: base.NicList) -> None:
        self.running.add(instance.name)

    def _soft_stop(self, instance_name: str) -> None:
        self.calls.append("soft")
        if self.obeys_soft:
            self.running.discard(instance_name)

    def _hard_stop(self, instance_name: str) -> None:
        self.calls.append("hard")
        if self.obeys_hard:
            self.running.discard(instance_name)

    def reboot_instance(self, instance_name: str) -> None:
        pass

    def list_instances(self) -> list[str]:
        return sorted(self.running)

    def get_instance_info(self, instance_name: str) -> base.InstanceInfo | None:
        return None

    def get_all_instances_info(self) -> list[base.InstanceInfo]:
        return []

    def get_node_info(self) -> base.NodeHvInfo:
        return base.NodeHvInfo(memory_total=0, memory_free=0, memory_dom0=0,
                               cpu_total=1)

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> base.ConsoleInfo:
        return base.ConsoleInfo(kind="message", instance=instance.name)

    def verify(self) -> list[str]:
        return []


def _memory_hv(clock: FakeClock, **kwargs: Any) -> _MemoryHv:
    hv = _MemoryHv(now=clock.time, monotonic=clock.time, sleep=clock.sleep,
                   **kwargs)
    hv.running.add("inst1.example.com")
    return hv


def test_stop_soft_then_hard_on_virtual_clock() -> None:
    clock = FakeClock()
    hv = _memory_hv(clock, obeys_soft=False)
    assert hv.stop_instance("inst1.example.com", timeout=5) == \
        base.StopOutcome.HARD
    assert hv.calls == ["soft", "hard"]
    assert sum(clock.sleeps) == pytest.approx(5)
    assert all(s <= base.STOP_POLL_INTERVAL for s in clock.sleeps)


def test_stop_soft_succeeds_without_waiting() -> None:
    clock = FakeClock()
    hv = _memory_hv(clock, obeys_soft=True)
    assert hv.stop_instance("inst1.example.com", timeout=5) == \
        base.StopOutcome.SOFT
    assert hv.calls == ["soft"] and clock.sleeps == []


def test_stop_force_and_not_running() -> None:
    clock = FakeClock()
    hv = _memory_hv(clock, obeys_soft=True)
    assert hv.stop_instance("inst1.example.com", force=True) == \
        base.StopOutcome.HARD
    assert hv.calls == ["hard"]
    assert hv.stop_instance("inst1.example.com") == base.StopOutcome.NOT_RUNNING


def test_stop_fails_when_hard_stop_does_not_work() -> None:
    clock = FakeClock()
    hv = _memory_hv(clock, obeys_soft=False, obeys_hard=False)
    with pytest.raises(errors.HypervisorError, match="still running"):
        hv.stop_instance("inst1.example.com", timeout=0)


def test_migration_unsupported_by_default() -> None:
    hv = _MemoryHv(obeys_soft=True)
    inst = objects.Instance(name="inst1.example.com",
                            primary_node="node1.example.com", hypervisor="fake",
                            disk_template="diskless")
    for call in (lambda: hv.migration_info(inst),
                 lambda: hv.accept_instance(inst, "", "192.0.2.2"),
                 lambda: hv.migrate_instance(inst, "192.0.2.2", True),
                 lambda: hv.finalize_migration(inst, "", True),
                 lambda: hv.finalize_migration_source(inst, True),
                 lambda: hv.get_migration_status(inst)):
        with pytest.raises(errors.HypervisorError,
                           match="does not support migration"):
            call()


# --- Records ------------------------------------------------------------------

def test_records_round_trip() -> None:
    records = [
        base.InstanceInfo(name="i1", id=3, memory=128, vcpus=2,
                          state=base.InstanceState.RUNNING, uptime=12.5),
        base.NodeHvInfo(memory_total=4096, memory_free=-10, memory_dom0=512,
                        cpu_total=4, vcpus_used=6, cpu_sockets=1),
        base.ConsoleInfo(kind=base.ConsoleKind.VNC, instance="i1",
                         host="192.0.2.1", port=5901),
        base.MigrationStatus(status=base.MigrationState.ACTIVE,
                             transferred_mib=10, total_mib=128),
    ]
    for record in records:
        assert type(record).from_dict(record.to_dict()) == record


def test_records_reject_bad_wire_data() -> None:
    data = base.InstanceInfo(name="i1", id=3, memory=128, vcpus=2,
                             state="running", uptime=1.0).to_dict()
    data["state"] = "exploded"
    with pytest.raises(errors.ProtocolError, match=r"InstanceInfo\.state"):
        base.InstanceInfo.from_dict(data)
