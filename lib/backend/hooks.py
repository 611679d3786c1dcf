"""Running this node's hook scripts."""

from __future__ import annotations

from ganeti import hooks, pathutils
from ganeti.backend import handler


@handler("hooks_runner")
def hooks_runner(hpath: str, phase: str, env: dict[str, str]) -> list[list[object]]:
    # The master sends the cluster-wide environment; where this node keeps
    # its data is this node's own business (it may live under a root).
    env = dict(env, GANETI_DATA_DIR=pathutils.get().data_dir)
    return [[r.script, r.status, r.output]
            for r in hooks.run_local_hooks(hpath, phase, env)]
