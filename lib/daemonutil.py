"""Start, stop and check the daemons of this node (``daemon-util``).

Everything works under the current root (``GANETI_ROOTDIR``): the pid
file of a daemon is ``pathutils.get().pid_file(name)``, so the daemons of
several nodes sharing a machine are told apart by their roots.

Starting runs the daemon's launcher (which detaches itself once its
start-up checks pass) and waits for the launcher to return; a failed
check is reported with the daemon's own message.  The launchers are
found next to this package in a checkout (``daemons/``) and in the
configured ``sbindir`` in an installation.  The child gets this
process's environment plus a ``PYTHONPATH`` that finds this package.

Stopping sends SIGTERM to the pid in the pid file and waits (bounded)
until the daemon released its pid file lock; SIGKILL follows if it does
not stop in time.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Final

import ganeti
from ganeti import constants, daemon, errors, pathutils
from ganeti.utils import process

#: Daemons this tool knows (Ganeti's names).
DAEMONS: Final = (constants.MASTERD, constants.NODED, constants.RAPI,
                  constants.CONFD, constants.MOND)
#: Bound on waiting for a daemon to start or stop.
WAIT_TIMEOUT: Final = 60.0
#: Pause between two looks at a pid file.
_POLL: Final = 0.02


def package_parent() -> str:
    """The directory holding the ``ganeti`` package (for PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(ganeti.__file__)))


def _checkout_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(ganeti.__file__)))


def launcher(name: str) -> str:
    """The path of a daemon's (or daemon-util's) launcher."""
    if name not in (*DAEMONS, "daemon-util"):
        raise errors.ParameterError(
            f"Unknown daemon '{name}' (known: {', '.join(DAEMONS)})",
            errors.ErrorCode.INVAL)
    for directory in (os.path.join(_checkout_dir(), "daemons"),
                      pathutils.SBINDIR):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise errors.OpExecError(
        f"Cannot find the launcher of {name} (looked in "
        f"{os.path.join(_checkout_dir(), 'daemons')} and {pathutils.SBINDIR})",
        errors.ErrorCode.ENVIRON)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, with PYTHONPATH finding this package."""
    env = dict(os.environ)
    parts = [package_parent()]
    if env.get("PYTHONPATH"):
        parts += [p for p in env["PYTHONPATH"].split(os.pathsep)
                  if p and p not in parts]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    if extra:
        env.update(extra)
    return env


def pid_file(name: str, paths: pathutils.Paths | None = None) -> str:
    return (paths or pathutils.get()).pid_file(name)


def is_running(name: str, paths: pathutils.Paths | None = None) -> bool:
    """Whether the daemon of this root holds its pid file."""
    return daemon.is_running(pid_file(name, paths))


def running_pid(name: str, paths: pathutils.Paths | None = None) -> int | None:
    """The pid of the running daemon, or None."""
    path = pid_file(name, paths)
    if not daemon.is_running(path):
        return None
    return daemon.read_pid(path)


def start(name: str, args: Sequence[str] = (), *,
          env: Mapping[str, str] | None = None,
          timeout: float = WAIT_TIMEOUT,
          wrapper: Sequence[str] = ()) -> None:
    """Start a daemon under the current root (or ``env``'s root) unless it
    already runs; raise with the daemon's message if it refused.
    ``wrapper`` goes before the command (``ip netns exec NS``: the fault
    harness runs a node daemon in a network namespace of its own)."""
    extra = dict(env or {})
    root = extra.get(pathutils.ROOT_ENV, os.environ.get(pathutils.ROOT_ENV, ""))
    paths = pathutils.Paths(root.rstrip("/"))
    if is_running(name, paths):
        if _holder_alive(name, paths):
            return
        _wait_released(name, paths, timeout)
    res = process.run_cmd([*wrapper, sys.executable, launcher(name), *args],
                          env=child_env(extra), timeout=timeout)
    if res.failed:
        detail = " ".join(res.output.split()) or res.fail_reason
        raise errors.OpExecError(f"Cannot start {name}: {detail}",
                                 errors.ErrorCode.ENVIRON)
    deadline = time.monotonic() + timeout
    while not is_running(name, paths):
        if time.monotonic() > deadline:
            raise errors.OpExecError(
                f"{name} did not start within {timeout:.0f}s (see "
                f"{paths.log_file(name)})", errors.ErrorCode.ENVIRON)
        time.sleep(_POLL)


def _holder_alive(name: str, paths: pathutils.Paths) -> bool:
    """Whether the process named in a locked pid file still runs."""
    pid = daemon.read_pid(pid_file(name, paths))
    return pid is not None and process_alive(pid)


def _wait_released(name: str, paths: pathutils.Paths, timeout: float) -> None:
    """Wait until a pid file whose process is gone is unlocked.

    The lock outlives the recorded process when that one is still being
    torn down or a process it forked holds the lock's file description;
    returning "already running" then left no daemon at all."""
    deadline = time.monotonic() + timeout
    while is_running(name, paths):
        if time.monotonic() > deadline:
            raise errors.OpExecError(
                f"Cannot start {name}: its pid file "
                f"{pid_file(name, paths)} is still locked {timeout:.0f}s "
                "after its process ended (a process it forked may hold "
                "it)", errors.ErrorCode.ENVIRON)
        time.sleep(_POLL)


def restart(name: str, args: Sequence[str] = (), *,
            env: Mapping[str, str] | None = None,
            timeout: float = WAIT_TIMEOUT) -> None:
    """Stop the daemon of this root (or ``env``'s root) if it runs and
    wait until it is gone, then start it anew.

    Preparing a node for ``gnt-node add`` uses it (as Ganeti does): a
    node daemon still running there may be the one of a removal that
    has just been answered, which stops itself a moment later
    (``node_leave_cluster``); merely starting "unless it runs" would keep
    that dying daemon.  A restart also makes the daemon read the
    cluster certificate just written.
    """
    root = dict(env or {}).get(pathutils.ROOT_ENV,
                               os.environ.get(pathutils.ROOT_ENV, ""))
    stop(name, pathutils.Paths(root.rstrip("/")), timeout=timeout)
    start(name, args, env=env, timeout=timeout)


def stop(name: str, paths: pathutils.Paths | None = None, *,
         timeout: float = WAIT_TIMEOUT) -> bool:
    """Stop a daemon; True if one was running."""
    if name not in DAEMONS:
        raise errors.ParameterError(f"Unknown daemon '{name}'",
                                    errors.ErrorCode.INVAL)
    paths = paths or pathutils.get()
    pid = running_pid(name, paths)
    if pid is None:
        return False
    _signal(pid, signal.SIGTERM)
    # Done when the process is gone, not merely when it released its pid
    # file (it still logs and exits after that).
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(_POLL)
            break
        time.sleep(_POLL)
    return True


def _task_state(stat_path: str) -> str | None:
    """The state letter in a ``/proc/.../stat`` file (None: gone)."""
    try:
        with open(stat_path, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs: whether any of its threads is not a zombie.

    The main thread's state alone does not tell: after a SIGKILL the
    main thread of a multi-threaded process turns zombie first while the
    other threads still finish what they were doing in the kernel (an
    fsync, say), and the process's open files, its pid-file lock among
    them, are released only when the last thread has exited.  Starting
    the daemon again in that window found its pid file still locked.
    """
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return any(_task_state(f"/proc/{pid}/task/{tid}/stat")
                   not in (None, "Z", "X") for tid in tids)
    except (OSError, IndexError):
        return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
    except OSError as err:
        raise errors.OpExecError(f"Cannot signal pid {pid}: {err.strerror}",
                                 errors.ErrorCode.ENVIRON) from None


USAGE: Final = ("Usage: daemon-util {start|stop|restart|check} DAEMON "
                 "[ARGS...]\n"
                f"Daemons: {', '.join(DAEMONS)}")


def main(argv: Sequence[str]) -> int:
    """``daemon-util start|stop|restart|check DAEMON [ARGS]`` (exit codes: 0 ok;
    ``check``: 1 when not running; 2 usage; 1 errors)."""
    if len(argv) < 2 or argv[0] not in ("start", "stop", "restart", "check"):
        print(USAGE, file=sys.stderr)
        return errors.EXIT_USAGE
    action, name, args = argv[0], argv[1], list(argv[2:])
    if name not in DAEMONS:
        print(f"daemon-util: unknown daemon '{name}'\n{USAGE}", file=sys.stderr)
        return errors.EXIT_USAGE
    try:
        if action == "start":
            start(name, args)
        elif action == "restart":
            restart(name, args)
        elif action == "stop":
            stop(name)
        else:
            pid = running_pid(name)
            if pid is None:
                print(f"{name} is not running")
                return errors.EXIT_FAILURE
            print(f"{name} is running (pid {pid})")
    except errors.GenericError as err:
        print(f"daemon-util: {err}", file=sys.stderr)
        return err.exit_code
    return errors.EXIT_SUCCESS
