"""The answers of confd, precomputed from one configuration.

:class:`ConfigIndex` is built once per load of ``config.data`` (the
daemon swaps in a new one when the file changes) and never modified, so
the query handlers read it without locks.  Every lookup by name or IP is
a dictionary access: a query costs the same at 10 instances and at
10,000.  Instance IPs are indexed per NIC link, as Ganeti does (two
networks may reuse an address); the link of a NIC is its filled
``link`` parameter (cluster default -> NIC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import constants, objects
from ganeti.confd.protocol import (
    REQFIELD_IP,
    REQFIELD_MNODE_PIP,
    REQFIELD_NAME,
    REQQ_FIELDS,
    REQQ_IP,
    REQQ_IPLIST,
    REQQ_LINK,
    ErrorCode,
    NodeRole,
    ReqType,
    Status,
)

#: A handler's result: (status, answer).
Answer = tuple[int, Any]

_UNKNOWN: Final[Answer] = (Status.ERROR, ErrorCode.UNKNOWN_ENTRY)
_ARGUMENT: Final[Answer] = (Status.ERROR, ErrorCode.ARGUMENT)


#: ``Node.role`` (the letters of ``gnt-node list``) -> the confd role.
_ROLES: Final = {constants.NR_MCANDIDATE: NodeRole.CANDIDATE,
                 constants.NR_DRAINED: NodeRole.DRAINED,
                 constants.NR_OFFLINE: NodeRole.OFFLINE,
                 constants.NR_REGULAR: NodeRole.REGULAR}


def node_role(node: objects.Node, master: str) -> NodeRole:
    """The master is MASTER; the other roles are the node's own."""
    if node.name == master:
        return NodeRole.MASTER
    return _ROLES[node.role]


class ConfigIndex:
    """Read-only lookup tables of one configuration (see the module doc)."""

    def __init__(self, data: objects.ConfigData) -> None:
        cluster = data.cluster
        self.serial: int = data.serial_no
        self.cluster = cluster
        self.master_name: str = cluster.master_node
        self.master_ip: str = cluster.master_ip
        nodes = data.nodes
        self.roles: dict[str, int] = {
            name: int(node_role(node, self.master_name))
            for name, node in nodes.items()}
        self.pips: dict[str, str] = {name: node.primary_ip
                                     for name, node in nodes.items()}
        names = sorted(nodes)
        self._pip_list: list[str] = [self.pips[n] for n in names]
        self._mc_pip_list: list[str] = [
            self.pips[n] for n in names
            if self.roles[n] in (NodeRole.MASTER, NodeRole.CANDIDATE)]
        self.master_node_pip: str | None = self.pips.get(self.master_name)
        default_nic = cluster.fill_nic()
        self.default_link: str = str(default_nic.get("link") or "")
        self.instances: dict[str, objects.Instance] = dict(data.instances)
        #: link -> IP -> primary node's primary IP
        self.ip_to_pip: dict[str, dict[str, str]] = {}
        self.ips_by_link: dict[str, list[str]] = {}
        self._node_instances: dict[str, tuple[list[str], list[str]]] = {
            name: ([], []) for name in names}
        for name in sorted(data.instances):
            inst = data.instances[name]
            primary = inst.primary_node
            self._node_instances.setdefault(primary, ([], []))[0].append(name)
            for node in sorted(inst.secondary_nodes):
                self._node_instances.setdefault(node, ([], []))[1].append(name)
            for nic in inst.nics:
                if not nic.ip:
                    continue
                link = (str(cluster.fill_nic(nic.nicparams).get("link") or "")
                        if nic.nicparams else self.default_link)
                by_ip = self.ip_to_pip.setdefault(link, {})
                if nic.ip not in by_ip:
                    by_ip[nic.ip] = self.pips.get(primary, "")
                    self.ips_by_link.setdefault(link, []).append(nic.ip)
        #: Request type -> handler (STATS is the server's own).
        self.handlers: Mapping[int, Callable[[Any], Answer]] = \
            self._dispatch_table()

    # --- the queries --------------------------------------------------------

    def ping(self, query: Any) -> Answer:
        if query is not None:
            return Status.ERROR, "non-empty ping query"
        return Status.OK, "ok"

    def node_role_by_name(self, query: Any) -> Answer:
        if not isinstance(query, str):
            return _ARGUMENT
        role = self.roles.get(query)
        return _UNKNOWN if role is None else (Status.OK, role)

    def _pip_of_ip(self, link: str, ip: Any) -> Answer:
        if not isinstance(ip, str):
            return _ARGUMENT
        pip = self.ip_to_pip.get(link, {}).get(ip)
        return _UNKNOWN if pip is None else (Status.OK, pip)

    def node_pip_by_instance_ip(self, query: Any) -> Answer:
        """A plain IP (on the default link), or ``{link?, ip}`` for one
        answer, or ``{link?, iplist}`` for one ``[status, answer]`` per IP."""
        if isinstance(query, str):
            return self._pip_of_ip(self.default_link, query)
        if not isinstance(query, dict):
            return _ARGUMENT
        link = query.get(REQQ_LINK) or self.default_link
        if not isinstance(link, str):
            return _ARGUMENT
        if REQQ_IP in query:
            return self._pip_of_ip(link, query[REQQ_IP])
        iplist = query.get(REQQ_IPLIST)
        if not isinstance(iplist, list):
            return _ARGUMENT
        return Status.OK, [list(self._pip_of_ip(link, ip)) for ip in iplist]

    def cluster_master(self, query: Any) -> Answer:
        """The master's name, or ``{fields: [...]}`` for a list of values
        (name, master IP, master node's primary IP)."""
        if query is None:
            return Status.OK, self.master_name
        if not isinstance(query, dict):
            return _ARGUMENT
        fields = query.get(REQQ_FIELDS)
        if not isinstance(fields, list):
            return _ARGUMENT
        values = {REQFIELD_NAME: self.master_name, REQFIELD_IP: self.master_ip,
                  REQFIELD_MNODE_PIP: self.master_node_pip}
        if not all(isinstance(f, str) and f in values for f in fields):
            return _ARGUMENT
        return Status.OK, [values[f] for f in fields]

    def node_pip_list(self, _query: Any) -> Answer:
        return Status.OK, self._pip_list

    def mc_pip_list(self, _query: Any) -> Answer:
        return Status.OK, self._mc_pip_list

    def instances_ips_list(self, query: Any) -> Answer:
        """The instance IPs on a link (the default link for no query)."""
        if query is None:
            link = self.default_link
        elif isinstance(query, str):
            link = query or self.default_link
        else:
            return _ARGUMENT
        return Status.OK, self.ips_by_link.get(link, [])

    def node_instances(self, query: Any) -> Answer:
        """``[primary instances, secondary instances]`` of a node."""
        if not isinstance(query, str):
            return _ARGUMENT
        found = self._node_instances.get(query)
        if found is None or query not in self.roles:
            return _UNKNOWN
        return Status.OK, [found[0], found[1]]

    def instance_disks(self, query: Any) -> Answer:
        """The disks of an instance, each with its filled parameters."""
        if not isinstance(query, str):
            return _ARGUMENT
        inst = self.instances.get(query)
        if inst is None:
            return _UNKNOWN
        disks = []
        for disk in inst.disks:
            item = disk.to_dict()
            item["params"] = self.cluster.filled_diskparams(inst, disk)
            disks.append(item)
        return Status.OK, disks

    def _dispatch_table(self) -> dict[int, Callable[[Any], Answer]]:
        return {ReqType.PING: self.ping,
                ReqType.NODE_ROLE_BYNAME: self.node_role_by_name,
                ReqType.NODE_PIP_BY_INSTANCE_IP: self.node_pip_by_instance_ip,
                ReqType.CLUSTER_MASTER: self.cluster_master,
                ReqType.NODE_PIP_LIST: self.node_pip_list,
                ReqType.MC_PIP_LIST: self.mc_pip_list,
                ReqType.INSTANCES_IPS_LIST: self.instances_ips_list,
                ReqType.NODE_INSTANCES: self.node_instances,
                ReqType.INSTANCE_DISKS: self.instance_disks}
