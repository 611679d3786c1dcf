"""DRBD command lines: the drbdsetup/drbdmeta argument vectors of every
step, for the DRBD 8.4 and the DRBD 9 user space.

Pure functions of a :class:`Endpoint` (one end of one mirror, from the
physical id the master sent) and the disk's effective parameters.  The
spelling of every command and option is checked against what
``drbdadm --dry-run`` prints for an equivalent resource file
(``test/unit/test_storage_drbd_commands.py``).

The resource of minor ``N`` is ``resource<N>``, with one volume (0).
DRBD 9 needs node ids: the end with the lower (address, port) is node 0,
its peer node 1, so both ends agree without being told.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ganeti import constants, errors, params

DRBDSETUP: Final = "drbdsetup"
DRBDMETA: Final = "drbdmeta"
#: Options of every connection besides the secret: Ganeti's choices.
AFTER_SPLIT_BRAIN: Final = ("--after-sb-0pri=discard-zero-changes",
                            "--after-sb-1pri=consensus",
                            "--after-sb-2pri=disconnect")
HMAC_ALG: Final = "md5"


@dataclass(frozen=True)
class Endpoint:
    """This node's end of one mirror."""

    minor: int
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    secret: str

    @property
    def resource(self) -> str:
        return f"resource{self.minor}"

    @property
    def node_id(self) -> int:
        mine = (ipaddress.ip_address(self.local_ip), self.local_port)
        peer = (ipaddress.ip_address(self.remote_ip), self.remote_port)
        if mine == peer:
            raise errors.BlockDeviceError(
                f"DRBD minor {self.minor}: local and remote address are both"
                f" {self.local_ip}:{self.local_port}", errors.ErrorCode.INVAL)
        return 0 if mine < peer else 1

    @property
    def peer_id(self) -> int:
        return 1 - self.node_id

    @staticmethod
    def address(ip: str, port: int) -> str:
        if ipaddress.ip_address(ip).version == 6:
            return f"ipv6:[{ip}]:{port}"
        return f"ipv4:{ip}:{port}"

    @property
    def local_address(self) -> str:
        return self.address(self.local_ip, self.local_port)

    @property
    def remote_address(self) -> str:
        return self.address(self.remote_ip, self.remote_port)


def effective_params(disk_params: Mapping[str, Any]) -> dict[str, Any]:
    """The drbd template's declared defaults under the disk's params."""
    return params.fill(params.disk_defaults(constants.DT_DRBD8), disk_params)


def _custom(value: Any, what: str) -> list[str]:
    """User-given extra drbdsetup options (``net_custom``/``disk_custom``)."""
    words = shlex.split(str(value or ""))
    bad = [w for w in words if not w.startswith("--")]
    if bad:
        raise errors.BlockDeviceError(
            f"Invalid {what} {value!r:.80}: each option must start with '--'"
            f" (got {bad[0]!r:.40})", errors.ErrorCode.INVAL)
    return words


def disk_options(disk_params: Mapping[str, Any]) -> list[str]:
    """Options of ``attach`` about the backing disks."""
    p = effective_params(disk_params)
    opts = ["--on-io-error=detach"]
    if not p["disk_barriers"]:
        opts.append("--disk-barrier=no")
    if not p["data_flushes"]:
        opts.append("--disk-flushes=no")
    if not (p["meta_flushes"] and p["meta_barriers"]):
        opts.append("--md-flushes=no")
    return opts + _custom(p["disk_custom"], "disk_custom")


def resync_options(disk_params: Mapping[str, Any]) -> list[str]:
    """Resync speed: the fixed rate, and the dynamic controller (on with
    ``dynamic_resync``, else ``--c-plan-ahead=0`` turns it off)."""
    p = effective_params(disk_params)
    opts = [f"--resync-rate={p['resync_rate']}k"]
    if not p["dynamic_resync"]:
        return [*opts, "--c-plan-ahead=0"]
    return [*opts, f"--c-plan-ahead={p['c_plan_ahead']}",
            f"--c-fill-target={p['c_fill_target']}",
            f"--c-delay-target={p['c_delay_target']}",
            f"--c-max-rate={p['c_max_rate']}k",
            f"--c-min-rate={p['c_min_rate']}k"]


def net_options(ep: Endpoint, disk_params: Mapping[str, Any],
                two_primaries: bool) -> list[str]:
    """Options of the connection: protocol C, the secret, Ganeti's
    after-split-brain policies, dual-primary for live migrations."""
    p = effective_params(disk_params)
    opts = ["--protocol=C"]
    if ep.secret:
        opts += [f"--cram-hmac-alg={HMAC_ALG}", f"--shared-secret={ep.secret}"]
    opts += AFTER_SPLIT_BRAIN
    if two_primaries:
        opts.append("--allow-two-primaries=yes")
    return opts + _custom(p["net_custom"], "net_custom")


class Commands:
    """The command lines of one DRBD user-space generation."""

    #: drbdmeta's metadata format name.
    META_FORMAT: str = "v08"

    def new_resource(self, ep: Endpoint) -> list[list[str]]:
        return [[DRBDSETUP, "new-resource", ep.resource],
                [DRBDSETUP, "new-minor", ep.resource, str(ep.minor), "0"]]

    def create_md(self, minor: int, meta_dev: str) -> list[str]:
        return [DRBDMETA, "--force", str(minor), self.META_FORMAT, meta_dev,
                "flex-external", "create-md"]

    def attach(self, ep: Endpoint, data_dev: str, meta_dev: str,
               disk_params: Mapping[str, Any]) -> list[str]:
        return [DRBDSETUP, "attach", str(ep.minor), data_dev, meta_dev,
                "flexible", *disk_options(disk_params)]

    def connect(self, ep: Endpoint, disk_params: Mapping[str, Any],
                two_primaries: bool) -> list[list[str]]:
        return [[DRBDSETUP, "connect", ep.resource, ep.local_address,
                 ep.remote_address,
                 *net_options(ep, disk_params, two_primaries)]]

    def disconnect(self, ep: Endpoint) -> list[list[str]]:
        return [[DRBDSETUP, "disconnect", ep.local_address,
                 ep.remote_address]]

    def primary(self, ep: Endpoint, force: bool) -> list[str]:
        return [DRBDSETUP, "primary", str(ep.minor),
                *(["--overwrite-data-of-peer"] if force else [])]

    def secondary(self, ep: Endpoint) -> list[str]:
        return [DRBDSETUP, "secondary", str(ep.minor)]

    def detach(self, ep: Endpoint) -> list[str]:
        return [DRBDSETUP, "detach", str(ep.minor)]

    def down(self, ep: Endpoint) -> list[str]:
        return self.down_minor(ep.minor)

    def down_minor(self, minor: int) -> list[str]:
        """Down a device known by its minor only (the resource is named
        after it: see :attr:`Endpoint.resource`)."""
        return [DRBDSETUP, "down", f"resource{minor}"]

    def resize(self, ep: Endpoint, size_mib: int) -> list[list[str]]:
        return [[DRBDSETUP, "resize", str(ep.minor), f"--size={size_mib}M"],
                [DRBDSETUP, "check-resize", str(ep.minor)]]


class Commands84(Commands):
    """DRBD 8.4: resync options go with ``attach``; ``connect`` takes the
    addresses; roles are set per minor."""

    def attach(self, ep: Endpoint, data_dev: str, meta_dev: str,
               disk_params: Mapping[str, Any]) -> list[str]:
        return [*super().attach(ep, data_dev, meta_dev, disk_params),
                *resync_options(disk_params)]


class Commands9(Commands):
    """DRBD 9: resources have node ids, connections are peers with paths,
    resync options are per peer device, roles are set per resource."""

    META_FORMAT = "v09"

    def new_resource(self, ep: Endpoint) -> list[list[str]]:
        first, minor = super().new_resource(ep)
        return [[*first, str(ep.node_id)], minor]

    def create_md(self, minor: int, meta_dev: str) -> list[str]:
        return [*super().create_md(minor, meta_dev), "1"]

    def connect(self, ep: Endpoint, disk_params: Mapping[str, Any],
                two_primaries: bool) -> list[list[str]]:
        peer = str(ep.peer_id)
        return [
            [DRBDSETUP, "new-peer", ep.resource, peer,
             f"--_name=peer{peer}",
             *net_options(ep, disk_params, two_primaries)],
            [DRBDSETUP, "new-path", ep.resource, peer, ep.local_address,
             ep.remote_address],
            [DRBDSETUP, "peer-device-options", ep.resource, peer, "0",
             *resync_options(disk_params)],
            [DRBDSETUP, "connect", ep.resource, peer]]

    def disconnect(self, ep: Endpoint) -> list[list[str]]:
        peer = str(ep.peer_id)
        return [[DRBDSETUP, "disconnect", ep.resource, peer],
                [DRBDSETUP, "del-peer", ep.resource, peer]]

    def primary(self, ep: Endpoint, force: bool) -> list[str]:
        return [DRBDSETUP, "primary", ep.resource,
                *(["--force"] if force else [])]

    def secondary(self, ep: Endpoint) -> list[str]:
        return [DRBDSETUP, "secondary", ep.resource]

    def status(self, ep: Endpoint) -> list[str]:
        return [DRBDSETUP, "status", ep.resource, "--json"]


def for_version(major: int) -> Commands:
    """The commands of the DRBD kernel module generation ``major``."""
    if major == 8:
        return Commands84()
    if major == 9:
        return Commands9()
    raise errors.BlockDeviceError(
        f"Unsupported DRBD version {major} (8.4 and 9 are)",
        errors.ErrorCode.ENVIRON)
