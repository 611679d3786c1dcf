"""The KVM driver boots the real test guest (``tools/build-test-guest``)
under TCG: serial marker, ping over a bridged and a routed NIC, a running
second counter, a virtio disk read back byte for byte, and an ACPI
power-down that the guest obeys.

The guest is built (or reused) in ``$GANETI_TEST_GUEST_DIR`` (default
/var/tmp/ganeti-test-guest), so one build serves every run; building
needs apt to reach a Debian mirror (the tests are skipped with apt's
reason when it cannot).  One booted guest is shared by the module.

Network: a bridge in this namespace (named after the pid) with a veth
pair whose other end sits in a network namespace of the test carrying
198.51.100.1/24; the guest's bridged NIC is 198.51.100.10/24.  The routed
NIC gets 203.0.113.<n>/32 (a host route in the main table through its
tap, set by the ifup script) and is reached from this namespace.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kvm_guest_support import (
    BUSYBOX,
    KVM_AS_ROOT,
    SerialLog,
    bridged_network,
    built_guest,
    in_netns,
    is_tick,
    needs_busybox,
    ping,
    run,
    tick_value,
)

from ganeti import constants, objects, params, testguest
from ganeti.hypervisor.base import StopOutcome
from ganeti.hypervisor.kvm import KvmHypervisor, runtime

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "build-test-guest"

pytestmark = KVM_AS_ROOT

BRIDGED_IP = "198.51.100.10"
ROUTED_IP = f"203.0.113.{10 + os.getpid() % 200}"
GUEST = "testguest.example.com"


# --- the builder ---------------------------------------------------------------

@pytest.fixture(scope="module")
def guest_files() -> testguest.GuestFiles:
    return built_guest()


def test_build_is_cached_and_stamped(guest_files: testguest.GuestFiles) -> None:
    lines: list[str] = []
    again = testguest.build(guest_files.directory, log=lines.append)
    assert not again.rebuilt
    assert lines[-1] == f"up to date: {guest_files.directory}"
    assert Path(again.kernel).stat().st_size > 1 << 20
    with open(again.initrd, "rb") as handle:
        assert handle.read(2) == b"\x1f\x8b"  # gzip
    assert '"inputs"' in Path(again.stamp).read_text()


def test_changed_inputs_rebuild_the_same_bytes(
        guest_files: testguest.GuestFiles, tmp_path: Path) -> None:
    # A stamp from other inputs (an older busybox, say) forces a rebuild;
    # the builder is deterministic, so the result equals the cached one.
    copy = tmp_path / "guest"
    copy.mkdir()
    for name in ("vmlinuz", "initrd.img"):
        shutil.copyfile(Path(guest_files.directory) / name, copy / name)
    (copy / "stamp").write_text('{"inputs": "from-other-inputs"}\n')
    lines: list[str] = []
    rebuilt = testguest.build(str(copy), log=lines.append)
    assert rebuilt.rebuilt and any(line.startswith("fetching ") for line in lines)
    for name in ("vmlinuz", "initrd.img", "stamp"):
        assert (copy / name).read_bytes() == \
            (Path(guest_files.directory) / name).read_bytes(), name
    assert sorted(p.name for p in copy.iterdir()) == [
        ".lock", "initrd.img", "stamp", "vmlinuz"]


def test_tool_reuses_the_build(guest_files: testguest.GuestFiles) -> None:
    result = run(str(TOOL), guest_files.directory)
    out = result.stdout.decode().splitlines()
    assert out[-1] == f"build-test-guest: up to date: {guest_files.directory}"
    assert not any("fetching" in line for line in out)


def test_tool_unknown_package_is_one_line(tmp_path: Path) -> None:
    result = run(str(TOOL), str(tmp_path / "g"), "--busybox-package",
                 "no-such-package-gnt", check=False)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.count("\n") == 1, err
    assert err.startswith("build-test-guest: error: apt has no package"
                          " no-such-package-gnt")


def test_tool_without_mirror_is_one_line(tmp_path: Path) -> None:
    # apt through a proxy on a closed port: what "no network" looks like.
    config = tmp_path / "apt.conf"
    config.write_text('Acquire::http::Proxy "http://127.0.0.1:9/";\n'
                      'Acquire::https::Proxy "http://127.0.0.1:9/";\n'
                      'Acquire::Retries "0";\n')
    result = subprocess.run([str(TOOL), str(tmp_path / "g")],
                            capture_output=True, check=False, timeout=300,
                            env=dict(os.environ, APT_CONFIG=str(config)))
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.count("\n") == 1, err
    assert err.startswith("build-test-guest: error: cannot fetch linux-image-")
    assert not (tmp_path / "g" / "stamp").exists()
    assert [p.name for p in (tmp_path / "g").iterdir()] == [".lock"]


# --- the booted guest ----------------------------------------------------------

@pytest.fixture(scope="module")
def guest_network() -> Iterator[dict[str, str]]:
    with bridged_network() as names:
        yield names


@pytest.fixture(scope="module")
def hv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvmHypervisor]:
    driver = KvmHypervisor(dirs=runtime.RuntimeDirs(
        str(tmp_path_factory.mktemp("kvm"))))
    yield driver
    for name in driver.list_instances():
        driver.stop_instance(name, force=True)


@pytest.fixture(scope="module")
def booted(hv: KvmHypervisor, guest_network: dict[str, str],
           guest_files: testguest.GuestFiles,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    disk_path = tmp_path_factory.mktemp("disk") / "disk0"
    disk_path.write_bytes(os.urandom(2 << 20))
    disk = objects.Disk(dev_type=constants.LD_FILE, size=2, iv_name="disk/0")
    inst = objects.Instance(name=GUEST, primary_node="node1.example.com",
                            hypervisor=constants.HT_KVM,
                            disk_template=constants.DT_DISKLESS,
                            uuid=str(uuid.uuid4()))
    hvp = dict(params.hv_defaults(constants.HT_KVM))
    hvp.update(kvm_flag="disabled", vnc_bind_address="", vnc_password_file="")
    hvp.update(guest_files.hvparams(testguest.kernel_args(
        [(f"{BRIDGED_IP}/24", ""), (f"{ROUTED_IP}/32", "")])))
    nics = [{"mac": "aa:00:00:7e:57:01", "ip": None, "mode": "bridged",
             "link": guest_network["bridge"]},
            {"mac": "aa:00:00:7e:57:02", "ip": ROUTED_IP, "mode": "routed",
             "link": ""}]
    hv.start_instance(inst, [(str(disk_path), disk)], hvp,
                      {"maxmem": 128, "vcpus": 1}, nics)
    serial = SerialLog(hv.dirs.serial_socket(GUEST))
    try:
        serial.wait_ready()
        yield {"serial": serial, "disk": disk_path,
               "netns": guest_network["netns"]}
    finally:
        hv.stop_instance(GUEST, force=True)
        serial.close()


def test_serial_console_shows_the_marker_and_the_disk(
        booted: dict[str, Any]) -> None:
    serial: SerialLog = booted["serial"]
    assert testguest.READY_MARKER in serial.lines
    line = serial.wait_for(lambda line: line.startswith(testguest.DISK_PREFIX))
    expected = hashlib.sha256(booted["disk"].read_bytes()[:1 << 20]).hexdigest()
    assert line == f"{testguest.DISK_PREFIX}vda sha256 {expected}"
    assert f"gnt-guest: eth0 {BRIDGED_IP}/24" in serial.lines
    assert f"gnt-guest: eth1 {ROUTED_IP}/32" in serial.lines


@needs_busybox
def test_ping_and_counter_over_the_bridged_nic(booted: dict[str, Any]) -> None:
    netns = in_netns(booted["netns"], str(BUSYBOX))
    ping(BRIDGED_IP, netns=booted["netns"])
    answer = run(*netns, "nc", BRIDGED_IP, str(testguest.STATUS_PORT),
                 input=b"ticks\n").stdout.decode().strip()
    assert answer.startswith("ticks ") and int(answer.split()[1]) >= 0


@needs_busybox
def test_ping_over_the_routed_nic(booted: dict[str, Any]) -> None:
    ping(ROUTED_IP)


def test_counter_keeps_running(booted: dict[str, Any]) -> None:
    serial: SerialLog = booted["serial"]
    first = testguest.status_query(ROUTED_IP, "ticks")
    assert first.startswith("ticks ")
    count = int(first.split()[1])
    serial.wait_for(lambda line: is_tick(line) and tick_value(line) > count)
    later = int(testguest.status_query(ROUTED_IP, "ticks").split()[1])
    assert later > count
    ticks = serial.ticks()
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))


def test_disk_content_over_the_responder(booted: dict[str, Any]) -> None:
    data = booted["disk"].read_bytes()
    answer = testguest.status_query(ROUTED_IP, "sha256 vda 2")
    assert answer == f"sha256 vda 2 {hashlib.sha256(data).hexdigest()}"
    assert testguest.status_query(ROUTED_IP, "sha256 vdz 1") == \
        "error no disk vdz"
    assert testguest.status_query(ROUTED_IP, "sha256 ../x 1") == \
        "error bad arguments"


@needs_busybox
def test_reboot_boots_the_guest_again(hv: KvmHypervisor,
                                      booted: dict[str, Any]) -> None:
    serial: SerialLog = booted["serial"]
    pid = hv.dirs.read_pid(GUEST)
    before = serial.mark()
    hv.reboot_instance(GUEST)
    serial.wait_ready(after=before)
    assert hv.dirs.read_pid(GUEST) == pid  # the same qemu, the guest reset
    assert serial.lines[before:].count(testguest.READY_MARKER) == 1
    ping(ROUTED_IP)


def test_acpi_power_button_powers_the_guest_off(
        hv: KvmHypervisor, booted: dict[str, Any]) -> None:
    # Last test of the module: the shared guest goes away.
    serial: SerialLog = booted["serial"]
    record = hv.dirs.read_runtime(GUEST)
    assert record is not None
    taps = [nic["tap"] for nic in record["nics"]]
    assert hv.stop_instance(GUEST, timeout=60) == StopOutcome.SOFT
    serial.wait_closed()
    assert testguest.POWEROFF_LINE in serial.lines
    assert GUEST not in hv.list_instances()
    assert not os.path.exists(hv.dirs.runtime_file(GUEST))
    for tap in taps:
        assert run("ip", "link", "show", tap, check=False).returncode != 0
    routes = run("ip", "route", "show", f"{ROUTED_IP}/32").stdout.decode()
    assert routes.strip() == ""
