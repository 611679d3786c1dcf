"""The KVM driver against real qemu (TCG): a BIOS-only guest, which needs
no kernel or OS, started, inspected over QMP, rebooted, given a VNC
password (checked by a real RFB handshake), put on a bridged and a routed
tap, and stopped; and the failures of a start leave nothing behind.

One guest is shared by most tests of the module (qemu takes a moment to
start even without an OS); the error cases start their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kvm_guest_support import rfb_auth

from ganeti import constants, errors, objects, params
from ganeti.hypervisor.base import InstanceState, StopOutcome
from ganeti.hypervisor.kvm import KvmHypervisor, runtime

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                                 reason=f"{constants.KVM_PATH} missing")]


def _free_port(base: int) -> int:
    for port in range(base, base + 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _hvparams(**overrides: Any) -> dict[str, Any]:
    hvp = dict(params.hv_defaults(constants.HT_KVM))
    hvp.update(kernel_path="", kvm_flag="disabled", vnc_bind_address="",
               vnc_password_file="")
    hvp.update(overrides)
    return hvp


def _instance(name: str, port: int | None = None) -> objects.Instance:
    return objects.Instance(name=name, primary_node="node1.example.com",
                            hypervisor=constants.HT_KVM,
                            disk_template=constants.DT_DISKLESS,
                            network_port=port, uuid=str(uuid.uuid4()))


BE = {"maxmem": 32, "minmem": 32, "vcpus": 1}


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def bridge() -> Iterator[str]:
    name = f"gtbr{os.getpid() % 100000}"
    res = _ip("link", "add", name, "type", "bridge")
    if res.returncode != 0:
        pytest.skip(f"cannot create a bridge: {res.stderr.strip()}")
    try:
        yield name
    finally:
        _ip("link", "del", name)


@pytest.fixture(scope="module")
def hv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvmHypervisor]:
    base = tmp_path_factory.mktemp("kvm")
    driver = KvmHypervisor(dirs=runtime.RuntimeDirs(str(base)))
    yield driver
    for name in driver.list_instances():
        driver.stop_instance(name, force=True)


@pytest.fixture(scope="module")
def guest(hv: KvmHypervisor, bridge: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pwfile = tmp_path_factory.mktemp("vnc") / "password"
    pwfile.write_text("s3cret\n")
    port = _free_port(5950)
    inst = _instance("guest1.example.com", port)
    nics = [{"mac": "aa:00:00:10:20:01", "ip": None, "mode": "bridged",
             "link": bridge},
            {"mac": "aa:00:00:10:20:02", "ip": "198.51.100.77",
             "mode": "routed", "link": "4242"}]
    hv.start_instance(inst, [], _hvparams(vnc_bind_address="127.0.0.1",
                                          vnc_password_file=str(pwfile)),
                      BE, nics)
    yield {"instance": inst, "port": port, "nics": nics}
    hv.stop_instance(inst.name, force=True)


def test_guest_runs_and_is_listed(hv: KvmHypervisor,
                                  guest: dict[str, Any]) -> None:
    name = guest["instance"].name
    assert hv.list_instances() == [name]
    info = hv.get_instance_info(name)
    assert info is not None
    assert (info.memory, info.vcpus, info.state) == (32, 1,
                                                     InstanceState.RUNNING)
    assert info.id == hv.dirs.read_pid(name)
    assert [i.name for i in hv.get_all_instances_info()] == [name]
    record = hv.dirs.read_runtime(name)
    assert record is not None and record["command"][0] == constants.KVM_PATH
    assert "-accel" in record["command"]
    assert record["command"][record["command"].index("-accel") + 1] == "tcg"


def test_guest_taps_bridged_and_routed(bridge: str,
                                       hv: KvmHypervisor,
                                       guest: dict[str, Any]) -> None:
    record = hv.dirs.read_runtime(guest["instance"].name)
    assert record is not None
    bridged, routed = (nic["tap"] for nic in record["nics"])
    master = _ip("-o", "link", "show", "dev", bridged).stdout
    assert f"master {bridge}" in master and "state" in master
    assert Path(f"/proc/sys/net/ipv4/conf/{routed}/proxy_arp"
                ).read_text().strip() == "1"
    routes = _ip("route", "show", "table", "4242").stdout
    assert f"198.51.100.77 dev {routed}" in routes


def test_vnc_password(guest: dict[str, Any]) -> None:
    assert rfb_auth(guest["port"], "s3cret") == 0
    assert rfb_auth(guest["port"], "wrong") != 0


def test_console_names_serial_socket_and_vnc(hv: KvmHypervisor,
                                             guest: dict[str, Any]) -> None:
    inst = guest["instance"]
    console = hv.get_console_command(inst, {})
    assert console.kind == "command" and console.command[0] == "socat"
    assert console.command[-1] == f"UNIX-CONNECT:{hv.dirs.serial_socket(inst.name)}"
    assert (console.host, console.port) == ("127.0.0.1", guest["port"])


def test_reboot_resets_the_guest_in_the_same_qemu(
        hv: KvmHypervisor, guest: dict[str, Any]) -> None:
    name = guest["instance"].name
    pid = hv.dirs.read_pid(name)
    before = hv.dirs.read_runtime(name)
    hv.reboot_instance(name)
    after = hv.dirs.read_runtime(name)
    assert hv.dirs.read_pid(name) == pid  # same qemu, guest reset
    assert before is not None and after is not None
    assert after["started"] >= before["started"]


def test_node_info(hv: KvmHypervisor, guest: dict[str, Any]) -> None:
    info = hv.get_node_info()
    assert info.memory_total > 0 and info.cpu_total >= 1
    assert info.vcpus_used == 1


def test_verify_is_clean(hv: KvmHypervisor) -> None:
    assert hv.verify() == []


# --- stop and failures: each with its own guest ------------------------------

def _no_leftovers(hv: KvmHypervisor, name: str) -> None:
    for path in (hv.dirs.pidfile(name), hv.dirs.qmp_socket(name),
                 hv.dirs.serial_socket(name), hv.dirs.runtime_file(name)):
        assert not os.path.exists(path), path
    assert name not in hv.list_instances()


def _gnt_taps() -> set[str]:
    return {line.split(":")[1].strip().split("@")[0]
            for line in _ip("-o", "link", "show").stdout.splitlines()
            if line.split(":")[1].strip().startswith("gnt")}


def test_guest_without_os_ignores_acpi_and_is_stopped_hard(
        hv: KvmHypervisor) -> None:
    inst = _instance("stopme.example.com")
    hv.start_instance(inst, [], _hvparams(), BE, [])
    assert hv.stop_instance(inst.name, timeout=1) == StopOutcome.HARD
    _no_leftovers(hv, inst.name)
    assert hv.stop_instance(inst.name) == StopOutcome.NOT_RUNNING


def test_start_twice_is_refused(hv: KvmHypervisor) -> None:
    inst = _instance("twice.example.com")
    hv.start_instance(inst, [], _hvparams(), BE, [])
    try:
        with pytest.raises(errors.HypervisorError, match="already running"):
            hv.start_instance(inst, [], _hvparams(), BE, [])
    finally:
        hv.stop_instance(inst.name, force=True)


@pytest.mark.parametrize(("hvp", "match"), [
    ({"kvm_path": "/no/such/qemu"}, "qemu binary /no/such/qemu"),
    ({"kernel_path": "/no/such/vmlinuz"},
     "kernel_path.*/no/such/vmlinuz is not an existing file"),
    ({"cdrom_image_path": "/"}, "cdrom_image_path.* is not an existing file"),
    ({"vnc_bind_address": "127.0.0.1",
      "vnc_password_file": "/no/such/pw"}, "cannot read the VNC password file"),
    ({"kvm_extra": "-no-such-option"},
     "qemu failed to start: .*no-such-option"),
    ({"security_model": "pool"}, "needs a free uid of the cluster's uid pool"),
])
def test_bad_start_leaves_nothing(hv: KvmHypervisor, bridge: str,
                                  hvp: dict[str, Any], match: str) -> None:
    inst = _instance("bad.example.com", _free_port(5990))
    before = _gnt_taps()
    nics = [{"mac": "aa:00:00:10:20:09", "ip": None, "mode": "bridged",
             "link": bridge}]
    with pytest.raises(errors.HypervisorError, match=match) as info:
        hv.start_instance(inst, [], _hvparams(**hvp), BE, nics)
    assert "\n" not in info.value.message
    _no_leftovers(hv, inst.name)
    assert _gnt_taps() == before


def test_busy_vnc_display_is_a_clear_error(hv: KvmHypervisor,
                                           tmp_path: Path) -> None:
    port = _free_port(5960)
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    inst = _instance("busyvnc.example.com", port)
    try:
        with pytest.raises(errors.HypervisorError,
                           match=r"busyvnc.*qemu failed to start.*"
                                 r"Address already in use"):
            hv.start_instance(inst, [], _hvparams(
                vnc_bind_address="127.0.0.1"), BE, [])
    finally:
        holder.close()
    _no_leftovers(hv, inst.name)


def test_routed_nic_without_ip_fails_before_qemu(hv: KvmHypervisor) -> None:
    inst = _instance("noip.example.com")
    nics = [{"mac": "aa:00:00:10:20:0a", "ip": None, "mode": "routed",
             "link": ""}]
    with pytest.raises(errors.HypervisorError, match=r"NIC 0 .*needs an IP"):
        hv.start_instance(inst, [], _hvparams(), BE, nics)
    _no_leftovers(hv, inst.name)


def test_missing_bridge_fails_before_qemu(hv: KvmHypervisor) -> None:
    inst = _instance("nobr.example.com")
    nics = [{"mac": "aa:00:00:10:20:0b", "ip": None, "mode": "bridged",
             "link": "gtnosuchbr"}]
    with pytest.raises(errors.HypervisorError, match=r"NIC 0 .*gtnosuchbr"):
        hv.start_instance(inst, [], _hvparams(), BE, nics)
    _no_leftovers(hv, inst.name)


def test_stale_pid_file_is_not_an_instance(hv: KvmHypervisor) -> None:
    hv.dirs.ensure()
    Path(hv.dirs.pidfile("ghost.example.com")).write_text(f"{os.getpid()}\n")
    try:
        assert "ghost.example.com" not in hv.list_instances()
        assert hv.get_instance_info("ghost.example.com") is None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(hv.dirs.pidfile("ghost.example.com"))


def test_socat_present_for_the_console() -> None:
    assert shutil.which("socat"), "socat is needed by gnt-instance console"


# --- migration between two "nodes" (two runtime directories here) -----------

def _migrate(src: KvmHypervisor, dst: KvmHypervisor, inst: objects.Instance,
             live: bool) -> Any:
    import time

    info = src.migration_info(inst)
    dst.accept_instance(inst, info, "127.0.0.1")
    src.migrate_instance(inst, "127.0.0.1", live)
    deadline = time.monotonic() + 120
    while True:
        status = src.get_migration_status(inst)
        if status.status != "active" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return info, status


@pytest.mark.parametrize("live", [True, False], ids=["live", "non-live"])
def test_migration_moves_the_running_guest(
        tmp_path: Path, bridge: str, live: bool) -> None:
    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    inst = _instance("mig.example.com")
    nics = [{"mac": "aa:00:00:10:20:0c", "ip": None, "mode": "bridged",
             "link": bridge}]
    hvp = _hvparams(migration_port=_free_port(18100))
    src.start_instance(inst, [], hvp, BE, nics)
    try:
        info, status = _migrate(src, dst, inst, live)
        assert status.status == "completed", status.info
        assert status.downtime_ms is not None
        assert status.info == f"downtime {status.downtime_ms} ms"
        dst.finalize_migration(inst, info, True)
        src.finalize_migration_source(inst, True)
        assert src.list_instances() == []
        _no_leftovers(src, inst.name)
        assert dst.list_instances() == [inst.name]
        moved = dst.get_instance_info(inst.name)
        assert moved is not None and moved.state == InstanceState.RUNNING
        record = dst.dirs.read_runtime(inst.name)
        assert record is not None and record["incoming"] is False
        tap = record["nics"][0]["tap"]
        assert f"master {bridge}" in _ip("-o", "link", "show", "dev",
                                         tap).stdout
    finally:
        src.stop_instance(inst.name, force=True)
        dst.stop_instance(inst.name, force=True)


def test_failed_migration_leaves_the_guest_on_the_source(
        tmp_path: Path) -> None:
    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    inst = _instance("migfail.example.com")
    port = _free_port(18300)
    src.start_instance(inst, [], _hvparams(migration_port=port), BE, [])
    try:
        info = src.migration_info(inst)
        # Nobody listens on the port: qemu's own reason comes back.
        src.migrate_instance(inst, "127.0.0.1", True)
        import time
        deadline = time.monotonic() + 60
        while (status := src.get_migration_status(inst)).status == "active":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status.status == "failed"
        assert "refused" in status.info.lower() or status.info
        dst.finalize_migration(inst, info, False)
        src.finalize_migration_source(inst, False)
        running = src.get_instance_info(inst.name)
        assert running is not None and running.state == InstanceState.RUNNING
        assert dst.list_instances() == []
    finally:
        src.stop_instance(inst.name, force=True)


def test_incompatible_qemu_is_refused_before_anything_moves(
        tmp_path: Path) -> None:
    from ganeti.hypervisor.kvm import migration

    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    inst = _instance("migold.example.com")
    src.start_instance(inst, [], _hvparams(), BE, [])
    try:
        record = src.dirs.read_runtime(inst.name)
        assert record is not None
        info = migration.make_blob(record, (6, 2, 0))
        with pytest.raises(errors.HypervisorError,
                           match=r"qemu 6\.2\.0 on the source node .* differ"):
            dst.accept_instance(inst, info, "127.0.0.1")
        record["hvparams"]["machine_version"] = "no-such-machine"
        with pytest.raises(errors.HypervisorError,
                           match="machine type no-such-machine is unknown"):
            dst.accept_instance(inst, migration.make_blob(record, (6, 2, 0)),
                                "127.0.0.1")
        assert dst.list_instances() == []
        assert src.list_instances() == [inst.name]
    finally:
        src.stop_instance(inst.name, force=True)


def test_file_disk_migrates_through_the_block_mirror(tmp_path: Path) -> None:
    """No shared storage: the target starts with an empty disk of the same
    size, the source mirrors into it over NBD, and the guest moves; the
    disk content ends byte-identical."""
    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    src_disk, dst_disk = tmp_path / "src.img", tmp_path / "dst.img"
    with open(src_disk, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
        handle.seek(5 * 1024 * 1024)
        handle.write(os.urandom(3 * 1024 * 1024))
        handle.seek(40 * 1024 * 1024)
        handle.write(b"end of the test disk" * 1000)
    with open(dst_disk, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    disk = objects.Disk(dev_type=constants.LD_FILE, size=64,
                        logical_id=["loop", str(src_disk)], iv_name="disk/0")
    inst = _instance("migdisk.example.com")
    inst.disks = [disk]
    inst.disk_template = constants.DT_FILE
    hvp = _hvparams(migration_port=_free_port(18400))
    src.start_instance(inst, [(str(src_disk), disk)], hvp, BE, [])
    try:
        info = src.migration_info(inst)
        dst.accept_instance(inst, info, "127.0.0.1", [(str(dst_disk), disk)])
        src.migrate_instance(inst, "127.0.0.1", True)
        import time
        deadline = time.monotonic() + 120
        seen = set()
        while (status := src.get_migration_status(inst)).status == "active":
            seen.add(status.info.split(" ")[0])
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status.status == "completed", status.info
        dst.finalize_migration(inst, info, True)
        src.finalize_migration_source(inst, True)
        assert dst.list_instances() == [inst.name]
        assert src.list_instances() == []
        assert src_disk.read_bytes() == dst_disk.read_bytes()
        assert "disks" in seen  # the mirror phase was reported
    finally:
        src.stop_instance(inst.name, force=True)
        dst.stop_instance(inst.name, force=True)


def test_interrupted_migration_shows_one_copy(tmp_path: Path) -> None:
    """The master died after the transfer, before any finalize: the
    target's qemu (not yet confirmed) and the source's (paused after the
    transfer) both exist, and neither lists the instance, so --cleanup
    rolls back; once the target is confirmed only it lists it."""
    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    inst = _instance("migcut.example.com")
    src.start_instance(inst, [], _hvparams(migration_port=_free_port(18500)),
                       BE, [])
    try:
        info, status = _migrate(src, dst, inst, True)
        assert status.status == "completed", status.info
        assert src.list_instances() == [] and dst.list_instances() == []
        assert src.dirs.read_pid(inst.name) and dst.dirs.read_pid(inst.name)
        dst.finalize_migration(inst, info, True)
        assert dst.list_instances() == [inst.name]
        assert src.list_instances() == []
        src.finalize_migration_source(inst, True)
        _no_leftovers(src, inst.name)
    finally:
        src.stop_instance(inst.name, force=True)
        dst.stop_instance(inst.name, force=True)


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                    reason="/dev/kvm is not usable here")
def test_bios_guest_runs_and_migrates_with_kvm_acceleration(
        tmp_path: Path) -> None:
    """The KVM command line with acceleration on (kvm_flag=enabled): a
    guest that needs no OS runs and migrates under -accel kvm here (this
    machine's /dev/kvm cannot boot a kernel, so OS guests use TCG)."""
    from ganeti.hypervisor.kvm import qmp

    src = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n1")))
    dst = KvmHypervisor(dirs=runtime.RuntimeDirs(str(tmp_path / "n2")))
    inst = _instance("accel.example.com")
    hvp = _hvparams(kvm_flag="enabled", migration_port=_free_port(18600))
    src.start_instance(inst, [], hvp, BE, [])
    try:
        record = src.dirs.read_runtime(inst.name)
        assert record is not None
        command = record["command"]
        assert command[command.index("-accel") + 1] == "kvm"
        with qmp.QmpClient(src.dirs.qmp_socket(inst.name)) as client:
            assert client.execute("query-kvm")["enabled"] is True
        info, status = _migrate(src, dst, inst, True)
        assert status.status == "completed", status.info
        dst.finalize_migration(inst, info, True)
        src.finalize_migration_source(inst, True)
        assert dst.list_instances() == [inst.name]
        with qmp.QmpClient(dst.dirs.qmp_socket(inst.name)) as client:
            assert client.execute("query-kvm")["enabled"] is True
    finally:
        src.stop_instance(inst.name, force=True)
        dst.stop_instance(inst.name, force=True)
