"""The processor: runs one opcode through its logical unit.

Phases, in order: find the LU for the opcode; ``expand_names`` (resolve
names, declare locks); acquire the locks level by level (cluster, then
instances, then node groups, then nodes; each level with growing
timeouts, then blocking, checking for cancellation between attempts);
``check_prereq``; the pre hooks; ``execute``; the post hooks.  Locks are
released whatever happens.  Messages of the LU go to the job's log
through the job queue's context.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ganeti import cmdlib, constants, errors, hooks, locking
from ganeti.cmdlib.base import (
    ALL,
    FROM_INSTANCES,
    LevelRequest,
    LockRequest,
    LogicalUnit,
    LUContext,
)
from ganeti.locking import manager as lockmgr
from ganeti.locking.retry import LockAttemptTimeoutStrategy, acquire_with_retries
from ganeti.opcodes import OpCode


class OpContextLike(Protocol):
    """What the job queue hands to the processor for one opcode."""

    @property
    def job_id(self) -> int: ...

    @property
    def priority(self) -> int: ...

    def feedback(self, kind: str, message: Any) -> None: ...

    def set_lock_status(self, text: str | None) -> None: ...

    def notify_waiting(self) -> None: ...

    def notify_running(self) -> None: ...

    def check_cancel(self) -> None: ...


class DirectContext:
    """A context for opcodes run outside a job (LUXI queries)."""

    job_id = 0
    priority = constants.OP_PRIO_DEFAULT

    def __init__(self, feedback: Callable[[str], None] | None = None) -> None:
        self._feedback = feedback

    def feedback(self, kind: str, message: Any) -> None:
        if self._feedback is not None:
            self._feedback(str(message))

    def set_lock_status(self, text: str | None) -> None:
        pass

    def notify_waiting(self) -> None:
        pass

    def notify_running(self) -> None:
        pass

    def check_cancel(self) -> None:
        pass


StrategyFactory = Callable[[], LockAttemptTimeoutStrategy]


class Processor:
    """Executes opcodes; one instance serves every worker thread."""

    def __init__(self, luctx: LUContext, glm: lockmgr.GanetiLockManager,
                 hooks_runner: hooks.HooksRunner, *,
                 strategy: StrategyFactory = LockAttemptTimeoutStrategy,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.luctx = luctx
        self.glm = glm
        self.hooks_runner = hooks_runner
        self._strategy = strategy
        self._sleep = sleep
        #: Told ``(level name, seconds)`` after each lock level is
        #: acquired, and ``(opcode id, ok, result)`` after each opcode
        #: (the master's metrics; see ganeti.master_metrics).
        self.lock_observer: Callable[[str, float], None] | None = None
        self.result_observer: Callable[[str, bool, Any], None] | None = None

    # --- entry points ------------------------------------------------------

    def execute(self, op: OpCode, ctx: OpContextLike,
                lu_cls: type[LogicalUnit] | None = None) -> Any:
        """Run ``op``; its result, or raise its (encodable) error.
        ``lu_cls``: a variant of the opcode's logical unit (one that
        answers it in another form) instead of the registered one."""
        lu_cls = lu_cls or cmdlib.lu_for(op)

        def feedback(message: str) -> None:
            ctx.feedback(constants.ELOG_MESSAGE, message)

        lu = lu_cls(self.luctx, op, feedback)
        previous_owner = locking.owner_name()
        locking.set_owner_name(f"job/{ctx.job_id}" if ctx.job_id else None)
        try:
            request = lu.expand_names()
            ctx.notify_waiting()
            self._acquire(lu, request, ctx)
            ctx.set_lock_status(None)
            ctx.notify_running()
            try:
                result = self._run_lu(lu, op, feedback)
            except BaseException:
                self._tell_result(op, False, None)
                raise
            self._tell_result(op, True, result)
            return result
        finally:
            self._release_all()
            locking.set_owner_name(previous_owner)

    def _tell_result(self, op: OpCode, ok: bool, result: Any) -> None:
        if self.result_observer is not None:
            self.result_observer(op.OP_ID, ok, result)

    def execute_direct(self, op: OpCode,
                       feedback: Callable[[str], None] | None = None,
                       lu_cls: type[LogicalUnit] | None = None) -> Any:
        """Run a (query) opcode outside the job queue."""
        return self.execute(op, DirectContext(feedback), lu_cls)

    # --- phases ---------------------------------------------------------------

    def _run_lu(self, lu: LogicalUnit, op: OpCode,
                feedback: Callable[[str], None]) -> Any:
        lu.check_prereq()
        if op.dry_run:
            return getattr(lu, "dry_run_result", None)
        master = None
        if lu.HPATH:
            cluster = self.luctx.cfg.get_cluster()
            master = hooks.HooksMaster(
                self.hooks_runner, opcode=op.OP_ID, hpath=lu.HPATH,
                object_type=lu.HTYPE, cluster=cluster.cluster_name,
                master=self.luctx.master, env_fn=lu.build_hooks_env,
                feedback=feedback)
            master.run_phase(constants.HOOKS_PHASE_PRE)
        result = lu.execute(feedback)
        if master is not None:
            try:
                master.run_phase(constants.HOOKS_PHASE_POST)
            except errors.GenericError as err:
                feedback(f"Post hooks failed: {err}")
        return result

    def _acquire(self, lu: LogicalUnit, request: LockRequest,
                 ctx: OpContextLike) -> None:
        levels: list[tuple[int, LevelRequest, bool]] = [
            (lockmgr.LEVEL_CLUSTER, [lockmgr.BGL], request.bgl_shared),
            (lockmgr.LEVEL_INSTANCE, request.instance, request.instance_shared),
            (lockmgr.LEVEL_NODEGROUP, request.nodegroup,
             request.nodegroup_shared),
            (lockmgr.LEVEL_NODE, request.node, request.node_shared),
        ]
        for level, wanted, shared in levels:
            names = self._resolve(level, wanted)
            if names is not None and not names:
                continue
            shown = ("all" if names is None
                     else ", ".join(sorted(names)[:5])
                     + (" ..." if len(names) > 5 else ""))
            ctx.set_lock_status(
                f"waiting for {lockmgr.LEVEL_NAMES[level]} locks ({shown}, "
                f"{'shared' if shared else 'exclusive'})")

            def on_retry(tries: int, timeout: float, pause: float) -> None:
                ctx.check_cancel()

            kwargs: dict[str, Any] = {}
            if self._sleep is not None:
                kwargs["sleep"] = self._sleep
            started = time.monotonic()
            try:
                got = acquire_with_retries(
                    self.glm, level, names, shared, self._strategy(), on_retry,
                    priority=lambda: ctx.priority, **kwargs)
            except errors.LockError as err:
                if err.code != errors.ErrorCode.NOENT or names is None:
                    raise
                raise self._missing(level, names) from err
            if self.lock_observer is not None:
                self.lock_observer(lockmgr.LEVEL_NAMES[level],
                                   time.monotonic() - started)
            lu.owned[lockmgr.LEVEL_NAMES[level]] = sorted(got)
            ctx.check_cancel()

    def _missing(self, level: int, names: list[str]) -> errors.GenericError:
        """The error for lock names that vanished from the lock manager.

        Objects removed since their names were expanded are a normal race
        (a prerequisite error); an object the configuration still has
        without a lock means the two disagree, which no job may cause."""
        kind = lockmgr.LEVEL_NAMES[level]
        cfg = self.luctx.cfg
        lookup: Callable[[str], object | None] = {
            lockmgr.LEVEL_INSTANCE: cfg.get_instance,
            lockmgr.LEVEL_NODEGROUP: cfg.get_nodegroup,
        }.get(level, cfg.get_node)
        present = set(self.glm.names(level))
        missing = [n for n in names if n not in present]
        stale = [n for n in missing if lookup(n) is not None]
        if stale:
            return errors.LockError(
                f"The lock manager has no lock for {kind}(s)"
                f" {', '.join(stale)} of the configuration (a bug; restarting"
                " ganeti-masterd rebuilds the locks from the configuration)",
                errors.ErrorCode.NOENT)
        return errors.OpPrereqError(
            f"{kind.capitalize()}(s) {', '.join(missing)} removed meanwhile",
            errors.ErrorCode.NOENT)

    def _resolve(self, level: int, wanted: LevelRequest) -> list[str] | None:
        """Lock names of a level request; None means "all"."""
        if wanted is None:
            return []
        if wanted is ALL:
            return None
        if wanted is FROM_INSTANCES:
            nodes: set[str] = set()
            for name in self.glm.list_owned(lockmgr.LEVEL_INSTANCE):
                inst = self.luctx.cfg.get_instance(name)
                if inst is not None:
                    nodes.update(inst.all_nodes)
            return sorted(nodes)
        if isinstance(wanted, list):
            return sorted(set(wanted))
        raise errors.ProgrammerError(f"Bad lock request {wanted!r}")

    def _release_all(self) -> None:
        for level in reversed(lockmgr.LEVELS):
            if self.glm.is_owned(level):
                with contextlib.suppress(errors.GenericError):
                    self.glm.release(level)
                if self.glm.is_owned(level):
                    logging.error("Could not release %s locks",
                                  lockmgr.LEVEL_NAMES[level])
