"""KVM live migration: the data that travels, the checks made before a
migration starts, and qemu's migration status in our terms.

The five steps (doc/design/hypervisors.rst) map to qemu as follows:

1. ``migration_info`` (source): the runtime record of the running qemu
   plus qemu's version, as a JSON blob (:func:`make_blob`).
2. ``accept_instance`` (target): the blob is checked against the
   target's qemu (:func:`check_compatible`: same qemu version, or an
   explicit machine type the target has), taps are opened for the NICs,
   and qemu starts from the recorded parameters with ``-incoming
   defer``.  Local disks (file disks: not shared between nodes) are
   exported from it over NBD (``nbd-server-start`` on the target
   address, port ``migration_port + 1``; one writable export per disk
   node), then it listens for the state (``migrate-incoming``).
3. ``migrate_instance`` (source): a non-live migration stops the guest
   first.  With local disks, one ``drive-mirror`` job per disk copies it
   into the target's export (``sync: full``) and keeps mirroring the
   guest's writes; otherwise the state transfer starts at once
   (bandwidth and downtime limits from the hvparams, then ``migrate``).
   The call returns: the master polls.
4. ``get_migration_status`` (source) drives the phases: while mirrors
   copy it reports their progress; when every mirror is ready (source
   and target disks equal, writes mirrored) it starts the state
   transfer; when that completes (the guest paused on the source) it
   cancels the mirrors, which leaves the target's disks complete.
   ``query-migrate`` is mapped by :func:`status_from_query` (progress,
   qemu's own error text, the downtime qemu measured).
5. ``finalize_migration`` (target) stops the NBD server and confirms
   that qemu runs there and answers QMP (resuming a guest migrated
   non-live) *before* the master changes the configuration and
   ``finalize_migration_source`` kills the source's qemu; on failure the
   target's qemu is killed and the source's mirrors and transfer are
   cancelled and its guest resumed.

So a file-disk instance migrates live without shared storage or DRBD.
The runtime record keeps the phase (``migration``: ``{"phase",
"target", "nbd", "live", "jobs"}``) between the master's calls.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ganeti import constants, errors, objects, serializer
from ganeti.hypervisor.base import BlockDevices, MigrationState, MigrationStatus
from ganeti.hypervisor.kvm import cmdline, qmp
from ganeti.utils import process

if TYPE_CHECKING:
    from ganeti.hypervisor.kvm import KvmHypervisor

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


# --- the steps, run by the driver's methods ----------------------------------

def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _ports(hvp: Mapping[str, Any]) -> tuple[int, int]:
    """(state transfer port, NBD port) of the hvparams."""
    port = int(hvp.get("migration_port", 8102))
    return port, port + 1


def _local(disk: objects.Disk) -> bool:
    """Whether a disk lives on one node only (mirrored for a migration)."""
    return disk.dev_type in (constants.LD_FILE, constants.LD_LV)


def info(hv: KvmHypervisor, instance: objects.Instance) -> str:
    record = hv.record(instance.name)
    with hv.qmp(instance.name) as client:
        version = client.version
    return make_blob(record, version)


def accept(hv: KvmHypervisor, instance: objects.Instance, blob: str,
           target_address: str, block_devices: BlockDevices) -> None:
    name = instance.name
    record, source_version = parse_blob(name, blob)
    hvp = dict(record.get("hvparams", {}))
    check_compatible(name, record, source_version, hv.program(name, hvp))
    if len(block_devices) != len(record.get("disks", [])):
        raise errors.HypervisorError(
            f"Instance {name}: {len(record.get('disks', []))} disk(s) run on"
            f" the source but {len(block_devices)} were given on the target",
            errors.ErrorCode.INVAL)
    mirrored = [i for i, (_, disk) in enumerate(block_devices) if _local(disk)]
    disk_type = str(hvp.get("disk_type", "paravirtual"))
    if mirrored and disk_type not in cmdline.DEVICE_DISK_TYPES:
        raise errors.HypervisorError(
            f"Instance {name}: disks of type {disk_type} cannot be mirrored"
            " for a migration (use paravirtual, ide or scsi)",
            errors.ErrorCode.INVAL)
    hv.launch_incoming(instance, record, [
        cmdline.DiskSpec(path, disk.mode == constants.DISK_RDONLY)
        for path, disk in block_devices])
    port, nbd_port = _ports(hvp)
    host = _host(target_address)
    try:
        with hv.qmp(name) as client:
            if mirrored:
                client.execute("nbd-server-start", {"addr": {
                    "type": "inet",
                    "data": {"host": target_address, "port": str(nbd_port)}}})
                for index in mirrored:
                    client.execute("nbd-server-add", {
                        "device": cmdline.disk_node(index), "writable": True})
            client.execute("migrate-incoming", {"uri": f"tcp:{host}:{port}"})
    except BaseException:
        with contextlib.suppress(errors.GenericError):
            hv.kill(name)
        raise


def _save_phase(hv: KvmHypervisor, name: str, phase: Mapping[str, Any] | None
                ) -> None:
    record = hv.dirs.read_runtime(name)
    if record is not None:
        record["migration"] = dict(phase) if phase is not None else None
        hv.dirs.write_runtime(name, record)


def _start_transfer(client: qmp.QmpClient, hvp: Mapping[str, Any],
                    target: str) -> None:
    client.execute("migrate-set-parameters", migration_parameters(hvp))
    client.execute("migrate", {"uri": target})


def start(hv: KvmHypervisor, instance: objects.Instance, target_address: str,
          live: bool) -> None:
    name = instance.name
    record = hv.record(name)
    hvp = record.get("hvparams", {})
    port, nbd_port = _ports(hvp)
    host = _host(target_address)
    mirrored = [i for i, disk in enumerate(instance.disks) if _local(disk)]
    phase: dict[str, Any] = {"target": f"tcp:{host}:{port}", "live": live,
                             "jobs": [], "phase": "ram"}
    with hv.qmp(name) as client:
        if not live:
            client.execute("stop")
        if not mirrored:
            _start_transfer(client, hvp, phase["target"])
        else:
            phase["phase"] = "mirror"
            for index in mirrored:
                node = cmdline.disk_node(index)
                job = f"mirror-{node}"
                client.execute("drive-mirror", {
                    "device": node, "job-id": job,
                    "target": f"nbd:{host}:{nbd_port}:exportname={node}",
                    "sync": "full", "mode": "existing", "format": "raw",
                    "auto-dismiss": False})
                phase["jobs"].append(job)
    _save_phase(hv, name, phase)


def _mirror_status(jobs: list[str], answer: Any) -> MigrationStatus | None:
    """The status while mirrors copy (None when every mirror is ready)."""
    found = {job.get("device"): job for job in answer or []
             if isinstance(job, dict)}
    done = total = 0
    ready = True
    for name in jobs:
        job = found.get(name)
        if job is None or job.get("status") == "concluded":
            reason = (job or {}).get("error") or "the job ended early"
            return MigrationStatus(status=MigrationState.FAILED,
                                   info=f"disk mirror {name} failed: {reason}")
        done += int(job.get("offset", 0))
        total += int(job.get("len", 0))
        ready = ready and bool(job.get("ready"))
    if ready:
        return None
    return MigrationStatus(
        status=MigrationState.ACTIVE, transferred_mib=done // _MIB,
        total_mib=total // _MIB,
        info=f"disks mirrored {done // _MIB} of {total // _MIB} MiB")


def _end_mirrors(client: qmp.QmpClient, jobs: list[str],
                 force: bool = False) -> None:
    """Cancel the mirror jobs (a ready mirror then completes without a
    pivot: the target keeps its full copy) and dismiss them."""
    for job in jobs:
        with contextlib.suppress(qmp.QmpError):
            client.execute("block-job-cancel", {"device": job, "force": force})
    for job in jobs:
        for _ in range(100):
            states = {j.get("device"): j.get("status")
                      for j in client.execute("query-block-jobs") or []}
            if states.get(job) in (None, "concluded"):
                break
            client.wait_event("JOB_STATUS_CHANGE", 0.1)
        with contextlib.suppress(qmp.QmpError):
            client.execute("job-dismiss", {"id": job})


def status(hv: KvmHypervisor, instance: objects.Instance) -> MigrationStatus:
    name = instance.name
    record = hv.record(name)
    phase = record.get("migration")
    with hv.qmp(name) as client:
        if isinstance(phase, dict) and phase.get("phase") == "mirror":
            jobs = [str(j) for j in phase.get("jobs", [])]
            mirroring = _mirror_status(jobs,
                                       client.execute("query-block-jobs"))
            if mirroring is not None:
                return mirroring
            _start_transfer(client, record.get("hvparams", {}),
                            str(phase["target"]))
            phase["phase"] = "ram"
            _save_phase(hv, name, phase)
            return MigrationStatus(status=MigrationState.ACTIVE,
                                   info="disks mirrored; transferring memory")
        result = status_from_query(client.execute("query-migrate"))
        if (result.status == MigrationState.COMPLETED
                and isinstance(phase, dict) and phase.get("jobs")):
            _end_mirrors(client, [str(j) for j in phase["jobs"]])
            phase["jobs"] = []
            _save_phase(hv, name, phase)
        return result


def finalize_target(hv: KvmHypervisor, instance: objects.Instance,
                    success: bool) -> None:
    """Confirm the guest runs here (resuming one migrated non-live), or
    kill what :func:`accept` started."""
    name = instance.name
    if not success:
        hv.kill(name)
        return
    deadline = hv.monotonic() + CONFIRM_TIMEOUT
    state = "gone"
    with contextlib.suppress(qmp.QmpError), hv.qmp(name) as client:
        client.execute("nbd-server-stop")
    while hv.monotonic() < deadline:
        if hv.pid(name) is None:
            state = "gone"
            break
        with hv.qmp(name) as client:
            state = str((client.execute("query-status") or {}).get("status"))
            if state in ("paused", "postmigrate"):
                client.execute("cont")
                continue
            if state == "running":
                break
        hv.sleep(0.2)
    if state != "running":
        raise errors.HypervisorError(
            f"Instance {name} does not run on the target node after the"
            f" migration (qemu state: {state})", errors.ErrorCode.STATE)
    record = hv.dirs.read_runtime(name)
    if record is not None:
        record["incoming"] = False
        hv.dirs.write_runtime(name, record)


def finalize_source(hv: KvmHypervisor, instance: objects.Instance,
                    success: bool) -> None:
    """Kill the qemu whose guest left, or cancel the mirrors and the
    transfer and resume the guest here."""
    name = instance.name
    if success:
        hv.kill(name)
        return
    record = hv.record(name)
    phase = record.get("migration")
    with hv.qmp(name) as client:
        answer = client.execute("query-migrate") or {}
        if answer.get("status") not in ("completed", "failed", "cancelled",
                                        "none", None):
            client.execute("migrate_cancel")
        if isinstance(phase, dict) and phase.get("jobs"):
            _end_mirrors(client, [str(j) for j in phase["jobs"]], force=True)
        state = (client.execute("query-status") or {}).get("status")
        if state != "running":
            client.execute("cont")
    _save_phase(hv, name, None)
