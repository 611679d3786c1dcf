"""The Xen drivers on a node root, driving the xl stand-in (the real
driver code, xl replaced at the process boundary): the life cycle, what
xl was asked, information, and bad input leaving nothing behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import FakeClock

from ganeti import constants, errors, objects, params, pathutils
from ganeti.hypervisor import get_hypervisor
from ganeti.hypervisor.base import ConsoleKind, InstanceState, StopOutcome
from ganeti.hypervisor.xen import core, xlcfg
from ganeti.hypervisor.xen.xl import Xl
from ganeti.standins import xl as standin

NAME = "inst1.example.com"
NODE = "node1.example.com"
KERNEL = "/boot/vmlinuz-2.6-xenU"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A node root with the stand-in selected, a kernel and a bridge."""
    node = tmp_path / "node1"
    monkeypatch.setenv(pathutils.ROOT_ENV, str(node))
    monkeypatch.setenv(pathutils.HOSTNAME_ENV, NODE)
    monkeypatch.setenv(standin.ENABLE_ENV, "1")
    pathutils.set_root(None)
    for path in (KERNEL, "/usr/lib/xen/boot/hvmloader",
                 "/usr/lib/xen/bin/qemu-dm"):
        target = Path(pathutils.get().under(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"stand-in file\n")
    (node / "sys/class/net/xen-br0/bridge").mkdir(parents=True)
    yield node
    pathutils.set_root(None)


def state_dir() -> str:
    return standin.state_dir(pathutils.get())


def instance(hv: str = constants.HT_XEN_PVM) -> objects.Instance:
    return objects.Instance(
        name=NAME, primary_node=NODE, hypervisor=hv,
        disk_template=constants.DT_FILE, network_port=11001,
        nics=[objects.NIC(mac="aa:00:00:11:22:33", ip="192.0.2.7")])


def disks(root: Path, count: int = 1) -> list[tuple[str, objects.Disk]]:
    result = []
    for index in range(count):
        path = root / f"disk{index}"
        path.write_bytes(b"\0" * 1024)
        result.append((str(path), objects.Disk(
            dev_type=constants.LD_FILE, size=1, iv_name=f"disk/{index}",
            logical_id=["loop", str(path)])))
    return result


NICS = [{"mac": "aa:00:00:11:22:33", "ip": "192.0.2.7", "mode": "bridged",
         "link": "xen-br0"}]


def start(root: Path, hv: str = constants.HT_XEN_PVM, **hvp: Any) -> Any:
    driver = get_hypervisor(hv)
    driver.start_instance(instance(hv), disks(root),
                          params.fill(params.hv_defaults(hv), hvp),
                          params.be_defaults(), NICS)
    return driver


def leftovers(driver: core.XenHypervisor) -> list[str]:
    found = []
    for sub in ("conf", "runtime", "disks", "receive"):
        path = os.path.join(driver.dirs.base, sub)
        if os.path.isdir(path):
            found += os.listdir(path)
    return found


def test_pvm_life_cycle(root: Path) -> None:
    driver = start(root)
    assert driver.list_instances() == [NAME]
    cfg = driver.dirs.config_file(NAME)
    assert os.stat(cfg).st_mode & 0o777 == 0o600
    written = xlcfg.parse(Path(cfg).read_text())
    assert written["kernel"] == str(root) + KERNEL
    assert written["disk"] == [f"file:{driver.dirs.disk_link(NAME, 0)},sda,w"]
    assert os.readlink(driver.dirs.disk_link(NAME, 0)) == str(root / "disk0")
    assert written["vif"] == ["mac=aa:00:00:11:22:33,bridge=xen-br0"]
    info = driver.get_instance_info(NAME)
    assert info is not None
    assert (info.name, info.memory, info.vcpus, info.state) == (
        NAME, 128, 1, InstanceState.RUNNING)
    assert [i.name for i in driver.get_all_instances_info()] == [NAME]
    node = driver.get_node_info()
    assert (node.memory_total, node.memory_dom0, node.cpu_total) == (
        standin.NODE_MEMORY, standin.DOM0_MEMORY, standin.NODE_CPUS)
    assert node.memory_free == (standin.NODE_MEMORY - standin.DOM0_MEMORY
                                - 128)
    console = driver.get_console_command(instance(), {})
    assert console.kind == ConsoleKind.COMMAND
    assert console.command[-2:] == ["console", NAME]
    domid = info.id
    driver.reboot_instance(NAME)
    rebooted = driver.get_instance_info(NAME)
    assert rebooted is not None and rebooted.id != domid
    assert driver.stop_instance(NAME) == StopOutcome.SOFT
    assert driver.list_instances() == [] and leftovers(driver) == []
    argv = [a[1] for a in standin.recorded_argv(state_dir())]
    assert {"create", "reboot", "shutdown", "list", "info"} <= set(argv)
    assert driver.verify() == []


def test_stop_waits_then_destroys(root: Path) -> None:
    driver = start(root)
    clock = FakeClock()
    driver._monotonic, driver._sleep = clock.time, clock.sleep
    standin.ignore_shutdown(state_dir(), NAME)
    assert driver.stop_instance(NAME, timeout=5) == StopOutcome.HARD
    assert sum(clock.sleeps) == 5
    calls = [a[1:] for a in standin.recorded_argv(state_dir())
             if a[1] in ("shutdown", "destroy")]
    assert calls == [["shutdown", NAME], ["destroy", NAME]]
    assert driver.list_instances() == [] and leftovers(driver) == []


def test_hvm_life_cycle_with_the_vnc_password(root: Path) -> None:
    password = Path(pathutils.get().vnc_password_file)
    password.parent.mkdir(parents=True, exist_ok=True)
    password.write_text("s3cret\n")
    driver = start(root, constants.HT_XEN_HVM)
    written = xlcfg.parse(Path(driver.dirs.config_file(NAME)).read_text())
    assert written["vncpasswd"] == "s3cret"
    console = driver.get_console_command(instance(constants.HT_XEN_HVM), {})
    assert (console.host, console.port) == ("0.0.0.0", 11001)
    assert written["vncdisplay"] == 11001 - 5900
    # Each driver sees only its own domain type.
    assert get_hypervisor(constants.HT_XEN_PVM).list_instances() == []
    assert driver.list_instances() == [NAME]
    driver.stop_instance(NAME)
    shutdown = [a for a in standin.recorded_argv(state_dir())
                if a[1] == "shutdown"]
    assert shutdown == [["xl", "shutdown", "-F", NAME]]


def test_hvm_without_a_password_file_fails_cleanly(root: Path) -> None:
    with pytest.raises(errors.HypervisorError,
                       match=f"^Instance {NAME}: cannot read the VNC password"
                             " file"):
        start(root, constants.HT_XEN_HVM)
    assert standin.domains(state_dir()) == {}


def no_traces(root: Path) -> None:
    """No domain, and no file of the driver, on the node."""
    assert standin.domains(state_dir()) == {}
    driver = get_hypervisor("xen-pvm")
    assert isinstance(driver, core.XenHypervisor)
    assert leftovers(driver) == []


@pytest.mark.parametrize(("hvp", "message"), [
    ({"kernel_path": "/boot/missing"},
     rf"^Instance {NAME} on node {NODE}: hvparams 'xen-pvm': parameter"
     " 'kernel_path': /boot/missing is not an existing file on this node$"),
    ({"use_bootloader": True, "bootloader_path": "/usr/bin/nogrub"},
     rf"^Instance {NAME} on node {NODE}: hvparams 'xen-pvm': parameter"
     " 'bootloader_path': /usr/bin/nogrub is not an existing file"),
])
def test_bad_boot_files(root: Path, hvp: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.HypervisorError, match=message):
        start(root, **hvp)
    no_traces(root)
    assert [a for a in standin.recorded_argv(state_dir())
            if a[1] == "create"] == []


def test_a_failed_create_leaves_nothing(root: Path) -> None:
    standin.arm_failure(state_dir(), "create",
                        "xc_dom_boot_image: out of memory", leave_domain=True)
    with pytest.raises(errors.HypervisorError) as info:
        start(root)
    assert str(info.value) == (
        f"Instance {NAME}: 'xl create' failed on node {NODE}: libxl: error:"
        " xc_dom_boot_image: out of memory")
    no_traces(root)
    assert [a[1] for a in standin.recorded_argv(state_dir())][-1] == "destroy"


def test_a_value_xl_cannot_carry(root: Path) -> None:
    with pytest.raises(errors.HypervisorError,
                       match=f"^Instance {NAME} on node {NODE}: The xl setting"
                             " 'extra' cannot hold"):
        start(root, kernel_args='init="/bin/sh"')
    no_traces(root)


def test_a_missing_bridge_is_xls_error(root: Path) -> None:
    (root / "sys/class/net/xen-br0/bridge").rmdir()
    with pytest.raises(errors.HypervisorError,
                       match="could not find bridge device xen-br0"):
        start(root)
    no_traces(root)


def test_xl_missing(root: Path) -> None:
    driver = get_hypervisor("xen-pvm")
    assert isinstance(driver, core.XenHypervisor)
    driver.xl = Xl(["/nonexistent/xl"])
    with pytest.raises(errors.HypervisorError,
                       match=f"^Instance {NAME}: xl cannot run on node {NODE}"
                             r" \(cannot execute /nonexistent/xl"):
        driver.start_instance(instance(), disks(root),
                              params.hv_defaults("xen-pvm"),
                              params.be_defaults(), NICS)
    assert leftovers(driver) == []
    assert driver.verify()[0].startswith("xen-pvm: 'xl info' failed:")


def test_already_running(root: Path) -> None:
    driver = start(root)
    with pytest.raises(errors.HypervisorError,
                       match=f"Instance {NAME} is already running on node"):
        start(root)
    assert driver.list_instances() == [NAME]
    driver.stop_instance(NAME, force=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_migration_between_two_roots(root: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    driver = start(root, migration_port=port)
    inst = instance()
    info = driver.migration_info(inst)
    target_root = tmp_path / "node2"
    (target_root / "sys/class/net/xen-br0/bridge").mkdir(parents=True)
    monkeypatch.setenv(pathutils.ROOT_ENV, str(target_root))
    pathutils.set_root(None)
    target = get_hypervisor("xen-pvm")
    target.accept_instance(inst, info, "127.0.0.1", disks(target_root))
    monkeypatch.setenv(pathutils.ROOT_ENV, str(root))
    pathutils.set_root(None)
    driver.migrate_instance(inst, "127.0.0.1", live=True)
    assert driver.get_migration_status(inst).status == "completed"
    monkeypatch.setenv(pathutils.ROOT_ENV, str(target_root))
    pathutils.set_root(None)
    # An xl that keeps a non-live migration's pause: the target resumes.
    target.xl.run("pause", NAME)
    target.finalize_migration(inst, info, True)
    assert target.list_instances() == [NAME]
    resumed = target.get_instance_info(NAME)
    assert resumed is not None and resumed.state == InstanceState.RUNNING
    assert leftovers(target) != [] and not os.listdir(
        os.path.join(target.dirs.base, "receive"))
    monkeypatch.setenv(pathutils.ROOT_ENV, str(root))
    pathutils.set_root(None)
    driver.finalize_migration_source(inst, True)
    assert driver.list_instances() == [] and leftovers(driver) == []
    migrate = [a for a in standin.recorded_argv(state_dir()) if a[1] == "migrate"]
    assert migrate == [["xl", "migrate", "-s",
                        f"socat - TCP:127.0.0.1:{port} #", "-C",
                        driver.dirs.config_file(NAME), NAME, "127.0.0.1"]]


def test_a_failed_migration_keeps_the_source(root: Path) -> None:
    driver = start(root, migration_port=free_port())
    inst = instance()
    # Nobody listens on the target: the transport fails.
    with pytest.raises(errors.HypervisorError,
                       match=f"^Instance {NAME}: 'xl migrate' failed on node"):
        driver.migrate_instance(inst, "127.0.0.1", live=False)
    driver.finalize_migration_source(inst, False)
    info = driver.get_instance_info(NAME)
    assert info is not None and info.state == InstanceState.RUNNING
    driver.stop_instance(NAME, force=True)


def test_the_stand_in_is_selected_only_under_a_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(standin.ENABLE_ENV, "1")
    assert standin.command_for_node(pathutils.Paths("")) is None
    rooted = pathutils.Paths(str(tmp_path))
    argv = standin.command_for_node(rooted)
    assert argv is not None and argv[-2:] == ["-m", "ganeti.standins.xl"]
    monkeypatch.delenv(standin.ENABLE_ENV)
    assert standin.command_for_node(rooted) is None
    # Run by hand outside a root, it refuses.
    monkeypatch.delenv(pathutils.ROOT_ENV, raising=False)
    pathutils.set_root(None)
    try:
        assert standin.main(["list"]) == 1
    finally:
        pathutils.set_root(None)
