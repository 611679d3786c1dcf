"""Instance opcodes: lifecycle, disks, placement, queries."""

from __future__ import annotations

from typing import Any

from ganeti import constants, ht
from ganeti.opcodes.base import (
    OpCode,
    TDiskMods,
    TDiskSize,
    TDiskSpecList,
    TDiskTemplate,
    TFieldList,
    THypervisor,
    TIallocatorName,
    TIndex,
    TIndexList,
    TMigrationMode,
    TName,
    TNameList,
    TNicMods,
    TNicSpecList,
    TOsName,
    TParamDict,
    TPath,
    TSubPath,
    TTimeout,
)
from ganeti.records import field

_DOC_NAME = "Instance name"
_DOC_SHUTDOWN = "Seconds to wait for a clean shutdown before a hard stop"


class OpInstanceCreate(OpCode):
    """Create an instance, installing or importing its OS (``add``)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    mode: str = field(check=ht.TElemOf(constants.INSTANCE_CREATE_MODES),
                      doc="Create a new instance or import an export")
    disk_template: str = field(check=TDiskTemplate, doc="Disk template")
    disks: list[dict[str, Any]] = field(
        check=TDiskSpecList,
        doc="Disks: [{\"size\": MiB, \"mode\": \"rw\"|\"ro\"} or "
            "{\"adopt\": volume}, ...]")
    nics: list[dict[str, Any]] = field(
        default=[], check=TNicSpecList,
        doc="NICs: [{\"mac\", \"ip\", \"mode\", \"link\"}, ...]")
    os_type: str | None = field(default=None, check=TOsName,
                                doc="OS (name+variant); required to create")
    osparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="OS parameters")
    force_variant: bool = field(default=False, check=ht.TBool,
                                doc="Accept an OS variant the OS does not list")
    no_install: bool = field(default=False, check=ht.TBool,
                             doc="Create the disks but do not install the OS")
    pnode: str | None = field(default=None, check=TName, doc="Primary node")
    snode: str | None = field(default=None, check=TName,
                              doc="Secondary node (mirrored templates)")
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc="Iallocator choosing the nodes")
    hypervisor: str | None = field(default=None, check=THypervisor,
                                   doc="Hypervisor (None: cluster default)")
    hvparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="Hypervisor parameters")
    beparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="Backend parameters")
    start: bool = field(default=True, check=ht.TBool,
                        doc="Start the instance once created")
    ip_check: bool = field(default=True, check=ht.TBool,
                           doc="Refuse an IP address that already answers")
    name_check: bool = field(default=True, check=ht.TBool,
                             doc="Resolve the name (and take the IP from it)")
    wait_for_sync: bool = field(default=True, check=ht.TBool,
                                doc="Wait for mirrored disks to synchronize")
    file_storage_dir: str | None = field(
        default=None, check=TSubPath,
        doc="Directory of file disks, below the cluster's file storage dir")
    file_driver: str = field(default=constants.FD_LOOP,
                             check=ht.TElemOf(constants.FILE_DRIVERS),
                             doc="Driver for file disks")
    src_node: str | None = field(default=None, check=TName,
                                 doc="Node holding the export (import mode)")
    src_path: str | None = field(
        default=None, check=TPath,
        doc="Export directory, absolute or below the export dir (import)")
    ignore_ipolicy: bool = field(
        default=False, check=ht.TBool,
        doc="Accept an instance that violates its group's instance policy")

    def check_consistency(self) -> None:
        if self.pnode is not None and self.iallocator is not None:
            self.reject("iallocator", "give either iallocator or pnode, "
                       "not both")
        if self.snode is not None and \
                self.disk_template not in constants.DTS_NET_MIRROR:
            self.reject("snode", f"a secondary node is only used by the "
                       f"mirrored templates, not {self.disk_template}")
        if not self.name_check and self.ip_check:
            self.reject("ip_check", "the IP check needs the name check")
        if self.mode == constants.INSTANCE_CREATE and self.os_type is None:
            self.reject("os_type", "an OS is required to create an instance")
        if self.mode == constants.INSTANCE_IMPORT and self.src_path is None:
            self.reject("src_path", "importing needs the export's path")
        adopted = sum(1 for d in self.disks if "adopt" in d)
        for idx, disk in enumerate(self.disks):
            if "adopt" in disk and "size" in disk:
                self.reject("disks", f"disk {idx}: give either size or adopt,"
                           " not both (an adopted disk has its volume's size)")
        if adopted:
            if adopted != len(self.disks):
                self.reject("disks", "either all disks are adopted or none")
            if self.disk_template != constants.DT_PLAIN:
                self.reject("disks", f"disk adoption is not supported for "
                           f"the {self.disk_template} template")
            if self.iallocator is not None:
                self.reject("disks", "disk adoption needs an explicit node, "
                           "not an iallocator")
            if self.mode == constants.INSTANCE_IMPORT:
                self.reject("disks", "disk adoption is not allowed on import")
        if self.disk_template == constants.DT_DISKLESS and self.disks:
            self.reject("disks", "the diskless template takes no disks")


class OpInstanceReinstall(OpCode):
    """Reinstall an instance's OS, optionally a different one."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    os_type: str | None = field(default=None, check=TOsName,
                                doc="New OS (None: keep the current one)")
    force_variant: bool = field(default=False, check=ht.TBool,
                                doc="Accept an OS variant the OS does not list")
    osparams: dict[str, Any] | None = field(
        default=None, check=TParamDict,
        doc="OS parameters to set (None: keep the current ones)")
    keep_known_os_parameters: bool = field(
        default=False, check=ht.TBool,
        doc="When changing the OS, keep the instance's OS parameters the new "
            "OS declares and drop the others (instead of refusing)")


class OpInstanceRemove(OpCode):
    """Remove an instance and its disks."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    ignore_failures: bool = field(
        default=False, check=ht.TBool,
        doc="Remove from the configuration even if cleanup on nodes fails")
    shutdown_timeout: int = field(default=constants.DEFAULT_SHUTDOWN_TIMEOUT,
                                  check=TTimeout, doc=_DOC_SHUTDOWN)


class OpInstanceRename(OpCode):
    """Rename an instance (the OS rename script runs)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    new_name: str = field(check=TName, doc="New instance name")
    ip_check: bool = field(default=True, check=ht.TBool,
                           doc="Refuse a new IP address that already answers")
    name_check: bool = field(default=True, check=ht.TBool,
                             doc="Resolve the new name")

    def check_consistency(self) -> None:
        if not self.name_check and self.ip_check:
            self.reject("ip_check", "the IP check needs the name check")


class OpInstanceStartup(OpCode):
    """Start an instance (``startup``)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    force: bool = field(default=False, check=ht.TBool,
                        doc="Start even if the secondary disks are degraded")
    hvparams: dict[str, Any] = field(
        default={}, check=TParamDict,
        doc="Hypervisor parameters for this start only")
    beparams: dict[str, Any] = field(
        default={}, check=TParamDict,
        doc="Backend parameters for this start only")


class OpInstanceShutdown(OpCode):
    """Stop an instance (``shutdown``)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    timeout: int = field(default=constants.DEFAULT_SHUTDOWN_TIMEOUT,
                         check=TTimeout, doc=_DOC_SHUTDOWN)


class OpInstanceReboot(OpCode):
    """Reboot an instance: soft (in the guest), hard, or full (stop+start)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    reboot_type: str = field(default=constants.INSTANCE_REBOOT_HARD,
                             check=ht.TElemOf(constants.REBOOT_TYPES),
                             doc="Kind of reboot")
    ignore_secondaries: bool = field(
        default=False, check=ht.TBool,
        doc="On a full reboot, ignore errors activating secondary disks")
    shutdown_timeout: int = field(default=constants.DEFAULT_SHUTDOWN_TIMEOUT,
                                  check=TTimeout, doc=_DOC_SHUTDOWN)


_DOC_IGNORE_TARGET_IPOLICY = ("Accept a new node in another group whose"
                              " instance policy the instance violates")


class OpInstanceReplaceDisks(OpCode):
    """Replace the disks on the primary, the secondary, or a new secondary."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    mode: str = field(check=ht.TElemOf(constants.REPLACE_MODES),
                      doc="Which side to replace, or auto (the degraded one)")
    disks: list[int] = field(default=[], check=TIndexList,
                             doc="Disk indices (empty: all)")
    remote_node: str | None = field(default=None, check=TName,
                                    doc="New secondary node")
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc="Iallocator choosing the new secondary")
    early_release: bool = field(
        default=False, check=ht.TBool,
        doc="Release node locks before the new disks are in sync")
    ignore_ipolicy: bool = field(default=False, check=ht.TBool,
                                 doc=_DOC_IGNORE_TARGET_IPOLICY)

    def check_consistency(self) -> None:
        chosen = (self.remote_node is not None) + (self.iallocator is not None)
        if self.mode == constants.REPLACE_DISK_CHG:
            if chosen != 1:
                self.reject("remote_node", "changing the secondary needs "
                           "either remote_node or iallocator")
        elif chosen:
            self.reject("remote_node", "remote_node and iallocator are only "
                       "used when changing the secondary")
        if self.disks and self.mode in (constants.REPLACE_DISK_CHG,
                                        constants.REPLACE_DISK_AUTO):
            self.reject("disks", f"disks cannot be chosen in mode {self.mode}")


_DOC_TARGET = ("Target node (DRBD: another node than the secondary first"
               " becomes the secondary)")
_DOC_TARGET_IALLOC = "Iallocator choosing the target node"


def _one_target(op: OpCode) -> None:
    if getattr(op, "target_node", None) is not None and \
            getattr(op, "iallocator", None) is not None:
        op.reject("iallocator", "give either iallocator or target_node, "
                  "not both")


class OpInstanceFailover(OpCode):
    """Fail over a mirrored instance to its secondary node (stop + start)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    ignore_consistency: bool = field(
        default=False, check=ht.TBool,
        doc="Fail over even if the disks are not in sync")
    shutdown_timeout: int = field(default=constants.DEFAULT_SHUTDOWN_TIMEOUT,
                                  check=TTimeout, doc=_DOC_SHUTDOWN)
    target_node: str | None = field(default=None, check=TName,
                                    doc=_DOC_TARGET)
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc=_DOC_TARGET_IALLOC)
    ignore_ipolicy: bool = field(default=False, check=ht.TBool,
                                 doc=_DOC_IGNORE_TARGET_IPOLICY)

    def check_consistency(self) -> None:
        _one_target(self)


class OpInstanceMigrate(OpCode):
    """Migrate a mirrored instance to its secondary without stopping it."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    live: bool | None = field(
        default=None, check=ht.TBool,
        doc="Live migration (False: non-live); None: the hypervisor default")
    mode: str | None = field(default=None, check=TMigrationMode,
                             doc="Migration mode; replaces live")
    cleanup: bool = field(default=False, check=ht.TBool,
                          doc="Recover from a failed migration instead")
    target_node: str | None = field(default=None, check=TName,
                                    doc=_DOC_TARGET)
    iallocator: str | None = field(default=None, check=TIallocatorName,
                                   doc=_DOC_TARGET_IALLOC)
    ignore_ipolicy: bool = field(default=False, check=ht.TBool,
                                 doc=_DOC_IGNORE_TARGET_IPOLICY)
    allow_failover: bool = field(
        default=False, check=ht.TBool,
        doc="Fail over instead when the instance cannot be migrated (marked"
            " down, or not running)")
    allow_runtime_changes: bool = field(
        default=True, check=ht.TBool,
        doc="Whether the instance's memory may be changed at runtime to fit"
            " the target (this build never does: its memory stays; False"
            " changes nothing)")
    ignore_hvversions: bool = field(
        default=False, check=ht.TBool,
        doc="Taken from Ganeti 2.11+ clients; the master compares no"
            " hypervisor versions here: the target's hypervisor decides"
            " (KVM refuses another qemu version without machine_version)")

    def check_consistency(self) -> None:
        if self.live is not None and self.mode is not None:
            self.reject("mode", "give either live or mode, not both")
        _one_target(self)


class OpInstanceMove(OpCode):
    """Move an instance to any node, copying its disks (stop + start)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    target_node: str = field(check=TName, doc="Destination node")
    shutdown_timeout: int = field(default=constants.DEFAULT_SHUTDOWN_TIMEOUT,
                                  check=TTimeout, doc=_DOC_SHUTDOWN)


class OpInstanceConsole(OpCode):
    """How to reach an instance's console (the command to run)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)


class OpInstanceActivateDisks(OpCode):
    """Assemble an instance's disks on its nodes."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    ignore_size: bool = field(
        default=False, check=ht.TBool,
        doc="Do not check recorded disk sizes (repairs wrong records)")


class OpInstanceDeactivateDisks(OpCode):
    """Shut down an instance's disks on its nodes."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)


class OpInstanceRecreateDisks(OpCode):
    """Create an instance's missing disks again (empty)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    disks: list[int] = field(default=[], check=TIndexList,
                             doc="Disk indices (empty: all)")


class OpInstanceQuery(OpCode):
    """List instances with the requested fields (``gnt-instance list``)."""

    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")
    names: list[str] = field(default=[], check=TNameList,
                             doc="Instances to list (empty: all)")
    use_locking: bool = field(default=False, check=ht.TBool,
                              doc="Take locks for consistent live data")


class OpInstanceQueryData(OpCode):
    """Detailed configuration and run-time data (``gnt-instance info``)."""

    instances: list[str] = field(default=[], check=TNameList,
                                 doc="Instances to describe (empty: all)")
    static: bool = field(default=False, check=ht.TBool,
                         doc="Only configuration data; do not ask the nodes")


class OpInstanceSetParams(OpCode):
    """Change an instance's parameters, NICs and disks (``modify``)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    nics: list[list[Any]] = field(
        default=[], check=TNicMods,
        doc="NIC changes: [[\"add\", {nic}], [\"remove\", {}], "
            "[index, {changes}]]")
    disks: list[list[Any]] = field(
        default=[], check=TDiskMods,
        doc="Disk changes: [[\"add\", {disk}], [\"remove\", {}], "
            "[index, {\"mode\": ...}]]")
    hvparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="Hypervisor parameters to change")
    beparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="Backend parameters to change")
    osparams: dict[str, Any] = field(default={}, check=TParamDict,
                                     doc="OS parameters to change")
    os_name: str | None = field(default=None, check=TOsName,
                                doc="New OS (takes effect at reinstall)")
    force_variant: bool = field(default=False, check=ht.TBool,
                                doc="Accept an OS variant the OS does not list")
    disk_template: str | None = field(
        default=None, check=ht.TElemOf([constants.DT_PLAIN, constants.DT_DRBD8]),
        doc="Convert the disks to this template")
    remote_node: str | None = field(
        default=None, check=TName,
        doc="Secondary node when converting to a mirrored template")
    force: bool = field(default=False, check=ht.TBool,
                        doc="Apply changes even if some checks fail")
    ignore_ipolicy: bool = field(
        default=False, check=ht.TBool,
        doc="Accept an instance that violates its group's instance policy")

    def check_consistency(self) -> None:
        if not (self.nics or self.disks or self.hvparams or self.beparams
                or self.osparams or self.os_name is not None
                or self.disk_template is not None):
            self.reject("instance_name", "no changes requested")
        for name, mods in (("nics", self.nics), ("disks", self.disks)):
            if sum(1 for op, _ in mods if isinstance(op, str)) > 1:
                self.reject(name, "only one add or remove per operation")
        if self.disk_template is not None:
            if self.disks:
                self.reject("disk_template", "converting the template cannot "
                           "be combined with disk changes")
            if self.disk_template in constants.DTS_NET_MIRROR and \
                    self.remote_node is None:
                self.reject("remote_node", "converting to a mirrored template "
                           "needs the secondary node")


class OpInstanceGrowDisk(OpCode):
    """Grow one disk of an instance (``grow-disk``)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc=_DOC_NAME)
    disk: int = field(check=TIndex, doc="Index of the disk")
    amount: int = field(check=TDiskSize, doc="Size to add, in MiB")
    ignore_ipolicy: bool = field(
        default=False, check=ht.TBool,
        doc="Accept an instance that violates its group's instance policy")
    wait_for_sync: bool = field(default=True, check=ht.TBool,
                                doc="Wait for the mirror to synchronize")
