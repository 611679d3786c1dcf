"""The KVM story on a real two-node local cluster with the test guest
(``tools/build-test-guest``, qemu under TCG): the instance boots to the
marker on its serial console, answers ping over a bridged NIC (the
cluster's bridge, reached from a network namespace of the test) and over
a routed NIC (a host route in the main table), takes a VNC password the
cluster ships to every node, reboots, live-migrates while its counter
keeps running (diskless, and with a file disk through the block mirror,
its content unchanged), and powers off through ACPI.

One guest is shared by the module's tests, which run in order; the file
disk story has a second guest of its own.  The guest's kernel and initrd
are linked into each node root's /boot, as an administrator would
install them on every node.

VNC: the cluster's vnc_bind_address is one address for every node and
both nodes live on this host, so the VNC port of a migrating instance
would be bound twice; VNC is checked first, then turned off for the
instance before it migrates (doc/local-cluster.rst).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_cluster import _free_prefix, ok, short_dir
from kvm_guest_support import (
    BUSYBOX,
    GUARD,
    KVM_AS_ROOT,
    SerialLog,
    bridged_network,
    built_guest,
    in_netns,
    is_tick,
    needs_busybox,
    ping,
    rfb_auth,
    run,
    tick_value,
)

from ganeti import constants, testguest
from ganeti.hypervisor.kvm import qmp, runtime
from ganeti.localcluster import LocalCluster, command_path

pytestmark = [*KVM_AS_ROOT, needs_busybox]

OS_SRC = Path(__file__).resolve().parents[2] / "doc/examples/os/ganeti-demo-os"
N1, N2 = "node1.local-cluster.example", "node2.local-cluster.example"
GUEST, DISKFUL = "g1.example.com", "g2.example.com"
BRIDGED_IP, DISKFUL_IP = "198.51.100.20", "198.51.100.21"
ROUTED_IP = f"203.0.113.{100 + os.getpid() % 100}"
PASSWORD_FILE = "/etc/ganeti/vnc-cluster-password"
PASSWORD = "s3cret"


def gnt(cluster: LocalCluster, cmd: str, *args: str) -> str:
    return ok(cluster.gnt(cmd, *args))


def field(cluster: LocalCluster, name: str, fields: str) -> str:
    return gnt(cluster, "gnt-instance", "list", "--no-headers", "-o", fields,
               name).strip()


def kvm_dirs(cluster: LocalCluster, node: int) -> runtime.RuntimeDirs:
    return runtime.RuntimeDirs(os.path.join(
        cluster.node(node).paths.run_dir, runtime.SUBDIR))


def serial_socket(cluster: LocalCluster, node: int, name: str) -> str:
    return kvm_dirs(cluster, node).serial_socket(name)


def attached(cluster: LocalCluster, node: int, name: str, *command: str,
             old: SerialLog | None = None) -> SerialLog:
    """Run the gnt command ``command`` that starts ``name`` on ``node``
    and connect to the serial console as soon as qemu listens (qemu drops
    what the guest prints while no client is connected); ``old``, the
    console of the qemu that the command stops first (its socket may
    still accept a connection while that qemu exits)."""
    dirs = kvm_dirs(cluster, node)
    old_pid = dirs.read_pid(name) if old is not None else None
    proc = subprocess.Popen([sys.executable, command_path(command[0]),
                             *command[1:]], env=cluster.env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    path = serial_socket(cluster, node, name)
    deadline = time.monotonic() + GUARD
    try:
        if old is not None:
            old.wait_closed()
        while True:
            pid = dirs.read_pid(name)
            if pid is not None and pid != old_pid:
                with contextlib.suppress(OSError):
                    serial = SerialLog(path)
                    break
            if proc.poll() not in (None, 0) or time.monotonic() > deadline:
                raise AssertionError(f"{command}: no serial console at {path}:"
                                     f" {proc.communicate()[0]}")
            time.sleep(0.05)  # waiting for qemu to create the socket
    finally:
        out, _ = proc.communicate(timeout=GUARD)
    assert proc.returncode == 0, out
    return serial


def guest_query(netns: str, address: str, request: str) -> str:
    """The guest's answer to ``request`` over its bridged NIC."""
    return run(*in_netns(netns, str(BUSYBOX), "nc", address,
                         str(testguest.STATUS_PORT)),
               input=request.encode() + b"\n").stdout.decode().strip()


def ticks(netns: str, address: str) -> int:
    answer = guest_query(netns, address, "ticks")
    assert answer.startswith("ticks "), answer
    return int(answer.split()[1])


def _install_guest(cluster: LocalCluster, guest: testguest.GuestFiles) -> None:
    for node in cluster.nodes:
        shutil.copytree(OS_SRC, node.paths.under(
            "/srv/ganeti/os/ganeti-demo-os"), dirs_exist_ok=True)
        boot = Path(node.paths.under("/boot"))
        boot.mkdir(parents=True, exist_ok=True)
        for source in (guest.kernel, guest.initrd):
            target = boot / os.path.basename(source)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)


def _guest_hvparams(nics: list[tuple[str, str]]) -> str:
    args = testguest.kernel_args(nics)
    assert "," not in args
    return (f"kernel_path=/boot/vmlinuz,initrd_path=/boot/initrd.img,"
            f"root_path=,serial_console=true,kernel_args={args}")


@pytest.fixture(scope="module")
def story() -> Iterator[dict[str, Any]]:
    guest = built_guest()
    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, "kvm"), nodes=2,
                           hypervisor=constants.HT_KVM, prefix=_free_prefix(2),
                           rapi=False)
    serials: list[SerialLog] = []
    try:
        cluster.start()
        _install_guest(cluster, guest)
        with bridged_network(cluster.bridge) as net:
            gnt(cluster, "gnt-instance", "add", "-o", "ganeti-demo-os+minimal",
                "-t", "diskless", "--no-name-check", "--no-ip-check",
                "--no-start", "-n", N1, "-B", "memory=128",
                "--net", "0:", "--net",
                f"1:mode=routed,ip={ROUTED_IP},link=main",
                "-H", _guest_hvparams([(f"{BRIDGED_IP}/24", ""),
                                       (f"{ROUTED_IP}/32", "")]), GUEST)
            yield {"cluster": cluster, "netns": net["netns"],
                   "serials": serials}
    finally:
        for serial in serials:
            serial.close()
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _serial(story: dict[str, Any]) -> SerialLog:
    """The serial console of the shared guest's current qemu."""
    serial: SerialLog = story["main"]
    return serial


def _attach_main(story: dict[str, Any], serial: SerialLog) -> SerialLog:
    story["serials"].append(serial)
    story["main"] = serial
    return serial


def test_vnc_password_file_reaches_every_node(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    on_master = Path(cluster.node(1).paths.under(PASSWORD_FILE))
    on_master.write_text(PASSWORD + "\n")
    on_master.chmod(0o600)
    gnt(cluster, "gnt-cluster", "modify", "-H",
        f"kvm:vnc_bind_address={cluster.node(1).ip},"
        f"vnc_password_file={PASSWORD_FILE}")
    on_node2 = Path(cluster.node(2).paths.under(PASSWORD_FILE))
    assert not on_node2.exists()
    gnt(cluster, "gnt-cluster", "redist-conf")
    assert on_node2.read_text() == PASSWORD + "\n"


def test_boots_to_the_marker(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    serial = _attach_main(story, attached(cluster, 1, GUEST, "gnt-instance",
                                          "startup", GUEST))
    serial.wait_ready()
    assert f"gnt-guest: eth0 {BRIDGED_IP}/24" in serial.lines
    assert field(cluster, GUEST, "status,pnode").split() == ["running", N1]


def test_ping_over_the_bridged_nic(story: dict[str, Any]) -> None:
    ping(BRIDGED_IP, netns=story["netns"])
    assert ticks(story["netns"], BRIDGED_IP) >= 0


def test_ping_over_the_routed_nic(story: dict[str, Any]) -> None:
    ping(ROUTED_IP)
    route = run("ip", "route", "show", f"{ROUTED_IP}/32").stdout.decode()
    assert "dev gnt" in route, route


def test_vnc_takes_the_password(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    port = int(field(cluster, GUEST, "network_port"))
    assert rfb_auth(port, PASSWORD, host=cluster.node(1).ip) == 0
    assert rfb_auth(port, "wrong", host=cluster.node(1).ip) != 0


def test_console_names_the_vnc_server(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    port = field(cluster, GUEST, "network_port")
    res = cluster.gnt("gnt-instance", "console", "--show-cmd", GUEST)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("socat ") and res.stdout.count("\n") == 1
    assert res.stderr.strip() == \
        f"VNC console of {GUEST}: {cluster.node(1).ip}:{port}"


def test_soft_reboot_resets_the_guest(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    serial = _serial(story)
    before = serial.mark()
    gnt(cluster, "gnt-instance", "reboot", "--type", "soft", GUEST)
    serial.wait_ready(after=before)
    assert serial.lines[before:].count(testguest.READY_MARKER) == 1
    assert not serial.closed  # the same qemu
    ping(BRIDGED_IP, netns=story["netns"])


def test_reboot_powers_off_and_starts_again(story: dict[str, Any]) -> None:
    # The reboot also turns VNC off: both nodes are on this host, so the
    # migrations below would bind the instance's VNC port twice.
    cluster: LocalCluster = story["cluster"]
    port = int(field(cluster, GUEST, "network_port"))
    gnt(cluster, "gnt-instance", "modify", "-H", "vnc_bind_address=", GUEST)
    old = _serial(story)
    serial = _attach_main(story, attached(cluster, 1, GUEST, "gnt-instance",
                                          "reboot", GUEST, old=old))
    assert testguest.POWEROFF_LINE in old.lines
    serial.wait_ready()
    ping(ROUTED_IP)
    with pytest.raises(OSError):
        rfb_auth(port, PASSWORD, host=cluster.node(1).ip)


NODES = {1: N1, 2: N2}


def live_migrate(story: dict[str, Any], name: str, address: str,
                 expect: str) -> tuple[int, SerialLog, int]:
    """Live-migrate ``name`` to the other node; (that node, the guest's
    console there, its counter before the move) once the moved guest
    printed a tick.

    Under TCG a migrated guest was seen to hang (3 times in 20 CI runs,
    only on a loaded machine, not in 160 migrations here otherwise):
    qemu reports it running while its only vCPU spins with interrupts
    off in the guest kernel's timer code, as a guest whose memory did
    not arrive consistent would (see doc/status.rst).  Then the guest is
    restarted where it is and migrated once more, with a warning that
    carries qemu's view; a second hang fails the test."""
    cluster: LocalCluster = story["cluster"]
    for attempt in (1, 2):
        source = 1 if field(cluster, name, "pnode") == N1 else 2
        target = 3 - source
        before = ticks(story["netns"], address)
        out = gnt(cluster, "gnt-instance", "migrate", "-f", name)
        assert expect in out
        assert field(cluster, name, "status,pnode").split() == [
            "running", NODES[target]]
        # The console on the new node first: it shows the guest running
        # there, and what it printed if a network check fails.
        serial = SerialLog(serial_socket(cluster, target, name))
        story["serials"].append(serial)
        try:
            first_tick_after_move(cluster, target, name, serial, before)
            return target, serial, before
        except AssertionError as err:
            if attempt == 2 or "info status: VM status: running" not in \
                    str(err):
                raise
            warnings.warn(f"{name} hung after a live migration under TCG;"
                          f" restarted and migrated again: {err}",
                          stacklevel=2)
            restarted = attached(cluster, target, name, "gnt-instance",
                                 "reboot", "--type", "full",
                                 "--shutdown-timeout", "0", name, old=serial)
            story["serials"].append(restarted)
            restarted.wait_ready()
    raise AssertionError("not reached")


def test_live_migration_keeps_the_counter_running(
        story: dict[str, Any]) -> None:
    netns = story["netns"]
    _node, serial, before = live_migrate(
        story, GUEST, BRIDGED_IP, "memory transfer complete, downtime")
    story["main"] = serial
    after = ticks_after_move(netns, BRIDGED_IP, serial)
    assert after > before
    line = serial.wait_for(lambda line: is_tick(line)
                           and tick_value(line) > after)
    assert tick_value(line) > after
    ping(ROUTED_IP)


#: Seconds a migrated guest may take to print its next tick.
MOVED_TICK_WAIT = 120.0


def qemu_state(cluster: LocalCluster, node: int, name: str) -> str:
    """What qemu and the kernel say of an instance's qemu on ``node``
    (for the message of a guest that went silent)."""
    parts = []
    pid = kvm_dirs(cluster, node).read_pid(name)
    if pid is not None:
        ps = subprocess.run(["ps", "-o", "stat=,pcpu=,etime=,wchan=", "-p",
                             str(pid)], capture_output=True, text=True,
                            check=False)
        parts.append(f"process {pid}: {ps.stdout.strip() or 'gone'}")
    path = kvm_dirs(cluster, node).qmp_socket(name)
    for command in ("info status", "info registers", "info lapic",
                    "info pic"):
        try:
            with qmp.QmpClient(path, timeout=5).connect() as client:
                text = str(client.execute(
                    "human-monitor-command", {"command-line": command}))
        except Exception as err:  # a diagnostic only: never fails the test
            text = f"failed: {err}"
        parts.append(f"{command}: {' '.join(text.split())[:400]}")
    return "; ".join(parts)


def first_tick_after_move(cluster: LocalCluster, node: int, name: str,
                          serial: SerialLog, before: int) -> str:
    """The first tick above ``before`` on the moved guest's console;
    failing, the message has qemu's view of the guest (a guest that
    stays silent after a live migration was seen 3 times in 20 CI runs,
    on a loaded machine only)."""
    try:
        return serial.wait_for(lambda line: is_tick(line)
                               and tick_value(line) > before,
                               timeout=MOVED_TICK_WAIT)
    except AssertionError as err:
        raise AssertionError(f"{err}; qemu on node {node}: "
                             f"{qemu_state(cluster, node, name)}") from None


def ticks_after_move(netns: str, address: str, serial: SerialLog) -> int:
    """The guest's counter over the bridge once it answers there: after a
    migration the bridge learns the guest's port from its first frames
    (qemu announces the guest; on a loaded machine that can take a
    while), and an answer can come empty meanwhile.  Failing, the
    guest's console is in the message."""
    deadline = time.monotonic() + GUARD
    while True:
        try:
            return ticks(netns, address)
        except AssertionError as err:
            if time.monotonic() > deadline:
                tail = " | ".join(serial.lines[-8:])
                raise AssertionError(f"{err}; the guest's console: {tail}"
                                     ) from None
        time.sleep(0.5)  # nc failed at once (no route): try again


def test_file_disk_migrates_with_its_content(story: dict[str, Any]) -> None:
    cluster: LocalCluster = story["cluster"]
    netns = story["netns"]
    gnt(cluster, "gnt-instance", "add", "-o", "ganeti-demo-os+minimal", "-t", "file",
        "--disk", "0:size=8M", "--no-name-check", "--no-ip-check",
        "--no-start", "-n", N1, "-B", "memory=96", "--net", "0:",
        "-H", _guest_hvparams([(f"{DISKFUL_IP}/24", "")])
        + ",vnc_bind_address=", DISKFUL)
    disk = f"/srv/ganeti/file-storage/{DISKFUL}/disk0"
    on1 = Path(cluster.node(1).paths.under(disk))
    assert on1.stat().st_size == 8 << 20
    data = os.urandom(8 << 20)  # content that a mirror could get wrong
    on1.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    serial = attached(cluster, 1, DISKFUL, "gnt-instance", "startup", DISKFUL)
    story["serials"].append(serial)
    serial.wait_ready()
    query = "sha256 vda 8"
    assert guest_query(netns, DISKFUL_IP, query) == f"{query} {digest}"
    node, moved, before = live_migrate(story, DISKFUL, DISKFUL_IP,
                                       "disks mirrored")
    assert ticks_after_move(netns, DISKFUL_IP, moved) > before
    assert guest_query(netns, DISKFUL_IP, query) == f"{query} {digest}"
    there = Path(cluster.node(node).paths.under(disk))
    assert hashlib.sha256(there.read_bytes()).hexdigest() == digest
    assert not Path(cluster.node(3 - node).paths.under(disk)).exists()
    gnt(cluster, "gnt-instance", "remove", "-f", DISKFUL)


def test_acpi_shutdown(story: dict[str, Any]) -> None:
    # Last: the shared guest powers off.
    cluster: LocalCluster = story["cluster"]
    serial = _serial(story)
    out = gnt(cluster, "gnt-instance", "shutdown", GUEST)
    assert "stopped hard" not in out
    serial.wait_closed()
    assert testguest.POWEROFF_LINE in serial.lines
    assert field(cluster, GUEST, "status") == "ADMIN_down"
    found = subprocess.run(["pgrep", "-af", "kvm-hypervisor"],
                           capture_output=True, text=True,
                           check=False).stdout
    assert not [line for line in found.splitlines()
                if cluster.directory in line and GUEST in line]
