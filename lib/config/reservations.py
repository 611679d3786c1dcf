"""Reservations in the configuration: the :class:`ReservationsMixin` of
:class:`~ganeti.config.writer.ConfigWriter`.

What a job allocates before the instance using it is in the
configuration: MAC addresses, unique IDs and DRBD minors (reserved in
memory under an owner, usually the job, until the instance is added or
the reservation released), and TCP/UDP ports (recorded in the cluster
object at once, given back to the free port pool on release).
"""

from __future__ import annotations

import random
import threading
import uuid as _uuid
from collections.abc import Callable, Iterable
from typing import Final

from ganeti import constants, errors, objects
from ganeti.config import drbd_minors

#: Attempts at a random MAC or ID before giving up.
_GENERATE_ATTEMPTS: Final = 64

EC = errors.ErrorCode


class ReservationsMixin:
    """MACs, IDs, DRBD minors and ports (see the module documentation)."""

    _lock: threading.RLock
    _data: objects.ConfigData
    _rng: random.Random
    _reserved_macs: dict[str, str | None]
    _reserved_ids: dict[str, str | None]
    _reserved_minors: dict[tuple[str, int], str]

    # Provided by ConfigWriter, the only class using this mixin.
    _write: Callable[[], int]
    _need_node: Callable[[str], objects.Node]
    _mac_user: Callable[..., str | None]
    _id_used: Callable[[str], bool]
    _bump: Callable[[objects.Cluster], None]

    def _return_ports(self, ports: Iterable[int]) -> None:
        cluster = self._data.cluster.copy()
        cluster.tcpudp_port_pool = sorted({*cluster.tcpudp_port_pool, *ports})
        self._bump(cluster)
        self._data.cluster = cluster

    def release_port(self, port: int) -> None:
        """Give back a port of :meth:`allocate_port` that no instance got
        (a creation that failed)."""
        with self._lock:
            self._return_ports([port])
            self._write()


    def generate_mac(self, owner: str | None = None) -> str:
        """A new MAC: the cluster's ``mac_prefix`` and three random bytes.

        Unique against the configuration and the MACs reserved earlier by
        this writer.  The MAC stays reserved until an instance using it is
        added, or :meth:`release_mac` / :meth:`release_reservations`
        (``owner``, e.g. a job id) frees it.
        """
        with self._lock:
            prefix = self._data.cluster.mac_prefix.lower()
            for _ in range(_GENERATE_ATTEMPTS):
                suffix = self._rng.getrandbits(24).to_bytes(3, "big")
                mac = prefix + "".join(f":{b:02x}" for b in suffix)
                if self._mac_user(mac) is None and \
                        mac not in self._reserved_macs:
                    self._reserved_macs[mac] = owner
                    return mac
            raise errors.OpPrereqError(
                f"Cannot generate a unique MAC address with prefix {prefix}",
                EC.NORES)

    def reserve_mac(self, mac: str, owner: str | None = None) -> None:
        """Reserve a MAC chosen by the user; refused if used or reserved."""
        with self._lock:
            key = mac.lower()
            user = self._mac_user(key)
            if user is not None or key in self._reserved_macs:
                raise errors.OpPrereqError(
                    f"MAC address {mac} is already in use"
                    f"{f' by instance {user}' if user else ''}", EC.NOTUNIQUE)
            self._reserved_macs[key] = owner

    def release_mac(self, mac: str) -> None:
        with self._lock:
            self._reserved_macs.pop(mac.lower(), None)

    def release_reservations(self, owner: str) -> None:
        """Free the MACs, IDs and DRBD minors reserved with ``owner``."""
        with self._lock:
            for table in (self._reserved_macs, self._reserved_ids):
                for key in [k for k, v in table.items() if v == owner]:
                    del table[key]
            self.release_drbd_minors(owner)

    def drbd_minor_map(self) -> dict[str, dict[int, str]]:
        """node -> minor -> user (instance name, or the owner of a
        reservation) of every DRBD minor in use."""
        with self._lock:
            used = drbd_minors.minors_in_use(self._data.instances.values())
            for (node, minor), owner in self._reserved_minors.items():
                used.setdefault(node, {}).setdefault(minor, owner)
            return used

    def allocate_drbd_minors(self, nodes: list[str], owner: str) -> list[int]:
        """The lowest free DRBD minor on each node of ``nodes``, reserved
        for ``owner`` until :meth:`release_drbd_minors` (or
        :meth:`release_reservations`); the instance using them holds
        them once added."""
        with self._lock:
            for node in nodes:
                self._need_node(node)
            minors = drbd_minors.allocate(self.drbd_minor_map(), nodes)
            for node, minor in zip(nodes, minors, strict=True):
                self._reserved_minors[(node, minor)] = owner
            return minors

    def release_drbd_minors(self, owner: str) -> None:
        with self._lock:
            for key in [k for k, v in self._reserved_minors.items()
                        if v == owner]:
                del self._reserved_minors[key]

    def generate_unique_id(self, prefix: str = "",
                           owner: str | None = None) -> str:
        """``prefix`` followed by a random UUID, unique against every UUID
        and disk identity of the configuration and the IDs reserved by this
        writer (released like MACs)."""
        with self._lock:
            for _ in range(_GENERATE_ATTEMPTS):
                value = _uuid.UUID(int=self._rng.getrandbits(128), version=4)
                ident = f"{prefix}{value}"
                if not self._id_used(ident) and \
                        ident not in self._reserved_ids:
                    self._reserved_ids[ident] = owner
                    return ident
            raise errors.OpPrereqError("Cannot generate a unique ID",
                                       EC.NORES)

    def allocate_port(self) -> int:
        """A TCP/UDP port for an instance (console, DRBD), recorded in the
        configuration: from the free port pool first, else the one after
        ``highest_used_port`` up to ``constants.LAST_DRBD_PORT``."""
        with self._lock:
            cluster = self._data.cluster.copy()
            if cluster.tcpudp_port_pool:
                pool = sorted(set(cluster.tcpudp_port_pool))
                port = pool.pop(0)
                cluster.tcpudp_port_pool = pool
            else:
                port = cluster.highest_used_port + 1
                if port > constants.LAST_DRBD_PORT:
                    raise errors.OpPrereqError(
                        "No free ports left: the free port pool is empty and"
                        f" all ports up to {constants.LAST_DRBD_PORT} are "
                        "used", EC.NORES)
                cluster.highest_used_port = port
            self._bump(cluster)
            self._data.cluster = cluster
            self._write()
            return port
