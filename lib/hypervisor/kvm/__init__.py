"""The KVM hypervisor: instances are qemu processes driven over QMP.

The driver is split by concern:

- :mod:`.cmdline` builds qemu's command line from the filled hvparams
  (a pure function, tested without qemu);
- :mod:`.runtime` keeps the per-instance runtime files (pid file, QMP
  and serial sockets, the record of what was started);
- :mod:`.qmp` talks to a running qemu;
- :mod:`.netdev` opens the taps and runs the ifup script (:mod:`.ifup`).

What an instance *is* on a node comes from the running qemus (their pid
files checked against /proc, QMP and /proc), never from the cluster
configuration.  qemu runs daemonized: the node daemon can restart without
touching its instances.

Start: taps are opened and configured first, then qemu starts with the
taps' descriptors and a QMP socket; the VNC password (read from
``vnc_password_file``) is set through QMP.  Any failure on the way stops
what was started and removes every runtime file; the taps vanish with
the last descriptor.  Shutdown is ACPI power-down through QMP, then a
hard kill after the timeout.

``security_model`` ``pool`` runs qemu (``-runas``) under a uid of the
cluster's uid pool (read from ssconf) taken through
:class:`ganeti.uidpool.UidAllocator`: locked until qemu runs under it,
recorded as ``uid`` in the runtime file, given back when the runtime
files go (stop, kill, a failed start).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from ganeti import constants, errors, objects, ssconf, uidpool
from ganeti.hypervisor import hostinfo
from ganeti.hypervisor.base import (
    BaseHypervisor,
    BlockDevices,
    ConsoleInfo,
    ConsoleKind,
    InstanceInfo,
    InstanceState,
    MigrationStatus,
    NicList,
    NodeHvInfo,
    ParamRule,
    StopOutcome,
)
from ganeti.hypervisor.kvm import cmdline, migration, netdev, qmp, runtime
from ganeti.hypervisor.vnc import node_password
from ganeti.utils import process

#: The device whose access makes KVM acceleration possible.
KVM_DEVICE: Final = "/dev/kvm"
#: Seconds qemu may take to daemonize (it validates its whole command
#: line and opens every file before the parent returns).
START_TIMEOUT: Final = 60.0
#: Seconds to wait for a killed qemu to disappear.
KILL_WAIT: Final = 10.0
#: Lines of qemu's stderr quoted in a start error.
STDERR_TAIL: Final = 3

#: qemu's run states (query-status) -> our runtime states.
_QEMU_STATES: Final[Mapping[str, str]] = {
    "running": InstanceState.RUNNING,
    "debug": InstanceState.PAUSED,
    "paused": InstanceState.PAUSED,
    "inmigrate": InstanceState.PAUSED,
    "postmigrate": InstanceState.PAUSED,
    "prelaunch": InstanceState.PAUSED,
    "finish-migrate": InstanceState.PAUSED,
    "restore-vm": InstanceState.PAUSED,
    "save-vm": InstanceState.PAUSED,
    "suspended": InstanceState.PAUSED,
    "watchdog": InstanceState.BLOCKED,
    "io-error": InstanceState.BLOCKED,
    "shutdown": InstanceState.SHUTDOWN,
    "internal-error": InstanceState.CRASHED,
    "guest-panicked": InstanceState.CRASHED,
}


def kvm_usable() -> bool:
    """Whether this host offers KVM acceleration (/dev/kvm read-write)."""
    return os.access(KVM_DEVICE, os.R_OK | os.W_OK)


class KvmHypervisor(BaseHypervisor):
    """qemu/KVM instances; see the module documentation."""

    NAME = constants.HT_KVM
    CAN_MIGRATE = True
    CAN_MIRROR_LOCAL_DISKS = True
    PARAMETER_RULES: ClassVar[tuple[ParamRule, ...]] = (
        ParamRule("vnc_tls", "vnc_bind_address", "TLS is for the VNC server"),
        ParamRule("vnc_x509_path", "vnc_tls",
                  "certificates are used only with TLS"),
        ParamRule("vnc_x509_verify", "vnc_x509_path",
                  "client certificates are verified against the CA there"),
        ParamRule("initrd_path", "kernel_path",
                  "an initial ramdisk goes with a kernel"),
    )
    NODE_PATH_PARAMETERS: ClassVar[Mapping[str, Any]] = {
        "kernel_path": "file",
        "initrd_path": "file",
        "cdrom_image_path": "file",
        "vnc_x509_path": "dir",
    }
    ANCILLARY_FILE_PARAMETERS = ("vnc_password_file",)

    def __init__(self, dirs: runtime.RuntimeDirs | None = None,
                 kvm_available: bool | None = None,
                 uids: uidpool.UidAllocator | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dirs = dirs or runtime.RuntimeDirs.for_node()
        self.uids = uids or uidpool.UidAllocator()
        self._kvm_available = kvm_available

    @property
    def kvm_available(self) -> bool:
        if self._kvm_available is None:
            self._kvm_available = kvm_usable()
        return self._kvm_available

    @classmethod
    def parameter_rule_problems(cls, filled: Mapping[str, Any]) -> list[str]:
        problems = super().parameter_rule_problems(filled)
        if (filled.get("security_model") == "user"
                and not filled.get("security_domain")):
            problems.append("hvparams 'kvm': security_model 'user' requires"
                            " security_domain (the user qemu runs as)")
        if (filled.get("security_model") != "user"
                and filled.get("security_domain")):
            problems.append("hvparams 'kvm': security_domain is used only"
                            " with security_model 'user'")
        return problems

    # --- helpers --------------------------------------------------------------

    def _pid(self, name: str) -> int | None:
        return runtime.qemu_pid(self.dirs, name)

    def _qmp(self, name: str, timeout: float = qmp.DEFAULT_TIMEOUT
             ) -> qmp.QmpClient:
        return qmp.QmpClient(self.dirs.qmp_socket(name), timeout=timeout)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = self._monotonic() + timeout
        while True:
            if not _alive(pid):
                return True
            if self._monotonic() >= deadline:
                return False
            self._sleep(0.05)

    def _kill(self, name: str, pid: int | None) -> None:
        """Kill qemu (SIGKILL) and drop the runtime files."""
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not self._wait_gone(pid, KILL_WAIT):
                raise errors.HypervisorError(
                    f"Instance {name}: qemu (pid {pid}) did not exit after"
                    " SIGKILL")
        self._forget(name)

    # --- start ----------------------------------------------------------------

    def start_instance(self, instance: objects.Instance,
                       block_devices: BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: NicList) -> None:
        memory, vcpus = self.start_resources(instance.name, block_devices,
                                             beparams)
        self._launch(instance, dict(hvparams), memory, vcpus, list(nics),
                     [cmdline.DiskSpec(path, disk.mode == constants.DISK_RDONLY)
                      for path, disk in block_devices])

    def _program(self, name: str, hvp: Mapping[str, Any]) -> str:
        program = str(hvp.get("kvm_path") or constants.KVM_PATH)
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise errors.HypervisorError(
                f"Instance {name}: qemu binary {program} (hvparam kvm_path)"
                " is missing or not executable on this node",
                errors.ErrorCode.ENVIRON)
        return program

    def _launch(self, instance: objects.Instance, hvp: dict[str, Any],
                memory: int, vcpus: int, nics: list[Mapping[str, Any]],
                disks: list[cmdline.DiskSpec], incoming: bool = False) -> None:
        """Start qemu for ``instance`` (waiting for an incoming migration
        with ``incoming``); on any failure nothing is left."""
        name = instance.name
        self.validate_parameters(hvp)
        program = self._program(name, hvp)
        if self._pid(name) is not None:
            raise errors.HypervisorError(
                f"Instance {name} is already running on this node",
                errors.ErrorCode.STATE)
        password = None
        if hvp.get("vnc_bind_address") and hvp.get("vnc_password_file"):
            password = node_password(name, str(hvp["vnc_password_file"]))
        self.dirs.ensure()
        self._forget(name)  # stale files of a qemu that died
        locked = (self._take_uid(name) if hvp.get("security_model") == "pool"
                  else None)
        try:
            taps = netdev.open_nic_taps(name, nics)
        except BaseException:
            if locked is not None:
                self.uids.release(locked)
            raise
        try:
            spec = cmdline.StartSpec(
                name=name, uuid=instance.uuid, memory=memory, vcpus=vcpus,
                hvparams=self.relocated(hvp), pidfile=self.dirs.pidfile(name),
                qmp_socket=self.dirs.qmp_socket(name),
                serial_socket=self.dirs.serial_socket(name), disks=disks,
                nics=[cmdline.NicSpec(str(nic.get("mac")), tap.fd, tap.name)
                      for nic, tap in zip(nics, taps, strict=True)],
                vnc_port=instance.network_port,
                chroot_dir=self.dirs.chroot_dir(name),
                kvm_available=self.kvm_available, incoming=incoming,
                pool_uid=None if locked is None else locked.uid)
            if hvp.get("use_chroot"):
                os.makedirs(spec.chroot_dir, mode=0o750, exist_ok=True)
            command = cmdline.build_command(spec, kvm_path=program)
            self.dirs.write_runtime(name, {
                "name": name, "uuid": instance.uuid, "memory": memory,
                "vcpus": vcpus, "hvparams": hvp,
                "nics": [{k: v for k, v in dict(nic, tap=tap.name).items()
                          if k != "tap_fd"}
                         for nic, tap in zip(nics, taps, strict=True)],
                "disks": [{"path": d.path, "read_only": d.read_only}
                          for d in disks],
                "vnc_port": instance.network_port, "started": self._now(),
                "incoming": incoming, "migration": None, "command": command,
                "uid": None if locked is None else locked.uid})
            self._run_qemu(name, command, [tap.fd for tap in taps])
            if password is not None:
                self._set_vnc_password(name, password)
        except BaseException:
            with contextlib.suppress(errors.GenericError):
                self._kill(name, self._pid(name))
            if locked is not None:
                self.uids.release(locked)
            raise
        finally:
            netdev.close_taps(taps)
        if locked is not None:
            # qemu runs under the uid now (it switches before the
            # daemonizing parent returns): the lock file alone marks it.
            locked.unlock()

    def _take_uid(self, name: str) -> uidpool.LockedUid:
        """A free uid of the cluster's pool (ssconf), locked."""
        try:
            pool = ssconf.SimpleStore().get_uid_pool()
            return self.uids.request(pool)
        except (errors.NotClusterError, errors.ConfigurationError,
                errors.LockError) as err:
            raise errors.HypervisorError(
                f"Instance {name}: security_model 'pool' needs a free uid"
                f" of the cluster's uid pool: {err}", errors.ErrorCode.NORES
            ) from None

    def _forget(self, name: str) -> None:
        """Drop ``name``'s runtime files (its qemu is gone) and give its
        uid back to the pool."""
        record: dict[str, Any] = {}
        with contextlib.suppress(errors.GenericError):
            record = self.dirs.read_runtime(name) or {}
        self.dirs.remove(name)
        uid = record.get("uid")
        if isinstance(uid, int):
            self.uids.release(uid)

    def _run_qemu(self, name: str, command: list[str],
                  fds: list[int]) -> None:
        result = process.run_cmd(command, timeout=START_TIMEOUT, pass_fds=fds)
        if result.failed:
            lines = [line for line in result.stderr.strip().splitlines()
                     if line.strip()]
            detail = " / ".join(lines[-STDERR_TAIL:]) or result.fail_reason
            raise errors.HypervisorError(
                f"Instance {name}: qemu failed to start: {detail}",
                errors.ErrorCode.ENVIRON)
        if self._pid(name) is None:
            raise errors.HypervisorError(
                f"Instance {name}: qemu exited right after starting",
                errors.ErrorCode.ENVIRON)

    def _set_vnc_password(self, name: str, password: str) -> None:
        with self._qmp(name) as client:
            client.execute("set_password",
                           {"protocol": "vnc", "password": password})

    # --- stop, reboot ---------------------------------------------------------

    def stop_instance(self, instance_name: str, *, force: bool = False,
                      timeout: float = constants.DEFAULT_SHUTDOWN_TIMEOUT
                      ) -> StopOutcome:
        outcome = super().stop_instance(instance_name, force=force,
                                        timeout=timeout)
        if self._pid(instance_name) is None:
            self._forget(instance_name)
        return outcome

    def _soft_stop(self, instance_name: str) -> None:
        try:
            with self._qmp(instance_name) as client:
                client.execute("system_powerdown")
        except qmp.QmpError:
            pass  # the hard stop after the timeout takes over

    def _hard_stop(self, instance_name: str) -> None:
        self._kill(instance_name, self._pid(instance_name))

    def _is_running(self, instance_name: str) -> bool:
        return self._pid(instance_name) is not None

    def reboot_instance(self, instance_name: str) -> None:
        if self._pid(instance_name) is None:
            raise errors.HypervisorError(
                f"Instance {instance_name} is not running on this node",
                errors.ErrorCode.STATE)
        with self._qmp(instance_name) as client:
            client.execute("system_reset")
        record = self.dirs.read_runtime(instance_name)
        if record is not None:
            record["started"] = self._now()
            self.dirs.write_runtime(instance_name, record)

    # --- information ----------------------------------------------------------

    def _hosts_guest(self, name: str) -> bool:
        """Whether the guest of ``name`` runs here: a qemu waiting for an
        incoming migration does not host it yet, and one whose guest left
        (paused after a completed outgoing migration) no longer does, so
        ``gnt-instance migrate --cleanup`` finds the one true copy."""
        if self._pid(name) is None:
            return False
        record = self.dirs.read_runtime(name) or {}
        if record.get("incoming"):
            return False
        if record.get("migration"):
            with contextlib.suppress(qmp.QmpError), \
                    self._qmp(name, timeout=2.0) as client:
                status = (client.execute("query-status") or {}).get("status")
                return status != "postmigrate"
        return True

    def list_instances(self) -> list[str]:
        return [name for name in self.dirs.names() if self._hosts_guest(name)]

    def _info(self, name: str, pid: int) -> InstanceInfo:
        record = self.dirs.read_runtime(name) or {}
        state = InstanceState.RUNNING
        vcpus = int(record.get("vcpus", 0))
        with contextlib.suppress(qmp.QmpError), \
                self._qmp(name, timeout=2.0) as client:
                status = client.execute("query-status") or {}
                state = InstanceState(_QEMU_STATES.get(
                    str(status.get("status")), InstanceState.RUNNING))
                cpus = client.execute("query-cpus-fast")
                if isinstance(cpus, list) and cpus:
                    vcpus = len(cpus)
        uid = record.get("uid")
        return InstanceInfo(name=name, id=pid,
                            memory=int(record.get("memory", 0)),
                            vcpus=vcpus, state=state,
                            uptime=runtime.uptime_of(pid),
                            uid=uid if isinstance(uid, int) else None)

    def get_instance_info(self, instance_name: str) -> InstanceInfo | None:
        pid = self._pid(instance_name)
        return None if pid is None else self._info(instance_name, pid)

    def get_all_instances_info(self) -> list[InstanceInfo]:
        found = []
        for name in self.dirs.names():
            pid = self._pid(name)
            if pid is not None and self._hosts_guest(name):
                found.append(self._info(name, pid))
        return found

    def get_node_info(self) -> NodeHvInfo:
        total = hostinfo.meminfo_mib("MemTotal")
        available = hostinfo.meminfo_mib("MemAvailable")
        # Every qemu holds its memory, also one waiting for or done with
        # a migration.
        records = [self.dirs.read_runtime(n) or {} for n in self.dirs.names()
                   if self._pid(n) is not None]
        used = sum(int(r.get("memory", 0)) for r in records)
        numa, sockets = hostinfo.cpu_topology()
        return NodeHvInfo(
            memory_total=total, memory_free=available,
            memory_dom0=max(0, total - available - used),
            cpu_total=os.cpu_count() or 1,
            vcpus_used=sum(int(r.get("vcpus", 0)) for r in records),
            cpu_nodes=numa, cpu_sockets=sockets)

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        name = instance.name
        if self._pid(name) is None:
            return ConsoleInfo.not_running(name)
        record = self.dirs.read_runtime(name) or {}
        hvp = record.get("hvparams", hvparams)
        vnc = str(hvp.get("vnc_bind_address") or "")
        port = record.get("vnc_port")
        if hvp.get("serial_console", True):
            return ConsoleInfo(
                kind=ConsoleKind.COMMAND, instance=name,
                command=["socat", "STDIO,raw,echo=0,escape=0x1d",
                         f"UNIX-CONNECT:{self.dirs.serial_socket(name)}"],
                host=vnc if vnc and not vnc.startswith("/") else "",
                port=port if vnc and not vnc.startswith("/") else None,
                message="Press Ctrl-] to leave the serial console")
        if vnc and not vnc.startswith("/") and port:
            return ConsoleInfo(kind=ConsoleKind.VNC, instance=name, host=vnc,
                               port=int(port))
        return ConsoleInfo(kind=ConsoleKind.MESSAGE, instance=name,
                           message=f"Instance {name} has neither a serial"
                                   " console nor a VNC server")

    # --- migration (the protocol is in .migration) ---------------------------

    def record(self, name: str) -> dict[str, Any]:
        """The runtime record of ``name``, which must be running here."""
        if self._pid(name) is None:
            raise errors.HypervisorError(
                f"Instance {name} is not running on this node",
                errors.ErrorCode.STATE)
        record = self.dirs.read_runtime(name)
        if record is None:
            raise errors.HypervisorError(
                f"Instance {name}: the KVM runtime file is missing",
                errors.ErrorCode.ENVIRON)
        return record

    def qmp(self, name: str, timeout: float = qmp.DEFAULT_TIMEOUT
            ) -> qmp.QmpClient:
        """A QMP client for ``name``'s qemu (open it with ``with``)."""
        return self._qmp(name, timeout)

    def program(self, name: str, hvp: Mapping[str, Any]) -> str:
        return self._program(name, hvp)

    def pid(self, name: str) -> int | None:
        return self._pid(name)

    def monotonic(self) -> float:
        return self._monotonic()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def kill(self, name: str) -> None:
        """Kill ``name``'s qemu, if any, and drop its runtime files."""
        self._kill(name, self._pid(name))

    def launch_incoming(self, instance: objects.Instance,
                        record: Mapping[str, Any],
                        disks: list[cmdline.DiskSpec]) -> None:
        """Start qemu from a source's runtime record, waiting for the
        incoming migration (``-incoming defer``)."""
        self._launch(instance, dict(record.get("hvparams", {})),
                     int(record["memory"]), int(record["vcpus"]),
                     [{k: v for k, v in nic.items() if k != "tap"}
                      for nic in record.get("nics", [])],
                     disks, incoming=True)

    def migration_info(self, instance: objects.Instance) -> str:
        return migration.info(self, instance)

    def accept_instance(self, instance: objects.Instance, info: str,
                        target_address: str,
                        block_devices: BlockDevices = ()) -> None:
        migration.accept(self, instance, info, target_address,
                         list(block_devices))

    def migrate_instance(self, instance: objects.Instance, target_address: str,
                         live: bool) -> None:
        migration.start(self, instance, target_address, live)

    def get_migration_status(self, instance: objects.Instance
                             ) -> MigrationStatus:
        return migration.status(self, instance)

    def finalize_migration(self, instance: objects.Instance, info: str,
                           success: bool) -> None:
        migration.finalize_target(self, instance, success)

    def finalize_migration_source(self, instance: objects.Instance,
                                  success: bool) -> None:
        migration.finalize_source(self, instance, success)

    def verify(self) -> list[str]:
        problems = []
        if not os.path.exists(netdev.TUN_DEVICE):
            problems.append(f"kvm: {netdev.TUN_DEVICE} is missing (no NICs"
                            " can be created)")
        program = constants.KVM_PATH
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            problems.append(f"kvm: the default qemu binary {program} is"
                            " missing")
        return problems


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as err:
        return err.errno == errno.EPERM
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False
