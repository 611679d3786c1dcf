"""OS definitions across the cluster: ``gnt-os list/diagnose/info``.

:class:`LUOsDiagnose` asks every online node for its OS search path
(``os_diagnose``) and merges the answers per OS name.  An OS is *valid*
when the copy each node uses (the first one in its search path) is valid
on every online node that answered; its variants, parameters and API
versions are those all nodes agree on.  Fields:

``name``, ``valid``, ``hidden``, ``blacklisted``, ``variants``,
``parameters`` (``[[name, description], ...]``), ``api_versions``,
``node_status`` (node -> ``[[path, valid, error, variants, parameters,
api_versions], ...]``, every copy in search path order, the used one
first), ``os_hvp`` (the cluster's per-OS hypervisor parameters) and
``osparams`` (the cluster's per-OS parameters).

The per-OS cluster settings (``gnt-os modify``) are parameters of the
cluster (``OpClusterSetParams`` ``os_hvp``, ``osparams``, ``hidden_os``,
``blacklisted_os``); no LU here changes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ganeti import errors, objects, opcodes
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU
from ganeti.utils.text import nice_sort

#: One node's copies of one OS, each ``[path, valid, error, variants,
#: parameters, api_versions]``.
NodeCopies = list[list[Any]]


class OsSummary:
    """One OS name merged over the nodes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.node_status: dict[str, NodeCopies] = {}

    def used(self) -> list[list[Any]]:
        """The copy each node uses (its first)."""
        return [copies[0] for copies in self.node_status.values() if copies]

    def valid(self, nodes: list[str]) -> bool:
        return all(self.node_status.get(n) and self.node_status[n][0][1]
                   for n in nodes)

    def _common(self, index: int) -> list[Any]:
        used = [c for c in self.used() if c[1]]
        if not used:
            return []
        first = list(used[0][index])
        return [v for v in first if all(v in c[index] for c in used[1:])]

    def variants(self) -> list[str]:
        return self._common(3)

    def parameters(self) -> list[list[str]]:
        return self._common(4)

    def api_versions(self) -> list[int]:
        return self._common(5)


Getter = Callable[[OsSummary, objects.Cluster, list[str]], Any]

FIELDS: Final[dict[str, Getter]] = {
    "name": lambda s, c, n: s.name,
    "valid": lambda s, c, n: s.valid(n),
    "hidden": lambda s, c, n: s.name in c.hidden_os,
    "blacklisted": lambda s, c, n: s.name in c.blacklisted_os,
    "variants": lambda s, c, n: s.variants(),
    "parameters": lambda s, c, n: s.parameters(),
    "api_versions": lambda s, c, n: s.api_versions(),
    "node_status": lambda s, c, n: s.node_status,
    "os_hvp": lambda s, c, n: c.os_hvp.get(s.name, {}),
    "osparams": lambda s, c, n: c.osparams.get(s.name, {}),
}


def merge_diagnoses(answers: dict[str, list[dict[str, Any]]]
                    ) -> dict[str, OsSummary]:
    """Per OS name, the copies each node reported (in search path order,
    so the used copy comes first)."""
    merged: dict[str, OsSummary] = {}
    for node, diagnoses in answers.items():
        for diag in diagnoses:
            summary = merged.setdefault(diag["name"], OsSummary(diag["name"]))
            summary.node_status.setdefault(node, []).append([
                diag["path"], diag["valid"], diag["error"],
                list(diag["variants"]), [list(p) for p in diag["parameters"]],
                list(diag["api_versions"])])
    for summary in merged.values():
        for node in answers:
            summary.node_status.setdefault(node, [])
    return merged


class LUOsDiagnose(NoHooksLU):
    """The OS definitions of the cluster, one row per OS name."""

    OP = opcodes.OpOsDiagnose
    op: opcodes.OpOsDiagnose

    def expand_names(self) -> LockRequest:
        unknown = [f for f in self.op.output_fields if f not in FIELDS]
        if unknown:
            raise errors.UnknownFieldError(
                f"Unknown output fields selected: {', '.join(unknown)}",
                fields=unknown)
        return LockRequest(bgl_shared=True)

    def execute(self, feedback: Feedback) -> list[list[Any]]:
        cluster = self.cfg.get_cluster()
        nodes = [n.name for n in self.cfg.get_online_nodes()]
        results = self.rpc.call_os_diagnose(nodes)
        answers = {}
        for node, res in results.items():
            if res.failed:
                feedback(f"Warning: cannot get the OS list of node {node}:"
                         f" {res.fail_msg}")
                continue
            answers[node] = res.payload
        merged = merge_diagnoses(answers)
        answered = list(answers)
        wanted = (list(dict.fromkeys(self.op.names)) if self.op.names
                  else nice_sort(merged))
        rows = []
        for name in wanted:
            summary = merged.get(name)
            if summary is None:
                summary = OsSummary(name)
                for node in answered:
                    summary.node_status[node] = []
            rows.append([FIELDS[f](summary, cluster, answered)
                         for f in self.op.output_fields])
        return rows
