"""Creating and destroying a cluster, and moving the master role.

- :func:`init_cluster` (``gnt-cluster init``): checks every parameter,
  generates the cluster's secrets (``server.pem``, ``rapi.pem``,
  ``hmac.key``), writes ``config.data`` and the ssconf files, starts the
  node daemon (bound to the master's primary IP) and the master daemon,
  and brings up the master IP when a master netdev is given.
- :func:`finalize_destroy` (after ``OpClusterDestroy``): stops the
  master's daemons, takes the master IP down and removes the files.
- :func:`master_failover` (``gnt-cluster master-failover``): run on the
  new master; asks the master candidates who the master is (voting),
  stops the old master, takes the newest configuration a candidate has,
  rewrites it, sends it to every candidate and starts the master role
  here.
- Node-local helpers shared with the node daemon: removing the cluster
  files, master IP up/down, waiting for a node daemon to answer.

See ``doc/design/bootstrap.rst``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ganeti import (
    config,
    constants,
    crypto,
    daemonutil,
    errors,
    ht,
    ipolicy,
    objects,
    params,
    pathutils,
    redist,
    replication,
    ssconf,
    uidpool,
)
from ganeti.opcodes.base import TIallocatorName
from ganeti.rpc.client import RpcClient
from ganeti.rpc.result import RpcResult
from ganeti.rpc.transport import HttpsTransport
from ganeti.storage import lvm
from ganeti.utils import io, process

EC = errors.ErrorCode
Feedback = Callable[[str], None]

#: Common name of the cluster certificates (Ganeti uses a fixed name too:
#: nodes are addressed by IP and trust the certificate by pinning).
CERT_CN: Final = "ganeti.example.com"
#: Bound on waiting for a node daemon to answer after it was started.
NODED_WAIT: Final = 60.0


def _nothing(_msg: str) -> None:
    pass


# --- Name resolution ----------------------------------------------------------

def resolve(name: str, what: str, option: str) -> str:
    """The IPv4 address of ``name``; a clear error naming ``option`` (the
    way to give the address instead) when it does not resolve."""
    try:
        return socket.gethostbyname(name)
    except (OSError, UnicodeError):
        raise errors.ResolverError(
            f"Cannot resolve {what} '{name}'; give its address with "
            f"{option}", EC.RESOLVER) from None


def _check_ip(value: str, option: str) -> str:
    if not ht.TIPAddress(value):
        raise errors.OpPrereqError(f"Invalid IP address '{value}' given with "
                                   f"{option}", EC.INVAL)
    return value


# --- Parameters of a new cluster ---------------------------------------------

@dataclasses.dataclass
class InitParams:
    """What ``gnt-cluster init`` was asked for (see gnt-cluster(8), INIT)."""

    cluster_name: str
    master_name: str = ""
    primary_ip: str | None = None
    secondary_ip: str | None = None
    master_ip: str | None = None
    master_netdev: str = ""
    enabled_hypervisors: list[str] = dataclasses.field(
        default_factory=lambda: list(constants.DEFAULT_ENABLED_HYPERVISORS))
    hvparams: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    beparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    nicparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    ndparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    diskparams: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=dict)
    file_storage_dir: str = pathutils.CONFIGURED_FILE_STORAGE_DIR
    modify_etc_hosts: bool = True
    modify_ssh_setup: bool = True
    candidate_pool_size: int = constants.DEFAULT_CANDIDATE_POOL_SIZE
    vg_name: str | None = constants.DEFAULT_VG
    mac_prefix: str = constants.DEFAULT_MAC_PREFIX
    maintain_node_health: bool = False
    default_iallocator: str = ""
    uid_pool: list[list[int]] = dataclasses.field(default_factory=list)
    #: Changes to the default instance policy (ganeti.ipolicy.merge).
    ipolicy: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Skip the volume group check (tests; local clusters use no LVM).
    check_vg: bool = True


def validate(p: InitParams) -> tuple[objects.Cluster, objects.Node]:
    """Check every parameter; the cluster and master node objects to
    create.  Raises with one line naming the bad option; changes
    nothing."""
    if not ht.THostname(p.cluster_name):
        raise errors.OpPrereqError(f"Invalid cluster name '{p.cluster_name}'",
                                   EC.INVAL)
    master = p.master_name or pathutils.hostname()
    if not ht.THostname(master):
        raise errors.OpPrereqError(f"Invalid node name '{master}' of this "
                                   "node", EC.INVAL)
    primary = (_check_ip(p.primary_ip, "--primary-ip") if p.primary_ip
               else resolve(master, "this node's name", "--primary-ip"))
    secondary = (_check_ip(p.secondary_ip, "-s/--secondary-ip")
                 if p.secondary_ip else primary)
    cluster_ip = (_check_ip(p.master_ip, "--master-ip") if p.master_ip
                  else resolve(p.cluster_name, "the cluster name",
                               "--master-ip"))
    if p.default_iallocator and not TIallocatorName(p.default_iallocator):
        raise errors.OpPrereqError(
            f"Invalid iallocator name '{p.default_iallocator:.80}'"
            " (--default-iallocator: a file name in the iallocator search"
            " path)", EC.INVAL)
    hvs = list(dict.fromkeys(p.enabled_hypervisors))
    if not hvs:
        raise errors.OpPrereqError("No hypervisor enabled "
                                   "(--enabled-hypervisors is empty)", EC.INVAL)
    unknown = [hv for hv in hvs if hv not in constants.HYPER_TYPES]
    if unknown:
        raise errors.OpPrereqError(
            f"Unknown hypervisor(s) in --enabled-hypervisors: "
            f"{', '.join(unknown)} (known: "
            f"{', '.join(sorted(constants.HYPER_TYPES))})", EC.INVAL)
    hvparams: dict[str, dict[str, Any]] = {}
    for hv, values in p.hvparams.items():
        if hv not in constants.HYPER_TYPES:
            raise errors.OpPrereqError(
                f"Unknown hypervisor '{hv}' in -H (known: "
                f"{', '.join(sorted(constants.HYPER_TYPES))})", EC.INVAL)
        hvparams[hv] = params.check_hv_params(hv, values)
    beparams = params.check_be_params(p.beparams)
    nicparams = params.check_nic_params(p.nicparams)
    ndparams = params.check_nd_params(p.ndparams)
    diskparams: dict[str, dict[str, Any]] = {}
    for template, values in p.diskparams.items():
        if template not in constants.DISK_TEMPLATES:
            raise errors.OpPrereqError(
                f"Unknown disk template '{template}' in -D (known: "
                f"{', '.join(sorted(constants.DISK_TEMPLATES))})", EC.INVAL)
        diskparams[template] = params.check_disk_params(template, values)
    if not ht.TAbsolutePath(p.file_storage_dir):
        raise errors.OpPrereqError(
            f"The file storage directory must be an absolute path, not "
            f"'{p.file_storage_dir}'", EC.INVAL)
    if not ht.TMacPrefix(p.mac_prefix):
        raise errors.OpPrereqError(
            f"Invalid MAC prefix '{p.mac_prefix}' (expected three octets "
            "such as aa:00:00)", EC.INVAL)
    if not ht.TPositiveInt(p.candidate_pool_size):
        raise errors.OpPrereqError(
            f"The candidate pool size must be positive, not "
            f"{p.candidate_pool_size}", EC.INVAL)
    if p.master_netdev and not ht.TRegex(r"[A-Za-z0-9_.:-]{1,15}",
                                         "an interface name")(p.master_netdev):
        raise errors.OpPrereqError(
            f"Invalid master network device '{p.master_netdev}'", EC.INVAL)
    if p.vg_name is not None and p.check_vg:
        check_volume_group(p.vg_name)
    uidpool.check_pool(p.uid_pool, "--uid-pool")
    policy = ipolicy.check_policy(
        ipolicy.merge(ipolicy.default_policy(), p.ipolicy, group=False),
        complete=True)
    cluster = objects.Cluster(
        cluster_name=p.cluster_name, master_node=master, master_ip=cluster_ip,
        master_netdev=p.master_netdev, mac_prefix=p.mac_prefix.lower(),
        volume_group_name=p.vg_name, file_storage_dir=p.file_storage_dir,
        enabled_hypervisors=hvs, hvparams=hvparams,
        beparams={params.PP_DEFAULT: beparams} if beparams else {},
        nicparams={params.PP_DEFAULT: nicparams} if nicparams else {},
        ndparams=ndparams,
        diskparams=diskparams, candidate_pool_size=p.candidate_pool_size,
        modify_etc_hosts=p.modify_etc_hosts,
        modify_ssh_setup=p.modify_ssh_setup,
        maintain_node_health=p.maintain_node_health, uid_pool=p.uid_pool,
        default_iallocator=p.default_iallocator,
        ipolicy=policy)
    node = objects.Node(name=master, primary_ip=primary,
                        secondary_ip=secondary, master_candidate=True)
    return cluster, node


def check_volume_group(vg_name: str) -> None:
    """The volume group must exist on this node (``vgs``)."""
    try:
        found = lvm.node_runner().find_vg(vg_name) is not None
        reason = "no such volume group"
    except errors.GenericError as err:
        found, reason = False, str(err)
    if not found:
        raise errors.OpPrereqError(
            f"Volume group '{vg_name}' not found on this node ({reason:.160});"
            " create it, give another with -g, or use --no-lvm-storage",
            EC.ENVIRON)


# --- Files of a node ------------------------------------------------------------

def cluster_exists(paths: pathutils.Paths | None = None) -> bool:
    paths = paths or pathutils.get()
    return (os.path.exists(paths.cluster_conf_file)
            or os.path.exists(paths.ssconf_file(ssconf.SS_MASTER_NODE)))


def make_dirs(paths: pathutils.Paths) -> None:
    for directory, mode in ((paths.data_dir, 0o755), (paths.run_dir, 0o755),
                            (paths.log_dir, 0o755), (paths.conf_dir, 0o755),
                            (paths.queue_dir, 0o700)):
        os.makedirs(directory, mode=mode, exist_ok=True)


def generate_secrets(paths: pathutils.Paths) -> None:
    """The cluster certificate, the RAPI certificate, the HMAC key and
    the cluster domain secret."""
    key, cert = crypto.generate_self_signed(CERT_CN)
    crypto.write_pem_file(paths.noded_cert_file, key, cert)
    key, cert = crypto.generate_self_signed(CERT_CN)
    crypto.write_pem_file(paths.rapi_cert_file, key, cert)
    io.write_file_atomic(paths.confd_hmac_key, crypto.generate_hmac_key() + "\n",
                         mode=0o400)
    write_domain_secret(paths, crypto.generate_domain_secret())


def write_domain_secret(paths: pathutils.Paths, secret: str) -> None:
    io.write_file_atomic(paths.cluster_domain_secret_file, secret, mode=0o400)


#: Files a node receives when it joins (what the node daemon needs to
#: trust the master, and the confd key); the rest comes by redistribution.
JOIN_FILES: Final = ("noded_cert_file", "confd_hmac_key")


def remove_cluster_files(paths: pathutils.Paths | None = None) -> None:
    """Remove what makes this node a cluster member (leave/destroy)."""
    paths = paths or pathutils.get()
    ssconf.remove_files(paths)
    for path in (paths.cluster_conf_file, paths.config_lock_file,
                 paths.rapi_cert_file, paths.rapi_users_file,
                 paths.confd_hmac_key, paths.cluster_domain_secret_file,
                 paths.known_hosts_file,
                 paths.watcher_state_file, paths.watcher_pause_file,
                 paths.noded_cert_file):
        io.remove_file(path)
    if os.path.isdir(paths.queue_dir):
        shutil.rmtree(paths.queue_dir, ignore_errors=True)


# --- The master IP --------------------------------------------------------------

def _ip_cmd(action: str, ip: str, netdev: str) -> process.RunResult:
    argv = ["ip", "address", action, f"{ip}/32", "dev", netdev]
    if action == "add":
        argv += ["label", f"{netdev}:0"]
    return process.run_cmd(argv, timeout=60)


#: How ``ip`` says the address is already there / not there (older and
#: newer iproute2 word it differently).
_IP_PRESENT = ("File exists", "already assigned")
_IP_ABSENT = ("Cannot assign", "Address not found")


def activate_master_ip(ip: str, netdev: str) -> None:
    """``ip address add IP/32 dev NETDEV``; already present is fine."""
    res = _ip_cmd("add", ip, netdev)
    if res.failed and not any(m in res.output for m in _IP_PRESENT):
        raise errors.OpExecError(
            f"Cannot activate master IP {ip} on {netdev}: "
            f"{' '.join(res.output.split()) or res.fail_reason}",
            EC.ENVIRON)


def deactivate_master_ip(ip: str, netdev: str) -> None:
    """``ip address del IP/32 dev NETDEV``; already absent is fine."""
    res = _ip_cmd("del", ip, netdev)
    if res.failed and not any(m in res.output for m in _IP_ABSENT):
        raise errors.OpExecError(
            f"Cannot deactivate master IP {ip} on {netdev}: "
            f"{' '.join(res.output.split()) or res.fail_reason}",
            EC.ENVIRON)


# --- Talking to node daemons without a master daemon ----------------------------

@dataclasses.dataclass
class NodeAddress:
    name: str
    primary_ip: str
    offline: bool = False


def direct_rpc(addresses: Mapping[str, str],
               offline: frozenset[str] = frozenset(),
               cert_file: str | None = None) -> RpcClient:
    """An RPC client for the given ``name -> IP`` map (no config needed)."""
    def lookup(name: str) -> NodeAddress | None:
        ip = addresses.get(name)
        return None if ip is None else NodeAddress(name, ip, name in offline)
    return RpcClient(lookup, HttpsTransport(cert_file))


def ssconf_rpc(store: ssconf.SimpleStore | None = None) -> RpcClient:
    """An RPC client reaching the nodes listed in this node's ssconf."""
    store = store or ssconf.SimpleStore()
    return direct_rpc(store.get_node_primary_ips(),
                      frozenset(store.get_offline_nodes()),
                      store.paths.noded_cert_file)


def wait_for_noded(name: str, ip: str, *, cert_file: str | None = None,
                   timeout: float = NODED_WAIT,
                   paths: pathutils.Paths | None = None) -> None:
    """Poll the node daemon at ``ip`` with the ``version`` call until it
    answers (bounded); check its protocol version.  With ``paths`` (the
    node's root on this machine) a daemon that exited fails at once."""
    rpc = direct_rpc({name: ip}, cert_file=cert_file)
    try:
        deadline = time.monotonic() + timeout
        while True:
            res = rpc.call_version([name])[name]
            if not res.failed:
                break
            if paths is not None and not daemonutil.is_running(
                    constants.NODED, paths):
                raise errors.OpExecError(
                    f"The node daemon of {name} exited: {res.fail_msg} "
                    f"(see {paths.log_file(constants.NODED)})", EC.ENVIRON)
            if time.monotonic() > deadline:
                raise errors.NodeUnreachableError(
                    f"Node daemon of {name} did not answer within "
                    f"{timeout:.0f}s: {res.fail_msg}")
            time.sleep(0.05)
    finally:
        rpc.close()
    if res.payload != constants.PROTOCOL_VERSION:
        raise errors.OpPrereqError(
            f"Node {name} speaks protocol version {res.payload}, this "
            f"master {constants.PROTOCOL_VERSION}", EC.ENVIRON)


def wait_for_masterd(timeout: float = NODED_WAIT, *,
                     paths: pathutils.Paths | None = None) -> None:
    """Poll this node's (or the node at ``paths``') master socket until
    the master daemon answers."""
    from ganeti import luxi

    paths = paths or pathutils.get()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with luxi.Client(paths.master_socket) as client:
                client.query_config_values(["master_node"])
            return
        except errors.GenericError as err:
            if not daemonutil.is_running(constants.MASTERD, paths):
                log = paths.log_file(constants.MASTERD)
                raise errors.OpExecError(
                    f"The master daemon exited: {err} (see {log})",
                    EC.ENVIRON) from None
            if time.monotonic() > deadline:
                raise errors.OpExecError(
                    f"The master daemon did not answer within "
                    f"{timeout:.0f}s: {err}", EC.ENVIRON) from None
        time.sleep(0.05)


# --- init -----------------------------------------------------------------------

def init_cluster(p: InitParams, feedback: Feedback = _nothing) -> objects.Cluster:
    """Create the cluster on this node and start its daemons.

    Refuses when this node already belongs to a cluster.  A failure after
    files were written stops what was started and removes the files, so
    the command can simply be run again.
    """
    paths = pathutils.get()
    if cluster_exists(paths):
        raise errors.OpPrereqError(
            "Cluster is already initialised (found "
            f"{paths.cluster_conf_file} or the ssconf files); destroy it "
            "first with 'gnt-cluster destroy --yes-do-it'", EC.EXISTS)
    cluster, master = validate(p)
    make_dirs(paths)
    try:
        generate_secrets(paths)
        cfg = config.initialize(paths.cluster_conf_file, cluster, master)
        try:
            ssconf.write_files(ssconf.compute_values(cfg))
            cluster = cfg.get_cluster()
        finally:
            cfg.close()
        feedback(f"Starting the node daemon on {master.primary_ip}")
        daemonutil.start(constants.NODED, ["-b", master.primary_ip])
        wait_for_noded(master.name, master.primary_ip, paths=paths)
        feedback(f"Starting the monitoring daemon on {master.primary_ip}")
        daemonutil.start(constants.MOND, ["-b", master.primary_ip])
        if cluster.master_netdev:
            activate_master_ip(cluster.master_ip, cluster.master_netdev)
        feedback("Starting the master daemon")
        daemonutil.start(constants.MASTERD)  # HTTPS transport: the default
        wait_for_masterd()
        start_confd(master.primary_ip, feedback)
    except BaseException:
        with contextlib.suppress(errors.GenericError):
            _stop_local_daemons(paths, cluster)
        remove_cluster_files(paths)
        raise
    return cluster


def start_confd(ip: str, feedback: Feedback = _nothing) -> None:
    """Start ganeti-confd on this master candidate, bound to its primary
    IP; a failure is reported, not fatal (confd serves clients, not the
    cluster's own operations, and the watcher starts it again)."""
    try:
        daemonutil.start(constants.CONFD, ["-b", ip])
    except errors.GenericError as err:
        feedback(f"Warning: {err}")


def _stop_local_daemons(paths: pathutils.Paths,
                        cluster: objects.Cluster | None) -> None:
    for name in (constants.RAPI, constants.CONFD, constants.MASTERD,
                 constants.MOND):
        daemonutil.stop(name, paths)
    if cluster is not None and cluster.master_netdev:
        deactivate_master_ip(cluster.master_ip, cluster.master_netdev)
    daemonutil.stop(constants.NODED, paths)


def finalize_destroy(feedback: Feedback = _nothing) -> None:
    """The end of ``gnt-cluster destroy`` on the master, after the
    opcode: daemons stopped, master IP down, files removed."""
    paths = pathutils.get()
    store = ssconf.SimpleStore(paths)
    netdev = ip = ""
    with contextlib.suppress(errors.GenericError):
        netdev, ip = store.get_master_netdev(), store.get_master_ip()
    for name in (constants.RAPI, constants.CONFD, constants.MASTERD):
        if daemonutil.stop(name, paths):
            feedback(f"Stopped {name}")
    if netdev:
        deactivate_master_ip(ip, netdev)
    daemonutil.stop(constants.MOND, paths)
    daemonutil.stop(constants.NODED, paths)
    remove_cluster_files(paths)


# --- Master failover ------------------------------------------------------------

def count_votes(answers: Mapping[str, RpcResult]) -> dict[str | None, int]:
    """Votes per believed master; nodes that did not answer vote None."""
    votes: dict[str | None, int] = {}
    for res in answers.values():
        choice: str | None = None
        if not res.failed and isinstance(res.payload, list) \
                and len(res.payload) >= 2:
            choice = str(res.payload[1]) or None
        votes[choice] = votes.get(choice, 0) + 1
    return votes


def check_votes(old_master: str, votes: Mapping[str | None, int],
                voters: int) -> None:
    """A strict majority of the ``voters`` must name ``old_master``."""
    agree = votes.get(old_master, 0)
    if agree * 2 > voters:
        return
    others = {k: v for k, v in votes.items() if k not in (None, old_master)}
    silent = votes.get(None, 0)
    detail = (f"{agree} of {voters} master candidate(s) agree that the "
              f"master is {old_master}")
    if others:
        shown = ", ".join(f"{k} ({v})" for k, v in sorted(others.items()))
        detail += f"; others name {shown}"
    if silent:
        detail += f"; {silent} did not answer"
    raise errors.OpPrereqError(
        f"Master candidates do not agree on the current master: {detail}. "
        "Resynchronise this node's configuration, or use --no-voting if you"
        " are sure", EC.STATE)


def take_newest_config(rpc: RpcClient, nodes: list[str], path: str,
                       feedback: Feedback = _nothing) -> int:
    """Make this node's ``config.data`` the newest copy that ``nodes``
    hold (the master candidates that answer); its serial number.

    Replication to candidates is asynchronous, so a candidate may lag
    behind another; the one that becomes the master must not start from
    an older copy (it would drop what was changed meanwhile, and write a
    serial number another node already has for different content)."""
    mine = config.read_config(path)[0].serial_no
    best: tuple[int, str, bytes] | None = None
    for node, res in sorted(rpc.call_config_fetch(nodes, mine).items()):
        if res.failed:
            feedback(f"Warning: cannot compare configurations with node "
                     f"{node}: {res.fail_msg}")
            continue
        serial, data = res.payload
        if data is not None and serial > mine and (
                best is None or serial > best[0]):
            best = (serial, node, redist.decode_data(data))
    if best is None:
        return mine
    serial, node, raw = best
    decoded, _ = config.decode_config(f"{path} (from node {node})", raw)
    if decoded.serial_no != serial:
        raise errors.ConfigurationError(
            f"Node {node} announced configuration serial {serial} but sent"
            f" {decoded.serial_no}")
    feedback(f"Taking the newer configuration of node {node} (serial "
             f"{serial}; this node had {mine})")
    # The whole document, replacing this node's base and journal.
    config.journal.write_base(path, raw, config.CONFIG_FILE_MODE)
    return serial


def master_failover(no_voting: bool = False,
                    feedback: Feedback = _nothing) -> str:
    """Make this node the master; returns the old master's name."""
    paths = pathutils.get()
    store = ssconf.SimpleStore(paths)
    old_master = store.get_master_node()
    me = pathutils.hostname()
    if old_master == me:
        raise errors.OpPrereqError(
            f"This node ({me}) is already the master; run this command on "
            "the master candidate that should become the master", EC.STATE)
    candidates = store.get_master_candidates()
    if me not in candidates:
        raise errors.OpPrereqError(
            f"This node ({me}) is not a master candidate and cannot become "
            f"the master (candidates: {', '.join(candidates) or 'none'})",
            EC.STATE)
    if not os.path.exists(paths.cluster_conf_file):
        raise errors.OpPrereqError(
            f"This node has no cluster configuration "
            f"({paths.cluster_conf_file}); it cannot become the master",
            EC.STATE)
    rpc = ssconf_rpc(store)
    try:
        if not no_voting:
            others = [n for n in candidates if n != me]
            answers = rpc.call_master_info(others) if others else {}
            votes = count_votes(answers)
            votes[old_master] = votes.get(old_master, 0) + 1  # my own belief
            check_votes(old_master, votes, len(candidates))
        feedback(f"Stopping the master role on {old_master}")
        # A master daemon that stops first pushes what it wrote.
        res = rpc.call_node_stop_master([old_master], True)[old_master]
        if res.failed:
            feedback(f"Warning: could not stop the master role on "
                     f"{old_master} ({res.fail_msg}); stop its master daemon"
                     " by hand if it still runs")
        take_newest_config(rpc, [n for n in candidates if n != me],
                           paths.cluster_conf_file, feedback)
        cfg = config.ConfigWriter(paths.cluster_conf_file)
        try:
            cluster = cfg.get_cluster()
            cluster.master_node = me
            cfg.update(cluster)  # the serial now tops every copy we saw
            values = ssconf.compute_values(cfg)
            online = [n.name for n in cfg.get_online_nodes()]
            node_ips = {n.name: n.primary_ip for n in cfg.get_online_nodes()}
            targets = replication.candidate_targets(cfg, me)
        finally:
            cfg.close()
        ssconf.write_files(values, paths)
    finally:
        rpc.close()
    rpc = direct_rpc(node_ips, cert_file=paths.noded_cert_file)
    try:
        # Every candidate gets the new configuration before anyone is told
        # of the new master, so verify finds one config everywhere.
        for node, message in replication.push_config(rpc, targets).items():
            feedback(f"Warning: node {node} did not get the new "
                     f"configuration ({message}); the new master pushes it "
                     "again when it starts and with each change, and "
                     "'gnt-cluster verify' reports it until then")
        # Tell every node (the old master too) who the master is now, with
        # the addresses of the (possibly newer) configuration.
        for node, res in rpc.call_write_ssconf_files(online, values).items():
            if res.failed and node != me:
                feedback(f"Warning: cannot update the ssconf files of node "
                         f"{node}: {res.fail_msg}")
        feedback(f"Starting the master role on {me}")
        rpc.call_node_start_master([me], True, no_voting)[me].raise_on_fail(
            "Starting the master daemon here failed")
    finally:
        rpc.close()
    wait_for_masterd()
    return old_master


# --- Master daemon start-up checks ----------------------------------------------

def check_master_start(cfg: config.ConfigWriter, *, voting: bool) -> None:
    """Refuse to start a master daemon on a node that is not the master.

    The ssconf files (when present) must name this node as the master,
    like the configuration does.  With ``voting``, the other online nodes
    are asked whom they believe to be the master: start only when more of
    the nodes that answer name this node than another one (this node
    votes for itself; nodes that do not answer do not vote).  This stops
    an old master that comes back after a failover with an outdated
    configuration.
    """
    me = pathutils.hostname()
    store = ssconf.SimpleStore()
    with contextlib.suppress(errors.NotClusterError):
        believed = store.get_master_node()
        if believed != me:
            raise errors.NotMasterError(
                f"This is not the master node according to the ssconf files"
                f" (this is {me}, the master is {believed})")
    if not voting:
        return
    others = {n.name: n.primary_ip for n in cfg.get_online_nodes()
              if n.name != me}
    if not others:
        return
    rpc = direct_rpc(others)
    try:
        votes = count_votes(rpc.call_master_info(sorted(others)))
    finally:
        rpc.close()
    votes.pop(None, None)
    mine = votes.pop(me, 0) + 1
    against = sum(votes.values())
    if against >= mine:
        shown = ", ".join(f"{k} ({v})" for k, v in sorted(votes.items()))
        raise errors.NotMasterError(
            f"Not enough votes to start as master: {mine} node(s) including "
            f"this one name {me}, other nodes name {shown}; fail over "
            "properly, or start with --no-voting --yes-do-it if you are sure")
