"""LUXI: the master daemon's local protocol (JSON over a unix socket).

Wire format, as Ganeti's: each message is one JSON document followed by
the byte ``0x03`` (ETX).  A request is ``{"method": M, "args": [...],
"version": V}``; a reply is ``{"success": bool, "result": R}`` where a
failed call's ``R`` is an encoded error (``[class_name, [message, code]]``,
see :func:`ganeti.errors.encode`).  One connection may carry many
requests, answered in order.

Every method is declared once in :data:`METHODS` with its arguments and
their checks; the server's decoding and the client's stubs both read it.
A malformed request gets an error reply, never a dead daemon.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import logging
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ganeti import constants, daemon, errors, ht, pathutils, serializer

EOM: Final = b"\x03"
KEY_METHOD: Final = "method"
KEY_ARGS: Final = "args"
KEY_VERSION: Final = "version"
KEY_SUCCESS: Final = "success"
KEY_RESULT: Final = "result"

#: Largest message accepted either way (a job with many opcodes fits).
MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
DEF_CONNECT_TIMEOUT: Final = 10.0
DEF_RW_TIMEOUT: Final = 60.0
#: Seconds a client waits for a master daemon that runs but does not
#: listen yet (starting).
STARTING_WAIT: Final = 30.0
#: The long-poll call may block this long on the server; the client
#: waits that plus a margin.
WFJC_TIMEOUT: Final = 30.0

#: Group of the master socket (mode 0660): members may submit jobs.
SOCKET_GROUP: Final = pathutils.DAEMON_GROUP
SOCKET_MODE: Final = 0o660


@dataclasses.dataclass(frozen=True)
class Arg:
    name: str
    check: ht.Check


@dataclasses.dataclass(frozen=True)
class Method:
    """One LUXI call: name, arguments, and whether it may block long."""

    name: str
    args: tuple[Arg, ...]
    doc: str
    long_poll: bool = False


_names = ht.TListOf(ht.TString)
_fields = ht.TListOf(ht.TNonEmptyString)
_job_id = ht.TOr(ht.TNonNegativeInt,
                 ht.TRegex(r"[0-9]+", "a job id"))

METHODS: Final[dict[str, Method]] = {m.name: m for m in [
    Method("SubmitJob", (Arg("ops", ht.TListOf(ht.TDict)),),
           "Submit one job (a list of opcodes); returns its id"),
    Method("SubmitManyJobs",
           (Arg("jobs", ht.TListOf(ht.TListOf(ht.TDict))),),
           "Submit several jobs; returns [[success, id or message], ...]"),
    Method("WaitForJobChange",
           (Arg("job_id", _job_id), Arg("fields", _fields),
            Arg("prev_job_info", ht.TMaybe(ht.TList)),
            Arg("prev_log_serial", ht.TMaybe(ht.TNonNegativeInt)),
            Arg("timeout", ht.TNonNegativeNumber)),
           "Long-poll a job for changes of fields or new log entries",
           long_poll=True),
    Method("CancelJob", (Arg("job_id", _job_id),),
           "Cancel a queued or waiting job; returns [success, message]"),
    Method("ChangeJobPriority",
           (Arg("job_id", _job_id),
            Arg("priority", ht.TRange(constants.OP_PRIO_HIGHEST,
                                      constants.OP_PRIO_LOWEST))),
           "Change the priority of a job's opcodes that have not started "
           "running; returns [success, message]"),
    Method("ArchiveJob", (Arg("job_id", _job_id),),
           "Archive a finished job; returns whether it was archived"),
    Method("AutoArchiveJobs",
           (Arg("age", ht.TNumber), Arg("timeout", ht.TNonNegativeNumber)),
           "Archive jobs finished more than age seconds ago (-1: all)"),
    Method("QueryJobs",
           (Arg("job_ids", ht.TMaybe(ht.TListOf(_job_id))),
            Arg("fields", _fields)),
           "Rows of job fields (None for unknown jobs)"),
    Method("QueryInstances",
           (Arg("names", _names), Arg("fields", _fields),
            Arg("use_locking", ht.TBool)), "Rows of instance fields"),
    Method("QueryInstancesBulk",
           (Arg("names", _names), Arg("use_locking", ht.TBool)),
           "The items of RAPI /2/instances?bulk=1, in their final JSON form "
           "(ganeti-rapi sends them on without decoding them)"),
    Method("QueryNodes",
           (Arg("names", _names), Arg("fields", _fields),
            Arg("use_locking", ht.TBool)), "Rows of node fields"),
    Method("QueryGroups",
           (Arg("names", ht.TListOf(ht.TNonEmptyString)),
            Arg("fields", _fields), Arg("use_locking", ht.TBool)),
           "Rows of node group fields"),
    Method("Query",
           (Arg("what", ht.TElemOf(constants.QR_VIA_OP)),
            Arg("fields", _fields), Arg("qfilter", ht.TMaybe(ht.TList))),
           "Fields of a resource's items with their status (query2), "
           "filtered: what /2/query answers, without a job"),
    Method("QueryFields",
           (Arg("what", ht.TElemOf(constants.QR_VIA_OP)),
            Arg("fields", ht.TMaybe(_fields))),
           "Definitions of a resource's fields (None: all)"),
    Method("QueryExports",
           (Arg("nodes", _names), Arg("use_locking", ht.TBool)),
           "Exports per node"),
    Method("QueryConfigValues", (Arg("fields", _fields),),
           "Values of cluster config fields"),
    Method("QueryClusterInfo", (), "The cluster information dictionary"),
    Method("QueryTags",
           (Arg("kind", ht.TElemOf(constants.VALID_TAG_TYPES)),
            Arg("name", ht.TString)), "Tags of an object"),
    Method("QueryLocks", (Arg("fields", _fields),),
           "State of every lock (gnt-debug locks)"),
    Method("SetDrainFlag", (Arg("drain_flag", ht.TBool),),
           "Set or clear the job queue drain flag"),
    Method("SetWatcherPause", (Arg("until", ht.TMaybe(ht.TNumber)),),
           "Pause the watcher until a timestamp (None: continue)"),
    Method("QueryMetrics", (),
           "The master daemon's metrics in the Prometheus text format"),
]}


# --- Framing ------------------------------------------------------------------

#: Messages from this size on are sent without a copy that appends the
#: end-of-message byte (two writes instead).
_COPY_LIMIT: Final = 1 << 16


class Transport:
    """ETX-framed messages over a connected stream socket."""

    def __init__(self, sock: socket.socket, *,
                 timeout: float | None = DEF_RW_TIMEOUT) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        # The message being received, as its chunks: each received byte is
        # scanned for the end mark once and copied once (joining), so a
        # large message costs linear time, not one re-split per chunk.
        self._parts: list[bytes] = []
        self._size = 0
        self._pending: collections.deque[bytes] = collections.deque()

    def send(self, payload: bytes) -> None:
        if EOM in payload:
            raise errors.ProtocolError("Message contains the end-of-message byte")
        if len(payload) > MAX_MESSAGE_SIZE:
            raise errors.ProtocolError(
                f"LUXI message of {len(payload)} bytes exceeds the limit of"
                f" {MAX_MESSAGE_SIZE} bytes")
        try:
            if len(payload) < _COPY_LIMIT:
                self.sock.sendall(payload + EOM)
            else:  # no copy of a large message (a bulk listing: MiBs)
                self.sock.sendall(payload)
                self.sock.sendall(EOM)
        except TimeoutError:
            raise errors.TimeoutError("Sending a LUXI message timed out") from None
        except OSError as err:
            raise errors.LuxiError(f"Sending a LUXI message failed: {err}") \
                from None

    def recv(self) -> bytes | None:
        """The next message, or None when the peer closed cleanly."""
        while not self._pending:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise errors.TimeoutError(
                    "Reading a LUXI message timed out") from None
            except OSError as err:
                raise errors.LuxiError(f"Reading a LUXI message failed: {err}") \
                    from None
            if not chunk:
                if self._size:
                    raise errors.ProtocolError(
                        "Connection closed in the middle of a message")
                return None
            self._take(chunk)
        return self._pending.popleft()

    def _take(self, chunk: bytes) -> None:
        """Split one received chunk into the current message's parts and
        the complete messages it ends; only the new bytes are scanned."""
        start = 0
        while True:
            end = chunk.find(EOM, start)
            piece = chunk[start:] if end == -1 else chunk[start:end]
            self._size += len(piece)
            if self._size > MAX_MESSAGE_SIZE:
                raise errors.ProtocolError(
                    f"LUXI message larger than the limit of"
                    f" {MAX_MESSAGE_SIZE} bytes")
            if piece:
                self._parts.append(piece)
            if end == -1:
                return
            self._pending.append(b"".join(self._parts))
            self._parts = []
            self._size = 0
            start = end + 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# --- Request and reply encoding -----------------------------------------------

def format_request(method: str, args: Sequence[Any],
                   version: int | None = None) -> bytes:
    req: dict[str, Any] = {KEY_METHOD: method, KEY_ARGS: list(args)}
    if version is not None:
        req[KEY_VERSION] = version
    return serializer.dumps(req)


def parse_request(data: bytes) -> tuple[Method, list[Any]]:
    """Decode and check a request against :data:`METHODS`.

    Raises :class:`~ganeti.errors.ProtocolError` (malformed) or
    :class:`~ganeti.errors.OpPrereqError` (bad argument), naming the
    method and argument.
    """
    req = serializer.loads(data)
    if not isinstance(req, dict) or KEY_METHOD not in req:
        raise errors.ProtocolError("Invalid LUXI request: not an object "
                                   "with a 'method' key")
    name = req[KEY_METHOD]
    args = req.get(KEY_ARGS, [])
    version = req.get(KEY_VERSION)
    if version is not None and version != constants.PROTOCOL_VERSION:
        raise errors.ProtocolError(
            f"LUXI version mismatch: client {version!r}, "
            f"server {constants.PROTOCOL_VERSION}")
    if not isinstance(name, str) or name not in METHODS:
        raise errors.ProtocolError(f"Unknown LUXI method {name!r:.60}")
    method = METHODS[name]
    if not isinstance(args, list):
        raise errors.ProtocolError(f"{name}: arguments must be a list")
    if len(args) != len(method.args):
        raise errors.OpPrereqError(
            f"{name}: expected {len(method.args)} argument(s), got {len(args)}")
    for arg, value in zip(method.args, args, strict=True):
        if not arg.check(value):
            raise errors.OpPrereqError(
                f"{name}: argument '{arg.name}': "
                f"{ht.describe_failure(arg.check, value)}")
    return method, args


@dataclasses.dataclass(frozen=True)
class RawResult:
    """A handler's result already encoded as JSON (by
    :func:`ganeti.serializer.dumps`): the reply carries these bytes as its
    result unchanged, and :meth:`Client.call_raw` hands them back without
    decoding them (a bulk listing of 10,000 instances is 20 MB of JSON)."""

    data: bytes


#: The reply around a successful result: the keys are sorted, as
#: :func:`ganeti.serializer.dumps` writes them.
_RAW_HEAD: Final = b'{"%s":' % KEY_RESULT.encode()
_RAW_TAIL: Final = b',"%s":true}' % KEY_SUCCESS.encode()


def format_response(success: bool, result: Any) -> bytes:
    if isinstance(result, RawResult):
        assert success and KEY_RESULT < KEY_SUCCESS
        return b"".join((_RAW_HEAD, result.data, _RAW_TAIL))
    return serializer.dumps({KEY_SUCCESS: success, KEY_RESULT: result})


def raw_result(data: bytes) -> bytes:
    """The encoded result of a reply, not decoded; a failure is raised
    as its error (see :func:`parse_response`)."""
    if data.startswith(_RAW_HEAD) and data.endswith(_RAW_TAIL):
        return data[len(_RAW_HEAD):-len(_RAW_TAIL)]
    parse_response(data)  # raises the error or refuses the reply
    raise errors.ProtocolError("Invalid LUXI response")


def parse_response(data: bytes) -> Any:
    """The result of a reply; a failure is raised as its error."""
    resp = serializer.loads(data)
    if (not isinstance(resp, dict) or KEY_SUCCESS not in resp
            or KEY_RESULT not in resp):
        raise errors.ProtocolError("Invalid LUXI response")
    if resp[KEY_SUCCESS] is not True:
        raise errors.decode(resp[KEY_RESULT])
    return resp[KEY_RESULT]


# --- Client ---------------------------------------------------------------------

class NoMasterError(errors.LuxiError):
    """The master socket is missing or refuses connections."""


class Client:
    """A LUXI client; one connection, reopened after errors."""

    def __init__(self, address: str | None = None, *,
                 timeout: float = DEF_RW_TIMEOUT,
                 master_pid_file: str | None = None) -> None:
        """``master_pid_file``: the pid file of the master daemon serving
        ``address`` (the default socket's: this node's master daemon)."""
        self.address = address or pathutils.get().master_socket
        self.timeout = timeout
        if master_pid_file is None and address is None:
            master_pid_file = pathutils.get().pid_file(constants.MASTERD)
        self._master_pid_file = master_pid_file
        self._transport: Transport | None = None
        self._lock = threading.Lock()

    def _connect(self) -> Transport:
        """A connection to the master daemon.  One that runs (its pid
        file is locked) but does not listen yet is starting (it recovers
        interrupted jobs first): wait for it up to :data:`STARTING_WAIT`
        seconds instead of failing, as after a restart."""
        deadline: float | None = None
        while True:
            try:
                return self._connect_once()
            except NoMasterError:
                if self._master_pid_file is None or \
                        not daemon.is_running(self._master_pid_file):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + STARTING_WAIT
                elif now > deadline:
                    raise
                time.sleep(0.05)

    def _connect_once(self) -> Transport:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(DEF_CONNECT_TIMEOUT)
        try:
            sock.connect(self.address)
        except OSError as err:
            sock.close()
            if err.errno in (errno.ENOENT, errno.ECONNREFUSED):
                raise NoMasterError(
                    "Cannot communicate with the master daemon: is it "
                    f"running and listening on {self.address}?") from None
            raise errors.LuxiError(
                f"Cannot connect to {self.address}: {err}") from None
        return Transport(sock, timeout=self.timeout)

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *args: Any) -> Any:
        """Send one request and return its result (or raise its error)."""
        return parse_response(self._exchange(method, args))

    def call_raw(self, method: str, *args: Any) -> bytes:
        """Like :meth:`call`, but the result stays encoded (JSON bytes)."""
        return raw_result(self._exchange(method, args))

    def _exchange(self, method: str, args: Sequence[Any]) -> bytes:
        spec = METHODS.get(method)
        if spec is None:
            raise errors.ProgrammerError(f"Unknown LUXI method {method}")
        request = format_request(method, args, constants.PROTOCOL_VERSION)
        with self._lock:
            if self._transport is None:
                self._transport = self._connect()
            transport = self._transport
            if spec.long_poll:
                transport.sock.settimeout(self.timeout + WFJC_TIMEOUT)
            try:
                transport.send(request)
                reply = transport.recv()
            except errors.GenericError:
                transport.close()
                self._transport = None
                raise
            finally:
                if spec.long_poll and self._transport is not None:
                    self._transport.sock.settimeout(self.timeout)
            if reply is None:
                transport.close()
                self._transport = None
                raise errors.LuxiError("Master daemon closed the connection")
        return reply

    # Convenience stubs (names as Ganeti's client library).
    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        return int(self.call("SubmitJob", ops))

    def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> Any:
        return self.call("SubmitManyJobs", jobs)

    def wait_for_job_change(self, job_id: int, fields: list[str],
                            prev_job_info: list[Any] | None,
                            prev_log_serial: int | None,
                            timeout: float = WFJC_TIMEOUT) -> Any:
        return self.call("WaitForJobChange", job_id, fields, prev_job_info,
                         prev_log_serial, timeout)

    def cancel_job(self, job_id: int) -> Any:
        return self.call("CancelJob", job_id)

    def change_job_priority(self, job_id: int, priority: int) -> Any:
        return self.call("ChangeJobPriority", job_id, priority)

    def archive_job(self, job_id: int) -> Any:
        return self.call("ArchiveJob", job_id)

    def autoarchive_jobs(self, age: float, timeout: float) -> Any:
        return self.call("AutoArchiveJobs", age, timeout)

    def query_jobs(self, job_ids: list[int] | None, fields: list[str]) -> Any:
        return self.call("QueryJobs", job_ids, fields)

    def query_config_values(self, fields: list[str]) -> Any:
        return self.call("QueryConfigValues", fields)

    def query_cluster_info(self) -> Any:
        return self.call("QueryClusterInfo")

    def query_locks(self, fields: list[str]) -> Any:
        return self.call("QueryLocks", fields)

    def set_queue_drain_flag(self, flag: bool) -> Any:
        return self.call("SetDrainFlag", flag)


# --- Server -----------------------------------------------------------------

#: A server's handler: (method, args) -> result; raise to fail the call.
Handler = Callable[[Method, list[Any]], Any]


def handle_message(handler: Handler, data: bytes) -> bytes:
    """Answer one request message; every failure becomes an error reply."""
    try:
        method, args = parse_request(data)
        result = handler(method, args)
    except errors.GenericError as err:
        return format_response(False, errors.encode(err))
    except Exception as err:  # a bug in a handler must not kill the daemon
        logging.exception("LUXI handler failed")
        return format_response(False, errors.encode(err))
    try:
        return format_response(True, result)
    except errors.GenericError as err:
        return format_response(False, errors.encode(err))


class _RequestHandler(socketserver.BaseRequestHandler):
    server: Server

    def handle(self) -> None:
        transport = Transport(self.request, timeout=self.server.idle_timeout)
        try:
            while True:
                try:
                    data = transport.recv()
                except errors.TimeoutError:
                    return
                except errors.ProtocolError as err:
                    with contextlib.suppress(errors.GenericError):
                        transport.send(format_response(False,
                                                       errors.encode(err)))
                    return
                if data is None:
                    return
                transport.send(handle_message(self.server.handler, data))
        except errors.GenericError as err:
            logging.debug("LUXI connection ended: %s", err)
        finally:
            transport.close()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The master socket: one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True
    #: The listen backlog.  socketserver's default (5) makes a burst of
    #: clients (the RAPI's threads, parallel gnt-* commands) fail with
    #: EAGAIN: a unix socket refuses connections beyond its backlog
    #: instead of letting them wait.
    request_queue_size = 128

    def __init__(self, address: str, handler: Handler, *,
                 idle_timeout: float = 600.0, group: str | None = None) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        os.makedirs(os.path.dirname(address), exist_ok=True)
        super().__init__(address, _RequestHandler)
        os.chmod(address, SOCKET_MODE)
        if group is not None:
            _chgrp(address, group)


def _chgrp(path: str, group: str) -> None:
    import grp
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        logging.warning("Group %s does not exist; %s keeps its group",
                        group, path)
        return
    with contextlib.suppress(PermissionError):
        os.chown(path, -1, gid)
