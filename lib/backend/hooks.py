"""Running this node's hook scripts."""

from __future__ import annotations

from ganeti import hooks
from ganeti.backend import handler


@handler("hooks_runner")
def hooks_runner(hpath: str, phase: str, env: dict[str, str]) -> list[list[object]]:
    return [[r.script, r.status, r.output]
            for r in hooks.run_local_hooks(hpath, phase, env)]
