"""What a local cluster's node roots need around the hypervisor.

A local cluster's nodes share this machine's kernel, but each node
daemon looks at its own root: the bridge check reads
``<root>/sys/class/net/<link>/bridge``.

- fake hypervisor: nothing real is attached to a bridge, so each node
  root gets the entry of the cluster's default link (``xen-br0``, Ganeti's
  default) as a simulated bridge: a fresh local cluster can start an
  instance with the default NIC.
- kvm: the instances' taps are real, so the cluster gets a real bridge
  (``gntlc`` and a number; every node's taps join it, so a migrated guest
  keeps its network) made the default link (``-N link=``), and each node
  root's ``sys/class/net`` is the host's (a symbolic link).  Stopping the
  cluster kills the qemu processes its nodes started and removes the
  bridge.  qemu runs under TCG (``kvm_flag=disabled``) unless asked
  otherwise: a machine whose /dev/kvm cannot boot a guest is common in
  CI.

- chroot: as for the fake hypervisor, the default link is a simulated
  bridge (a chroot instance has no NICs to attach); each node root gets
  the busybox OS definition (``doc/examples/os/busybox`` of the checkout,
  or the installed one), so ``gnt-instance add -o busybox+heartbeat`` works out of
  the box.  The instances' processes and mounts outlive the node
  daemons: stopping any local cluster (also one that enabled chroot
  later) kills the processes and unmounts the roots
  (:func:`ganeti.hypervisor.chroot.stop_all`).
- xen-pvm, xen-hvm: every node uses the xl stand-in
  (``GANETI_XL_STANDIN=1`` in the cluster's environment, see
  :mod:`ganeti.standins.xl`); each node root gets stand-in files where
  the default hvparams name the PV kernel, the HVM loader and the device
  model (the stand-in checks that they exist; nothing boots), the
  simulated bridge, and for xen-hvm the cluster's VNC password file (one
  random password per cluster, the same on every node, as
  ``redist-conf`` would make it).  Stopping the cluster kills migration
  receivers the nodes left.

LVM: every node uses the lvm2 simulator (``GANETI_LVM_SIMULATOR=1`` in
the cluster's environment, see :mod:`ganeti.standins.lvm`) and
its root gets the volume group ``xenvg`` on :data:`LVM_PVS` sparse
physical volumes, so ``-t plain`` works out of the box.

DRBD: every node uses the DRBD simulator, all with one state directory
(:func:`drbd_state_dir`, ``GANETI_DRBD_SIMULATOR`` in the cluster's
environment, see :mod:`ganeti.standins.drbd`), so ``-t drbd`` works out
of the box; its mirrors' data volumes are the lvm2 simulator's files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import Final

from ganeti import constants, errors, params, pathutils
from ganeti.standins import lvm as simulator

#: Fake physical volumes of each node's volume group (name -> MiB); the
#: volumes are sparse files, so the space is virtual.
LVM_PVS: Final = {f"/dev/lcpv{index}": 64 * 1024 for index in range(4)}

#: The default NIC link of Ganeti (cluster nicparams).
DEFAULT_LINK: Final = "xen-br0"
SYSFS_NET: Final = "/sys/class/net"
#: The OS definition a chroot cluster's nodes get.
CHROOT_OS: Final = "busybox"


def bridge_name(directory: str) -> str:
    """The kvm cluster's bridge: a name unique to the cluster directory,
    at most 15 characters (the kernel's limit)."""
    digest = hashlib.sha1(os.path.abspath(directory).encode()).hexdigest()
    return f"gntlc{digest[:8]}"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)


def create_bridge(name: str) -> None:
    res = _ip("link", "add", name, "type", "bridge")
    if res.returncode != 0 and "File exists" not in res.stderr:
        raise errors.OpExecError(
            f"Cannot create the local cluster's bridge {name}:"
            f" {res.stderr.strip()}", errors.ErrorCode.ENVIRON)
    res = _ip("link", "set", name, "up")
    if res.returncode != 0:
        raise errors.OpExecError(
            f"Cannot bring up the bridge {name}: {res.stderr.strip()}",
            errors.ErrorCode.ENVIRON)


def delete_bridge(name: str) -> bool:
    return _ip("link", "del", name).returncode == 0


def drbd_state_dir(directory: str) -> str:
    """The DRBD simulator's state, shared by the cluster's nodes."""
    return os.path.join(os.path.abspath(directory), "drbd-simulator")


def prepare_node(root: str, hypervisor: str) -> None:
    """Make ``root``'s view of the network fit ``hypervisor``; give it
    its simulated volume group."""
    paths = pathutils.Paths(root)
    simulator.LvmSimulator(simulator.state_dir(paths)).create_vg(
        constants.DEFAULT_VG, LVM_PVS)
    net = paths.under(SYSFS_NET)
    if hypervisor == constants.HT_KVM:
        os.makedirs(os.path.dirname(net), exist_ok=True)
        if not os.path.islink(net):
            os.symlink(SYSFS_NET, net)
        return
    os.makedirs(os.path.join(net, DEFAULT_LINK, "bridge"), exist_ok=True)
    if hypervisor == constants.HT_CHROOT:
        install_example_os(paths, CHROOT_OS)
    if hypervisor in (constants.HT_XEN_PVM, constants.HT_XEN_HVM):
        _prepare_xen(paths, hypervisor)


def example_os_source(name: str) -> str:
    """Where the shipped OS definition ``name`` is: the checkout's
    ``doc/examples/os/<name>``, else the configured OS search path (an
    installed build)."""
    # The checkout: the parent of lib/, which pylib/ganeti links to.
    repo = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    candidates = [os.path.join(repo, "doc", "examples", "os", name),
                  *(os.path.join(d, name)
                    for d in pathutils.CONFIGURED_OS_SEARCH_PATH)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, constants.OS_API_FILE)):
            return candidate
    raise errors.OpExecError(
        f"Cannot find the OS definition {name} (looked in"
        f" {', '.join(candidates)})", errors.ErrorCode.ENVIRON)


def install_example_os(paths: pathutils.Paths, name: str) -> None:
    """Copy the shipped OS ``name`` into the node root's first OS
    directory (unless it is there)."""
    target = os.path.join(paths.os_search_path[0], name)
    if not os.path.exists(target):
        shutil.copytree(example_os_source(name), target, symlinks=True)


def stop_chroot_instances(roots: Sequence[str]) -> list[str]:
    """Kill the processes of the chroot instances the nodes under
    ``roots`` started and unmount their roots; their names."""
    from ganeti.hypervisor import chroot

    stopped = []
    for root in roots:
        stopped += chroot.stop_all(pathutils.Paths(root).run_dir)
    return stopped


#: hvparams naming node files the xl stand-in checks for.
XEN_NODE_FILES: Final = ("kernel_path", "device_model")


def _prepare_xen(paths: pathutils.Paths, hypervisor: str) -> None:
    defaults = params.hv_defaults(hypervisor)
    for name in XEN_NODE_FILES:
        if name in defaults:
            target = paths.under(str(defaults[name]))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write("xl stand-in: not a real binary\n")
    if hypervisor == constants.HT_XEN_HVM:
        shared = os.path.join(os.path.dirname(paths.root), "vnc-cluster-password")
        if not os.path.exists(shared):
            with open(os.open(shared, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                              0o600), "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(8) + "\n")
        target = paths.under(str(defaults["vnc_password_file"]))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(shared, target)
        os.chmod(target, 0o600)


def init_args(hypervisor: str, bridge: str) -> list[str]:
    """Extra ``gnt-cluster init`` arguments for ``hypervisor``."""
    lvm = ["--vg-name", constants.DEFAULT_VG]
    if hypervisor != constants.HT_KVM:
        return lvm
    return [*lvm, "-N", f"link={bridge}",
            "-H", "kvm:kvm_flag=disabled,kernel_path=,vnc_bind_address="]


def stop_kvm_instances(roots: Sequence[str]) -> list[str]:
    """Kill the qemu processes the nodes under ``roots`` started (they
    run daemonized, outliving the node daemons); their names."""
    from ganeti.hypervisor.kvm import runtime

    killed = []
    for root in roots:
        dirs = runtime.RuntimeDirs(os.path.join(
            pathutils.Paths(root).run_dir, runtime.SUBDIR))
        for name in dirs.names():
            pid = runtime.qemu_pid(dirs, name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.append(name)
            dirs.remove(name)
    return killed


def stop_xen_receivers(roots: Sequence[str]) -> list[str]:
    """Kill the migration receivers the nodes under ``roots`` left (they
    run in their own sessions, outliving the node daemons); whose."""
    from ganeti.hypervisor.xen import core

    killed = []
    for root in roots:
        directory = os.path.join(pathutils.Paths(root).run_dir, core.SUBDIR,
                                 "receive")
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(directory):
                if not entry.endswith(".pid"):
                    continue
                with contextlib.suppress(OSError, ValueError):
                    with open(os.path.join(directory, entry)) as handle:
                        pid = int(handle.read().strip())
                    os.killpg(pid, signal.SIGKILL)
                    killed.append(entry.removesuffix(".pid"))
    return killed
