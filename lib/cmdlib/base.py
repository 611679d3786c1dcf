"""The logical unit: declared locks, preconditions, hooks, execution.

A logical unit (LU) executes one opcode.  It is paired with its opcode
class (``OP``), declares the locks it needs as data (:class:`LockRequest`),
checks its preconditions in :meth:`LogicalUnit.check_prereq` (raising
:class:`~ganeti.errors.OpPrereqError`, changing nothing) and acts in
:meth:`LogicalUnit.execute`.  It touches only ``self.cfg``, ``self.rpc``
and the feedback function; :mod:`ganeti.mcpu` drives the phases.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ganeti import errors
from ganeti.opcodes import OpCode

if TYPE_CHECKING:
    from ganeti.config import ConfigWriter
    from ganeti.locking import GanetiLockManager
    from ganeti.rpc.client import RpcClient

Feedback = Callable[[str], None]


class Locks(enum.Enum):
    """Special lock requests of a level."""

    ALL = "all"                       # every lock of the level
    FROM_INSTANCES = "from-instances"  # nodes of the locked instances


ALL = Locks.ALL
FROM_INSTANCES = Locks.FROM_INSTANCES

LevelRequest = list[str] | Locks | None


@dataclasses.dataclass
class LockRequest:
    """What an LU locks.  The Big Ganeti Lock is always taken first:
    exclusively unless ``bgl_shared``; then instances, then node groups
    (by UUID), then nodes."""

    bgl_shared: bool = True
    instance: LevelRequest = None
    node: LevelRequest = None
    instance_shared: bool = False
    node_shared: bool = False
    nodegroup: LevelRequest = None
    nodegroup_shared: bool = False


@dataclasses.dataclass
class LUContext:
    """What an LU may use: the config, the node RPC and the master's name;
    in the master daemon also its lock manager (``glm``: node add and
    remove change the node level, a failed instance add drops its lock).
    Unit tests that run LUs without a lock manager leave it ``None``."""

    cfg: ConfigWriter
    rpc: RpcClient
    master: str
    glm: GanetiLockManager | None = None


LU_REGISTRY: dict[type[OpCode], type[LogicalUnit]] = {}


class LogicalUnit:
    """Base class of every logical unit."""

    OP: ClassVar[type[OpCode]]
    #: Hooks directory prefix (``instance-start``); None: no hooks.
    HPATH: ClassVar[str | None] = None
    #: CLUSTER, NODE or INSTANCE (GANETI_OBJECT_TYPE).
    HTYPE: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        op = cls.__dict__.get("OP")
        if op is not None:
            if op in LU_REGISTRY:
                raise errors.ProgrammerError(
                    f"{op.__name__} has two logical units")
            LU_REGISTRY[op] = cls

    def __init__(self, ctx: LUContext, op: OpCode, feedback: Feedback) -> None:
        if not isinstance(op, self.OP):
            raise errors.ProgrammerError(
                f"{type(self).__name__} got a {type(op).__name__}")
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.rpc = ctx.rpc
        self.op = op
        self.feedback = feedback
        #: Filled by the processor: the names actually locked per level.
        self.owned: dict[str, list[str]] = {}

    # --- phases -----------------------------------------------------------

    def expand_names(self) -> LockRequest:
        """Resolve names in the opcode and say which locks are needed.

        The default takes the BGL exclusively and nothing else, which is
        always safe and never fast.
        """
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        """Check the preconditions (locks held); must be idempotent."""

    def build_hooks_env(self) -> tuple[dict[str, object], list[str], list[str]]:
        """Hooks environment (without the GANETI_ prefix), pre nodes,
        post nodes.  Only called when HPATH is set."""
        raise errors.ProgrammerError(
            f"{type(self).__name__} declares hooks but builds no environment")

    def execute(self, feedback: Feedback) -> Any:
        raise errors.ProgrammerError(f"{type(self).__name__} has no execute")

    # --- helpers ------------------------------------------------------------

    def expand_instance_name(self, name: str) -> str:
        full = self.cfg.expand_instance_name(name)
        if full is None:
            raise errors.OpPrereqError(f"Instance '{name}' not known",
                                       errors.ErrorCode.NOENT)
        return str(full)

    def expand_group_name(self, name: str) -> str:
        """The UUID of the group named (or with UUID) ``name``."""
        return self.cfg.lookup_nodegroup(name)

    def expand_node_name(self, name: str) -> str:
        full = self.cfg.expand_node_name(name)
        if full is None:
            raise errors.OpPrereqError(f"Node '{name}' not known",
                                       errors.ErrorCode.NOENT)
        return str(full)


class NoHooksLU(LogicalUnit):
    """An LU that runs no hooks."""

    HPATH = None
