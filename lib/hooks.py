"""Hooks: site scripts run before and after each operation.

Layout and environment follow Ganeti's hooks interface: scripts live in
``<hooks dir>/<hpath>-<phase>.d/``, run in name order; only executable
files whose names match ``^[a-zA-Z0-9_-]+$`` run (others are skipped).
Each script gets the environment built by :func:`build_env`:
``GANETI_HOOKS_VERSION``, ``GANETI_OP_CODE``, ``GANETI_OBJECT_TYPE``,
``GANETI_DATA_DIR``, ``GANETI_HOOKS_PHASE``, ``GANETI_HOOKS_PATH``,
``GANETI_CLUSTER``, ``GANETI_MASTER`` and the operation's own variables,
each prefixed with ``GANETI_``; in the post phase the values the operation
changed are also given as ``GANETI_POST_<name>``.

A failing *pre* script aborts the operation (:class:`errors.HooksAbort`
naming node, script and output); an unreachable node does not.  Post
script failures are reported, never fatal.

:func:`run_local_hooks` is what a node does; :class:`HooksMaster` is the
master side, which asks a *runner* to run a phase on a list of nodes.
Until the node daemon exists the master uses :class:`LocalHooksRunner`,
which runs the scripts on the master itself for the master's name and
reports other nodes as unreachable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from ganeti import constants, errors, pathutils
from ganeti.utils import process

if TYPE_CHECKING:
    from ganeti.rpc.client import RpcClient

HKR_SKIP: Final = 0
HKR_FAIL: Final = 1
HKR_SUCCESS: Final = 2

SCRIPT_NAME_RE: Final = re.compile(r"^[a-zA-Z0-9_-]+$")
HOOKS_TIMEOUT: Final = 300.0
HOOKS_PATH_ENV: Final = "/sbin:/bin:/usr/sbin:/usr/bin"
#: How much of a script's output is kept in results.
MAX_OUTPUT: Final = 4096


@dataclasses.dataclass(frozen=True)
class ScriptResult:
    script: str
    status: int
    output: str


@dataclasses.dataclass(frozen=True)
class NodeResult:
    """One node's answer: scripts run, or why none could run."""

    node: str
    scripts: list[ScriptResult]
    fail_msg: str | None = None
    offline: bool = False


def build_env(*, opcode: str, object_type: str | None, hpath: str,
              phase: str, cluster: str, master: str,
              lu_env: Mapping[str, object],
              post_env: Mapping[str, object] | None = None) -> dict[str, str]:
    """The environment of one phase's scripts."""
    env = {
        "PATH": HOOKS_PATH_ENV,
        "GANETI_HOOKS_VERSION": str(constants.HOOKS_VERSION),
        "GANETI_OP_CODE": opcode,
        "GANETI_DATA_DIR": pathutils.get().data_dir,
        "GANETI_HOOKS_PHASE": phase,
        "GANETI_HOOKS_PATH": hpath,
        "GANETI_CLUSTER": cluster,
        "GANETI_MASTER": master,
    }
    if object_type:
        env["GANETI_OBJECT_TYPE"] = object_type
    for key, value in lu_env.items():
        env[f"GANETI_{key}"] = _env_value(value)
    if phase == constants.HOOKS_PHASE_POST and post_env:
        for key, value in post_env.items():
            env[f"GANETI_POST_{key}"] = _env_value(value)
    return env


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def run_local_hooks(hpath: str, phase: str, env: Mapping[str, str], *,
                    hooks_dir: str | None = None,
                    timeout: float = HOOKS_TIMEOUT) -> list[ScriptResult]:
    """Run this node's scripts for one phase (what a node daemon does)."""
    if phase not in (constants.HOOKS_PHASE_PRE, constants.HOOKS_PHASE_POST):
        raise errors.ProgrammerError(f"Unknown hooks phase {phase!r}")
    if not re.fullmatch(r"[a-z0-9-]+", hpath):
        raise errors.ProgrammerError(f"Invalid hooks path {hpath!r}")
    base = hooks_dir or pathutils.get().hooks_dir
    return run_parts(os.path.join(base, f"{hpath}-{phase}.d"), env,
                     timeout=timeout)


def run_parts(directory: str, env: Mapping[str, str], *,
              timeout: float = HOOKS_TIMEOUT) -> list[ScriptResult]:
    """Run the executable files with valid names in ``directory`` in name
    order (others are reported skipped); a missing directory runs none.
    The per-operation hooks and the watcher's hooks both use it."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as err:
        raise errors.HooksFailure(
            f"Cannot list hooks directory {directory}: {err.strerror}") from None
    results = []
    for name in names:
        path = os.path.join(directory, name)
        if (not SCRIPT_NAME_RE.match(name) or not os.path.isfile(path)
                or not os.access(path, os.X_OK)):
            results.append(ScriptResult(name, HKR_SKIP, ""))
            continue
        res = process.run_cmd([path], env=env, reset_env=True,
                              cwd=os.path.dirname(path), timeout=timeout)
        output = res.output[-MAX_OUTPUT:]
        if res.failed:
            output = (output + "\n" if output else "") + res.fail_reason
            results.append(ScriptResult(name, HKR_FAIL, output.strip()))
        else:
            results.append(ScriptResult(name, HKR_SUCCESS, output.strip()))
    return results


class HooksRunner(Protocol):
    def __call__(self, nodes: Sequence[str], hpath: str, phase: str,
                 env: Mapping[str, str]) -> list[NodeResult]: ...


class LocalHooksRunner:
    """Runs hooks on this machine for ``local_node``; other nodes are
    reported unreachable (used before node RPC exists, and by tests)."""

    def __init__(self, local_node: str, *, hooks_dir: str | None = None) -> None:
        self.local_node = local_node
        self.hooks_dir = hooks_dir

    def __call__(self, nodes: Sequence[str], hpath: str, phase: str,
                 env: Mapping[str, str]) -> list[NodeResult]:
        results = []
        for node in nodes:
            if node != self.local_node:
                results.append(NodeResult(node, [], fail_msg="node not reachable "
                                          "(no node daemon)"))
                continue
            try:
                scripts = run_local_hooks(hpath, phase, env,
                                          hooks_dir=self.hooks_dir)
            except errors.GenericError as err:
                results.append(NodeResult(node, [], fail_msg=str(err)))
            else:
                results.append(NodeResult(node, scripts))
        return results


class HooksMaster:
    """Runs an operation's pre and post phases on its nodes."""

    def __init__(self, runner: HooksRunner, *, opcode: str, hpath: str,
                 object_type: str | None, cluster: str, master: str,
                 env_fn: Callable[[], tuple[dict[str, object], list[str],
                                            list[str]]],
                 feedback: Callable[[str], None]) -> None:
        self.runner = runner
        self.opcode = opcode
        self.hpath = hpath
        self.object_type = object_type
        self.cluster = cluster
        self.master = master
        self.env_fn = env_fn
        self.feedback = feedback
        self._pre_env: dict[str, object] | None = None

    def _phase_env(self, phase: str) -> tuple[dict[str, str], list[str]]:
        lu_env, pre_nodes, post_nodes = self.env_fn()
        if phase == constants.HOOKS_PHASE_PRE:
            self._pre_env = lu_env
            return self._env(phase, lu_env, None), pre_nodes
        # Post: the pre values, plus what changed as GANETI_POST_*.
        base = self._pre_env if self._pre_env is not None else lu_env
        changed = {k: v for k, v in lu_env.items() if base.get(k) != v}
        return self._env(phase, base, changed), post_nodes

    def _env(self, phase: str, lu_env: Mapping[str, object],
             post: Mapping[str, object] | None) -> dict[str, str]:
        return build_env(opcode=self.opcode, object_type=self.object_type,
                         hpath=self.hpath, phase=phase, cluster=self.cluster,
                         master=self.master, lu_env=lu_env, post_env=post)

    def run_phase(self, phase: str) -> list[NodeResult]:
        env, nodes = self._phase_env(phase)
        if not nodes:
            return []
        results = self.runner(nodes, self.hpath, phase, env)
        failures = []
        for res in results:
            if res.fail_msg:
                self.feedback(f"Communication failure running {phase} hooks "
                              f"on node {res.node}: {res.fail_msg}")
                continue
            for script in res.scripts:
                if script.status != HKR_FAIL:
                    continue
                if phase == constants.HOOKS_PHASE_PRE:
                    shown = " ".join(script.output.split())[:200]
                    failures.append(f"{res.node}: script {script.script} "
                                    f"failed: {shown or 'no output'}")
                else:
                    self.feedback(f"Post hook {script.script} failed on "
                                  f"node {res.node}: {script.output}")
        if failures:
            raise errors.HooksAbort("Hook failure(s): " + "; ".join(failures))
        return results


class RpcHooksRunner:
    """Runs hooks on nodes through the node RPC ``hooks_runner`` call."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc

    def __call__(self, nodes: Sequence[str], hpath: str, phase: str,
                 env: Mapping[str, str]) -> list[NodeResult]:
        results = self.rpc.call_hooks_runner(
            list(nodes), hpath, phase, dict(env))
        out = []
        for node, res in results.items():
            if res.fail_msg is not None:
                out.append(NodeResult(node, [], fail_msg=res.fail_msg,
                                      offline=res.offline))
                continue
            out.append(NodeResult(node, [
                ScriptResult(str(s), int(st), str(o)) for s, st, o in res.payload]))
        return out
