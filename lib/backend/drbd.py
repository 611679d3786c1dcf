"""The DRBD calls of this node (Ganeti 2.1 semantics): disconnect and
reconnect mirrors, report their resync, make them secondary, detach and
attach the local disk of a device in use (replace-disks on the primary
of a running instance).

The ``drbd_*`` calls come to both nodes of a mirror with the cluster's
replication addresses; this node finds its own end of each disk with
:func:`ganeti.storage.drbd_ids.for_node` and the name it knows itself by.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from ganeti import errors, pathutils
from ganeti.backend import blockdev, handler
from ganeti.storage import drbd_ids
from ganeti.storage.drbd import Drbd8Device

#: Seconds ``drbd_attach_net`` waits for the peers to connect.
CONNECT_TIMEOUT: Final = 60.0
_POLL: Final = 0.2


def _devices(nodes_ip: dict[str, str], disks: list[dict[str, Any]]
             ) -> list[Drbd8Device]:
    ctx = blockdev.storage_context()
    me = pathutils.hostname()
    result = []
    for index, value in enumerate(disks):
        disk = blockdev.decode_disk(value, f"disk {index}")
        dev = blockdev.device(drbd_ids.for_node(disk, me, nodes_ip), ctx)
        if not isinstance(dev, Drbd8Device):
            raise errors.BlockDeviceError(
                f"{blockdev.disk_name(disk)} is not a DRBD disk",
                errors.ErrorCode.INVAL)
        result.append(dev)
    return result


@handler("drbd_disconnect_net")
def drbd_disconnect_net(nodes_ip: dict[str, str],
                        disks: list[dict[str, Any]]) -> None:
    for dev in _devices(nodes_ip, disks):
        dev.disconnect_net()


def wait_connected(devices: list[Drbd8Device], timeout: float,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], Any] = time.sleep) -> None:
    """Wait until every device is connected to its peer (or resyncing)."""
    deadline = clock() + timeout
    while True:
        waiting = [dev for dev in devices
                   if not ((state := dev.state()) and state.connected)]
        if not waiting:
            return
        if clock() >= deadline:
            raise errors.BlockDeviceError(
                f"DRBD minor(s) {', '.join(str(d.minor) for d in waiting)}"
                f" did not connect to their peer within {timeout:.0f}s",
                errors.ErrorCode.ENVIRON)
        sleep(_POLL)


@handler("drbd_attach_net")
def drbd_attach_net(nodes_ip: dict[str, str], disks: list[dict[str, Any]],
                    instance_name: str, multimaster: bool) -> None:
    """Reconnect the disks (after a disconnect: with ``multimaster`` for a
    live migration); both nodes run this at once, then the connection is
    waited for, and in dual-primary mode both ends become Primary."""
    devices = _devices(nodes_ip, disks)
    for dev in devices:
        state = dev.state()
        if state is None:
            dev.activate()
            state = dev.state()
        if state is not None and state.connection != "StandAlone":
            dev.disconnect_net()
        dev.attach_net(multimaster)
    wait_connected(devices, CONNECT_TIMEOUT)
    if multimaster:
        for dev in devices:
            dev.set_primary()


@handler("drbd_wait_sync")
def drbd_wait_sync(nodes_ip: dict[str, str],
                   disks: list[dict[str, Any]]) -> list[Any]:
    """[all resyncs done, lowest progress in percent] (one look)."""
    done, lowest = True, 100.0
    for dev in _devices(nodes_ip, disks):
        state = dev.state()
        if state is None:
            raise errors.BlockDeviceError(
                f"DRBD minor {dev.minor} is not configured on this node",
                errors.ErrorCode.NOENT)
        if state.syncing:
            done = False
            lowest = min(lowest, state.sync_percent or 0.0)
    return [done, lowest]


def _device(value: dict[str, Any]) -> Drbd8Device:
    disk = blockdev.decode_disk(value)
    dev = blockdev.device(disk)
    if not isinstance(dev, Drbd8Device):
        raise errors.BlockDeviceError(
            f"{blockdev.disk_name(disk)} is not a DRBD disk",
            errors.ErrorCode.INVAL)
    if not dev.exists():
        raise errors.BlockDeviceError(
            f"DRBD minor {dev.minor} is not configured on this node",
            errors.ErrorCode.NOENT)
    return dev


@handler("drbd_detach_disk")
def drbd_detach_disk(disk: dict[str, Any]) -> None:
    _device(disk).detach_disk()


@handler("drbd_attach_disks")
def drbd_attach_disks(disk: dict[str, Any], init_meta: bool) -> None:
    dev = _device(disk)
    state = dev.state()
    if state is not None and state.has_disk:
        return
    dev.attach_disks(init_meta=init_meta)


@handler("blockdev_close")
def blockdev_close(instance_name: str, disks: list[dict[str, Any]]) -> None:
    """Make the instance's mirrored disks Secondary here (another node
    takes them over)."""
    ctx = blockdev.storage_context()
    failures = []
    for index, value in enumerate(disks):
        disk = blockdev.decode_disk(value, f"disk {index}")
        dev = blockdev.device(disk, ctx)
        if not isinstance(dev, Drbd8Device):
            continue
        try:
            if dev.exists():
                dev.set_secondary()
        except errors.GenericError as err:
            failures.append(f"{blockdev.disk_name(disk)}: {err}")
    if failures:
        raise errors.BlockDeviceError(
            f"Cannot close the disks of {instance_name}: "
            + "; ".join(failures))
