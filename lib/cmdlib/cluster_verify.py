"""``gnt-cluster verify``: is the cluster what its configuration says?

One fan-out RPC call per kind of live data (``node_verify``: protocol and
software version, clock, hypervisor self-checks, running instances;
``fingerprint_files``: SHA-1 of every distributed file and ssconf file;
``blockdev_getsizes``: one call per node holding disks, all at once;
``node_info`` and ``node_volumes``: the volume group and its volumes,
with LVM enabled),
then pure checks of the answers, so a 10-node cluster verifies in a few
RPC round trips whatever its number of instances.

Problems are reported as Ganeti does, one line each through the job's
log (format and codes: :mod:`ganeti.cmdlib.cluster_verify_report`), and
the opcode's result is True when no *error* was found (the CLI exits 1
otherwise).  With ``error_codes`` a line is machine-parseable::

    ERROR:ENODEFILECHECK:node:node2.example.com:file '/var/lib/...' ...

Checks run in :attr:`LUClusterVerify.CHECKS` order; each is a method
taking the gathered :class:`VerifyData`.  The instance checks live in
:mod:`ganeti.cmdlib.cluster_verify_instances`.  The post hooks
(``cluster-verify``) run last on every online node; a failing script is
an error (``ENODEHOOKS``) and its output is shown.  They are run by the
LU itself, not by the processor, because their outcome is part of the
verdict.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any, Final

from ganeti import (
    constants,
    errors,
    hooks,
    ipolicy,
    objects,
    opcodes,
    pathutils,
    redist,
    replica,
    replication,
    ssconf,
)
from ganeti.cmdlib import cluster_verify_instances as civ
from ganeti.cmdlib import cluster_verify_nplus1 as nplus1
from ganeti.cmdlib.base import ALL, Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.cluster_verify_report import (
    ECLUSTERCFG,
    EINSTANCEPOLICY,
    ENODEFILECHECK,
    ENODEHOOKS,
    ENODEHV,
    ENODELVM,
    ENODEORPHANLV,
    ENODEREPLICA,
    ENODERPC,
    ENODETIME,
    ENODEVERSION,
    Reporter,
    check_codes,
)
from ganeti.cmdlib.instance_policy import policy_violations
from ganeti.rpc.result import RpcResult
from ganeti.storage import templates
from ganeti.utils import io

#: Smallest acceptable volume group (MiB), as Ganeti.
MIN_VG_SIZE: Final = 20480
#: Largest clock difference between master and node (seconds), as Ganeti.
NODE_MAX_CLOCK_SKEW: Final = 150.0
#: Hooks path of the post hooks.
VERIFY_HPATH: Final = "cluster-verify"


def ssconf_content(value: str) -> bytes:
    """The bytes of an ssconf file holding ``value`` (as
    ``ssconf.write_files`` writes them; a unit test keeps both equal)."""
    return (value + "\n").encode("utf-8") if value else b""


@dataclasses.dataclass
class VerifyData:
    """Everything the checks look at, gathered once."""

    data: objects.ConfigData
    master: str
    online: list[str]
    candidates: set[str]
    node_info: dict[str, RpcResult]
    #: The online nodes that answered ``node_verify``: the only ones
    #: asked anything more (a hung node costs one RPC timeout, once).
    reachable: list[str]
    fingerprints: dict[str, RpcResult]
    rpc_start: float
    rpc_end: float
    #: Configured path -> (target, SHA-1 on the master or None).
    files: dict[str, tuple[str, str | None]]
    #: Configured ssconf path -> expected SHA-1.
    ssconf: dict[str, str]
    #: What the instance checks look at.
    view: civ.InstanceView
    #: The master's replica state before and after asking the candidates
    #: (``ganeti.replica``), and their answers (``replica_state``).
    replica_before: dict[str, Any]
    replica_after: dict[str, Any]
    replicas: dict[str, RpcResult]
    #: False when pending replication was not done within its bound.
    flushed: bool

    def answered(self, node: str) -> dict[str, Any] | None:
        return _payload(self.node_info.get(node))


def _payload(res: RpcResult | None) -> dict[str, Any] | None:
    """The ``node_verify`` answer of a node, None when the call failed."""
    if res is None or res.fail_msg is not None:
        return None
    payload: dict[str, Any] = res.payload
    return payload


Check = Callable[["LUClusterVerify", Reporter, VerifyData], None]


class LUClusterVerify(LogicalUnit):
    """Verify the configuration and the nodes (see the module doc)."""

    OP = opcodes.OpClusterVerify
    op: opcodes.OpClusterVerify
    HTYPE = constants.HTYPE_CLUSTER

    def check_prereq(self) -> None:
        super().check_prereq()
        check_codes(self.op.ignore_errors)  # an unknown code: clear error

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=True, instance=ALL,
                           instance_shared=True, node=ALL, node_shared=True)

    # --- gathering ----------------------------------------------------------

    def _gather(self) -> VerifyData:
        data = self.cfg.snapshot()
        cluster = data.cluster
        online = [n.name for n in self.cfg.get_online_nodes()]
        candidates = {n.name for n in self.cfg.get_master_candidates()}
        files: dict[str, tuple[str, str | None]] = {}
        here = pathutils.get()
        for path, target in [*redist.compute_file_list(data),
                             (pathutils.Paths("").noded_cert_file,
                              redist.TARGET_ALL)]:
            try:
                digest: str | None = io.sha1_file(here.under(path))
            except errors.OpExecError:
                digest = None
            files[path] = (target, digest)
        conf = pathutils.Paths("")
        expected_ss = {
            conf.ssconf_file(key): hashlib.sha1(ssconf_content(value)).hexdigest()
            for key, value in ssconf.compute_values(data).items()}
        replica_before = replica.describe_here()
        flush_until = time.monotonic() + replication.VERIFY_FLUSH_TIMEOUT
        start = time.time()
        node_info = self.rpc.call_node_verify(
            online, list(cluster.enabled_hypervisors))
        end = time.time()
        # Pushes still in flight would show up as differences.  One bound
        # for all of them, counted from before node_verify: a hung
        # candidate keeps every replicator busy, and node_verify has
        # already waited for it.
        flushed = replication.flush_all(
            self.cfg, max(0.0, flush_until - time.monotonic()))
        reachable = [n for n in online if _payload(node_info.get(n))]
        fingerprints = self.rpc.call_fingerprint_files(
            reachable, sorted([*files, *expected_ss]))
        targets = sorted(candidates & set(reachable) - {self.ctx.master})
        replicas = self.rpc.call_replica_state(targets) if targets else {}
        replica_after = replica.describe_here()
        view = civ.build_view(data, {n: _payload(node_info.get(n))
                                     for n in online})
        civ.gather_disks(view, self._disk_sizes)
        return VerifyData(data=data, master=self.ctx.master, online=online,
                          candidates=candidates, node_info=node_info,
                          reachable=reachable,
                          fingerprints=fingerprints, rpc_start=start,
                          rpc_end=end, files=files, ssconf=expected_ss,
                          view=view, replica_before=replica_before,
                          replica_after=replica_after, replicas=replicas,
                          flushed=flushed)

    def _disk_sizes(self, node: str, disks: list[dict[str, Any]]
                    ) -> RpcResult:
        result: RpcResult = self.rpc.call_blockdev_getsizes([node],
                                                            disks)[node]
        return result

    # --- checks ---------------------------------------------------------------

    def check_config(self, r: Reporter) -> None:
        """Consistency of the configuration, including the number of
        master candidates against ``candidate_pool_size``."""
        problems = self.cfg.verify_config()
        for msg in problems:
            r.error(ECLUSTERCFG, None, msg)
        r.error_if(False, ECLUSTERCFG, None, "simulated configuration error")

    def check_node_rpc(self, r: Reporter, vd: VerifyData) -> None:
        for node in vd.online:
            res = vd.node_info[node]
            r.error_if(res.fail_msg is not None, ENODERPC, node,
                       f"while contacting node: {res.fail_msg}")

    def check_versions(self, r: Reporter, vd: VerifyData) -> None:
        for node in vd.online:
            info = vd.answered(node)
            if info is None:
                continue
            proto = info.get("protocol")
            if r.error_if(proto != constants.PROTOCOL_VERSION, ENODEVERSION,
                          node, "connection to node returned incompatible "
                          f"protocol version: master {constants.PROTOCOL_VERSION},"
                          f" node {proto}"):
                continue
            release = info.get("release")
            r.error_if(release != constants.RELEASE_VERSION, ENODEVERSION,
                       node, "software version mismatch: master "
                       f"{constants.RELEASE_VERSION}, node {release}",
                       warning=True)

    def check_time(self, r: Reporter, vd: VerifyData) -> None:
        for node in vd.online:
            info = vd.answered(node)
            if info is None:
                continue
            ntime = info.get("time")
            if not isinstance(ntime, (int, float)):
                r.error(ENODETIME, node, "node returned an invalid time")
                continue
            if ntime < vd.rpc_start - NODE_MAX_CLOCK_SKEW:
                skew = f"{abs(vd.rpc_start - ntime):.1f}s"
            elif ntime > vd.rpc_end + NODE_MAX_CLOCK_SKEW:
                skew = f"{abs(ntime - vd.rpc_end):.1f}s"
            else:
                skew = ""
            r.error_if(bool(skew), ENODETIME, node,
                       f"Node time diverges by at least {skew or '0s'} from "
                       "master node time")

    def check_hypervisors(self, r: Reporter, vd: VerifyData) -> None:
        for node in vd.online:
            info = vd.answered(node)
            if info is None:
                continue
            per_hv = info.get("hypervisor") or {}
            for hv in vd.data.cluster.enabled_hypervisors:
                problems = per_hv.get(hv)
                if problems is None:
                    r.error(ENODEHV, node, f"hypervisor {hv} not verified")
                    continue
                for msg in problems:
                    r.error(ENODEHV, node, f"hypervisor {hv}: {msg}")
                r.error_if(False, ENODEHV, node,
                           f"hypervisor {hv}: simulated problem")

    def _node_files(self, r: Reporter, vd: VerifyData,
                    node: str) -> dict[str, Any] | None:
        if vd.answered(node) is None:
            return None  # reported by check_node_rpc
        res = vd.fingerprints.get(node)
        if res is None or res.fail_msg is not None:
            r.error(ENODEFILECHECK, node, "cannot read file checksums: "
                    f"{res.fail_msg if res else 'no answer'}")
            return None
        payload: dict[str, Any] = res.payload
        return payload

    def check_files(self, r: Reporter, vd: VerifyData) -> None:
        conf_file = pathutils.Paths("").cluster_conf_file
        for node in vd.online:
            sums = self._node_files(r, vd, node)
            if sums is None:
                continue
            is_candidate = node in vd.candidates
            for path, (target, expected) in sorted(vd.files.items()):
                got = sums.get(path)
                wanted = target == redist.TARGET_ALL or is_candidate
                if not wanted:
                    r.error_if(path == conf_file and got is not None,
                               ENODEFILECHECK, node,
                               f"file '{path}' should not exist")
                    continue
                if expected is None:
                    r.error_if(got is not None, ENODEFILECHECK, node,
                               f"file '{path}' exists on the node but is "
                               "missing on the master")
                elif got is None:
                    r.error(ENODEFILECHECK, node, f"file '{path}' missing")
                else:
                    r.error_if(got != expected, ENODEFILECHECK, node,
                               f"file '{path}' has wrong checksum (differs "
                               "from the master's copy; run 'gnt-cluster "
                               "redist-conf')")

    def check_ssconf(self, r: Reporter, vd: VerifyData) -> None:
        for node in vd.online:
            res = vd.fingerprints.get(node)
            if (vd.answered(node) is None or res is None
                    or res.fail_msg is not None):
                continue
            sums = res.payload
            drift = sorted(path for path, digest in vd.ssconf.items()
                           if sums.get(path) != digest)
            r.error_if(bool(drift), ENODEFILECHECK, node,
                       "ssconf files out of sync with the configuration: "
                       + (", ".join(drift) or "(simulated)"))

    def check_replicas(self, r: Reporter, vd: VerifyData) -> None:
        """Every master candidate's copy of config.data and of the job
        queue holds what the master had when verify started; one that
        lags is reported, and caught up by the master daemon."""
        lagging = []
        for node, res in sorted(vd.replicas.items()):
            if vd.answered(node) is None:
                continue  # reported by check_node_rpc
            if res.fail_msg is not None:
                r.error(ENODEREPLICA, node,
                        f"cannot read its replica state: {res.fail_msg}")
                continue
            lag = replica.stable_lag(vd.replica_before, vd.replica_after,
                                     res.payload)
            r.error_if(lag.config_behind > 0, ENODEREPLICA, node,
                       f"config.data is {lag.config_behind} serial(s) behind"
                       f" (node {lag.config_node}, master"
                       f" {lag.config_master})")
            r.error_if(lag.queue_behind > 0, ENODEREPLICA, node,
                       f"job queue is behind: {lag.describe_queue()}")
            if lag.config_behind or lag.queue_behind:
                lagging.append(node)
        if lagging:
            replication.catch_up_all(self.cfg, lagging)

    def check_lvm(self, r: Reporter, vd: VerifyData) -> None:
        """The cluster's volume group on every node (present, at least
        :data:`MIN_VG_SIZE`) and no logical volume in it that no disk of
        the configuration is (volumes missing on their node are found by
        the instance disk check)."""
        vg = vd.data.cluster.volume_group_name
        if not vg or not vd.reachable:
            return
        infos = self.rpc.call_node_info(vd.reachable, vg, [], "")
        volumes = self.rpc.call_node_volumes(vd.reachable, vg)
        known = {vol for inst in vd.data.instances.values()
                 for vol in templates.instance_volumes(inst)}
        for node in vd.reachable:
            info, vols = infos[node], volumes[node]
            for res in (info, vols):
                r.error_if(res.fail_msg is not None, ENODELVM, node,
                           f"cannot examine volume group {vg}:"
                           f" {res.fail_msg}")
            if info.fail_msg is None:
                size, error = info.payload["vg_size"], info.payload["vg_error"]
                r.error_if(error is not None, ENODELVM, node, str(error))
                r.error_if(isinstance(size, int) and size < MIN_VG_SIZE,
                           ENODELVM, node, f"volume group {vg} is too small"
                           f" ({size} MiB < {MIN_VG_SIZE} MiB)")
            if vols.fail_msg is None:
                for vg_name, lv_name, *_ in vols.payload:
                    r.error_if((node, vg_name, lv_name) not in known,
                               ENODEORPHANLV, node,
                               f"volume {vg_name}/{lv_name} is unknown")

    def check_instances(self, r: Reporter, vd: VerifyData) -> None:
        civ.check_instance_status(r, vd.view)

    def check_instance_policies(self, r: Reporter, vd: VerifyData) -> None:
        """Each instance against its group's instance policy (each
        group's policy filled once: 10,000 instances took seconds)."""
        policies: dict[str | None, ipolicy.Policy] = {}
        for name in sorted(vd.data.instances):
            inst = vd.data.instances[name]
            node = vd.data.nodes.get(inst.primary_node)
            uuid = node.group if node is not None else None
            policy = policies.get(uuid)
            if policy is None:
                policy = policies[uuid] = vd.data.cluster.fill_ipolicy(
                    vd.data.nodegroups.get(uuid or ""))
            found = policy_violations(policy, inst, vd.data.cluster)
            r.error_if(bool(found), EINSTANCEPOLICY, name,
                       f"instance violates policy: {'; '.join(found)}")

    def check_nplusone_mem(self, r: Reporter, vd: VerifyData) -> None:
        """N+1 memory redundancy (:mod:`cluster_verify_nplus1`)."""
        needs = nplus1.failover_needs(vd.data)
        judged = [node for node in sorted(needs) if node in vd.reachable]
        if not judged:
            return
        infos = self.rpc.call_node_info(
            judged, None, list(vd.data.cluster.enabled_hypervisors[:1]), "")
        nplus1.check(r, needs, {node: nplus1.free_memory(infos.get(node))
                                for node in judged})

    def check_orphan_instances(self, r: Reporter, vd: VerifyData) -> None:
        civ.check_orphan_instances(r, vd.view)

    def check_instance_disks(self, r: Reporter, vd: VerifyData) -> None:
        civ.check_instance_disks(r, vd.view)

    #: The checks, in order.
    CHECKS: list[tuple[str, Check]] = [
        ("Verifying node status", check_node_rpc),
        ("Verifying node versions", check_versions),
        ("Verifying node time", check_time),
        ("Verifying hypervisors", check_hypervisors),
        ("Verifying distributed files", check_files),
        ("Verifying ssconf files", check_ssconf),
        ("Verifying master candidates' replicas", check_replicas),
        ("Verifying volume groups and volumes", check_lvm),
        ("Verifying instance status", check_instances),
        ("Verifying orphan instances", check_orphan_instances),
        ("Verifying instance disks", check_instance_disks),
        ("Verifying instance policies", check_instance_policies),
        ("Verifying N+1 Memory redundancy", check_nplusone_mem),
    ]
    #: Optional checks (title -> the ``skip_checks`` name that skips it).
    OPTIONAL: dict[str, str] = {
        "Verifying N+1 Memory redundancy": constants.VERIFY_NPLUSONE_MEM}

    # --- hooks ------------------------------------------------------------------

    def run_post_hooks(self, r: Reporter, vd: VerifyData,
                       feedback: Feedback) -> None:
        cluster = vd.data.cluster
        lu_env: dict[str, object] = {"CLUSTER_TAGS": " ".join(cluster.tags)}
        for name in sorted(vd.data.nodes):
            lu_env[f"NODE_TAGS_{name}"] = " ".join(vd.data.nodes[name].tags)
        env = hooks.build_env(
            opcode=self.op.OP_ID, object_type=self.HTYPE, hpath=VERIFY_HPATH,
            phase=constants.HOOKS_PHASE_POST, cluster=cluster.cluster_name,
            master=vd.master, lu_env=lu_env)
        results = hooks.RpcHooksRunner(self.rpc)(vd.reachable, VERIFY_HPATH,
                                                 constants.HOOKS_PHASE_POST,
                                                 env)
        if not any(res.scripts or res.fail_msg for res in results):
            return
        feedback("* Hooks Results")
        for res in sorted(results, key=lambda x: x.node):
            if res.fail_msg is not None:
                r.error_if(not res.offline, ENODEHOOKS, res.node,
                           "Communication failure in hooks execution: "
                           f"{res.fail_msg}")
                continue
            for script in res.scripts:
                failed = script.status == hooks.HKR_FAIL
                r.error_if(failed, ENODEHOOKS, res.node,
                           f"Script {script.script} failed, output:")
                if failed and script.output:
                    for line in script.output.splitlines():
                        feedback(f"      {line}")

    # --- execution ----------------------------------------------------------------

    def execute(self, feedback: Feedback) -> Any:
        r = Reporter(feedback, error_codes=self.op.error_codes,
                     ignore=check_codes(self.op.ignore_errors),
                     simulate=self.op.debug_simulate_errors)
        feedback("* Verifying global settings")
        self.check_config(r)
        vd = self._gather()
        offline = sorted(set(vd.data.nodes) - set(vd.online))
        feedback(f"* Gathering data ({len(vd.online)} nodes)")
        for title, check in self.CHECKS:
            if self.OPTIONAL.get(title) in self.op.skip_checks:
                continue
            feedback(f"* {title}")
            check(self, r, vd)
        notes = []
        non_redundant = civ.non_redundant(vd.view)
        if non_redundant:
            notes.append(f"{non_redundant} non-redundant instance(s) found.")
        if not vd.flushed:
            notes.append("replication still in progress after "
                         f"{replication.VERIFY_FLUSH_TIMEOUT:g}s; replica"
                         " differences may be in flight")
        if offline:
            notes.append(f"{len(offline)} offline node(s) found: "
                         f"{', '.join(offline)}")
        if notes:
            feedback("* Other Notes")
            for note in notes:
                feedback(f"  - NOTICE: {note}")
        self.run_post_hooks(r, vd, feedback)
        return not r.bad
