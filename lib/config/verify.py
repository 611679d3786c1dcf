"""Consistency checks over a whole configuration document.

:func:`verify_config` is a pure function of a :class:`objects.ConfigData`:
it never raises for a problem in the data, it describes it.  Each problem
is one readable line, starting with the object it concerns, so that
``gnt-cluster verify`` can print the list as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ganeti import constants, errors, ipolicy, objects, params
from ganeti.utils.text import nice_sort

#: Keys of the NIC parameters this module reads (Ganeti's names).
NIC_MODE: Final = "mode"
NIC_LINK: Final = "link"


def _check(problems: list[str], where: str, fn: Callable[..., Any],
           *args: Any, **kwargs: Any) -> None:
    """Run one parameter check; a failure becomes a line of ``problems``."""
    try:
        fn(*args, **kwargs)
    except errors.GenericError as err:
        problems.append(f"{where}: {err}")


def _duplicates(owners: dict[Any, list[str]]) -> Iterable[tuple[Any, list[str]]]:
    """The keys with more than one owner, in a stable order."""
    for key in sorted(owners, key=str):
        names = owners[key]
        if len(names) > 1:
            yield key, names


def _join(names: Iterable[str]) -> str:
    return ", ".join(names)


def _drbd_ports(disk: objects.Disk) -> Iterable[int]:
    if disk.dev_type == constants.LD_DRBD8 and len(disk.logical_id) > 2:
        port = disk.logical_id[2]
        if isinstance(port, int) and not isinstance(port, bool):
            yield port
    for child in disk.children:
        yield from _drbd_ports(child)


def _walk_disks(disks: Iterable[objects.Disk]) -> Iterable[objects.Disk]:
    for disk in disks:
        yield disk
        yield from _walk_disks(disk.children)


def _check_names(data: objects.ConfigData, problems: list[str]) -> None:
    for kind, table in (("node", data.nodes), ("instance", data.instances)):
        by_lower: dict[str, list[str]] = defaultdict(list)
        for key, obj in table.items():
            if key != obj.name:
                problems.append(f"{kind} {obj.name} is stored under the "
                                f"name {key}")
            by_lower[obj.name.lower()].append(obj.name)
        for _, names in _duplicates(by_lower):
            problems.append(f"duplicate {kind} name (names are "
                            f"case-insensitive): {_join(sorted(names))}")


def _check_uuids(data: objects.ConfigData, problems: list[str]) -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    owners[data.cluster.uuid].append(f"cluster {data.cluster.cluster_name}")
    for node in data.nodes.values():
        owners[node.uuid].append(f"node {node.name}")
    for group in data.nodegroups.values():
        owners[group.uuid].append(f"node group {group.name}")
    for inst in data.instances.values():
        owners[inst.uuid].append(f"instance {inst.name}")
        for idx, nic in enumerate(inst.nics):
            owners[nic.uuid].append(f"instance {inst.name} nic/{idx}")
        for disk in _walk_disks(inst.disks):
            label = disk.iv_name or disk.dev_type
            owners[disk.uuid].append(f"instance {inst.name} disk {label}")
    for uuid, names in _duplicates(owners):
        problems.append(f"duplicate UUID {uuid} used by {_join(names)}")


def _check_master(data: objects.ConfigData, problems: list[str]) -> None:
    master = data.cluster.master_node
    node = data.nodes.get(master)
    if node is None:
        problems.append(f"cluster: master node {master} is not in the "
                        "configuration")
        return
    if not node.master_candidate:
        problems.append(f"node {master}: the master node is not a master "
                        "candidate")
    if node.offline:
        problems.append(f"node {master}: the master node is marked offline")


def _check_candidate_pool(data: objects.ConfigData,
                          problems: list[str]) -> None:
    eligible = [n for n in data.nodes.values() if not n.offline
                and not n.drained]
    candidates = [n for n in eligible if n.master_candidate]
    wanted = min(data.cluster.candidate_pool_size, len(eligible))
    if len(candidates) < wanted:
        problems.append(f"cluster: {len(candidates)} master candidate(s) "
                        f"but {wanted} wanted (candidate_pool_size "
                        f"{data.cluster.candidate_pool_size}, "
                        f"{len(eligible)} eligible node(s))")
    for node in data.nodes.values():
        if node.master_candidate and (node.offline or node.drained):
            state = "offline" if node.offline else "drained"
            problems.append(f"node {node.name}: is a master candidate but "
                            f"{state}")


def _check_node_ips(data: objects.ConfigData, problems: list[str]) -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for node in data.nodes.values():
        for ip in {node.primary_ip, node.secondary_ip}:
            owners[ip].append(node.name)
    for ip, names in _duplicates(owners):
        problems.append(f"duplicate node IP {ip} used by nodes "
                        f"{_join(nice_sort(names))}")


def _check_cluster_params(cluster: objects.Cluster,
                          problems: list[str]) -> None:
    problems.extend(f"cluster: {msg}" for msg in cluster.verify_params())


def _param_problems(problems: list[str], where: str, values: Any,
                    component: params.Component,
                    spec: Mapping[str, params.ParamSpec] | None,
                    **kwargs: Any) -> None:
    if spec is None:
        problems.append(f"{where}: no parameters are declared for "
                        f"{component}")
        return
    problems.extend(f"{where}: {msg}" for msg in params.find_problems(
        values, component=component, spec=spec, **kwargs))


def _check_instance(data: objects.ConfigData, inst: objects.Instance,
                    problems: list[str]) -> None:
    cluster = data.cluster
    where = f"instance {inst.name}"
    if inst.primary_node not in data.nodes:
        problems.append(f"{where}: primary node {inst.primary_node} is not "
                        "in the configuration")
    for node in inst.secondary_nodes:
        if node not in data.nodes:
            problems.append(f"{where}: secondary node {node} is not in the "
                            "configuration")
    if inst.hypervisor not in cluster.enabled_hypervisors:
        problems.append(f"{where}: hypervisor {inst.hypervisor} is not "
                        "enabled on the cluster")
    _param_problems(problems, where, inst.hvparams,
                    params.hv_component(inst.hypervisor),
                    params.HV_PARAMETERS.get(inst.hypervisor),
                    allow_global=False, level="instance")
    _param_problems(problems, where, inst.beparams, params.BE_COMPONENT,
                    params.BE_PARAMETERS)
    for idx, nic in enumerate(inst.nics):
        nic_where = f"{where} nic/{idx}"
        _param_problems(problems, nic_where, nic.nicparams,
                        params.NIC_COMPONENT, params.NIC_PARAMETERS)
        try:
            filled = cluster.fill_nic(nic.nicparams)
        except errors.GenericError as err:
            problems.append(f"{nic_where}: {err}")
            continue
        if filled.get(NIC_MODE) == constants.NIC_MODE_ROUTED and not nic.ip:
            problems.append(f"{nic_where}: routed NIC without an IP address")
            continue
        _check(problems, nic_where, params.check_nic, filled, nic.ip)
    for idx, disk in enumerate(inst.disks):
        _param_problems(problems, f"{where} disk/{idx}", disk.params,
                        params.disk_component(inst.disk_template),
                        params.DISK_PARAMETERS.get(inst.disk_template))


def _check_macs_and_ips(data: objects.ConfigData,
                        problems: list[str]) -> None:
    macs: dict[str, list[str]] = defaultdict(list)
    ips: dict[tuple[str, str], list[str]] = defaultdict(list)
    for inst in data.instances.values():
        for idx, nic in enumerate(inst.nics):
            owner = f"{inst.name} nic/{idx}"
            macs[nic.mac.lower()].append(owner)
            if nic.ip:
                try:
                    link = str(data.cluster.fill_nic(nic.nicparams)
                               .get(NIC_LINK, ""))
                except errors.GenericError:
                    link = str(nic.nicparams.get(NIC_LINK, ""))
                ips[(link, nic.ip)].append(owner)
    for mac, owners in _duplicates(macs):
        problems.append(f"duplicate MAC address {mac} used by "
                        f"{_join(sorted(owners))}")
    for (link, ip), owners in _duplicates(ips):
        problems.append(f"duplicate IP address {ip} on link {link or '(none)'}"
                        f" used by {_join(sorted(owners))}")


def _check_ports(data: objects.ConfigData, problems: list[str]) -> None:
    owners: dict[int, list[str]] = defaultdict(list)
    for inst in data.instances.values():
        if inst.network_port is not None:
            owners[inst.network_port].append(f"{inst.name} (network port)")
        for disk in inst.disks:
            for port in _drbd_ports(disk):
                owners[port].append(f"{inst.name} (DRBD)")
    for port, names in _duplicates(owners):
        problems.append(f"duplicate port {port} used by "
                        f"{_join(sorted(names))}")
    cluster = data.cluster
    pool = set(cluster.tcpudp_port_pool)
    for port in sorted(pool & set(owners)):
        problems.append(f"cluster: port {port} is in the free port pool but "
                        f"used by {_join(sorted(owners[port]))}")
    used_above = sorted(p for p in owners if p > cluster.highest_used_port
                        and constants.FIRST_DRBD_PORT <= p
                        <= constants.LAST_DRBD_PORT)
    if used_above:
        problems.append(f"cluster: highest_used_port is "
                        f"{cluster.highest_used_port} but port "
                        f"{used_above[-1]} is in use")


def _check_groups(data: objects.ConfigData, problems: list[str]) -> None:
    """Groups: stored under their UUID, unique names, valid overrides;
    every node in an existing group; the cluster's policy complete."""
    _check(problems, "cluster: ipolicy", ipolicy.check_policy,
           data.cluster.ipolicy, complete=True)
    if not data.nodegroups:
        problems.append("cluster: there is no node group")
    names: dict[str, list[str]] = defaultdict(list)
    for key, group in sorted(data.nodegroups.items()):
        where = f"node group {group.name}"
        names[group.name].append(group.uuid)
        if key != group.uuid:
            problems.append(f"{where} is stored under the UUID {key}, not "
                            f"its own {group.uuid}")
        _check(problems, f"{where}: ipolicy", ipolicy.check_policy,
               group.ipolicy, complete=False)
        _check(problems, f"{where}: ipolicy",
               lambda g=group: ipolicy.check_policy(
                   data.cluster.fill_ipolicy(g), complete=True))
        for template, values in sorted(group.diskparams.items()):
            _check(problems, f"{where}: diskparams",
                   params.check_disk_params, template, values)
    for name, uuids in _duplicates(names):
        problems.append(f"duplicate node group name {name} (UUIDs "
                        f"{_join(uuids)})")
    for name in nice_sort(data.nodes):
        node = data.nodes[name]
        if node.group not in data.nodegroups:
            problems.append(f"node {name}: its node group {node.group!r} is "
                            "not in the configuration")


def verify_config(data: objects.ConfigData) -> list[str]:
    """Every problem found in ``data``, one readable line each.

    Checked: the master node; node references of instances; duplicate
    names (case-insensitively), UUIDs, MAC addresses, NIC IPs on the same
    link, node IPs and ports; parameters at every level (cluster, per-OS,
    instance, NIC, disk) with :mod:`ganeti.params`; routed NICs without an
    IP; hypervisors not enabled; the size of the master candidate pool.
    An empty list means the configuration is consistent.
    """
    problems: list[str] = []
    _check_master(data, problems)
    _check_names(data, problems)
    _check_uuids(data, problems)
    _check_node_ips(data, problems)
    _check_candidate_pool(data, problems)
    _check_cluster_params(data.cluster, problems)
    _check_groups(data, problems)
    for name in nice_sort(data.instances):
        _check_instance(data, data.instances[name], problems)
    _check_macs_and_ips(data, problems)
    _check_ports(data, problems)
    return problems
