"""Instances on this node: start, stop, reboot, information, console,
migration, OS installation and rename, and the bridge check.

The master sends the instance as ``Instance.to_dict()`` and the *filled*
parameters (hypervisor, backend, one nicparams dictionary per NIC, OS),
so the node needs no configuration of its own.  Calls that run the
instance or its OS scripts activate its disks on this node first (an
idempotent step; the master may have called ``blockdev_assemble``
already), so the hypervisor and the scripts always get paths of active
devices.  Stopping leaves the disks active: deactivating them is the
master's ``blockdev_shutdown``, as in Ganeti.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ganeti import constants, errors, hypervisor, objects, osdef, pathutils
from ganeti.backend import blockdev, handler
from ganeti.backend import os_ops as backend_os
from ganeti.hypervisor.base import BaseHypervisor

#: Where the kernel lists network interfaces; a bridge has a ``bridge``
#: directory there.  Relocated under the node's root like every path.
SYSFS_NET: Final = "/sys/class/net"


def _instance(value: Any) -> objects.Instance:
    inst: objects.Instance = blockdev.decode(objects.Instance, value,
                                             "instance")
    return inst


def _driver(name: str) -> BaseHypervisor:
    return hypervisor.get_hypervisor(name)


def _nics(instance: objects.Instance,
          nicparams: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The filled NIC descriptions the hypervisor gets (mac, ip, mode,
    link, and any other filled nicparam)."""
    if len(nicparams) != len(instance.nics):
        raise errors.ParameterError(
            f"Instance {instance.name} has {len(instance.nics)} NIC(s) but"
            f" {len(nicparams)} nicparams were given", parameter="nicparams")
    return [dict(filled, mac=nic.mac, ip=nic.ip)
            for nic, filled in zip(instance.nics, nicparams, strict=True)]


def _start(instance: objects.Instance, hvparams: Mapping[str, Any],
           beparams: Mapping[str, Any],
           nicparams: Sequence[Mapping[str, Any]]) -> None:
    nics = _nics(instance, nicparams)
    devices = blockdev.assemble_disks(instance.disks)
    _driver(instance.hypervisor).start_instance(instance, devices, hvparams,
                                                beparams, nics)


@handler("instance_start")
def instance_start(instance: dict[str, Any], hvparams: dict[str, Any],
                   beparams: dict[str, Any],
                   nicparams: list[dict[str, Any]]) -> None:
    _start(_instance(instance), hvparams, beparams, nicparams)


@handler("instance_shutdown")
def instance_shutdown(instance: dict[str, Any], timeout: int) -> str:
    inst = _instance(instance)
    outcome = _driver(inst.hypervisor).stop_instance(inst.name,
                                                     timeout=timeout)
    return str(outcome)


@handler("instance_reboot")
def instance_reboot(instance: dict[str, Any], reboot_type: str,
                    shutdown_timeout: int, hvparams: dict[str, Any],
                    beparams: dict[str, Any],
                    nicparams: list[dict[str, Any]]) -> None:
    inst = _instance(instance)
    driver = _driver(inst.hypervisor)
    if inst.name not in driver.list_instances():
        raise errors.HypervisorError(
            f"Cannot reboot instance {inst.name}: it is not running on this"
            " node", errors.ErrorCode.STATE)
    if reboot_type == constants.INSTANCE_REBOOT_SOFT:
        driver.reboot_instance(inst.name)
        return
    _nics(inst, nicparams)  # refuse bad input before stopping anything
    driver.stop_instance(inst.name, timeout=shutdown_timeout)
    if reboot_type == constants.INSTANCE_REBOOT_FULL:
        blockdev.deactivate_disks(inst.disks)
    _start(inst, hvparams, beparams, nicparams)


@handler("instance_info")
def instance_info(instance_name: str,
                  hypervisor: str) -> dict[str, Any] | None:
    info = _driver(hypervisor).get_instance_info(instance_name)
    return None if info is None else info.to_dict()


@handler("all_instances_info")
def all_instances_info(hypervisors: list[str]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for name in dict.fromkeys(hypervisors):
        for info in _driver(name).get_all_instances_info():
            if info.name in result:
                raise errors.HypervisorError(
                    f"Instance {info.name} is running under both"
                    f" {owner[info.name]} and {name}", errors.ErrorCode.STATE)
            result[info.name] = info.to_dict()
            owner[info.name] = name
    return result


@handler("instance_list")
def instance_list(hypervisors: list[str]) -> list[str]:
    names: set[str] = set()
    for name in dict.fromkeys(hypervisors):
        names.update(_driver(name).list_instances())
    return sorted(names)


@handler("instance_console_info")
def instance_console_info(instance: dict[str, Any],
                          hvparams: dict[str, Any]) -> dict[str, Any]:
    inst = _instance(instance)
    return _driver(inst.hypervisor).get_console_command(inst,
                                                        hvparams).to_dict()


@handler("instance_migratable")
def instance_migratable(instance: dict[str, Any]) -> None:
    inst = _instance(instance)
    driver = _driver(inst.hypervisor)
    if not driver.CAN_MIGRATE:
        raise errors.HypervisorError(
            f"Hypervisor {inst.hypervisor} does not support migration",
            errors.ErrorCode.INVAL)
    if inst.name not in driver.list_instances():
        raise errors.HypervisorError(
            f"Instance {inst.name} is not running on this node",
            errors.ErrorCode.STATE)
    ctx = blockdev.storage_context()
    missing = [blockdev.disk_name(d) for d in inst.disks
               if not blockdev.device(d, ctx).exists()]
    if missing:
        raise errors.BlockDeviceError(
            f"Instance {inst.name}: disks not found on this node: "
            + ", ".join(missing), errors.ErrorCode.STATE)


@handler("migration_info")
def migration_info(instance: dict[str, Any]) -> str:
    inst = _instance(instance)
    return _driver(inst.hypervisor).migration_info(inst)


@handler("accept_instance")
def accept_instance(instance: dict[str, Any], info: str, target: str) -> None:
    inst = _instance(instance)
    devices = blockdev.assemble_disks(inst.disks)
    _driver(inst.hypervisor).accept_instance(inst, info, target, devices)


@handler("instance_migrate")
def instance_migrate(instance: dict[str, Any], target: str,
                     live: bool) -> None:
    inst = _instance(instance)
    _driver(inst.hypervisor).migrate_instance(inst, target, live)


@handler("finalize_migration")
def finalize_migration(instance: dict[str, Any], info: str,
                       success: bool) -> None:
    inst = _instance(instance)
    _driver(inst.hypervisor).finalize_migration(inst, info, success)


@handler("finalize_migration_source")
def finalize_migration_source(instance: dict[str, Any],
                              success: bool) -> None:
    inst = _instance(instance)
    _driver(inst.hypervisor).finalize_migration_source(inst, success)


@handler("instance_get_migration_status")
def instance_get_migration_status(instance: dict[str, Any]
                                  ) -> dict[str, Any]:
    inst = _instance(instance)
    return _driver(inst.hypervisor).get_migration_status(inst).to_dict()


@handler("instance_os_add")
def instance_os_add(instance: dict[str, Any], reinstall: bool, debug: int,
                    hvparams: dict[str, Any], beparams: dict[str, Any],
                    nicparams: list[dict[str, Any]],
                    osparams: dict[str, Any]) -> dict[str, Any]:
    inst = _instance(instance)
    disks = blockdev.assemble_disks(inst.disks)
    return backend_os.run_instance_script(
        inst, disks, debug=debug, hvparams=hvparams, beparams=beparams,
        nicparams=nicparams, osparams=osparams,
        run=lambda definition, env: osdef.create_instance(
            definition, env, reinstall=reinstall))


@handler("instance_run_rename")
def instance_run_rename(instance: dict[str, Any], old_name: str, debug: int,
                        hvparams: dict[str, Any], beparams: dict[str, Any],
                        nicparams: list[dict[str, Any]],
                        osparams: dict[str, Any]) -> dict[str, Any]:
    inst = _instance(instance)
    if old_name == inst.name:
        raise errors.ParameterError(
            f"Instance {inst.name}: the old name equals the new one",
            parameter="old_name")
    disks = blockdev.assemble_disks(inst.disks)
    return backend_os.run_instance_script(
        inst, disks, debug=debug, hvparams=hvparams, beparams=beparams,
        nicparams=nicparams, osparams=osparams,
        run=lambda definition, env: osdef.rename_instance(
            definition, env, old_name=old_name))


def bridge_exists(name: str) -> bool:
    """Whether ``name`` is a bridge here: ``/sys/class/net/<name>/bridge``
    (under the node's root) is a directory."""
    if "/" in name or name in (".", ".."):
        return False
    path = os.path.join(pathutils.get().under(SYSFS_NET), name, "bridge")
    return os.path.isdir(path)


@handler("bridges_exist")
def bridges_exist(bridges: list[str]) -> None:
    missing = [name for name in dict.fromkeys(bridges)
               if not bridge_exists(name)]
    if missing:
        raise errors.OpPrereqError(
            "Missing bridges: " + ", ".join(missing), errors.ErrorCode.ENVIRON)
