"""OS and export (backup) opcodes."""

from __future__ import annotations

from ganeti import constants, ht
from ganeti.opcodes.base import OpCode, TFieldList, TName, TNameList, TTimeout
from ganeti.records import field

_TExportMode = ht.TElemOf(constants.EXPORT_MODES)


class OpOsDiagnose(OpCode):
    """List the OS definitions and their validity on every node."""

    output_fields: list[str] = field(check=TFieldList, doc="Fields to return")
    names: list[str] = field(default=[], check=ht.TListOf(ht.TNonEmptyString),
                             doc="OS names to list (empty: all)")


class OpBackupQuery(OpCode):
    """List the exports present on nodes (``gnt-backup list``)."""

    nodes: list[str] = field(default=[], check=TNameList,
                             doc="Nodes to look on (empty: all)")
    use_locking: bool = field(default=False, check=ht.TBool,
                              doc="Take node locks while listing")


class OpBackupPrepare(OpCode):
    """Prepare an export (for remote exports: keys and certificates)."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc="Instance to export")
    mode: str = field(check=_TExportMode, doc="Export mode")


class OpBackupExport(OpCode):
    """Export an instance's disks and configuration to a node."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName, doc="Instance to export")
    target_node: str = field(check=TName, doc="Node receiving the export")
    shutdown: bool = field(
        default=True, check=ht.TBool,
        doc="Stop the instance for a consistent snapshot (restarted after)")
    shutdown_timeout: int = field(
        default=constants.DEFAULT_SHUTDOWN_TIMEOUT, check=TTimeout,
        doc="Seconds to wait for a clean shutdown before a hard stop")
    remove_instance: bool = field(
        default=False, check=ht.TBool,
        doc="Remove the instance once the export succeeded")
    ignore_remove_failures: bool = field(
        default=False, check=ht.TBool,
        doc="Ignore failures while removing the instance after the export")
    mode: str = field(default=constants.EXPORT_MODE_LOCAL, check=_TExportMode,
                      doc="Export mode")

    def check_consistency(self) -> None:
        if self.remove_instance and not self.shutdown:
            self.reject("remove_instance", "removing the instance after the "
                       "export needs the shutdown")


class OpBackupRemove(OpCode):
    """Remove the exports of an instance from all nodes."""

    SUMMARY_FIELD = "instance_name"

    instance_name: str = field(check=TName,
                               doc="Instance whose exports to remove")
