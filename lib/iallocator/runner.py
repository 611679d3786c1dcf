"""Finding and running an external allocator.

An allocator is an executable file named like the allocator in one of
the search path's directories (the first match wins): the configured
``IALLOCATOR_SEARCH_PATH`` (configure's ``--with-iallocator-search-path``;
by default Ganeti's ``/usr/lib/ganeti/iallocators`` and
``/usr/local/lib/ganeti/iallocators``).  On a node relocated under a
root directory (``GANETI_ROOTDIR``) those directories are searched under
the root first, then the real ones, so that a local cluster uses the
allocators installed on the machine and a test can add its own.

The request is written to a temporary file (mode 0600) whose path is the
program's only argument; the answer is read from its standard output.
The program runs without a shell, with standard input closed, and is
killed when it runs longer than the timeout or exits non-zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile

from ganeti import errors, pathutils

EC = errors.ErrorCode

#: Most bytes of an answer read (a runaway allocator cannot fill memory).
MAX_ANSWER_BYTES = 64 * 1024 * 1024


_search_path: tuple[str, ...] | None = None


def set_search_path(dirs: tuple[str, ...] | None) -> None:
    """Search only ``dirs`` (tests: an allocator of their own, or none);
    None restores the configured search path."""
    global _search_path
    _search_path = dirs


def search_path() -> tuple[str, ...]:
    """The directories searched, in order (see the module)."""
    if _search_path is not None:
        return _search_path
    paths = pathutils.get()
    configured = pathutils.CONFIGURED_IALLOCATOR_SEARCH_PATH
    if not paths.root:
        return configured
    return tuple(paths.under(p) for p in configured) + configured


def find(name: str) -> str | None:
    """The path of the allocator program ``name``, or None."""
    if not name or "/" in name or name.startswith("."):
        return None
    for directory in search_path():
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _one_line(text: str, limit: int = 200) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:limit]


def run(name: str, path: str, request_text: str, timeout: float) -> str:
    """Run the allocator at ``path`` on ``request_text``; its stdout."""
    fd, req_file = tempfile.mkstemp(prefix="ganeti-iallocator-",
                                    suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(request_text)
        stdout, stderr_bytes, returncode = _run_bounded(name, path, req_file,
                                                        timeout)
    finally:
        os.unlink(req_file)
    stderr = stderr_bytes.decode("utf-8", "replace")
    if returncode != 0:
        why = (f"exit code {returncode}" if returncode > 0
               else f"signal {-returncode}")
        detail = _one_line(stderr) or _one_line(
            stdout.decode("utf-8", "replace"))
        raise errors.OpPrereqError(
            f"Iallocator '{name}' ({path}) failed ({why})"
            + (f": {detail}" if detail else ""), EC.ENVIRON, allocator=name)
    if len(stdout) > MAX_ANSWER_BYTES:
        raise errors.OpPrereqError(
            f"Iallocator '{name}' answered more than {MAX_ANSWER_BYTES}"
            " bytes", EC.ENVIRON, allocator=name)
    return stdout.decode("utf-8", "replace")


def _run_bounded(name: str, path: str, req_file: str,
                 timeout: float) -> tuple[bytes, bytes, int]:
    """Run the program in a session of its own, so that at the timeout
    the whole session (a shell script's children too) is killed."""
    try:
        proc = subprocess.Popen(
            [path, req_file], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
    except OSError as err:
        raise errors.OpPrereqError(
            f"Cannot run iallocator '{name}' ({path}): {err.strerror}",
            EC.ENVIRON, allocator=name) from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        raise errors.OpPrereqError(
            f"Iallocator '{name}' ({path}) did not answer within"
            f" {timeout:g} seconds (the iallocator timeout); it was"
            " killed", EC.ENVIRON, allocator=name) from None
    finally:
        if proc.returncode is None:
            _kill_session(proc)
    return stdout, stderr, proc.returncode


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
