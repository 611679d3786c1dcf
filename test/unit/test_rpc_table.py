"""Every RPC call has exactly one node-side handler, and vice versa."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

from ganeti import backend
from ganeti.rpc import defs


def test_every_row_has_one_matching_handler_and_back() -> None:
    backend.load_handlers()
    assert set(backend.HANDLERS) == set(defs.CALLS), (
        f"rows without handler: {sorted(set(defs.CALLS) - set(backend.HANDLERS))}; "
        f"handlers without row: {sorted(set(backend.HANDLERS) - set(defs.CALLS))}")
    for name, spec in defs.CALLS.items():
        params = inspect.signature(backend.HANDLERS[name]).parameters.values()
        assert [p.name for p in params] == [a.name for a in spec.args], name
        for param in params:
            assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name
            assert param.default is inspect.Parameter.empty, name


def test_handlers_are_found_in_every_backend_module() -> None:
    backend.load_handlers()
    before = dict(backend.HANDLERS)
    for info in pkgutil.iter_modules(backend.__path__):
        importlib.import_module(f"ganeti.backend.{info.name}")
    assert before == backend.HANDLERS


def test_rows_are_well_formed() -> None:
    for name, spec in defs.CALLS.items():
        assert name == spec.name and name.isidentifier() and name.islower()
        assert isinstance(spec.timeout, defs.Timeout)
        assert isinstance(spec.fanout, defs.Fanout)
        assert spec.doc, name
        assert len({a.name for a in spec.args}) == len(spec.args), name


def test_each_area_module_can_be_imported_first() -> None:
    """Importing an area module of the call table before the table itself
    (``from ganeti.rpc.calls.backup import CHUNK`` in a fresh process)
    must not hit the table's collection half-way through that module."""
    from ganeti.rpc import calls

    for info in pkgutil.iter_modules(calls.__path__):
        res = subprocess.run(
            [sys.executable, "-c", f"import ganeti.rpc.calls.{info.name}"],
            capture_output=True, text=True, check=False,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        assert res.returncode == 0, f"{info.name}: {res.stderr[-300:]}"
