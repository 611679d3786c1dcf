"""Node side of exports (see :mod:`ganeti.rpc.calls.backup`).

Layout under this node's export directory: ``<name>/config.ini`` and one
dump per disk (``disk<N>.dump``).  A new export is written into
``<name>.new`` and renamed into place by ``export_finalize`` only once
every dump and the config are on disk, so an older export of the same
instance survives a failed one and nobody ever sees half an export under
the final name.  A ``<name>.new`` left behind (a crashed node daemon)
makes the next export refuse, naming it, rather than mixing dumps.

Streams: the OS script's stdin or stdout is one end of a pipe, reopened
through ``/proc/self/fd`` (the script runner takes paths); a helper
thread moves the other end's bytes to or from the peer node in chunks
over the node RPC channel.  The peer is the node holding the export;
when it is this node, the script reads or writes the dump file directly.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import errno
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ganeti import errors, objects, osdef, pathutils
from ganeti.backend import blockdev, handler
from ganeti.backend import os_ops as backend_os
from ganeti.rpc.calls.backup import CHUNK
from ganeti.rpc.result import RpcResult

EC = errors.ErrorCode
CONFIG_FILE: Final = "config.ini"
TMP_SUFFIX: Final = ".new"
OLD_SUFFIX: Final = ".old"
_ASCII_JSON: Final = json.JSONEncoder(ensure_ascii=True, allow_nan=False,
                                      separators=(",", ":"))


def export_dir() -> str:
    return pathutils.get().export_dir


def _final(name: str) -> str:
    return os.path.join(export_dir(), name)


def _tmp(name: str) -> str:
    return _final(name) + TMP_SUFFIX


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Peer:
    """RPC calls to one peer node daemon (cluster certificate), over one
    kept-alive connection for the whole transfer."""

    def __init__(self, address: str) -> None:
        from ganeti.rpc.transport import HttpsTransport
        self.address = address
        self.transport = HttpsTransport()

    def call(self, call: str, *args: Any) -> Any:
        """One call; the body is JSON with ASCII escapes, which decodes
        to the same values as the serializer's UTF-8 form, and which the
        standard library encodes several times faster for the megabytes
        of base64 of a chunk."""
        from ganeti.rpc.defs import CALLS
        from ganeti.rpc.transport import decode_answer
        body = _ASCII_JSON.encode(list(args)).encode("ascii")
        try:
            resp = self.transport.http.request(
                self.address, self.transport.port, "PUT", f"/{call}", body,
                timeout=float(CALLS[call].timeout))
        except errors.GenericError as err:
            raise errors.RpcError(f"{call} on node {self.address}: {err}"
                                  ) from None
        res: RpcResult = decode_answer(self.address, call, resp.status,
                                       resp.body)
        return res.raise_on_fail(f"{call} on node {self.address}")

    def close(self) -> None:
        self.transport.close()


# --- the node holding the export --------------------------------------------

@handler("export_prepare")
def export_prepare(name: str, needed: int) -> None:
    base = export_dir()
    os.makedirs(base, mode=0o700, exist_ok=True)
    tmp = _tmp(name)
    if os.path.lexists(tmp):
        raise errors.OpPrereqError(
            f"An unfinished export of {name} exists at {tmp} (another export"
            " running, or left over by a failed one): remove it with"
            f" 'gnt-backup remove {name}' first", EC.EXISTS)
    stat = os.statvfs(base)
    free = stat.f_bavail * stat.f_frsize
    if free < needed:
        raise errors.OpPrereqError(
            f"Not enough space in {base}: {needed // 2**20} MiB needed,"
            f" {free // 2**20} MiB free", EC.NORES)
    os.mkdir(tmp, 0o700)


def _append(name: str, filename: str, offset: int, raw: bytes) -> None:
    """Append ``raw`` to a dump of the temporary export ``name``, which
    must have exactly ``offset`` bytes (chunks arrive in order)."""
    tmp = _tmp(name)
    if not os.path.isdir(tmp):
        raise errors.OpExecError(f"No export of {name} is being written here",
                                 EC.NOENT)
    path = os.path.join(tmp, filename)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if offset != size:
            raise errors.OpExecError(
                f"Chunk of {filename} at offset {offset}, but the dump has"
                f" {size} bytes (lost or repeated chunk)", EC.INVAL)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise errors.OpExecError(
                f"No space left in {export_dir()} while writing {filename}"
                f" of the export of {name}", EC.NORES) from None
        raise
    finally:
        os.close(fd)


@handler("export_write_chunk")
def export_write_chunk(name: str, filename: str, offset: int,
                       data: str) -> None:
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise errors.ParameterError("Invalid base64 data",
                                    parameter="data") from None
    _append(name, filename, offset, raw)


@handler("export_finalize")
def export_finalize(name: str, config: str) -> None:
    tmp, final = _tmp(name), _final(name)
    if not os.path.isdir(tmp):
        raise errors.OpExecError(f"No export of {name} is being written here",
                                 EC.NOENT)
    for entry in os.listdir(tmp):
        fd = os.open(os.path.join(tmp, entry), os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    cfg_path = os.path.join(tmp, CONFIG_FILE)
    with open(cfg_path, "w", encoding="utf-8") as handle:
        handle.write(config)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(tmp)
    old = final + OLD_SUFFIX
    if os.path.lexists(old):
        shutil.rmtree(old)
    if os.path.lexists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    _fsync_dir(export_dir())
    shutil.rmtree(old, ignore_errors=True)


@handler("export_abort")
def export_abort(name: str) -> bool:
    tmp = _tmp(name)
    if not os.path.lexists(tmp):
        return False
    shutil.rmtree(tmp)
    return True


@handler("export_list")
def export_list() -> list[str]:
    base = export_dir()
    if not os.path.isdir(base):
        return []
    return sorted(entry for entry in os.listdir(base)
                  if not entry.endswith((TMP_SUFFIX, OLD_SUFFIX))
                  and os.path.isfile(os.path.join(base, entry, CONFIG_FILE)))


@handler("export_info")
def export_info(name: str) -> str:
    path = os.path.join(_final(name), CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise errors.OpPrereqError(f"No export of {name} on this node ({path}"
                                   " does not exist)", EC.NOENT) from None
    except (OSError, UnicodeDecodeError) as err:
        raise errors.OpPrereqError(f"Cannot read {path}: {err}",
                                   EC.ENVIRON) from None


@handler("export_remove")
def export_remove(name: str) -> bool:
    found = False
    for path in (_final(name), _tmp(name)):
        if os.path.lexists(path):
            shutil.rmtree(path)
            found = True
    return found


def _read(name: str, filename: str, offset: int, length: int) -> bytes:
    path = os.path.join(_final(name), filename)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise errors.OpExecError(f"The export of {name} has no {filename}",
                                 EC.NOENT) from None
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


@handler("export_read_chunk")
def export_read_chunk(name: str, filename: str, offset: int,
                      length: int) -> str:
    return _b64(_read(name, filename, offset, length))


# --- the node running the OS script -------------------------------------------

class _Pump(threading.Thread):
    """Runs ``work`` once, keeping its exception for the caller."""

    def __init__(self, work: Callable[[], int]) -> None:
        super().__init__(name="export-stream", daemon=True)
        self._work = work
        self.error: BaseException | None = None
        self.moved = 0

    def run(self) -> None:
        try:
            self.moved = self._work()
        except BaseException as err:  # reported by the caller
            self.error = err


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


#: Bytes moved so far by the transfers running here, by (export, dump).
_MOVED: dict[tuple[str, str], int] = {}
_MOVED_LOCK = threading.Lock()


def _count(key: tuple[str, str], moved: int) -> None:
    with _MOVED_LOCK:
        _MOVED[key] = moved


@handler("transfer_progress")
def transfer_progress(name: str, filename: str) -> int:
    with _MOVED_LOCK:
        return _MOVED.get((name, filename), 0)


def _send(read_fd: int, sink: Callable[[int, bytes], None],
          key: tuple[str, str]) -> int:
    """Pass the script's output to ``sink`` in chunks; the next chunk is
    read while the previous one is on its way (one in flight)."""
    offset = 0
    with os.fdopen(read_fd, "rb", buffering=0) as stream, \
            concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="export-send") as pool:
        pending: concurrent.futures.Future[Any] | None = None
        while True:
            chunk = _read_full(stream, CHUNK)
            if pending is not None:
                pending.result()
                _count(key, offset)
            if not chunk:
                return offset
            pending = pool.submit(sink, offset, chunk)
            offset += len(chunk)


def _read_full(stream: Any, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _receive(write_fd: int, source: Callable[[int], bytes],
             key: tuple[str, str]) -> int:
    """Feed the script's input from ``source``; the next chunk is fetched
    while the current one is written (one in flight)."""
    offset = 0
    with os.fdopen(write_fd, "wb", buffering=0) as stream, \
            concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="import-fetch") as pool:
        pending = pool.submit(source, 0)
        while True:
            data = pending.result()
            if not data:
                return offset
            pending = pool.submit(source, offset + len(data))
            view = memoryview(data)
            while view:
                view = view[stream.write(view) or 0:]
            offset += len(data)
            _count(key, offset)


def _run_script(instance: dict[str, Any], disk_index: int,
                hvparams: dict[str, Any], beparams: dict[str, Any],
                nicparams: list[dict[str, Any]], osparams: dict[str, Any],
                run: Callable[[osdef.OsDefinition, dict[str, str]], Any]
                ) -> dict[str, Any]:
    inst: objects.Instance = blockdev.decode(objects.Instance, instance,
                                             "instance")
    if disk_index >= len(inst.disks):
        raise errors.ParameterError(
            f"Instance {inst.name} has no disk {disk_index}",
            parameter="disk_index")
    disks = blockdev.assemble_disks(inst.disks)
    return backend_os.run_instance_script(
        inst, disks, debug=0, hvparams=hvparams, beparams=beparams,
        nicparams=nicparams, osparams=osparams, run=run)


def _streamed(pump: _Pump, own_fd: int,
              script: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Run ``script`` on ``/proc/self/fd/<own_fd>`` while ``pump`` moves
    the other end of the pipe; the pump's failure (the peer's reason) wins
    over the script's (a broken pipe)."""
    pump.start()
    script_error: BaseException | None = None
    record: dict[str, Any] = {}
    try:
        record = script(f"/proc/self/fd/{own_fd}")
    except errors.GenericError as err:
        script_error = err
    finally:
        os.close(own_fd)
    pump.join()
    if pump.error is not None and not (
            isinstance(pump.error, BrokenPipeError) and script_error):
        if isinstance(pump.error, errors.GenericError):
            raise pump.error
        raise errors.OpExecError(f"Streaming the dump failed: {pump.error}",
                                 EC.FAULT)
    if script_error is not None:
        raise script_error
    return record


def _transfer(exporting: bool, instance: dict[str, Any], disk_index: int,
              peer: str, name: str, filename: str,
              filled: tuple[dict[str, Any], dict[str, Any],
                            list[dict[str, Any]], dict[str, Any]]
              ) -> dict[str, Any]:
    """Run the OS export (or import) script of one disk here, its output
    (or input) being the dump ``filename`` of export ``name``: on this
    node when ``peer`` is empty, else streamed to (or from) ``peer``.
    Either way the bytes go through a pipe and a helper thread, which
    counts them for ``transfer_progress``."""
    started = time.monotonic()

    def script(path: str) -> dict[str, Any]:
        def run(definition: osdef.OsDefinition, env: dict[str, str]) -> Any:
            if exporting:
                return osdef.export_instance(definition, env,
                                             disk_index=disk_index,
                                             stdout_path=path)
            return osdef.import_instance(definition, env,
                                         disk_index=disk_index,
                                         stdin_path=path)
        return _run_script(instance, disk_index, *filled, run)

    link = _Peer(peer) if peer else None
    if exporting:
        if link is None and not os.path.isdir(_tmp(name)):
            raise errors.OpExecError(
                f"No export of {name} is being written here", EC.NOENT)
    elif link is None:
        _read(name, filename, 0, 1)  # a clear error when it is missing
    key = (name, filename)
    _count(key, 0)
    read_fd, write_fd = os.pipe()
    try:
        if exporting:
            def sink(offset: int, chunk: bytes) -> None:
                if link is None:
                    _append(name, filename, offset, chunk)
                else:
                    link.call("export_write_chunk", name, filename, offset,
                              _b64(chunk))
            pump = _Pump(lambda: _send(read_fd, sink, key))
            record = _streamed(pump, write_fd, script)
        else:
            def source(offset: int) -> bytes:
                if link is None:
                    return _read(name, filename, offset, CHUNK)
                return base64.b64decode(link.call(
                    "export_read_chunk", name, filename, offset, CHUNK))
            pump = _Pump(lambda: _receive(write_fd, source, key))
            record = _streamed(pump, read_fd, script)
    finally:
        if link is not None:
            link.close()
        with _MOVED_LOCK:
            _MOVED.pop(key, None)
    moved = pump.moved
    return {"bytes": moved, "seconds": time.monotonic() - started,
            "log_path": record["log_path"]}


@handler("export_disk")
def export_disk(instance: dict[str, Any], disk_index: int, peer: str,
                name: str, filename: str, hvparams: dict[str, Any],
                beparams: dict[str, Any], nicparams: list[dict[str, Any]],
                osparams: dict[str, Any]) -> dict[str, Any]:
    return _transfer(True, instance, disk_index, peer, name, filename,
                     (hvparams, beparams, nicparams, osparams))


@handler("import_disk")
def import_disk(instance: dict[str, Any], disk_index: int, peer: str,
                name: str, filename: str, hvparams: dict[str, Any],
                beparams: dict[str, Any], nicparams: list[dict[str, Any]],
                osparams: dict[str, Any]) -> dict[str, Any]:
    return _transfer(False, instance, disk_index, peer, name, filename,
                     (hvparams, beparams, nicparams, osparams))
