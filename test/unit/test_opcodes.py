"""The opcode table: ids, registry, codec, checks, summaries, docs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opcode_samples import FULL, I1, MINIMAL, N1, N2, body

from ganeti import constants, errors, opcodes
from ganeti.opcodes import OP_MAPPING, OpCode

ALL = sorted(OP_MAPPING.values(), key=lambda c: c.OP_ID)


def ids(cls: type[OpCode]) -> str:
    return cls.__name__


# --- ids and registry -----------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("OpInstanceStartup", "OP_INSTANCE_STARTUP"),
    ("OpNodeQueryvols", "OP_NODE_QUERYVOLS"),
    ("OpClusterRepairDiskSizes", "OP_CLUSTER_REPAIR_DISK_SIZES"),
    ("OpQuery", "OP_QUERY"),
])
def test_derive_op_id(name: str, expected: str) -> None:
    assert opcodes.derive_op_id(name) == expected


# Ganeti's OP_ID strings (2.1, and 2.2/2.5 for later opcodes): job files and
# gnt-debug submit-job input use them.
GANETI_OP_IDS = {
    "OpClusterPostInit": "OP_CLUSTER_POST_INIT",
    "OpClusterDestroy": "OP_CLUSTER_DESTROY",
    "OpClusterQuery": "OP_CLUSTER_QUERY",
    "OpClusterVerify": "OP_CLUSTER_VERIFY",
    "OpClusterVerifyDisks": "OP_CLUSTER_VERIFY_DISKS",
    "OpClusterRepairDiskSizes": "OP_CLUSTER_REPAIR_DISK_SIZES",
    "OpClusterConfigQuery": "OP_CLUSTER_CONFIG_QUERY",
    "OpClusterRename": "OP_CLUSTER_RENAME",
    "OpClusterSetParams": "OP_CLUSTER_SET_PARAMS",
    "OpClusterRedistConf": "OP_CLUSTER_REDIST_CONF",
    "OpClusterRenewCrypto": "OP_CLUSTER_RENEW_CRYPTO",
    "OpQuery": "OP_QUERY",
    "OpQueryFields": "OP_QUERY_FIELDS",
    "OpNodeRemove": "OP_NODE_REMOVE",
    "OpNodeAdd": "OP_NODE_ADD",
    "OpNodeQuery": "OP_NODE_QUERY",
    "OpNodeQueryvols": "OP_NODE_QUERYVOLS",
    "OpNodeQueryStorage": "OP_NODE_QUERY_STORAGE",
    "OpNodeModifyStorage": "OP_NODE_MODIFY_STORAGE",
    "OpRepairNodeStorage": "OP_REPAIR_NODE_STORAGE",
    "OpNodeSetParams": "OP_NODE_SET_PARAMS",
    "OpNodePowercycle": "OP_NODE_POWERCYCLE",
    "OpNodeEvacuate": "OP_NODE_EVACUATE",
    "OpNodeMigrate": "OP_NODE_MIGRATE",
    "OpNodeEvacStrategy": "OP_NODE_EVAC_STRATEGY",
    "OpInstanceCreate": "OP_INSTANCE_CREATE",
    "OpInstanceReinstall": "OP_INSTANCE_REINSTALL",
    "OpInstanceRemove": "OP_INSTANCE_REMOVE",
    "OpInstanceRename": "OP_INSTANCE_RENAME",
    "OpInstanceStartup": "OP_INSTANCE_STARTUP",
    "OpInstanceShutdown": "OP_INSTANCE_SHUTDOWN",
    "OpInstanceReboot": "OP_INSTANCE_REBOOT",
    "OpInstanceReplaceDisks": "OP_INSTANCE_REPLACE_DISKS",
    "OpInstanceFailover": "OP_INSTANCE_FAILOVER",
    "OpInstanceMigrate": "OP_INSTANCE_MIGRATE",
    "OpInstanceMove": "OP_INSTANCE_MOVE",
    "OpInstanceConsole": "OP_INSTANCE_CONSOLE",
    "OpInstanceActivateDisks": "OP_INSTANCE_ACTIVATE_DISKS",
    "OpInstanceDeactivateDisks": "OP_INSTANCE_DEACTIVATE_DISKS",
    "OpInstanceRecreateDisks": "OP_INSTANCE_RECREATE_DISKS",
    "OpInstanceQuery": "OP_INSTANCE_QUERY",
    "OpInstanceQueryData": "OP_INSTANCE_QUERY_DATA",
    "OpInstanceSetParams": "OP_INSTANCE_SET_PARAMS",
    "OpInstanceGrowDisk": "OP_INSTANCE_GROW_DISK",
    "OpOsDiagnose": "OP_OS_DIAGNOSE",
    "OpBackupQuery": "OP_BACKUP_QUERY",
    "OpBackupPrepare": "OP_BACKUP_PREPARE",
    "OpBackupExport": "OP_BACKUP_EXPORT",
    "OpBackupRemove": "OP_BACKUP_REMOVE",
    "OpTagsGet": "OP_TAGS_GET",
    "OpTagsSearch": "OP_TAGS_SEARCH",
    "OpTagsSet": "OP_TAGS_SET",
    "OpTagsDel": "OP_TAGS_DEL",
    "OpTestDelay": "OP_TEST_DELAY",
    "OpTestAllocator": "OP_TEST_ALLOCATOR",
    "OpTestJobqueue": "OP_TEST_JQUEUE",
    "OpGroupAdd": "OP_GROUP_ADD",
    "OpGroupRemove": "OP_GROUP_REMOVE",
    "OpGroupRename": "OP_GROUP_RENAME",
    "OpGroupSetParams": "OP_GROUP_SET_PARAMS",
    "OpGroupAssignNodes": "OP_GROUP_ASSIGN_NODES",
    "OpGroupEvacuate": "OP_GROUP_EVACUATE",
    "OpGroupQuery": "OP_GROUP_QUERY",
}


def test_op_ids_are_ganetis() -> None:
    assert {c.__name__: c.OP_ID for c in ALL} == GANETI_OP_IDS


def test_registry_is_consistent_and_exported() -> None:
    assert len({c.OP_ID for c in ALL}) == len(ALL)
    for op_id, cls in OP_MAPPING.items():
        assert op_id == cls.OP_ID
        assert op_id.startswith("OP_")
        assert getattr(opcodes, cls.__name__) is cls
        assert cls.__name__ in opcodes.__all__


def test_samples_cover_every_opcode() -> None:
    assert set(MINIMAL) == set(ALL)


def test_duplicate_op_id_is_a_programmer_error() -> None:
    with pytest.raises(errors.ProgrammerError, match="Duplicate OP_ID"):
        class OpInstanceStartup(OpCode):
            pass


def test_unregistered_subclass_and_bad_op_id() -> None:
    class OpLocalOnly(OpCode, register=False):
        pass

    assert OpLocalOnly.OP_ID == "OP_LOCAL_ONLY"
    assert "OP_LOCAL_ONLY" not in OP_MAPPING
    with pytest.raises(errors.ProgrammerError, match="must start"):
        class OpOdd(OpCode, register=False):
            OP_ID = "ODD"


# --- declarations ---------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_every_field_has_doc_and_check(cls: type[OpCode]) -> None:
    assert cls.__doc__
    for name, spec in cls.fields().items():
        assert spec.doc, f"{cls.__name__}.{name} has no doc"
        assert spec.check is not None, f"{cls.__name__}.{name} has no check"


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_summary_field_is_a_field(cls: type[OpCode]) -> None:
    assert cls.SUMMARY_FIELD is None or cls.SUMMARY_FIELD in cls.fields()


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_field_names_do_not_shadow_methods(cls: type[OpCode]) -> None:
    for name in cls.fields():
        if name in opcodes.COMMON_FIELDS:
            continue
        assert not hasattr(OpCode, name), f"{cls.__name__}.{name}"


def test_common_fields() -> None:
    common = opcodes.COMMON_FIELDS
    assert common == frozenset(["dry_run", "debug_level", "priority",
                                "comment", "depends", "reason"])
    for cls in ALL:
        assert common.issubset(cls.fields())


# --- codec ----------------------------------------------------------------------

def _roundtrip(op: OpCode) -> None:
    data = op.to_dict()
    assert data["OP_ID"] == op.OP_ID
    wire = json.loads(json.dumps(data))
    again = OpCode.load(wire)
    assert type(again) is type(op)
    assert again == op
    assert again.to_dict() == data
    again.validate_all()
    assert again == op


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_minimal_roundtrip(cls: type[OpCode]) -> None:
    op = OpCode.load(body(cls))
    assert isinstance(op, cls)
    _roundtrip(op)
    # Building in code gives the same opcode as loading.
    built = cls(**MINIMAL[cls])
    built.validate_all()
    assert built == op


@pytest.mark.parametrize(("cls", "data"), FULL,
                         ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(FULL)])
def test_full_roundtrip(cls: type[OpCode], data: dict[str, Any]) -> None:
    op = cls.from_dict(data)
    for key, value in data.items():
        assert getattr(op, key) == value
    _roundtrip(op)


def test_defaults() -> None:
    op = opcodes.OpTestDelay(duration=1.0)
    assert (op.on_master, op.on_nodes, op.repeat, op.no_locks) == \
        (True, [], 0, True)
    assert (op.dry_run, op.debug_level, op.priority, op.comment) == \
        (False, 0, 0, None)
    shut = opcodes.OpInstanceShutdown(instance_name=I1)
    assert shut.timeout == constants.DEFAULT_SHUTDOWN_TIMEOUT
    assert opcodes.OpInstanceReboot(instance_name=I1).reboot_type == "hard"
    # Mutable defaults are not shared between opcodes.
    a, b = opcodes.OpTestDelay(duration=1.0), opcodes.OpTestDelay(duration=1.0)
    a.on_nodes.append(N1)
    assert b.on_nodes == []


def test_integer_duration_becomes_float() -> None:
    op = OpCode.load(body(opcodes.OpTestDelay, duration=2))
    assert isinstance(op, opcodes.OpTestDelay)
    assert op.duration == 2.0
    assert isinstance(op.duration, float)


@pytest.mark.parametrize("data", [
    None, 3, "OP_TEST_DELAY", ["OP_TEST_DELAY"], {}, {"duration": 1},
    {"OP_ID": "OP_NO_SUCH"}, {"OP_ID": None}, {"OP_ID": 7},
    {"OP_ID": ["unhashable"]}, {"OP_ID": {"a": 1}},
])
def test_load_rejects_non_opcodes(data: Any) -> None:
    with pytest.raises(errors.OpPrereqError, match="Invalid opcode"):
        OpCode.load(data)


def test_load_on_a_subclass_checks_the_class() -> None:
    data = body(opcodes.OpTestDelay)
    assert isinstance(opcodes.OpTestDelay.load(data), opcodes.OpTestDelay)
    with pytest.raises(errors.OpPrereqError, match="not a OpInstanceStartup"):
        opcodes.OpInstanceStartup.load(data)


def test_from_dict_checks_the_op_id() -> None:
    with pytest.raises(errors.OpPrereqError, match="expected 'OP_TEST_DELAY'"):
        opcodes.OpTestDelay.from_dict(body(opcodes.OpTestDelay,
                                           OP_ID="OP_TEST_JQUEUE"))
    # Without OP_ID the class is given by the caller.
    op = opcodes.OpTestDelay.from_dict({"duration": 1.5})
    assert op.duration == 1.5


def test_unknown_fields_are_named() -> None:
    data = body(opcodes.OpInstanceStartup, bogus=1, other="x")
    with pytest.raises(errors.OpPrereqError,
                       match=r"unknown field.*'bogus', 'other'") as err:
        OpCode.load(data)
    assert err.value.code == errors.ErrorCode.INVAL


def test_missing_required_field_is_named() -> None:
    with pytest.raises(errors.OpPrereqError, match="'instance_name'"):
        OpCode.load({"OP_ID": "OP_INSTANCE_STARTUP"})


# --- bad values: always OpPrereqError naming the field -------------------------

BAD_VALUES = [
    (opcodes.OpInstanceStartup, "instance_name", 123),
    (opcodes.OpInstanceStartup, "instance_name", ""),
    (opcodes.OpInstanceStartup, "instance_name", "bad name!"),
    (opcodes.OpInstanceStartup, "hvparams", ["a"]),
    (opcodes.OpInstanceStartup, "hvparams", {"": 1}),
    (opcodes.OpInstanceCreate, "disks", "x"),
    (opcodes.OpInstanceCreate, "disks", [1, 2]),
    (opcodes.OpInstanceCreate, "disks", [{"size": -1}]),
    (opcodes.OpInstanceCreate, "disks", [{"size": "10G"}]),
    (opcodes.OpInstanceCreate, "disks", [{"mode": "rw"}]),
    (opcodes.OpInstanceCreate, "disks", [{"size": 1, "colour": "red"}]),
    (opcodes.OpInstanceCreate, "nics", [1, 2]),
    (opcodes.OpInstanceCreate, "nics", "x"),
    (opcodes.OpInstanceCreate, "nics", [{"mac": "zz"}]),
    (opcodes.OpInstanceCreate, "nics", [{"mode": "nat"}]),
    (opcodes.OpInstanceCreate, "nics", [{"ip": "300.1.1.1"}]),
    (opcodes.OpInstanceCreate, "mode", "clone"),
    (opcodes.OpInstanceCreate, "disk_template", "floppy"),
    (opcodes.OpInstanceCreate, "os_type", "../../bin"),
    (opcodes.OpInstanceCreate, "file_storage_dir", "/abs"),
    (opcodes.OpInstanceCreate, "file_storage_dir", "a/../../b"),
    (opcodes.OpInstanceCreate, "iallocator", "../hail"),
    (opcodes.OpInstanceCreate, "hypervisor", "vmware"),
    (opcodes.OpInstanceCreate, "start", "yes"),
    (opcodes.OpInstanceCreate, "start", 1),
    (opcodes.OpTestDelay, "duration", -1),
    (opcodes.OpTestDelay, "duration", "1"),
    (opcodes.OpTestDelay, "duration", float("inf")),
    (opcodes.OpTestDelay, "duration", True),
    (opcodes.OpTestDelay, "on_nodes", "node1"),
    (opcodes.OpTestDelay, "repeat", -1),
    (opcodes.OpTestDelay, "repeat", 1.5),
    (opcodes.OpTestDelay, "priority", 20),
    (opcodes.OpTestDelay, "priority", -21),
    (opcodes.OpTestDelay, "debug_level", -1),
    (opcodes.OpTestDelay, "dry_run", None),
    (opcodes.OpTestDelay, "comment", 5),
    (opcodes.OpInstanceReboot, "reboot_type", "cold"),
    (opcodes.OpInstanceShutdown, "timeout", -5),
    (opcodes.OpInstanceGrowDisk, "amount", 0),
    (opcodes.OpInstanceGrowDisk, "disk", -1),
    (opcodes.OpInstanceSetParams, "disks", [["grow", {}]]),
    (opcodes.OpInstanceSetParams, "disks", [["add", {"mode": "rw"}]]),
    (opcodes.OpInstanceSetParams, "nics", [[0]]),
    (opcodes.OpInstanceSetParams, "nics", [["remove", {"x": 1}]]),
    (opcodes.OpInstanceReplaceDisks, "disks", [-1]),
    (opcodes.OpNodeAdd, "secondary_ip", "not-an-ip"),
    (opcodes.OpNodeSetParams, "offline", "yes"),
    (opcodes.OpNodeQueryStorage, "storage_type", "tape"),
    (opcodes.OpNodeQuery, "output_fields", []),
    (opcodes.OpNodeQuery, "output_fields", [""]),
    (opcodes.OpClusterSetParams, "enabled_hypervisors", []),
    (opcodes.OpClusterSetParams, "enabled_hypervisors", ["vmware"]),
    (opcodes.OpClusterSetParams, "hvparams", {"vmware": {}}),
    (opcodes.OpClusterSetParams, "hvparams", {"kvm": 1}),
    (opcodes.OpClusterSetParams, "uid_pool", [[10, 5]]),
    (opcodes.OpClusterSetParams, "uid_pool", [[1, 2, 3]]),
    (opcodes.OpClusterSetParams, "candidate_pool_size", 0),
    (opcodes.OpClusterSetParams, "hidden_os", [["hide", "lenny"]]),
    (opcodes.OpClusterSetParams, "redist_files", [["add", "rel/path"]]),
    (opcodes.OpClusterSetParams, "redist_files", [["add", "/x", "some"]]),
    (opcodes.OpClusterSetParams, "redist_files", [["add", "/a/../etc"]]),
    (opcodes.OpClusterSetParams, "diskparams", {"floppy": {}}),
    (opcodes.OpClusterVerify, "skip_checks", ["everything"]),
    (opcodes.OpQuery, "what", "fish"),
    (opcodes.OpQuery, "filter", "name == x"),
    (opcodes.OpTagsGet, "kind", "group"),
    (opcodes.OpTagsSet, "tags", ["has space"]),
    (opcodes.OpTagsSet, "tags", "abc"),
    (opcodes.OpTagsSearch, "pattern", "(unclosed"),
    (opcodes.OpTagsSearch, "pattern", ""),
    (opcodes.OpTestAllocator, "direction", "sideways"),
]


@pytest.mark.parametrize(("cls", "name", "value"), BAD_VALUES,
                         ids=[f"{c.__name__}.{n}={v!r}" for c, n, v in BAD_VALUES])
def test_bad_value_is_prereq_error_naming_field(cls: type[OpCode], name: str,
                                                value: Any) -> None:
    with pytest.raises(errors.OpPrereqError,
                       match=rf"{cls.__name__}\.{name}") as err:
        OpCode.load(body(cls, **{name: value}))
    assert "\n" not in str(err.value)
    # The same value set in code is caught by validate_all().
    op = cls.from_dict(MINIMAL[cls])
    setattr(op, name, value)
    with pytest.raises(errors.OpPrereqError, match=rf"{cls.__name__}\.{name}"):
        op.validate_all()


def test_no_type_error_escapes_for_classic_mistakes() -> None:
    cases: list[tuple[type[OpCode], dict[str, Any]]] = [
        (opcodes.OpInstanceStartup, {"instance_name": 123}),
        (opcodes.OpInstanceCreate, {"disks": "x"}),
        (opcodes.OpInstanceCreate, {"nics": [1, 2]}),
        (opcodes.OpTestDelay, {"duration": -1}),
        (opcodes.OpInstanceCreate, {"disks": None}),
        (opcodes.OpInstanceCreate, {"hvparams": None}),
        (opcodes.OpInstanceSetParams, {"disks": [["add"]]}),
        (opcodes.OpInstanceSetParams, {"nics": [None]}),
    ]
    for cls, change in cases:
        with pytest.raises(errors.OpPrereqError):
            OpCode.load(body(cls, **change))
        op = cls.from_dict(MINIMAL[cls])
        for key, value in change.items():
            setattr(op, key, value)
        with pytest.raises(errors.OpPrereqError):
            op.validate_all()


def test_validate_all_does_not_turn_a_string_into_a_list() -> None:
    op = opcodes.OpTagsSet(kind="node", name=N1, tags=["ok"])
    op.validate_all()
    op.tags = "abc"  # type: ignore[assignment]
    with pytest.raises(errors.OpPrereqError, match=r"OpTagsSet\.tags"):
        op.validate_all()


def test_validate_all_normalizes_tuples() -> None:
    op = opcodes.OpInstanceSetParams(instance_name=I1,
                                     disks=[("add", {"size": 5})])  # type: ignore[list-item]
    op.validate_all()
    assert op.disks == [["add", {"size": 5}]]


# --- consistency between fields -------------------------------------------------

INCONSISTENT = [
    (opcodes.OpInstanceCreate, {"pnode": N1, "iallocator": "hail"},
     "iallocator"),
    (opcodes.OpInstanceCreate, {"snode": N2}, "snode"),
    (opcodes.OpInstanceCreate, {"name_check": False}, "ip_check"),
    (opcodes.OpInstanceCreate, {"os_type": None}, "os_type"),
    (opcodes.OpInstanceCreate, {"mode": "import"}, "src_path"),
    (opcodes.OpInstanceCreate, {"disks": [{"adopt": "lv"}, {"size": 1}]},
     "disks"),
    (opcodes.OpInstanceCreate, {"disks": [{"adopt": "lv"}],
                                "disk_template": "drbd"}, "disks"),
    (opcodes.OpInstanceCreate, {"disks": [{"adopt": "lv"}],
                                "iallocator": "hail"}, "disks"),
    (opcodes.OpInstanceCreate, {"disks": [{"adopt": "lv", "size": 4}],
                                "disk_template": "plain"}, "disks"),
    (opcodes.OpInstanceCreate, {"disk_template": "diskless"}, "disks"),
    (opcodes.OpInstanceRename, {"name_check": False}, "ip_check"),
    (opcodes.OpInstanceSetParams, {"beparams": {}}, "instance_name"),
    (opcodes.OpInstanceSetParams, {"disks": [["add", {"size": 1}],
                                             ["remove", {}]]}, "disks"),
    (opcodes.OpInstanceSetParams, {"disk_template": "drbd"}, "remote_node"),
    (opcodes.OpInstanceSetParams, {"disk_template": "plain",
                                   "disks": [[0, {"mode": "ro"}]]},
     "disk_template"),
    (opcodes.OpInstanceReplaceDisks, {"mode": "replace_new_secondary"},
     "remote_node"),
    (opcodes.OpInstanceReplaceDisks, {"remote_node": N2}, "remote_node"),
    (opcodes.OpInstanceReplaceDisks, {"mode": "replace_auto", "disks": [0]},
     "disks"),
    (opcodes.OpInstanceMigrate, {"live": True, "mode": "live"}, "mode"),
    (opcodes.OpNodeMigrate, {"live": True, "mode": "live"}, "mode"),
    (opcodes.OpNodeSetParams, {"offline": None}, "node_name"),
    (opcodes.OpNodeSetParams, {"drained": True}, "master_candidate"),
    (opcodes.OpNodeEvacuate, {"iallocator": "hail"}, "iallocator"),
    (opcodes.OpNodeEvacStrategy, {"iallocator": "hail", "remote_node": N2},
     "iallocator"),
    (opcodes.OpBackupExport, {"shutdown": False, "remove_instance": True},
     "remove_instance"),
    (opcodes.OpTagsGet, {"kind": "node"}, "name"),
    (opcodes.OpTagsSet, {"name": None}, "name"),
    (opcodes.OpTestAllocator, {"direction": "out"}, "allocator"),
    (opcodes.OpTestAllocator, {"mode": "allocate"}, "mem_size"),
    (opcodes.OpTestAllocator, {"mode": "multi-allocate"}, "mem_size"),
]


@pytest.mark.parametrize(("cls", "change", "name"), INCONSISTENT,
                         ids=[f"{c.__name__}-{i}"
                              for i, (c, _, _) in enumerate(INCONSISTENT)])
def test_inconsistent_fields(cls: type[OpCode], change: dict[str, Any],
                             name: str) -> None:
    with pytest.raises(errors.OpPrereqError, match=rf"{cls.__name__}\.{name}"):
        OpCode.load(body(cls, **change))
    op = cls.from_dict(MINIMAL[cls])
    for key, value in change.items():
        setattr(op, key, value)
    with pytest.raises(errors.OpPrereqError, match=rf"{cls.__name__}\.{name}"):
        op.validate_all()


# --- summary and docs -----------------------------------------------------------

def test_summary() -> None:
    assert opcodes.OpInstanceStartup(instance_name="inst1").summary() == \
        "INSTANCE_STARTUP(inst1)"
    assert opcodes.OpTestDelay(duration=2.5).summary() == "TEST_DELAY(2.5)"
    assert opcodes.OpClusterVerify().summary() == "CLUSTER_VERIFY"
    assert opcodes.OpTagsGet(kind="cluster").summary() == "TAGS_GET"
    assert opcodes.OpTagsGet(kind="node", name=N1).summary() == \
        f"TAGS_GET({N1})"
    assert opcodes.OpNodeEvacStrategy(nodes=[N1, N2]).summary() == \
        f"NODE_EVAC_STRATEGY({N1},{N2})"
    assert opcodes.OpTestJobqueue().summary() == "TEST_JQUEUE"


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_summary_of_every_opcode(cls: type[OpCode]) -> None:
    text = OpCode.load(body(cls)).summary()
    assert text.startswith(cls.OP_ID[3:])


def test_describe() -> None:
    rows = {r.name: r for r in opcodes.describe(opcodes.OpInstanceShutdown)}
    assert list(rows) == ["dry_run", "debug_level", "priority", "comment",
                          "depends", "reason", "instance_name", "timeout"]
    assert rows["instance_name"].default is opcodes.REQUIRED
    assert rows["instance_name"].type == "a host name"
    assert rows["timeout"].default == constants.DEFAULT_SHUTDOWN_TIMEOUT
    assert rows["comment"].type.startswith("None or ")
    assert repr(opcodes.REQUIRED) == "<required>"
    own = opcodes.describe(opcodes.OpTestDelay, common=False)
    assert [r.name for r in own] == ["duration", "on_master", "on_nodes",
                                     "repeat", "no_locks"]
    assert own[2].default == []
    assert all(isinstance(r, opcodes.FieldDoc) and r.doc for r in own)


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_describe_every_opcode(cls: type[OpCode]) -> None:
    rows = opcodes.describe(cls)
    assert [r.name for r in rows] == list(cls.fields())
    for row in rows:
        assert row.type and row.doc
        if row.default is not opcodes.REQUIRED:
            json.dumps(row.default)
