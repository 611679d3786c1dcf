"""``gnt-debug``: debugging commands (see gnt-debug(8)).

``delay`` runs a test opcode, ``iallocator`` a dry run of an instance
allocator (:mod:`ganeti.client.debug_iallocator`), ``submit-job``
submits opcodes read from JSON files, ``locks`` shows the master
daemon's locks, ``confd`` asks ganeti-confd (:mod:`ganeti.confd.shell`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ganeti import cli, errors, opcodes
from ganeti.client import debug_iallocator
from ganeti.confd import shell as confd_shell

NO_MASTER_OPT: Final = cli.cli_option(
    "--no-master", dest="on_master", action="store_false", default=True,
    help="Do not sleep in the master code")
DELAY_NODES_OPT: Final = cli.cli_option(
    "-n", dest="on_nodes", action="append", default=[], metavar="NODE",
    help="Select nodes to sleep on (may be repeated)")
REPEAT_OPT: Final = cli.cli_option(
    "-r", "--repeat", dest="repeat", type=int, default=0, metavar="N",
    help="Number of times to repeat the sleep")
NO_LOCKS_OPT: Final = cli.cli_option(
    "--no-locks", dest="no_locks", action="store_true", default=False,
    help="Do not lock the nodes given with -n while sleeping")
TIMING_STATS_OPT: Final = cli.cli_option(
    "--timing-stats", dest="timing_stats", action="store_true",
    default=False, help="Show timing statistics")
JOB_REPEAT_OPT: Final = cli.cli_option(
    "--job-repeat", dest="rep_job", type=int, default=1, metavar="N",
    help="Repeat the job this number of times")
OP_REPEAT_OPT: Final = cli.cli_option(
    "--op-repeat", dest="rep_op", type=int, default=1, metavar="N",
    help="Repeat the opcode sequence this number of times")
INTERVAL_OPT: Final = cli.cli_option(
    "--interval", dest="interval", type=int, default=None, metavar="SECONDS",
    help="Repeat the listing every this many seconds (until interrupted)")


def delay(opts: argparse.Namespace, args: list[str]) -> int:
    """Run a test delay on the master and/or nodes (as Ganeti: the nodes
    named with ``-n`` are locked while their delay runs)."""
    try:
        duration = float(args[0])
    except ValueError:
        raise errors.UsageError(
            f"Invalid duration '{args[0]}': not a number") from None
    if opts.repeat < 0:
        raise errors.UsageError("The repeat count must not be negative")
    op = opcodes.OpTestDelay(duration=duration, on_master=opts.on_master,
                             on_nodes=list(opts.on_nodes),
                             repeat=opts.repeat,
                             no_locks=opts.no_locks or not opts.on_nodes)
    try:
        op.validate()
    except errors.GenericError as err:
        raise errors.UsageError(str(err)) from None
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


class OpFileError(Exception):
    """An opcode file can not be used; carries a one-line reason."""


def load_opcode_file(path: str) -> list[dict[str, Any]]:
    """The opcodes of one ``submit-job`` file: a JSON list of opcode
    dictionaries, each checked here so a typo is reported before anything
    is submitted."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise OpFileError(f"Can't read {path}: {err.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OpFileError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, list) or not data:
        raise OpFileError(f"{path}: expected a non-empty JSON list of opcodes")
    ops = []
    for index, item in enumerate(data):
        try:
            op = opcodes.OpCode.load(item)
            op.validate()
            ops.append(op.to_dict())
        except errors.GenericError as err:
            raise OpFileError(f"{path}: opcode {index}: {err}") from None
    return ops


def submit_job(opts: argparse.Namespace, args: list[str]) -> int:
    """Submit one job per file (times ``--job-repeat``, each with its
    opcodes repeated ``--op-repeat`` times) and wait for all of them."""
    if opts.rep_job < 1 or opts.rep_op < 1:
        raise errors.UsageError("Repeat counts must be at least 1")
    try:
        job_ops = [load_opcode_file(path) * opts.rep_op for path in args]
    except OpFileError as err:
        cli.to_stderr(f"Error: {err}")
        return errors.EXIT_FAILURE
    jobs = [cli.job_opcodes(ops, opts) for ops in job_ops * opts.rep_job]
    cl = cli.get_client()
    t_start = time.monotonic()
    results = cl.submit_many_jobs(jobs)
    t_submitted = time.monotonic()
    job_ids = []
    code = errors.EXIT_SUCCESS
    for ok, value in results:
        if ok:
            job_ids.append(value)
        else:
            cli.to_stderr(f"Failed to submit job: {value}")
            code = errors.EXIT_FAILURE
    if opts.submit_only:
        for job_id in job_ids:
            cli.to_stdout(f"JobID: {job_id}")
        return code
    if opts.print_jobid:
        for job_id in job_ids:
            cli.to_stdout(str(job_id))
    if opts.verbose:
        cli.to_stdout("Submitted jobs " + ", ".join(str(j) for j in job_ids))
    quiet = None if opts.verbose else (lambda _entry: None)
    for job_id in job_ids:
        try:
            cli.poll_job(job_id, cl, quiet,
                         None if opts.verbose else (lambda _msg: None))
        except errors.GenericError as err:
            cli.to_stderr(f"Job {job_id} failed: {err}")
            code = errors.EXIT_FAILURE
        else:
            if opts.verbose:
                cli.to_stdout(f"Job {job_id}: success")
    t_end = time.monotonic()
    if opts.timing_stats:
        count = sum(len(ops) for ops in jobs)
        cli.to_stdout(f"Total: {count} opcodes in {len(jobs)} jobs")
        cli.to_stdout(f"Submit time: {t_submitted - t_start:.6f} s")
        cli.to_stdout(f"Exec time:   {t_end - t_submitted:.6f} s")
        cli.to_stdout(f"Total time:  {t_end - t_start:.6f} s")
    return code


def _format_lock_value(field: str, value: Any) -> str:
    if value is None or value == []:
        return "-"
    if field == "owner":
        return ",".join(str(v) for v in value)
    if field == "pending":
        return " ".join(f"{mode}:{','.join(str(o) for o in owners)}"
                        for mode, owners in value)
    return str(value)


def list_locks(opts: argparse.Namespace, args: list[str]) -> int:
    """Show the master daemon's locks: name, mode, owners, waiters."""
    from ganeti import query  # the field table; only this command needs it

    table = query.LOCK_FIELDS
    if opts.output == cli.FIELDS_HELP:
        return cli.print_field_help(table.help_rows(), opts)
    fields = cli.parse_fields(opts.output, table.default)
    table.resolve(fields)
    if opts.interval is not None and opts.interval < 1:
        raise errors.UsageError("The interval must be at least 1 second")
    cl = cli.get_client()
    while True:
        rows = cl.query_locks(fields)
        cells = [[_format_lock_value(f, v)
                  for f, v in zip(fields, row, strict=True)] for row in rows]
        headers = None if opts.no_headers else {
            name: fdef.title for name, fdef in table.fields.items()}
        for line in cli.generate_table(headers, fields, cells,
                                       separator=opts.separator):
            cli.to_stdout(line)
        if opts.interval is None:
            return errors.EXIT_SUCCESS
        cli.to_stdout("")
        time.sleep(opts.interval)


COMMANDS: Final[dict[str, cli.Command]] = {
    "delay": cli.Command(
        delay, cli.args_fixed(1, "duration"),
        (NO_MASTER_OPT, DELAY_NODES_OPT, REPEAT_OPT, NO_LOCKS_OPT,
         cli.SUBMIT_OPT),
        "[--no-master] [-n NODE...] [-r N] [--submit] <duration>",
        "Executes a TestDelay OpCode"),
    "submit-job": cli.Command(
        submit_job, cli.args_atleast(1, "opcodes_file", cli.ARG_FILE),
        (cli.VERBOSE_OPT, TIMING_STATS_OPT, JOB_REPEAT_OPT, OP_REPEAT_OPT,
         cli.SUBMIT_OPT),
        "[--verbose] [--timing-stats] [--job-repeat N] [--op-repeat N]"
        " [--submit] <opcodes_file>...",
        "Submits jobs built from files in JSON format, each a list of"
        " opcodes"),
    "locks": cli.Command(
        list_locks, cli.ARGS_NONE,
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.FIELDS_OPT, INTERVAL_OPT),
        "[--no-headers] [--separator=SEPARATOR] [-o [+]FIELD,...]"
        " [--interval=SECONDS]",
        "Show a list of locks in the master daemon (the fields: -o help)"),
    "iallocator": debug_iallocator.COMMAND,
    "confd": cli.Command(
        confd_shell.confd, cli.args_atleast(1, "query_type"),
        confd_shell.OPTIONS,
        "[--node NODE...] [--port PORT] [--timeout SECONDS] [--link LINK]"
        " [--fields FIELD,...] [--json] [-v] <type> [<argument>...]",
        "Queries ganeti-confd on the master candidates; types: "
        + ", ".join(confd_shell.TYPES)),
}


def commands() -> Mapping[str, cli.Command]:
    """The subcommands."""
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gnt-debug`` launcher."""
    return cli.GenericMain(commands(), sys.argv if argv is None else argv)
