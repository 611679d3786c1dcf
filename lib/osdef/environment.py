"""The environment OS scripts run with.

Scripts get their input from environment variables only, and nothing
else: the node daemon's own environment is never inherited, and ``PATH``
is a fixed value (:data:`SCRIPT_PATH`).  Which variables are set depends
on the OS API version spoken only where current Ganeti makes it depend
(``doc/design/os-interface.rst`` has the table, script by script and API
by API, and ``test/unit/test_os_interface_table.py`` keeps it true):

Every API (10, 15, 20)
    ``OS_API_VERSION``, ``INSTANCE_NAME``, ``INSTANCE_OS`` and ``OS_NAME``,
    ``OS_VARIANT`` (always set: the variant, empty for an OS without
    variants and for API 10, which has none), ``HYPERVISOR`` (and the 2.1
    design's ``INSTANCE_HYPERVISOR``), ``DEBUG_LEVEL``, ``INSTANCE_UUID``,
    ``INSTANCE_PRIMARY_NODE``, ``INSTANCE_SECONDARY_NODES`` (space
    separated), ``DISK_COUNT``, per disk ``DISK_<N>_PATH``,
    ``DISK_<N>_ACCESS``, ``DISK_<N>_UUID``, ``DISK_<N>_NAME`` (when the
    disk has a name), ``DISK_<N>_SIZE`` (MiB; this project's addition),
    ``DISK_<N>_BACKEND_TYPE`` (``block`` or ``file:<driver>``) and
    ``DISK_<N>_FRONTEND_TYPE`` (the hypervisor's ``disk_type``, when it has
    one), ``NIC_COUNT``, per NIC ``NIC_<N>_MAC``, ``NIC_<N>_UUID``,
    ``NIC_<N>_NAME`` (when named), ``NIC_<N>_IP`` (when the NIC has one),
    ``NIC_<N>_MODE``, ``NIC_<N>_LINK``, ``NIC_<N>_BRIDGE`` (bridged NICs
    only) and ``NIC_<N>_FRONTEND_TYPE`` (the hypervisor's ``nic_type``,
    when it has one), ``INSTANCE_BE_<param>`` and ``INSTANCE_HV_<param>``
    for every backend and hypervisor parameter (the parameter name as
    declared, in lower case, as Ganeti exports it).

API 20 adds
    ``OSP_<NAME>`` for every OS parameter (name upper-cased, ``-`` becomes
    ``_``) and the 2.1 design's ``INSTANCE_OS_PARAMETER_<NAME>`` with the
    same value.  Values must be made of safe characters
    (:data:`ganeti.ht.TSafeString`); anything else is refused naming the
    parameter, before any script runs.  Below API 20 OS parameters are
    never passed (as in Ganeti, instances may still carry them).

Script-specific variables (``INSTANCE_REINSTALL``, ``IMPORT_*``,
``EXPORT_*``, ``OLD_INSTANCE_NAME``) are added by the operations in
:mod:`ganeti.osdef.scripts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ganeti import constants, errors, objects, params
from ganeti.osdef.definition import (
    SUPPORTED_API_VERSIONS,
    VARIANT_RE,
    OsDefinition,
)

#: ``PATH`` of every OS script (the environment is otherwise clean).
SCRIPT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: One disk as the scripts see it: (path on this node, disk, access mode).
DiskInfo = tuple[str, objects.Disk, str]

def env_value(value: Any) -> str:
    """A parameter value as text: booleans as ``True``/``False`` (as
    Ganeti exports them), None as the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def os_param_var(name: str) -> str:
    """``OSP_<NAME>`` for an OS parameter name."""
    return "OSP_" + name.upper().replace("-", "_")


def os_param_design_var(name: str) -> str:
    """The 2.1 design's ``INSTANCE_OS_PARAMETER_<NAME>``."""
    return "INSTANCE_OS_PARAMETER_" + name.upper().replace("-", "_")


def check_os_parameters(osdef: OsDefinition,
                        osparams: Mapping[str, Any]) -> dict[str, str]:
    """The OS parameters, checked: declared by the OS and made of safe
    characters.  Raises :class:`~ganeti.errors.ParameterError` naming the
    parameter."""
    checked = params.check_os_params(dict(osparams), osdef.parameters,
                                     os_name=osdef.name)
    return {str(k): str(v) for k, v in checked.items()}


def os_parameter_env(osdef: OsDefinition,
                     osparams: Mapping[str, Any]) -> dict[str, str]:
    """``OSP_*`` and ``INSTANCE_OS_PARAMETER_*`` for checked parameters."""
    result: dict[str, str] = {}
    for name, value in sorted(check_os_parameters(osdef, osparams).items()):
        result[os_param_var(name)] = value
        result[os_param_design_var(name)] = value
    return result


def _check_api(osdef: OsDefinition, api_version: int) -> int:
    if api_version not in SUPPORTED_API_VERSIONS:
        raise errors.ProgrammerError(
            f"OS API version {api_version!r} is not supported")
    if api_version not in osdef.api_versions:
        raise errors.ProgrammerError(
            f"OS {osdef.name!r} does not speak API version {api_version}")
    return api_version


def _check_variant(osdef: OsDefinition, variant: str | None) -> None:
    if variant is not None and not VARIANT_RE.fullmatch(variant):
        raise errors.ParameterError(
            f"Invalid variant name {variant[:40]!r} for OS {osdef.name!r}",
            parameter="os_name")


def _check_debug_level(debug_level: int) -> None:
    if isinstance(debug_level, bool) or not isinstance(debug_level, int) \
            or debug_level < 0:
        raise errors.ProgrammerError(f"Invalid debug level {debug_level!r}")


def _backend_type(disk: objects.Disk) -> str:
    """``block``, or ``file:<driver>`` for file-based disks."""
    if disk.dev_type != constants.LD_FILE:
        return "block"
    driver = disk.logical_id[0] if disk.logical_id else None
    if driver not in constants.FILE_DRIVERS:
        driver = disk.params.get("driver", constants.FD_LOOP)
    return f"file:{driver}"


def _disk_env(disks: Sequence[DiskInfo],
              hvparams: Mapping[str, Any]) -> dict[str, str]:
    result = {"DISK_COUNT": str(len(disks))}
    for idx, (path, disk, access) in enumerate(disks):
        if access not in constants.DISK_ACCESS_SET:
            raise errors.ProgrammerError(
                f"Disk {idx}: invalid access mode {access!r}")
        if not path:
            raise errors.ProgrammerError(f"Disk {idx}: no path on this node")
        prefix = f"DISK_{idx}_"
        result[prefix + "PATH"] = path
        result[prefix + "ACCESS"] = access
        if "disk_type" in hvparams:
            result[prefix + "FRONTEND_TYPE"] = env_value(hvparams["disk_type"])
        result[prefix + "BACKEND_TYPE"] = _backend_type(disk)
        result[prefix + "SIZE"] = str(disk.size)
        result[prefix + "UUID"] = disk.uuid
        if disk.name:
            result[prefix + "NAME"] = disk.name
    return result


def _nic_env(nics: Sequence[objects.NIC],
             nicparams: Sequence[Mapping[str, Any]],
             hvparams: Mapping[str, Any]) -> dict[str, str]:
    if len(nicparams) != len(nics):
        raise errors.ProgrammerError(
            f"Got {len(nicparams)} filled nicparams for {len(nics)} NICs")
    result = {"NIC_COUNT": str(len(nics))}
    for idx, (nic, filled) in enumerate(zip(nics, nicparams, strict=True)):
        prefix = f"NIC_{idx}_"
        mode = env_value(filled.get("mode", ""))
        link = env_value(filled.get("link", ""))
        result[prefix + "MAC"] = nic.mac
        if nic.ip:
            result[prefix + "IP"] = nic.ip
        result[prefix + "MODE"] = mode
        result[prefix + "LINK"] = link
        if mode == constants.NIC_MODE_BRIDGED:
            result[prefix + "BRIDGE"] = link
        if "nic_type" in hvparams:
            result[prefix + "FRONTEND_TYPE"] = env_value(hvparams["nic_type"])
        result[prefix + "UUID"] = nic.uuid
        if nic.name:
            result[prefix + "NAME"] = nic.name
    return result


def _param_env(prefix: str, values: Mapping[str, Any]) -> dict[str, str]:
    return {f"{prefix}{name}": env_value(value)
            for name, value in sorted(values.items())}


def _merge_extra(result: dict[str, str],
                 extra: Mapping[str, str] | None) -> None:
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise errors.ProgrammerError(
                f"Extra environment entries must be strings: {key!r:.40}")
        if key in result:
            raise errors.ProgrammerError(
                f"Extra environment variable {key} would replace a variable "
                f"of the OS interface")
        result[key] = value


def check_env(env: Mapping[str, str]) -> None:
    """Refuse values an environment cannot carry (NUL bytes)."""
    for key, value in env.items():
        if "\0" in value:
            raise errors.ParameterError(
                f"Value of {key} contains a NUL byte", parameter=key)


def os_environment(osdef: OsDefinition, api_version: int,
                   instance: objects.Instance, *,
                   filled_hvparams: Mapping[str, Any],
                   filled_beparams: Mapping[str, Any],
                   filled_nicparams: Sequence[Mapping[str, Any]],
                   disks: Sequence[DiskInfo],
                   debug_level: int = 0,
                   osparams: Mapping[str, Any] | None = None,
                   variant: str | None = None,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The common environment of every instance script (see the module
    documentation for what each API version gets).

    ``disks`` are this node's view of the instance's disks, in order;
    ``filled_nicparams`` has the effective parameters of each NIC, in
    order.  ``osparams`` (effective values) matter only for API 20 and are
    checked first.  ``extra`` adds variables; it may not replace any.
    """
    api = _check_api(osdef, api_version)
    _check_variant(osdef, variant)
    _check_debug_level(debug_level)
    has_variants = api >= constants.OS_API_V15
    result: dict[str, str] = {}
    if api >= constants.OS_API_V20:
        result.update(os_parameter_env(osdef, osparams or {}))
    result.update({
        "PATH": SCRIPT_PATH,
        "OS_API_VERSION": str(api),
        "INSTANCE_NAME": instance.name,
        "INSTANCE_OS": instance.os,
        "HYPERVISOR": instance.hypervisor,
        "DEBUG_LEVEL": str(debug_level),
        # Always set, as Ganeti does: empty for an OS without variants and
        # for API 10 (which has none).
        "OS_VARIANT": (variant or "") if has_variants else "",
        "INSTANCE_HYPERVISOR": instance.hypervisor,
        "OS_NAME": osdef.name,
        "INSTANCE_UUID": instance.uuid,
        "INSTANCE_PRIMARY_NODE": instance.primary_node,
        "INSTANCE_SECONDARY_NODES": " ".join(instance.secondary_nodes),
    })
    result.update(_disk_env(disks, filled_hvparams))
    result.update(_nic_env(instance.nics, filled_nicparams, filled_hvparams))
    result.update(_param_env("INSTANCE_BE_", filled_beparams))
    result.update(_param_env("INSTANCE_HV_", filled_hvparams))
    _merge_extra(result, extra)
    check_env(result)
    return result


def verify_environment(osdef: OsDefinition, osparams: Mapping[str, Any], *,
                       variant: str | None = None,
                       debug_level: int = 0) -> dict[str, str]:
    """The environment of ``verify parameters`` (API 20): the OS's name,
    API version, variant (empty for none) and debug level, and its
    parameters; no instance variables."""
    _check_variant(osdef, variant)
    _check_debug_level(debug_level)
    result = {
        "PATH": SCRIPT_PATH,
        "OS_API_VERSION": str(osdef.api_version),
        "OS_NAME": osdef.name,
        "OS_VARIANT": variant or "",
        "DEBUG_LEVEL": str(debug_level),
    }
    result.update(os_parameter_env(osdef, osparams))
    return result
