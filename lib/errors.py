"""One error hierarchy for the whole system, split by who is at fault.

- :class:`OpPrereqError`: nothing was changed; fix the input or the state.
- :class:`OpExecError`: something was changed and then failed; the object
  may need repair.
- :class:`RpcError` and :class:`NodeUnreachableError`: the failure is
  outside this process; a retry may help.
- :class:`ProgrammerError`: a bug.

Every error carries an :class:`ErrorCode`.  Two total maps turn codes into
CLI exit codes (:data:`EXIT_CODES`) and RAPI HTTP statuses
(:data:`HTTP_STATUS`); a test checks that both cover every code.

On the wire (LUXI, node RPC, job results) an error is the pair
``[class_name, args]`` as Ganeti encodes it, so existing clients that read
``opresult`` of failed jobs keep working; :func:`encode` and :func:`decode`
convert.
"""

from __future__ import annotations

import enum
from typing import Any, Final


class ErrorCode(enum.StrEnum):
    """Why an operation failed.  The first group are Ganeti's ``ECODE_*``
    strings, which appear in job results and RAPI error bodies."""

    RESOLVER = "resolver_error"
    NORES = "insufficient_resources"
    TEMP_NORES = "temp_insufficient_resources"
    INVAL = "wrong_input"
    STATE = "wrong_state"
    NOENT = "unknown_entity"
    EXISTS = "already_exists"
    NOTUNIQUE = "resource_not_unique"
    FAULT = "internal_error"
    ENVIRON = "environment_error"
    # Codes of this project, for errors Ganeti reports without an ECODE.
    EXEC = "execution_error"
    RPC = "rpc_error"
    UNREACHABLE = "node_unreachable"
    TIMEOUT = "timeout"
    LOCK_TIMEOUT = "lock_timeout"
    CONFIG = "configuration_error"
    HOOKS_FAILURE = "hooks_failure"
    HOOKS_ABORT = "hooks_abort"
    JOB_LOST = "job_lost"
    JOB_CANCELED = "job_canceled"
    QUEUE_FULL = "job_queue_full"
    QUEUE_DRAINED = "job_queue_drained"
    LUXI = "luxi_error"
    PROTOCOL = "protocol_error"
    NOT_CLUSTER = "not_cluster"
    NOT_MASTER = "not_master"
    CONFIRMATION = "confirmation_required"
    UNKNOWN_FIELD = "unknown_field"
    USAGE = "usage_error"
    PARAMETER = "parameter_error"
    COMMAND = "command_error"
    LOCKED = "resource_locked"
    AUTH = "authentication_error"
    FORBIDDEN = "forbidden"
    PROGRAMMER = "programmer_error"


# Ganeti's CLI exit codes.
EXIT_SUCCESS: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOTCLUSTER: Final = 5
EXIT_NOTMASTER: Final = 11
EXIT_NODESETUP_ERROR: Final = 12
EXIT_CONFIRMATION: Final = 13
EXIT_UNKNOWN_FIELD: Final = 14

EC = ErrorCode

#: Code -> CLI exit code.  Total over :class:`ErrorCode` (tested).
EXIT_CODES: Final[dict[ErrorCode, int]] = {
    EC.RESOLVER: EXIT_FAILURE,
    EC.NORES: EXIT_FAILURE,
    EC.TEMP_NORES: EXIT_FAILURE,
    EC.INVAL: EXIT_FAILURE,
    EC.STATE: EXIT_FAILURE,
    EC.NOENT: EXIT_FAILURE,
    EC.EXISTS: EXIT_FAILURE,
    EC.NOTUNIQUE: EXIT_FAILURE,
    EC.FAULT: EXIT_FAILURE,
    EC.ENVIRON: EXIT_FAILURE,
    EC.EXEC: EXIT_FAILURE,
    EC.RPC: EXIT_FAILURE,
    EC.UNREACHABLE: EXIT_FAILURE,
    EC.TIMEOUT: EXIT_FAILURE,
    EC.LOCK_TIMEOUT: EXIT_FAILURE,
    EC.CONFIG: EXIT_FAILURE,
    EC.HOOKS_FAILURE: EXIT_FAILURE,
    EC.HOOKS_ABORT: EXIT_FAILURE,
    EC.JOB_LOST: EXIT_FAILURE,
    EC.JOB_CANCELED: EXIT_FAILURE,
    EC.QUEUE_FULL: EXIT_FAILURE,
    EC.QUEUE_DRAINED: EXIT_FAILURE,
    EC.LUXI: EXIT_FAILURE,
    EC.PROTOCOL: EXIT_FAILURE,
    EC.NOT_CLUSTER: EXIT_NOTCLUSTER,
    EC.NOT_MASTER: EXIT_NOTMASTER,
    EC.CONFIRMATION: EXIT_CONFIRMATION,
    EC.UNKNOWN_FIELD: EXIT_UNKNOWN_FIELD,
    EC.USAGE: EXIT_USAGE,
    EC.PARAMETER: EXIT_FAILURE,
    EC.COMMAND: EXIT_FAILURE,
    EC.LOCKED: EXIT_FAILURE,
    EC.AUTH: EXIT_FAILURE,
    EC.FORBIDDEN: EXIT_FAILURE,
    EC.PROGRAMMER: EXIT_FAILURE,
}

#: Code -> HTTP status for the RAPI.  Total over :class:`ErrorCode` (tested).
HTTP_STATUS: Final[dict[ErrorCode, int]] = {
    EC.RESOLVER: 400,
    EC.NORES: 409,
    EC.TEMP_NORES: 503,
    EC.INVAL: 400,
    EC.STATE: 409,
    EC.NOENT: 404,
    EC.EXISTS: 409,
    EC.NOTUNIQUE: 409,
    EC.FAULT: 500,
    EC.ENVIRON: 500,
    EC.EXEC: 500,
    EC.RPC: 502,
    EC.UNREACHABLE: 502,
    EC.TIMEOUT: 504,
    EC.LOCK_TIMEOUT: 503,
    EC.CONFIG: 500,
    EC.HOOKS_FAILURE: 500,
    EC.HOOKS_ABORT: 409,
    EC.JOB_LOST: 500,
    EC.JOB_CANCELED: 409,
    EC.QUEUE_FULL: 503,
    EC.QUEUE_DRAINED: 503,
    EC.LUXI: 502,
    EC.PROTOCOL: 400,
    EC.NOT_CLUSTER: 500,
    EC.NOT_MASTER: 503,
    EC.CONFIRMATION: 400,
    EC.UNKNOWN_FIELD: 400,
    EC.USAGE: 400,
    EC.PARAMETER: 400,
    EC.COMMAND: 500,
    EC.LOCKED: 409,
    EC.AUTH: 401,
    EC.FORBIDDEN: 403,
    EC.PROGRAMMER: 500,
}


class GenericError(Exception):
    """Base of every error of this project.

    ``args[0]`` is the one-line message; ``code`` says why.  Subclasses set
    :attr:`default_code`; callers may pass a more precise one.
    """

    default_code: ErrorCode = ErrorCode.FAULT

    def __init__(self, message: str = "", code: ErrorCode | str | None = None,
                 **details: Any) -> None:
        self.code = _to_code(code) if code is not None else self.default_code
        self.details = details
        super().__init__(message, str(self.code))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def __str__(self) -> str:
        return self.message


def _to_code(code: ErrorCode | str) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.FAULT


# --- Blame: the caller's input or the cluster's state -----------------------

class OpPrereqError(GenericError):
    """A precondition failed; nothing was changed."""

    default_code = ErrorCode.INVAL


class ParameterError(OpPrereqError):
    """A parameter name or value is not acceptable (names the parameter)."""

    default_code = ErrorCode.PARAMETER


class ResolverError(OpPrereqError):
    """A host name could not be resolved."""

    default_code = ErrorCode.RESOLVER


class TagError(OpPrereqError):
    """A tag is malformed, or a tag limit was reached."""


class UnitParseError(OpPrereqError):
    """A size with a unit (``10G``) could not be parsed."""


class TypeEnforcementError(ParameterError):
    """A value does not have the type its declaration asks for."""


class ConfirmationRequired(OpPrereqError):
    """The command needs ``--force`` or an answer at a prompt."""

    default_code = ErrorCode.CONFIRMATION


class UnknownFieldError(OpPrereqError):
    """A list/query output field does not exist."""

    default_code = ErrorCode.UNKNOWN_FIELD


class UsageError(OpPrereqError):
    """The command line is malformed."""

    default_code = ErrorCode.USAGE


class AuthenticationError(GenericError):
    """Credentials missing or wrong."""

    default_code = ErrorCode.AUTH


class ForbiddenError(GenericError):
    """Credentials valid but not sufficient."""

    default_code = ErrorCode.FORBIDDEN


# --- Blame: the operation, after it changed something ----------------------

class OpExecError(GenericError):
    """The operation failed after it changed something."""

    default_code = ErrorCode.EXEC


class HooksFailure(OpExecError):
    """Running the hooks failed (not a hook's verdict)."""

    default_code = ErrorCode.HOOKS_FAILURE


class HooksAbort(OpExecError):
    """A pre-hook refused the operation."""

    default_code = ErrorCode.HOOKS_ABORT


class CommandError(OpExecError):
    """An external command failed."""

    default_code = ErrorCode.COMMAND


class BlockDeviceError(OpExecError):
    """A block device operation failed."""


class HypervisorError(OpExecError):
    """A hypervisor operation failed."""


class OpRetryError(OpExecError):
    """A retried operation did not succeed in time."""

    default_code = ErrorCode.TIMEOUT


class LockTimeoutError(GenericError):
    """Locks could not be acquired within the timeout."""

    default_code = ErrorCode.LOCK_TIMEOUT


class LockError(GenericError):
    """A lock was deleted while waited on, or used wrongly."""

    default_code = ErrorCode.LOCKED


class CancelledError(GenericError):
    """The job was canceled."""

    default_code = ErrorCode.JOB_CANCELED


# --- Blame: something outside this process ---------------------------------

class RpcError(GenericError):
    """A node RPC call failed."""

    default_code = ErrorCode.RPC


class NodeUnreachableError(RpcError):
    """A node could not be reached at all."""

    default_code = ErrorCode.UNREACHABLE


class TimeoutError(GenericError):  # Ganeti's name; shadows the builtin only here
    """An operation on an outside party timed out."""

    default_code = ErrorCode.TIMEOUT


class ProtocolError(GenericError):
    """A peer sent something that breaks the protocol."""

    default_code = ErrorCode.PROTOCOL


class LuxiError(ProtocolError):
    """Talking to the master daemon failed."""

    default_code = ErrorCode.LUXI


class JobLost(GenericError):
    """A job the caller knows about is gone."""

    default_code = ErrorCode.JOB_LOST


class JobQueueError(GenericError):
    """The job queue refused a request."""

    default_code = ErrorCode.FAULT


class JobQueueDrainError(JobQueueError):
    """The queue is drained: no new jobs are accepted."""

    default_code = ErrorCode.QUEUE_DRAINED


class JobQueueFull(JobQueueError):
    """The queue holds too many jobs."""

    default_code = ErrorCode.QUEUE_FULL


class ConfigurationError(GenericError):
    """The cluster configuration is invalid or inconsistent."""

    default_code = ErrorCode.CONFIG


class ConfigVersionMismatch(ConfigurationError):
    """The configuration is of a version this code cannot upgrade."""


class NotClusterError(GenericError):
    """This machine is not (yet) part of a cluster."""

    default_code = ErrorCode.NOT_CLUSTER


class NotMasterError(GenericError):
    """The operation needs the master node."""

    default_code = ErrorCode.NOT_MASTER


# --- Blame: us --------------------------------------------------------------

class ProgrammerError(GenericError):
    """A bug: an internal contract was broken."""

    default_code = ErrorCode.PROGRAMMER


# --- Wire encoding -----------------------------------------------------------

def _all_classes() -> dict[str, type[GenericError]]:
    found: dict[str, type[GenericError]] = {}
    pending: list[type[GenericError]] = [GenericError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def encode(err: BaseException) -> list[Any]:
    """Encode an exception as ``[class_name, [message, code]]``.

    Foreign exceptions (a bug, usually) are sent as ``ProgrammerError`` so
    the receiver never needs to know their class.
    """
    if isinstance(err, GenericError):
        return [type(err).__name__, [err.message, str(err.code)]]
    return ["ProgrammerError",
            [f"{type(err).__name__}: {err}", str(ErrorCode.PROGRAMMER)]]


def decode(data: Any) -> GenericError:
    """Rebuild an exception from :func:`encode`'s output.

    Malformed input never raises: it becomes a :class:`ProtocolError` that
    says what arrived.
    """
    if (not isinstance(data, (list, tuple)) or len(data) != 2
            or not isinstance(data[0], str)
            or not isinstance(data[1], (list, tuple))):
        return ProtocolError(f"Malformed encoded error: {data!r:.200}")
    name, args = data
    cls = _all_classes().get(name, GenericError)
    message = str(args[0]) if args else ""
    code = args[1] if len(args) > 1 and isinstance(args[1], str) else None
    err = cls.__new__(cls)
    GenericError.__init__(err, message, code)
    return err


def maybe_raise(data: Any) -> None:
    """Raise the error encoded in ``data`` (job results, RPC failures)."""
    raise decode(data)
