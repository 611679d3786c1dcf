"""The generated bash completion, sourced in a real bash: subcommands,
options (the parser's own tables) and names from a (fake) cluster."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ganeti import bash_completion, cli
from ganeti.client import PROGRAMS, program_commands

ROOT = Path(__file__).resolve().parents[2]

#: Fake gnt-* commands: what each prints for the listings the script runs.
FAKE_OUTPUT = {"gnt-instance": "web1.example.com\nweb2.example.com\ndb1\n",
               "gnt-node": "node1.example.com\nnode2.example.com\n",
               "gnt-os": "debootstrap+default\nminimal\n",
               "gnt-job": "17\n18\n",
               "gnt-group": "default\nrack2\n"}


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "gnt"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build-bash-completion")],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "pylib")})
    assert proc.stderr == ""
    path.write_text(proc.stdout)
    return path


def _fake_bin(directory: Path, working: bool) -> Path:
    directory.mkdir(exist_ok=True)
    for program, output in FAKE_OUTPUT.items():
        fake = directory / program
        if working:
            body = f"printf %s {shlex.quote(output)}\n"
        else:  # no cluster: an error on stderr, non-zero exit
            body = "echo 'Error: no cluster' >&2\nexit 5\n"
        fake.write_text("#!/bin/sh\n" + body)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return directory


def complete(script: Path, bindir: Path, *lines: str) -> list[list[str]]:
    """COMPREPLY for each command line (the last word is completed; a
    line ending in a blank completes an empty word)."""
    calls = []
    for line in lines:
        words = line.split()
        if line.endswith(" "):
            words.append("")
        calls.append(
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; COMPREPLY=(); "
            f"_{words[0].replace('-', '_')}; "
            "printf '%s\\n' \"${COMPREPLY[@]}\" | sort; echo '@@'")
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c",
         f"source {shlex.quote(str(script))}\n" + "\n".join(calls)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(bindir)})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    chunks = proc.stdout.split("@@\n")[:-1]
    return [[w for w in chunk.splitlines() if w] for chunk in chunks]


def test_subcommands_options_and_cluster_names(script: Path,
                                               tmp_path: Path) -> None:
    bindir = _fake_bin(tmp_path / "bin", working=True)
    got = complete(
        script, bindir,
        "gnt-instance li",
        "gnt-instance info --st",
        "gnt-instance info web1 --st",   # options after the name
        "gnt-instance info w",
        "gnt-instance migrate -n n",
        "gnt-instance add -o ",
        "gnt-node modify -C ",
        "gnt-node list -o ",             # free value: nothing offered
        "gnt-job show 1",                # an alias
        "gnt-cluster queue ",
        "gnt-instance info -- -",        # after --, no options
        "gnt-os info m",
        "gnt-group info r",
        "gnt-group add --alloc-policy l")
    assert got == [
        ["list", "list-fields", "list-tags"],
        ["--static"],
        ["--static"],
        ["web1.example.com", "web2.example.com"],
        ["node1.example.com", "node2.example.com"],
        ["debootstrap+default", "minimal"],
        ["no", "yes"],
        [],
        ["17", "18"],
        ["drain", "info", "undrain"],
        [],
        ["minimal"],
        ["rack2"],
        ["last_resort"]]


def test_without_a_cluster_nothing_is_offered_quietly(script: Path,
                                                      tmp_path: Path) -> None:
    bindir = _fake_bin(tmp_path / "bin", working=False)
    assert complete(script, bindir, "gnt-instance info ",
                    "gnt-node list n", "gnt-instance st") == [
        [], [], ["start", "startup", "stop"]]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_subcommand_and_option_of_the_parser(script: Path,
                                                    tmp_path: Path,
                                                    program: str) -> None:
    table, aliases = program_commands(program)
    bindir = _fake_bin(tmp_path / "bin", working=True)
    names = list(table)
    lines = [f"{program} ", *(f"{program} {name} -" for name in names)]
    got = complete(script, bindir, *lines)
    assert got[0] == sorted([*table, *aliases])
    for name, offered in zip(names, got[1:], strict=True):
        parser = cli._build_parser(program, name, table[name])
        flags = {flag for action in parser._actions
                 for flag in action.option_strings}
        assert set(offered) == flags, f"{program} {name}"


def test_script_of_one_program() -> None:
    text = bash_completion.build_script(["gnt-os"])
    assert "complete -F _gnt_os gnt-os" in text
    assert "gnt-instance" not in text.split("_ganeti_complete() {")[1]
    assert cli.ARG_OS in bash_completion.NAME_SOURCES
