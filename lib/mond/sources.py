"""Where the data collectors read from: one :class:`Sources` per daemon.

It bundles the node's view of the world: the /proc files (under a
directory tests may replace), the hypervisors this cluster enables, the
lvm2 runner, and what the configuration says about instances.  The
collectors and the node metrics read only through it, so a unit test
builds a ``Sources`` over recorded files and a fake hypervisor.

The configuration: master candidates hold ``config.data``; it is parsed
(as plain JSON, without building objects) when its size, inode or
modification time changed since the last read, so scraping a node of
10,000 instances does not decode the document every time.  A node
without it falls back to the ssconf instance list, which names the
instances but not their node or admin state.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from ganeti import errors, hypervisor, pathutils, ssconf
from ganeti.config import journal
from ganeti.hypervisor.base import BaseHypervisor
from ganeti.storage import lvm
from ganeti.storage.lvm.runner import LvmRunner
from ganeti.utils import io

PROC_DIR: Final = "/proc"
_DISK_LV: Final = "lvm"


@dataclasses.dataclass(frozen=True)
class ConfiguredInstance:
    """What the configuration says about one instance."""

    name: str
    uuid: str
    primary_node: str
    admin_up: bool
    hypervisor: str
    memory_mib: int | None
    vcpus: int | None
    mtime: float | None


@dataclasses.dataclass(frozen=True)
class ConfigView:
    """The parts of the config the collectors need; ``complete`` is False
    when only the ssconf instance list was available."""

    instances: dict[str, ConfiguredInstance]
    #: (volume group, logical volume) -> instance name.
    volumes: dict[tuple[str, str], str]
    serial: int | None
    complete: bool
    #: Every instance name of the cluster (the ssconf list when the
    #: config document is not on this node).
    names: frozenset[str] = frozenset()


def _walk_lvs(disk: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(disk, dict):
        return
    logical = disk.get("logical_id")
    if disk.get("dev_type") == _DISK_LV and isinstance(logical, list) \
            and len(logical) == 2:
        yield str(logical[0]), str(logical[1])
    for child in disk.get("children") or []:
        yield from _walk_lvs(child)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) \
        else None


def view_from_document(doc: dict[str, Any]) -> ConfigView:
    """A :class:`ConfigView` of a decoded ``config.data``."""
    cluster = doc.get("cluster") or {}
    defaults = (cluster.get("beparams") or {}).get("default") or {}
    instances = {}
    volumes = {}
    for name, inst in (doc.get("instances") or {}).items():
        be = dict(defaults, **(inst.get("beparams") or {}))
        instances[name] = ConfiguredInstance(
            name=name, uuid=str(inst.get("uuid", "")),
            primary_node=str(inst.get("primary_node", "")),
            admin_up=bool(inst.get("admin_up")),
            hypervisor=str(inst.get("hypervisor", "")),
            memory_mib=_int_or_none(be.get("maxmem", be.get("memory"))),
            vcpus=_int_or_none(be.get("vcpus")),
            mtime=inst.get("mtime") if isinstance(inst.get("mtime"),
                                                  (int, float)) else None)
        for disk in inst.get("disks") or []:
            for vg_lv in _walk_lvs(disk):
                volumes[vg_lv] = name
    return ConfigView(instances, volumes, _int_or_none(doc.get("serial_no")),
                      complete=True, names=frozenset(instances))


class Sources:
    """The node's data sources (see the module doc)."""

    def __init__(self, *, paths: pathutils.Paths | None = None,
                 proc_dir: str = PROC_DIR,
                 node_name: str | None = None,
                 hypervisor_fn: Callable[[str], BaseHypervisor] =
                 hypervisor.get_hypervisor,
                 lvm_runner_fn: Callable[[], LvmRunner] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.paths = paths or pathutils.get()
        self.proc_dir = proc_dir
        self.node_name = node_name or pathutils.hostname()
        self._hypervisor_fn = hypervisor_fn
        self._lvm_runner_fn = lvm_runner_fn or (
            lambda: lvm.node_runner(self.paths))
        self.clock = clock
        self._lock = threading.Lock()
        self._config_key: tuple[object, ...] | None = None
        self._config: ConfigView | None = None
        #: What collectors keep between two collections (by collector).
        self.memory: dict[str, Any] = {}

    # --- files ----------------------------------------------------------

    def proc_path(self, name: str) -> str:
        return os.path.join(self.proc_dir, name)

    def read_proc(self, name: str) -> str:
        """The text of a /proc file; OpExecError when it cannot be read."""
        return io.read_file(self.proc_path(name))

    def has_proc(self, name: str) -> bool:
        return os.path.exists(self.proc_path(name))

    # --- cluster --------------------------------------------------------

    @property
    def store(self) -> ssconf.SimpleStore:
        return ssconf.SimpleStore(self.paths)

    def hypervisor_names(self) -> list[str]:
        """The cluster's enabled hypervisors (ssconf)."""
        return self.store.get_hypervisor_list()

    def hypervisor(self, name: str) -> BaseHypervisor:
        return self._hypervisor_fn(name)

    def lvm_runner(self) -> LvmRunner:
        return self._lvm_runner_fn()

    def is_master(self) -> bool:
        try:
            return self.store.get_master_node() == self.node_name
        except errors.GenericError:
            return False

    def config(self) -> ConfigView:
        """The config as this node knows it (see the module doc)."""
        path = self.paths.cluster_conf_file
        if not os.path.exists(path):
            return ConfigView({}, {}, None, complete=False,
                              names=frozenset(self.store.get_instance_list()))
        key = journal.signature(path)
        with self._lock:
            if key == self._config_key and self._config is not None:
                return self._config
        try:
            doc = journal.read_document(path)
        except errors.GenericError as err:
            raise errors.OpExecError(f"Cannot read {path}: {err}") from None
        if not isinstance(doc, dict):
            raise errors.OpExecError(f"{path} is not a config document")
        view = view_from_document(doc)
        with self._lock:
            self._config_key, self._config = key, view
        return view
