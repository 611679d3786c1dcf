"""What a restarted master does with the operations its crash cut short.

The job queue keeps a job whose opcode was *running* when the master
died (SIGKILL, power loss) running, and asks :func:`planner` how to end
it (:class:`ganeti.jqueue.queue.Recovery`); the recovery runs before any
other job, as an opcode inside the interrupted job, so its log tells
what was done.  Opcodes without an entry here fail with "Unclean master
daemon shutdown", as in Ganeti.

- ``OP_INSTANCE_CREATE``: rolled back.  The instance enters the
  configuration before any of its disks is made, so an instance created
  by the interrupted job (its ``ctime`` is not older than the opcode's
  start) is removed with ``OP_INSTANCE_REMOVE`` (``ignore_failures``:
  every disk, volume, file and DRBD minor it has is freed, whatever the
  step the crash hit); without such an instance nothing was made.  The
  job ends in error: "Rolled back after a master crash: instance X
  removed" (or "... was not created").  A half-installed instance is
  never kept: whether the OS scripts had finished cannot be known.  (An
  add that adopts existing volumes only fails: removing the instance
  would remove the user's volumes.)
- ``OP_INSTANCE_MIGRATE``: finished or undone by ``migrate --cleanup``
  (the instance runs where it ran, or where it arrived, with the
  configuration and the DRBD disks following).
- ``OP_INSTANCE_FAILOVER``: an instance marked up is started on the
  primary node the configuration names (the old one when the crash came
  before the switch, the new one after).
"""

from __future__ import annotations

from ganeti import config, opcodes
from ganeti.jqueue.queue import Recovery, RecoveryPlanner

CRASH = "after a master crash"


def planner(cfg: config.ConfigWriter) -> RecoveryPlanner:
    """The recovery planner of the master whose configuration is ``cfg``."""

    def plan(op: opcodes.OpCode, began: float) -> Recovery | None:
        if isinstance(op, opcodes.OpInstanceCreate):
            return _create(cfg, op, began)
        if isinstance(op, (opcodes.OpInstanceMigrate,
                           opcodes.OpInstanceFailover)):
            return _move(cfg, op)
        return None

    return plan


def _create(cfg: config.ConfigWriter, op: opcodes.OpInstanceCreate,
            began: float) -> Recovery | None:
    if op.dry_run or any("adopt" in disk for disk in op.disks):
        return None  # adopted volumes are the user's: never removed
    name = cfg.expand_instance_name(op.instance_name) or op.instance_name
    inst = cfg.get_instance(name)
    if inst is None or inst.ctime < began:
        # Nothing of it was recorded (or the instance is an older one the
        # interrupted job would have refused).
        return Recovery(f"Rolled back {CRASH}: instance {name} was not "
                        "created")
    return Recovery(f"Rolled back {CRASH}: instance {name} removed",
                    opcodes.OpInstanceRemove(instance_name=name,
                                             ignore_failures=True))


def _move(cfg: config.ConfigWriter,
          op: opcodes.OpInstanceMigrate | opcodes.OpInstanceFailover
          ) -> Recovery | None:
    name = cfg.expand_instance_name(op.instance_name)
    inst = None if name is None else cfg.get_instance(name)
    if name is None or inst is None:
        return None
    if isinstance(op, opcodes.OpInstanceMigrate):
        return Recovery(f"Interrupted by a master crash; cleaned up with "
                        f"'gnt-instance migrate --cleanup': instance {name} "
                        f"runs where the configuration says",
                        opcodes.OpInstanceMigrate(instance_name=name,
                                                  cleanup=True))
    if not inst.admin_up:
        return Recovery(f"Interrupted by a master crash; instance {name} "
                        "is marked down: nothing to finish")
    return Recovery(f"Interrupted by a master crash; instance {name} "
                    "started again on its primary node",
                    opcodes.OpInstanceStartup(instance_name=name))
