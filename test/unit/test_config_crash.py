"""Crash safety: a writer killed with SIGKILL never leaves a bad config.

A child process loads the configuration and updates it in a loop,
printing after each acknowledged change its serial number and what it
changed.  It is killed either from outside, or by itself at a chosen
point of a write: in the middle of an ``os.write`` (a journal append or
the temporary file of a compaction), before an fsync, just before or
just after a rename (the compactions: the base, then the emptied
journal; the child compacts every few changes).  Afterwards a new writer
must load a valid configuration that is the last acknowledged one, or
the one change in flight, serial and content alike.

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
    from ganeti.config import ConfigWriter, journal

    path, point, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    gated = point == "outside"
    # Compact as soon as the journal is as large as the base (every few
    # changes here), so that the kills land in compactions too.
    journal.MIN_COMPACT_BYTES = 0
    calls = {"write": 0, "fsync": 0, "replace": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace

    def write(fd, data):
        calls["write"] += 1
        if point == "mid-write" and calls["write"] > after:
            real_write(fd, bytes(data)[: len(data) // 2])
            die()
        return real_write(fd, data)

    def fsync(fd):
        calls["fsync"] += 1
        if point == "before-fsync" and calls["fsync"] > after:
            die()
        real_fsync(fd)

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

    def report(cfg):
        inst = cfg.get_instance("inst1.example.com")
        other = cfg.get_instance("inst2.example.com")
        print(cfg.get_serial_no(), ",".join(inst.tags), other.admin_up,
              flush=True)

    os.write, os.fsync, os.replace = write, fsync, replace
    cfg = ConfigWriter(path)
    inst = cfg.get_instance("inst1.example.com")
    round = 0
    while True:
        round += 1
        inst.tags = ["round-%d" % round]
        leave()
        cfg.update(inst)
        report(cfg)
        if round % 3 == 0:
            leave()
            cfg.set_instance_admin_up("inst2.example.com", round % 2 == 0)
            report(cfg)
""")



#: What the child reports after each acknowledged change: the serial
#: number, the tags of inst1 and whether inst2 is marked up.
State = tuple[int, str, str]


def run_child(path: str, point: str, after: int) -> list[State]:
    """Start the child; return the states it reported.

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
    serials: list[State] = []

    def grant() -> None:
        assert proc.stdin is not None
        proc.stdin.write(b".")
        proc.stdin.flush()

    try:
        if outside:
            grant()
        for line in proc.stdout:
            serial, tags, up = line.decode().split()
            serials.append((int(serial), tags, up))
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


def state_of(cfg: ConfigWriter) -> State:
    inst = cfg.get_instance("inst1.example.com")
    other = cfg.get_instance("inst2.example.com")
    assert inst is not None and other is not None
    return cfg.get_serial_no(), ",".join(inst.tags), str(other.admin_up)


@pytest.mark.parametrize("point, after", [
    ("outside", 1), ("outside", 7), ("outside", 25),
    ("mid-write", 0), ("mid-write", 4), ("mid-write", 9),
    ("before-fsync", 0), ("before-fsync", 5), ("before-fsync", 12),
    ("before-rename", 0), ("before-rename", 1), ("before-rename", 4),
    ("after-rename", 0), ("after-rename", 1), ("after-rename", 3),
])
def test_sigkill_leaves_a_valid_config(tmp_path: Path, point: str,
                                       after: int) -> None:
    """The config read after the kill is the last acknowledged change,
    or the one in flight (durable, not yet acknowledged): serial and
    content alike, through the journal and through compactions."""
    path = write_config(tmp_path / "config.data", make_config(2, 3))
    with ConfigWriter(path, offline=True) as cfg:
        initial = state_of(cfg)
    states = run_child(path, point, after)
    last = states[-1] if states else initial
    with ConfigWriter(path) as cfg:  # the dead child's lock is gone
        state = state_of(cfg)
        if state[0] == last[0]:
            assert state == last
        else:
            # Only the one write in progress when the child died landed.
            assert state[0] == last[0] + 1
        assert cfg.verify_config() == []
        inst = cfg.get_instance("inst1.example.com")
        assert inst is not None
        # The writer works on from there, and a reader sees the same.
        inst.tags = ["after-crash"]
        cfg.update(inst)
        assert cfg.get_serial_no() == state[0] + 1
        expected = cfg.get_config_data()
    with ConfigWriter(path, offline=True) as again:
        assert again.get_config_data() == expected
