"""``gnt-cluster modify``: every cluster-wide setting of OpClusterSetParams.

All checks run in :meth:`LUClusterSetParams.check_prereq`, against a copy
of the cluster, so a refused change leaves nothing half-applied:

- parameter dictionaries go through :mod:`ganeti.params` (unknown names
  are refused naming the parameter and its component; the value
  ``default`` removes an override; hypervisor parameters that are global
  only are refused per OS), then through the driver's own syntax check
  for hypervisors this build has;
- enabling a hypervisor fills its declared defaults; disabling one that
  instances use is refused, as is an empty list;
- disabling LVM (``vg_name`` empty) is refused while instances use LVM;
  a new volume group must exist on every online node (``node_info``);
- NIC defaults: a bridged default needs a link, and a routed default is
  refused while instances have NICs without an IP that would become
  routed;
- OS parameters are checked by the OS on the master node when it has it
  (``os_validate``);
- the uid pool is replaced (``uid_pool``), extended (``add_uids``) or
  shrunk (``remove_uids``: each range must be in the pool); new ranges
  must pass :func:`ganeti.uidpool.check_pool` (within the allowed uids,
  no uid of an existing user of the master node);
- the hidden/blacklisted OS lists and the extra redistributed files take
  ``add``/``remove`` changes (adding what is there, or removing what is
  not, is reported and ignored, as Ganeti does for the OS lists).

After the change, a larger ``candidate_pool_size`` promotes nodes
(``maintain_candidate_pool``), which get the candidates' files and the
job queue (``distribute_to``).
"""

from __future__ import annotations

from typing import Any

from ganeti import (
    constants,
    errors,
    hypervisor,
    ipolicy,
    objects,
    opcodes,
    params,
    replication,
    uidpool,
)
from ganeti.cmdlib.base import Feedback, LockRequest, LogicalUnit
from ganeti.cmdlib.node_membership import distribute_to, maintain_candidate_pool

EC = errors.ErrorCode

#: Disk templates whose disks live in the volume group.
LVM_TEMPLATES = frozenset([constants.DT_PLAIN, constants.DT_DRBD8])


def add_uid_ranges(pool: list[list[int]], ranges: list[list[int]]
                   ) -> list[list[int]]:
    """The pool with ``ranges`` added (ranges already there are kept once)."""
    result = [list(r) for r in pool]
    for rng in ranges:
        if list(rng) not in result:
            result.append(list(rng))
    return sorted(result)


def remove_uid_ranges(pool: list[list[int]], ranges: list[list[int]]
                      ) -> list[list[int]]:
    """The pool without ``ranges``; each must be in the pool as given."""
    result = [list(r) for r in pool]
    for rng in ranges:
        if list(rng) not in result:
            raise errors.OpPrereqError(
                f"User-id range {uidpool.format_range(rng)} is not in the uid pool"
                f" ({', '.join(uidpool.format_range(r) for r in pool) or 'empty'})",
                EC.INVAL)
        result.remove(list(rng))
    return result


def apply_name_mods(current: list[str], mods: list[list[str]], what: str,
                    feedback: Feedback) -> list[str]:
    """Apply ``[[add|remove, name], ...]`` to a list of names."""
    result = list(current)
    for action, name in mods:
        if action == constants.DDM_ADD:
            if name in result:
                feedback(f"OS {name} already in {what}, ignoring")
            else:
                result.append(name)
        elif name in result:
            result.remove(name)
        else:
            feedback(f"OS {name} not found in {what}, ignoring")
    return result


def apply_redist_mods(current: list[objects.RedistFile],
                      mods: list[list[str]],
                      feedback: Feedback) -> list[objects.RedistFile]:
    """Apply ``[[add, path, target?], [remove, path]]`` to the extra files;
    adding a listed path changes its target."""
    by_path = {f.path: f.copy() for f in current}
    for mod in mods:
        action, path = mod[0], mod[1]
        if action == constants.DDM_ADD:
            target = mod[2] if len(mod) > 2 else constants.REDIST_TARGET_ALL
            by_path[path] = objects.RedistFile(path=path, target=target)
        elif path in by_path:
            del by_path[path]
        else:
            feedback(f"File {path} is not in the redistributed files,"
                     " ignoring")
    return [by_path[p] for p in sorted(by_path)]


class LUClusterSetParams(LogicalUnit):
    """Change cluster parameters (see the module documentation)."""

    OP = opcodes.OpClusterSetParams
    op: opcodes.OpClusterSetParams
    HPATH = "cluster-modify"
    HTYPE = constants.HTYPE_CLUSTER

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        env: dict[str, object] = {
            "OP_TARGET": self.cfg.get_cluster().cluster_name,
            "NEW_VG_NAME": self.op.vg_name if self.op.vg_name is not None
            else "",
        }
        master = [self.cfg.get_master_node()]
        return env, master, master

    # --- checks -----------------------------------------------------------

    def _instances(self) -> list[objects.Instance]:
        insts = [self.cfg.get_instance(n) for n in self.cfg.instance_names()]
        return [i for i in insts if i is not None]

    def check_prereq(self) -> None:
        op = self.op
        cluster = self.cfg.get_cluster()
        self.old_pool_size = cluster.candidate_pool_size
        self.messages: list[str] = []
        note = self.messages.append
        if op.vg_name is not None:
            self._check_vg(cluster, op.vg_name)
            cluster.volume_group_name = op.vg_name or None
        if op.enabled_hypervisors is not None:
            self._set_hypervisors(cluster, op.enabled_hypervisors)
        if op.hvparams is not None:
            for hv, changes in op.hvparams.items():
                cluster.hvparams[hv] = params.update_hv_params(
                    hv, cluster.hvparams.get(hv), changes, level="cluster")
        for hv in cluster.enabled_hypervisors:
            self._check_hv_syntax(hv, cluster.hvparams.get(hv, {}), "cluster")
        if op.os_hvp is not None:
            self._set_os_hvp(cluster, op.os_hvp)
        if op.osparams is not None:
            self._set_osparams(cluster, op.osparams)
        if op.beparams is not None:
            cluster.beparams[params.PP_DEFAULT] = params.update_be_params(
                cluster.beparams.get(params.PP_DEFAULT), op.beparams)
        if op.ndparams is not None:
            cluster.ndparams = params.update_nd_params(cluster.ndparams,
                                                       op.ndparams)
        if op.nicparams is not None:
            cluster.nicparams[params.PP_DEFAULT] = params.update_nic_params(
                cluster.nicparams.get(params.PP_DEFAULT), op.nicparams)
            self._check_nics(cluster)
        if op.diskparams is not None:
            for template, changes in op.diskparams.items():
                cluster.diskparams[template] = params.update_disk_params(
                    template, cluster.diskparams.get(template), changes)
        if op.candidate_pool_size is not None:
            cluster.candidate_pool_size = op.candidate_pool_size
        if op.uid_pool is not None:
            uidpool.check_pool(op.uid_pool, "uid_pool")
            cluster.uid_pool = sorted(list(r) for r in op.uid_pool)
        if op.add_uids is not None:
            uidpool.check_pool(op.add_uids, "add_uids")
            cluster.uid_pool = add_uid_ranges(cluster.uid_pool, op.add_uids)
        if op.remove_uids is not None:
            cluster.uid_pool = remove_uid_ranges(cluster.uid_pool,
                                                 op.remove_uids)
        if op.maintain_node_health is not None:
            cluster.maintain_node_health = op.maintain_node_health
        if op.default_iallocator is not None:
            cluster.default_iallocator = op.default_iallocator
        if op.hidden_os is not None:
            cluster.hidden_os = apply_name_mods(
                cluster.hidden_os, op.hidden_os, "hidden OS list", note)
        if op.blacklisted_os is not None:
            cluster.blacklisted_os = apply_name_mods(
                cluster.blacklisted_os, op.blacklisted_os,
                "blacklisted OS list", note)
        if op.redist_files is not None:
            cluster.redist_files = apply_redist_mods(
                cluster.redist_files, op.redist_files, note)
        if op.ipolicy is not None:
            self._set_ipolicy(cluster, op.ipolicy)
        self.new_cluster = cluster

    def _set_ipolicy(self, cluster: objects.Cluster,
                     changes: dict[str, Any]) -> None:
        """The new cluster policy must be valid, and so must every
        group's policy filled with it."""
        cluster.ipolicy = ipolicy.check_policy(
            ipolicy.merge(cluster.ipolicy, changes, group=False),
            complete=True)
        for uuid in self.cfg.nodegroup_uuids():
            group = self.cfg.get_nodegroup(uuid)
            if group is None:
                continue
            try:
                ipolicy.check_policy(cluster.fill_ipolicy(group),
                                     complete=True)
            except errors.OpPrereqError as err:
                raise errors.OpPrereqError(
                    f"{err} (in node group {group.name}, with its own "
                    "overrides)", errors.ErrorCode.INVAL) from None

    def _check_vg(self, cluster: objects.Cluster, vg_name: str) -> None:
        if not vg_name:
            users = [i.name for i in self._instances()
                     if i.disk_template in LVM_TEMPLATES]
            if users:
                raise errors.OpPrereqError(
                    "Cannot disable lvm storage while lvm-based instances"
                    f" exist ({', '.join(users[:5])})", EC.INVAL)
            return
        if vg_name == cluster.volume_group_name:
            return
        online = [n.name for n in self.cfg.get_online_nodes()]
        results = self.rpc.call_node_info(online, vg_name, [],
                                          cluster.file_storage_dir)
        for node, res in results.items():
            if res.failed:
                raise errors.OpPrereqError(
                    f"Error on node '{node}': cannot check volume group"
                    f" {vg_name}: {res.fail_msg}", EC.ENVIRON)
            if res.payload.get("vg_error"):
                raise errors.OpPrereqError(
                    f"Error on node '{node}': {res.payload['vg_error']}",
                    EC.ENVIRON)

    def _set_hypervisors(self, cluster: objects.Cluster,
                         wanted: list[str]) -> None:
        enabled = list(dict.fromkeys(wanted))
        for hv in enabled:
            if not hypervisor.is_available(hv):
                raise errors.OpPrereqError(
                    f"Hypervisor {hv} is not available in this build",
                    EC.ENVIRON)
        in_use = sorted({i.hypervisor for i in self._instances()}
                        - set(enabled))
        if in_use:
            raise errors.OpPrereqError(
                f"Hypervisor(s) {', '.join(in_use)} are used by instances"
                " and cannot be disabled", EC.STATE)
        for hv in enabled:
            cluster.hvparams[hv] = params.fill(params.hv_defaults(hv),
                                               cluster.hvparams.get(hv))
        cluster.enabled_hypervisors = enabled

    @staticmethod
    def _check_hv_syntax(hv: str, values: dict[str, Any], level: str) -> None:
        if not hypervisor.is_available(hv):
            return
        cls = hypervisor.get_hypervisor_class(hv)
        if level == "cluster":
            cls.check_parameter_syntax(values, level="cluster")
        else:
            cls.check_parameter_syntax(values, level="os")

    def _set_os_hvp(self, cluster: objects.Cluster,
                    os_hvp: dict[str, dict[str, dict[str, Any]]]) -> None:
        for os_name, per_hv in os_hvp.items():
            current = {hv: dict(v) for hv, v in
                       cluster.os_hvp.get(os_name, {}).items()}
            for hv, changes in per_hv.items():
                new = params.update_hv_params(hv, current.get(hv), changes,
                                              level="os")
                # Judged as it takes effect: on top of the cluster values.
                self._check_hv_syntax(hv, params.fill(
                    params.strip_globals(cluster.hvparams.get(hv)), new), "os")
                if new:
                    current[hv] = new
                else:
                    current.pop(hv, None)
            if current:
                cluster.os_hvp[os_name] = current
            else:
                cluster.os_hvp.pop(os_name, None)

    def _set_osparams(self, cluster: objects.Cluster,
                      osparams: dict[str, dict[str, Any]]) -> None:
        master = self.cfg.get_master_node()
        for os_name, changes in osparams.items():
            current = dict(cluster.osparams.get(os_name, {}))
            for name, value in changes.items():
                if value == constants.VALUE_DEFAULT:
                    current.pop(name, None)
                elif not isinstance(value, str) or not params.OS_VALUE_CHECK(
                        value):
                    raise errors.ParameterError(
                        f"osparams {os_name!r}: parameter {name!r}: "
                        f"expected {params.OS_VALUE_CHECK.desc}, got"
                        f" {value!r:.60}", parameter=name,
                        component=f"osparams {os_name!r}")
                else:
                    current[name] = value
            if current:
                filled = cluster.fill_os(os_name, current)
                res = self.rpc.call_os_validate(
                    [master], False, os_name, ["parameters"], filled)[master]
                res.raise_on_fail(f"OS parameters of {os_name}")
                cluster.osparams[os_name] = current
            else:
                cluster.osparams.pop(os_name, None)

    def _check_nics(self, cluster: objects.Cluster) -> None:
        defaults = cluster.fill_nic()
        if (defaults.get("mode") == constants.NIC_MODE_BRIDGED
                and not defaults.get("link")):
            raise errors.ParameterError(
                "nicparams: a bridged NIC requires a link (the bridge name)",
                parameter="link", component="nicparams")
        problems = []
        for inst in self._instances():
            for index, nic in enumerate(inst.nics):
                filled = cluster.fill_nic(nic.nicparams)
                if filled.get("mode") == constants.NIC_MODE_ROUTED and \
                        nic.ip is None:
                    problems.append(f"{inst.name}/nic{index}")
        if problems:
            raise errors.OpPrereqError(
                "Routed NICs need an IP address; these would have none: "
                + ", ".join(problems[:10]), EC.INVAL)

    # --- execution ----------------------------------------------------------

    def execute(self, feedback: Feedback) -> Any:
        for message in self.messages:
            feedback(message)
        self.cfg.update(self.new_cluster)
        if self.new_cluster.candidate_pool_size > self.old_pool_size:
            promoted = maintain_candidate_pool(self.cfg, (), feedback)
            distribute_to(self.ctx, promoted, feedback)
        # Cluster-wide values (the uid pool, the master netdev...) reach
        # every node's ssconf files before the command returns.
        replication.flush_all(self.cfg)
        return None
