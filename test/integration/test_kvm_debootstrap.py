"""The user story end to end: an instance installed by the debootstrap OS
definition (doc/examples/os/debootstrap) on a KVM local cluster boots
from its file disk (SeaBIOS, extlinux; no kernel_path) under TCG to a
login prompt on its serial console, takes the root password given as an
OS parameter, has the SSH key and host name it was given, and answers
ping over its bridged NIC (static address from the NIC's IP).

It needs a Debian mirror for the first install (the base system is then
cached as a tarball in /var/tmp/ganeti-debootstrap-cache, so later runs
need none): without one the test is skipped with the reason."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest_cluster import ok
from kvm_guest_support import GUARD, bridged_network, needs_busybox, ping

from ganeti import constants
from ganeti.hypervisor.kvm import runtime
from ganeti.localcluster import LocalCluster

OS_SRC = Path(__file__).resolve().parents[2] / "doc/examples/os/debootstrap"
TOOLS = ("debootstrap", "sfdisk", "extlinux", "mkfs.ext4", "losetup", "blkid",
         "openssl")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.integration, pytest.mark.slow, needs_busybox,
    pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                       reason=f"{constants.KVM_PATH} missing"),
    pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} missing"
                       " (tools/bootstrap-env installs them)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

NAME = "deb1.example.com"
GUEST_IP = "198.51.100.2"
PASSWORD = "ganeti-test"
KEY = "ssh-ed25519:AAAAC3NzaC1lZDI1NTE5AAAAIGdhbmV0aS10ZXN0LWtleQ"
#: Seconds for the first install (debootstrap from the mirror, then the
#: unpacking); a cached install takes well under a minute.
INSTALL_GUARD = 1200.0


def _os_shell(code: str) -> str:
    result = subprocess.run(
        ["bash", "-c", f". {OS_SRC}/common.sh; {code}"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OS_VARIANT": "bookworm"},
        capture_output=True, text=True, check=True, timeout=60)
    return result.stdout.strip()


def _skip_without_mirror() -> None:
    """Skip unless the base system is cached or the mirror answers."""
    if os.path.exists(_os_shell(
            'cache_file "$(variant)" "$(mirror)" "$(packages)"')):
        return
    url = _os_shell("mirror") + "/dists/bookworm/Release"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read(1)
    except (OSError, urllib.error.URLError) as err:
        pytest.skip(f"the Debian mirror does not answer ({url}: {err})")


class Console:
    """The instance's serial console socket, read until a text shows up
    (select with a deadline: a prompt ends without a newline)."""

    def __init__(self, path: str) -> None:
        self.seen = b""
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.connect(path)

    def expect(self, text: str, timeout: float = GUARD) -> str:
        """Read until ``text`` appears after what was seen before; the
        console's output before it is consumed and returned."""
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.seen:
            ready = select.select([self._sock], [], [],
                                  max(0.0, deadline - time.monotonic()))[0]
            chunk = self._sock.recv(4096) if ready else None
            if not chunk:
                why = "timed out" if chunk is None else "console closed"
                raise AssertionError(f"{text!r} not on the serial console "
                                     f"({why}); last: {self.seen[-300:]!r}")
            self.seen += chunk
        before, _, self.seen = self.seen.partition(want)
        return before.decode(errors="replace")

    def send(self, line: str) -> None:
        self._sock.sendall(line.encode() + b"\r")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    _skip_without_mirror()
    local = make_cluster(1, hypervisor=constants.HT_KVM, rapi=False)
    shutil.copytree(OS_SRC, local.node(1).paths.under(
        "/srv/ganeti/os/debootstrap"))
    return local


def _add(cluster: LocalCluster, bridge: str) -> None:
    hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD],
                            capture_output=True, text=True, check=True)
    osparams = (f"root_password_hash={hashed.stdout.strip().replace('$', '%')},"
                f"ssh_key={KEY}")
    res = cluster.gnt(
        "gnt-instance", "add", "-t", "file", "--disk", "0:size=2G",
        "-o", "debootstrap+bookworm", "-O", osparams, "-B", "memory=512",
        "--net", f"0:ip={GUEST_IP},link={bridge}", "-n", cluster.node(1).name,
        "--no-name-check", "--no-ip-check", "--no-start", NAME,
        timeout=INSTALL_GUARD)
    output = res.stdout + res.stderr
    if res.returncode != 0 and "debootstrap of bookworm" in output:
        reason = [line for line in output.splitlines()
                  if "debootstrap of bookworm" in line][-1]
        pytest.skip(f"cannot build the Debian base system: {reason.strip()}")
    assert res.returncode == 0, output


def test_debootstrap_instance_boots_to_login_and_answers_ping(
        cluster: LocalCluster) -> None:
    with bridged_network() as net:
        _add(cluster, net["bridge"])
        ok(cluster.gnt("gnt-instance", "startup", NAME))
        serial = os.path.join(cluster.node(1).paths.run_dir, runtime.SUBDIR,
                              "ctrl", f"{NAME}.serial")
        console = Console(serial)
        try:
            console.expect("deb1 login: ")
            console.send("root")
            console.expect("Password: ", 60)
            console.send(PASSWORD)
            console.expect("root@deb1:~# ", 120)
            console.send("hostname; cat /root/.ssh/authorized_keys; "
                         "ip -4 -o addr show eth0")
            shown = console.expect("root@deb1:~# ", 60)
            ping(GUEST_IP, net["netns"])
        finally:
            console.close()
        assert NAME in shown
        assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdhbmV0aS10ZXN0LWtleQ" \
            in shown
        assert f"inet {GUEST_IP}/24" in shown
        ok(cluster.gnt("gnt-instance", "remove", "-f", "--shutdown-timeout=30",
                       NAME))
