"""Running OS scripts: create, import, export, rename and verify.

Every script runs without a shell, with the OS directory as its working
directory, in its own session (a timeout kills the script and everything
it started), with exactly the environment it is given plus a fixed
``PATH`` -- nothing of the node daemon's environment leaks in.

The output of the instance scripts (stdout and stderr; for ``export``,
stderr only, as stdout is the dump) goes to one log file per operation
under ``pathutils.get().os_log_dir``, named
``<op>-<os>-<rest of log_name>-<timestamp>.log`` (``add-demo-inst1-...``).
A failure raises :class:`~ganeti.errors.OpExecError` with a one-line
message naming the script, why it failed and the log file;
``err.details["log_tail"]`` holds the last :data:`LOG_TAIL_LINES` lines of
output and ``err.details["log_path"]`` the log file.

``verify parameters`` (API 20) changes nothing, so its output is captured
rather than logged, and a refusal is a
:class:`~ganeti.errors.ParameterError` carrying the same ``log_tail``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from ganeti import constants, errors, pathutils
from ganeti.osdef.definition import InvalidOS, OsDefinition
from ganeti.osdef.environment import SCRIPT_PATH, check_env, verify_environment
from ganeti.utils import process

#: Lines of output kept in an error's ``details["log_tail"]``.
LOG_TAIL_LINES: Final = 20
#: Bytes read from the end of a log to find its tail.
_TAIL_BYTES: Final = 64 * 1024
#: Longest part of the last output line put in an error message.
_MESSAGE_LINE_MAX: Final = 200
#: Seconds the verify script may take.
VERIFY_TIMEOUT: Final = 60.0
#: Seconds between SIGTERM and SIGKILL when a script times out.
KILL_GRACE: Final = 1.0
_GRACE_POLL: Final = 0.01
_LOG_ATTEMPTS: Final = 100


@dataclass(frozen=True)
class OsScriptResult:
    """A script that succeeded."""

    os_name: str
    script: str
    log_path: str


# --- Log files ---------------------------------------------------------------

def _safe_component(text: str, what: str) -> str:
    if not text or "/" in text or "\0" in text or text in (".", ".."):
        raise errors.ProgrammerError(f"Invalid {what} for an OS log file name:"
                                     f" {text!r:.60}")
    return text


def log_file_name(log_name: str, os_name: str, when: float) -> str:
    """``<op>-<os>-<rest>-<timestamp>.log`` for ``log_name`` ``<op>-<rest>``
    (a ``log_name`` without ``-`` gives ``<log_name>-<os>-<timestamp>``)."""
    _safe_component(log_name, "log name")
    _safe_component(os_name, "OS name")
    op, sep, rest = log_name.partition("-")
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(when))
    micro = int((when % 1) * 1_000_000)
    parts = [op, os_name, rest] if sep and rest else [op, os_name]
    return "-".join([*parts, f"{stamp}.{micro:06d}"]) + ".log"


def _open_log(log_name: str, os_name: str,
              clock: Callable[[], float]) -> tuple[int, str]:
    """Create a new log file (never reusing one); returns (fd, path)."""
    log_dir = pathutils.get().os_log_dir
    try:
        os.makedirs(log_dir, mode=0o750, exist_ok=True)
    except OSError as err:
        raise errors.OpExecError(
            f"Cannot create the OS log directory {log_dir}: "
            f"{err.strerror or err}", errors.ErrorCode.ENVIRON) from err
    base = log_file_name(log_name, os_name, clock())[:-len(".log")]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
    for attempt in range(_LOG_ATTEMPTS):
        suffix = f"-{attempt}" if attempt else ""
        path = os.path.join(log_dir, f"{base}{suffix}.log")
        try:
            return os.open(path, flags, 0o640), path
        except FileExistsError:
            continue
        except OSError as err:
            raise errors.OpExecError(
                f"Cannot create the OS log file {path}: {err.strerror or err}",
                errors.ErrorCode.ENVIRON) from err
    raise errors.OpExecError(f"Cannot create a unique OS log file for "
                             f"{base} in {log_dir}", errors.ErrorCode.ENVIRON)


def tail_lines(text: str, count: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``count`` lines of ``text`` (trailing blank lines dropped)."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines[-count:] if count > 0 else []


def read_log_tail(path: str, count: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``count`` lines of a log file ([] if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return []
    lines = tail_lines(data.decode("utf-8", "replace"), count + 1)
    if size > _TAIL_BYTES and len(lines) > count:
        lines = lines[1:]  # the first line read may be cut
    return lines[-count:] if count > 0 else []


def _one_line(text: str) -> str:
    """``text`` made printable on one line, shortened."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(clean) > _MESSAGE_LINE_MAX:
        clean = clean[:_MESSAGE_LINE_MAX - 3] + "..."
    return clean


# --- Processes ---------------------------------------------------------------

def _leader_exited(pid: int) -> bool:
    """Whether the script has exited, without reaping it: its process
    group id stays ours while we signal the group."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not _leader_exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(_GRACE_POLL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait(proc: subprocess.Popen[bytes], timeout: float | None,
          grace: float) -> tuple[int, bool]:
    """(return code, timed out) once the script has ended."""
    try:
        return proc.wait(timeout), False
    except subprocess.TimeoutExpired:
        _kill_group(proc, grace)
        return proc.wait(), True
    except BaseException:
        _kill_group(proc, 0)
        proc.wait()
        raise


def _describe(code: int, timed_out: bool, timeout: float | None) -> str:
    if timed_out:
        return f"timed out after {float(timeout or 0)} s"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with exit code {code}"


def _open_stream(path: str, *, write: bool, what: str) -> int:
    flags = (os.O_WRONLY | os.O_CREAT | os.O_TRUNC if write
             else os.O_RDONLY) | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except OSError as err:
        raise errors.OpExecError(f"Cannot open {what} {path}: "
                                 f"{err.strerror or err}",
                                 errors.ErrorCode.ENVIRON) from err


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, (int, float))
                                or timeout < 0):
        raise errors.ProgrammerError(f"Invalid script timeout: {timeout!r}")


def run_os_script(osdef: OsDefinition, script: str, env: Mapping[str, str], *,
                  log_name: str, args: Sequence[str] = (),
                  timeout: float | None = None,
                  stdin_path: str | None = None,
                  stdout_path: str | None = None,
                  kill_grace: float = KILL_GRACE,
                  clock: Callable[[], float] = time.time) -> OsScriptResult:
    """Run one script of ``osdef`` with exactly ``env`` (plus ``PATH``).

    stdin comes from ``stdin_path`` (else ``/dev/null``); stdout goes to
    ``stdout_path`` when given (export) and otherwise, like stderr, to the
    operation's log file.  A failure raises
    :class:`~ganeti.errors.OpExecError` (see the module documentation).
    """
    script_path = osdef.script_path(script)
    _check_timeout(timeout)
    # A clean environment: a fixed PATH (which ``env`` may restate) and
    # what the caller gives, nothing of this daemon's own environment.
    run_env = process.build_env(dict({"PATH": SCRIPT_PATH}, **env),
                                reset_env=True)
    check_env(run_env)
    argv = [script_path, *args]
    log_fd, log_path = _open_log(log_name, osdef.name, clock)
    handles: list[int] = [log_fd]
    try:
        stdin_fd = (_open_stream(stdin_path, write=False, what="import source")
                    if stdin_path is not None else None)
        if stdin_fd is not None:
            handles.append(stdin_fd)
        stdout_fd = (_open_stream(stdout_path, write=True,
                                  what="export destination")
                     if stdout_path is not None else None)
        if stdout_fd is not None:
            handles.append(stdout_fd)
        try:
            proc = subprocess.Popen(
                argv, env=run_env, cwd=osdef.path, close_fds=True,
                start_new_session=True,
                stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
                stdout=stdout_fd if stdout_fd is not None else log_fd,
                stderr=log_fd)
        except OSError as err:
            reason = f"cannot execute {script_path}: {err.strerror or err}"
            _raise_failure(osdef, script, reason, log_path, exit_code=None,
                           timed_out=False)
        code, timed_out = _wait(proc, timeout, kill_grace)
    finally:
        for fd in handles:
            os.close(fd)
    if code != 0 or timed_out:
        _raise_failure(osdef, script, _describe(code, timed_out, timeout),
                       log_path, exit_code=code if code >= 0 else None,
                       timed_out=timed_out)
    return OsScriptResult(os_name=osdef.name, script=script, log_path=log_path)


def _raise_failure(osdef: OsDefinition, script: str, reason: str,
                   log_path: str, *, exit_code: int | None,
                   timed_out: bool) -> NoReturn:
    tail = read_log_tail(log_path)
    last = _one_line(tail[-1]) if tail else ""
    message = (f"OS {script} script of {osdef.name!r} failed ({reason}), "
               f"see {log_path}")
    if last:
        message += f"; last line of output: {last}"
    code = errors.ErrorCode.TIMEOUT if timed_out else errors.ErrorCode.EXEC
    raise errors.OpExecError(message, code, os_name=osdef.name, script=script,
                             log_path=log_path, log_tail=tail,
                             exit_code=exit_code, timed_out=timed_out)


# --- Operations --------------------------------------------------------------

def _need(env: Mapping[str, str], key: str) -> str:
    try:
        return env[key]
    except KeyError:
        raise errors.ProgrammerError(
            f"The OS environment has no {key} (build it with "
            f"os_environment)") from None


def _disk_path(env: Mapping[str, str], disk_index: int) -> str:
    if isinstance(disk_index, bool) or not isinstance(disk_index, int) \
            or disk_index < 0:
        raise errors.ProgrammerError(f"Invalid disk index {disk_index!r}")
    return _need(env, f"DISK_{disk_index}_PATH")


def create_instance(osdef: OsDefinition, env: Mapping[str, str], *,
                    reinstall: bool = False, timeout: float | None = None,
                    log_name: str | None = None) -> OsScriptResult:
    """Install the instance's disks with the ``create`` script.

    A reinstall also sets ``INSTANCE_REINSTALL=1``; its log is named
    ``reinstall-...`` instead of ``add-...``.
    """
    run_env = dict(env)
    if reinstall:
        run_env["INSTANCE_REINSTALL"] = "1"
    op = "reinstall" if reinstall else "add"
    name = log_name or f"{op}-{_need(env, 'INSTANCE_NAME')}"
    return run_os_script(osdef, constants.OS_SCRIPT_CREATE, run_env,
                         log_name=name, timeout=timeout)


def import_instance(osdef: OsDefinition, env: Mapping[str, str], *,
                    disk_index: int, stdin_path: str,
                    timeout: float | None = None,
                    log_name: str | None = None) -> OsScriptResult:
    """Restore disk ``disk_index`` from the dump in ``stdin_path``.

    Sets ``IMPORT_DEVICE``, ``IMPORT_DISK_PATH`` (the same path) and
    ``IMPORT_INDEX``, whatever the API (as Ganeti).
    """
    path = _disk_path(env, disk_index)
    run_env = dict(env, IMPORT_DEVICE=path, IMPORT_DISK_PATH=path,
                   IMPORT_INDEX=str(disk_index))
    name = log_name or f"import-{_need(env, 'INSTANCE_NAME')}-disk{disk_index}"
    return run_os_script(osdef, constants.OS_SCRIPT_IMPORT, run_env,
                         log_name=name, timeout=timeout, stdin_path=stdin_path)


def export_instance(osdef: OsDefinition, env: Mapping[str, str], *,
                    disk_index: int, stdout_path: str,
                    timeout: float | None = None,
                    log_name: str | None = None) -> OsScriptResult:
    """Dump disk ``disk_index`` into ``stdout_path`` (created or truncated).

    Sets ``EXPORT_DEVICE``, ``EXPORT_DISK_PATH`` (the same path) and
    ``EXPORT_INDEX``, whatever the API (as Ganeti); only stderr goes to
    the log.
    """
    path = _disk_path(env, disk_index)
    run_env = dict(env, EXPORT_DEVICE=path, EXPORT_DISK_PATH=path,
                   EXPORT_INDEX=str(disk_index))
    name = log_name or f"export-{_need(env, 'INSTANCE_NAME')}-disk{disk_index}"
    return run_os_script(osdef, constants.OS_SCRIPT_EXPORT, run_env,
                         log_name=name, timeout=timeout,
                         stdout_path=stdout_path)


def rename_instance(osdef: OsDefinition, env: Mapping[str, str], *,
                    old_name: str, timeout: float | None = None,
                    log_name: str | None = None) -> OsScriptResult:
    """Tell the OS the instance was renamed: ``env`` describes the instance
    under its new name; ``OLD_INSTANCE_NAME`` is set to ``old_name``."""
    if not isinstance(old_name, str) or not old_name or "\0" in old_name:
        raise errors.ProgrammerError(f"Invalid old instance name "
                                     f"{old_name!r:.60}")
    run_env = dict(env, OLD_INSTANCE_NAME=old_name)
    name = log_name or f"rename-{old_name}-{_need(env, 'INSTANCE_NAME')}"
    return run_os_script(osdef, constants.OS_SCRIPT_RENAME, run_env,
                         log_name=name, timeout=timeout)


def verify_parameters(osdef: OsDefinition, osparams: Mapping[str, Any], *,
                      variant: str | None = None,
                      timeout: float = VERIFY_TIMEOUT) -> None:
    """Have the OS check its parameters (``verify parameters``, API 20).

    Names must be declared in ``parameters.list`` and values made of safe
    characters before the script runs.  An OS speaking API 15 or 10 has no
    parameters: none given is fine (nothing runs), any given is refused.
    A non-zero exit is a :class:`~ganeti.errors.ParameterError` whose
    ``details["log_tail"]`` holds the script's last lines of output.
    """
    if not osdef.supports_parameters:
        if osparams:
            names = ", ".join(sorted(map(str, osparams)))
            raise errors.ParameterError(
                f"OS {osdef.name!r} speaks OS API {osdef.api_version}, which "
                f"has no OS parameters (got {names})", parameter="osparams")
        return
    _check_timeout(timeout)
    env = verify_environment(osdef, osparams, variant=variant)
    script_path = osdef.script_path(constants.OS_SCRIPT_VERIFY)
    result = process.run_cmd([script_path, "parameters"], env=env,
                             reset_env=True, cwd=osdef.path, timeout=timeout,
                             kill_grace=KILL_GRACE)
    if not result.failed:
        return
    tail = tail_lines(result.output)
    last = _one_line(tail[-1]) if tail else ""
    suffix = f": {last}" if last else ""
    details: dict[str, Any] = {"os_name": osdef.name, "log_tail": tail,
                               "exit_code": result.exit_code}
    if result.exit_code is not None:
        raise errors.ParameterError(
            f"OS {osdef.name!r} rejected the parameters "
            f"({result.fail_reason}){suffix}", parameter="osparams", **details)
    raise InvalidOS(f"OS verify script of {osdef.name!r} failed "
                    f"({result.fail_reason}){suffix}", path=osdef.path,
                    reason=result.fail_reason, **details)
