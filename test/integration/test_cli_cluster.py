"""The command-line habits on a real local cluster: options after the
names, ``-`` for a stopped instance's memory, and the bash completion
offering the cluster's instance and node names."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ganeti import cli
from ganeti.localcluster import LocalCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_OS = ROOT / "doc" / "examples" / "os" / "ganeti-demo-os"
OS_NAME = "ganeti-demo-os+minimal"


def ok(lc: LocalCluster, command: str, *args: str) -> str:
    res = lc.gnt(command, *args)
    assert res.returncode == 0, f"{command} {args}: {res.stdout}{res.stderr}"
    return res.stdout


def test_cli_habits_on_a_cluster(make_cluster: Callable[..., LocalCluster],
                                 tmp_path: Path) -> None:
    lc = make_cluster(1)
    node = lc.node(1)
    shutil.copytree(EXAMPLE_OS, Path(node.paths.os_search_path[0])
                    / "ganeti-demo-os")
    for name, extra in (("up.example.com", ()),
                        ("down.example.com", ("--no-start",))):
        ok(lc, "gnt-instance", "add", "-t", "diskless", "--no-nics",
           "--no-name-check", "--no-ip-check", "-o", OS_NAME, name,
           "-n", node.name, *extra)

    rows = ok(lc, "gnt-instance", "list", "--no-headers", "-o",
              "name,status,oper_ram").split("\n")
    assert [r.split() for r in rows if r] == [
        ["down.example.com", "ADMIN_down", "-"],
        ["up.example.com", "running", "128M"]]
    # A reader that goes away ends the listing quietly (issue 15: "gnt-
    # instance list | head" ended in a BrokenPipeError traceback).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "gnt-instance"), "list"],
            env=lc.env(None), stdout=write_end, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (closed.returncode, closed.stderr) == (cli.EXIT_SIGPIPE, b"")
    static = ok(lc, "gnt-instance", "info", "up.example.com", "--static")
    assert "Instance name: up.example.com" in static
    assert "actual state" not in static
    assert ok(lc, "gnt-node", "list", node.name, "-o", "name").split() == \
        ["Node", node.name]

    # The completion, with the checkout's gnt-* commands on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for program in ("gnt-instance", "gnt-node"):
        wrapper = bindir / program
        wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                           f"{shlex.quote(str(ROOT / 'scripts' / program))}"
                           ' "$@"\n')
        wrapper.chmod(0o755)
    script = tmp_path / "completion"
    script.write_text(subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build-bash-completion")],
        capture_output=True, text=True, check=True, timeout=120).stdout)
    env = dict(lc.env(None))
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    probe = (f"source {shlex.quote(str(script))}\n"
             "COMP_WORDS=(gnt-instance startup d); COMP_CWORD=2;"
             " _gnt_instance\n"
             "echo \"${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(gnt-node modify ''); COMP_CWORD=2; _gnt_node\n"
             "echo \"${COMPREPLY[*]}\"\n")
    res = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe],
                         capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.splitlines() == ["down.example.com", node.name]
