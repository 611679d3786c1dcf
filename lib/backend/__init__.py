"""What a node does for each RPC call, one module per area.

:func:`dispatch` decodes a call's arguments against its row in
:data:`ganeti.rpc.defs.CALLS` and runs the one handler registered for it
(:func:`handler`).  A call without a handler, or a handler without a row,
is caught by a test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ganeti import errors, ht
from ganeti.rpc import defs

F = TypeVar("F", bound=Callable[..., Any])

HANDLERS: dict[str, Callable[..., Any]] = {}


def handler(name: str) -> Callable[[F], F]:
    """Register the node-side function of RPC call ``name``."""
    def register(fn: F) -> F:
        if name not in defs.CALLS:
            raise errors.ProgrammerError(f"No RPC call {name!r} is declared")
        if name in HANDLERS:
            raise errors.ProgrammerError(f"RPC call {name!r} has two handlers")
        params = list(inspect.signature(fn).parameters)
        declared = [a.name for a in defs.CALLS[name].args]
        if params != declared:
            raise errors.ProgrammerError(
                f"Handler of {name!r} takes {params}, the table says {declared}")
        HANDLERS[name] = fn
        return fn
    return register


def dispatch(name: str, args: Any) -> Any:
    """Check ``args`` against the call's row and run its handler."""
    _load()
    spec = defs.CALLS.get(name) if isinstance(name, str) else None
    if spec is None or name not in HANDLERS:
        raise errors.ProtocolError(f"Unknown RPC call {name!r:.60}")
    if not isinstance(args, list) or len(args) != len(spec.args):
        count = len(args) if isinstance(args, list) else "no list of"
        raise errors.ProtocolError(
            f"RPC {name}: expected {len(spec.args)} argument(s), got {count}")
    for arg, value in zip(spec.args, args, strict=True):
        if not arg.check(value):
            raise errors.ProtocolError(
                f"RPC {name}: argument '{arg.name}': "
                f"{ht.describe_failure(arg.check, value)}")
    return HANDLERS[name](*args)


_loaded = False
_load_lock = threading.Lock()


def load_handlers() -> None:
    """Import every module of this package, registering all handlers.

    Modules are found on disk, so a new ``backend/<area>.py`` needs no
    list to be edited; noded calls this once at start-up.
    """
    global _loaded
    with _load_lock:
        if _loaded:
            return
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


_load = load_handlers
