"""Upgrade ``config.data`` documents written by older versions.

The configuration document carries its format version (Ganeti's integer
encoding, 2.1.0 -> 2010000).  An upgrade is an ordered chain of pure steps,
each a ``dict -> dict`` function registered in :data:`UPGRADE_STEPS` with
the version it reads and the version it writes; :func:`upgrade` walks the
chain until the document is at :data:`constants.CONFIG_VERSION`.

A step is frozen in time: it writes the literal values of the format it
produces, never the current defaults of :mod:`ganeti.objects`.  When
``objects.py`` changes its fields, bump the config version and add a step
(a function plus one table row); the golden files under
``test/data/config`` tell whoever forgets.

Steps never guess: a key they know to be obsolete is moved or dropped
explicitly (see the ``*_DROPPED`` tables), and any other key is kept as
it is, so that :meth:`objects.ConfigData.from_dict` reports it instead of
the upgrade losing it silently.

The same module implements the ``cfgupgrade`` command (:func:`main`).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import uuid as _uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ganeti import constants, errors, objects, pathutils

#: Creation/modification time written where an old format kept none:
#: the epoch, read as "unknown" (the upgrade must stay deterministic).
UNKNOWN_TIMESTAMP: Final = 0.0

#: Hypervisor parameters that exist only cluster-wide since 2.1; the
#: 2.0 -> 2.1 step removes them from instances.
GLOBAL_HV_PARAMS: Final = ("migration_port", "migration_bandwidth")


@dataclass(frozen=True)
class Context:
    """What a step may use besides the document itself."""

    new_uuid: Callable[[], str]


#: A step: takes the document (a private copy it may change in place) and
#: returns the upgraded document; it does not set ``version`` itself.
StepFunction = Callable[[dict[str, Any], Context], dict[str, Any]]


@dataclass(frozen=True)
class UpgradeStep:
    """One row of the upgrade table."""

    from_version: int
    to_version: int
    function: StepFunction
    summary: str


def format_version(version: Any) -> str:
    """``2010000`` -> ``"2.1.0"``; anything else is shown as ``repr``."""
    if isinstance(version, int) and not isinstance(version, bool) \
            and version >= 0:
        major, minor, revision = constants.split_version(version)
        return f"{major}.{minor}.{revision}"
    return repr(version)


# --- helpers shared by the steps ---------------------------------------------

def _fail(where: str, expected: str, value: Any) -> errors.ConfigurationError:
    return errors.ConfigurationError(
        f"Malformed configuration: {where} should be {expected}, "
        f"not {type(value).__name__}", errors.ErrorCode.CONFIG)


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "a dictionary", value)
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, "a list", value)
    return value


def _dict_field(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``obj[key]`` as a dictionary, created empty when absent or null."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return _as_dict(value, f"{where}.{key}")


def _list_field(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    """``obj[key]`` as a list, created empty when absent or null."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = []
    return _as_list(value, f"{where}.{key}")


def _fill(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Add the absent fields (or those the old format wrote as null)."""
    for key, value in defaults.items():
        if obj.get(key) is None and (key not in obj or value is not None):
            obj[key] = copy.deepcopy(value)


def _ensure_uuid(obj: dict[str, Any], ctx: Context) -> None:
    if not obj.get("uuid"):
        obj["uuid"] = ctx.new_uuid()


def _sort_tags(obj: dict[str, Any], where: str) -> None:
    """2.0 wrote tag sets in hash order; 2.1 keeps them sorted and unique."""
    tags = _as_list(obj["tags"], f"{where}.tags")
    if all(isinstance(tag, str) for tag in tags):
        obj["tags"] = sorted(set(tags))


def _sorted_keys(mapping: dict[str, Any]) -> list[str]:
    return sorted(mapping, key=str)


# --- Ganeti 2.0 (2000000) -> 2.1 (2010000) -----------------------------------

#: 2.0 keys that 2.1 no longer has: the step below moves their values,
#: then removes exactly these keys (any other key is kept).
CLUSTER_DROPPED_2_0: Final = ("default_bridge", "default_hypervisor")
NIC_DROPPED_2_0: Final = ("bridge",)

# The 2.1 format's values for every optional field, frozen here as
# literals (not taken from constants, whose defaults may move on).  Besides
# the fields 2.1 introduced, they fill the ones 2.0 omitted when null.
_DOCUMENT_2_1: Final[dict[str, Any]] = {
    "nodes": {}, "instances": {}, "serial_no": 1,
    "ctime": UNKNOWN_TIMESTAMP, "mtime": UNKNOWN_TIMESTAMP,
}
_CLUSTER_2_1: Final[dict[str, Any]] = {
    "tags": [], "serial_no": 1,
    "ctime": UNKNOWN_TIMESTAMP, "mtime": UNKNOWN_TIMESTAMP,
    "master_netdev": "", "mac_prefix": "aa:00:00",
    "volume_group_name": None, "file_storage_dir": "",
    "highest_used_port": 10999,
    "tcpudp_port_pool": [], "rsahostkeypub": "",
    "hvparams": {}, "os_hvp": {}, "beparams": {},
    "candidate_pool_size": 10,
    "modify_etc_hosts": True, "modify_ssh_setup": True,
    "maintain_node_health": False, "uid_pool": [],
    # This project's additions to the 2.1 format.
    "diskparams": {}, "osparams": {}, "hidden_os": [], "blacklisted_os": [],
    "redist_files": [],
}
_NODE_2_1: Final[dict[str, Any]] = {
    "tags": [], "master_candidate": False, "offline": False,
    "drained": False, "serial_no": 1,
    "ctime": UNKNOWN_TIMESTAMP, "mtime": UNKNOWN_TIMESTAMP,
}
_INSTANCE_2_1: Final[dict[str, Any]] = {
    "tags": [], "os": "", "hvparams": {}, "beparams": {}, "osparams": {},
    "admin_up": False, "nics": [], "disks": [], "network_port": None,
    "serial_no": 1, "ctime": UNKNOWN_TIMESTAMP, "mtime": UNKNOWN_TIMESTAMP,
}
_NIC_2_1: Final[dict[str, Any]] = {"ip": None, "nicparams": {}}
_DISK_2_1: Final[dict[str, Any]] = {
    "logical_id": [], "physical_id": [], "children": [], "iv_name": "",
    "mode": "rw", "params": {},
}


#: The bridge 2.0 used when its configuration named none.
_DEFAULT_BRIDGE_2_0: Final = "xen-br0"


def _drop(obj: dict[str, Any], keys: Sequence[str]) -> None:
    for key in keys:
        obj.pop(key, None)


def _cluster_2_0_to_2_1(cluster: dict[str, Any], ctx: Context) -> None:
    bridge = cluster.get("default_bridge")
    default_hv = cluster.get("default_hypervisor")
    _drop(cluster, CLUSTER_DROPPED_2_0)
    _ensure_uuid(cluster, ctx)

    nicparams = _dict_field(cluster, "nicparams", "cluster")
    if "default" not in nicparams:
        link = _DEFAULT_BRIDGE_2_0 if bridge is None else bridge
        if not isinstance(link, str):
            raise _fail("cluster.default_bridge", "a string", link)
        nicparams["default"] = {"mode": "bridged", "link": link}

    enabled = _list_field(cluster, "enabled_hypervisors", "cluster")
    if default_hv is not None:
        if not isinstance(default_hv, str):
            raise _fail("cluster.default_hypervisor", "a string", default_hv)
        # 2.1 has no separate default: it is the first enabled hypervisor.
        cluster["enabled_hypervisors"] = [
            default_hv, *(hv for hv in enabled if hv != default_hv)]
    _fill(cluster, _CLUSTER_2_1)
    _sort_tags(cluster, "cluster")


def _node_2_0_to_2_1(node: dict[str, Any], where: str, ctx: Context) -> None:
    _fill(node, _NODE_2_1)
    _sort_tags(node, where)
    _ensure_uuid(node, ctx)


def _nic_2_0_to_2_1(nic: dict[str, Any], where: str, ctx: Context) -> None:
    bridge = nic.get("bridge")
    _drop(nic, NIC_DROPPED_2_0)
    nicparams = _dict_field(nic, "nicparams", where)
    if bridge is not None:
        if not isinstance(bridge, str):
            raise _fail(f"{where}.bridge", "a string", bridge)
        nicparams.setdefault("mode", "bridged")
        nicparams.setdefault("link", bridge)
    _fill(nic, _NIC_2_1)
    _ensure_uuid(nic, ctx)


def _disk_2_0_to_2_1(disk: dict[str, Any], where: str, ctx: Context) -> None:
    _fill(disk, _DISK_2_1)
    _ensure_uuid(disk, ctx)
    children = _as_list(disk["children"], f"{where}.children")
    for idx, child in enumerate(children):
        child_where = f"{where}.children[{idx}]"
        _disk_2_0_to_2_1(_as_dict(child, child_where), child_where, ctx)


def _instance_2_0_to_2_1(inst: dict[str, Any], where: str,
                         ctx: Context) -> None:
    _fill(inst, _INSTANCE_2_1)
    _sort_tags(inst, where)
    _ensure_uuid(inst, ctx)
    _drop(_as_dict(inst["hvparams"], f"{where}.hvparams"), GLOBAL_HV_PARAMS)
    _as_dict(inst["beparams"], f"{where}.beparams")
    for idx, nic in enumerate(_as_list(inst["nics"], f"{where}.nics")):
        nic_where = f"{where}.nics[{idx}]"
        _nic_2_0_to_2_1(_as_dict(nic, nic_where), nic_where, ctx)
    for idx, disk in enumerate(_as_list(inst["disks"], f"{where}.disks")):
        disk_where = f"{where}.disks[{idx}]"
        _disk_2_0_to_2_1(_as_dict(disk, disk_where), disk_where, ctx)


def upgrade_2_0_to_2_1(doc: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Ganeti 2.0 -> 2.1: UUIDs, NIC parameters, no default hypervisor.

    UUIDs are given in a fixed order (cluster, nodes by name, instances by
    name; within an instance the instance, its NICs, then its disks depth
    first) so that a deterministic generator gives a reproducible result.
    """
    cluster = _as_dict(doc.get("cluster"), "cluster")
    _fill(doc, _DOCUMENT_2_1)
    nodes = _as_dict(doc["nodes"], "nodes")
    instances = _as_dict(doc["instances"], "instances")
    _cluster_2_0_to_2_1(cluster, ctx)
    for name in _sorted_keys(nodes):
        where = f"nodes[{name!r}]"
        _node_2_0_to_2_1(_as_dict(nodes[name], where), where, ctx)
    for name in _sorted_keys(instances):
        where = f"instances[{name!r}]"
        _instance_2_0_to_2_1(_as_dict(instances[name], where), where, ctx)
    return doc


# --- Ganeti 2.1 (2010000) -> 2.4 (2040000) -----------------------------------

#: The instance policy a 2.1 cluster gets, frozen: bounds that accept
#: whatever 2.1 accepted, Ganeti's standard specs.
_IPOLICY_2_4: Final[dict[str, Any]] = {
    "minmax": [{
        "min": {"memory-size": 1, "cpu-count": 1, "disk-count": 0,
                "disk-size": 1, "nic-count": 0, "spindle-use": 0},
        "max": {"memory-size": 4194304, "cpu-count": 256, "disk-count": 16,
                "disk-size": 1099511627776, "nic-count": 8,
                "spindle-use": 1024},
    }],
    "std": {"memory-size": 128, "cpu-count": 1, "disk-count": 1,
            "disk-size": 1024, "nic-count": 1, "spindle-use": 1},
    "disk-templates": ["diskless", "drbd", "file", "plain"],
    "vcpu-ratio": 4.0,
    "spindle-ratio": 32.0,
}
#: The name of the group every node of a 2.1 cluster is put into.
_DEFAULT_GROUP_2_4: Final = "default"


def default_group_uuid(cluster_uuid: str) -> str:
    """The UUID the upgrade gives the default group: derived from the
    cluster's (the one group the RAPI of 2.1 clusters reported had it)."""
    return str(_uuid.uuid5(_uuid.UUID(cluster_uuid), _DEFAULT_GROUP_2_4))


def upgrade_2_1_to_2_4(doc: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Ganeti 2.1 -> 2.4: node groups (one "default" group holding every
    node) and the cluster's instance policy."""
    cluster = _as_dict(doc.get("cluster"), "cluster")
    nodes = _as_dict(doc.get("nodes", {}), "nodes")
    groups = _dict_field(doc, "nodegroups", "document")
    if not isinstance(cluster.get("uuid"), str):
        raise _fail("cluster.uuid", "a string", cluster.get("uuid"))
    try:
        group_uuid = default_group_uuid(cluster["uuid"])
    except ValueError:
        group_uuid = ctx.new_uuid()
    if not groups:
        groups[group_uuid] = {
            "name": _DEFAULT_GROUP_2_4, "uuid": group_uuid,
            "alloc_policy": "preferred", "ndparams": {}, "diskparams": {},
            "ipolicy": {}, "tags": [], "serial_no": 1,
            "ctime": UNKNOWN_TIMESTAMP, "mtime": UNKNOWN_TIMESTAMP}
    else:
        group_uuid = _sorted_keys(groups)[0]
    for name in _sorted_keys(nodes):
        node = _as_dict(nodes[name], f"nodes[{name!r}]")
        if not node.get("group"):
            node["group"] = group_uuid
    if cluster.get("ipolicy") is None:
        cluster["ipolicy"] = copy.deepcopy(_IPOLICY_2_4)
    # Ganeti 2.2's cluster default iallocator (none).
    cluster.setdefault("default_iallocator", "")
    return doc


# --- Ganeti 2.4 (2040000) -> 2.6 (2060000) -----------------------------------

#: The backend parameter 2.6 split in two; the step moves its value.
BE_DROPPED_2_4: Final = ("memory",)

#: (``default_iallocator``: for 2.4 documents written without it.)
_CLUSTER_2_6: Final[dict[str, Any]] = {"ndparams": {}, "default_iallocator": ""}
_NODE_2_6: Final[dict[str, Any]] = {"ndparams": {}}
_NIC_2_6: Final[dict[str, Any]] = {"name": None}
_DISK_2_6: Final[dict[str, Any]] = {"name": None, "spindles": None}


def _beparams_2_4_to_2_6(be: dict[str, Any], where: str) -> None:
    """``memory`` becomes ``maxmem`` and ``minmem`` (as Ganeti 2.6 did:
    the old value wins over a ``maxmem``/``minmem`` already there)."""
    if "memory" not in be:
        return
    memory = be["memory"]
    if memory is None:
        raise _fail(f"{where}.memory", "a size", memory)
    _drop(be, BE_DROPPED_2_4)
    be["maxmem"] = be["minmem"] = memory


def _disk_2_4_to_2_6(disk: dict[str, Any], where: str) -> None:
    _fill(disk, _DISK_2_6)
    children = _list_field(disk, "children", where)
    for idx, child in enumerate(children):
        child_where = f"{where}.children[{idx}]"
        _disk_2_4_to_2_6(_as_dict(child, child_where), child_where)


def _instance_2_4_to_2_6(inst: dict[str, Any], where: str) -> None:
    _beparams_2_4_to_2_6(_dict_field(inst, "beparams", where),
                         f"{where}.beparams")
    for idx, nic in enumerate(_list_field(inst, "nics", where)):
        _fill(_as_dict(nic, f"{where}.nics[{idx}]"), _NIC_2_6)
    for idx, disk in enumerate(_list_field(inst, "disks", where)):
        disk_where = f"{where}.disks[{idx}]"
        _disk_2_4_to_2_6(_as_dict(disk, disk_where), disk_where)


def upgrade_2_4_to_2_6(doc: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Ganeti 2.4 -> 2.6: ``memory`` -> ``maxmem``/``minmem``, node
    parameters (empty: the declared defaults apply), disk and NIC names
    and disk spindles (unset)."""
    cluster = _as_dict(doc.get("cluster"), "cluster")
    _fill(cluster, _CLUSTER_2_6)
    groups = _dict_field(cluster, "beparams", "cluster")
    for group in _sorted_keys(groups):
        where = f"cluster.beparams[{group!r}]"
        _beparams_2_4_to_2_6(_as_dict(groups[group], where), where)
    nodes = _dict_field(doc, "nodes", "document")
    for name in _sorted_keys(nodes):
        _fill(_as_dict(nodes[name], f"nodes[{name!r}]"), _NODE_2_6)
    instances = _dict_field(doc, "instances", "document")
    for name in _sorted_keys(instances):
        where = f"instances[{name!r}]"
        _instance_2_4_to_2_6(_as_dict(instances[name], where), where)
    return doc


# --- the table ------------------------------------------------------------------

#: Every known upgrade, oldest first.  To add one: write the function and
#: append a row whose ``to_version`` is the new ``constants.CONFIG_VERSION``.
UPGRADE_STEPS: Final[tuple[UpgradeStep, ...]] = (
    UpgradeStep(constants.build_version(2, 0, 0),
                constants.build_version(2, 1, 0), upgrade_2_0_to_2_1,
                "persistent UUIDs, NIC parameters (mode/link), first enabled"
                " hypervisor as default, no instance-level global hvparams"),
    UpgradeStep(constants.build_version(2, 1, 0),
                constants.build_version(2, 4, 0), upgrade_2_1_to_2_4,
                "node groups (a 'default' group with every node), the "
                "cluster's instance policy, the default iallocator"),
    UpgradeStep(constants.build_version(2, 4, 0),
                constants.build_version(2, 6, 0), upgrade_2_4_to_2_6,
                "backend memory split into maxmem/minmem, node parameters,"
                " disk and NIC names, disk spindles"),
)


def check_table(steps: Sequence[UpgradeStep],
                target: int = constants.CONFIG_VERSION) -> None:
    """Check that ``steps`` is a chain of forward steps ending at ``target``.

    A broken table is a bug, reported as :class:`errors.ProgrammerError`.
    """
    sources: set[int] = set()
    for step in steps:
        if step.to_version <= step.from_version:
            raise errors.ProgrammerError(
                f"Upgrade step {step.function.__name__} does not go forward "
                f"({format_version(step.from_version)} -> "
                f"{format_version(step.to_version)})")
        if step.from_version in sources:
            raise errors.ProgrammerError(
                "Two upgrade steps start from version "
                f"{format_version(step.from_version)}")
        sources.add(step.from_version)
    for step in steps:
        try:
            plan(step.from_version, steps, target)
        except errors.ConfigVersionMismatch as err:
            raise errors.ProgrammerError(
                f"Upgrade table is not a chain to {format_version(target)}: "
                f"{err}") from err


def plan(version: int, steps: Sequence[UpgradeStep] = UPGRADE_STEPS,
         target: int = constants.CONFIG_VERSION) -> list[UpgradeStep]:
    """The steps that bring a document of ``version`` to ``target``.

    Raises :class:`errors.ConfigVersionMismatch` when there is no such
    chain (a newer version, or an old one this code cannot read).
    """
    by_source = {step.from_version: step for step in steps}
    chain: list[UpgradeStep] = []
    current = version
    while current != target:
        if current > target:
            if current == version:
                raise errors.ConfigVersionMismatch(
                    f"Configuration version {format_version(version)} is "
                    "newer than the version this software uses, "
                    f"{format_version(target)}; downgrading is not supported")
            break
        step = by_source.get(current)
        if step is None:
            break
        chain.append(step)
        current = step.to_version
    if current != target:
        known = ", ".join(format_version(v) for v in sorted(by_source)) \
            or "none"
        raise errors.ConfigVersionMismatch(
            f"Configuration version {format_version(version)} cannot be "
            f"upgraded to {format_version(target)} "
            f"(versions this software can upgrade: {known})")
    return chain


def document_version(data: Any,
                     target: int = constants.CONFIG_VERSION) -> int:
    """The ``version`` of a config document, checked to be an integer."""
    current = format_version(target)
    if not isinstance(data, dict):
        raise errors.ConfigVersionMismatch(
            f"Configuration is a {type(data).__name__}, not a dictionary, so "
            f"it has no version (this software uses {current})")
    if "version" not in data:
        raise errors.ConfigVersionMismatch(
            "Configuration has no 'version' field (this software uses "
            f"{current})")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) \
            or version < 0:
        raise errors.ConfigVersionMismatch(
            f"Configuration version {version!r:.40} is not a version number"
            f" (this software uses {current})")
    return version


def check_version(data: Any, *, steps: Sequence[UpgradeStep] = UPGRADE_STEPS,
                  target: int = constants.CONFIG_VERSION) -> bool:
    """Whether ``data`` needs :func:`upgrade` (False: it is current).

    Raises :class:`errors.ConfigVersionMismatch` when the document cannot
    be used at all: no version, a newer one, or one without upgrade path.
    """
    version = document_version(data, target)
    return bool(plan(version, steps, target))


def upgrade(data: dict[str, Any], *,
            new_uuid: Callable[[], str] = objects.new_uuid,
            steps: Sequence[UpgradeStep] = UPGRADE_STEPS,
            target: int = constants.CONFIG_VERSION) -> dict[str, Any]:
    """Return ``data`` brought to the ``target`` version (a new document).

    ``data`` is never changed.  A current document comes back as an equal
    copy.  Errors: :class:`errors.ConfigVersionMismatch` for a version
    that cannot be upgraded, :class:`errors.ConfigurationError` for a
    document whose structure the steps cannot read.
    """
    chain = plan(document_version(data, target), steps, target)
    doc: dict[str, Any] = copy.deepcopy(data)
    ctx = Context(new_uuid=new_uuid)
    for step in chain:
        try:
            result = step.function(doc, ctx)
        except errors.GenericError:
            raise
        except (TypeError, ValueError, KeyError, IndexError,
                AttributeError) as err:
            raise errors.ConfigurationError(
                "Malformed configuration: upgrading from "
                f"{format_version(step.from_version)} to "
                f"{format_version(step.to_version)} failed: "
                f"{type(err).__name__}: {err}") from err
        doc = _as_dict(result, "the upgraded document")
        doc["version"] = step.to_version
    return doc


def sequential_uuids(seed: str) -> Callable[[], str]:
    """A deterministic UUID generator: name-based UUIDs over a counter.

    For tests and golden files; two generators with the same seed yield
    the same sequence.
    """
    namespace = _uuid.uuid5(_uuid.NAMESPACE_URL, seed)
    counter = 0

    def generate() -> str:
        nonlocal counter
        counter += 1
        return str(_uuid.uuid5(namespace, str(counter)))
    return generate


# --- the cfgupgrade command -------------------------------------------------------

_PROGRAM: Final = "cfgupgrade"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=_PROGRAM,
        description="Upgrade the cluster configuration file (config.data) to"
        f" version {format_version(constants.CONFIG_VERSION)}. Run it on the"
        " master node with the Ganeti daemons stopped.")
    parser.add_argument(
        "--path", default=None, metavar="PATH",
        help="configuration file, or the data directory holding config.data"
        f" (default: {pathutils.get().cluster_conf_file})")
    parser.add_argument("--dry-run", action="store_true",
                        help="upgrade in memory and check, write nothing")
    parser.add_argument("-f", "--force", action="store_true",
                        help="do not ask for confirmation")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say what is done")
    parser.add_argument("-d", "--debug", action="store_true",
                        help="say even more (implies --verbose)")
    parser.add_argument("--no-backup", action="store_true",
                        help="do not keep a copy of the old file")
    return parser.parse_args(argv)


def _config_path(option: str | None) -> str:
    if option is None:
        return pathutils.get().cluster_conf_file
    path = os.path.abspath(option)
    if os.path.isdir(path):
        # Ganeti's --path names the data directory.
        return os.path.join(path, "config.data")
    return path


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise errors.ConfigurationError(
            f"Cannot read configuration file {path}: "
            f"{err.strerror or err}") from err


def _decode(path: str, raw: bytes) -> Any:
    try:
        from ganeti import serializer
    except ImportError:  # pragma: no cover - only before serializer exists
        import json
        try:
            return json.loads(raw)
        except ValueError as err:
            raise errors.ConfigurationError(
                f"Configuration file {path} is not valid JSON: {err}") from err
    try:
        return serializer.loads(raw)
    except errors.ProtocolError as err:
        raise errors.ConfigurationError(
            f"Configuration file {path} is not valid JSON: {err}") from err


def _encode(doc: dict[str, Any]) -> bytes:
    try:
        from ganeti import serializer
    except ImportError:  # pragma: no cover - only before serializer exists
        import json
        return json.dumps(doc, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")
    return serializer.dumps(doc)


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    try:
        from ganeti.utils.io import write_file_atomic
    except ImportError:  # pragma: no cover - only before utils.io exists
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as err:
            raise errors.OpExecError(
                f"Cannot write {path}: {err.strerror or err}",
                errors.ErrorCode.ENVIRON) from err
        return
    write_file_atomic(path, data, mode=mode)


def _apply_journal(path: str, data: Any) -> bool:
    """Apply the changes journaled beside ``config.data`` since its last
    compaction (``ganeti.config.journal``); whether there were any."""
    try:
        from ganeti.config import journal
    except ImportError:  # pragma: no cover - only before the journal exists
        return False
    if not isinstance(data, dict):
        return False
    entries, _ = journal.read_entries(path)
    return journal.apply_entries(data, entries) > 0


def _write_base(path: str, data: bytes, mode: int) -> None:
    """Write the whole document and empty its journal (a compaction)."""
    try:
        from ganeti.config import journal
    except ImportError:  # pragma: no cover - only before the journal exists
        _write_atomic(path, data, mode)
        return
    journal.write_base(path, data, mode)


def _backup_name(path: str, now: float) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now))
    name = f"{path}.bak-{stamp}"
    suffix = 0
    while os.path.exists(name):
        suffix += 1
        name = f"{path}.bak-{stamp}-{suffix}"
    return name


def _confirm(path: str, old: int) -> None:
    question = (f"Upgrade {path} from {format_version(old)} to "
                f"{format_version(constants.CONFIG_VERSION)}? Do this on the "
                "master node only, with the Ganeti daemons stopped on all "
                "nodes. [y/N] ")
    try:
        answer = input(question)
    except EOFError:
        print()  # end the question's line
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise errors.ConfirmationRequired(
            "Upgrade not confirmed; nothing was changed (--force skips the "
            "question)")


def _run(opts: argparse.Namespace, now: Callable[[], float]) -> None:
    verbose = opts.verbose or opts.debug

    def say(text: str) -> None:
        if verbose:
            print(text)

    path = _config_path(opts.path)
    raw = _read(path)
    data = _decode(path, raw)
    if _apply_journal(path, data):
        raw = _encode(data)  # the backup is the complete document
    old = document_version(data)
    chain = plan(old)
    current = format_version(constants.CONFIG_VERSION)
    if not chain:
        print(f"{path} is already at version {current}; nothing to do")
        return
    if not (opts.force or opts.dry_run):
        _confirm(path, old)
    for step in chain:
        say(f"Upgrading {format_version(step.from_version)} -> "
            f"{format_version(step.to_version)}: {step.summary}")
    doc = upgrade(data)
    # Refuse to write what the configuration writer would not load.
    loaded = objects.ConfigData.from_dict(doc)
    if opts.debug:
        print(f"Checked: {len(loaded.nodes)} node(s), "
              f"{len(loaded.instances)} instance(s)")
    if opts.dry_run:
        print(f"Dry run: {path} would be upgraded from {format_version(old)}"
              f" to {current}; nothing was written")
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o600
    if not opts.no_backup:
        backup = _backup_name(path, now())
        _write_atomic(backup, raw, mode)
        say(f"Backup of the old configuration: {backup}")
    _write_base(path, _encode(doc), mode)
    print(f"Upgraded {path} from version {format_version(old)} to {current}")


def main(argv: Sequence[str] | None = None, *,
         now: Callable[[], float] = time.time) -> int:
    """The ``cfgupgrade`` command; returns the exit code."""
    opts = _parse_args(argv)
    try:
        _run(opts, now)
    except errors.GenericError as err:
        print(f"{_PROGRAM}: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{_PROGRAM}: interrupted", file=sys.stderr)
        return errors.EXIT_FAILURE
    return errors.EXIT_SUCCESS
