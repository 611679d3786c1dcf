"""The shared CLI layer: command tables, usage, errors, table output."""

from __future__ import annotations

import argparse
import io

import pytest

from ganeti import cli, constants, errors


def _run(commands: cli.CommandTable, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(commands, ["gnt-test", *argv], stdout=out,
                           stderr=err)
    return code, out.getvalue(), err.getvalue()


def _raiser(exc: BaseException) -> cli.Command:
    def func(opts: argparse.Namespace, args: list[str]) -> int:
        raise exc
    return cli.Command(func, cli.ARGS_NONE, (), "", "Raise an error")


def _echo(opts: argparse.Namespace, args: list[str]) -> int:
    cli.to_stdout("args=%s force=%s", ",".join(args), opts.force)
    return 0


COMMANDS: dict[str, cli.Command] = {
    "echo": cli.Command(_echo, cli.ARGS_ANY, (cli.FORCE_OPT,), "[args...]",
                        "Print the arguments"),
    "one": cli.Command(_echo, cli.ARGS_ONE, (cli.FORCE_OPT,), "<name>",
                       "Take exactly one argument"),
    "two-plus": cli.Command(_echo, cli.args_atleast(2), (cli.FORCE_OPT,),
                            "<a> <b>...", "Take two or more"),
    "none": cli.Command(_echo, cli.ARGS_NONE, (cli.FORCE_OPT,), "",
                        "Take no argument"),
}


# --- version and usage ----------------------------------------------------------

def test_version_option_prints_ganeti_format() -> None:
    code, out, err = _run(COMMANDS, "--version")
    assert code == 0
    assert out == f"gnt-test (ganeti) {constants.RELEASE_VERSION}\n"
    assert err == ""


@pytest.mark.parametrize("argv", [(), ("frobnicate",), ("--force",)])
def test_missing_or_unknown_command_lists_commands_and_exits_1(
        argv: tuple[str, ...]) -> None:
    code, out, _ = _run(COMMANDS, *argv)
    assert code == errors.EXIT_FAILURE == 1
    lines = out.splitlines()
    assert lines[0] == "Usage: gnt-test {command} [options...] [argument...]"
    assert lines[1] == "gnt-test <command> --help to see details, or man gnt-test"
    assert lines[3] == "Commands:"
    listed = [line.split(" - ")[0].strip() for line in lines[4:-1]
              if line.startswith(" ") and " - " in line]
    assert listed == sorted(COMMANDS)


def test_usage_descriptions_are_wrapped_and_aligned() -> None:
    long_desc = "word " * 40
    table = {"a": cli.Command(_echo, cli.ARGS_ANY, (), "", long_desc),
             "longer": cli.Command(_echo, cli.ARGS_ANY, (), "", "short")}
    _, out, _ = _run(table)
    lines = out.splitlines()
    first = lines.index(" a      - word word word word word word word word"
                        " word word word word word word")
    assert lines[first + 1].startswith(" " * 10 + "word")
    assert all(len(line) <= 79 for line in lines)
    assert " longer - short" in lines


@pytest.mark.parametrize(("argv", "message"), [
    (("none", "x"), "Error: Command none expects no arguments"),
    (("one",), "Error: Command one expects 1 argument(s)"),
    (("one", "a", "b"), "Error: Command one expects 1 argument(s)"),
    (("two-plus", "a"), "Error: Command two-plus expects at least 2"
                        " argument(s)"),
])
def test_wrong_argument_count_exits_1(argv: tuple[str, ...],
                                      message: str) -> None:
    code, out, err = _run(COMMANDS, *argv)
    assert code == errors.EXIT_FAILURE
    assert err == message + "\n"
    assert out == ""


def test_at_most_message() -> None:
    spec = cli.ArgSpec(0, 2)
    assert spec.check("x", 3) == "Error: Command x expects at most 2 argument(s)"
    assert spec.check("x", 2) is None


def test_bad_option_exits_with_usage_code() -> None:
    code, _, err = _run(COMMANDS, "echo", "--no-such-option")
    assert code == errors.EXIT_USAGE == 2
    assert "unrecognized arguments: --no-such-option" in err


def test_help_goes_to_given_stdout_and_exits_0() -> None:
    code, out, _ = _run(COMMANDS, "one", "--help")
    assert code == 0
    assert "usage: gnt-test one <name>" in out
    assert "--force" in out and "--debug" in out


def test_options_may_follow_the_arguments() -> None:
    code, out, _ = _run(COMMANDS, "echo", "a", "-f", "b")
    assert code == 0
    assert out == "args=a,b force=True\n"
    assert _run(COMMANDS, "one", "web1", "--force")[1] == \
        "args=web1 force=True\n"


def test_double_dash_ends_options() -> None:
    code, out, _ = _run(COMMANDS, "echo", "a", "--", "-f", "--", "b")
    assert code == 0
    assert out == "args=a,-f,--,b force=False\n"


def test_options_stop_at_a_command_line_argument() -> None:
    table = {"run": cli.Command(
        _echo, cli.args_atleast(1, "command", cli.ARG_COMMAND),
        (cli.FORCE_OPT,), "<command>", "Run a command")}
    code, out, _ = _run(table, "run", "-f", "ls", "-l", "--force")
    assert code == 0
    assert out == "args=ls,-l,--force force=True\n"
    assert _run(table, "run", "--", "-x")[1] == "args=-x force=False\n"


def test_unknown_command_says_so() -> None:
    code, out, err = _run(COMMANDS, "frobnicate")
    assert code == errors.EXIT_FAILURE
    assert err == "Error: unknown command 'frobnicate'\n"
    assert out.startswith("Usage: gnt-test {command}")


def test_aliases_and_double_dash() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(COMMANDS, ["gnt-test", "e", "--", "-x"],
                           aliases={"e": "echo"}, stdout=out, stderr=err)
    assert code == 0
    assert out.getvalue() == "args=-x force=False\n"


def test_alias_clash_is_a_programmer_error() -> None:
    with pytest.raises(errors.ProgrammerError):
        cli.GenericMain(COMMANDS, ["gnt-test", "echo"], aliases={"echo": "one"})


def test_command_return_value_is_the_exit_code() -> None:
    table = {"three": cli.Command(lambda o, a: 3, cli.ARGS_NONE),
             "none": cli.Command(lambda o, a: None, cli.ARGS_NONE)}
    assert _run(table, "three")[0] == 3
    assert _run(table, "none")[0] == 0


# --- errors ------------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "code", "text"), [
    (errors.OpPrereqError("Instance 'x' is running"), 1,
     "Failure: prerequisites not met for this operation:\n"
     "Instance 'x' is running"),
    (errors.OpExecError("Disk failed"), 1,
     "Failure: command execution error:\nDisk failed"),
    (errors.NotClusterError("This host is not part of a cluster"), 5,
     "Failure: prerequisites not met for this operation:\n"
     "This host is not part of a cluster"),
    (errors.NotMasterError("Not the master"), 11,
     "Failure: prerequisites not met for this operation:\nNot the master"),
    (errors.ConfirmationRequired("Use --force"), 13,
     "Failure: prerequisites not met for this operation:\nUse --force"),
    (errors.UnknownFieldError("Unknown output fields: foo"), 14,
     "Failure: prerequisites not met for this operation:\n"
     "Unknown output fields: foo"),
    (errors.TagError("Tag too long"), 1,
     "Failure: invalid tag(s) given:\nTag too long"),
    (errors.TypeEnforcementError("memory must be an integer"), 1,
     "Parameter Error: memory must be an integer"),
    (errors.ParameterError("bad", parameter="kernel_path"), 1,
     "Failure: unknown/wrong parameter name 'kernel_path'"),
    (errors.ConfigurationError("bad serial"), 1,
     "Corrupt configuration file: bad serial\nAborting."),
    (errors.HooksFailure("no hooks dir"), 1,
     "Failure: hooks general failure: no hooks dir"),
    (errors.JobQueueDrainError("drained"), 1,
     "Failure: the job queue is marked for drain and doesn't accept new"
     " requests"),
    (errors.JobQueueFull("full"), 1,
     "Failure: the job queue is full and doesn't accept new job submissions"
     " until old jobs are archived"),
    (errors.LuxiError("connect failed"), 1,
     "Cannot communicate with the master daemon.\n"
     "Is it running and listening for connections?"),
    (errors.TimeoutError("no answer"), 1,
     "Timeout while talking to the master daemon. Error:\nno answer"),
    (errors.ProtocolError("garbage"), 1,
     "Unhandled protocol error while talking to the master daemon:\ngarbage"),
    (errors.ResolverError("lookup failed", hostname="node9"), 1,
     "Failure: can't resolve hostname 'node9'"),
    (errors.JobLost("Job 5 lost"), 1, "Unhandled Ganeti error: Job 5 lost"),
])
def test_errors_map_to_ganeti_messages_and_exit_codes(
        exc: errors.GenericError, code: int, text: str) -> None:
    got_code, out, err = _run({"fail": _raiser(exc)}, "fail")
    assert got_code == code == errors.EXIT_CODES[exc.code]
    assert err == text + "\n"
    assert out == ""


def test_hooks_abort_lists_each_failed_script() -> None:
    exc = errors.HooksAbort("pre hooks failed", results=[
        ("node1", "10-check", "disk full"), ("node2", "20-other", "")])
    code, _, err = _run({"fail": _raiser(exc)}, "fail")
    assert code == 1
    assert err.splitlines() == [
        "Failure: hooks execution failed:",
        "  node: node1, script: 10-check, output: disk full",
        "  node: node2, script: 20-other (no output)",
    ]


def test_unexpected_exception_is_one_line_plus_hint() -> None:
    code, _, err = _run({"fail": _raiser(KeyError("boom"))}, "fail")
    assert code == 1
    lines = err.splitlines()
    assert lines == ["Unhandled exception: KeyError: 'boom'",
                     "(run the command again with --debug to see the"
                     " traceback)"]


def test_debug_shows_traceback() -> None:
    code, _, err = _run({"fail": _raiser(ValueError("bad"))}, "fail", "-d")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("Unhandled exception: ValueError: bad")
    code, _, err = _run({"fail": _raiser(errors.OpExecError("x"))}, "fail",
                        "--debug")
    assert code == 1
    assert "Traceback" in err and "Failure: command execution error:\nx" in err


def test_job_submitted_prints_job_id_and_succeeds() -> None:
    code, out, err = _run({"fail": _raiser(cli.JobSubmittedException(42))},
                          "fail")
    assert (code, out, err) == (0, "JobID: 42\n", "")


def test_keyboard_interrupt_exits_1() -> None:
    code, _, err = _run({"fail": _raiser(KeyboardInterrupt())}, "fail")
    assert code == 1
    assert err.startswith("Aborted.")


def test_format_error_for_foreign_exception() -> None:
    assert cli.format_error(RuntimeError("x")) == (
        1, "Unhandled exception: RuntimeError: x")


# --- options ---------------------------------------------------------------------

def _parse(options: tuple[cli.CliOption, ...], *argv: str) -> argparse.Namespace:
    table = {"c": cli.Command(_echo, cli.ARGS_ANY, options)}
    _, parsed, _ = cli.parse_args("gnt-test", table, ["c", *argv])
    return parsed


def test_common_option_defaults_and_names() -> None:
    opts = _parse((cli.FORCE_OPT, cli.CONFIRM_OPT, cli.NOHDR_OPT, cli.SEP_OPT,
                   cli.USEUNITS_OPT, cli.FIELDS_OPT, cli.SUBMIT_OPT,
                   cli.DRY_RUN_OPT, cli.VERBOSE_OPT, cli.NODE_LIST_OPT,
                   cli.TIMEOUT_OPT, cli.TAG_SRC_OPT, cli.SYNC_OPT))
    assert vars(opts) == {
        "debug": 0, "force": False, "confirm": False, "no_headers": False,
        "separator": None, "units": None, "output": None,
        "submit_only": False, "dry_run": False, "verbose": False,
        "nodes": [], "timeout": constants.DEFAULT_SHUTDOWN_TIMEOUT,
        "tags_source": None, "do_locking": False,
        # --submit brings --print-jobid and --priority along
        "print_jobid": False, "priority": None,
    }


def test_common_options_parse() -> None:
    opts = _parse((cli.NODE_LIST_OPT, cli.SEP_OPT, cli.USEUNITS_OPT,
                   cli.FIELDS_OPT, cli.TIMEOUT_OPT, cli.SUBMIT_OPT),
                  "-n", "node1", "--node", "node2", "--separator", ":",
                  "--units", "g", "-o", "name,pnode", "--timeout", "30",
                  "--submit", "-dd")
    assert opts.nodes == ["node1", "node2"]
    assert (opts.separator, opts.units, opts.output) == (":", "g", "name,pnode")
    assert (opts.timeout, opts.submit_only, opts.debug) == (30, True, 2)


def test_debug_is_declared_once_even_if_listed() -> None:
    assert _parse((cli.DEBUG_OPT,), "-d").debug == 1


def test_keyval_options() -> None:
    opt = cli.cli_option("-B", dest="beparams", type=cli.keyval("-B"),
                         default={})
    opts = _parse((opt,), "-B", "memory=512,auto_balance,no_acpi,-vcpus")
    assert opts.beparams == {"memory": "512", "auto_balance": True,
                             "acpi": False, "vcpus": None}
    escaped = _parse((opt,), "-B", r"kernel_args=a\,b,x=1")
    assert escaped.beparams == {"kernel_args": "a,b", "x": "1"}


def test_keyval_duplicate_key_is_a_usage_error() -> None:
    opt = cli.cli_option("-B", dest="beparams", type=cli.keyval("-B"))
    table = {"c": cli.Command(_echo, cli.ARGS_ANY, (opt,))}
    code, _, err = _run(table, "c", "-B", "a=1,a=2")
    assert code == 2
    assert "option -B: Parameter 'a' given more than once" in err


def test_ident_keyval_options() -> None:
    opt = cli.cli_option("-H", dest="hvparams", action="append",
                         type=cli.ident_keyval("-H"), default=[])
    opts = _parse((opt,), "-H", "kvm:acpi=1,no_vnc_tls", "-H", "fake")
    assert opts.hvparams == [("kvm", {"acpi": "1", "vnc_tls": False}),
                             ("fake", {})]


def test_option_dest_rule_and_bad_flags() -> None:
    assert cli.cli_option("-s", "--secondary-ip").dest == "secondary_ip"
    assert cli.FORCE_OPT.dest == "force"
    with pytest.raises(errors.ProgrammerError):
        cli.cli_option("force")


def test_split_node_option() -> None:
    assert cli.split_node_option("a:b") == ("a", "b")
    assert cli.split_node_option("a") == ("a", None)
    assert cli.split_node_option(None) == (None, None)


# --- tables ------------------------------------------------------------------------

HEADERS = {"name": "Node", "dfree": "DFree", "pinst": "Pinst", "os": "OS"}


def test_table_aligns_text_left_and_numbers_right() -> None:
    rows = [["node1.example.com", 102400, 3, "debian"],
            ["n2", 512, 12, "-"]]
    lines = cli.generate_table(HEADERS, ["name", "dfree", "pinst", "os"],
                               rows, units="m", numfields=["dfree", "pinst"],
                               unitfields=["dfree"])
    assert lines == [
        "Node               DFree Pinst OS",
        "node1.example.com 102400     3 debian",
        "n2                   512    12 -",
    ]


def test_table_last_text_column_has_no_trailing_blanks() -> None:
    lines = cli.generate_table({"a": "A", "b": "B"}, ["a", "b"],
                               [["x", "long value"], ["y", "v"]])
    assert lines == ["A B", "x long value", "y v"]
    assert all(line == line.rstrip() for line in lines)


def test_table_without_headers() -> None:
    lines = cli.generate_table(None, ["name", "pinst"], [["a", 1], ["bb", 10]],
                               numfields=["pinst"])
    assert lines == ["a   1", "bb 10"]


def test_table_separator_gives_raw_fields() -> None:
    lines = cli.generate_table(HEADERS, ["name", "pinst"],
                               [["node1", 3], ["n2", 12]], separator="|",
                               numfields=["pinst"])
    assert lines == ["Node|Pinst", "node1|3", "n2|12"]


def test_table_unknown_header_uses_field_name_and_none_row() -> None:
    lines = cli.generate_table({"name": "Node"}, ["name", "extra"],
                               [["a", "b"], None], separator=" ")
    assert lines == ["Node extra", "a b", "- -"]


def test_table_row_length_is_checked() -> None:
    with pytest.raises(errors.ProgrammerError):
        cli.generate_table(None, ["a", "b"], [["only one"]])


def test_table_units() -> None:
    pytest.importorskip("ganeti.utils.text")
    rows = [["n1", 1024], ["n2", "?"]]
    human = cli.generate_table(None, ["name", "mem"], rows,
                               numfields=["mem"], unitfields=["mem"])
    assert human[0].split()[1] == cli.format_unit(1024, "h")
    assert human[1].split()[1] == "?"
    # With a separator the default is plain MiB, for scripts.
    assert cli.generate_table(None, ["name", "mem"], rows, separator=":",
                              unitfields=["mem"]) == ["n1:1024", "n2:?"]
    in_gib = cli.generate_table(None, ["name", "mem"], [["n1", 2048]],
                                separator=":", units="g", unitfields=["mem"])
    assert in_gib == [f"n1:{cli.format_unit(2048, 'g')}"]
