"""Cluster-wide opcodes, and the generic query opcodes behind /2/query."""

from __future__ import annotations

from typing import Any

from ganeti import constants, ht
from ganeti.opcodes.base import (
    OpCode,
    TDiskParamsByTemplate,
    TFieldList,
    TGroupedParams,
    THvParamsByHv,
    TIallocatorName,
    TName,
    TNameList,
    TNonEmptyList,
    TOsHvp,
    TOsListMods,
    TParamDict,
    TRedistMods,
    TUidPool,
    TVgName,
)
from ganeti.records import field


class OpClusterPostInit(OpCode):
    """Run the post-init hooks once the cluster is created."""


class OpClusterDestroy(OpCode):
    """Destroy the cluster; all its state is lost (runs pre-destroy hooks)."""


class OpClusterQuery(OpCode):
    """Cluster information (``gnt-cluster info``, RAPI ``/2/info``)."""


class OpClusterConfigQuery(OpCode):
    """Selected cluster configuration values (cluster_name, master_node...)."""

    output_fields: list[str] = field(check=TFieldList,
                                     doc="Names of the values to return")


class OpClusterRename(OpCode):
    """Rename the cluster; the master IP follows the new name."""

    SUMMARY_FIELD = "name"

    name: str = field(check=TName, doc="New cluster name")


class OpClusterVerify(OpCode):
    """Check the configuration against the nodes (``gnt-cluster verify``)."""

    skip_checks: list[str] = field(
        default=[], check=ht.TListOf(ht.TElemOf(constants.VERIFY_OPTIONAL_CHECKS)),
        doc="Optional checks to skip")
    verbose: bool = field(default=False, check=ht.TBool,
                          doc="Report details of every problem found")
    error_codes: bool = field(default=False, check=ht.TBool,
                              doc="Report problems as machine-parseable codes")
    debug_simulate_errors: bool = field(
        default=False, check=ht.TBool,
        doc="Report every check as failed (tests the error reporting)")
    ignore_errors: list[str] = field(
        default=[], check=ht.TListOf(ht.TNonEmptyString),
        doc="Error codes (ENODEHV...) reported as warnings, not errors")


class OpClusterVerifyDisks(OpCode):
    """Find instances with degraded or inactive disks and activate them."""


class OpClusterRepairDiskSizes(OpCode):
    """Fix recorded disk sizes that differ from the real devices."""

    instances: list[str] = field(default=[], check=TNameList,
                                 doc="Instances to check (empty: all)")


class OpClusterSetParams(OpCode):
    """Change cluster parameters (``gnt-cluster modify``).

    Every field defaults to None, which means "leave unchanged".
    """

    vg_name: str | None = field(
        default=None, check=TVgName,
        doc="Volume group for LVM storage; empty disables LVM storage")
    enabled_hypervisors: list[str] | None = field(
        default=None,
        check=ht.TAnd(ht.TListOf(ht.TElemOf(constants.HYPER_TYPES)),
                      TNonEmptyList),
        doc="Hypervisors instances may use; the first is the default")
    hvparams: dict[str, dict[str, Any]] | None = field(
        default=None, check=THvParamsByHv,
        doc="Hypervisor parameter defaults: hypervisor -> parameters")
    os_hvp: dict[str, dict[str, dict[str, Any]]] | None = field(
        default=None, check=TOsHvp,
        doc="Per-OS hypervisor parameters: OS -> hypervisor -> parameters")
    osparams: dict[str, dict[str, Any]] | None = field(
        default=None, check=TGroupedParams,
        doc="Per-OS parameter defaults: OS -> parameters")
    beparams: dict[str, Any] | None = field(
        default=None, check=TParamDict, doc="Backend parameter defaults")
    nicparams: dict[str, Any] | None = field(
        default=None, check=TParamDict, doc="NIC parameter defaults")
    ndparams: dict[str, Any] | None = field(
        default=None, check=TParamDict, doc="Node parameter defaults")
    diskparams: dict[str, dict[str, Any]] | None = field(
        default=None, check=TDiskParamsByTemplate,
        doc="Disk parameter defaults: disk template -> parameters")
    candidate_pool_size: int | None = field(
        default=None, check=ht.TRange(1, constants.MAX_CANDIDATE_POOL_SIZE),
        doc="Number of master candidates to maintain")
    uid_pool: list[list[int]] | None = field(
        default=None, check=TUidPool,
        doc="Replace the user-id pool: [[low, high], ...]")
    add_uids: list[list[int]] | None = field(
        default=None, check=TUidPool, doc="User-id ranges to add to the pool")
    remove_uids: list[list[int]] | None = field(
        default=None, check=TUidPool,
        doc="User-id ranges to remove from the pool")
    maintain_node_health: bool | None = field(
        default=None, check=ht.TBool,
        doc="Let the watcher stop instances on nodes marked offline")
    default_iallocator: str | None = field(
        default=None, check=ht.TOr(ht.TElemOf([""]), TIallocatorName),
        doc="Default iallocator (empty: none)")
    hidden_os: list[list[str]] | None = field(
        default=None, check=TOsListMods,
        doc="Changes to the hidden OS list: [[add|remove, os], ...]")
    blacklisted_os: list[list[str]] | None = field(
        default=None, check=TOsListMods,
        doc="Changes to the blacklisted OS list: [[add|remove, os], ...]")
    redist_files: list[list[str]] | None = field(
        default=None, check=TRedistMods,
        doc="Changes to the extra files redist-conf pushes: "
            "[[add, path, all|candidates], [remove, path], ...]")
    ipolicy: dict[str, Any] | None = field(
        default=None, check=TParamDict,
        doc="Instance policy changes (minmax, std, disk-templates, "
            "vcpu-ratio, spindle-ratio)")


class OpClusterRedistConf(OpCode):
    """Push the configuration and ancillary files to all nodes."""


class OpQuery(OpCode):
    """Generic query of a resource (``/2/query/<resource>``)."""

    SUMMARY_FIELD = "what"

    what: str = field(check=ht.TElemOf(constants.QR_VIA_OP),
                      doc="Resource to query")
    output_fields: list[str] = field(check=TFieldList,
                                     doc="Fields to return (RAPI: fields)")
    filter: list[Any] | None = field(
        default=None, check=ht.TList,
        doc="Query filter in list form (None: all items)")
    use_locking: bool = field(default=False, check=ht.TBool,
                              doc="Take locks for consistent live data")


class OpQueryFields(OpCode):
    """Describe the fields of a resource (``/2/query/<resource>/fields``)."""

    SUMMARY_FIELD = "what"

    what: str = field(check=ht.TElemOf(constants.QR_VIA_OP),
                      doc="Resource whose fields to describe")
    output_fields: list[str] | None = field(
        default=None, check=ht.TListOf(ht.TNonEmptyString),
        doc="Fields to describe (None: all; RAPI: fields)")


class OpClusterRenewCrypto(OpCode):
    """Renew the cluster's certificates and keys (``gnt-cluster
    renew-crypto``), distributing them without cutting any node off."""

    new_cluster_certificate: bool = field(
        default=False, check=ht.TBool,
        doc="Generate a new cluster (node daemon) certificate")
    new_rapi_certificate: bool = field(
        default=False, check=ht.TBool,
        doc="Generate a new self-signed RAPI certificate")
    rapi_certificate: str | None = field(
        default=None, check=ht.TMaybe(ht.TNonEmptyString),
        doc="A RAPI key and certificate to install (PEM text)")
    new_confd_hmac_key: bool = field(
        default=False, check=ht.TBool, doc="Generate a new confd HMAC key")
    new_cluster_domain_secret: bool = field(
        default=False, check=ht.TBool,
        doc="Generate a new cluster domain secret")
    cluster_domain_secret: str | None = field(
        default=None, check=ht.TMaybe(ht.TNonEmptyString),
        doc="A cluster domain secret to install (the file's text)")
