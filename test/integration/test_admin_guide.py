"""doc/admin.rst runs as written: every example of the guide, in order, on
a new local cluster (the one its "A local cluster to follow this guide"
section starts), with the output it shows.

The guide's own ``tools/local-cluster start /tmp/lc --prefix 127.0.9.``
starts the cluster: the test only puts it in a directory of its own and
on loopback addresses of its own (it replaces ``/tmp/lc`` and
``127.0.9.`` in the guide), so parallel runs never collide.  Whatever the
examples leave running is stopped at the end, even when one fails.  The
rules of the examples are in :mod:`guide_examples`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest_cluster import _free_prefix, short_dir
from guide_examples import (
    Example,
    Shell,
    console_blocks,
    examples,
    output_matches,
    runnable_examples,
    stray_commands,
)

from ganeti import constants, daemonutil, pathutils

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "doc" / "admin.rst"
GUIDE_DIR = "/tmp/lc"
GUIDE_PREFIX = "127.0.9."
#: Programs the examples use besides the project's own and bash.
NEEDED_TOOLS = ("bash", "curl", "md5sum", "hinfo", "hspace", "hbal")
#: Bound on one example (the slowest take a few seconds).
COMMAND_TIMEOUT = 120.0


def localize(text: str, directory: str, prefix: str) -> str:
    """The guide with its cluster directory and addresses replaced."""
    text = re.sub(re.escape(GUIDE_DIR) + r"\b", directory, text)
    return text.replace(GUIDE_PREFIX, prefix)


# --- The rules, on small samples ------------------------------------------------

SAMPLE = """\
Intro::

  not an example

.. code-block:: console
   :caption: On a real cluster (not run on a local cluster)

   $ gnt-cluster init cluster.example.com

.. code-block:: console

   $ gnt-node add --primary-ip 127.0.9.4 \\
       node4.local-cluster.example
   $ gnt-node add node5
   Failure: prerequisites not met for this operation:
   Cannot resolve ...

   $ true
"""


def test_examples_are_console_commands_with_their_output() -> None:
    blocks = console_blocks(SAMPLE)
    assert [b.runs for b in blocks] == [False, True]
    assert runnable_examples(SAMPLE) == [
        Example(12, "gnt-node add --primary-ip 127.0.9.4 \\\n"
                "    node4.local-cluster.example", ()),
        Example(14, "gnt-node add node5",
                ("Failure: prerequisites not met for this operation:",
                 "Cannot resolve ...")),
        Example(18, "true", ())]
    assert [ex.must_fail for ex in runnable_examples(SAMPLE)] == [
        False, True, False]
    assert stray_commands(SAMPLE) == []
    assert stray_commands(SAMPLE + "\nSee::\n\n  $ gnt-node list\n") == [22]
    assert stray_commands("  # gnt-node list\n") == [1]


def test_output_before_any_command_is_an_error() -> None:
    (block,) = console_blocks(".. code-block:: console\n\n   output\n")
    with pytest.raises(ValueError, match="before any command"):
        examples(block)


@pytest.mark.parametrize(("expected", "actual", "fits"), [
    (["a", "b"], "a\nb\n", True),
    (["a", "b"], "a\nb\nc\n", False),
    (["a", "..."], "a\nb\nc\n", True),
    (["...", "c"], "a\nb\nc\n", True),
    (["a", "...", "c"], "a\nc\n", True),
    (["a", "...", "c"], "a\nb\n", False),
    (["x (pid ...), y"], "x (pid 12), y\n", True),
    (["x (pid ...), y"], "x (pid 12), z\n", False),
    (["Node  Role", "n1 M"], "Node   Role\n\n n1      M  \n", True),
    (["a.b"], "axb\n", False),
])
def test_output_matching(expected: list[str], actual: str, fits: bool) -> None:
    assert output_matches(expected, actual) is fits


def test_the_shell_runs_commands_as_one_terminal_session(tmp_path: Path
                                                       ) -> None:
    shell = Shell(str(tmp_path), {"PATH": os.environ["PATH"]}, str(tmp_path))
    try:
        assert shell.run("x=1; cd /", 10) == (0, "")
        assert shell.run("echo $x $PWD", 10) == (0, "1 /\n")
        assert shell.run("echo out; echo err >&2; false", 10) == (
            1, "out\nerr\n")
        assert shell.run("echo $?", 10) == (0, "1\n")
        assert shell.run("cat", 10) == (0, "")  # no terminal to wait for
        with pytest.raises(TimeoutError):
            shell.run("sleep 5", 0.2)
    finally:
        shell.close()
    assert shell.proc.returncode is not None


def test_every_shell_example_of_the_guide_is_tested() -> None:
    text = GUIDE.read_text()
    assert stray_commands(text) == [], (
        "doc/admin.rst: commands outside '.. code-block:: console' blocks "
        "are not run by the test")
    blocks = console_blocks(text)
    skipped = [b for b in blocks if not b.runs]
    # Only what cannot run on one machine is left out, and that stays rare.
    assert len(skipped) <= 3, [b.line for b in skipped]
    assert runnable_examples(text)[0].command.startswith(
        f"tools/local-cluster start {GUIDE_DIR} ")


# --- The guide, on a local cluster ------------------------------------------------

DAEMONS = (constants.RAPI, constants.MASTERD, constants.CONFD, constants.MOND,
           constants.NODED)


def _node_roots(directory: str) -> list[pathutils.Paths]:
    """Every node root the examples created (nodes added beyond the
    cluster's first count included)."""
    if not os.path.isdir(directory):
        return []
    return [pathutils.Paths(os.path.join(directory, entry))
            for entry in sorted(os.listdir(directory))
            if entry.startswith("node")
            and os.path.isdir(os.path.join(directory, entry))]


def _running(directory: str) -> list[str]:
    return [f"{paths.root}: {name}" for paths in _node_roots(directory)
            for name in DAEMONS if daemonutil.running_pid(name, paths)]


def _stop_everything(directory: str) -> None:
    for paths in _node_roots(directory):
        for name in DAEMONS:
            daemonutil.stop(name, paths)


def _shell_env() -> dict[str, str]:
    """The environment of a user in a checkout with the virtualenv
    active: nothing of a cluster yet (``env.sh`` sets that)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANETI_")}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                   env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.integration
def test_the_guide_runs_as_written() -> None:
    for tool in NEEDED_TOOLS:
        if shutil.which(tool) is None:
            pytest.skip(f"the guide's examples use {tool}, not installed here")
    base = short_dir()
    directory = os.path.join(base, "lc")
    text = localize(GUIDE.read_text(), directory, _free_prefix())
    shell = Shell(str(REPO), _shell_env(), base)
    try:
        for ex in runnable_examples(text):
            where = f"doc/admin.rst:{ex.line}: $ {ex.command}"
            try:
                status, output = shell.run(ex.command, COMMAND_TIMEOUT)
            except (TimeoutError, EOFError) as err:
                pytest.fail(f"{where}\n{err}")
            shown = "\n".join(ex.expected) or "(nothing checked)"
            if ex.must_fail:
                assert status != 0, f"{where}\nshould fail, exited 0:\n{output}"
            else:
                assert status == 0, f"{where}\nexited {status}:\n{output}"
            assert output_matches(ex.expected, output), (
                f"{where}\nthe guide shows:\n{shown}\nthe command printed:\n"
                f"{output}")
        # The guide's last example stops the cluster.
        assert _running(directory) == []
    finally:
        _stop_everything(directory)
        shell.close()
        shutil.rmtree(base, ignore_errors=True)
