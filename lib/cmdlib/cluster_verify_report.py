"""How ``gnt-cluster verify`` reports a problem: Ganeti's error codes and
line format, shared by the cluster/node checks
(:mod:`ganeti.cmdlib.cluster_verify`) and the instance checks
(:mod:`ganeti.cmdlib.cluster_verify_instances`).

A problem is one line through the job's log.  With ``error_codes`` it is
machine-parseable::

    <ftype>:<ecode>:<item type>:<item>:<message>
    ERROR:EINSTANCEDOWN:instance:web1.example.com:instance not running ...

otherwise ``ERROR: instance web1.example.com: instance not running ...``.
"""

from __future__ import annotations

from typing import Final

from ganeti.cmdlib.base import Feedback

ETYPE_ERROR: Final = "ERROR"
ETYPE_WARNING: Final = "WARNING"

TCLUSTER: Final = "cluster"
TNODE: Final = "node"
TINSTANCE: Final = "instance"

#: (item type, code) pairs, Ganeti's names.
ECLUSTERCFG: Final = (TCLUSTER, "ECLUSTERCFG")
ECLUSTERFILECHECK: Final = (TCLUSTER, "ECLUSTERFILECHECK")
EINSTANCEBADNODE: Final = (TINSTANCE, "EINSTANCEBADNODE")
EINSTANCEDOWN: Final = (TINSTANCE, "EINSTANCEDOWN")
EINSTANCEFAULTYDISK: Final = (TINSTANCE, "EINSTANCEFAULTYDISK")
EINSTANCELAYOUT: Final = (TINSTANCE, "EINSTANCELAYOUT")
EINSTANCEMISSINGDISK: Final = (TINSTANCE, "EINSTANCEMISSINGDISK")
EINSTANCEWRONGNODE: Final = (TINSTANCE, "EINSTANCEWRONGNODE")
ENODEFILECHECK: Final = (TNODE, "ENODEFILECHECK")
ENODEHOOKS: Final = (TNODE, "ENODEHOOKS")
ENODEHV: Final = (TNODE, "ENODEHV")
ENODELVM: Final = (TNODE, "ENODELVM")
ENODEORPHANLV: Final = (TNODE, "ENODEORPHANLV")
ENODEORPHANINSTANCE: Final = (TNODE, "ENODEORPHANINSTANCE")
ENODERPC: Final = (TNODE, "ENODERPC")
ENODETIME: Final = (TNODE, "ENODETIME")
ENODEVERSION: Final = (TNODE, "ENODEVERSION")
#: Not in Ganeti (whose verify ignores it; ``gnt-instance list`` shows
#: ``ERROR_up``): an instance marked down runs on its primary node.
EINSTANCEUPWHENDOWN: Final = (TINSTANCE, "EINSTANCEUPWHENDOWN")


def format_problem(ftype: str, ecode: tuple[str, str], item: str | None,
                   msg: str, *, error_codes: bool) -> str:
    """One report line (without the ``  - `` prefix)."""
    itype, etxt = ecode
    if error_codes:
        return f"{ftype}:{etxt}:{itype}:{item or ''}:{msg}"
    shown = f" {item}" if item else ""
    return f"{ftype}: {itype}{shown}: {msg}"


class Reporter:
    """Collects problems; ``bad`` is True once an error was reported."""

    def __init__(self, feedback: Feedback, *, error_codes: bool,
                 simulate: bool) -> None:
        self.feedback = feedback
        self.error_codes = error_codes
        self.simulate = simulate
        self.bad = False
        self.lines: list[str] = []

    def error(self, ecode: tuple[str, str], item: str | None, msg: str, *,
              warning: bool = False) -> None:
        ftype = ETYPE_WARNING if warning else ETYPE_ERROR
        line = format_problem(ftype, ecode, item, msg,
                              error_codes=self.error_codes)
        self.lines.append(line)
        self.feedback(f"  - {line}")
        if not warning:
            self.bad = True

    def error_if(self, cond: bool, ecode: tuple[str, str], item: str | None,
                 msg: str, *, warning: bool = False) -> bool:
        """Report when ``cond`` (always with debug_simulate_errors)."""
        if cond or self.simulate:
            self.error(ecode, item, msg, warning=warning)
            return True
        return False
