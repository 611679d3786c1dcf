"""The shared layer of the ``gnt-*`` commands.

Each command module declares a table of subcommands (:class:`Command`:
function, positional argument spec, options, usage, description) and hands
it to :func:`GenericMain`, which does what every ``gnt-*`` program does the
same way, following Ganeti's conventions:

- ``gnt-X --version`` prints ``gnt-X (ganeti) 2.1.0``, the 2.1 format.
- ``gnt-X`` with no or an unknown subcommand prints the command list and
  exits 1 (Ganeti returns ``EXIT_FAILURE`` there, and also when the number
  of arguments is wrong); an option the parser cannot accept exits 2, as
  Ganeti's option parser does (:data:`errors.EXIT_USAGE`).
- Errors of the :mod:`ganeti.errors` tree become Ganeti's one-line (or
  two-line) ``Failure: ...`` messages on stderr, with the exit code from
  :data:`errors.EXIT_CODES`; anything else is a bug: ``Unhandled
  exception`` plus a hint, exit 1, and the traceback with ``--debug``.

The common options are defined once here (``DEBUG_OPT``, ``FORCE_OPT``,
...) with Ganeti's names, flags and destinations; command modules list the
ones they take.  :func:`generate_table` produces the aligned list output.

The job layer (:func:`submit_opcode`, :func:`poll_job`) is how every
command that changes something talks to the master daemon: it submits a
job over LUXI (the socket is found through :mod:`ganeti.pathutils`, so
``GANETI_ROOTDIR`` relocates it), then long-polls the job with
``WaitForJobChange``, printing its log messages as they arrive, and
returns the opcode results or raises the job's error.  With ``--submit``
it stops after the submission and the command prints ``JobID: N``.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TextIO

from ganeti import cli_format as _format
from ganeti import constants, errors

# The formatting helpers live in ganeti.cli_format; the commands use them
# as cli.X.
format_unit = _format.format_unit
generate_table = _format.generate_table
parse_fields = _format.parse_fields
parse_timespec = _format.parse_timespec

if TYPE_CHECKING:
    from ganeti import luxi

# Start-up time matters here (every gnt-* command imports this module), so
# what only some paths need is imported where it is used: ganeti.luxi when
# a command talks to the master, ganeti.utils.text for key/value and size
# options, textwrap for the usage listing, traceback for --debug.

#: What a subcommand function receives and returns (an exit code).
CommandFunc = Callable[[argparse.Namespace, list[str]], int | None]


# --- Positional arguments ----------------------------------------------------

#: Argument kinds: what a positional argument names (shell completion
#: offers the cluster's instances, nodes, OSes or jobs for them).
ARG_UNKNOWN: Final = "unknown"
ARG_INSTANCE: Final = "instance"
ARG_NODE: Final = "node"
ARG_GROUP: Final = "group"
ARG_OS: Final = "os"
ARG_JOB: Final = "job"
ARG_FILE: Final = "file"
#: A command line to run elsewhere (``gnt-cluster command``): options are
#: read only before it, so that its own options reach it untouched.
ARG_COMMAND: Final = "command"
ARG_KINDS: Final = frozenset([ARG_UNKNOWN, ARG_INSTANCE, ARG_NODE, ARG_OS,
                              ARG_JOB, ARG_FILE, ARG_COMMAND, ARG_GROUP])


@dataclass(frozen=True)
class ArgSpec:
    """How many positional arguments a subcommand takes, and what they are.

    ``max=None`` means no upper bound; ``name`` is what the usage line
    calls one argument; ``kind`` (one of :data:`ARG_KINDS`) what it names,
    and ``choices`` the fixed words it may be.
    """

    min: int = 0
    max: int | None = None
    name: str = "argument"
    kind: str = ARG_UNKNOWN
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ARG_KINDS:
            raise errors.ProgrammerError(f"Unknown argument kind {self.kind!r}")

    def check(self, command: str, count: int) -> str | None:
        """The error line for ``count`` arguments, or None when it fits."""
        if self.max == 0 and count:
            return f"Error: Command {command} expects no arguments"
        if self.min == self.max and count != self.min:
            return f"Error: Command {command} expects {self.min} argument(s)"
        if count < self.min:
            return (f"Error: Command {command} expects at least {self.min}"
                    " argument(s)")
        if self.max is not None and count > self.max:
            return (f"Error: Command {command} expects at most {self.max}"
                    " argument(s)")
        return None


ARGS_NONE: Final = ArgSpec(0, 0)
ARGS_ONE: Final = ArgSpec(1, 1)
ARGS_ANY: Final = ArgSpec(0, None)
ARGS_MANY_INSTANCES: Final = ArgSpec(0, None, "instance", ARG_INSTANCE)
ARGS_MANY_NODES: Final = ArgSpec(0, None, "node", ARG_NODE)
ARGS_MANY_OS: Final = ArgSpec(0, None, "os", ARG_OS)


def args_fixed(count: int, name: str = "argument",
               kind: str = ARG_UNKNOWN) -> ArgSpec:
    """Exactly ``count`` arguments."""
    return ArgSpec(count, count, name, kind)


def args_atleast(count: int, name: str = "argument",
                 kind: str = ARG_UNKNOWN) -> ArgSpec:
    """``count`` or more arguments."""
    return ArgSpec(count, None, name, kind)


# --- Options -------------------------------------------------------------------

#: The first word of an option's metavar -> what its value names.
_METAVAR_KINDS: Final = {"NODE": ARG_NODE, "OS": ARG_OS, "GROUP": ARG_GROUP,
                         "INSTANCE": ARG_INSTANCE, "FILE": ARG_FILE,
                         "PATH": ARG_FILE, "DIR": ARG_FILE}


@dataclass(frozen=True)
class CliOption:
    """One option: its flags and the argparse keywords that define it."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any]

    @property
    def dest(self) -> str:
        explicit = self.kwargs.get("dest")
        if explicit:
            return str(explicit)
        # argparse's rule: the first long flag, else the first flag.
        flag = next((f for f in self.flags if f.startswith("--")),
                    self.flags[0])
        return flag.lstrip("-").replace("-", "_")

    @property
    def takes_value(self) -> bool:
        """Whether the option is followed by a value (not a flag)."""
        return self.kwargs.get("action", "store") in ("store", "append")

    @property
    def value_kind(self) -> str:
        """What the value names (an ``ARG_*`` kind), for completion:
        read from the metavar (``NODE``, ``OS[+VARIANT]``, ``FILE``...)."""
        word = str(self.kwargs.get("metavar") or "")
        word = word[:len(word) - len(word.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))]
        return _METAVAR_KINDS.get(word, ARG_UNKNOWN)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **dict(self.kwargs))


def cli_option(*flags: str, **kwargs: Any) -> CliOption:
    """Declare an option (same keywords as ``add_argument``)."""
    if not flags or not all(f.startswith("-") for f in flags):
        raise errors.ProgrammerError(f"Invalid option flags {flags!r}")
    return CliOption(tuple(flags), kwargs)


def _split_key_val(option: str, data: str) -> dict[str, Any]:
    """``key=val,key=val`` to a dict, as Ganeti's key/value options do
    (see :func:`ganeti.utils.text.parse_key_values`)."""
    from ganeti.utils import text

    try:
        return dict(text.parse_key_values(data))
    except errors.ParameterError as err:
        raise errors.ParameterError(f"option {option}: {err}") from None


def keyval(option: str) -> Callable[[str], dict[str, Any]]:
    """argparse ``type=`` for ``key=val,...`` options such as ``-B``."""
    def convert(value: str) -> dict[str, Any]:
        try:
            return _split_key_val(option, value)
        except errors.ParameterError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
    return convert


def ident_keyval(option: str) -> Callable[[str], tuple[str, dict[str, Any]]]:
    """argparse ``type=`` for ``ident:key=val,...`` options (``-H kvm:...``,
    ``--disk 0:size=10G``)."""
    def convert(value: str) -> tuple[str, dict[str, Any]]:
        ident, _, rest = value.partition(":")
        if not ident:
            raise argparse.ArgumentTypeError(
                f"option {option}: missing identifier in {value!r}")
        try:
            return ident, _split_key_val(option, rest)
        except errors.ParameterError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
    return convert


def param_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Key/value option values for an opcode: ``-key`` (None, "back to
    the default") becomes ``default``."""
    return {k: constants.VALUE_DEFAULT if v is None else v
            for k, v in (values or {}).items()}


def unit(value: str) -> int:
    """argparse ``type=`` for sizes (``512``, ``10G``): MiB."""
    from ganeti.utils import text

    try:
        return text.parse_unit(value)
    except errors.UnitParseError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


DEBUG_OPT: Final = cli_option(
    "-d", "--debug", dest="debug", action="count", default=0,
    help="Turn debugging on (repeat for more)")
NOHDR_OPT: Final = cli_option(
    "--no-headers", dest="no_headers", action="store_true", default=False,
    help="Don't display column headers")
SEP_OPT: Final = cli_option(
    "--separator", dest="separator", default=None,
    help="Separator between output fields (defaults to one space)")
USEUNITS_OPT: Final = cli_option(
    "--units", dest="units", default=None, choices=("h", "m", "g", "t"),
    help="Specify units for output (one of h/m/g/t)")
#: ``-o help``: list the fields instead of the items.
FIELDS_HELP: Final = "help"
FIELDS_OPT: Final = cli_option(
    "-o", "--output", dest="output", default=None, metavar="FIELDS",
    help="Comma separated list of output fields ('help' lists them)")
FORCE_OPT: Final = cli_option(
    "-f", "--force", dest="force", action="store_true", default=False,
    help="Force the operation")
CONFIRM_OPT: Final = cli_option(
    "--yes", dest="confirm", action="store_true", default=False,
    help="Do not require confirmation")
TAG_SRC_OPT: Final = cli_option(
    "--from", dest="tags_source", default=None, metavar="FILE",
    help="File with tag names (- for stdin)")
SUBMIT_OPT: Final = cli_option(
    "--submit", dest="submit_only", action="store_true", default=False,
    help="Submit the job and return the job ID, but don't wait for the job"
    " to finish")
#: ``--priority`` names -> opcode priorities (Ganeti's CLI map; the
#: opcode field takes -20..19, lower runs first).
PRIORITY_NAMES: Final[Mapping[str, int]] = {
    "low": constants.OP_PRIO_LOW,
    "normal": constants.OP_PRIO_NORMAL,
    "high": constants.OP_PRIO_HIGH,
}
PRIORITY_OPT: Final = cli_option(
    "--priority", dest="priority", default=None,
    choices=tuple(PRIORITY_NAMES), metavar="|".join(PRIORITY_NAMES),
    help="Priority for opcode processing")
PRINT_JOBID_OPT: Final = cli_option(
    "--print-jobid", dest="print_jobid", action="store_true", default=False,
    help="Additionally print the job as first line on stdout (for"
    " scripting)")
#: What every command that submits a job takes; a command listing
#: :data:`SUBMIT_OPT` gets the other two as well (see ``_build_parser``).
SUBMIT_OPTS: Final = (SUBMIT_OPT, PRINT_JOBID_OPT, PRIORITY_OPT)
SYNC_OPT: Final = cli_option(
    "--sync", dest="do_locking", action="store_true", default=False,
    help="Grab locks while doing the queries in order to ensure more"
    " consistent results")
DRY_RUN_OPT: Final = cli_option(
    "--dry-run", dest="dry_run", action="store_true", default=False,
    help="Do not execute the operation, just run the check steps and"
    " verify if it could be executed")
VERBOSE_OPT: Final = cli_option(
    "-v", "--verbose", dest="verbose", action="store_true", default=False,
    help="Increase the verbosity of the operation")
NODE_PARAMS_OPT: Final = cli_option(
    "--node-parameters", dest="ndparams", type=keyval("--node-parameters"),
    default=None, metavar="key=val,...",
    help="Node parameters (oob_program, spindle_count, exclusive_storage,"
    " ovs, ovs_name, ovs_link, ssh_port, cpu_speed)")
NODE_LIST_OPT: Final = cli_option(
    "-n", "--node", dest="nodes", action="append", default=[],
    metavar="NODE", help="Node to run on (may be repeated)")
NODE_PLACEMENT_OPT: Final = cli_option(
    "-n", "--node", dest="node", default=None, metavar="NODE[:SECONDARY]",
    help="Target node and optional secondary node")
TIMEOUT_OPT: Final = cli_option(
    "--timeout", dest="timeout", type=int,
    default=constants.DEFAULT_SHUTDOWN_TIMEOUT, metavar="SECONDS",
    help="Maximum time to wait")
SHUTDOWN_TIMEOUT_OPT: Final = cli_option(
    "--shutdown-timeout", dest="shutdown_timeout", type=int,
    default=constants.DEFAULT_SHUTDOWN_TIMEOUT, metavar="SECONDS",
    help="Maximum time to wait for instance shutdown")

IGNORE_IPOLICY_OPT: Final = cli_option(
    "--ignore-ipolicy", dest="ignore_ipolicy", action="store_true",
    default=False,
    help="Ignore the instance policy (a violation is only a warning)")

#: Options every subcommand takes.
COMMON_OPTS: Final = (DEBUG_OPT,)


def confirm(question: str, opts: argparse.Namespace | None = None) -> bool:
    """Whether to go on: ``-f`` (``opts.force``) says yes, otherwise the
    user answers ``y`` on a terminal; without a terminal it is no (with
    ``opts``, saying to use ``-f``; without, the caller says how)."""
    if opts is not None and getattr(opts, "force", False):
        return True
    if not sys.stdin.isatty():
        if opts is not None:
            to_stderr("Not confirmed (no terminal); use -f")
        return False
    return input(f"{question} y/[n]: ").strip().lower() in ("y", "yes")


def split_node_option(value: str | None) -> tuple[str | None, str | None]:
    """``pnode[:snode]`` of ``--node`` to ``(pnode, snode)``."""
    if not value:
        return value, None
    primary, _, secondary = value.partition(":")
    return primary, secondary or None


# --- Command tables ------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One row of a ``gnt-*`` command table."""

    func: CommandFunc
    args: ArgSpec
    options: Sequence[CliOption] = ()
    usage: str = ""
    description: str = ""


CommandTable = Mapping[str, Command]


class JobSubmittedException(Exception):  # Ganeti's name, kept
    """Raised by ``--submit`` paths: not an error; prints the job id."""

    def __init__(self, job_id: int | str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@dataclass
class _Output:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


_streams = _Output()


def to_stdout(txt: str, *args: object) -> None:
    """Write one line to stdout (``%``-formatted when args are given)."""
    _write(_streams.out, txt, args)


def to_stdout_lines(lines: Iterable[str]) -> None:
    """Write lines to stdout with one flush: a listing of 10,000 rows
    flushed after each line spent a system call per row."""
    text = "\n".join(lines)
    if text:
        _write(_streams.out, text, ())


def to_stderr(txt: str, *args: object) -> None:
    """Write one line to stderr (``%``-formatted when args are given)."""
    _write(_streams.err, txt, args)


#: The exit status when the reader of stdout went away: what a shell
#: reports for a program killed by SIGPIPE (128 + 13).
EXIT_SIGPIPE: Final = 141


class _StdoutClosed(Exception):
    """Nobody reads stdout any more (``gnt-instance list | head -1``)."""


def _write(stream: TextIO, txt: str, args: tuple[object, ...]) -> None:
    try:
        stream.write((txt % args if args else txt) + "\n")
        stream.flush()
    except BrokenPipeError:
        if stream is _streams.out:
            raise _StdoutClosed from None
        raise


def _drop_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so that the interpreter's
    final flush of what is still buffered does not fail again."""
    try:
        fd = _streams.out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def format_usage(binary: str, commands: CommandTable) -> list[str]:
    """The command list printed when the subcommand is missing or unknown."""
    import textwrap

    lines = [f"Usage: {binary} {{command}} [options...] [argument...]",
             f"{binary} <command> --help to see details, or man {binary}",
             "", "Commands:"]
    width = min(60, max((len(f" {name}") for name in commands), default=0))
    for name in sorted(commands):
        wrapped = textwrap.wrap(commands[name].description,
                                max(20, 79 - 3 - width)) or [""]
        lines.append(f"{f' {name}':<{width}} - {wrapped[0]}".rstrip())
        lines.extend(f"{'':<{width}}   {line}" for line in wrapped[1:])
    lines.append("")
    return lines


def _print_usage(binary: str, commands: CommandTable) -> None:
    for line in format_usage(binary, commands):
        to_stdout(line)


def version_line(binary: str) -> str:
    """What ``--version`` prints: Ganeti 2.1's ``NAME (ganeti) VERSION``."""
    return f"{binary} (ganeti) {constants.RELEASE_VERSION}"


class _UsageExit(Exception):
    """Stop after printing usage or version; carries the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, the width argparse wraps
    to, without importing shutil (and the compression modules it
    imports): ``$COLUMNS``, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:  # no sys.__stdout__ (None) is the AttributeError, as in shutil
            columns = os.get_terminal_size(
                sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, which every parser builds (it checks each
    option as it is added), with the same default width found cheaply."""

    def __init__(self, prog: str, indent_increment: int = 2,
                 max_help_position: int = 24, width: int | None = None
                 ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def command_options(cmd: Command) -> list[CliOption]:
    """Every option of a subcommand: the common ones, its own, and, for a
    command that takes ``--submit``, the rest of :data:`SUBMIT_OPTS`;
    the first option of each ``dest`` wins."""
    options = [*COMMON_OPTS, *cmd.options]
    if SUBMIT_OPT in options:
        options.extend(SUBMIT_OPTS)
    seen: set[str] = set()
    result = []
    for opt in options:
        if opt.dest not in seen:
            seen.add(opt.dest)
            result.append(opt)
    return result


def _build_parser(binary: str, name: str, cmd: Command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{binary} {name}",
        usage=f"%(prog)s {cmd.usage}".rstrip(),
        description=cmd.description or None,
        formatter_class=_HelpFormatter,
        allow_abbrev=False)
    for opt in command_options(cmd):
        opt.add_to(parser)
    if cmd.args.kind == ARG_COMMAND:
        # The arguments are a command line: options are read only before
        # it, so "gnt-cluster command ls -l" passes "-l" to the command.
        parser.add_argument("args", nargs=argparse.REMAINDER,
                            help=argparse.SUPPRESS)
    else:
        parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def split_double_dash(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The words before the first ``--`` (options and arguments mixed)
    and those after it (arguments only, even when they start with ``-``)."""
    words = list(argv)
    if "--" not in words:
        return words, []
    cut = words.index("--")
    return words[:cut], words[cut + 1:]


def parse_args(binary: str, commands: CommandTable, argv: Sequence[str],
               aliases: Mapping[str, str] | None = None,
               ) -> tuple[Command, argparse.Namespace, list[str]]:
    """Find the subcommand and parse its options and arguments.

    ``argv`` excludes the program name.  Options may come before, between
    or after the arguments (``gnt-instance info web1 --static``); a
    ``--`` ends the options, and for a command line argument
    (:data:`ARG_COMMAND`) so does the first argument.  Raises
    :class:`_UsageExit` with the exit code after printing what the user
    needs to see.
    """
    aliases = aliases or {}
    for alias, target in aliases.items():
        if alias in commands or target not in commands:
            raise errors.ProgrammerError(
                f"Alias '{alias}' clashes or maps to unknown '{target}'")
    if argv and argv[0] == "--version":
        to_stdout(version_line(binary))
        raise _UsageExit(errors.EXIT_SUCCESS)
    if not argv:
        _print_usage(binary, commands)
        raise _UsageExit(errors.EXIT_FAILURE)
    if argv[0] not in commands and argv[0] not in aliases:
        to_stderr(f"Error: unknown command '{argv[0]}'")
        _print_usage(binary, commands)
        raise _UsageExit(errors.EXIT_FAILURE)
    name = aliases.get(argv[0], argv[0])
    cmd = commands[name]
    parser = _build_parser(binary, name, cmd)
    words = list(argv[1:])
    literal: list[str] = []
    try:
        # argparse prints help and errors itself, to sys.stdout/stderr.
        with (contextlib.redirect_stdout(_streams.out),
              contextlib.redirect_stderr(_streams.err)):
            if cmd.args.kind == ARG_COMMAND:
                options = parser.parse_args(words)
            else:
                words, literal = split_double_dash(words)
                options = parser.parse_intermixed_args(words)
    except SystemExit as exc:  # --help (0) or a bad option (2)
        code = exc.code if isinstance(exc.code, int) else errors.EXIT_USAGE
        raise _UsageExit(code) from None
    args: list[str] = [*(options.args or []), *literal]
    del options.args
    if cmd.args.kind == ARG_COMMAND and args and args[0] == "--":
        args = args[1:]
    problem = cmd.args.check(name, len(args))
    if problem:
        to_stderr(problem)
        raise _UsageExit(errors.EXIT_FAILURE)
    return cmd, options, args


# --- Errors ----------------------------------------------------------------------

def format_error(err: BaseException) -> tuple[int, str]:
    """Exit code and message (no trailing newline) for a failed command.

    The wording is Ganeti's, so users and their scripts see what they know.
    """
    if isinstance(err, JobSubmittedException):
        return errors.EXIT_SUCCESS, f"JobID: {err.job_id}"
    if not isinstance(err, errors.GenericError):
        return (errors.EXIT_FAILURE,
                f"Unhandled exception: {type(err).__name__}: {err}")
    return err.exit_code, _error_text(err)


def _error_text(err: errors.GenericError) -> str:
    msg = err.message
    if isinstance(err, errors.UsageError):  # a bad command line: one line
        return f"Error: {msg}"
    if isinstance(err, errors.ConfigurationError):
        return f"Corrupt configuration file: {msg}\nAborting."
    if isinstance(err, errors.HooksAbort):
        return _hooks_abort_text(err)
    if isinstance(err, errors.HooksFailure):
        return f"Failure: hooks general failure: {msg}"
    if isinstance(err, errors.ResolverError) and "hostname" in err.details:
        return f"Failure: can't resolve hostname '{err.details['hostname']}'"
    if isinstance(err, errors.TagError):
        return f"Failure: invalid tag(s) given:\n{msg}"
    if isinstance(err, errors.TypeEnforcementError):
        return f"Parameter Error: {msg}"
    if isinstance(err, errors.ParameterError) and "parameter" in err.details:
        return ("Failure: unknown/wrong parameter name"
                f" '{err.details['parameter']}'")
    if isinstance(err, errors.JobQueueDrainError):
        return ("Failure: the job queue is marked for drain and doesn't"
                " accept new requests")
    if isinstance(err, errors.JobQueueFull):
        return ("Failure: the job queue is full and doesn't accept new job"
                " submissions until old jobs are archived")
    if isinstance(err, (errors.OpPrereqError, errors.NotClusterError,
                        errors.NotMasterError)):
        return f"Failure: prerequisites not met for this operation:\n{msg}"
    if isinstance(err, errors.OpExecError):
        return f"Failure: command execution error:\n{msg}"
    if isinstance(err, errors.LuxiError):
        return ("Cannot communicate with the master daemon.\nIs it running"
                " and listening for connections?")
    if isinstance(err, errors.TimeoutError):
        return f"Timeout while talking to the master daemon. Error:\n{msg}"
    if isinstance(err, errors.ProtocolError):
        return ("Unhandled protocol error while talking to the master"
                f" daemon:\n{msg}")
    return f"Unhandled Ganeti error: {msg}"


def _hooks_abort_text(err: errors.HooksAbort) -> str:
    lines = ["Failure: hooks execution failed:"]
    results = err.details.get("results") or []
    for node, script, output in results:
        if output:
            lines.append(f"  node: {node}, script: {script}, output: {output}")
        else:
            lines.append(f"  node: {node}, script: {script} (no output)")
    if not results and err.message:
        lines.append(f"  {err.message}")
    return "\n".join(lines)


def GenericMain(commands: CommandTable,  # Ganeti's name, kept
                argv: Sequence[str] | None = None,
                aliases: Mapping[str, str] | None = None,
                stdout: TextIO | None = None,
                stderr: TextIO | None = None) -> int:
    """Run one ``gnt-*`` invocation; returns the process exit code.

    ``argv`` is the whole command line (``sys.argv`` by default): its first
    element names the program in messages.
    """
    argv = list(sys.argv if argv is None else argv)
    binary = os.path.basename(argv[0]) if argv and argv[0] else "<command>"
    saved = (_streams.out, _streams.err)
    _streams.out = stdout or sys.stdout
    _streams.err = stderr or sys.stderr
    try:
        try:
            cmd, options, args = parse_args(binary, commands, argv[1:],
                                            aliases)
        except _UsageExit as stop:
            return stop.code
        return _run(cmd, options, args)
    except _StdoutClosed:
        # As a program killed by SIGPIPE would: quietly, without the rest
        # of the output.  (SIGPIPE itself stays ignored, so that a closed
        # master socket is an error the command reports.)
        _drop_stdout()
        return EXIT_SIGPIPE
    finally:
        _streams.out, _streams.err = saved


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


def _run(cmd: Command, options: argparse.Namespace, args: list[str]) -> int:
    token = _job_options.set(options)
    try:
        return _run_command(cmd, options, args)
    finally:
        _job_options.reset(token)


def _run_command(cmd: Command, options: argparse.Namespace,
                 args: list[str]) -> int:
    try:
        result = cmd.func(options, args)
    except _StdoutClosed:
        raise
    except KeyboardInterrupt:
        to_stderr("Aborted. Note that if the operation created any jobs,"
                  " they might have been submitted and will continue to run"
                  " in the background.")
        return errors.EXIT_FAILURE
    except (errors.GenericError, JobSubmittedException) as err:
        code, text = format_error(err)
        if options.debug and not isinstance(err, JobSubmittedException):
            _streams.err.write(_traceback())
        (to_stdout if code == errors.EXIT_SUCCESS else to_stderr)(text)
        return code
    except Exception as err:  # a bug: say so in one line, details on request
        code, text = format_error(err)
        if options.debug:
            _streams.err.write(_traceback())
        to_stderr(text)
        if not options.debug:
            to_stderr("(run the command again with --debug to see the"
                      " traceback)")
        return code
    return errors.EXIT_SUCCESS if result is None else int(result)


# --- Field lists ------------------------------------------------------------------

#: The columns of ``list-fields`` and ``-o help`` (Ganeti's).
FIELD_HELP_HEADERS: Final = {"name": "Name", "kind": "Type", "title": "Title",
                             "doc": "Description"}


def print_field_help(rows: Iterable[Sequence[str]],
                     opts: argparse.Namespace) -> int:
    """Print ``(name, kind, title, description)`` rows as ``list-fields``
    does (``--no-headers`` and ``--separator`` apply)."""
    headers = None if opts.no_headers else FIELD_HELP_HEADERS
    for line in generate_table(headers, list(FIELD_HELP_HEADERS), rows,
                               separator=opts.separator):
        to_stdout(line)
    return errors.EXIT_SUCCESS


def list_fields_command(get_table: Callable[[], Any], what: str) -> Command:
    """The ``list-fields [field...]`` subcommand of a list command;
    ``get_table()`` returns its :class:`ganeti.query.FieldTable`."""
    def list_fields(opts: argparse.Namespace, args: list[str]) -> int:
        return print_field_help(get_table().help_rows(args), opts)
    return Command(list_fields, ArgSpec(0, None, "field"),
                   (NOHDR_OPT, SEP_OPT),
                   "[--no-headers] [--separator=SEPARATOR] [field...]",
                   f"Lists all available fields for {what}")


# --- Talking to the master daemon ------------------------------------------------

def get_client() -> luxi.Client:
    """A LUXI client for this node's master socket (root-relocatable)."""
    from ganeti import luxi

    return luxi.Client()


def format_timestamp(ts: Any) -> str:
    """A ``[seconds, microseconds]`` pair as local ``YYYY-MM-DD HH:MM:SS.uuuuuu``
    (Ganeti's format); ``?`` when the value is not such a pair."""
    if (not isinstance(ts, (list, tuple)) or len(ts) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool)
                       for v in ts)):
        return "?"
    seconds, micro = ts
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + \
        f".{micro:06d}"


def merge_timestamp(ts: Sequence[int]) -> float:
    """``[seconds, microseconds]`` as float seconds."""
    return ts[0] + ts[1] / 1000000.0


def format_log_message(kind: str, message: Any) -> str:
    """The text of one job log entry: messages as they are, other kinds
    (progress data) as their string form."""
    if kind == constants.ELOG_MESSAGE:
        return str(message)
    return f"{kind}: {message}"


#: Receives each new job log entry ``[serial, [sec, usec], kind, message]``.
FeedbackFn = Callable[[Sequence[Any]], None]


def print_log_entry(entry: Sequence[Any]) -> None:
    """Default feedback: ``<time.ctime> <message>`` on stdout, as Ganeti."""
    _serial, ts, kind, message = entry
    to_stdout("%s %s", time.ctime(merge_timestamp(ts)),
              format_log_message(kind, message))


#: What ``WaitForJobChange`` answers after its timeout without a change
#: (the queue's ``JOB_NOTCHANGED``; not imported to keep the CLI light).
JOB_NOTCHANGED: Final = "nochange"

_PENDING_NOTICES: Final = {
    constants.JOB_STATUS_QUEUED: "Job {id} is waiting in queue",
    constants.JOB_STATUS_WAITING:
        "Job {id} is trying to acquire all necessary locks",
}


def _is_encoded_error(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], (list, tuple)))


def job_outcome(job_id: int | str, status: str, opstatus: Sequence[str],
                opresult: Sequence[Any]) -> list[Any]:
    """The opcode results of a finished job, or raise why it failed.

    A canceled job is an :class:`~errors.OpExecError` saying so; a failed
    opcode's encoded error is raised as itself (so the exit code and the
    message are the master's), prefixed with a note when earlier opcodes of
    the job had succeeded.
    """
    if status == constants.JOB_STATUS_SUCCESS:
        return list(opresult)
    if status in (constants.JOB_STATUS_CANCELING,
                  constants.JOB_STATUS_CANCELED):
        raise errors.OpExecError(f"Job {job_id} was canceled")
    some_ok = False
    for index, (op_status, result) in enumerate(
            zip(opstatus, opresult, strict=False)):
        if op_status == constants.OP_STATUS_SUCCESS:
            some_ok = True
            continue
        if op_status != constants.OP_STATUS_ERROR:
            continue
        err = (errors.decode(result) if _is_encoded_error(result)
               else errors.OpExecError(str(result)))
        if some_ok:
            raise errors.OpExecError(
                f"Partial failure (opcode {index}): {err}", err.code)
        raise err
    raise errors.OpExecError(f"Job {job_id} ended with status {status}")


def poll_job(job_id: int | str, cl: luxi.Client | None = None,
             feedback_fn: FeedbackFn | None = None,
             notice_fn: Callable[[str], None] | None = None) -> list[Any]:
    """Follow a job until it ends; its opcode results, or raise its error.

    Each new log entry goes to ``feedback_fn`` (default: printed with its
    time, as Ganeti's CLI does).  When a whole long-poll passes without
    change while the job sits in the queue or waits for locks,
    ``notice_fn`` (default: stderr) is told so, once per state.
    An unknown job is :class:`~errors.JobLost`.
    """
    cl = cl or get_client()
    feedback = feedback_fn or print_log_entry
    notice = notice_fn or to_stderr
    prev_info: list[Any] | None = None
    prev_serial: int | None = None
    status: str | None = None
    noticed: set[str] = set()
    while True:
        try:
            result = cl.wait_for_job_change(int(job_id), ["status"],
                                            prev_info, prev_serial)
        except errors.OpPrereqError as err:
            if err.code == errors.ErrorCode.NOENT:
                raise errors.JobLost(f"Job with id {job_id} lost") from None
            raise
        if result is None:
            raise errors.JobLost(f"Job with id {job_id} lost")
        if result == JOB_NOTCHANGED:
            # A whole long-poll without change: say what the job waits for
            # (once per state), as Ganeti's client does.
            if status in _PENDING_NOTICES and status not in noticed:
                noticed.add(status)
                notice(_PENDING_NOTICES[status].format(id=job_id))
            continue
        info, log = result
        for entry in log:
            feedback(entry)
            prev_serial = max(prev_serial or 0, int(entry[0]))
        prev_info = info
        status = info[0]
        if status in (constants.JOB_STATUS_SUCCESS, constants.JOB_STATUS_ERROR,
                      constants.JOB_STATUS_CANCELED):
            break
    rows = cl.query_jobs([int(job_id)], ["status", "opstatus", "opresult"])
    if not rows or rows[0] is None:
        raise errors.JobLost(f"Job with id {job_id} lost")
    final_status, opstatus, opresult = rows[0]
    return job_outcome(job_id, final_status, opstatus, opresult)


def _op_dicts(op: Any) -> list[dict[str, Any]]:
    ops = op if isinstance(op, (list, tuple)) else [op]
    out = []
    for one in ops:
        if isinstance(one, dict):
            out.append(one)
        elif hasattr(one, "to_dict"):
            out.append(one.to_dict())
        else:
            raise errors.ProgrammerError(f"Not an opcode: {one!r:.60}")
    return out


#: The options of the running command: :func:`send_job` reads its
#: ``--priority`` and ``--print-jobid`` from here when not given ``opts``,
#: so that every job a command submits honours them.
_job_options: contextvars.ContextVar[argparse.Namespace | None] = (
    contextvars.ContextVar("job_options", default=None))


def priority_value(name: str) -> int:
    """The opcode priority of a ``--priority`` name."""
    try:
        return PRIORITY_NAMES[name]
    except KeyError:
        raise errors.UsageError(
            f"Unknown priority '{name}' (choose from "
            f"{', '.join(PRIORITY_NAMES)})") from None


def send_job(op: Any, cl: luxi.Client | None = None,
             opts: argparse.Namespace | None = None) -> int:
    """Submit one job (an opcode or a list of opcodes) and return its id
    (Ganeti's ``SendJob``): ``--priority`` sets the priority of every
    opcode, ``--print-jobid`` prints the id as a line of its own."""
    cl = cl or get_client()
    opts = opts if opts is not None else _job_options.get()
    job_id = cl.submit_job(job_opcodes(op, opts))
    if getattr(opts, "print_jobid", False):
        to_stdout(str(job_id))
    return job_id


def job_opcodes(op: Any, opts: argparse.Namespace | None = None
                ) -> list[dict[str, Any]]:
    """The opcode dicts of one job, with ``--priority`` (from ``opts`` or
    the running command's options) applied to each."""
    opts = opts if opts is not None else _job_options.get()
    ops = _op_dicts(op)
    name = getattr(opts, "priority", None)
    if name is None:
        return ops
    value = priority_value(name)
    return [{**one, "priority": value} for one in ops]


def submit_opcode(op: Any, cl: luxi.Client | None = None,
                  feedback_fn: FeedbackFn | None = None,
                  opts: argparse.Namespace | None = None) -> Any:
    """Run one opcode (or a list of opcodes, as one job) on the master.

    Returns the opcode's result (a list of results for a list of opcodes).
    With ``--submit`` in ``opts`` it raises :class:`JobSubmittedException`
    right after the submission: the command prints the job id and exits 0.
    A failed job raises its error, which :func:`GenericMain` reports with
    Ganeti's text and exit code.
    """
    cl = cl or get_client()
    job_id = send_job(op, cl, opts)
    if opts is not None and getattr(opts, "submit_only", False):
        raise JobSubmittedException(job_id)
    results = poll_job(job_id, cl, feedback_fn)
    return results if isinstance(op, (list, tuple)) else results[0]
