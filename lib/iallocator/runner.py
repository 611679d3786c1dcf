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

import os
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
        try:
            proc = subprocess.run(
                [path, req_file], stdin=subprocess.DEVNULL,
                capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise errors.OpPrereqError(
                f"Iallocator '{name}' ({path}) did not answer within"
                f" {timeout:g} seconds (the iallocator timeout); it was"
                " killed", EC.ENVIRON, allocator=name) from None
        except OSError as err:
            raise errors.OpPrereqError(
                f"Cannot run iallocator '{name}' ({path}): {err.strerror}",
                EC.ENVIRON, allocator=name) from None
    finally:
        os.unlink(req_file)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        why = (f"exit code {proc.returncode}" if proc.returncode > 0
               else f"signal {-proc.returncode}")
        detail = _one_line(stderr) or _one_line(
            proc.stdout.decode("utf-8", "replace"))
        raise errors.OpPrereqError(
            f"Iallocator '{name}' ({path}) failed ({why})"
            + (f": {detail}" if detail else ""), EC.ENVIRON, allocator=name)
    if len(proc.stdout) > MAX_ANSWER_BYTES:
        raise errors.OpPrereqError(
            f"Iallocator '{name}' answered more than {MAX_ANSWER_BYTES}"
            " bytes", EC.ENVIRON, allocator=name)
    return proc.stdout.decode("utf-8", "replace")
