"""Every operation, declared once as a typed opcode class.

The declarations live in one module per area (:mod:`.cluster`,
:mod:`.group`, :mod:`.node`, :mod:`.instance`, :mod:`.os_backup`, :mod:`.tags_test`) on
the base in :mod:`.base`; this package re-exports them all, so callers
write ``opcodes.OpInstanceStartup`` and ``opcodes.OpCode.load(data)``.

:data:`OP_MAPPING` maps every ``OP_ID`` to its class; :func:`describe`
gives the field table (name, expected type, default, documentation) that
CLI help and the RAPI documentation print.

The area modules are imported on first use of one of their classes
(PEP 562 ``__getattr__``), because defining all 55 classes is a large
part of a ``gnt-*`` command's start-up and a command needs one or two:
``opcodes.OpInstanceStartup`` imports :mod:`.instance` only.  Asking for
:data:`OP_MAPPING` (or :meth:`OpCode.load` meeting an ``OP_ID`` not yet
registered) imports them all first, so the mapping is always complete.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ganeti.opcodes.base import (
    AREAS,
    COMMON_FIELDS,
    REQUIRED,
    FieldDoc,
    OpCode,
    derive_op_id,
    describe,
    load_areas,
)

if TYPE_CHECKING:  # bound at run time by __getattr__, on first use
    from ganeti.opcodes.base import OP_MAPPING
    from ganeti.opcodes.cluster import (
        OpClusterConfigQuery,
        OpClusterDestroy,
        OpClusterPostInit,
        OpClusterQuery,
        OpClusterRedistConf,
        OpClusterRename,
        OpClusterRenewCrypto,
        OpClusterRepairDiskSizes,
        OpClusterSetParams,
        OpClusterVerify,
        OpClusterVerifyDisks,
        OpQuery,
        OpQueryFields,
    )
    from ganeti.opcodes.group import (
        OpGroupAdd,
        OpGroupAssignNodes,
        OpGroupEvacuate,
        OpGroupQuery,
        OpGroupRemove,
        OpGroupRename,
        OpGroupSetParams,
    )
    from ganeti.opcodes.instance import (
        OpInstanceActivateDisks,
        OpInstanceConsole,
        OpInstanceCreate,
        OpInstanceDeactivateDisks,
        OpInstanceFailover,
        OpInstanceGrowDisk,
        OpInstanceMigrate,
        OpInstanceMove,
        OpInstanceQuery,
        OpInstanceQueryData,
        OpInstanceReboot,
        OpInstanceRecreateDisks,
        OpInstanceReinstall,
        OpInstanceRemove,
        OpInstanceRename,
        OpInstanceReplaceDisks,
        OpInstanceSetParams,
        OpInstanceShutdown,
        OpInstanceStartup,
    )
    from ganeti.opcodes.node import (
        OpNodeAdd,
        OpNodeEvacStrategy,
        OpNodeEvacuate,
        OpNodeMigrate,
        OpNodeModifyStorage,
        OpNodePowercycle,
        OpNodeQuery,
        OpNodeQueryStorage,
        OpNodeQueryvols,
        OpNodeRemove,
        OpNodeSetParams,
        OpRepairNodeStorage,
    )
    from ganeti.opcodes.os_backup import (
        OpBackupExport,
        OpBackupPrepare,
        OpBackupQuery,
        OpBackupRemove,
        OpOsDiagnose,
    )
    from ganeti.opcodes.tags_test import (
        OpTagsDel,
        OpTagsGet,
        OpTagsSearch,
        OpTagsSet,
        OpTestAllocator,
        OpTestDelay,
        OpTestJobqueue,
    )

#: Where an opcode class is declared, by the start of its name; a name
#: matching none of these is looked for in every area.
_AREA_OF_PREFIX: Final = (
    ("OpInstance", "instance"), ("OpNode", "node"), ("OpRepairNode", "node"),
    ("OpCluster", "cluster"), ("OpQuery", "cluster"), ("OpOs", "os_backup"),
    ("OpBackup", "os_backup"), ("OpTags", "tags_test"),
    ("OpTest", "tags_test"), ("OpGroup", "group"),
)


def _bind(area: str) -> None:
    """Import one area module and bind its opcode classes here."""
    module = importlib.import_module(f"{__name__}.{area}")
    namespace = globals()
    for name, value in vars(module).items():
        if name.startswith("Op") and isinstance(value, type) \
                and issubclass(value, OpCode) and value.__module__ == \
                module.__name__:
            namespace[name] = value


def __getattr__(name: str) -> Any:
    namespace = globals()
    if name == "OP_MAPPING":
        for area in AREAS:
            _bind(area)
        namespace[name] = load_areas()
        return namespace[name]
    if name.startswith("Op"):
        for prefix, area in _AREA_OF_PREFIX:
            if name.startswith(prefix):
                _bind(area)
                break
        if name not in namespace:
            for area in AREAS:
                _bind(area)
        if name in namespace:
            return namespace[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AREAS",
    "COMMON_FIELDS",
    "OP_MAPPING",
    "REQUIRED",
    "FieldDoc",
    "OpBackupExport",
    "OpBackupPrepare",
    "OpBackupQuery",
    "OpBackupRemove",
    "OpClusterConfigQuery",
    "OpClusterDestroy",
    "OpClusterPostInit",
    "OpClusterQuery",
    "OpClusterRedistConf",
    "OpClusterRename",
    "OpClusterRenewCrypto",
    "OpClusterRepairDiskSizes",
    "OpClusterSetParams",
    "OpClusterVerify",
    "OpClusterVerifyDisks",
    "OpCode",
    "OpGroupAdd",
    "OpGroupAssignNodes",
    "OpGroupEvacuate",
    "OpGroupQuery",
    "OpGroupRemove",
    "OpGroupRename",
    "OpGroupSetParams",
    "OpInstanceActivateDisks",
    "OpInstanceConsole",
    "OpInstanceCreate",
    "OpInstanceDeactivateDisks",
    "OpInstanceFailover",
    "OpInstanceGrowDisk",
    "OpInstanceMigrate",
    "OpInstanceMove",
    "OpInstanceQuery",
    "OpInstanceQueryData",
    "OpInstanceReboot",
    "OpInstanceRecreateDisks",
    "OpInstanceReinstall",
    "OpInstanceRemove",
    "OpInstanceRename",
    "OpInstanceReplaceDisks",
    "OpInstanceSetParams",
    "OpInstanceShutdown",
    "OpInstanceStartup",
    "OpNodeAdd",
    "OpNodeEvacStrategy",
    "OpNodeEvacuate",
    "OpNodeMigrate",
    "OpNodeModifyStorage",
    "OpNodePowercycle",
    "OpNodeQuery",
    "OpNodeQueryStorage",
    "OpNodeQueryvols",
    "OpNodeRemove",
    "OpNodeSetParams",
    "OpOsDiagnose",
    "OpQuery",
    "OpQueryFields",
    "OpRepairNodeStorage",
    "OpTagsDel",
    "OpTagsGet",
    "OpTagsSearch",
    "OpTagsSet",
    "OpTestAllocator",
    "OpTestDelay",
    "OpTestJobqueue",
    "derive_op_id",
    "describe",
    "load_areas",
]
