"""Guards for what mypy cannot see in the logical units' context.

``cfg``, ``rpc`` and the LU context are typed (``ConfigWriter``,
``RpcClient``, ``LUContext``); an ``Any`` there would silently switch
mypy off for every use, so none may come back.  The RPC stubs
``call_<name>`` come from ``RpcClient.__getattr__``, which mypy types
but cannot check by name: every stub used in lib/ must be a row of the
call table.
"""

from __future__ import annotations

import re
from pathlib import Path

from ganeti.rpc import defs

LIB = Path(__file__).resolve().parents[2] / "lib"

#: Names that always stand for the config, the RPC client, the LU
#: context or the lock manager.
_CONTEXT_ANY = re.compile(
    r"\b(cfg|rpc|ctx|luctx|glm|transport)\s*:\s*Any\b")
_STUB = re.compile(r"\.call_([a-z0-9_]+)\b")
#: A method really defined (the transport's ``call_many``) is no stub.
_DEFINED = re.compile(r"\bdef call_([a-z0-9_]+)\b")


def _sources() -> list[Path]:
    return sorted(LIB.rglob("*.py"))


def test_context_names_are_not_typed_any() -> None:
    found = [f"{path.relative_to(LIB)}:{number}: {line.strip()}"
             for path in _sources()
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if _CONTEXT_ANY.search(line)]
    assert found == []


def test_guard_pattern_matches_what_it_forbids() -> None:
    assert _CONTEXT_ANY.search("def f(cfg: Any, rpc: Any) -> None:")
    assert _CONTEXT_ANY.search("    glm: Any = None")
    assert not _CONTEXT_ANY.search("def f(cfg: ConfigWriter) -> Any:")


def test_every_rpc_stub_used_is_a_call_of_the_table() -> None:
    defined = {name for path in _sources()
               for name in _DEFINED.findall(path.read_text())}
    used = {name: path.relative_to(LIB)
            for path in _sources()
            for name in _STUB.findall(path.read_text())
            if name not in defined}
    assert len(used) > 20  # the scan sees the LUs' calls
    # ``call_many`` is the batch transports' method, not a stub.
    unknown = {name: str(where) for name, where in used.items()
               if name not in defs.CALLS and name != "many"}
    assert unknown == {}
