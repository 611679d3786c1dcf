"""OS definitions on this node: ``os_diagnose``, ``os_get`` and
``os_validate``, and the helpers the instance calls use to run an OS's
instance scripts.

Definitions are looked up in this node's search path (relocated under
its root).  A failing script's RPC failure carries the log file on this
node and the last lines of its output on the one message line (lines
joined with `` | ``), so the master can show them in the job log without
another call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ganeti import errors, objects, osdef, params
from ganeti.backend import handler
from ganeti.osdef.scripts import OsScriptResult

#: Output lines of a failed script put in the RPC failure message.
FAILURE_TAIL_LINES: Final = 10
#: Longest failure message built from a script's output.
_MESSAGE_MAX: Final = 2000


def _one_line(text: str) -> str:
    return " ".join(text.split())


def script_failure(err: errors.OpExecError) -> errors.OpExecError:
    """The error of a failed OS script, its message (which names the log
    and the last line of output) extended with the lines before that
    last one: ``...; earlier output: line | line | line``."""
    tail = [_one_line(str(line)) for line in err.details.get("log_tail") or []]
    earlier = [line for line in tail[:-1] if line][-(FAILURE_TAIL_LINES - 1):]
    message = _one_line(str(err))
    if earlier:
        message += "; earlier output: " + " | ".join(earlier)
    if len(message) > _MESSAGE_MAX:
        message = message[:_MESSAGE_MAX - 3] + "..."
    return errors.OpExecError(message, err.code, **err.details)


def run_instance_script(
        instance: objects.Instance, disks: Sequence[tuple[str, objects.Disk]],
        *, debug: int, hvparams: Mapping[str, Any],
        beparams: Mapping[str, Any], nicparams: Sequence[Mapping[str, Any]],
        osparams: Mapping[str, Any],
        run: Callable[[osdef.OsDefinition, dict[str, str]], OsScriptResult]
        ) -> dict[str, Any]:
    """Build the full environment of ``instance``'s OS and call ``run``
    with it; returns the OS run record (``os_name``, ``api_version``,
    ``variant``, ``log_path``).

    The variant is the one named in ``instance.os`` (the master checked
    it against the OS's list, ``--force-variant`` included), else the
    OS's default.
    """
    if not instance.os:
        raise errors.OpPrereqError(f"Instance {instance.name} has no OS",
                                   errors.ErrorCode.INVAL)
    definition = osdef.find_os(params.split_os_name(instance.os)[0])
    variant = osdef.resolve_variant(definition, instance.os,
                                    force_variant=True)
    if len(nicparams) != len(instance.nics):
        raise errors.ParameterError(
            f"Instance {instance.name} has {len(instance.nics)} NIC(s) but"
            f" {len(nicparams)} nicparams were given", parameter="nicparams")
    env = osdef.os_environment(
        definition, definition.api_version, instance,
        filled_hvparams=hvparams, filled_beparams=beparams,
        filled_nicparams=nicparams,
        disks=[(path, disk, disk.mode) for path, disk in disks],
        debug_level=debug, osparams=osparams, variant=variant)
    try:
        result = run(definition, env)
    except errors.OpExecError as err:
        raise script_failure(err) from None
    return {"os_name": definition.name, "api_version": definition.api_version,
            "variant": variant, "log_path": result.log_path}


@handler("os_diagnose")
def os_diagnose() -> list[dict[str, Any]]:
    return [diagnosis.to_dict() for diagnosis in osdef.list_os()]


@handler("os_get")
def os_get(name: str) -> dict[str, Any]:
    base, _ = params.split_os_name(name)
    return osdef.find_os(base).to_dict()


@handler("os_validate")
def os_validate(required: bool, name: str, checks: list[str],
                osparams: dict[str, Any]) -> bool:
    base, _ = params.split_os_name(name)
    try:
        definition = osdef.find_os(base)
    except osdef.InvalidOS as err:
        if required or err.code != errors.ErrorCode.NOENT:
            raise
        return False
    variant = osdef.resolve_variant(definition, name, force_variant=True)
    if "parameters" in checks:
        osdef.verify_parameters(definition, osparams, variant=variant)
    return True
