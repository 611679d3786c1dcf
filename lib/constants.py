"""Names and defaults shared across the system.

Paths are not here: they come from :mod:`ganeti.pathutils`.  Parameter
*declarations* (which component owns which key, with what check) live in
:mod:`ganeti.params`; this module only names things.
"""

from __future__ import annotations

from typing import Final

from ganeti import pathutils

RELEASE_VERSION: Final = pathutils.PACKAGE_VERSION
#: Version of the config document (Ganeti encodes 2.1.0 as 2010000).
CONFIG_MAJOR: Final = 2
CONFIG_MINOR: Final = 6
CONFIG_REVISION: Final = 0


def build_version(major: int, minor: int, revision: int) -> int:
    """Ganeti's integer encoding of a version (2.1.0 -> 2010000)."""
    return 1000000 * major + 10000 * minor + revision


def split_version(version: int) -> tuple[int, int, int]:
    return version // 1000000, (version // 10000) % 100, version % 10000


CONFIG_VERSION: Final = build_version(CONFIG_MAJOR, CONFIG_MINOR,
                                      CONFIG_REVISION)
PROTOCOL_VERSION: Final = 30  # node RPC / LUXI protocol revision

# --- Ports ---
DEFAULT_NODED_PORT: Final = 1811
DEFAULT_CONFD_PORT: Final = 1814
DEFAULT_MOND_PORT: Final = 1815
DEFAULT_RAPI_PORT: Final = 5080
FIRST_DRBD_PORT: Final = 11000
LAST_DRBD_PORT: Final = 14999

# --- Daemons ---
MASTERD: Final = "ganeti-masterd"
NODED: Final = "ganeti-noded"
RAPI: Final = "ganeti-rapi"
CONFD: Final = "ganeti-confd"
MOND: Final = "ganeti-mond"
WATCHER: Final = "ganeti-watcher"
DAEMONS: Final = (MASTERD, NODED, RAPI, CONFD, MOND)

# --- Hypervisors ---
HT_XEN_PVM: Final = "xen-pvm"
HT_XEN_HVM: Final = "xen-hvm"
HT_KVM: Final = "kvm"
HT_FAKE: Final = "fake"
HT_CHROOT: Final = "chroot"
HYPER_TYPES: Final = frozenset([HT_XEN_PVM, HT_XEN_HVM, HT_KVM, HT_FAKE,
                                HT_CHROOT])
DEFAULT_ENABLED_HYPERVISORS: Final = (HT_FAKE,)
#: Default of the kvm ``kvm_path`` hvparam (Debian's wrapper for qemu).
KVM_PATH: Final = "/usr/bin/kvm"

# --- Disk templates ---
DT_DISKLESS: Final = "diskless"
DT_FILE: Final = "file"
DT_PLAIN: Final = "plain"
DT_DRBD8: Final = "drbd"
DISK_TEMPLATES: Final = frozenset([DT_DISKLESS, DT_FILE, DT_PLAIN, DT_DRBD8])
DTS_NET_MIRROR: Final = frozenset([DT_DRBD8])
DTS_NOT_LVM: Final = frozenset([DT_DISKLESS, DT_FILE])

# Logical disk (block device) types.
LD_LV: Final = "lvm"
LD_DRBD8: Final = "drbd8"
LD_FILE: Final = "file"
LOGICAL_DISK_TYPES: Final = frozenset([LD_LV, LD_DRBD8, LD_FILE])

# File storage drivers.
FD_LOOP: Final = "loop"
FD_BLKTAP: Final = "blktap"
FILE_DRIVERS: Final = frozenset([FD_LOOP, FD_BLKTAP])

# Disk access modes.
DISK_RDONLY: Final = "ro"
DISK_RDWR: Final = "rw"
DISK_ACCESS_SET: Final = frozenset([DISK_RDONLY, DISK_RDWR])

# --- NICs ---
NIC_MODE_BRIDGED: Final = "bridged"
NIC_MODE_ROUTED: Final = "routed"
NIC_VALID_MODES: Final = frozenset([NIC_MODE_BRIDGED, NIC_MODE_ROUTED])
DEFAULT_BRIDGE: Final = "xen-br0"
DEFAULT_MAC_PREFIX: Final = "aa:00:00"
VALUE_AUTO: Final = "auto"
VALUE_GENERATE: Final = "generate"
VALUE_DEFAULT: Final = "default"
VALUE_NONE: Final = "none"

# --- Instance admin states and runtime states ---
ADMINST_UP: Final = "up"
ADMINST_DOWN: Final = "down"

# --- Node roles ---
NR_MASTER: Final = "M"
NR_MCANDIDATE: Final = "C"
NR_REGULAR: Final = "R"
NR_DRAINED: Final = "D"
NR_OFFLINE: Final = "O"

# --- Cluster defaults ---
DEFAULT_CANDIDATE_POOL_SIZE: Final = 10
MAX_TAG_LEN: Final = 128
MAX_TAGS_PER_OBJ: Final = 4096
DEFAULT_SHUTDOWN_TIMEOUT: Final = 120
DEFAULT_VG: Final = "xenvg"
#: The largest disk size (MiB) anything accepts: 1 EiB.  Far beyond any
#: real disk, and far below where byte offsets overflow (8 EiB).
MAX_DISK_SIZE_MIB: Final = 1 << 40
#: Upper bounds of the other numbers an operation accepts: far beyond any
#: real use, far below where Python's time or C integer conversions
#: overflow.  Memory (MiB): 16 TiB; virtual CPUs; seconds of a timeout
#: (a week) and of a test delay (30 days); disk and NIC indices.
MAX_MEMORY_MIB: Final = 16 << 20
MAX_VCPUS: Final = 4096
MAX_TIMEOUT: Final = 7 * 24 * 3600
MAX_DELAY: Final = 30 * 24 * 3600
MAX_DEVICE_INDEX: Final = 1023
MAX_DEBUG_LEVEL: Final = 100
MAX_CANDIDATE_POOL_SIZE: Final = 10000
MAX_TEST_REPEAT: Final = 1000000
MAX_UID: Final = (1 << 32) - 1

# --- OS interface ---
OS_API_V10: Final = 10
OS_API_V15: Final = 15
OS_API_V20: Final = 20
OS_API_VERSIONS: Final = frozenset([OS_API_V10, OS_API_V15, OS_API_V20])
OS_SCRIPT_CREATE: Final = "create"
OS_SCRIPT_IMPORT: Final = "import"
OS_SCRIPT_EXPORT: Final = "export"
OS_SCRIPT_RENAME: Final = "rename"
OS_SCRIPT_VERIFY: Final = "verify"
OS_API_FILE: Final = "ganeti_api_version"
OS_VARIANTS_FILE: Final = "variants.list"
OS_PARAMETERS_FILE: Final = "parameters.list"

# --- Hooks ---
HOOKS_PHASE_PRE: Final = "pre"
HOOKS_PHASE_POST: Final = "post"
HOOKS_VERSION: Final = 2
HTYPE_CLUSTER: Final = "CLUSTER"
HTYPE_NODE: Final = "NODE"
HTYPE_INSTANCE: Final = "INSTANCE"
HTYPE_GROUP: Final = "GROUP"

# --- Tags ---
TAG_CLUSTER: Final = "cluster"
TAG_NODE: Final = "node"
TAG_INSTANCE: Final = "instance"
TAG_NODEGROUP: Final = "nodegroup"
VALID_TAG_TYPES: Final = frozenset([TAG_CLUSTER, TAG_NODE, TAG_INSTANCE,
                                    TAG_NODEGROUP])

# --- Instance reboot types ---
INSTANCE_REBOOT_SOFT: Final = "soft"
INSTANCE_REBOOT_HARD: Final = "hard"
INSTANCE_REBOOT_FULL: Final = "full"
REBOOT_TYPES: Final = frozenset([INSTANCE_REBOOT_SOFT, INSTANCE_REBOOT_HARD,
                                 INSTANCE_REBOOT_FULL])

# --- Instance creation modes ---
INSTANCE_CREATE: Final = "create"
INSTANCE_IMPORT: Final = "import"
INSTANCE_CREATE_MODES: Final = frozenset([INSTANCE_CREATE, INSTANCE_IMPORT])

# --- Replace-disks modes ---
REPLACE_DISK_PRI: Final = "replace_on_primary"
REPLACE_DISK_SEC: Final = "replace_on_secondary"
REPLACE_DISK_CHG: Final = "replace_new_secondary"
REPLACE_DISK_AUTO: Final = "replace_auto"
REPLACE_MODES: Final = frozenset([REPLACE_DISK_PRI, REPLACE_DISK_SEC,
                                  REPLACE_DISK_CHG, REPLACE_DISK_AUTO])

# --- Node evacuation modes (gnt-node evacuate -p / -s / both) ---
NODE_EVAC_PRI: Final = "primary-only"
NODE_EVAC_SEC: Final = "secondary-only"
NODE_EVAC_ALL: Final = "all"
NODE_EVAC_MODES: Final = frozenset([NODE_EVAC_PRI, NODE_EVAC_SEC,
                                    NODE_EVAC_ALL])

# --- Modification actions for NICs and disks ---
DDM_ADD: Final = "add"
DDM_REMOVE: Final = "remove"

# --- Storage types (gnt-node list-storage) ---
ST_FILE: Final = "file"
ST_LVM_PV: Final = "lvm-pv"
ST_LVM_VG: Final = "lvm-vg"
STORAGE_TYPES: Final = frozenset([ST_FILE, ST_LVM_PV, ST_LVM_VG])

# --- Iallocator modes ---
IALLOCATOR_MODE_ALLOC: Final = "allocate"
IALLOCATOR_MODE_RELOC: Final = "relocate"
IALLOCATOR_MODE_MULTI_EVAC: Final = "multi-evacuate"
IALLOCATOR_MODE_NODE_EVAC: Final = "node-evacuate"
IALLOCATOR_MODE_CHG_GROUP: Final = "change-group"
IALLOCATOR_MODE_MULTI_ALLOC: Final = "multi-allocate"
IALLOCATOR_DIR_IN: Final = "in"
IALLOCATOR_DIR_OUT: Final = "out"

# --- Job queue ---
JOB_QUEUE_VERSION: Final = 1
JOB_QUEUE_SIZE_HARD_LIMIT: Final = 5000
JOB_STATUS_QUEUED: Final = "queued"
JOB_STATUS_WAITING: Final = "waiting"
JOB_STATUS_CANCELING: Final = "canceling"
JOB_STATUS_RUNNING: Final = "running"
JOB_STATUS_CANCELED: Final = "canceled"
JOB_STATUS_SUCCESS: Final = "success"
JOB_STATUS_ERROR: Final = "error"
OP_STATUS_QUEUED: Final = "queued"
OP_STATUS_WAITING: Final = "waiting"
OP_STATUS_CANCELING: Final = "canceling"
OP_STATUS_RUNNING: Final = "running"
OP_STATUS_CANCELED: Final = "canceled"
OP_STATUS_SUCCESS: Final = "success"
OP_STATUS_ERROR: Final = "error"
ELOG_MESSAGE: Final = "message"
ELOG_PROGRESS: Final = "progress"

# --- Lock levels ---
LOCK_LEVEL_CLUSTER: Final = 0
LOCK_LEVEL_INSTANCE: Final = 1
LOCK_LEVEL_NODEGROUP: Final = 2
LOCK_LEVEL_NODE: Final = 3
LOCKS_ALL: Final = None  # "all locks of a level"

# --- Verify error codes (gnt-cluster verify --error-codes) ---
CV_TCLUSTER: Final = "cluster"
CV_TNODE: Final = "node"
CV_TINSTANCE: Final = "instance"

# --- Opcode priorities (lower runs first, like nice values) ---
OP_PRIO_HIGHEST: Final = -20
OP_PRIO_DEFAULT: Final = 0
OP_PRIO_LOWEST: Final = 19
#: What the CLI's ``--priority low|normal|high`` submit (Ganeti's values).
OP_PRIO_HIGH: Final = -10
OP_PRIO_NORMAL: Final = 0
OP_PRIO_LOW: Final = 10

# --- Optional cluster-verify checks (gnt-cluster verify --skip-checks) ---
VERIFY_NPLUSONE_MEM: Final = "nplusone_mem"
VERIFY_OPTIONAL_CHECKS: Final = frozenset([VERIFY_NPLUSONE_MEM])

# --- Migration modes ---
HT_MIGRATION_LIVE: Final = "live"
HT_MIGRATION_NONLIVE: Final = "non-live"
HT_MIGRATION_MODES: Final = frozenset([HT_MIGRATION_LIVE, HT_MIGRATION_NONLIVE])

# --- Export modes ---
EXPORT_MODE_LOCAL: Final = "local"
EXPORT_MODE_REMOTE: Final = "remote"
EXPORT_MODES: Final = frozenset([EXPORT_MODE_LOCAL, EXPORT_MODE_REMOTE])

# --- Iallocator request sets ---
#: The request types of Ganeti 2.6+ (multi-evacuate, of 2.1-2.5, is gone).
VALID_IALLOCATOR_MODES: Final = frozenset([IALLOCATOR_MODE_ALLOC,
                                           IALLOCATOR_MODE_RELOC,
                                           IALLOCATOR_MODE_NODE_EVAC,
                                           IALLOCATOR_MODE_CHG_GROUP,
                                           IALLOCATOR_MODE_MULTI_ALLOC])
VALID_IALLOCATOR_DIRECTIONS: Final = frozenset([IALLOCATOR_DIR_IN,
                                                IALLOCATOR_DIR_OUT])

# --- Query resources (/2/query/<resource>, OpQuery.what) ---
QR_CLUSTER: Final = "cluster"
QR_INSTANCE: Final = "instance"
QR_NODE: Final = "node"
QR_GROUP: Final = "group"
QR_OS: Final = "os"
QR_EXPORT: Final = "export"
QR_LOCK: Final = "lock"
QR_JOB: Final = "job"
#: Resources answered by a logical unit (the rest are answered by masterd).
QR_VIA_OP: Final = frozenset([QR_CLUSTER, QR_INSTANCE, QR_NODE, QR_OS,
                              QR_EXPORT, QR_GROUP])
QR_VIA_LUXI: Final = QR_VIA_OP | frozenset([QR_LOCK, QR_JOB])

# --- Extra files pushed by redist-conf: which nodes get them ---
REDIST_TARGET_ALL: Final = "all"
REDIST_TARGET_CANDIDATES: Final = "candidates"
REDIST_TARGETS: Final = frozenset([REDIST_TARGET_ALL, REDIST_TARGET_CANDIDATES])

# --- Node groups ---
ALLOC_POLICY_PREFERRED: Final = "preferred"
ALLOC_POLICY_LAST_RESORT: Final = "last_resort"
ALLOC_POLICY_UNALLOCABLE: Final = "unallocable"
VALID_ALLOC_POLICIES: Final = (ALLOC_POLICY_PREFERRED,
                               ALLOC_POLICY_LAST_RESORT,
                               ALLOC_POLICY_UNALLOCABLE)
#: The group a new cluster (and an upgraded 2.1 configuration) has.
INITIAL_NODE_GROUP_NAME: Final = "default"
