"""gnt-node add over SSH (Ganeti's way) against a real sshd on loopback.

sshd runs in the foreground as a child of the test, on the new node's
loopback address, with a host key, a config and an authorized key all
under a temporary directory; it is stopped and reaped at teardown.  When
openssh-server is missing the test installs it with apt (root only); it
skips when that is impossible, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import pytest
from conftest_cluster import ssconf_files, wait_for

from ganeti import constants, daemonutil
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"SSH test cannot run under CI: {reason}")
    pytest.skip(reason)


def _ensure_sshd() -> None:
    if os.path.exists(SSHD) and shutil.which("ssh") and \
            shutil.which("ssh-keygen"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        _unavailable("openssh-server is not installed and cannot be "
                     "installed here (needs root and apt-get)")
    res = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                          "openssh-server", "openssh-client"],
                         capture_output=True, text=True, timeout=600,
                         check=False,
                         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if res.returncode != 0 or not os.path.exists(SSHD):
        _unavailable(f"installing openssh-server failed: {res.stderr[-200:]}")


def _free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sshd() -> Iterator[Callable[[str], tuple[int, str]]]:
    """Starts sshd on an address; yields (port, identity file)."""
    if os.geteuid() != 0:
        _unavailable("sshd for root logins needs root")
    _ensure_sshd()
    base = tempfile.mkdtemp(prefix="sshd-", dir="/tmp")
    procs: list[subprocess.Popen[bytes]] = []

    def start(ip: str) -> tuple[int, str]:
        host_key = os.path.join(base, "host_key")
        user_key = os.path.join(base, "id_test")
        for key in (host_key, user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-f", key], check=True, timeout=60)
        auth = os.path.join(base, "authorized_keys")
        shutil.copyfile(user_key + ".pub", auth)
        port = _free_port(ip)
        conf = os.path.join(base, "sshd_config")
        with open(conf, "w", encoding="ascii") as handle:
            handle.write(
                f"Port {port}\nListenAddress {ip}\nHostKey {host_key}\n"
                f"AuthorizedKeysFile {auth}\nPidFile {base}/sshd.pid\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                "PermitUserEnvironment no\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privsep dir
        log = open(os.path.join(base, "sshd.log"), "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([SSHD, "-D", "-e", "-f", conf],
                                      stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
        log.close()

        def listening() -> bool:
            if procs[-1].poll() is not None:
                with open(os.path.join(base, "sshd.log"), "rb") as f:
                    pytest.fail(f"sshd exited: {f.read()[-500:]!r}")
            try:
                socket.create_connection((ip, port), timeout=5).close()
            except OSError:
                return False
            return True

        wait_for(listening, "sshd to listen")
        return port, user_key

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(60)
        shutil.rmtree(base, ignore_errors=True)


def test_node_add_over_ssh(make_cluster: Callable[..., LocalCluster],
                           sshd: Callable[[str], tuple[int, str]]) -> None:
    cluster = make_cluster(2, start=False)
    cluster.count = 1
    cluster.start()
    node2 = cluster.node(2)
    port, key = sshd(node2.ip)
    res = cluster.gnt("gnt-node", "add", "--ssh", "--root-dir", node2.root,
                      "--ssh-port", str(port), "--ssh-identity", key,
                      "--primary-ip", node2.ip, node2.name)
    cluster.count = 2  # teardown stops node2's daemon too
    assert res.returncode == 0, res.stdout + res.stderr
    assert daemonutil.is_running(constants.NODED, node2.paths)
    wait_for(lambda: ssconf_files(cluster, 2) == ssconf_files(cluster, 1),
             "identical ssconf on the node added over ssh")
    mode = os.stat(node2.paths.noded_cert_file).st_mode & 0o777
    assert mode == 0o400
    # The host key was recorded in the cluster's known_hosts file.
    with open(cluster.node(1).paths.known_hosts_file, encoding="ascii") as f:
        assert "ssh-ed25519" in f.read()


def test_ssh_failure_is_one_clear_line(
        make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(1)
    node2 = cluster.node(2)
    port = _free_port(node2.ip)  # nothing listens there
    res = cluster.gnt("gnt-node", "add", "--ssh-port", str(port),
                      "--primary-ip", node2.ip, node2.name)
    assert res.returncode == 1
    assert f"Command on {node2.ip} over ssh failed" in res.stderr
    assert "Connection refused" in res.stderr
