"""What the xen-pvm and xen-hvm drivers share: the domain's life cycle
through ``xl``, information from ``xl list``/``xl info``, migration.

Per-instance files under ``<run_dir>/xen-hypervisor`` (relocated under
the node's root like every path)::

    conf/<instance>.cfg     the xl domain configuration (mode 0600: an
                            HVM one holds the VNC password)
    runtime/<instance>      the runtime record (JSON; what was started)
    disks/<instance>:<N>    a symbolic link to disk N's device: the
                            configuration names disks by these links, so
                            it stays valid on a migration target whose
                            devices have other paths (DRBD minors)
    receive/<instance>.pid  the migration receiver on a target

Start writes the configuration and the record, then runs ``xl create``;
if that fails, a domain xl left behind is destroyed and every file is
removed before the error (with xl's stderr tail) propagates.  Stop is
``xl shutdown`` then, after the timeout, ``xl destroy``.

What runs on the node comes from ``xl list -l`` (names and domain
types: a xen-pvm driver sees only PV domains, xen-hvm only HVM ones)
and ``xl list`` (state, memory, vCPUs).  Domains in the middle of a
migration (xl names them ``<name>--incoming`` and
``<name>--migratedaway``) belong to nobody.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ganeti import constants, errors, objects, pathutils, serializer
from ganeti.hypervisor import power, runtimefiles
from ganeti.hypervisor.base import (
    BaseHypervisor,
    BlockDevices,
    ConsoleInfo,
    ConsoleKind,
    InstanceInfo,
    MigrationState,
    MigrationStatus,
    NicList,
    NodeHvInfo,
    StopOutcome,
)
from ganeti.hypervisor.nicmodes import NicSettings, nic_settings
from ganeti.hypervisor.xen import parsers, receive, xlcfg
from ganeti.hypervisor.xen.xl import Xl, program_found, stderr_tail
from ganeti.utils import io

SUBDIR: Final = "xen-hypervisor"
#: Suffixes xl gives a domain while it migrates.
MIGRATION_SUFFIXES: Final = ("--incoming", "--migratedaway")
#: Seconds ``xl migrate`` may take.
MIGRATE_TIMEOUT: Final = 3600.0
#: The source's transport to the target's receiver (xl appends "<host>
#: xl migrate-receive ..." to it; the ``#`` makes sh ignore that).
SOCAT: Final = "socat"
#: Format tag of the migration blob.
BLOB_FORMAT: Final = "ganeti-xen-migration-1"


@dataclass(frozen=True)
class XenDirs:
    """The driver's directories on this node."""

    base: str

    @classmethod
    def for_node(cls) -> XenDirs:
        return cls(os.path.join(pathutils.get().run_dir, SUBDIR))

    def _sub(self, name: str) -> str:
        return os.path.join(self.base, name)

    def ensure(self) -> None:
        for sub in ("conf", "runtime", "disks", "receive"):
            os.makedirs(self._sub(sub), mode=0o750, exist_ok=True)

    def config_file(self, name: str) -> str:
        return os.path.join(self._sub("conf"), f"{name}.cfg")

    def record_file(self, name: str) -> str:
        return os.path.join(self._sub("runtime"), name)

    def disk_link(self, name: str, index: int) -> str:
        return os.path.join(self._sub("disks"), f"{name}:{index}")

    def receiver_pidfile(self, name: str) -> str:
        return os.path.join(self._sub("receive"), f"{name}.pid")

    def read_record(self, name: str) -> dict[str, Any] | None:
        return runtimefiles.read_record(self.record_file(name),
                                        "Xen runtime file")

    def write_record(self, name: str, record: Mapping[str, Any]) -> None:
        runtimefiles.write_record(self.record_file(name), record)

    def link_disks(self, name: str, paths: Sequence[str]) -> list[str]:
        """Point ``disks/<name>:<N>`` at each path; the links."""
        links = []
        for index, path in enumerate(paths):
            link = self.disk_link(name, index)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(path, link)
            links.append(link)
        return links

    def remove(self, name: str) -> None:
        """Drop every file of ``name`` (after its domain is gone)."""
        paths = [self.config_file(name), self.record_file(name),
                 self.receiver_pidfile(name)]
        with contextlib.suppress(FileNotFoundError):
            prefix = f"{name}:"
            paths += [os.path.join(self._sub("disks"), entry)
                      for entry in os.listdir(self._sub("disks"))
                      if entry.startswith(prefix)
                      and entry[len(prefix):].isdigit()]
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@dataclass(frozen=True)
class DiskSpec:
    """One disk as the configuration names it."""

    #: xl's target prefix: ``phy:``, ``file:`` or ``tap:aio:``.
    prefix: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class DomainSpec:
    """Everything the configuration writers need."""

    name: str
    uuid: str
    memory: int
    vcpus: int
    hvparams: Mapping[str, Any]
    disks: Sequence[DiskSpec] = ()
    nics: Sequence[NicSettings] = ()
    vnc_port: int | None = None
    vnc_password: str = ""


def disk_prefix(path: str, disk: objects.Disk) -> str:
    """xl's target prefix for a disk: block devices are ``phy:``; file
    disks follow their ``driver`` diskparam as Ganeti 2.1 did (``loop``
    -> ``file:``, xl attaching the file through a loop device or qdisk;
    ``blktap`` -> ``tap:aio:``)."""
    with contextlib.suppress(OSError):
        if stat.S_ISBLK(os.stat(path).st_mode):
            return "phy:"
    if disk.dev_type == constants.LD_FILE:
        driver = str((disk.params or {}).get("driver") or constants.FD_LOOP)
        return "tap:aio:" if driver == constants.FD_BLKTAP else "file:"
    return "phy:"


def cpus_setting(name: str, mask: str, vcpus: int) -> list[tuple[str, Any]]:
    """``cpus`` for ``cpu_mask``: nothing for ``all``, a string for one
    list, a list of strings (one per vCPU) for the ``:`` form."""
    if not mask or mask == "all":
        return []
    parts = mask.split(":")
    if len(parts) == 1:
        return [("cpus", mask)]
    if len(parts) != vcpus:
        raise errors.HypervisorError(
            f"Instance {name}: hvparam cpu_mask {mask!r} has {len(parts)}"
            f" per-vCPU lists but the instance has {vcpus} vCPUs",
            errors.ErrorCode.INVAL)
    return [("cpus", parts)]


def common_settings(spec: DomainSpec) -> list[tuple[str, Any]]:
    """Settings of every domain: identity, size, placement, life cycle."""
    return [("name", spec.name), ("uuid", spec.uuid),
            ("memory", spec.memory), ("maxmem", spec.memory),
            ("vcpus", spec.vcpus),
            *cpus_setting(spec.name, str(spec.hvparams.get("cpu_mask", "all")),
                          spec.vcpus),
            ("on_poweroff", "destroy"), ("on_reboot", "restart"),
            ("on_crash", "restart")]


def vif_spec(nic: NicSettings, extra: Sequence[str] = ()) -> str:
    """One ``vif`` entry (xl-network-configuration(5)): bridged NICs join
    ``bridge=<link>``; routed ones get ``script=vif-route`` with the IP."""
    parts = [f"mac={nic.mac}"] if nic.mac else []
    if nic.bridged:
        parts.append(f"bridge={nic.link}")
    else:
        parts += [f"ip={nic.ip}", "script=vif-route"]
    for part in (*parts, *extra):
        if "," in part or "=" not in part:
            raise errors.HypervisorError(
                f"Bad vif setting {part!r:.40} (commas are not allowed)",
                errors.ErrorCode.INVAL)
    return ",".join([*parts, *extra])


def disk_entry(disk: DiskSpec, vdev: str) -> str:
    access = "r" if disk.read_only else "w"
    if "," in disk.path:
        raise errors.HypervisorError(
            f"Disk path {disk.path} contains a comma, which xl's disk"
            " syntax cannot carry", errors.ErrorCode.INVAL)
    return f"{disk.prefix}{disk.path},{vdev},{access}"


def vdev_name(prefix: str, index: int) -> str:
    """``xvda``, ``xvdb``... (``sd``/``hd`` likewise), up to 26 disks."""
    if not 0 <= index < 26:
        raise errors.HypervisorError(f"Disk index {index} is out of range"
                                     " (at most 26 disks)",
                                     errors.ErrorCode.INVAL)
    return f"{prefix}{chr(ord('a') + index)}"


class XenHypervisor(BaseHypervisor):
    """A Xen domain per instance, driven through ``xl``."""

    #: The domain type ``xl list -l`` reports for this driver's domains.
    DOMAIN_TYPE: ClassVar[str]
    CAN_MIGRATE = True

    def __init__(self, dirs: XenDirs | None = None, xl: Xl | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dirs = dirs or XenDirs.for_node()
        self.xl = xl or Xl()

    # --- what the subclasses provide -------------------------------------------

    @abc.abstractmethod
    def domain_settings(self, spec: DomainSpec) -> list[tuple[str, Any]]:
        """The xl.cfg settings of ``spec`` (a pure function)."""

    def node_checks(self, name: str, hvparams: Mapping[str, Any]) -> None:
        """Checks of this node before a start (files named by hvparams);
        errors name the instance and the node."""
        try:
            self.validate_parameters(hvparams)
        except errors.HypervisorError as err:
            raise errors.HypervisorError(
                f"Instance {name} on node {pathutils.hostname()}: {err}",
                errors.ErrorCode.ENVIRON) from None

    def vnc_password(self, name: str, hvparams: Mapping[str, Any]) -> str:
        """The VNC password the domain gets ("" for none)."""
        del name, hvparams
        return ""

    def soft_stop_args(self) -> list[str]:
        return []

    # --- start ----------------------------------------------------------------

    def start_instance(self, instance: objects.Instance,
                       block_devices: BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: NicList) -> None:
        name = instance.name
        node = pathutils.hostname()
        memory, vcpus = self.start_resources(name, block_devices, beparams)
        hvp = dict(hvparams)
        settings = [nic_settings(name, index, nic)
                    for index, nic in enumerate(nics)]
        self.node_checks(name, hvp)
        if name in self._all_names(name):
            raise errors.HypervisorError(
                f"Instance {name} is already running on node {node}",
                errors.ErrorCode.STATE)
        password = self.vnc_password(name, hvp)
        self.dirs.ensure()
        self.dirs.remove(name)  # stale files of a domain that died
        try:
            links = self.dirs.link_disks(name, [p for p, _ in block_devices])
            spec = DomainSpec(
                name=name, uuid=instance.uuid, memory=memory, vcpus=vcpus,
                hvparams=self.relocated(hvp),
                disks=[DiskSpec(disk_prefix(path, disk), link,
                                disk.mode == constants.DISK_RDONLY)
                       for link, (path, disk) in zip(links, block_devices,
                                                     strict=True)],
                nics=settings, vnc_port=instance.network_port,
                vnc_password=password)
            try:
                text = xlcfg.render(
                    self.domain_settings(spec),
                    header=f"{self.NAME} domain of instance {name}, written"
                           " by Ganeti")
            except xlcfg.XlCfgError as err:
                raise errors.HypervisorError(
                    f"Instance {name} on node {node}: {err}",
                    errors.ErrorCode.INVAL) from None
            self._write_config(name, text)
            self.dirs.write_record(name, {
                "name": name, "uuid": instance.uuid, "memory": memory,
                "vcpus": vcpus, "hvparams": hvp,
                "nics": [dataclasses.asdict(n) for n in settings],
                "vnc_port": instance.network_port, "started": self._now(),
                "migration": None})
            self.xl.run("create", self.dirs.config_file(name), instance=name)
        except BaseException:
            self._discard(name)
            raise

    def _write_config(self, name: str, text: str) -> None:
        io.write_file_atomic(self.dirs.config_file(name), text, mode=0o600)

    def _discard(self, name: str) -> None:
        """Destroy a domain xl may have left and remove every file."""
        with contextlib.suppress(errors.GenericError):
            if name in self._all_names():
                self.xl.try_run("destroy", name)
        self.dirs.remove(name)

    # --- stop, reboot ---------------------------------------------------------

    def stop_instance(self, instance_name: str, *, force: bool = False,
                      timeout: float = constants.DEFAULT_SHUTDOWN_TIMEOUT
                      ) -> StopOutcome:
        outcome = super().stop_instance(instance_name, force=force,
                                        timeout=timeout)
        self.dirs.remove(instance_name)
        return outcome

    def _soft_stop(self, instance_name: str) -> None:
        # A guest that ignores the request is destroyed after the timeout.
        self.xl.try_run("shutdown", *self.soft_stop_args(), instance_name)

    def _hard_stop(self, instance_name: str) -> None:
        self.xl.run("destroy", instance_name, instance=instance_name)

    def _is_running(self, instance_name: str) -> bool:
        return instance_name in self.list_instances()

    def reboot_instance(self, instance_name: str) -> None:
        if not self._is_running(instance_name):
            raise errors.HypervisorError(
                f"Instance {instance_name} is not running on node"
                f" {pathutils.hostname()}", errors.ErrorCode.STATE)
        self.xl.run("reboot", *self.soft_stop_args(), instance_name,
                    instance=instance_name)
        record = self.dirs.read_record(instance_name)
        if record is not None:
            record["started"] = self._now()
            self.dirs.write_record(instance_name, record)

    # --- information ----------------------------------------------------------

    def _domains(self, instance: str = "") -> list[parsers.DomainConfig]:
        return parsers.parse_list_long(self.xl.run("list", "-l",
                                                   instance=instance))

    def _all_names(self, instance: str = "") -> set[str]:
        return {d.name for d in self._domains(instance)}

    def _own_names(self) -> list[str]:
        return sorted(d.name for d in self._domains()
                      if d.type == self.DOMAIN_TYPE
                      and d.name != parsers.DOM0_NAME
                      and not d.name.endswith(MIGRATION_SUFFIXES))

    def list_instances(self) -> list[str]:
        return self._own_names()

    def _rows(self) -> dict[str, parsers.DomainRow]:
        return {row.name: row
                for row in parsers.parse_list(self.xl.run("list"))}

    def _info(self, row: parsers.DomainRow) -> InstanceInfo:
        record = self.dirs.read_record(row.name) or {}
        started = record.get("started")
        uptime = max(0.0, self._now() - float(started)) if started else 0.0
        return InstanceInfo(name=row.name, id=row.domid, memory=row.memory,
                            vcpus=row.vcpus, state=row.state, uptime=uptime)

    def get_instance_info(self, instance_name: str) -> InstanceInfo | None:
        if instance_name not in self._own_names():
            return None
        row = self._rows().get(instance_name)
        return None if row is None else self._info(row)

    def get_all_instances_info(self) -> list[InstanceInfo]:
        own = set(self._own_names())
        return [self._info(row) for name, row in sorted(self._rows().items())
                if name in own]

    def get_node_info(self) -> NodeHvInfo:
        info = parsers.parse_info(self.xl.run("info"))
        rows = self._rows()
        dom0 = rows.get(parsers.DOM0_NAME)
        cpus = parsers.info_int(info, "nr_cpus") or 1
        per_socket = ((parsers.info_int(info, "cores_per_socket") or 1)
                      * (parsers.info_int(info, "threads_per_core") or 1))
        return NodeHvInfo(
            memory_total=parsers.info_int(info, "total_memory") or 0,
            memory_free=parsers.info_int(info, "free_memory") or 0,
            memory_dom0=dom0.memory if dom0 else 0,
            cpu_total=cpus,
            vcpus_used=sum(r.vcpus for n, r in rows.items()
                           if n != parsers.DOM0_NAME),
            cpu_nodes=parsers.info_int(info, "nr_nodes") or None,
            cpu_sockets=max(1, cpus // per_socket))

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        name = instance.name
        if not self._is_running(name):
            return ConsoleInfo.not_running(name)
        return ConsoleInfo(kind=ConsoleKind.COMMAND, instance=name,
                           command=self.xl.command("console", name),
                           message="Press Ctrl-] to leave the console")

    def verify(self) -> list[str]:
        problems = []
        result = self.xl.try_run("info")
        if result.failed:
            problems.append(f"{self.NAME}: 'xl info' failed:"
                            f" {stderr_tail(result)}")
        if not program_found([SOCAT]):
            problems.append(f"{self.NAME}: {SOCAT} is missing (needed to"
                            " migrate instances away)")
        return problems

    def powercycle_node(self, hvparams: Mapping[str, Any]) -> str:
        """Linux's way first (it works with a dead root disk; xl needs the
        disk and the toolstack), then the hypervisor's own reboot of the
        machine, ``xl debug-keys R``."""
        why = power.linux_powercycle()
        result = self.xl.try_run("debug-keys", "R")
        if result.failed:
            return f"{why}; 'xl debug-keys R' failed: {stderr_tail(result)}"
        return f"{why}; 'xl debug-keys R' did not reboot the machine"

    # --- migration ------------------------------------------------------------
    #
    # migration_info (source): the runtime record and the domain's xl
    #   configuration, as a JSON blob.
    # accept_instance (target): links the disks, writes the configuration
    #   and listens on <target>:<migration_port> for one connection, to
    #   which it attaches "xl migrate-receive" (.receive).
    # migrate_instance (source): "xl migrate -s 'socat - TCP:<t>:<p> #'
    #   -C <config> <name> <t>"; non-live pauses the domain first.  xl
    #   returns when the domain runs on the target.
    # finalize_migration (target): stops the receiver; confirms the
    #   domain runs (success) or destroys what arrived.
    # finalize_migration_source: drops the files (success) or makes
    #   sure the domain runs here again.

    def _record(self, name: str) -> dict[str, Any]:
        record = self.dirs.read_record(name)
        if record is None or not self._is_running(name):
            raise errors.HypervisorError(
                f"Instance {name} is not running on node"
                f" {pathutils.hostname()}", errors.ErrorCode.STATE)
        return record

    def migration_info(self, instance: objects.Instance) -> str:
        record = self._record(instance.name)
        try:
            with open(self.dirs.config_file(instance.name),
                      encoding="utf-8") as handle:
                config = handle.read()
        except OSError as err:
            raise errors.HypervisorError(
                f"Instance {instance.name}: cannot read its xl configuration:"
                f" {err.strerror or err}", errors.ErrorCode.ENVIRON) from None
        return serializer.dumps({"format": BLOB_FORMAT, "record": record,
                                 "config": config}).decode()

    @staticmethod
    def _blob(name: str, info: str) -> dict[str, Any]:
        try:
            blob = serializer.loads(info)
        except (ValueError, errors.GenericError):
            blob = None
        if not isinstance(blob, dict) or blob.get("format") != BLOB_FORMAT:
            raise errors.HypervisorError(
                f"Instance {name}: the migration information is not from a"
                " Xen driver of this version", errors.ErrorCode.INVAL)
        return blob

    def accept_instance(self, instance: objects.Instance, info: str,
                        target_address: str,
                        block_devices: BlockDevices = ()) -> None:
        name = instance.name
        blob = self._blob(name, info)
        record = dict(blob["record"])
        if name in self._all_names(name):
            raise errors.HypervisorError(
                f"Instance {name} is already running on node"
                f" {pathutils.hostname()}", errors.ErrorCode.STATE)
        port = int(record.get("hvparams", {}).get("migration_port") or 0)
        if not port:
            raise errors.ProgrammerError("migration_port is not filled")
        self.dirs.ensure()
        self.dirs.remove(name)
        try:
            self.dirs.link_disks(name, [p for p, _ in block_devices])
            self._write_config(name, str(blob["config"]))
            record["migration"] = {"role": "target"}
            self.dirs.write_record(name, record)
            self._start_receiver(name, target_address, port)
        except BaseException:
            self._stop_receiver(name)
            self.dirs.remove(name)
            raise

    def _start_receiver(self, name: str, address: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((address, port))
            except OSError as err:
                raise errors.HypervisorError(
                    f"Instance {name}: cannot listen for the migration on"
                    f" {address}:{port} (node {pathutils.hostname()}):"
                    f" {err.strerror or err}", errors.ErrorCode.ENVIRON
                ) from None
            listener.listen(1)
            log = open(self.dirs.receiver_pidfile(name) + ".log", "ab")  # noqa: SIM115
            with log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", receive.__name__,
                     str(listener.fileno()), str(receive.ACCEPT_TIMEOUT), "--",
                     *self.xl.command("migrate-receive")],
                    pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True,
                    env=_child_env())
        finally:
            listener.close()
        with open(self.dirs.receiver_pidfile(name), "w") as handle:
            handle.write(f"{proc.pid}\n")

    def _stop_receiver(self, name: str, *, group: bool = True) -> str:
        """Stop the receiver of ``name`` if it still runs; its log.

        ``group`` kills its whole session (a failed migration: xl
        migrate-receive too); after a success only the receiver itself
        goes, since xl's background process that watches the received
        domain (as after ``xl create``) must live on."""
        pidfile = self.dirs.receiver_pidfile(name)
        with contextlib.suppress(OSError, ValueError), open(pidfile) as handle:
            pid = int(handle.read().strip())
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        log = ""
        with contextlib.suppress(OSError), open(pidfile + ".log") as handle:
            log = handle.read()
        for path in (pidfile, pidfile + ".log"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return log

    def migrate_instance(self, instance: objects.Instance, target_address: str,
                         live: bool) -> None:
        name = instance.name
        record = self._record(name)
        port = int(record["hvparams"]["migration_port"])
        host = f"[{target_address}]" if ":" in target_address else target_address
        transport = f"{SOCAT} - TCP:{host}:{port} #"
        if not live:
            self.xl.run("pause", name, instance=name)
        result = self.xl.try_run("migrate", "-s", transport, "-C",
                                 self.dirs.config_file(name), name,
                                 target_address, timeout=MIGRATE_TIMEOUT)
        record["migration"] = {
            "role": "source", "live": live, "target": target_address,
            "status": (MigrationState.FAILED if result.failed
                       else MigrationState.COMPLETED),
            "info": stderr_tail(result) if result.failed else ""}
        self.dirs.write_record(name, record)
        if result.failed:
            if not live:
                self.xl.try_run("unpause", name)
            raise self.xl.error(("migrate",), result, name)

    def get_migration_status(self, instance: objects.Instance
                             ) -> MigrationStatus:
        record = self.dirs.read_record(instance.name) or {}
        migration = record.get("migration") or {}
        status = migration.get("status") or MigrationState.NONE
        return MigrationStatus(status=str(status),
                               info=str(migration.get("info", "")))

    def finalize_migration(self, instance: objects.Instance, info: str,
                           success: bool) -> None:
        name = instance.name
        log = self._stop_receiver(name, group=not success)
        if success:
            if name in self._own_names():
                # xl resumes a received domain itself; one left paused
                # (a non-live migration with an xl that keeps the state)
                # is resumed here.
                row = self._rows().get(name)
                if row is not None and "p" in row.flags:
                    self.xl.run("unpause", name, instance=name)
                record = self.dirs.read_record(name) or {}
                record["migration"] = None
                self.dirs.write_record(name, record)
                return
            tail = " / ".join(log.strip().splitlines()[-3:])
            self._discard(name)
            raise errors.HypervisorError(
                f"Instance {name} does not run on node {pathutils.hostname()}"
                f" after the migration{': ' + tail if tail else ''}",
                errors.ErrorCode.STATE)
        for domain in (name, f"{name}--incoming"):
            if domain in self._all_names():
                self.xl.try_run("destroy", domain)
        self.dirs.remove(name)

    def finalize_migration_source(self, instance: objects.Instance,
                                  success: bool) -> None:
        name = instance.name
        if success:
            for domain in (name, f"{name}--migratedaway"):
                if domain in self._all_names():
                    self.xl.try_run("destroy", domain)
            self.dirs.remove(name)
            return
        if f"{name}--migratedaway" in self._all_names():
            self.xl.run("rename", f"{name}--migratedaway", name, instance=name)
        rows = self._rows()
        if name in rows and "p" in rows[name].flags:
            self.xl.run("unpause", name, instance=name)
        record = self.dirs.read_record(name)
        if record is not None:
            record["migration"] = None
            self.dirs.write_record(name, record)


def _child_env() -> dict[str, str]:
    """The receiver's environment: ours, with this package importable."""
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(constants.__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env
