"""Crash safety: a writer killed with SIGKILL never leaves a bad config.

A child process loads the configuration and updates it in a loop, printing
each new serial number.  It is killed either from outside, or by itself at a
chosen point of the atomic write: in the middle of writing the temporary
file, just before the rename, just after it.  Afterwards a new writer must
load a valid configuration whose serial number is at least the last one the
child reported.

No timing is involved.  Killed from outside, the child asks the parent for
leave (one byte on its stdin) before each update; once it has reported the
wanted number of updates, the parent grants one more and sends SIGKILL at
once.  The kill lands wherever that last update then is (not begun, in the
middle, done), and the child can never get further: at most that one write
lands after the last serial the parent read.  The self-killing children
need no parent at all: they die at their chosen point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from config_builders import make_config, write_config

from ganeti.config import ConfigWriter

PYLIB = str(Path(__file__).resolve().parents[2] / "pylib")

CHILD = textwrap.dedent("""
    import os, signal, sys
    from ganeti.config import ConfigWriter

    path, point, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    gated = point == "outside"
    calls = {"write": 0, "replace": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_write, real_replace = os.write, os.replace

    def write(fd, data):
        if point == "mid-write" and calls["replace"] >= after:
            real_write(fd, bytes(data)[: len(data) // 2])
            die()
        return real_write(fd, data)

    def replace(src, dst):
        calls["replace"] += 1
        if point == "before-rename" and calls["replace"] > after:
            die()
        real_replace(src, dst)
        if point == "after-rename" and calls["replace"] > after:
            die()

    def leave():
        # Killed from outside: no update without the parent's word.
        if gated and not sys.stdin.buffer.read(1):
            sys.exit("parent went away")

    os.write, os.replace = write, replace
    cfg = ConfigWriter(path)
    inst = cfg.get_instance("inst1.example.com")
    round = 0
    while True:
        round += 1
        inst.tags = ["round-%d" % round]
        leave()
        cfg.update(inst)
        print(cfg.get_serial_no(), flush=True)
        if round % 3 == 0:
            leave()
            cfg.set_instance_admin_up("inst2.example.com", round % 2 == 0)
            print(cfg.get_serial_no(), flush=True)
""")


def run_child(path: str, point: str, after: int) -> list[int]:
    """Start the child; return the serial numbers it reported.

    Killed from outside, the child waits for a byte on its stdin before each
    update: the parent grants ``after`` updates, then one more that races
    with the SIGKILL sent right behind it.
    """
    env = dict(os.environ, PYTHONPATH=PYLIB)
    outside = point == "outside"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, path, point,
                             str(after)],
                            stdin=subprocess.PIPE if outside else None,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    serials: list[int] = []

    def grant() -> None:
        assert proc.stdin is not None
        proc.stdin.write(b".")
        proc.stdin.flush()

    try:
        if outside:
            grant()
        for line in proc.stdout:
            serials.append(int(line))
            if outside:
                grant()
                if len(serials) >= after:
                    proc.send_signal(signal.SIGKILL)
                    break
    except BrokenPipeError:
        pass  # the child died early: its stderr says why, below
    finally:
        proc.stdout.close()
        _, err = proc.communicate()  # closes stdin too
    assert proc.returncode == -signal.SIGKILL, err.decode()
    return serials


@pytest.mark.parametrize("point, after", [
    ("outside", 1), ("outside", 7), ("outside", 25),
    ("mid-write", 0), ("mid-write", 4),
    ("before-rename", 0), ("before-rename", 5),
    ("after-rename", 0), ("after-rename", 3),
])
def test_sigkill_leaves_a_valid_config(tmp_path: Path, point: str,
                                       after: int) -> None:
    path = write_config(tmp_path / "config.data", make_config(2, 3))
    with ConfigWriter(path, offline=True) as cfg:
        initial = cfg.get_serial_no()
    serials = run_child(path, point, after)
    last = serials[-1] if serials else initial
    with ConfigWriter(path) as cfg:  # the dead child's lock is gone
        serial = cfg.get_serial_no()
        assert serial >= last
        # At most the one write in progress when the child died landed.
        assert serial <= last + 1
        assert cfg.verify_config() == []
        inst = cfg.get_instance("inst1.example.com")
        assert inst is not None
        # The writer works on from there.
        inst.tags = ["after-crash"]
        cfg.update(inst)
        assert cfg.get_serial_no() == serial + 1
    if point == "before-rename":
        assert serial == last
    if point == "after-rename":
        assert serial == last + 1
