"""The chroot hypervisor of Ganeti 2.1: an instance is a directory tree
with processes chrooted into it.

There is no virtual machine.  The instance's first disk holds its root
filesystem (made by the OS definition's create script); starting the
instance mounts it at ``<run_dir>/chroot-hypervisor/<instance>`` (a file
disk through a loop device, a block device directly, a directory by a
bind mount; read-only for a disk of mode ``ro``; other disks are not
used) and runs the init script (hvparam ``init_script``, default
``/ganeti-chroot``, a path inside the root) as ``chroot ROOT SCRIPT
start`` in a session of its own; the script starts the instance's
services and returns.  An instance runs while some process has its root
directory in the instance's root (``/proc/<pid>/root``), which is how
its processes are found whatever they became: listed, measured and,
at a stop, killed.

Stop runs ``chroot ROOT SCRIPT stop``, waits up to the timeout for the
processes to end, SIGKILLs the ones left, then unmounts everything at or
below the root (the loop device of a file disk goes with its mount) and
removes the mount point.  A soft reboot is the script's ``stop`` (with
the default shutdown timeout and the kill after it) and ``start`` again
on the mounted root.  The console is ``/bin/sh`` chrooted in the root,
run on the node.  Migration is refused: the processes belong to this
node's kernel.

Runtime files, under ``<run_dir>/chroot-hypervisor-runtime``:
``<instance>.json`` (what was started: disk, init script, memory, start
time) and ``<instance>.log`` (the output of the init script's runs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ganeti import constants, errors, objects, params, pathutils, serializer
from ganeti.hypervisor import hostinfo
from ganeti.hypervisor.base import (
    BaseHypervisor,
    BlockDevices,
    ConsoleInfo,
    ConsoleKind,
    InstanceInfo,
    InstanceState,
    NicList,
    NodeHvInfo,
    StopOutcome,
)
from ganeti.hypervisor.chroot import roots
from ganeti.utils import io, process

ROOTS_SUBDIR: Final = "chroot-hypervisor"
RUNTIME_SUBDIR: Final = "chroot-hypervisor-runtime"
#: Seconds the init script's ``start`` may take (it must start the
#: services in the background and return).
START_TIMEOUT: Final = 60.0
#: Seconds to wait for SIGKILLed processes to disappear.
KILL_WAIT: Final = 10.0
#: The shell of the console, inside the root.
CONSOLE_SHELL: Final = "/bin/sh"
#: The tools the driver runs on the node.
TOOLS: Final = ("chroot", "mount", "umount", "blkid")


@dataclass(frozen=True)
class ChrootDirs:
    """The driver's directories on this node."""

    roots: str
    runtime: str

    @classmethod
    def under(cls, run_dir: str) -> ChrootDirs:
        """The directories in the run directory ``run_dir``."""
        return cls(os.path.join(run_dir, ROOTS_SUBDIR),
                   os.path.join(run_dir, RUNTIME_SUBDIR))

    @classmethod
    def for_node(cls) -> ChrootDirs:
        return cls.under(pathutils.get().run_dir)

    def root(self, name: str) -> str:
        return os.path.join(self.roots, name)

    def record_file(self, name: str) -> str:
        return os.path.join(self.runtime, f"{name}.json")

    def log_file(self, name: str) -> str:
        return os.path.join(self.runtime, f"{name}.log")

    def names(self) -> list[str]:
        """Instances with a root directory here, sorted."""
        try:
            return sorted(e for e in os.listdir(self.roots)
                          if not e.startswith("."))
        except FileNotFoundError:
            return []

    def read_record(self, name: str) -> dict[str, Any]:
        """The runtime record of ``name``; {} when there is none or it is
        damaged (the record only informs: processes decide what runs)."""
        try:
            data = serializer.loads(io.read_bytes(self.record_file(name)))
        except errors.GenericError:
            return {}
        return data if isinstance(data, dict) else {}

    def write_record(self, name: str, record: Mapping[str, Any]) -> None:
        io.write_file_atomic(self.record_file(name),
                             serializer.dumps(dict(record)), mode=0o600)


def _log_tail(path: str, lines: int = 2) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()[-4096:]
    except OSError:
        return ""
    found = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(found[-lines:])


class ChrootHypervisor(BaseHypervisor):
    """Instances as chrooted process trees; see the module documentation."""

    NAME = constants.HT_CHROOT

    def __init__(self, dirs: ChrootDirs | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dirs = dirs or ChrootDirs.for_node()
        #: Seconds the running stop may give the init script's ``stop``.
        self._stop_timeout = float(constants.DEFAULT_SHUTDOWN_TIMEOUT)

    # --- helpers --------------------------------------------------------------

    def _pids(self, name: str) -> list[int]:
        return roots.processes_in(self.dirs.root(name))

    def _run_script(self, name: str, root: str, script: str, action: str,
                    timeout: float) -> process.RunResult:
        """``chroot ROOT SCRIPT ACTION`` in a session of its own, its
        output appended to the instance's log."""
        os.makedirs(self.dirs.runtime, mode=0o750, exist_ok=True)
        log = self.dirs.log_file(name)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"--- {script} {action}\n")
        return process.run_cmd(["chroot", root, script, action],
                               reset_env=True, env={"INSTANCE_NAME": name},
                               output_file=log, timeout=timeout, cwd="/")

    def _script_of(self, name: str) -> str:
        return str(self.dirs.read_record(name).get(
            "init_script", params.hv_defaults(self.NAME)["init_script"]))

    def _release(self, name: str) -> None:
        """Unmount the root of a stopped instance, drop its mount point and
        runtime record (the log stays for the next start to append to)."""
        root = self.dirs.root(name)
        try:
            roots.unmount_all(root)
        except errors.HypervisorError as err:
            raise errors.HypervisorError(
                f"Instance {name}: {err}", errors.ErrorCode.ENVIRON) from None
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(root)
        io.remove_file(self.dirs.record_file(name))

    def _kill_all(self, name: str) -> None:
        try:
            roots.kill_all(self.dirs.root(name), timeout=KILL_WAIT,
                           monotonic=self._monotonic, sleep=self._sleep)
        except errors.HypervisorError as err:
            raise errors.HypervisorError(f"Instance {name}: {err}",
                                         errors.ErrorCode.ENVIRON) from None

    # --- start ----------------------------------------------------------------

    def start_instance(self, instance: objects.Instance,
                       block_devices: BlockDevices,
                       hvparams: Mapping[str, Any],
                       beparams: Mapping[str, Any], nics: NicList) -> None:
        name = instance.name
        hvp = params.fill(params.hv_defaults(self.NAME),
                          self.check_parameter_syntax(hvparams))
        script = str(hvp["init_script"])
        if not block_devices:
            raise errors.HypervisorError(
                f"Instance {name}: the chroot hypervisor needs a disk to hold"
                " the instance's root", errors.ErrorCode.INVAL)
        path, disk = block_devices[0]
        label = f"{disk.iv_name or 'disk/0'} ({path})"
        if self._pids(name):
            raise errors.HypervisorError(
                f"Instance {name} is already running on this node",
                errors.ErrorCode.STATE)
        self._release(name)  # what a dead instance left mounted
        root = self.dirs.root(name)
        os.makedirs(self.dirs.runtime, mode=0o750, exist_ok=True)
        os.makedirs(root, mode=0o755, exist_ok=True)
        try:
            self._mount_root(name, path, label, root,
                             disk.mode == constants.DISK_RDONLY)
            self._check_script(name, root, script, label)
            self.dirs.write_record(name, {
                "name": name, "disk": path, "init_script": script,
                "memory": int(beparams.get("maxmem", 0)),
                "started": self._now()})
            res = self._run_script(name, root, script, "start", START_TIMEOUT)
            if res.failed:
                detail = _log_tail(self.dirs.log_file(name))
                raise errors.HypervisorError(
                    f"Instance {name}: {script} start {res.fail_reason}"
                    + (f": {detail}" if detail else ""),
                    errors.ErrorCode.ENVIRON)
        except BaseException:
            with contextlib.suppress(errors.GenericError):
                self._kill_all(name)
            with contextlib.suppress(errors.GenericError):
                self._release(name)
            raise

    def _mount_root(self, name: str, path: str, label: str, root: str,
                    read_only: bool) -> None:
        if not os.path.exists(path):
            raise errors.HypervisorError(
                f"Instance {name}: {label} is missing",
                errors.ErrorCode.ENVIRON)
        if not os.path.isdir(path):
            try:
                fstype = roots.filesystem_type(path)
            except errors.HypervisorError as err:
                raise errors.HypervisorError(
                    f"Instance {name}: cannot read {label}: {err}",
                    errors.ErrorCode.ENVIRON) from None
            if not fstype:
                raise errors.HypervisorError(
                    f"Instance {name}: {label} holds no filesystem (was it"
                    " installed by an OS for the chroot hypervisor?)",
                    errors.ErrorCode.ENVIRON)
        try:
            roots.mount(path, root, read_only)
        except errors.HypervisorError as err:
            raise errors.HypervisorError(
                f"Instance {name}: cannot mount {label} as its root: {err}",
                errors.ErrorCode.ENVIRON) from None

    @staticmethod
    def _check_script(name: str, root: str, script: str, label: str) -> None:
        # As chroot sees it: ".." cannot climb above the root.
        inside = os.path.join(root, os.path.normpath("/" + script).lstrip("/"))
        if os.path.islink(inside):
            return  # resolved inside the chroot: chroot itself will tell
        if not os.path.isfile(inside):
            raise errors.HypervisorError(
                f"Instance {name}: the init script {script} (hvparam"
                f" init_script) is missing in its root on {label}",
                errors.ErrorCode.ENVIRON)
        if not os.access(inside, os.X_OK):
            raise errors.HypervisorError(
                f"Instance {name}: the init script {script} is not"
                " executable", errors.ErrorCode.ENVIRON)

    # --- stop, reboot ---------------------------------------------------------

    def stop_instance(self, instance_name: str, *, force: bool = False,
                      timeout: float = constants.DEFAULT_SHUTDOWN_TIMEOUT
                      ) -> StopOutcome:
        self._stop_timeout = max(1.0, float(timeout))
        outcome = super().stop_instance(instance_name, force=force,
                                        timeout=timeout)
        self._release(instance_name)
        return outcome

    def _soft_stop(self, instance_name: str) -> None:
        # A failing or hanging stop script is not an error: the processes
        # left are killed after the timeout.
        self._run_script(instance_name, self.dirs.root(instance_name),
                         self._script_of(instance_name), "stop",
                         self._stop_timeout)

    def _hard_stop(self, instance_name: str) -> None:
        self._kill_all(instance_name)

    def _is_running(self, instance_name: str) -> bool:
        return bool(self._pids(instance_name))

    def reboot_instance(self, instance_name: str) -> None:
        name = instance_name
        if not self._pids(name):
            raise errors.HypervisorError(
                f"Instance {name} is not running on this node",
                errors.ErrorCode.STATE)
        script = self._script_of(name)
        self._stop_timeout = float(constants.DEFAULT_SHUTDOWN_TIMEOUT)
        BaseHypervisor.stop_instance(self, name)  # keeps the root mounted
        record = self.dirs.read_record(name)
        record["started"] = self._now()
        self.dirs.write_record(name, record)
        res = self._run_script(name, self.dirs.root(name), script, "start",
                               START_TIMEOUT)
        if res.failed:
            detail = _log_tail(self.dirs.log_file(name))
            raise errors.HypervisorError(
                f"Instance {name}: {script} start {res.fail_reason} during"
                " the reboot" + (f": {detail}" if detail else ""),
                errors.ErrorCode.ENVIRON)

    # --- information ----------------------------------------------------------

    def list_instances(self) -> list[str]:
        return [name for name in self.dirs.names() if self._pids(name)]

    def _info(self, name: str, pids: list[int]) -> InstanceInfo:
        started = self.dirs.read_record(name).get("started")
        uptime = (max(0.0, self._now() - float(started))
                  if isinstance(started, (int, float)) else 0.0)
        # A chroot has no virtual CPUs; its memory is what its processes
        # hold.
        return InstanceInfo(name=name, id=min(pids),
                            memory=roots.resident_mib(pids), vcpus=0,
                            state=InstanceState.RUNNING, uptime=uptime)

    def get_instance_info(self, instance_name: str) -> InstanceInfo | None:
        pids = self._pids(instance_name)
        return self._info(instance_name, pids) if pids else None

    def get_all_instances_info(self) -> list[InstanceInfo]:
        found = []
        for name in self.dirs.names():
            pids = self._pids(name)
            if pids:
                found.append(self._info(name, pids))
        return found

    def get_node_info(self) -> NodeHvInfo:
        total = hostinfo.meminfo_mib("MemTotal")
        available = hostinfo.meminfo_mib("MemAvailable")
        used = sum(roots.resident_mib(self._pids(n)) for n in self.dirs.names())
        numa, sockets = hostinfo.cpu_topology()
        return NodeHvInfo(memory_total=total, memory_free=available,
                          memory_dom0=max(0, total - available - used),
                          cpu_total=os.cpu_count() or 1, vcpus_used=0,
                          cpu_nodes=numa, cpu_sockets=sockets)

    def get_console_command(self, instance: objects.Instance,
                            hvparams: Mapping[str, Any]) -> ConsoleInfo:
        name = instance.name
        if not self._pids(name):
            return ConsoleInfo.not_running(name)
        return ConsoleInfo(kind=ConsoleKind.COMMAND, instance=name,
                           command=["chroot", self.dirs.root(name),
                                    CONSOLE_SHELL])

    def verify(self) -> list[str]:
        return [f"chroot: the command {tool} is missing on this node"
                for tool in TOOLS
                if shutil.which(tool, path=process.MINIMAL_PATH) is None]

    # --- migration ------------------------------------------------------------

    def _no_migration(self) -> errors.HypervisorError:
        return errors.HypervisorError(
            "Hypervisor chroot does not support migration: an instance's"
            " processes belong to its node's kernel (use failover)",
            errors.ErrorCode.INVAL)


def stop_all(run_dir: str) -> list[str]:
    """Kill the processes of every chroot instance under ``run_dir`` and
    unmount their roots (a local cluster's stop: its node daemons are
    gone, the instances are not); the instances' names."""
    driver = ChrootHypervisor(ChrootDirs.under(run_dir))
    stopped = []
    for name in driver.dirs.names():
        driver.stop_instance(name, force=True)
        stopped.append(name)
    return stopped
