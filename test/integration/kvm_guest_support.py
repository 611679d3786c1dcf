"""Helpers for tests that boot the test guest (plain functions and
context managers; a test module wraps them in its fixtures.  Failures
raise AssertionError with a message, so no assertion rewriting is needed).

:func:`built_guest`
  the guest of ``tools/build-test-guest``, built or reused in
  ``$GANETI_TEST_GUEST_DIR`` (default /var/tmp/ganeti-test-guest); the
  test is skipped with apt's reason when the packages cannot be fetched.
:func:`bridged_network`
  a bridge in this namespace (named after the pid) joined by a veth pair
  to a network namespace of the test that holds :data:`NETNS_IP`/24; a
  guest's bridged NIC on that bridge is reached from inside the
  namespace (:func:`in_netns`).  Everything is deleted at the end.
  Given a ``bridge`` (a local cluster's), the veth joins that one instead.
:func:`rfb_auth`
  a VNC client's handshake with a password.
:func:`kvm_demo_cluster`
  a started KVM local cluster (no RAPI) whose nodes have the demo OS;
  stopped and its directory removed at the end.

:class:`SerialLog` reads a guest's serial console socket into lines and
waits for a line (on a condition variable, no polling).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from ganeti import constants, testguest
from ganeti.localcluster import LocalCluster

#: The demo OS definition copied to the nodes of :func:`kvm_demo_cluster`.
DEMO_OS = (os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "doc/examples/os/ganeti-demo-os"))

#: Seconds allowed for a boot or an event of the guest on a loaded
#: machine (a guard against a hung guest, not a measure: a boot under TCG
#: takes about 7 s).
GUARD = 300.0
#: The test namespace's address on the bridge (a /24).
NETNS_IP = "198.51.100.1"
#: busybox gives the tests ping and nc (the host may have neither).
BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(BUSYBOX is None,
                                   reason="busybox (ping, nc) missing")

#: The marks of a module whose tests boot guests: slow, and skipped
#: without qemu or root (taps, network namespaces).
KVM_AS_ROOT = [
    pytest.mark.integration, pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                       reason=f"{constants.KVM_PATH} missing"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (taps, netns)"),
]


def run(*argv: str, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(list(argv), capture_output=True, check=False,
                            input=input, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {result.stderr.decode()}")
    return result


def in_netns(netns: str, *argv: str) -> list[str]:
    """``argv`` run inside the network namespace ``netns``."""
    return ["ip", "netns", "exec", netns, *argv]


def ping(address: str, netns: str = "") -> None:
    """One ping to ``address`` (from ``netns`` if given) must be answered."""
    argv = [str(BUSYBOX), "ping", "-c", "1", "-W", "60", address]
    result = run(*(in_netns(netns, *argv) if netns else argv), check=False)
    if result.returncode != 0:
        raise AssertionError(f"no answer to ping {address}: "
                             f"{(result.stdout + result.stderr).decode()}")


class SerialLog:
    """A guest's serial console (qemu's unix socket), read by a thread
    into :attr:`lines`.  Connect right after the start: qemu drops what
    the guest prints while no client is connected."""

    def __init__(self, path: str) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.connect(path)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while chunk := self._sock.recv(4096):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                with self._cond:
                    self.lines += [c.decode(errors="replace").rstrip("\r")
                                   for c in complete]
                    self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def mark(self) -> int:
        """A position in the log, for :meth:`wait_for`'s ``after``."""
        with self._cond:
            return len(self.lines)

    def wait_for(self, predicate: Callable[[str], bool],
                 timeout: float = GUARD, after: int = 0) -> str:
        """The first line (from position ``after`` on) matching
        ``predicate``, waiting for it."""
        with self._cond:
            found: list[str] = []

            def seen() -> bool:
                found[:] = [line for line in self.lines[after:]
                            if predicate(line)][:1]
                return bool(found) or self.closed

            self._cond.wait_for(seen, timeout)
            if not found:
                tail = " | ".join(self.lines[-5:])
                raise AssertionError(f"not on the serial console; last: {tail}")
            return found[0]

    def wait_ready(self, timeout: float = GUARD, after: int = 0) -> None:
        self.wait_for(lambda line: line == testguest.READY_MARKER, timeout,
                      after)

    def wait_closed(self, timeout: float = GUARD) -> None:
        """Until qemu closes the console (it exited)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed, timeout):
                raise AssertionError("the serial console is still open")

    def ticks(self) -> list[int]:
        """The counter values printed so far."""
        with self._cond:
            return [tick_value(line) for line in self.lines
                    if is_tick(line)]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(10)


def is_tick(line: str) -> bool:
    return line.startswith(testguest.TICK_PREFIX)


def tick_value(line: str) -> int:
    return int(line.removeprefix(testguest.TICK_PREFIX))


def built_guest() -> testguest.GuestFiles:
    lines: list[str] = []
    try:
        return testguest.build(testguest.default_dir(), log=lines.append)
    except testguest.BuildError as err:
        if err.fetch:
            pytest.skip(f"cannot build the test guest: {err}")
        raise


def rfb_auth(port: int, password: str, host: str = "127.0.0.1") -> int:
    """A VNC client handshake (RFB 3.8, VNC authentication) with the
    server at ``host``:``port``; the server's SecurityResult (0 =
    accepted)."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    with socket.create_connection((host, port), timeout=30) as sock:
        stream = sock.makefile("rwb")
        if not stream.read(12).startswith(b"RFB 003."):
            raise AssertionError(f"no RFB server at {host}:{port}")
        stream.write(b"RFB 003.008\n")
        stream.flush()
        count = stream.read(1)[0]
        types = stream.read(count)
        if 2 not in types:
            raise AssertionError(f"VNC authentication not offered: {types!r}")
        stream.write(b"\x02")
        stream.flush()
        challenge = stream.read(16)
        # VNC's DES key: the password's bytes with each byte's bits reversed.
        key = bytes(int(f"{b:08b}"[::-1], 2)
                    for b in password.encode()[:8].ljust(8, b"\0"))
        enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
        stream.write(enc.update(challenge) + enc.finalize())
        stream.flush()
        (result,) = struct.unpack(">I", stream.read(4))
        return int(result)


@contextlib.contextmanager
def bridged_network(bridge: str = "") -> Iterator[dict[str, str]]:
    tag = str(os.getpid())
    names = {"bridge": bridge or f"gtgb{tag}", "veth": f"gtgv{tag}a",
             "peer": f"gtgv{tag}b", "netns": f"gtgns{tag}"}
    made: list[list[str]] = []
    steps = [] if bridge else [
        (["link", "add", names["bridge"], "type", "bridge"],
         ["link", "del", names["bridge"]])]
    try:
        for argv, undo in (
                *steps,
                (["netns", "add", names["netns"]],
                 ["netns", "del", names["netns"]]),
                (["link", "add", names["veth"], "type", "veth", "peer", "name",
                  names["peer"], "netns", names["netns"]],
                 ["link", "del", names["veth"]])):
            res = run("ip", *argv, check=False)
            if res.returncode != 0:
                pytest.skip(f"ip {' '.join(argv)}: {res.stderr.decode().strip()}")
            made.append(undo)
        run("ip", "link", "set", names["veth"], "master", names["bridge"], "up")
        run("ip", "link", "set", names["bridge"], "up")
        inside = in_netns(names["netns"], "ip")
        run(*inside, "addr", "add", f"{NETNS_IP}/24", "dev", names["peer"])
        run(*inside, "link", "set", names["peer"], "up")
        run(*inside, "link", "set", "lo", "up")
        yield names
    finally:
        for undo in reversed(made):
            run("ip", *undo, check=False)


@contextlib.contextmanager
def kvm_demo_cluster(nodes: int, init_args: Sequence[str] = ()
                     ) -> Iterator[LocalCluster]:
    """A started KVM local cluster of ``nodes`` nodes with the demo OS."""
    from conftest_cluster import _free_prefix, short_dir

    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, "kvm"), nodes=nodes,
                           hypervisor=constants.HT_KVM,
                           prefix=_free_prefix(nodes), rapi=False,
                           init_args=init_args)
    try:
        cluster.start()
        for node in cluster.nodes:
            shutil.copytree(DEMO_OS, node.paths.under(
                "/srv/ganeti/os/ganeti-demo-os"), dirs_exist_ok=True)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
