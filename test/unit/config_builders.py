"""Builders of real, consistent configurations for tests.

``make_config(nodes=3, instances=2)`` returns an :class:`objects.ConfigData`
that passes ``verify_config``: nodes ``node1.example.com``... (all master
candidates, the first one the master), instances ``inst1.example.com``...
spread over the nodes.  ``instances`` may also be a list of keyword
dictionaries for :func:`make_instance`.  :func:`write_config` stores a
document where a :class:`ConfigWriter` can load it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ganeti import constants, objects, serializer
from ganeti.utils import io

DOMAIN = "example.com"
_uuid_counter = itertools.count(1)
#: The UUID of the one group ("default") of :func:`make_config`.
GROUP_UUID = "00000000-0000-4000-9000-000000000001"


def seq_uuid() -> str:
    """Deterministic, unique UUIDs (easier to read in failures)."""
    n = next(_uuid_counter)
    return f"00000000-0000-4000-8000-{n:012x}"


def node_name(i: int) -> str:
    return f"node{i}.{DOMAIN}"


def instance_name(i: int) -> str:
    return f"inst{i}.{DOMAIN}"


def make_node(i: int, **kwargs: Any) -> objects.Node:
    values: dict[str, Any] = {
        "name": node_name(i), "primary_ip": f"192.0.2.{i}",
        "secondary_ip": f"198.51.100.{i}", "master_candidate": True,
        "uuid": seq_uuid(), "group": GROUP_UUID}
    values.update(kwargs)
    return objects.Node(**values)


def make_cluster(master: str = node_name(1), **kwargs: Any) -> objects.Cluster:
    values: dict[str, Any] = {
        "cluster_name": f"cluster.{DOMAIN}", "master_node": master,
        "master_ip": "192.0.2.254", "master_netdev": "lo",
        "volume_group_name": constants.DEFAULT_VG, "uuid": seq_uuid()}
    values.update(kwargs)
    cluster = objects.Cluster(**values)
    cluster.upgrade_defaults()
    return cluster


def mac(i: int, nic: int = 0) -> str:
    return f"aa:00:00:{(i >> 8) & 255:02x}:{i & 255:02x}:{nic:02x}"


def make_disks(template: str, primary: str, secondary: str | None,
               port: int | None, *, name: str, size: int = 1024,
               count: int = 1) -> list[objects.Disk]:
    disks = []
    for idx in range(count):
        iv_name = f"disk/{idx}"
        if template == constants.DT_PLAIN:
            disk = objects.Disk(dev_type=constants.LD_LV, size=size,
                                logical_id=[constants.DEFAULT_VG,
                                            f"{name}.disk{idx}"],
                                iv_name=iv_name, uuid=seq_uuid())
        elif template == constants.DT_DRBD8:
            assert secondary is not None and port is not None
            children = [
                objects.Disk(dev_type=constants.LD_LV, size=size,
                             logical_id=[constants.DEFAULT_VG,
                                         f"{name}.disk{idx}_data"],
                             uuid=seq_uuid()),
                objects.Disk(dev_type=constants.LD_LV, size=128,
                             logical_id=[constants.DEFAULT_VG,
                                         f"{name}.disk{idx}_meta"],
                             uuid=seq_uuid())]
            disk = objects.Disk(dev_type=constants.LD_DRBD8, size=size,
                                logical_id=[primary, secondary, port + idx,
                                            idx, idx, "secret"],
                                children=children, iv_name=iv_name,
                                uuid=seq_uuid())
        elif template == constants.DT_FILE:
            disk = objects.Disk(dev_type=constants.LD_FILE, size=size,
                                logical_id=[constants.FD_LOOP,
                                            f"/srv/ganeti/file-storage/"
                                            f"{name}/disk{idx}"],
                                iv_name=iv_name, uuid=seq_uuid())
        else:
            return []
        disks.append(disk)
    return disks


def make_instance(i: int, primary: str, *, secondary: str | None = None,
                  disk_template: str = constants.DT_PLAIN,
                  port: int | None = None,
                  nics: int | list[objects.NIC] = 1,
                  **kwargs: Any) -> objects.Instance:
    """Instance number ``i`` (name ``inst<i>.example.com``); ``nics`` is a
    count of generated NICs or the NICs themselves."""
    name = kwargs.pop("name", instance_name(i))
    values: dict[str, Any] = {
        "name": name, "primary_node": primary, "os": "debian-image",
        "hypervisor": constants.HT_FAKE, "disk_template": disk_template,
        "nics": nics if isinstance(nics, list) else [
            objects.NIC(mac=mac(i, n), uuid=seq_uuid()) for n in range(nics)],
        "disks": make_disks(disk_template, primary, secondary, port,
                            name=name),
        "beparams": {"maxmem": 256, "minmem": 256}, "uuid": seq_uuid()}
    values.update(kwargs)
    return objects.Instance(**values)


def make_config(nodes: int = 3,
                instances: int | Iterable[Mapping[str, Any]] = 0,
                **cluster_kwargs: Any) -> objects.ConfigData:
    """A consistent configuration (see the module documentation).

    With an integer ``instances``, instance ``k`` has primary node
    ``k mod nodes``; every third one uses DRBD with the next node as
    secondary (when there are two nodes or more), the others plain LVM.
    """
    node_objs = {n.name: n for n in (make_node(i + 1) for i in range(nodes))}
    names = list(node_objs)
    cluster = make_cluster(master=names[0] if names else node_name(1),
                           **cluster_kwargs)
    group = objects.NodeGroup(name=constants.INITIAL_NODE_GROUP_NAME,
                              uuid=GROUP_UUID)
    data = objects.ConfigData(cluster=cluster, nodes=node_objs,
                              nodegroups={GROUP_UUID: group})
    specs: list[dict[str, Any]]
    if isinstance(instances, int):
        specs = []
        for k in range(instances):
            spec: dict[str, Any] = {"primary": names[k % len(names)]}
            if k % 3 == 2 and len(names) > 1:
                spec["disk_template"] = constants.DT_DRBD8
                spec["secondary"] = names[(k + 1) % len(names)]
            specs.append(spec)
    else:
        specs = [dict(s) for s in instances]
    for k, spec in enumerate(specs, start=1):
        spec.setdefault("primary", names[0])
        if spec.get("disk_template") == constants.DT_DRBD8 and \
                "port" not in spec:
            spec["port"] = allocate(data)
        inst = make_instance(spec.pop("i", k), spec.pop("primary"), **spec)
        data.instances[inst.name] = inst
    return data


def allocate(data: objects.ConfigData) -> int:
    """Take the next port of ``data`` as ConfigWriter.allocate_port would."""
    data.cluster.highest_used_port += 1
    return data.cluster.highest_used_port


def write_config(path: str | os.PathLike[str],
                 data: objects.ConfigData) -> str:
    """Store ``data`` at ``path`` (mode 0600); returns the path."""
    path = os.fspath(path)
    io.write_file_atomic(path, serializer.dumps(data.to_dict()), fsync=False)
    return path
