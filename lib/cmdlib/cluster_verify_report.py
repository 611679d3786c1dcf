"""How ``gnt-cluster verify`` reports a problem: Ganeti's error codes and
line format, shared by the cluster/node checks
(:mod:`ganeti.cmdlib.cluster_verify`) and the instance checks
(:mod:`ganeti.cmdlib.cluster_verify_instances`).

A problem is one line through the job's log.  With ``error_codes`` it is
machine-parseable::

    <ftype>:<ecode>:<item type>:<item>:<message>
    ERROR:EINSTANCEDOWN:instance:web1.example.com:instance not running ...

otherwise ``ERROR: instance web1.example.com: instance not running ...``.
An error whose code the operation ignores (``--ignore-errors``) is
reported as a ``WARNING`` and does not fail the verification.
"""

from __future__ import annotations

from typing import Final

from ganeti import errors
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
EINSTANCEPOLICY: Final = (TINSTANCE, "EINSTANCEPOLICY")
EINSTANCEWRONGNODE: Final = (TINSTANCE, "EINSTANCEWRONGNODE")
ENODEFILECHECK: Final = (TNODE, "ENODEFILECHECK")
ENODEHOOKS: Final = (TNODE, "ENODEHOOKS")
ENODEHV: Final = (TNODE, "ENODEHV")
ENODELVM: Final = (TNODE, "ENODELVM")
ENODEN1: Final = (TNODE, "ENODEN1")
ENODEORPHANLV: Final = (TNODE, "ENODEORPHANLV")
ENODEORPHANINSTANCE: Final = (TNODE, "ENODEORPHANINSTANCE")
ENODERPC: Final = (TNODE, "ENODERPC")
ENODETIME: Final = (TNODE, "ENODETIME")
ENODEVERSION: Final = (TNODE, "ENODEVERSION")
#: Not in Ganeti (whose verify compares only file checksums): a master
#: candidate whose config.data or job queue copy is behind the master's.
ENODEREPLICA: Final = (TNODE, "ENODEREPLICA")
#: Not in Ganeti (whose verify ignores it; ``gnt-instance list`` shows
#: ``ERROR_up``): an instance marked down runs on its primary node.
EINSTANCEUPWHENDOWN: Final = (TINSTANCE, "EINSTANCEUPWHENDOWN")

#: Every code's name (what ``--ignore-errors`` accepts).
ALL_CODES: Final = frozenset(value[1] for name, value in list(globals().items())
                             if name.startswith("E") and isinstance(value, tuple))


def check_codes(codes: list[str]) -> frozenset[str]:
    """``codes`` as a set, or OpPrereqError naming the unknown ones."""
    unknown = sorted(set(codes) - ALL_CODES)
    if unknown:
        raise errors.OpPrereqError(
            f"Unknown error code(s) to ignore: {', '.join(unknown)} (known:"
            f" {', '.join(sorted(ALL_CODES))})", errors.ErrorCode.INVAL)
    return frozenset(codes)


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
                 simulate: bool, ignore: frozenset[str] = frozenset()) -> None:
        self.feedback = feedback
        #: Codes demoted to warnings (``--ignore-errors``).
        self.ignore = ignore
        self.error_codes = error_codes
        self.simulate = simulate
        self.bad = False
        self.lines: list[str] = []

    def error(self, ecode: tuple[str, str], item: str | None, msg: str, *,
              warning: bool = False) -> None:
        warning = warning or ecode[1] in self.ignore
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
