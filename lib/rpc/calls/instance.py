"""Instance calls: start, stop, reboot, information, console, migration,
OS installation and rename on the instance's node.

Objects cross the wire as dictionaries (``Instance.to_dict()``); the node
rebuilds them and reports a bad one as a one-line failure.  The master
sends every *filled* parameter dictionary (hypervisor, backend, one per
NIC, OS), so the node needs no configuration.  Results are the typed
records of :mod:`ganeti.hypervisor.base` as dictionaries, checked here
with :func:`record_check`.
"""

from __future__ import annotations

from ganeti import constants, ht
from ganeti.hypervisor.base import (
    ConsoleInfo,
    InstanceInfo,
    MigrationStatus,
    StopOutcome,
)
from ganeti.records import Record
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout


def record_check(cls: type[Record]) -> ht.Check:
    """A check accepting exactly what ``cls.from_dict`` accepts."""
    return ht.Check(cls.accepts, f"a {cls.__name__} record")


#: An object sent as its ``to_dict()``; decoded (and judged) by the handler.
T_OBJECT = ht.TDict
T_PARAMS = ht.TDictOf(ht.TString, ht.TAny)
T_NICPARAMS = ht.TListOf(T_PARAMS)
T_HV_NAMES = ht.TListOf(ht.TNonEmptyString)

_INSTANCE = Arg("instance", T_OBJECT, "Instance.to_dict()")
_HVPARAMS = Arg("hvparams", T_PARAMS, "Filled hypervisor parameters")
_BEPARAMS = Arg("beparams", T_PARAMS, "Filled backend parameters")
_NICPARAMS = Arg("nicparams", T_NICPARAMS,
                 "Filled nicparams of each NIC, in the instance's NIC order")
_OSPARAMS = Arg("osparams", T_PARAMS, "Filled OS parameters")
_DEBUG = Arg("debug", ht.TNonNegativeInt, "DEBUG_LEVEL of the OS script")

#: The result of ``os_add`` and ``instance_run_rename``.
T_OS_RUN = ht.Check(
    lambda v: isinstance(v, dict) and set(v) == {
        "os_name", "api_version", "variant", "log_path"}
    and ht.TNonEmptyString(v["os_name"]) and ht.TPositiveInt(v["api_version"])
    and ht.TMaybe(ht.TString)(v["variant"])
    and ht.TNonEmptyString(v["log_path"]),
    "an OS run record (os_name, api_version, variant, log_path)")

CALLS = [
    RpcCall("instance_start", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE, _HVPARAMS, _BEPARAMS, _NICPARAMS),
            ht.TNone,
            "Activate the instance's disks on this node, then start it"),
    RpcCall("instance_shutdown", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE,
             Arg("timeout", ht.TNonNegativeInt,
                 "Seconds to wait for a soft stop before a hard one")),
            ht.TElemOf(list(StopOutcome)),
            "Stop the instance (soft, then hard): not-running, soft or hard"),
    RpcCall("instance_reboot", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE,
             Arg("reboot_type", ht.TElemOf(constants.REBOOT_TYPES),
                 "soft (in the guest), hard (stop and start), full (stop,"
                 " deactivate and activate the disks, start)"),
             Arg("shutdown_timeout", ht.TNonNegativeInt,
                 "Seconds before a hard stop (hard and full)"),
             _HVPARAMS, _BEPARAMS, _NICPARAMS),
            ht.TNone, "Reboot a running instance"),
    RpcCall("instance_info", Fanout.SINGLE, Timeout.URGENT,
            (Arg("instance_name", ht.TNonEmptyString),
             Arg("hypervisor", ht.TNonEmptyString)),
            ht.TMaybe(record_check(InstanceInfo)),
            "Runtime information of one instance; None if it does not run"),
    RpcCall("all_instances_info", Fanout.MULTI, Timeout.URGENT,
            (Arg("hypervisors", T_HV_NAMES),),
            ht.TDictOf(ht.TString, record_check(InstanceInfo)),
            "Runtime information of every running instance, by name"),
    RpcCall("instance_list", Fanout.MULTI, Timeout.URGENT,
            (Arg("hypervisors", T_HV_NAMES),),
            ht.TListOf(ht.TString),
            "Names of the running instances, sorted"),
    RpcCall("instance_console_info", Fanout.SINGLE, Timeout.URGENT,
            (_INSTANCE, _HVPARAMS),
            record_check(ConsoleInfo), "How to reach the instance's console"),
    RpcCall("instance_migratable", Fanout.SINGLE, Timeout.FAST,
            (_INSTANCE,),
            ht.TNone,
            "Check the instance can be migrated away from this node"),
    RpcCall("migration_info", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE,),
            ht.TString,
            "On the source: the data the target needs to accept the instance"),
    RpcCall("accept_instance", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE, Arg("info", ht.TString, "migration_info's result"),
             Arg("target", ht.TNonEmptyString, "Target node's address")),
            ht.TNone,
            "On the target: activate the disks and prepare to receive"),
    RpcCall("instance_migrate", Fanout.SINGLE, Timeout.SLOW,
            (_INSTANCE,
             Arg("target", ht.TNonEmptyString, "Target node's address"),
             Arg("live", ht.TBool, "Live (true) or non-live migration")),
            ht.TNone, "On the source: send the running instance away"),
    RpcCall("finalize_migration", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE, Arg("info", ht.TString, "migration_info's result"),
             Arg("success", ht.TBool)),
            ht.TNone,
            "On the target: run the received instance, or drop it"),
    RpcCall("finalize_migration_source", Fanout.SINGLE, Timeout.NORMAL,
            (_INSTANCE, Arg("success", ht.TBool)),
            ht.TNone,
            "On the source: forget the instance that left, or run it again"),
    RpcCall("instance_get_migration_status", Fanout.SINGLE, Timeout.URGENT,
            (_INSTANCE,),
            record_check(MigrationStatus),
            "On the source: how far an outgoing migration got"),
    RpcCall("instance_os_add", Fanout.SINGLE, Timeout.LONG,
            (_INSTANCE,
             Arg("reinstall", ht.TBool, "Sets INSTANCE_REINSTALL=1"),
             _DEBUG, _HVPARAMS, _BEPARAMS, _NICPARAMS, _OSPARAMS),
            T_OS_RUN,
            "Activate the disks and run the OS create script"),
    RpcCall("instance_run_rename", Fanout.SINGLE, Timeout.SLOW,
            (_INSTANCE,
             Arg("old_name", ht.THostname, "The instance's previous name"),
             _DEBUG, _HVPARAMS, _BEPARAMS, _NICPARAMS, _OSPARAMS),
            T_OS_RUN,
            "Run the OS rename script for the (renamed) instance"),
    RpcCall("bridges_exist", Fanout.SINGLE, Timeout.URGENT,
            (Arg("bridges", ht.TListOf(ht.TNonEmptyString)),),
            ht.TNone,
            "Fail naming the bridges that do not exist on this node"),
]
