"""Running ``xl``: one place that builds its argv and turns its failures
into one-line errors.

A failed command's error names the instance (when there is one), the
node and the subcommand, and quotes the tail of xl's stderr (libxl
prints its reason last).  A node without xl gets an error saying so.

Which program runs: the real ``xl`` found on the node daemon's PATH,
except on a local-cluster node (a ``GANETI_ROOTDIR`` root) whose
environment sets ``GANETI_XL_STANDIN=1``: there the stand-in of
:mod:`ganeti.standins.xl` runs instead (the selection rule of
:mod:`ganeti.standins`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from typing import Final

from ganeti import errors, pathutils
from ganeti.standins import xl as xl_standin
from ganeti.utils import process

#: The xl program (looked up on PATH, as xl's own scripts expect).
XL_PROGRAM: Final = "xl"
#: Seconds an ordinary xl command may take.
XL_TIMEOUT: Final = 60.0
#: Lines of xl's stderr quoted in an error.
STDERR_TAIL: Final = 3

Runner = Callable[..., process.RunResult]


def xl_argv() -> list[str]:
    """The argv prefix that runs xl on this node (see the module doc)."""
    standin = xl_standin.command_for_node(pathutils.get())
    return standin if standin is not None else [XL_PROGRAM]


def stderr_tail(result: process.RunResult) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout)
             .splitlines() if line.strip()]
    return " / ".join(lines[-STDERR_TAIL:]) or result.fail_reason


class Xl:
    """xl on this node; ``runner`` is the process boundary tests record."""

    def __init__(self, argv: Sequence[str] | None = None,
                 runner: Runner = process.run_cmd) -> None:
        self.argv = list(argv) if argv is not None else xl_argv()
        self._runner = runner

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def shell_command(self, *args: str) -> str:
        """The command as one line for ``sh`` (the migration receiver)."""
        return shlex.join(self.command(*args))

    def try_run(self, *args: str, timeout: float = XL_TIMEOUT
                ) -> process.RunResult:
        return self._runner(self.command(*args), timeout=timeout)

    def run(self, *args: str, instance: str = "",
            timeout: float = XL_TIMEOUT) -> str:
        """stdout of ``xl ARGS``; a failure raises HypervisorError."""
        result = self.try_run(*args, timeout=timeout)
        if result.failed:
            raise self.error(args, result, instance)
        return result.stdout

    def error(self, args: Sequence[str], result: process.RunResult,
              instance: str = "") -> errors.HypervisorError:
        node = pathutils.hostname()
        prefix = f"Instance {instance}: " if instance else ""
        if result.exit_code is None and result.signal is None \
                and not result.timed_out:
            return errors.HypervisorError(
                f"{prefix}xl cannot run on node {node}"
                f" ({result.fail_reason})", errors.ErrorCode.ENVIRON)
        return errors.HypervisorError(
            f"{prefix}'xl {args[0] if args else ''}' failed on node"
            f" {node}: {stderr_tail(result)}", errors.ErrorCode.ENVIRON)


def program_found(argv: Sequence[str]) -> bool:
    """Whether argv's program exists (on PATH when it has no slash)."""
    program = argv[0]
    if os.sep in program:
        return os.access(program, os.X_OK)
    return any(os.access(os.path.join(d, program), os.X_OK)
               for d in os.environ.get("PATH", "").split(os.pathsep) if d)
