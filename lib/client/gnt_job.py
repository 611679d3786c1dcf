"""``gnt-job``: examine and manipulate the job queue (see gnt-job(8)).

Every subcommand is a LUXI query or request to the master daemon; the
field names and titles are the job queue's (``ganeti.jqueue.model``),
which are Ganeti's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ganeti import cli, constants, errors, luxi, qlang

if TYPE_CHECKING:
    from ganeti import query

_TS_FIELDS: Final = frozenset(["received_ts", "start_ts", "end_ts"])
_TS_LIST_FIELDS: Final = frozenset(["opstart", "opexec", "opend"])
_LIST_FIELDS: Final = frozenset(["summary", "opstatus", "ops", "opresult",
                                 "oplog", "oppriority"])

#: The server waits this long at most in ``AutoArchiveJobs``; below the
#: LUXI read timeout so that the reply always arrives.
AUTOARCHIVE_TIMEOUT: Final = luxi.DEF_RW_TIMEOUT * 0.75


def parse_job_ids(args: Sequence[str]) -> list[int]:
    """Job ids from the command line; a non-number is a one-line error."""
    ids = []
    for arg in args:
        if not arg.isdigit() or int(arg) <= 0:
            raise errors.UsageError(f"Invalid job ID '{arg}'")
        ids.append(int(arg))
    return ids


def _format_value(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if field in _TS_FIELDS:
        return cli.format_timestamp(value)
    if field in _TS_LIST_FIELDS:
        return ",".join(cli.format_timestamp(v) for v in value)
    if field in _LIST_FIELDS and isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _job_fields() -> query.FieldTable:
    from ganeti import query  # the field table; only listings need it

    return query.JOB_FIELDS


FILTER_OPT: Final = cli.cli_option(
    "-F", "--filter", dest="force_filter", action="store_true", default=False,
    help="The arguments are a query filter, not job IDs (see 'Query "
         "filters' in gnt-job(8))")
#: Status selection options of ``gnt-job list``: dest -> statuses.
_STATUS_SELECTIONS: Final[dict[str, tuple[str, ...]]] = {
    "sel_running": (constants.JOB_STATUS_RUNNING,),
    "sel_pending": (constants.JOB_STATUS_QUEUED, constants.JOB_STATUS_WAITING),
    "sel_waiting": (constants.JOB_STATUS_WAITING,),
    "sel_error": (constants.JOB_STATUS_ERROR,),
    "sel_finished": (constants.JOB_STATUS_SUCCESS, constants.JOB_STATUS_ERROR,
                     constants.JOB_STATUS_CANCELED),
}
_STATUS_OPTS: Final = tuple(
    cli.cli_option(f"--{dest[4:]}", dest=dest, action="store_true",
                   default=False, help=f"Show only jobs that are "
                   f"{' or '.join(statuses)}")
    for dest, statuses in _STATUS_SELECTIONS.items())


def job_filter(opts: argparse.Namespace,
               args: list[str]) -> tuple[list[int] | None, Any]:
    """The job ids and the qlang filter that ``list``'s arguments and
    status options select (a filter is None when everything matches)."""
    statuses = [s for dest, sel in _STATUS_SELECTIONS.items()
                if getattr(opts, dest, False) for s in sel]
    by_status = None if not statuses else [
        qlang.OP_OR, *([qlang.OP_EQUAL, "status", s]
                       for s in dict.fromkeys(statuses))]
    ids: list[int] | None = None
    filt = None
    if opts.force_filter or (len(args) == 1 and
                             qlang.FILTER_DETECTION_CHARS.intersection(args[0])):
        filt = qlang.make_filter(args, True, namefield="id")
    else:
        ids = parse_job_ids(args) or None
    parts = [f for f in (filt, by_status) if f is not None]
    if len(parts) > 1:
        return ids, [qlang.OP_AND, *parts]
    return ids, parts[0] if parts else None


def list_jobs(opts: argparse.Namespace, args: list[str]) -> int:
    """Print one line per job (all jobs, or the ids given, or those a
    filter selects)."""
    from ganeti import query

    table = _job_fields()
    if opts.output == cli.FIELDS_HELP:
        return cli.print_field_help(table.help_rows(), opts)
    fields = cli.parse_fields(opts.output, table.default)
    table.resolve(fields)
    ids, filt = job_filter(opts, args)
    predicate = query.compile_filter_for(table, filt)
    wanted = fields + [f for f in (qlang.referenced_fields(filt)
                                   if filt is not None else [])
                       if f not in fields]
    rows = [row for row in cli.get_client().query_jobs(ids, wanted)
            if row is not None
            and predicate(dict(zip(wanted, row, strict=True)).get)]
    cells = [[_format_value(f, v) for f, v in
              zip(fields, row[:len(fields)], strict=True)]
             for row in rows]
    headers = None if opts.no_headers else {
        name: fdef.title for name, fdef in table.fields.items()}
    for line in cli.generate_table(headers, fields, cells,
                                   separator=opts.separator,
                                   numfields=("id", "priority")):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


_INFO_FIELDS: Final = ["id", "ops", "status", "received_ts", "start_ts",
                       "end_ts", "opstatus", "oplog", "opstart", "opexec",
                       "opend", "opresult"]


def _delta(ts: Any, since: Any) -> str:
    if ts is None or since is None:
        return ""
    return (f" (delta {cli.merge_timestamp(ts) - cli.merge_timestamp(since):.6f}"
            "s)")


def format_job_info(job_id: int, row: list[Any] | None) -> list[str]:
    """The ``gnt-job info`` text of one job (Ganeti's layout)."""
    if row is None:
        return [f"Job ID: {job_id} not found"]
    (_id, ops, status, recv, start, end, opstatus, oplog, opstart, opexec,
     opend, opresult) = row
    lines = [f"Job ID: {job_id}", f"  Status: {status}",
             f"  Received:         {cli.format_timestamp(recv)}"]
    if start is None:
        lines.append("  Processing start: unknown (not started yet)")
    else:
        lines.append(f"  Processing start: {cli.format_timestamp(start)}"
                     f"{_delta(start, recv)}")
    if end is None:
        lines.append("  Processing end:   unknown (not finished yet)")
    else:
        lines.append(f"  Processing end:   {cli.format_timestamp(end)}"
                     f"{_delta(end, start)}")
    if start is not None and end is not None:
        total = cli.merge_timestamp(end) - cli.merge_timestamp(start)
        lines.append(f"  Total processing time: {total:.6f} seconds")
    lines.append("  Opcodes:")
    for op, st, log, o_start, o_exec, o_end, result in zip(
            ops, opstatus, oplog, opstart, opexec, opend, opresult,
            strict=False):
        lines.append(f"    {op.get('OP_ID', '?')}")
        lines.append(f"      Status: {st}")
        for label, ts in (("Processing start:", o_start),
                          ("Execution start: ", o_exec),
                          ("Processing end:  ", o_end)):
            text = "N/A" if ts is None else cli.format_timestamp(ts)
            lines.append(f"      {label} {text}")
        lines.append("      Input fields:")
        for key in sorted(k for k in op if k != "OP_ID"):
            lines.append(f"        {key}: {op[key]!r}")
        if result is None:
            lines.append("      No output data")
        elif isinstance(result, dict) and result:
            lines.append("      Result:")
            for key in sorted(result):
                lines.append(f"        {key}: {result[key]!r}")
        else:
            lines.append(f"      Result: {result!r}")
        lines.append("      Execution log:")
        for _serial, ts, kind, message in log:
            lines.append(f"        {cli.format_timestamp(ts)}:{kind}:"
                         f" {cli.format_log_message(kind, message)}")
    return lines


def show_jobs(opts: argparse.Namespace, args: list[str]) -> int:
    """Print everything about the given jobs (all jobs without ids)."""
    ids = parse_job_ids(args) or None
    cl = cli.get_client()
    if ids is None:
        ids = [row[0] for row in cl.query_jobs(None, ["id"]) if row]
    rows = cl.query_jobs(ids, _INFO_FIELDS) if ids else []
    for job_id, row in zip(ids, rows, strict=True):
        for line in format_job_info(job_id, row):
            cli.to_stdout(line)
    return errors.EXIT_SUCCESS


def _each_job(args: list[str],
              action: Callable[[luxi.Client, int], Sequence[Any]]) -> int:
    """Run a ``(success, message)`` request per job id; the message goes
    to stdout or stderr; 1 if any request failed."""
    cl = cli.get_client()
    code = errors.EXIT_SUCCESS
    for job_id in parse_job_ids(args):
        success, message = action(cl, job_id)
        if success:
            cli.to_stdout(message)
        else:
            cli.to_stderr(message)
            code = errors.EXIT_FAILURE
    return code


def cancel_jobs(opts: argparse.Namespace, args: list[str]) -> int:
    """Cancel jobs that have not started running; 1 if any could not be."""
    return _each_job(args, lambda cl, job_id: cl.cancel_job(job_id))


def change_priority(opts: argparse.Namespace, args: list[str]) -> int:
    """Change the priority of jobs that have not finished; their running
    opcodes keep theirs.  1 if any job could not be changed."""
    if opts.priority is None:
        raise errors.UsageError("--priority option must be given")
    value = cli.priority_value(opts.priority)
    return _each_job(
        args, lambda cl, job_id: cl.change_job_priority(job_id, value))


def wait_job(opts: argparse.Namespace, args: list[str]) -> int:
    """Wait for a job to finish, silently; the exit code is its outcome
    (0 on success, the job's error's code otherwise)."""
    (job_id,) = parse_job_ids(args)
    try:
        cli.poll_job(job_id, cli.get_client(), feedback_fn=lambda _: None,
                     notice_fn=lambda _: None)
    except errors.JobLost:
        raise errors.OpPrereqError(f"Job {job_id} not found",
                                   errors.ErrorCode.NOENT) from None
    except errors.GenericError as err:
        code, text = cli.format_error(err)
        cli.to_stderr(f"Job {job_id} failed: {text}")
        return code
    return errors.EXIT_SUCCESS


def archive_jobs(opts: argparse.Namespace, args: list[str]) -> int:
    """Move finished jobs to the archive; 1 if any could not be."""
    cl = cli.get_client()
    code = errors.EXIT_SUCCESS
    for job_id in parse_job_ids(args):
        if not cl.archive_job(job_id):
            cli.to_stderr(f"Failed to archive job with ID '{job_id}'")
            code = errors.EXIT_FAILURE
    return code


def autoarchive_jobs(opts: argparse.Namespace, args: list[str]) -> int:
    """Archive the finished jobs older than an age (``all``: every one)."""
    age = -1 if args[0] == "all" else cli.parse_timespec(args[0])
    archived, left = cli.get_client().autoarchive_jobs(age,
                                                       AUTOARCHIVE_TIMEOUT)
    cli.to_stdout(f"Archived {archived} jobs, {left} unchecked left")
    return errors.EXIT_SUCCESS


def watch_job(opts: argparse.Namespace, args: list[str]) -> int:
    """Follow a job's log until it ends; the exit code is its outcome."""
    (job_id,) = parse_job_ids(args)
    cl = cli.get_client()
    rows = cl.query_jobs([job_id], ["status"])
    if not rows or rows[0] is None:
        cli.to_stderr(f"Job {job_id} not found")
        return errors.EXIT_FAILURE
    header = f"Output from job {job_id} follows"
    cli.to_stdout(header)
    cli.to_stdout("-" * len(header))
    cli.poll_job(job_id, cl)
    return errors.EXIT_SUCCESS


COMMANDS: Final[dict[str, cli.Command]] = {
    "list": cli.Command(
        list_jobs, cli.ArgSpec(0, None, "job-id", cli.ARG_JOB),
        (cli.NOHDR_OPT, cli.SEP_OPT, cli.FIELDS_OPT, FILTER_OPT,
         *_STATUS_OPTS),
        "[--no-headers] [--separator=SEPARATOR] [-o [+]FIELD,...]"
        " [--running] [--pending] [--waiting] [--error] [--finished]"
        " {[job-id...] | -F filter}",
        "Lists the jobs and their status (the fields: list-fields or"
        " -o help)"),
    "list-fields": cli.list_fields_command(_job_fields, "jobs"),
    "info": cli.Command(
        show_jobs, cli.ArgSpec(0, None, "job-id", cli.ARG_JOB), (),
        "[job-id...]",
        "Show detailed information about the given job(s), or all jobs"),
    "watch": cli.Command(
        watch_job, cli.args_fixed(1, "job-id", cli.ARG_JOB), (), "<job-id>",
        "Follows a job and prints its output as it arrives"),
    "cancel": cli.Command(
        cancel_jobs, cli.args_atleast(1, "job-id", cli.ARG_JOB), (), "<job-id>...",
        "Cancel jobs that have not started running yet"),
    "change-priority": cli.Command(
        change_priority, cli.args_atleast(1, "job-id", cli.ARG_JOB),
        (cli.PRIORITY_OPT,), "--priority <low|normal|high> <job-id>...",
        "Change the priority of jobs that have not finished yet (running"
        " opcodes keep theirs)"),
    "wait": cli.Command(
        wait_job, cli.args_fixed(1, "job-id", cli.ARG_JOB), (), "<job-id>",
        "Wait for a job to finish; the exit code says how it ended"),
    "archive": cli.Command(
        archive_jobs, cli.args_atleast(1, "job-id", cli.ARG_JOB), (), "<job-id>...",
        "Archive finished jobs"),
    "autoarchive": cli.Command(
        autoarchive_jobs, cli.args_fixed(1, "age"), (), "<age|all>",
        "Auto archive jobs older than the given age (e.g. 3600, 2h, 1d, 1w;"
        " 'all' archives every finished job)"),
}

ALIASES: Final = {"show": "info"}


def commands() -> Mapping[str, cli.Command]:
    """The subcommands."""
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gnt-job`` launcher."""
    return cli.GenericMain(commands(), sys.argv if argv is None else argv,
                           aliases=ALIASES)
