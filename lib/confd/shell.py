"""``gnt-debug confd``: one confd query from the shell.

``gnt-debug confd TYPE [ARG...]`` asks the master candidates (or the
nodes given with ``--node``) through :class:`ganeti.confd.client.ConfdClient`
and prints the answer with the highest config serial, one value per line
(``--json`` prints the whole reply as JSON).  An error reply prints
``Error: ...`` and exits 1; no answer within ``--timeout`` exits 1 naming
the servers asked.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
from typing import Any, Final

from ganeti import cli, constants, errors, ssconf
from ganeti.confd import protocol
from ganeti.confd.client import DEFAULT_TIMEOUT, ConfdAnswer, ConfdClient
from ganeti.confd.protocol import ErrorCode, NodeRole, ReqType, Status

#: ``--fields`` names of a cluster-master query.
FIELD_NAMES: Final = {"name": protocol.REQFIELD_NAME,
                      "ip": protocol.REQFIELD_IP,
                      "mnode_pip": protocol.REQFIELD_MNODE_PIP}


@dataclasses.dataclass(frozen=True)
class QueryType:
    rtype: ReqType
    #: (min, max) positional arguments after the type.
    nargs: tuple[int, int | None]
    doc: str


#: The query types by their command-line name.
TYPES: Final = {
    "ping": QueryType(ReqType.PING, (0, 0), "Check that confd answers"),
    "node-role": QueryType(ReqType.NODE_ROLE_BYNAME, (1, 1),
                           "Role of a node (master, candidate, drained,"
                           " offline, regular)"),
    "node-pip-by-instance-ip": QueryType(
        ReqType.NODE_PIP_BY_INSTANCE_IP, (1, None),
        "Primary IP of the primary node of the instance having an IP"
        " (--link for another link than the default)"),
    "cluster-master": QueryType(ReqType.CLUSTER_MASTER, (0, 0),
                                "Name of the master (--fields name,ip,"
                                "mnode_pip for more)"),
    "node-pip-list": QueryType(ReqType.NODE_PIP_LIST, (0, 0),
                               "Primary IPs of all nodes"),
    "mc-pip-list": QueryType(ReqType.MC_PIP_LIST, (0, 0),
                             "Primary IPs of the master candidates"),
    "instances-ips-list": QueryType(ReqType.INSTANCES_IPS_LIST, (0, 1),
                                    "Instance IPs on a link (default: the"
                                    " cluster's default link)"),
    "node-instances": QueryType(ReqType.NODE_INSTANCES, (1, 1),
                                "Primary and secondary instances of a node"),
    "instance-disks": QueryType(ReqType.INSTANCE_DISKS, (1, 1),
                                "Disks of an instance with their parameters"),
    "stats": QueryType(ReqType.STATS, (0, 0),
                       "The answering daemon's counters (received,"
                       " answered, dropped per reason)"),
}

_ERROR_TEXT: Final = {ErrorCode.UNKNOWN_ENTRY: "unknown entry",
                      ErrorCode.INTERNAL: "internal error of the daemon",
                      ErrorCode.ARGUMENT: "invalid query argument"}


def build_query(qtype: QueryType, args: list[str],
                opts: argparse.Namespace) -> Any:
    """The request's ``query`` from the arguments and options."""
    low, high = qtype.nargs
    if len(args) < low or (high is not None and len(args) > high):
        wanted = (f"{low}" if low == high else
                  f"{low} to {high}" if high is not None else f"{low} or more")
        raise errors.UsageError(f"This query type takes {wanted} argument(s),"
                                f" not {len(args)}")
    if opts.fields and qtype.rtype != ReqType.CLUSTER_MASTER:
        raise errors.UsageError("--fields applies to cluster-master only")
    if opts.link and qtype.rtype != ReqType.NODE_PIP_BY_INSTANCE_IP:
        raise errors.UsageError("--link applies to node-pip-by-instance-ip"
                                " only (instances-ips-list takes the link as"
                                " its argument)")
    rtype = qtype.rtype
    if rtype == ReqType.CLUSTER_MASTER and opts.fields:
        names = [f for f in opts.fields.split(",") if f]
        unknown = [f for f in names if f not in FIELD_NAMES]
        if unknown or not names:
            raise errors.UsageError(
                f"Unknown field(s) {', '.join(unknown) or '(none given)'};"
                f" known: {', '.join(FIELD_NAMES)}")
        return {protocol.REQQ_FIELDS: [FIELD_NAMES[f] for f in names]}
    if rtype == ReqType.NODE_PIP_BY_INSTANCE_IP:
        query: dict[str, Any] = {protocol.REQQ_LINK: opts.link or None}
        if len(args) == 1:
            query[protocol.REQQ_IP] = args[0]
        else:
            query[protocol.REQQ_IPLIST] = list(args)
        return query
    return args[0] if args else None


def _lines(qtype: QueryType, args: list[str], answer: Any) -> list[str]:
    rtype = qtype.rtype
    if rtype == ReqType.NODE_ROLE_BYNAME:
        return [NodeRole(answer).name.lower()]
    if rtype == ReqType.NODE_PIP_BY_INSTANCE_IP and len(args) > 1:
        return [f"{ip} {value if status == Status.OK else '-'}"
                for ip, (status, value) in zip(args, answer, strict=True)]
    if rtype == ReqType.NODE_INSTANCES:
        return [f"primary: {' '.join(answer[0])}".rstrip(),
                f"secondary: {' '.join(answer[1])}".rstrip()]
    if rtype == ReqType.INSTANCE_DISKS:
        return [json.dumps(disk, sort_keys=True) for disk in answer]
    if rtype == ReqType.STATS:
        return [f"{key} {value}" for key, value in sorted(answer.items())]
    if isinstance(answer, list):
        return ["-" if v is None else str(v) for v in answer]
    return [str(answer)]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _peers(opts: argparse.Namespace) -> list[str]:
    """``--node`` values (IPs as given, names through the ssconf
    ``node_primary_ips``) or every master candidate."""
    store = ssconf.SimpleStore()
    if not opts.confd_nodes:
        return store.get_master_candidates_ips()
    names = [n for n in opts.confd_nodes if not _is_ip(n)]
    pips = store.get_node_primary_ips() if names else {}
    unknown = [n for n in names if n not in pips]
    if unknown:
        raise errors.UsageError(f"Unknown node {unknown[0]} (give a node"
                                " name of this cluster or an IP address)")
    return [pips.get(node, node) for node in opts.confd_nodes]


def confd(opts: argparse.Namespace, args: list[str]) -> int:
    """The ``gnt-debug confd`` command (see the module doc)."""
    name, rest = args[0], list(args[1:])
    qtype = TYPES.get(name)
    if qtype is None:
        raise errors.UsageError(f"Unknown confd query type '{name}' (known:"
                                f" {', '.join(TYPES)})")
    query = build_query(qtype, rest, opts)
    if opts.timeout <= 0:
        raise errors.UsageError("The timeout must be positive")
    if not 0 < opts.confd_port < 65536:
        raise errors.UsageError(f"Invalid port {opts.confd_port}")
    try:
        with ConfdClient(protocol.load_key(), _peers(opts),
                         port=opts.confd_port, timeout=opts.timeout) as client:
            result: ConfdAnswer = client.query(qtype.rtype, query)
    except (errors.TimeoutError, errors.OpPrereqError) as err:
        # One line, not the master daemon's wording of these errors.
        cli.to_stderr(f"Error: {err}")
        return err.exit_code
    if opts.verbose:
        cli.to_stderr(f"Answer from {result.peer}, config serial "
                      f"{result.serial} ({len(result.replies)} of "
                      f"{result.asked} asked answered)")
    if opts.json:
        cli.to_stdout(json.dumps(result.reply.to_dict(), sort_keys=True))
        return errors.EXIT_SUCCESS if result.status == Status.OK \
            else errors.EXIT_FAILURE
    if result.status != Status.OK:
        try:
            text = _ERROR_TEXT[ErrorCode(result.answer)]
        except ValueError:
            text = str(result.answer)
        shown = f" {' '.join(rest)!r}" if rest else ""
        cli.to_stderr(f"Error: {name}{shown}: {text}")
        return errors.EXIT_FAILURE
    for line in _lines(qtype, rest, result.answer):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


CONFD_NODE_OPT: Final = cli.cli_option(
    "--node", dest="confd_nodes", action="append", default=[],
    metavar="NODE", help="Ask this node (name or IP; may be repeated)"
    " instead of every master candidate")
CONFD_PORT_OPT: Final = cli.cli_option(
    "--port", dest="confd_port", type=int,
    default=constants.DEFAULT_CONFD_PORT,
    metavar="PORT", help="UDP port of the daemons (default %(default)s)")
CONFD_TIMEOUT_OPT: Final = cli.cli_option(
    "--timeout", dest="timeout", type=float, default=DEFAULT_TIMEOUT,
    metavar="SECONDS", help="How long to wait for answers (default"
    " %(default)s)")
CONFD_LINK_OPT: Final = cli.cli_option(
    "--link", dest="link", default=None, metavar="LINK",
    help="NIC link of the instance IPs (default: the cluster's)")
CONFD_FIELDS_OPT: Final = cli.cli_option(
    "--fields", dest="fields", default=None, metavar="FIELD,...",
    help="cluster-master: the values wanted (name, ip, mnode_pip)")
CONFD_JSON_OPT: Final = cli.cli_option(
    "--json", dest="json", action="store_true", default=False,
    help="Print the whole reply as JSON")

OPTIONS: Final = (CONFD_NODE_OPT, CONFD_PORT_OPT, CONFD_TIMEOUT_OPT,
                  CONFD_LINK_OPT, CONFD_FIELDS_OPT, CONFD_JSON_OPT,
                  cli.VERBOSE_OPT)
