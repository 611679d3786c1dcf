"""The locking library of the master daemon (Ganeti 2.1 design).

- :class:`SharedLock`: one reader/writer lock with a FIFO queue, timeouts,
  downgrade and deletion.
- :class:`LockSet`: locks for a set of names, taken sorted, all or nothing.
- :class:`GanetiLockManager`: the cluster (BGL), instance, node group and
  node levels
  with their ordering rules, plus listings for ``gnt-debug locks`` and a
  job's ``lock_status``.
- :class:`LockAttemptTimeoutStrategy` and :func:`acquire_with_retries`:
  growing timeouts, then blocking, so that waiting opcodes do not convoy.

The design as implemented is in ``doc/design/locking.rst``.
"""

from ganeti.locking.lockset import SET_LOCK_NAME, LockSet
from ganeti.locking.manager import (
    BGL,
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NAMES,
    LEVEL_NODE,
    LEVEL_NODEGROUP,
    LEVELS,
    LEVELS_MOD,
    GanetiLockManager,
)
from ganeti.locking.retry import (
    LockAttemptTimeoutStrategy,
    RetryCallback,
    acquire_with_retries,
)
from ganeti.locking.sharedlock import (
    MODE_EXCLUSIVE,
    MODE_SHARED,
    PRIO_DEFAULT,
    Clock,
    Deadline,
    LockInfo,
    LockMonitor,
    SharedLock,
    owner_name,
    set_owner_name,
)

__all__ = [
    "BGL",
    "LEVELS",
    "LEVELS_MOD",
    "LEVEL_CLUSTER",
    "LEVEL_INSTANCE",
    "LEVEL_NAMES",
    "LEVEL_NODE",
    "LEVEL_NODEGROUP",
    "MODE_EXCLUSIVE",
    "MODE_SHARED",
    "PRIO_DEFAULT",
    "SET_LOCK_NAME",
    "Clock",
    "Deadline",
    "GanetiLockManager",
    "LockAttemptTimeoutStrategy",
    "LockInfo",
    "LockMonitor",
    "LockSet",
    "RetryCallback",
    "SharedLock",
    "acquire_with_retries",
    "owner_name",
    "set_owner_name",
]
