"""Cluster-level operations: information queries (more arrive with the
node daemon: verify, modify, rename, redist-conf)."""

from __future__ import annotations

import ipaddress
import os
import platform
from typing import Any

from ganeti import constants, errors, jqueue, objects, opcodes, pathutils
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU
from ganeti.watcher import state as watcher_state

#: Value the export format had in Ganeti 2.1 (``gnt-cluster version``).
EXPORT_VERSION = 0
#: The master IP is added as a /32 (:func:`ganeti.bootstrap`).
_MASTER_NETMASK = 32


class LUClusterQuery(NoHooksLU):
    """The cluster information dictionary (``gnt-cluster info``, RAPI
    ``/2/info``).  Reads the config only: no locks beyond a shared BGL."""

    OP = opcodes.OpClusterQuery

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        cluster = self.cfg.get_cluster()
        enabled = list(cluster.enabled_hypervisors)
        return {
            "software_version": constants.RELEASE_VERSION,
            "protocol_version": constants.PROTOCOL_VERSION,
            "config_version": constants.CONFIG_VERSION,
            "os_api_version": max(constants.OS_API_VERSIONS),
            "export_version": EXPORT_VERSION,
            "architecture": [platform.architecture()[0], platform.machine()],
            "name": cluster.cluster_name,
            "master": cluster.master_node,
            "default_hypervisor": enabled[0] if enabled else None,
            "enabled_hypervisors": enabled,
            "hvparams": {hv: cluster.fill_hv(hv, None, {}) for hv in enabled},
            "os_hvp": cluster.os_hvp,
            "beparams": cluster.beparams,
            "nicparams": cluster.nicparams,
            "ndparams": cluster.fill_nd(),
            "diskparams": cluster.diskparams,
            "osparams": cluster.osparams,
            "candidate_pool_size": cluster.candidate_pool_size,
            "master_netdev": cluster.master_netdev,
            "master_ip": cluster.master_ip,
            "volume_group_name": cluster.volume_group_name,
            "file_storage_dir": cluster.file_storage_dir,
            "maintain_node_health": cluster.maintain_node_health,
            "default_iallocator": cluster.default_iallocator,
            "modify_etc_hosts": cluster.modify_etc_hosts,
            "uid_pool": cluster.uid_pool,
            "mac_prefix": cluster.mac_prefix,
            "redist_files": [f.to_dict() for f in cluster.redist_files],
            "ipolicy": cluster.ipolicy,
            "ctime": cluster.ctime,
            "mtime": cluster.mtime,
            "uuid": cluster.uuid,
            "tags": list(cluster.tags),
            **_current_info(cluster),
        }


def _enabled_disk_templates(cluster: objects.Cluster) -> list[str]:
    """The disk templates instances can be created with: all of them,
    less the LVM-backed ones while no volume group is configured."""
    return [t for t in sorted(constants.DISK_TEMPLATES)
            if cluster.volume_group_name or t in constants.DTS_NOT_LVM]


def _current_info(cluster: objects.Cluster) -> dict[str, Any]:
    """The ``/2/info`` keys of Ganeti 2.2 to 3.0 this cluster has values
    for (allocation tools and RAPI clients of current Ganeti read them)."""
    return {
        "enabled_disk_templates": _enabled_disk_templates(cluster),
        "max_running_jobs": jqueue.DEFAULT_WORKERS,
        "master_netmask": _MASTER_NETMASK,
        "use_external_mip_script": False,
        "primary_ip_version":
            ipaddress.ip_address(cluster.master_ip).version,
        "modify_ssh_setup": cluster.modify_ssh_setup,
        "hidden_os": list(cluster.hidden_os),
        "blacklisted_os": list(cluster.blacklisted_os),
        "reserved_lvs": [],
        "prealloc_wipe_disks": False,
        "enabled_user_shutdown": False,
        "serial_no": cluster.serial_no,
    }


def _drain_flag() -> bool:
    return os.path.exists(pathutils.get().queue_drain_file)


class LUClusterConfigQuery(NoHooksLU):
    """Selected configuration values (LUXI QueryConfigValues)."""

    OP = opcodes.OpClusterConfigQuery
    op: opcodes.OpClusterConfigQuery

    FIELDS = ("cluster_name", "master_node", "drain_flag", "watcher_pause",
              "volume_group_name", "cluster_tags", "uuid", "mac_prefix")

    def expand_names(self) -> LockRequest:
        unknown = [f for f in self.op.output_fields if f not in self.FIELDS]
        if unknown:
            raise errors.UnknownFieldError(
                f"Unknown output field(s): {', '.join(unknown)}")
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> Any:
        cluster = self.cfg.get_cluster()
        values: dict[str, Any] = {
            "cluster_name": cluster.cluster_name,
            "master_node": cluster.master_node,
            "volume_group_name": cluster.volume_group_name,
            "cluster_tags": list(cluster.tags),
            "uuid": cluster.uuid,
            "mac_prefix": cluster.mac_prefix,
        }
        out: list[Any] = []
        for name in self.op.output_fields:
            if name == "drain_flag":
                out.append(_drain_flag())
            elif name == "watcher_pause":
                out.append(watcher_state.pause_end())
            else:
                out.append(values[name])
        return out
