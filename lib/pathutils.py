"""Every path the system uses, from one place, relocatable under a root.

The configured locations come from configure (``_autoconf``) or, in a
checkout, from ``_autoconf_defaults``.  A whole node can be relocated under
another root directory at run time: with ``GANETI_ROOTDIR=/tmp/n1`` every
path below becomes ``/tmp/n1/<configured path>``, including the OS search
path and the file storage directory.  Several node daemons can so live on
one machine, each under its own root (see ``tools/local-cluster``).
``GANETI_HOSTNAME`` likewise overrides the name a process believes its
node has.

Callers take the current paths with :func:`get` (cheap) and never cache
the strings across a :func:`set_root` call, which tests use to switch root
within one process.
"""

from __future__ import annotations

import importlib
import os
import socket
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Final


def _load_autoconf() -> ModuleType:
    try:
        return importlib.import_module("ganeti._autoconf")
    except ImportError:  # a checkout: configure has not run
        return importlib.import_module("ganeti._autoconf_defaults")


_ac = _load_autoconf()

ROOT_ENV: Final = "GANETI_ROOTDIR"
HOSTNAME_ENV: Final = "GANETI_HOSTNAME"

PACKAGE_VERSION: Final[str] = str(_ac.PACKAGE_VERSION)
PREFIX: Final[str] = str(_ac.PREFIX)
SYSCONFDIR: Final[str] = str(_ac.SYSCONFDIR)
LOCALSTATEDIR: Final[str] = str(_ac.LOCALSTATEDIR)
SBINDIR: Final[str] = str(_ac.SBINDIR)
DAEMON_GROUP: Final[str] = str(_ac.DAEMON_GROUP)
CONFIGURED_OS_SEARCH_PATH: Final[tuple[str, ...]] = tuple(
    p for p in str(_ac.OS_SEARCH_PATH).split(":") if p)
#: Where external instance allocators are looked for (Ganeti's default).
CONFIGURED_IALLOCATOR_SEARCH_PATH: Final[tuple[str, ...]] = tuple(
    p for p in str(getattr(
        _ac, "IALLOCATOR_SEARCH_PATH",
        "/usr/lib/ganeti/iallocators:/usr/local/lib/ganeti/iallocators",
    )).split(":") if p)
CONFIGURED_FILE_STORAGE_DIR: Final[str] = str(_ac.FILE_STORAGE_DIR)
CONFIGURED_EXPORT_DIR: Final[str] = str(_ac.EXPORT_DIR)


def _join(root: str, path: str) -> str:
    if not root:
        return path
    return os.path.join(root, path.lstrip("/"))


@dataclass(frozen=True)
class Paths:
    """The node's paths under one root (``""`` means the real ``/``)."""

    root: str = ""

    def under(self, path: str) -> str:
        """Relocate an absolute configured path under this root."""
        return _join(self.root, path)

    def unroot(self, path: str) -> str:
        """The configured path of a relocated one (inverse of :meth:`under`)."""
        if self.root and path.startswith(self.root.rstrip("/") + "/"):
            return path[len(self.root.rstrip("/")):]
        return path

    # --- directories ------------------------------------------------------

    @cached_property
    def data_dir(self) -> str:
        return self.under(f"{LOCALSTATEDIR}/lib/ganeti")

    @cached_property
    def run_dir(self) -> str:
        return self.under(f"{LOCALSTATEDIR}/run/ganeti")

    @cached_property
    def log_dir(self) -> str:
        return self.under(f"{LOCALSTATEDIR}/log/ganeti")

    @cached_property
    def conf_dir(self) -> str:
        return self.under(f"{SYSCONFDIR}/ganeti")

    @cached_property
    def socket_dir(self) -> str:
        return os.path.join(self.run_dir, "socket")

    @cached_property
    def queue_dir(self) -> str:
        return os.path.join(self.data_dir, "queue")

    @cached_property
    def queue_archive_dir(self) -> str:
        return os.path.join(self.queue_dir, "archive")

    @cached_property
    def hooks_dir(self) -> str:
        return os.path.join(self.conf_dir, "hooks")

    @cached_property
    def os_search_path(self) -> tuple[str, ...]:
        return tuple(self.under(p) for p in CONFIGURED_OS_SEARCH_PATH)

    @cached_property
    def file_storage_dir(self) -> str:
        return self.under(CONFIGURED_FILE_STORAGE_DIR)

    @cached_property
    def export_dir(self) -> str:
        return self.under(CONFIGURED_EXPORT_DIR)

    @cached_property
    def instance_status_dir(self) -> str:
        return os.path.join(self.run_dir, "instance-status")

    @cached_property
    def bdev_cache_dir(self) -> str:
        return os.path.join(self.run_dir, "bdev-cache")

    @cached_property
    def os_log_dir(self) -> str:
        return os.path.join(self.log_dir, "os")

    @cached_property
    def fake_hv_dir(self) -> str:
        return os.path.join(self.run_dir, "fake-hv")

    # --- files --------------------------------------------------------------

    @cached_property
    def cluster_conf_file(self) -> str:
        return os.path.join(self.data_dir, "config.data")

    @cached_property
    def config_lock_file(self) -> str:
        return os.path.join(self.data_dir, ".config.lock")

    @cached_property
    def noded_cert_file(self) -> str:
        return os.path.join(self.data_dir, "server.pem")

    @cached_property
    def rapi_cert_file(self) -> str:
        return os.path.join(self.data_dir, "rapi.pem")

    @cached_property
    def rapi_users_file(self) -> str:
        return os.path.join(self.data_dir, "rapi_users")

    @cached_property
    def confd_hmac_key(self) -> str:
        return os.path.join(self.data_dir, "hmac.key")

    @cached_property
    def cluster_domain_secret_file(self) -> str:
        return os.path.join(self.data_dir, "cluster-domain-secret")

    @cached_property
    def known_hosts_file(self) -> str:
        return os.path.join(self.data_dir, "known_hosts")

    @cached_property
    def watcher_state_file(self) -> str:
        return os.path.join(self.data_dir, "watcher.data")

    @cached_property
    def watcher_pause_file(self) -> str:
        return os.path.join(self.data_dir, "watcher.pause")

    @cached_property
    def ssconf_prefix(self) -> str:
        return os.path.join(self.data_dir, "ssconf_")

    @cached_property
    def queue_lock_file(self) -> str:
        return os.path.join(self.queue_dir, "lock")

    @cached_property
    def queue_serial_file(self) -> str:
        return os.path.join(self.queue_dir, "serial")

    @cached_property
    def queue_drain_file(self) -> str:
        return os.path.join(self.queue_dir, "drain")

    @cached_property
    def master_socket(self) -> str:
        return os.path.join(self.socket_dir, "ganeti-master")

    @cached_property
    def vnc_password_file(self) -> str:
        """The cluster default of the ``vnc_password_file`` hvparam."""
        return self.under(f"{SYSCONFDIR}/ganeti/vnc-cluster-password")

    def pid_file(self, daemon: str) -> str:
        return os.path.join(self.run_dir, f"{daemon}.pid")

    def log_file(self, daemon: str) -> str:
        return os.path.join(self.log_dir, f"{daemon}.log")

    def ssconf_file(self, key: str) -> str:
        return f"{self.ssconf_prefix}{key}"

    def job_file(self, job_id: int) -> str:
        return os.path.join(self.queue_dir, f"job-{job_id}")


_current: Paths | None = None


def get() -> Paths:
    """The paths of this process (root from ``GANETI_ROOTDIR``)."""
    global _current
    if _current is None:
        _current = Paths(os.environ.get(ROOT_ENV, "").rstrip("/"))
    return _current


def set_root(root: str | None) -> Paths:
    """Switch this process to another root (tests, in-process tools).

    ``None`` re-reads ``GANETI_ROOTDIR``.
    """
    global _current
    _current = None if root is None else Paths(root.rstrip("/"))
    return get()


def hostname() -> str:
    """This node's name: ``GANETI_HOSTNAME`` or the fully qualified name."""
    name = os.environ.get(HOSTNAME_ENV)
    if name:
        return name
    return socket.getfqdn()
