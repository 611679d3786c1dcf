"""SIGTERM stops a daemon whichever thread the kernel delivers it to.

Regression test for a hang of ganeti-noded after SIGTERM: the kernel may
hand a process-directed signal to any thread that does not block it;
Python runs the handler only in the main thread, and only once that
thread executes bytecode, which an idle daemon sleeping in
``stop_event.wait()`` never does.  The daemon below forces the case by
blocking SIGTERM in its main thread, so only its other threads can take
the signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from testkit import wait_for

PYLIB = str(Path(__file__).resolve().parents[2] / "pylib")
WAIT = 30.0  # bound on the wait; reached only when the daemon hangs

SCRIPT = """
import signal, sys, threading
from ganeti import daemon

def run(ctx):
    idle = threading.Event()
    helper = threading.Thread(target=idle.wait, daemon=True)
    helper.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    print("ready", flush=True)
    ctx.stop_event.wait()
    return 3

spec = daemon.DaemonSpec("ganeti-sigtestd", "test daemon", None, None, run)
sys.exit(daemon.main(spec, sys.argv[1:]))
"""


@contextlib.contextmanager
def daemon_child(tmp_path: Path, script: str
                 ) -> Iterator[subprocess.Popen[str]]:
    """``script`` run as a foreground daemon under ``tmp_path``; killed
    at the end if it still runs."""
    env = dict(os.environ, PYTHONPATH=PYLIB, GANETI_ROOTDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script, "-f"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def stop_with_sigterm(proc: subprocess.Popen[str]) -> None:
    """Once the daemon is ready, SIGTERM stops it (exit status 3)."""
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=WAIT) == 3


def test_sigterm_taken_by_another_thread_stops_the_daemon(
        tmp_path: Path) -> None:
    with daemon_child(tmp_path, SCRIPT) as proc:
        stop_with_sigterm(proc)


def test_children_do_not_inherit_a_blocked_sigterm(tmp_path: Path) -> None:
    """The fix blocks no signal: a program the daemon runs can be stopped."""
    script = SCRIPT.replace(
        "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n",
        "    import subprocess\n"
        "    out = subprocess.run(['grep', 'SigBlk', '/proc/self/status'],"
        " capture_output=True, text=True).stdout.split()[1]\n"
        "    print(out, flush=True)\n")
    with daemon_child(tmp_path, script) as proc:
        assert proc.stdout is not None
        blocked = int(proc.stdout.readline().strip(), 16)
        assert not blocked & (1 << (signal.SIGTERM - 1))
        stop_with_sigterm(proc)


def test_http_stop_waits_for_handshakes_in_progress(tmp_path: Path) -> None:
    """No connection thread may still be inside OpenSSL once stop()
    returns: the daemon exits right after, and a thread stopped inside
    OpenSSL by interpreter shutdown can hang the exit."""
    import socket

    from ganeti import crypto
    from ganeti.http import server as http_server
    from ganeti.http import tls

    cert_file = str(tmp_path / "server.pem")
    key_pem, cert_pem = crypto.generate_self_signed("cluster",
                                                    validity_days=1)
    crypto.write_pem_file(cert_file, key_pem, cert_pem)
    ctx = tls.server_context(cert_file, client_ca_pem=cert_pem)
    srv = http_server.HttpServer(
        ("127.0.0.1", 0), lambda req: None,  # type: ignore[arg-type,return-value]
        ssl_context=ctx, client_pin=crypto.cert_fingerprint(cert_pem))
    srv.start()
    socks = []
    try:
        for _ in range(20):
            sock = socket.create_connection(srv.address, timeout=WAIT)
            # The start of a ClientHello: the server waits for the rest.
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            socks.append(sock)
        wait_for(lambda: srv._running >= len(socks), "connections accepted")
        srv.stop()
        assert srv._running == 0
    finally:
        for sock in socks:
            sock.close()
