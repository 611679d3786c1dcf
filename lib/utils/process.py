"""Running external commands, never through a shell.

:func:`run_cmd` runs one argv list in its own session (and so its own
process group), optionally with a timeout.  A timeout kills the whole group
-- the command and anything it started -- with ``SIGTERM``, a short grace
period, then ``SIGKILL``, and the command is always reaped.  Whatever
happens to the command is reported in a :class:`RunResult`; only misuse by
the caller (a string instead of an argv list) raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal as _signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import IO

from ganeti import errors

#: ``PATH`` used when the environment is reset.
MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Seconds between ``SIGTERM`` and ``SIGKILL`` when a command times out.
KILL_GRACE = 1.0

_GRACE_POLL = 0.01


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of one command.

    ``exit_code`` is set when the command exited, ``signal`` when a signal
    killed it; both are None when it could not be started.  ``fail_reason``
    is one line ("exited with exit code 3", "killed by signal 9", "timed out
    after 2.0 s", "cannot execute ...") and empty on success.
    """

    cmd: list[str]
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    failed: bool
    fail_reason: str
    timed_out: bool = False

    @property
    def output(self) -> str:
        """stdout followed by stderr."""
        return self.stdout + self.stderr

    @property
    def cmd_str(self) -> str:
        """The command as one shell-quoted line (for messages only)."""
        return shlex.join(self.cmd)


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise errors.ProgrammerError(
            f"Command must be a list of arguments, not a string: {argv!r:.80}")
    try:
        cmd = list(argv)
    except TypeError as err:
        raise errors.ProgrammerError(
            f"Command must be a list of strings, got {type(argv).__name__}"
        ) from err
    if not cmd:
        raise errors.ProgrammerError("Command must not be empty")
    for arg in cmd:
        if not isinstance(arg, str):
            raise errors.ProgrammerError(
                f"Command arguments must be strings, got {arg!r:.60}")
        if "\0" in arg:
            raise errors.ProgrammerError(
                f"Command argument contains a NUL byte: {arg!r:.60}")
    return cmd


def build_env(env: Mapping[str, str] | None, reset_env: bool) -> dict[str, str]:
    """The environment for a child: os.environ (or a minimal PATH when
    ``reset_env``) updated with ``env``."""
    base = {"PATH": MINIMAL_PATH} if reset_env else dict(os.environ)
    if env is not None:
        for key, value in env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise errors.ProgrammerError(
                    f"Environment entries must be strings, got "
                    f"{key!r:.40}={value!r:.40}")
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise errors.ProgrammerError(
                    f"Invalid environment variable name or value: {key!r:.40}")
            base[key] = value
    return base


def _describe_status(code: int) -> tuple[int | None, int | None, str]:
    """(exit_code, signal, reason) from a Popen return code."""
    if code < 0:
        return None, -code, f"killed by signal {-code}"
    if code > 0:
        return code, None, f"exited with exit code {code}"
    return 0, None, ""


def _leader_exited(pid: int) -> bool:
    """Whether the child is a zombie, without reaping it (so its process
    group id cannot be reused before we signal the group)."""
    try:
        info = os.waitid(os.P_PID, pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """TERM the child's process group, wait up to ``grace`` for the child,
    then KILL the group.  The child stays unreaped until the end, which
    keeps the group id ours while we signal it."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, _signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not _leader_exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(_GRACE_POLL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, _signal.SIGKILL)


def run_cmd(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            reset_env: bool = False, cwd: str | None = None,
            timeout: float | None = None, input: bytes | None = None,
            output_file: str | None = None,
            kill_grace: float = KILL_GRACE,
            pass_fds: Sequence[int] = ()) -> RunResult:
    """Run ``argv`` (no shell) and report what happened.

    ``env`` is merged into ``os.environ`` (or into a minimal ``PATH`` with
    ``reset_env``).  ``input`` is fed to stdin (otherwise stdin is
    ``/dev/null``).  With ``output_file`` stdout and stderr are appended to
    that file instead of being captured.  ``pass_fds`` stay open in the
    child (qemu gets its tap devices so).  A command that cannot be started
    gives a failed result, not an exception.
    """
    cmd = _check_argv(argv)
    child_env = build_env(env, reset_env)
    if timeout is not None and (not isinstance(timeout, (int, float))
                                or isinstance(timeout, bool) or timeout < 0):
        raise errors.ProgrammerError(f"Invalid command timeout: {timeout!r}")
    if input is not None and not isinstance(input, bytes):
        raise errors.ProgrammerError(
            f"Command input must be bytes, not {type(input).__name__}")

    def not_started(reason: str) -> RunResult:
        return RunResult(cmd=cmd, exit_code=None, signal=None, stdout="",
                         stderr="", failed=True, fail_reason=reason)

    out_handle: IO[bytes] | None = None
    if output_file is not None:
        try:
            out_handle = open(output_file, "ab")  # noqa: SIM115 closed below
        except OSError as err:
            return not_started(f"cannot open output file {output_file}: "
                               f"{err.strerror or err}")
    try:
        try:
            proc = subprocess.Popen(
                cmd, env=child_env, cwd=cwd, close_fds=True,
                pass_fds=tuple(pass_fds), start_new_session=True,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out_handle if out_handle is not None else subprocess.PIPE,
                stderr=subprocess.STDOUT if out_handle is not None
                else subprocess.PIPE)
        except OSError as err:
            what = err.filename if err.filename is not None else cmd[0]
            return not_started(f"cannot execute {what}: {err.strerror or err}")
        timed_out = False
        try:
            out, err_out = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, kill_grace)
            out, err_out = proc.communicate()
        except BaseException:
            # Interrupted (KeyboardInterrupt...): never leave the group behind.
            _kill_group(proc, 0)
            proc.wait()
            raise
    finally:
        if out_handle is not None:
            out_handle.close()
    exit_code, sig, reason = _describe_status(proc.returncode)
    if timed_out:
        reason = f"timed out after {float(timeout or 0)} s"
    return RunResult(
        cmd=cmd, exit_code=exit_code, signal=sig,
        stdout=(out or b"").decode("utf-8", "replace"),
        stderr=(err_out or b"").decode("utf-8", "replace"),
        failed=bool(reason), fail_reason=reason, timed_out=timed_out)
