"""Tests for ganeti.utils.process.run_cmd: results, environment, input and
output files, and timeouts that kill the whole process group."""

from __future__ import annotations

import dataclasses
import os
import select
import shutil
import signal
import sys

import pytest

from ganeti import errors
from ganeti.utils import process
from ganeti.utils.process import RunResult, run_cmd

SH = shutil.which("sh") or "/bin/sh"
ENV = shutil.which("env") or "/usr/bin/env"


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited.

    A killed process closes its files (our pipe) before it is marked as
    exited, so wait for the exit event on a pidfd instead of sampling its
    state once.  The 30 s bound only stops a broken test from hanging.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], 30)
        return bool(readable)
    finally:
        os.close(pidfd)


def _not_our_zombie(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_success():
    result = run_cmd([SH, "-c", "echo hello"])
    assert isinstance(result, RunResult)
    assert result.cmd == [SH, "-c", "echo hello"]
    assert (result.exit_code, result.signal) == (0, None)
    assert not result.failed and result.fail_reason == ""
    assert result.stdout == "hello\n" and result.stderr == ""
    assert not result.timed_out


def test_exit_code_and_streams():
    result = run_cmd([SH, "-c", "echo out; echo err >&2; exit 3"])
    assert result.failed
    assert result.exit_code == 3 and result.signal is None
    assert result.fail_reason == "exited with exit code 3"
    assert result.stdout == "out\n" and result.stderr == "err\n"
    assert result.output == "out\nerr\n"


def test_killed_by_signal():
    result = run_cmd([SH, "-c", "kill -9 $$"])
    assert result.failed
    assert result.exit_code is None and result.signal == signal.SIGKILL
    assert result.fail_reason == "killed by signal 9"


def test_result_is_frozen():
    result = run_cmd([SH, "-c", "true"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.exit_code = 5  # type: ignore[misc]
    assert result.cmd_str == f"{SH} -c true"


@pytest.mark.parametrize("bad", ["ls -l", b"ls", []])
def test_bad_argv_rejected(bad):
    with pytest.raises(errors.ProgrammerError):
        run_cmd(bad)


def test_non_string_argument_rejected():
    with pytest.raises(errors.ProgrammerError, match="strings"):
        run_cmd([SH, 3])  # type: ignore[list-item]
    with pytest.raises(errors.ProgrammerError, match="NUL"):
        run_cmd([SH, "a\0b"])
    with pytest.raises(errors.ProgrammerError):
        run_cmd(42)  # type: ignore[arg-type]


def test_bad_options_rejected():
    with pytest.raises(errors.ProgrammerError, match="timeout"):
        run_cmd([SH, "-c", "true"], timeout=-1)
    with pytest.raises(errors.ProgrammerError, match="bytes"):
        run_cmd([SH, "-c", "true"], input="text")  # type: ignore[arg-type]
    with pytest.raises(errors.ProgrammerError, match="Environment"):
        run_cmd([SH, "-c", "true"], env={"A": 1})  # type: ignore[dict-item]
    with pytest.raises(errors.ProgrammerError, match="environment"):
        run_cmd([SH, "-c", "true"], env={"A=B": "1"})


def test_missing_executable(tmp_path):
    missing = str(tmp_path / "no-such-program")
    result = run_cmd([missing, "arg"])
    assert result.failed
    assert result.exit_code is None and result.signal is None
    assert missing in result.fail_reason
    assert "cannot execute" in result.fail_reason
    assert "\n" not in result.fail_reason


def test_not_executable(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o644)
    result = run_cmd([str(script)])
    if os.getuid() == 0 and result.exit_code == 0:
        pytest.skip("root can execute anything here")
    assert result.failed and "cannot execute" in result.fail_reason


def test_env_merged_into_environ(monkeypatch):
    monkeypatch.setenv("GNT_TEST_OUTER", "outer")
    result = run_cmd([SH, "-c", 'echo "$GNT_TEST_OUTER $GNT_TEST_INNER"'],
                     env={"GNT_TEST_INNER": "inner"})
    assert result.stdout == "outer inner\n"


def test_reset_env(monkeypatch):
    monkeypatch.setenv("GNT_TEST_OUTER", "outer")
    result = run_cmd([ENV], env={"FOO": "bar"}, reset_env=True)
    assert sorted(result.stdout.splitlines()) == [
        "FOO=bar", f"PATH={process.MINIMAL_PATH}"]
    bare = run_cmd([ENV], reset_env=True)
    assert bare.stdout.splitlines() == [f"PATH={process.MINIMAL_PATH}"]


def test_cwd(tmp_path):
    result = run_cmd([SH, "-c", "pwd -P"], cwd=str(tmp_path))
    assert result.stdout.strip() == os.path.realpath(tmp_path)
    missing = run_cmd([SH, "-c", "true"], cwd=str(tmp_path / "nowhere"))
    assert missing.failed and "nowhere" in missing.fail_reason


def test_input():
    result = run_cmd(["cat"], input=b"some input\n")
    assert result.stdout == "some input\n"
    no_input = run_cmd(["cat"])
    assert no_input.stdout == "" and not no_input.failed


def test_output_file_appends(tmp_path):
    log = tmp_path / "cmd.log"
    log.write_text("before\n")
    first = run_cmd([SH, "-c", "echo one; echo two >&2"], output_file=str(log))
    second = run_cmd([SH, "-c", "echo three; exit 1"], output_file=str(log))
    assert first.stdout == first.stderr == "" and not first.failed
    assert second.exit_code == 1
    assert log.read_text() == "before\none\ntwo\nthree\n"


def test_output_file_unwritable(tmp_path):
    result = run_cmd([SH, "-c", "true"],
                     output_file=str(tmp_path / "no" / "log"))
    assert result.failed and "cannot open output file" in result.fail_reason


def test_undecodable_output_is_replaced():
    result = run_cmd([sys.executable, "-c",
                      "import sys; sys.stdout.buffer.write(b'a\\xffb')"])
    assert result.stdout == "a\ufffdb"


def test_timeout_kills_process_group(tmp_path):
    # The child starts a grandchild sleeper, reports both pids, then sleeps.
    script = "sleep 300 & echo $$ $!; echo partial >&2; wait"
    # The timeout leaves the shell ample time to start both and report.
    result = run_cmd([SH, "-c", script], timeout=2.0)
    assert result.failed and result.timed_out
    assert result.fail_reason == "timed out after 2.0 s"
    assert result.signal == signal.SIGTERM
    child, grandchild = (int(x) for x in result.stdout.split())
    assert result.stderr == "partial\n"
    assert _not_our_zombie(child)
    assert _gone(child)
    assert _gone(grandchild)


def test_timeout_escalates_to_kill(tmp_path):
    # Everything in the group ignores SIGTERM; the grace period ends in KILL.
    script = "trap '' TERM; sleep 300 & echo $$ $!; wait; wait"
    result = run_cmd([SH, "-c", script], timeout=2.0, kill_grace=0.2)
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    child, grandchild = (int(x) for x in result.stdout.split())
    assert _not_our_zombie(child)
    assert _gone(grandchild)


def test_no_timeout_when_fast():
    result = run_cmd([SH, "-c", "exit 0"], timeout=30)
    assert not result.failed and not result.timed_out


def test_build_env_does_not_modify_environ(monkeypatch):
    monkeypatch.delenv("GNT_TEST_X", raising=False)
    env = process.build_env({"GNT_TEST_X": "1"}, reset_env=False)
    assert env["GNT_TEST_X"] == "1"
    assert "GNT_TEST_X" not in os.environ
