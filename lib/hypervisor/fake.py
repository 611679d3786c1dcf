"""The fake hypervisor: a real, selectable driver with no virtual machines.

Instances "run" as JSON state files, one per instance, under a state
directory (``pathutils.get().fake_hv_dir`` unless one is injected).  The
driver enforces what a real hypervisor would: disks must exist, memory is
accounted against the node and a start that does not fit is refused, an
instance cannot run twice, and instances migrate between nodes without a
shared file system (the migration blob carries the state).  The demo, the
local multi-node cluster and most tests select it instead of patching.

Layout of the state directory::

    node.json              optional resources of the node (see below)
    faults.json            armed faults (see inject_fault)
    next-id                last instance id handed out
    generation             a new random token after every change of an
                           instance file (see below)
    .lock                  flock serializing changes across processes
    instances/<name>.json  one per instance, with its "status":
                           running   -- runs (and is listed)
                           incoming  -- reserved by accept_instance
                           migrated  -- left by migrate_instance, memory
                                        held until finalize_migration_source

Node resources, first found wins: ``node.json`` (keys ``memory_total``,
``memory_dom0``, ``cpu_total``, ``cpu_nodes``, ``cpu_sockets``; write it
with :meth:`FakeHypervisor.set_node_resources`), then the environment
variables ``FAKE_HV_MEMORY_MIB`` and ``FAKE_HV_CPU_COUNT``, then the real
machine (``/proc/meminfo`` MemTotal in MiB, ``os.cpu_count()``, NUMA
nodes and CPU sockets from sysfs; ``0`` in ``node.json`` reports NUMA
nodes or sockets as unknown).  Free
memory is total minus dom0 minus every instance in the state directory
(running, incoming or migrated).

Reading every instance file for each listing made the node's answer to
``all_instances_info`` cost about 30 us per instance (0.1 s for 3,333
instances on a node): a process keeps the states it read last with the
``generation`` token it read before them, and reuses them while the token
is the same.  A change removes the token, writes the instance file, then
writes a new token, so a reader that raced with it, or a change cut short,
leaves a token no cached read was taken under (or none, which disables
the reuse until the next change).

Fault injection works across processes because faults live in the state
directory: a test arms ``inject_fault("start_instance", "boom")`` in a
node daemon's root and that daemon's next start fails once with
``HypervisorError("boom")``.  The special fault ``ignore_soft_stop`` makes
the next soft stop be ignored, so the hard stop after the timeout runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from ganeti import constants, errors, ht, objects, pathutils, serializer
from ganeti.hypervisor import hostinfo
from ganeti.hypervisor.base import (
    BaseHypervisor,
    BlockDevices,
    ConsoleInfo,
    ConsoleKind,
    InstanceInfo,
    InstanceState,
    MigrationState,
    MigrationStatus,
    NicList,
    NodeHvInfo,
    ParamRule,
    StopOutcome,
)
from ganeti.utils import io
from ganeti.utils.filelock import FileLock

MEMORY_ENV: Final = "FAKE_HV_MEMORY_MIB"
CPU_ENV: Final = "FAKE_HV_CPU_COUNT"

ST_RUNNING: Final = "running"
ST_INCOMING: Final = "incoming"
ST_MIGRATED: Final = "migrated"

#: The fault that makes the next soft stop be ignored.
FAULT_IGNORE_SOFT_STOP: Final = "ignore_soft_stop"

#: Operations a fault can be armed for.
FAULT_OPERATIONS: Final = frozenset([
    "start_instance", "stop_instance", "reboot_instance", "list_instances",
    "get_instance_info", "get_all_instances_info", "get_node_info",
    "get_console_command", "verify", "migration_info", "accept_instance",
    "migrate_instance", "finalize_migration", "finalize_migration_source",
    "get_migration_status", FAULT_IGNORE_SOFT_STOP,
])

#: Format tag of the migration blob.
MIGRATION_FORMAT: Final = "ganeti-fake-migration-1"

#: State directory -> (generation token, instance states) of the last full
#: read in this process; the states are shared, callers only read them.
_SNAPSHOTS: dict[str, tuple[bytes, list[dict[str, Any]]]] = {}

_NODE_KEYS: Final = frozenset(["memory_total", "memory_dom0", "cpu_total",
                               "cpu_nodes", "cpu_sockets"])


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.HypervisorError(
            f"Environment variable {name} must be an integer, got {value!r:.40}",
            errors.ErrorCode.ENVIRON) from None
    if number < 0:
        raise errors.HypervisorError(
            f"Environment variable {name} must not be negative",
            errors.ErrorCode.ENVIRON)
    return number


class FakeHypervisor(BaseHypervisor):
    """Instances as state files; see the module documentation."""

    NAME = constants.HT_FAKE
    CAN_MIGRATE = True
    #: Kernel arguments without a kernel mean nothing.
    PARAMETER_RULES = (
        ParamRule("kernel_args", "kernel_path",
                  "arguments are given to the kernel"),
    )
    NODE_PATH_PARAMETERS = {"kernel_path": "file"}

    def __init__(self, state_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state_dir = state_dir or pathutils.get().fake_hv_dir

    # --- Files ------------------------------------------------------------------

    @property
    def _instances_dir(self) -> str:
        return os.path.join(self.state_dir, "instances")

    @property
    def _faults_file(self) -> str:
        return os.path.join(self.state_dir, "faults.json")

    @property
    def _node_file(self) -> str:
        return os.path.join(self.state_dir, "node.json")

    def _state_file(self, name: str) -> str:
        if not ht.THostname(name):
            raise errors.HypervisorError(
                f"Invalid instance name {name!r:.60}", errors.ErrorCode.INVAL)
        return os.path.join(self._instances_dir, f"{name}.json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize changes with every other process using this directory.

        Not re-entrant: flock on a second descriptor blocks even within one
        process, so locked sections never call each other.
        """
        try:
            os.makedirs(self._instances_dir, mode=0o750, exist_ok=True)
        except OSError as err:
            raise errors.HypervisorError(
                f"Cannot create fake hypervisor state directory"
                f" {self.state_dir}: {err.strerror or err}",
                errors.ErrorCode.ENVIRON) from err
        with FileLock(os.path.join(self.state_dir, ".lock")) as lock, \
                lock.exclusive_ctx(timeout=None):
            yield

    def _read_json(self, path: str) -> Any:
        try:
            data = io.read_bytes(path)
        except errors.GenericError:
            if not os.path.exists(path):
                return None
            raise
        try:
            return serializer.loads(data)
        except errors.ProtocolError as err:
            raise errors.HypervisorError(f"Corrupt state file {path}: {err}",
                                         errors.ErrorCode.ENVIRON) from None

    def _write_json(self, path: str, data: Any) -> None:
        io.write_file_atomic(path, serializer.dumps(data), mode=0o640)

    def _load(self, name: str) -> dict[str, Any] | None:
        state = self._read_json(self._state_file(name))
        if state is not None and not isinstance(state, dict):
            raise errors.HypervisorError(
                f"Corrupt state file of instance {name}",
                errors.ErrorCode.ENVIRON)
        return state

    @property
    def _generation_file(self) -> str:
        return os.path.join(self.state_dir, "generation")

    def _changing(self, change: Callable[[], None]) -> None:
        """Run ``change`` of an instance file between dropping the
        generation token and writing a new one (lock held)."""
        io.remove_file(self._generation_file)
        change()
        io.write_file_atomic(self._generation_file, secrets.token_hex(16),
                             mode=0o640, fsync=False)

    def _save(self, state: Mapping[str, Any]) -> None:
        path = self._state_file(state["name"])
        self._changing(lambda: self._write_json(path, dict(state)))

    def _drop(self, name: str) -> None:
        path = self._state_file(name)
        self._changing(lambda: io.remove_file(path))

    def _all_states(self) -> list[dict[str, Any]]:
        """Every instance state (any status), by name; read-only."""
        try:
            with open(self._generation_file, "rb") as handle:
                token: bytes | None = handle.read()
        except FileNotFoundError:
            token = None
        cached = _SNAPSHOTS.get(self.state_dir)
        if token and cached is not None and cached[0] == token:
            return cached[1]
        states = self._read_states()
        if token:
            _SNAPSHOTS[self.state_dir] = (token, states)
        return states

    def _read_states(self) -> list[dict[str, Any]]:
        try:
            entries = sorted(os.listdir(self._instances_dir))
        except FileNotFoundError:
            return []
        states = []
        for entry in entries:
            if entry.endswith(".json") and not entry.startswith("."):
                state = self._load(entry[:-len(".json")])
                if state is not None:
                    states.append(state)
        return states

    # --- Faults -----------------------------------------------------------------

    def inject_fault(self, operation: str,
                     message: str = "Injected failure") -> None:
        """Make the next ``operation`` on this state directory fail once with
        ``HypervisorError(message)`` (or, for ``ignore_soft_stop``, make
        the next soft stop be ignored)."""
        if operation not in FAULT_OPERATIONS:
            raise errors.ParameterError(
                f"Unknown fake hypervisor operation {operation!r:.60}"
                f" (known: {', '.join(sorted(FAULT_OPERATIONS))})")
        with self._locked():
            faults = self._faults()
            faults[operation] = str(message)
            self._write_json(self._faults_file, faults)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        with self._locked():
            io.remove_file(self._faults_file)

    def armed_faults(self) -> dict[str, str]:
        """The armed faults: operation -> message."""
        return self._faults()

    def _faults(self) -> dict[str, str]:
        faults = self._read_json(self._faults_file)
        return dict(faults) if isinstance(faults, dict) else {}

    def _take_fault(self, operation: str) -> str | None:
        """Disarm and return the fault of ``operation`` (lock held)."""
        faults = self._faults()
        if operation not in faults:
            return None
        message = faults.pop(operation)
        if faults:
            self._write_json(self._faults_file, faults)
        else:
            io.remove_file(self._faults_file)
        return message

    def _fail_if_armed_locked(self, operation: str) -> None:
        message = self._take_fault(operation)
        if message is not None:
            raise errors.HypervisorError(message, injected=operation)

    def _fail_if_armed(self, operation: str) -> None:
        if not os.path.exists(self._faults_file):
            return
        with self._locked():
            self._fail_if_armed_locked(operation)

    # --- Node resources -----------------------------------------------------

    def set_node_resources(self, **resources: int | None) -> None:
        """Record this node's resources in ``node.json`` (merged; None
        removes a key): ``memory_total``, ``memory_dom0`` (MiB),
        ``cpu_total``, ``cpu_nodes``, ``cpu_sockets``."""
        unknown = set(resources) - _NODE_KEYS
        if unknown:
            raise errors.ParameterError(
                f"Unknown node resource(s): {', '.join(sorted(unknown))}")
        for key, value in resources.items():
            if value is not None and not ht.TNonNegativeInt(value):
                reason = ht.describe_failure(ht.TNonNegativeInt, value)
                raise errors.ParameterError(f"Node resource {key}: {reason}",
                                            parameter=key)
        with self._locked():
            current = self._node_overrides()
            current.update(resources)
            self._write_json(self._node_file, {k: v for k, v in current.items()
                                               if v is not None})

    def _node_overrides(self) -> dict[str, Any]:
        data = self._read_json(self._node_file)
        if data is None:
            return {}
        if not isinstance(data, dict) or not all(
                k in _NODE_KEYS and ht.TNonNegativeInt(v)
                for k, v in data.items()):
            raise errors.HypervisorError(
                f"Invalid node resources file {self._node_file}",
                errors.ErrorCode.ENVIRON)
        return dict(data)

    def _resources(self) -> tuple[int, int, int, dict[str, Any]]:
        """(memory_total, memory_dom0, cpu_total, overrides)."""
        node = self._node_overrides()
        memory = node.get("memory_total")
        if memory is None:
            memory = _env_int(MEMORY_ENV)
        if memory is None:
            memory = hostinfo.meminfo_mib("MemTotal")
        cpus = node.get("cpu_total")
        if cpus is None:
            cpus = _env_int(CPU_ENV)
        if cpus is None:
            cpus = os.cpu_count() or 1
        return int(memory), int(node.get("memory_dom0", 0)), int(cpus), node

    def _node_info(self) -> NodeHvInfo:
        memory, dom0, cpus, node = self._resources()
        states = self._all_states()
        used = sum(int(s["memory"]) for s in states)
        vcpus = sum(int(s["vcpus"]) for s in states
                    if s["status"] == ST_RUNNING)
        numa, sockets = hostinfo.cpu_topology()
        cpu_nodes = node.get("cpu_nodes", numa)
        cpu_sockets = node.get("cpu_sockets", sockets)
        return NodeHvInfo(memory_total=memory, memory_dom0=dom0,
                          memory_free=memory - dom0 - used, cpu_total=cpus,
                          vcpus_used=vcpus, cpu_nodes=cpu_nodes or None,
                          cpu_sockets=cpu_sockets or None)

    def _reserve(self, name: str, memory: int) -> None:
        """Refuse if ``memory`` does not fit on the node (lock held)."""
        free = self._node_info().memory_free
        if memory > free:
            raise errors.HypervisorError(
                f"Not enough memory to start instance {name}: needed"
                f" {memory} MiB, free {max(free, 0)} MiB",
                errors.ErrorCode.NORES)

    def _next_id(self) -> int:
        path = os.path.join(self.state_dir, "next-id")
        last = self._read_json(path)
        new = (last if ht.TNonNegativeInt(last) else 0) + 1
        self._write_json(path, new)
        return new

    # --- Instances ------------------------------------------------------------

    def start_instance(self, instance: objects.Instance,
                       block_devices: BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: NicList) -> None:
        self.start_instances([(instance, block_devices, hvparams, beparams,
                               nics)])

    def start_instances(self, batch: Sequence[tuple[
            objects.Instance, BlockDevices, Mapping[str, Any],
            Mapping[str, Any], NicList]]) -> None:
        """Start several instances under one lock and one memory check
        (what :meth:`start_instance` does for one): benchmarks start
        thousands, which one check per instance would make quadratic.
        All or none start."""
        states = [self._new_state(*args) for args in batch]
        with self._locked():
            self._fail_if_armed_locked("start_instance")
            for state in states:
                existing = self._load(state["name"])
                if existing is not None:
                    raise errors.HypervisorError(
                        f"Instance {state['name']} is already"
                        f" {existing['status']} on this node",
                        errors.ErrorCode.STATE)
            if states:
                self._reserve(", ".join(s["name"] for s in states[:3])
                              + (" ..." if len(states) > 3 else ""),
                              sum(s["memory"] for s in states))
            for state in states:
                state["id"] = self._next_id()
                self._save(state)

    def _new_state(self, instance: objects.Instance,
                   block_devices: BlockDevices, hvparams: Mapping[str, Any],
                   beparams: Mapping[str, Any], nics: NicList
                   ) -> dict[str, Any]:
        """The state file of an instance about to start (checks done)."""
        name = instance.name
        try:
            memory = int(beparams["maxmem"])
            vcpus = int(beparams["vcpus"])
        except (KeyError, TypeError, ValueError) as err:
            raise errors.ProgrammerError(
                f"Instance {name}: beparams must be filled (memory, vcpus):"
                f" {err}") from None
        checked = self.check_parameter_syntax(hvparams)
        self.validate_parameters(checked)
        for path, disk in block_devices:
            if not os.path.exists(path):
                raise errors.HypervisorError(
                    f"Instance {name}: disk {disk.iv_name or path} is missing"
                    f" ({path})", errors.ErrorCode.ENVIRON)
        self._state_file(name)  # checks the name
        return {
            "name": name, "id": None, "status": ST_RUNNING,
            "memory": memory, "vcpus": vcpus, "hvparams": dict(checked),
            "beparams": dict(beparams), "nics": [dict(n) for n in nics],
            "disks": [{"path": path, "dev_type": disk.dev_type,
                       "iv_name": disk.iv_name, "size": disk.size,
                       "mode": disk.mode} for path, disk in block_devices],
            "start_time": self._now(), "reboots": 0, "migration": None,
        }

    def stop_instance(self, instance_name: str, *, force: bool = False,
                      timeout: float = constants.DEFAULT_SHUTDOWN_TIMEOUT
                      ) -> StopOutcome:
        self._fail_if_armed("stop_instance")
        return super().stop_instance(instance_name, force=force,
                                     timeout=timeout)

    def _soft_stop(self, instance_name: str) -> None:
        with self._locked():
            if self._take_fault(FAULT_IGNORE_SOFT_STOP) is not None:
                return  # the guest ignores the request
            state = self._load(instance_name)
            if state is not None and state["status"] == ST_RUNNING:
                self._drop(instance_name)

    def _hard_stop(self, instance_name: str) -> None:
        with self._locked():
            state = self._load(instance_name)
            if state is not None and state["status"] == ST_RUNNING:
                self._drop(instance_name)

    def _is_running(self, instance_name: str) -> bool:
        state = self._load(instance_name)
        return state is not None and state["status"] == ST_RUNNING

    def _running(self, name: str) -> dict[str, Any]:
        state = self._load(name)
        if state is None or state["status"] != ST_RUNNING:
            raise errors.HypervisorError(
                f"Instance {name} is not running on this node",
                errors.ErrorCode.STATE)
        return state

    def reboot_instance(self, instance_name: str) -> None:
        with self._locked():
            self._fail_if_armed_locked("reboot_instance")
            state = self._running(instance_name)
            state["reboots"] = int(state["reboots"]) + 1
            state["start_time"] = self._now()
            self._save(state)

    def list_instances(self) -> list[str]:
        self._fail_if_armed("list_instances")
        return [s["name"] for s in self._all_states()
                if s["status"] == ST_RUNNING]

    def _info(self, state: Mapping[str, Any]) -> InstanceInfo:
        return InstanceInfo(
            name=state["name"], id=int(state["id"]), memory=int(state["memory"]),
            vcpus=int(state["vcpus"]), state=InstanceState.RUNNING,
            uptime=max(0.0, self._now() - float(state["start_time"])))

    def get_instance_info(self, instance_name: str) -> InstanceInfo | None:
        self._fail_if_armed("get_instance_info")
        state = self._load(instance_name)
        if state is None or state["status"] != ST_RUNNING:
            return None
        return self._info(state)

    def get_all_instances_info(self) -> list[InstanceInfo]:
        self._fail_if_armed("get_all_instances_info")
        return [self._info(s) for s in self._all_states()
                if s["status"] == ST_RUNNING]

    def instance_state(self, instance_name: str) -> dict[str, Any] | None:
        """The whole recorded state of an instance (any status), for tests
        and the console; None if there is none."""
        return self._load(instance_name)

    def get_node_info(self) -> NodeHvInfo:
        self._fail_if_armed("get_node_info")
        return self._node_info()

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        self._fail_if_armed("get_console_command")
        if not self._is_running(instance.name):
            return ConsoleInfo(kind=ConsoleKind.MESSAGE, instance=instance.name,
                               message=f"Instance {instance.name} is not"
                                       " running")
        return ConsoleInfo(kind=ConsoleKind.COMMAND, instance=instance.name,
                           command=["cat", self._state_file(instance.name)])

    def verify(self) -> list[str]:
        self._fail_if_armed("verify")
        problems: list[str] = []
        if os.path.exists(self.state_dir) and not os.access(
                self.state_dir, os.W_OK | os.X_OK):
            problems.append(f"fake hypervisor state directory {self.state_dir}"
                            " is not writable")
        try:
            info = self._node_info()
        except errors.GenericError as err:
            problems.append(f"fake hypervisor: {err}")
            return problems
        if info.memory_free < 0:
            problems.append(f"fake hypervisor: memory overcommitted by"
                            f" {-info.memory_free} MiB")
        return problems

    # --- Migration ------------------------------------------------------------

    def migration_info(self, instance: objects.Instance) -> str:
        self._fail_if_armed("migration_info")
        state = self._running(instance.name)
        return serializer.dumps({"format": MIGRATION_FORMAT,
                                 "state": state}).decode("utf-8")

    @staticmethod
    def _parse_blob(instance: objects.Instance, info: str) -> dict[str, Any]:
        try:
            blob = serializer.loads(info)
        except errors.ProtocolError as err:
            raise errors.HypervisorError(f"Invalid migration data: {err}",
                                         errors.ErrorCode.INVAL) from None
        state = blob.get("state") if isinstance(blob, dict) else None
        if (not isinstance(state, dict) or blob.get("format") != MIGRATION_FORMAT
                or state.get("name") != instance.name):
            raise errors.HypervisorError(
                f"Migration data is not for instance {instance.name}",
                errors.ErrorCode.INVAL)
        return state

    def accept_instance(self, instance: objects.Instance, info: str,
                        target_address: str,
                        block_devices: BlockDevices = ()) -> None:
        del block_devices  # the fake's disks are only recorded at start
        state = self._parse_blob(instance, info)
        with self._locked():
            self._fail_if_armed_locked("accept_instance")
            existing = self._load(instance.name)
            if existing is not None:
                raise errors.HypervisorError(
                    f"Instance {instance.name} is already {existing['status']}"
                    " on the target node", errors.ErrorCode.STATE)
            self._reserve(instance.name, int(state["memory"]))
            port = state.get("hvparams", {}).get("migration_port")
            state["status"] = ST_INCOMING
            state["migration"] = {"listen": f"{target_address}:{port}"}
            self._save(state)

    def migrate_instance(self, instance: objects.Instance, target_address: str,
                         live: bool) -> None:
        with self._locked():
            self._fail_if_armed_locked("migrate_instance")
            state = self._running(instance.name)
            port = state["hvparams"].get("migration_port")
            state["status"] = ST_MIGRATED
            state["migration"] = {"target": f"{target_address}:{port}",
                                  "live": bool(live)}
            self._save(state)

    def finalize_migration(self, instance: objects.Instance, info: str,
                           success: bool) -> None:
        with self._locked():
            self._fail_if_armed_locked("finalize_migration")
            state = self._load(instance.name)
            if state is None or state["status"] != ST_INCOMING:
                if success:
                    raise errors.HypervisorError(
                        f"Instance {instance.name} was not accepted on this"
                        " node", errors.ErrorCode.STATE)
                return  # nothing was reserved: nothing to undo
            if not success:
                self._drop(instance.name)
                return
            state["status"] = ST_RUNNING
            state["id"] = self._next_id()
            state["migration"] = None
            self._save(state)

    def finalize_migration_source(self, instance: objects.Instance,
                                  success: bool) -> None:
        with self._locked():
            self._fail_if_armed_locked("finalize_migration_source")
            state = self._load(instance.name)
            if state is None:
                if success:
                    return  # already forgotten
                raise errors.HypervisorError(
                    f"Instance {instance.name} is unknown on the source node",
                    errors.ErrorCode.NOENT)
            if success:
                if state["status"] != ST_MIGRATED:
                    raise errors.HypervisorError(
                        f"Instance {instance.name} has not been migrated"
                        f" (it is {state['status']})", errors.ErrorCode.STATE)
                self._drop(instance.name)
            elif state["status"] == ST_MIGRATED:
                state["status"] = ST_RUNNING
                state["migration"] = None
                self._save(state)

    def get_migration_status(self, instance: objects.Instance
                             ) -> MigrationStatus:
        self._fail_if_armed("get_migration_status")
        state = self._load(instance.name)
        if state is None:
            raise errors.HypervisorError(
                f"Instance {instance.name} is unknown on this node",
                errors.ErrorCode.NOENT)
        if state["status"] == ST_MIGRATED:
            memory = int(state["memory"])
            return MigrationStatus(status=MigrationState.COMPLETED,
                                   transferred_mib=memory, total_mib=memory,
                                   info=state["migration"]["target"])
        return MigrationStatus(status=MigrationState.NONE)
