"""The identity of a DRBD disk: logical id (in the config) and physical
id (what one node is told), shared by the master and the driver.

A ``drbd8`` disk of the configuration has two children, the data volume
and the metadata volume (``lvm`` disks), and the logical id::

    [node_a, node_b, port, minor_a, minor_b, secret]

``node_a`` and ``node_b`` are node names (the instance's primary and
secondary when the disk was made; they swap meaning, not places, at a
failover), ``port`` the TCP port both ends use, ``minor_a``/``minor_b``
the DRBD minor on each node and ``secret`` the shared secret of the
connection (HMAC of the peers' handshake).

The node daemon does not know which end it is: before every call the
master gives the disk a *physical id* for the node it sends it to, as
Ganeti does::

    [local_ip, port, remote_ip, port, local_minor, secret]

with the nodes' secondary (replication) addresses.  :func:`for_node`
computes it (pure; children are LVs, whose physical id is their logical
id).  A disk sent without its physical id, or a physical id that is not
this shape, is refused by the driver with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ganeti import constants, errors, ht, objects

_T_PORT = ht.Check(lambda v: ht.TNonNegativeInt(v) and 0 < v < 65536,
                   "a TCP port number")

#: Size of the metadata volume of every DRBD disk (MiB), as Ganeti has it.
META_SIZE_MIB = 128


class LogicalId(NamedTuple):
    node_a: str
    node_b: str
    port: int
    minor_a: int
    minor_b: int
    secret: str


class PhysicalId(NamedTuple):
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    local_minor: int
    secret: str


def _bad(what: str, value: Any) -> errors.BlockDeviceError:
    return errors.BlockDeviceError(
        f"Invalid DRBD {what}: {value!r:.120}", errors.ErrorCode.INVAL)


def parse_logical_id(value: Any) -> LogicalId:
    """The logical id of a drbd8 disk, checked."""
    if not (isinstance(value, (list, tuple)) and len(value) == 6):
        raise _bad("logical id (want [node_a, node_b, port, minor_a,"
                   " minor_b, secret])", value)
    node_a, node_b, port, minor_a, minor_b, secret = value
    if not (ht.TNonEmptyString(node_a) and ht.TNonEmptyString(node_b)
            and node_a != node_b and _T_PORT(port)
            and ht.TNonNegativeInt(minor_a) and ht.TNonNegativeInt(minor_b)
            and isinstance(secret, str)):
        raise _bad("logical id", value)
    return LogicalId(str(node_a), str(node_b), int(port), int(minor_a),
                     int(minor_b), secret)


def parse_physical_id(value: Any) -> PhysicalId:
    """The physical id of a drbd8 disk as a node receives it, checked."""
    if not (isinstance(value, (list, tuple)) and len(value) == 6):
        raise _bad("physical id (want [local_ip, port, remote_ip, port,"
                   " local_minor, secret]; the master sets it per node)",
                   value)
    lip, lport, rip, rport, minor, secret = value
    if not (ht.TIPAddress(lip) and ht.TIPAddress(rip) and _T_PORT(lport)
            and _T_PORT(rport) and ht.TNonNegativeInt(minor)
            and isinstance(secret, str)):
        raise _bad("physical id", value)
    return PhysicalId(str(lip), int(lport), str(rip), int(rport), int(minor),
                      secret)


def for_node(disk: objects.Disk, node: str,
             node_ips: Mapping[str, str]) -> objects.Disk:
    """A copy of ``disk`` (and its children) with the physical ids for
    ``node``; ``node_ips`` maps node names to secondary IPs.  A drbd8 disk
    whose logical id does not name ``node`` is an error."""
    copy = disk.copy()
    _set(copy, node, node_ips)
    return copy


def _set(disk: objects.Disk, node: str, node_ips: Mapping[str, str]) -> None:
    for child in disk.children:
        _set(child, node, node_ips)
    if disk.dev_type != constants.LD_DRBD8:
        disk.physical_id = list(disk.logical_id)
        return
    lid = parse_logical_id(disk.logical_id)
    if node == lid.node_a:
        peer, minor = lid.node_b, lid.minor_a
    elif node == lid.node_b:
        peer, minor = lid.node_a, lid.minor_b
    else:
        raise errors.ProgrammerError(
            f"DRBD disk {disk.iv_name or disk.uuid} is not on node {node}"
            f" (its nodes: {lid.node_a}, {lid.node_b})")
    try:
        local_ip, remote_ip = node_ips[node], node_ips[peer]
    except KeyError as err:
        raise errors.ProgrammerError(
            f"No secondary IP known for node {err.args[0]}") from None
    disk.physical_id = [local_ip, lid.port, remote_ip, lid.port, minor,
                        lid.secret]
