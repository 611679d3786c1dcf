"""KVM live migration: the data that travels, the checks made before a
migration starts, and qemu's migration status in our terms.

The five steps (doc/design/hypervisors.rst) map to qemu as follows:

1. ``migration_info`` (source): the runtime record of the running qemu
   plus qemu's version, as a JSON blob (:func:`make_blob`).
2. ``accept_instance`` (target): the blob is checked against the
   target's qemu (:func:`check_compatible`: same qemu version, or an
   explicit machine type the target has), taps are opened for the NICs,
   and qemu starts from the recorded parameters with ``-incoming
   tcp:TARGET:PORT``.
3. ``migrate_instance`` (source): bandwidth and downtime limits are set
   (``migrate-set-parameters``); a non-live migration stops the guest
   first; ``migrate`` starts and the call returns: the master polls.
4. ``get_migration_status`` (source): ``query-migrate`` mapped by
   :func:`status_from_query` (progress, qemu's own error text, the
   downtime qemu measured).
5. ``finalize_migration`` (target) confirms that qemu runs there and
   answers QMP (resuming a guest migrated non-live) *before* the master
   changes the configuration and ``finalize_migration_source`` kills the
   source's qemu; on failure the target's qemu is killed and the
   source's resumed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ganeti import errors, serializer
from ganeti.hypervisor.base import MigrationState, MigrationStatus
from ganeti.utils import process

#: Format tag of the migration blob.
BLOB_FORMAT: Final = "ganeti-kvm-migration-1"
#: Seconds the target may take to run the instance after the transfer.
CONFIRM_TIMEOUT: Final = 30.0
_MIB: Final = 1024 * 1024

_ACTIVE: Final = frozenset(["setup", "active", "pre-switchover", "device",
                            "wait-unplug", "postcopy-active",
                            "postcopy-paused", "postcopy-recover"])
_VERSION_RE: Final = re.compile(r"version (\d+)\.(\d+)(?:\.(\d+))?")


def make_blob(record: Mapping[str, Any], version: tuple[int, int, int]) -> str:
    return serializer.dumps({"format": BLOB_FORMAT, "runtime": dict(record),
                             "qemu_version": list(version)}).decode()


def parse_blob(name: str, info: str) -> tuple[dict[str, Any],
                                              tuple[int, int, int]]:
    """(runtime record, source qemu version) of a migration blob."""
    try:
        blob = serializer.loads(info)
    except errors.ProtocolError as err:
        raise errors.HypervisorError(f"Instance {name}: invalid migration"
                                     f" data: {err}", errors.ErrorCode.INVAL
                                     ) from None
    if (not isinstance(blob, dict) or blob.get("format") != BLOB_FORMAT
            or not isinstance(blob.get("runtime"), dict)):
        raise errors.HypervisorError(
            f"Instance {name}: the migration data is not from a KVM node",
            errors.ErrorCode.INVAL)
    runtime = blob["runtime"]
    if runtime.get("name") != name:
        raise errors.HypervisorError(
            f"Instance {name}: the migration data is for"
            f" {runtime.get('name')!r:.60}", errors.ErrorCode.INVAL)
    raw: Any = blob.get("qemu_version")
    try:
        version = (int(raw[0]), int(raw[1]), int(raw[2]))
    except (TypeError, ValueError, IndexError):
        version = (0, 0, 0)
    return runtime, version


def binary_version(program: str) -> tuple[int, int, int]:
    """qemu's version as ``PROGRAM --version`` prints it."""
    result = process.run_cmd([program, "--version"], timeout=30)
    match = _VERSION_RE.search(result.stdout)
    if result.failed or not match:
        detail = result.fail_reason or result.stdout.strip()[:80]
        raise errors.HypervisorError(
            f"Cannot tell the version of {program}: {detail}",
            errors.ErrorCode.ENVIRON)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def machine_types(program: str) -> set[str]:
    """The machine types ``PROGRAM -machine help`` lists."""
    result = process.run_cmd([program, "-machine", "help"], timeout=30)
    if result.failed:
        return set()
    return {line.split()[0] for line in result.stdout.splitlines()[1:]
            if line.strip()}


def check_compatible(name: str, runtime: Mapping[str, Any],
                     source: tuple[int, int, int], program: str) -> None:
    """Refuse, before anything moves, a target whose qemu cannot take the
    guest: another qemu version with the default (moving) machine type,
    or an explicit machine type the target does not know."""
    target = binary_version(program)
    hvp = runtime.get("hvparams", {})
    machine = str(hvp.get("machine_version") or "")
    if machine:
        if machine not in machine_types(program):
            raise errors.HypervisorError(
                f"Instance {name}: machine type {machine} is unknown to the"
                f" target node's qemu {_fmt(target)}", errors.ErrorCode.ENVIRON)
        return
    if source != target:
        raise errors.HypervisorError(
            f"Instance {name}: qemu {_fmt(source)} on the source node and"
            f" {_fmt(target)} on the target differ and the instance has no"
            " fixed machine type (set the hvparam machine_version)",
            errors.ErrorCode.ENVIRON)


def _fmt(version: tuple[int, int, int]) -> str:
    return ".".join(str(v) for v in version)


def migration_parameters(hvparams: Mapping[str, Any]) -> dict[str, Any]:
    """``migrate-set-parameters`` arguments from the hvparams."""
    return {"max-bandwidth": int(hvparams.get("migration_bandwidth", 32)) * _MIB,
            "downtime-limit": int(hvparams.get("migration_downtime", 30))}


def status_from_query(answer: Any) -> MigrationStatus:
    """``query-migrate``'s answer as a :class:`MigrationStatus`."""
    if not isinstance(answer, dict):
        return MigrationStatus(status=MigrationState.NONE)
    status = str(answer.get("status", "none"))
    raw_ram = answer.get("ram")
    ram: dict[str, Any] = raw_ram if isinstance(raw_ram, dict) else {}
    transferred = int(ram.get("transferred", 0)) // _MIB
    total = int(ram.get("total", 0)) // _MIB
    if status == "completed":
        downtime = answer.get("downtime")
        info = f"downtime {int(downtime)} ms" if downtime is not None else ""
        return MigrationStatus(status=MigrationState.COMPLETED,
                               transferred_mib=transferred, total_mib=total,
                               info=info, downtime_ms=(
                                   int(downtime) if downtime is not None
                                   else None))
    if status in ("failed", "cancelled", "cancelling"):
        reason = str(answer.get("error-desc") or status)
        return MigrationStatus(status=MigrationState.FAILED,
                               transferred_mib=transferred, total_mib=total,
                               info=reason)
    if status in _ACTIVE:
        remaining = int(ram.get("remaining", 0)) // _MIB
        return MigrationStatus(status=MigrationState.ACTIVE,
                               transferred_mib=transferred, total_mib=total,
                               info=f"{remaining} MiB remaining")
    return MigrationStatus(status=MigrationState.NONE)
