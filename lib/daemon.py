"""What every daemon shares: options, pid file, detaching, logging, signals.

A daemon main is ``daemon.main(DaemonSpec(...), argv)``: it parses the
common options (``-f/--foreground``, ``-d/--debug``, ``--pid-file``,
``--log-file``) plus the daemon's own, takes the pid file (an exclusive
lock on it: a second copy on the same root refuses to start with a clear
message), detaches unless in the foreground, sets up logging, installs
SIGTERM/SIGINT handlers that ask the daemon to stop, sets the garbage
collector's thresholds (:data:`GC_THRESHOLDS`) and runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final, Protocol

from ganeti import errors, pathutils
from ganeti.utils import filelock, io

#: The cyclic garbage collector's thresholds in the daemons.  Python's
#: first-generation threshold (700 new containers) made an answer of
#: 10,000 instances, whose hundreds of thousands of lists, dicts and
#: tuples all live until it is sent, run the collector hundreds of times,
#: and the older generations over the whole configuration: half the
#: master's CPU time of ``/2/instances?bulk=1``.  Garbage without cycles
#: is freed at once either way; cycles wait a little longer.
GC_THRESHOLDS: Final = (10_000, 10, 10)

LOG_FORMAT = "%(asctime)s: %(name)s pid=%(process)d %(levelname)s %(message)s"


@dataclasses.dataclass
class DaemonContext:
    """Handed to a daemon's run function."""

    name: str
    options: argparse.Namespace
    stop_event: threading.Event

    def request_stop(self) -> None:
        self.stop_event.set()


@dataclasses.dataclass
class DaemonSpec:
    name: str
    description: str
    #: Adds the daemon's own options to the parser.
    add_options: Callable[[argparse.ArgumentParser], None] | None
    #: Checks run before detaching (errors reach the terminal); may raise.
    check: Callable[[argparse.Namespace], None] | None
    #: The daemon body; returns the exit code when the stop event is set.
    run: Callable[[DaemonContext], int]
    #: Runs after detaching and logging, before the daemon starts any
    #: thread (the signal relay's included): what must see a process with
    #: one thread, such as locking memory (a thread's stack that exists
    #: at ``mlockall(MCL_CURRENT)`` is locked whole, 8 MiB).
    prepare: Callable[[argparse.Namespace], None] | None = None


def add_listen_options(parser: argparse.ArgumentParser,
                       default_port: int) -> None:
    """``-p/--port`` and ``-b/--bind`` of the daemons that listen."""
    parser.add_argument("-p", "--port", type=int, default=default_port,
                        help="Port to listen on (default %(default)s)")
    parser.add_argument("-b", "--bind", default="0.0.0.0",
                        help="Address to listen on (default: all)")


def check_port(options: argparse.Namespace) -> None:
    if not 0 < options.port < 65536:
        raise errors.UsageError(f"Invalid port {options.port}")


class Server(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def serve_until_stopped(server: Server, ctx: DaemonContext) -> int:
    """Run ``server`` until the daemon is asked to stop."""
    server.start()
    try:
        ctx.stop_event.wait()
    finally:
        server.stop()
    return errors.EXIT_SUCCESS


def build_parser(spec: DaemonSpec) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=spec.name,
                                     description=spec.description)
    parser.add_argument("-f", "--foreground", action="store_true",
                        help="Don't detach from the terminal")
    parser.add_argument("-d", "--debug", action="store_true",
                        help="Log debug messages")
    parser.add_argument("--pid-file", default=None,
                        help="Pid file (default: under the run directory)")
    parser.add_argument("--log-file", default=None,
                        help="Log file (default: under the log directory)")
    parser.add_argument("--version", action="version",
                        version=f"{spec.name} (ganeti) "
                                f"{pathutils.PACKAGE_VERSION}")
    if spec.add_options:
        spec.add_options(parser)
    return parser


class PidFile:
    """A pid file held under an exclusive lock for the daemon's life."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        self._lock = filelock.FileLock(path)
        try:
            self._lock.exclusive(timeout=0)
        except errors.LockTimeoutError:
            self._lock.close()
            pid = read_pid(path)
            raise errors.GenericError(
                f"Another copy is already running (pid {pid}, pid file "
                f"{path})", errors.ErrorCode.STATE) from None
        self.write()

    def write(self) -> None:
        """(Re)write our pid; called again after detaching."""
        fd = self._lock.fd
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._lock.close()


def read_pid(path: str) -> int | None:
    """The pid recorded in a pid file, or None."""
    try:
        text = io.read_file(path).strip()
    except errors.GenericError:
        return None
    return int(text) if text.isdigit() else None


def is_running(pid_path: str) -> bool:
    """Whether a live daemon holds this pid file's lock."""
    if not os.path.exists(pid_path):
        return False
    lock = filelock.FileLock(pid_path)
    try:
        lock.shared(timeout=0)
    except errors.LockTimeoutError:
        return True
    finally:
        lock.close()
    return False


def detach(log_file: str) -> None:
    """Double fork into the background with stdio on the log file."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o077)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def setup_logging(name: str, log_file: str | None, *, debug: bool,
                  to_stderr: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    fmt = logging.Formatter(LOG_FORMAT.replace("%(name)s", name))
    handlers: list[logging.Handler] = []
    if log_file:
        os.makedirs(os.path.dirname(log_file), mode=0o755, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    if to_stderr or not log_file:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)


#: Signals that ask a daemon to stop.
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


class _SignalRelay:
    """Turns SIGTERM/SIGINT into ``stop.set()`` whichever thread gets them.

    Python runs signal handlers only in the main thread, and only when
    that thread executes bytecode.  The kernel may deliver a
    process-directed signal to *any* thread that does not block it; when
    it picks a connection thread while the main thread sleeps in
    ``stop_event.wait()`` (a futex that the signal never interrupts), the
    handler would run only once the main thread wakes up for another
    reason: never, for an idle daemon.  So the C-level handler's wakeup
    byte (``signal.set_wakeup_fd``) goes to a pipe that a relay thread
    reads; it sets the stop event itself, from whichever thread the
    signal interrupted.  No signal is blocked, so child processes (hooks,
    OS scripts, instances) inherit the normal signal mask.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd,
                                                 warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="signal-relay")
        self._thread.start()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Runs later in the main thread; the relay has already acted.
        self._stopping(signum)

    def _stopping(self, signum: int) -> None:
        if not self._stop.is_set():
            logging.info("Received signal %d, stopping", signum)
        self._stop.set()

    def _run(self) -> None:
        try:
            while True:
                data = os.read(self._read_fd, 64)
                if not data:  # close() closed the write end
                    return
                for signum in data:
                    if signum in STOP_SIGNALS:
                        self._stopping(signum)
        except OSError:
            return
        finally:
            os.close(self._read_fd)

    def close(self) -> None:
        """Restore the previous wakeup fd; the relay thread ends."""
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous_fd)
        os.close(self._write_fd)


def main(spec: DaemonSpec, argv: Sequence[str] | None = None) -> int:
    parser = build_parser(spec)
    options = parser.parse_args(argv)
    paths = pathutils.get()
    pid_path = options.pid_file or paths.pid_file(spec.name)
    log_file = options.log_file or paths.log_file(spec.name)
    try:
        if spec.check:
            spec.check(options)
        for directory in (paths.log_dir, paths.run_dir):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        pid = PidFile(pid_path)
    except errors.GenericError as err:
        print(f"{spec.name}: {err}", file=sys.stderr)
        return err.exit_code
    if not options.foreground:
        detach(log_file)
        pid.write()
    setup_logging(spec.name, log_file, debug=options.debug,
                  to_stderr=options.foreground)
    gc.set_threshold(*GC_THRESHOLDS)
    if spec.prepare:
        spec.prepare(options)
    stop = threading.Event()
    relay = _SignalRelay(stop)
    logging.info("%s %s starting (root %r)", spec.name,
                 pathutils.PACKAGE_VERSION, paths.root or "/")
    try:
        return spec.run(DaemonContext(spec.name, options, stop))
    except errors.GenericError as err:
        logging.error("%s stopped: %s", spec.name, err)
        return err.exit_code
    except Exception:
        logging.exception("%s crashed", spec.name)
        return errors.EXIT_FAILURE
    finally:
        relay.close()
        pid.release()
        logging.info("%s stopped", spec.name)
