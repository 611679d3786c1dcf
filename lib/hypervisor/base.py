"""The contract every hypervisor driver fulfils, and its result records.

A driver is a subclass of :class:`BaseHypervisor` named by :attr:`NAME`,
which must be a key of :data:`ganeti.params.HV_PARAMETERS`: the parameter
table there is the driver's declaration of its own keys.  On top of the
table a driver declares, as class data:

- :attr:`BaseHypervisor.PARAMETER_RULES`: rules between parameters
  (``vnc_tls`` needs ``vnc_bind_address``), checked on the master by
  :meth:`check_parameter_syntax` after the per-key checks;
- :attr:`BaseHypervisor.NODE_PATH_PARAMETERS`: parameters naming files or
  directories that must exist on the node, checked there by
  :meth:`validate_parameters`;
- :attr:`BaseHypervisor.ANCILLARY_FILE_PARAMETERS`: parameters naming
  files the cluster must copy to every node (``vnc_password_file``),
  collected by :meth:`get_ancillary_files` for ``redist-conf``.

Paths in parameters are *configured* paths (``/etc/ganeti/...``); a node
running under ``GANETI_ROOTDIR`` relocates them at use time with
``pathutils.get().under(value)``.  :meth:`get_ancillary_files` returns
configured paths, because the master distributes files by their
configured names and each node relocates them when it writes them.

Blame, as seen by callers: bad parameters found on the master raise
:class:`~ganeti.errors.ParameterError`; every failure of an operation on
the node (including a missing kernel file found by
:meth:`validate_parameters`) raises :class:`~ganeti.errors.HypervisorError`
whose ``code`` says why (``insufficient_resources``, ``wrong_state``,
``unknown_entity``, ``environment_error``...).

Results travel over the node RPC, so they are typed records
(:class:`InstanceInfo`, :class:`NodeHvInfo`, :class:`ConsoleInfo`,
:class:`MigrationStatus`) with the generic ``to_dict``/``from_dict`` codec.
"""

from __future__ import annotations

import abc
import enum
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from ganeti import constants, errors, ht, objects, params, pathutils
from ganeti.hypervisor import power
from ganeti.records import Record, field

#: A started instance's disks: (path on the node, disk object).
BlockDevices = Sequence[tuple[str, objects.Disk]]

#: Filled NIC descriptions handed to :meth:`BaseHypervisor.start_instance`:
#: ``mac``, ``ip`` and the filled nicparams (``mode``, ``link``).
NicList = Sequence[Mapping[str, Any]]


class InstanceState(enum.StrEnum):
    """Runtime state of an instance as its hypervisor reports it."""

    RUNNING = "running"
    BLOCKED = "blocked"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"


class ConsoleKind(enum.StrEnum):
    """How a console is reached (see :class:`ConsoleInfo`)."""

    #: ``command`` is an argv to run on the instance's primary node; the
    #: client runs it there through ssh.
    COMMAND = "command"
    #: ``command`` is an argv to run where the client is; it connects by
    #: itself (typically an ``ssh`` invocation).
    SSH = "ssh"
    #: A VNC server listens at ``host``:``port``.
    VNC = "vnc"
    #: Nothing to connect to; ``message`` says why.
    MESSAGE = "message"


class MigrationState(enum.StrEnum):
    """Progress of an outgoing migration, seen from the source node."""

    NONE = "none"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class StopOutcome(enum.StrEnum):
    """How :meth:`BaseHypervisor.stop_instance` ended."""

    NOT_RUNNING = "not-running"
    SOFT = "soft"
    HARD = "hard"


class HvRecord(Record):
    """Base of the driver result records: bad wire data is a protocol error."""

    ERROR = errors.ProtocolError


class InstanceInfo(HvRecord):
    """One instance as the hypervisor sees it."""

    name: str = field(check=ht.TNonEmptyString, doc="Instance name")
    id: int = field(check=ht.TInt, doc="Hypervisor's id (domain id, pid...)")
    memory: int = field(check=ht.TNonNegativeInt, doc="Memory in use (MiB)")
    vcpus: int = field(check=ht.TNonNegativeInt, doc="Virtual CPUs")
    state: str = field(check=ht.TElemOf(list(InstanceState)),
                       doc="Runtime state")
    uptime: float = field(check=ht.TNonNegativeNumber,
                          doc="Seconds since the instance (re)started")
    uid: int | None = field(default=None, check=ht.TNonNegativeInt,
                            doc="The uid of the uid pool the instance runs"
                                " under (KVM security_model pool)")


class NodeHvInfo(HvRecord):
    """The node's resources as the hypervisor sees them (all memory in MiB)."""

    memory_total: int = field(check=ht.TNonNegativeInt,
                              doc="Memory available to instances and dom0")
    memory_free: int = field(check=ht.TInt,
                             doc="Memory left for new instances (negative"
                                 " when overcommitted)")
    memory_dom0: int = field(check=ht.TNonNegativeInt,
                             doc="Memory used by the node itself")
    cpu_total: int = field(check=ht.TNonNegativeInt, doc="Physical CPUs")
    vcpus_used: int = field(default=0, check=ht.TNonNegativeInt,
                            doc="Virtual CPUs of the instances on the node")
    cpu_nodes: int | None = field(default=None, check=ht.TPositiveInt,
                                  doc="NUMA nodes, if known")
    cpu_sockets: int | None = field(default=None, check=ht.TPositiveInt,
                                    doc="CPU sockets, if known")


class ConsoleInfo(HvRecord):
    """How to reach an instance's console."""

    kind: str = field(check=ht.TElemOf(list(ConsoleKind)), doc="See ConsoleKind")
    instance: str = field(check=ht.TNonEmptyString)
    command: list[str] = field(default=[], doc="argv (command and ssh kinds)")
    host: str = field(default="", doc="VNC host")
    port: int | None = field(default=None, check=ht.TRange(1, 65535),
                             doc="VNC port")
    message: str = field(default="", doc="Text for the message kind")

    @classmethod
    def not_running(cls, name: str) -> ConsoleInfo:
        """The answer of every driver for an instance that does not run."""
        return cls(kind=ConsoleKind.MESSAGE, instance=name,
                   message=f"Instance {name} is not running")


class MigrationStatus(HvRecord):
    """State of an outgoing migration."""

    status: str = field(check=ht.TElemOf(list(MigrationState)))
    transferred_mib: int = field(default=0, check=ht.TNonNegativeInt)
    total_mib: int = field(default=0, check=ht.TNonNegativeInt)
    info: str = field(default="", doc="Free-form detail")
    downtime_ms: int | None = field(default=None, check=ht.TNonNegativeInt,
                                    doc="Downtime the hypervisor measured"
                                        " (completed migrations)")


@dataclass(frozen=True)
class ParamRule:
    """A rule between two parameters: when ``param`` is set (a true value,
    a non-empty string), ``needs`` must be set too.

    Drivers list these in :attr:`BaseHypervisor.PARAMETER_RULES`; kvm will
    declare ``ParamRule("vnc_tls", "vnc_bind_address")`` and friends.
    """

    param: str
    needs: str
    why: str = ""

    def problem(self, hv: str, values: Mapping[str, Any]) -> str | None:
        if values.get(self.param) and not values.get(self.needs):
            reason = f" ({self.why})" if self.why else ""
            return (f"hvparams {hv!r}: parameter {self.param!r} requires"
                    f" {self.needs!r} to be set{reason}")
        return None


#: Seconds between checks while waiting for a soft stop to finish.
STOP_POLL_INTERVAL: Final = 1.0


def _path_problem(path: str, kind: Literal["file", "dir"]) -> str | None:
    if kind == "file" and not os.path.isfile(path):
        return "is not an existing file"
    if kind == "dir" and not os.path.isdir(path):
        return "is not an existing directory"
    return None


class BaseHypervisor(abc.ABC):
    """What a node needs from a hypervisor driver.

    Drivers take their clock and sleep by injection (keyword arguments of
    the constructor), so waiting (soft stop timeouts) can be driven by a
    test clock without real time passing.
    """

    #: The driver's name (a key of ``params.HV_PARAMETERS``).
    NAME: ClassVar[str]
    #: Rules between parameters, checked after the per-key checks.
    PARAMETER_RULES: ClassVar[tuple[ParamRule, ...]] = ()
    #: Parameter -> "file" or "dir": must exist on the node when not empty.
    NODE_PATH_PARAMETERS: ClassVar[Mapping[str, Literal["file", "dir"]]] = {}
    #: Parameters naming files the cluster distributes to every node.
    ANCILLARY_FILE_PARAMETERS: ClassVar[tuple[str, ...]] = ()
    #: Whether :meth:`migrate_instance` and friends are implemented.
    CAN_MIGRATE: ClassVar[bool] = False
    #: Whether a migration can carry disks that live on the source node
    #: only (file disks): the target gets empty disks and the driver
    #: mirrors them while the instance moves.
    CAN_MIRROR_LOCAL_DISKS: ClassVar[bool] = False

    def __init__(self, *, now: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._now = now
        self._monotonic = monotonic
        self._sleep = sleep

    # --- Parameters (class level: the master has no driver state) ----------

    @classmethod
    def parameters(cls) -> Mapping[str, params.ParamSpec]:
        """The declared parameter table of this driver."""
        return params.HV_PARAMETERS[cls.NAME]

    @classmethod
    def check_parameter_syntax(cls, hvparams: Mapping[str, Any], *,
                               level: params.Level = "cluster") -> dict[str, Any]:
        """Master-side check of hypervisor parameters; returns them converted.

        Only this driver's own keys are accepted (a key of another
        hypervisor is refused and the error names its owner), each value
        must pass its declared check, global-only keys are refused below
        cluster level, and then the :attr:`PARAMETER_RULES` are checked on
        the values filled with the declared defaults (so a partial
        dictionary is judged as it would take effect).  Nothing on this
        machine is looked at: that is :meth:`validate_parameters`.
        """
        checked = params.check_hv_params(cls.NAME, hvparams, level=level)
        filled = params.fill(params.hv_defaults(cls.NAME), checked)
        problems = cls.parameter_rule_problems(filled)
        if problems:
            raise errors.ParameterError("; ".join(problems),
                                        component=f"hvparams {cls.NAME!r}")
        return checked

    @classmethod
    def parameter_rule_problems(cls, filled: Mapping[str, Any]) -> list[str]:
        """Violations of :attr:`PARAMETER_RULES`; drivers with rules that
        do not fit :class:`ParamRule` extend this."""
        found = (rule.problem(cls.NAME, filled) for rule in cls.PARAMETER_RULES)
        return [p for p in found if p is not None]

    def validate_parameters(self, hvparams: Mapping[str, Any]) -> None:
        """Node-side check: files and directories named by parameters exist
        here (relocated under this node's root).  Raises HypervisorError."""
        paths = pathutils.get()
        for name, kind in sorted(self.NODE_PATH_PARAMETERS.items()):
            value = hvparams.get(name)
            if not value:
                continue
            problem = _path_problem(paths.under(str(value)), kind)
            if problem is not None:
                raise errors.HypervisorError(
                    f"hvparams {self.NAME!r}: parameter {name!r}: {value}"
                    f" {problem} on this node", errors.ErrorCode.ENVIRON,
                    parameter=name)

    def relocated(self, hvparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hvparams`` with the :attr:`NODE_PATH_PARAMETERS` relocated
        under this node's root, as the hypervisor opens them (runtime
        records keep the configured paths)."""
        paths = pathutils.get()
        return {key: paths.under(str(value))
                if key in self.NODE_PATH_PARAMETERS and value else value
                for key, value in hvparams.items()}

    @staticmethod
    def start_resources(instance_name: str, block_devices: BlockDevices,
                        beparams: Mapping[str, Any]) -> tuple[int, int]:
        """(memory, vcpus) of a start, after checking that every disk is
        there: a missing one is an error naming the instance, the node
        and the disk."""
        for path, disk in block_devices:
            if not os.path.exists(path):
                raise errors.HypervisorError(
                    f"Instance {instance_name}: disk {disk.iv_name or path}"
                    f" is missing on node {pathutils.hostname()} ({path})",
                    errors.ErrorCode.ENVIRON)
        try:
            return int(beparams["maxmem"]), int(beparams["vcpus"])
        except (KeyError, TypeError, ValueError) as err:
            raise errors.ProgrammerError(
                f"Instance {instance_name}: beparams must be filled: {err}"
            ) from None

    @classmethod
    def get_ancillary_files(
            cls, hvparams_list: Iterable[Mapping[str, Any]]) -> list[str]:
        """Configured paths of the files the cluster must distribute for
        these (filled) parameter sets: every distinct non-empty value of
        the :attr:`ANCILLARY_FILE_PARAMETERS`, sorted."""
        found: set[str] = set()
        for hvparams in hvparams_list:
            for name in cls.ANCILLARY_FILE_PARAMETERS:
                value = hvparams.get(name)
                if isinstance(value, str) and value:
                    found.add(value)
        return sorted(found)

    # --- Instances ------------------------------------------------------------

    @abc.abstractmethod
    def start_instance(self, instance: objects.Instance,
                       block_devices: BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: NicList) -> None:
        """Start ``instance`` with its filled parameters and disk paths."""

    def stop_instance(self, instance_name: str, *, force: bool = False,
                      timeout: float = constants.DEFAULT_SHUTDOWN_TIMEOUT
                      ) -> StopOutcome:
        """Stop an instance: ask it to shut down, wait up to ``timeout``
        seconds, then stop it hard.  ``force`` stops it hard at once.

        Stopping an instance that does not run succeeds (the goal is met).
        Drivers implement :meth:`_soft_stop`, :meth:`_hard_stop` and
        :meth:`_is_running`; the waiting lives here, on the injected clock.
        """
        if not self._is_running(instance_name):
            return StopOutcome.NOT_RUNNING
        if not force:
            self._soft_stop(instance_name)
            deadline = self._monotonic() + max(0.0, timeout)
            while self._is_running(instance_name):
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    break
                self._sleep(min(STOP_POLL_INTERVAL, remaining))
            else:
                return StopOutcome.SOFT
        self._hard_stop(instance_name)
        if self._is_running(instance_name):
            raise errors.HypervisorError(
                f"Instance {instance_name} is still running after a hard stop")
        return StopOutcome.HARD

    @abc.abstractmethod
    def _soft_stop(self, instance_name: str) -> None:
        """Ask the instance to shut down (ACPI, xm shutdown); do not wait."""

    @abc.abstractmethod
    def _hard_stop(self, instance_name: str) -> None:
        """Stop the instance at once (kill the process, destroy the domain)."""

    def _is_running(self, instance_name: str) -> bool:
        return instance_name in self.list_instances()

    @abc.abstractmethod
    def reboot_instance(self, instance_name: str) -> None:
        """Reboot a running instance (from the guest's point of view)."""

    @abc.abstractmethod
    def list_instances(self) -> list[str]:
        """Names of the instances running on this node, sorted."""

    @abc.abstractmethod
    def get_instance_info(self, instance_name: str) -> InstanceInfo | None:
        """Runtime information of one instance; None if it does not run."""

    @abc.abstractmethod
    def get_all_instances_info(self) -> list[InstanceInfo]:
        """Runtime information of every running instance, sorted by name."""

    @abc.abstractmethod
    def get_node_info(self) -> NodeHvInfo:
        """Memory and CPUs of this node as the hypervisor sees them."""

    @abc.abstractmethod
    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        """How to reach the console of ``instance``."""

    @abc.abstractmethod
    def verify(self) -> list[str]:
        """Problems of the hypervisor on this node, one line each."""

    def powercycle_node(self, hvparams: Mapping[str, Any]) -> str:
        """Hard-reboot this node now (``gnt-node powercycle``); returns
        only when that failed, saying why.  Runs in a child forked from
        the node daemon: system calls first, nothing that takes a lock
        another thread may have held (see :mod:`ganeti.hypervisor.power`).
        """
        return power.linux_powercycle()

    # --- Migration ------------------------------------------------------------
    #
    # The sequence (driven by the master):
    #   info = source.migration_info(instance)
    #   target.accept_instance(instance, info, target_address)
    #   source.migrate_instance(instance, target_address, live)
    #   target.finalize_migration(instance, info, success)
    #   source.finalize_migration_source(instance, success)
    # If a step fails, the remaining finalize calls run with success=False.

    def _no_migration(self) -> errors.HypervisorError:
        return errors.HypervisorError(
            f"Hypervisor {self.NAME} does not support migration",
            errors.ErrorCode.INVAL)

    def migration_info(self, instance: objects.Instance) -> str:
        """On the source: an opaque blob the target needs to accept."""
        raise self._no_migration()

    def accept_instance(self, instance: objects.Instance, info: str,
                        target_address: str,
                        block_devices: BlockDevices = ()) -> None:
        """On the target: prepare to receive ``instance`` at
        ``target_address`` (reserve its memory, listen) with its disks
        at ``block_devices`` on this node."""
        raise self._no_migration()

    def migrate_instance(self, instance: objects.Instance, target_address: str,
                         live: bool) -> None:
        """On the source: send the running instance to the target."""
        raise self._no_migration()

    def finalize_migration(self, instance: objects.Instance, info: str,
                           success: bool) -> None:
        """On the target: make the received instance run (``success``) or
        drop what :meth:`accept_instance` prepared."""
        raise self._no_migration()

    def finalize_migration_source(self, instance: objects.Instance,
                                  success: bool) -> None:
        """On the source: forget the instance that left (``success``) or
        make sure it runs here again."""
        raise self._no_migration()

    def get_migration_status(self, instance: objects.Instance
                             ) -> MigrationStatus:
        """On the source: how far an outgoing migration got."""
        raise self._no_migration()
