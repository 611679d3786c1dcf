"""A gnt-* command whose reader went away ends quietly (no traceback),
with the status a shell reports for a program killed by SIGPIPE."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ganeti import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "pylib")
    return env


@pytest.mark.parametrize("argv", [
    ["gnt-cluster", "version"],       # output of a subcommand
    ["gnt-cluster", "--version"],     # output of the option parsing
    ["gnt-instance", "list-fields"],  # many lines
])
def test_closed_pipe_ends_quietly(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        proc = subprocess.run(
            [sys.executable, os.path.join(ROOT, "scripts", argv[0]),
             *argv[1:]], stdout=write_end, stderr=subprocess.PIPE,
            env=_env(), timeout=60, check=False)
    finally:
        os.close(write_end)
    assert proc.stderr == b""
    assert proc.returncode == cli.EXIT_SIGPIPE


def test_head_of_a_long_listing() -> None:
    script = os.path.join(ROOT, "scripts", "gnt-instance")
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c",
         f"{sys.executable} {script} list-fields | head -1"],
        capture_output=True, env=_env(), timeout=60, check=False)
    assert proc.stdout.decode().split() == ["Name", "Type", "Title",
                                            "Description"]
    assert proc.stderr == b""
    assert proc.returncode in (0, cli.EXIT_SIGPIPE)
