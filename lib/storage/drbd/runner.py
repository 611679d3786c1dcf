"""The one way this project talks to DRBD.

Every drbdsetup/drbdmeta command goes through :class:`DrbdRunner`, which
runs it through an *executor* (a callable taking the argument vector
and returning a :class:`~ganeti.utils.process.RunResult`: the real
programs by default, the simulator of :mod:`ganeti.standins.drbd` on a
local-cluster node) and turns a failure into :class:`DrbdCommandError`
carrying DRBD's own reason.

The kernel module's version, read once from ``/proc/drbd``'s first line,
chooses the command generation (:mod:`ganeti.storage.drbd.commands`) and
where the state of the devices is read: ``/proc/drbd`` itself on 8.4,
``drbdsetup status --json`` on 9.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from ganeti import errors
from ganeti.storage.drbd import commands, status
from ganeti.utils import process

PROC_DRBD: Final = "/proc/drbd"
#: Seconds a DRBD command may take (a hung peer must not hang a job).
COMMAND_TIMEOUT: Final = 60.0

Executor = Callable[[Sequence[str]], process.RunResult]

#: Versions of real nodes' kernel modules, read once per process.
_VERSIONS: dict[str, tuple[int, int]] = {}


class DrbdCommandError(errors.BlockDeviceError):
    """A DRBD command failed; the message carries DRBD's reason."""


def run_real(argv: Sequence[str]) -> process.RunResult:
    return process.run_cmd(argv, env={"LC_ALL": "C"}, timeout=COMMAND_TIMEOUT)


def read_real_proc() -> str:
    try:
        with open(PROC_DRBD, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise errors.BlockDeviceError(
            f"{PROC_DRBD} not found: the drbd kernel module is not loaded",
            errors.ErrorCode.ENVIRON) from None


def error_reason(result: process.RunResult) -> str:
    """DRBD's reason on one line (what it printed, else how it ended)."""
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout)
             .splitlines() if line.strip()]
    return "; ".join(lines[-3:]) if lines else result.fail_reason


@dataclass(frozen=True)
class DrbdRunner:
    """Runs DRBD's tools and reads the devices' state."""

    executor: Executor = run_real
    proc_reader: Callable[[], str] = read_real_proc
    #: Where ``drbd<minor>`` devices appear.
    dev_dir: str = "/dev"
    #: Key of the version cache (None: read the version every time).
    version_key: str | None = PROC_DRBD
    _cache: dict[str, tuple[int, int]] = field(default_factory=dict,
                                               compare=False, repr=False)

    def device_path(self, minor: int) -> str:
        return f"{self.dev_dir}/drbd{minor}"

    def version(self) -> tuple[int, int]:
        """(major, minor) of the kernel module."""
        key = self.version_key
        cache = _VERSIONS if key is not None else self._cache
        key = key or "-"
        if key not in cache:
            cache[key] = status.parse_proc_version(self.proc_reader())
        return cache[key]

    def commands(self) -> commands.Commands:
        return commands.for_version(self.version()[0])

    def run(self, argv: Sequence[str]) -> str:
        """Run one command; its standard output, or a one-line error."""
        if argv[0] not in (commands.DRBDSETUP, commands.DRBDMETA):
            raise errors.ProgrammerError(f"Not a DRBD command: {argv[0]}")
        result = self.executor(list(argv))
        if result.failed:
            raise DrbdCommandError(
                f"{' '.join(argv[:3])} failed: {error_reason(result)}",
                errors.ErrorCode.ENVIRON)
        return result.stdout

    def states(self) -> dict[int, status.DrbdState]:
        """The state of every configured device, by minor."""
        if self.version()[0] == 8:
            return {minor: state for minor, state
                    in status.parse_proc_drbd(self.proc_reader()).items()
                    if state.configured}
        return status.parse_status_json(
            self.run([commands.DRBDSETUP, "status", "--json"]))

    def state(self, minor: int) -> status.DrbdState | None:
        return self.states().get(minor)
