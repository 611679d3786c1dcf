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
import signal
import subprocess
from collections.abc import Sequence
from typing import Final

from ganeti import constants, errors, pathutils
from ganeti.standins import lvm as simulator

#: Fake physical volumes of each node's volume group (name -> MiB); the
#: volumes are sparse files, so the space is virtual.
LVM_PVS: Final = {f"/dev/lcpv{index}": 64 * 1024 for index in range(4)}

#: The default NIC link of Ganeti (cluster nicparams).
DEFAULT_LINK: Final = "xen-br0"
SYSFS_NET: Final = "/sys/class/net"


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
