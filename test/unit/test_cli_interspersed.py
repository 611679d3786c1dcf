"""Options after the arguments parse as options before them, for every
subcommand of every ``gnt-*`` program (the parser is shared, but a
subcommand may declare an option or an argument kind that breaks it)."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator

import pytest

from ganeti import cli
from ganeti.client import PROGRAMS, program_commands

#: Values tried for an option that takes one, until the option takes it.
_VALUES = ("1", "0:size=1", "a=b", "node1", "x")


def _parse(program: str, argv: list[str]
           ) -> tuple[argparse.Namespace, list[str]] | None:
    table, aliases = program_commands(program)
    out, err = io.StringIO(), io.StringIO()
    saved = (cli._streams.out, cli._streams.err)
    cli._streams.out, cli._streams.err = out, err
    try:
        _cmd, opts, args = cli.parse_args(program, table, argv, aliases)
    except cli._UsageExit:
        return None
    finally:
        cli._streams.out, cli._streams.err = saved
    return opts, args


def _option_words(program: str, name: str, opt: cli.CliOption,
                  positional: list[str]) -> list[str] | None:
    """The words of ``opt`` (with a value it accepts), or None."""
    action = opt.kwargs.get("action", "store")
    flag = opt.flags[-1]
    if action in ("store_true", "store_false", "count", "store_const"):
        return [flag]
    choices = opt.kwargs.get("choices")
    for value in ([str(choices[0])] if choices else _VALUES):
        if _parse(program, [name, flag, value, *positional]) is not None:
            return [flag, value]
    return None


def _cases() -> Iterator[tuple[str, str, str]]:
    for program in sorted(PROGRAMS):
        table, _aliases = program_commands(program)
        for name in table:
            cmd = table[name]
            if cmd.args.max == 0:
                continue
            for opt in (*cli.COMMON_OPTS, *cmd.options):
                yield program, name, opt.flags[-1]


@pytest.mark.parametrize(("program", "name", "flag"), list(_cases()))
def test_option_after_argument_parses_as_before(program: str, name: str,
                                                flag: str) -> None:
    table, _aliases = program_commands(program)
    cmd = table[name]
    opt = next(o for o in (*cli.COMMON_OPTS, *cmd.options)
               if o.flags[-1] == flag)
    count = max(cmd.args.min, 1)
    positional = list(cmd.args.choices[:1] * count) or \
        [f"arg{i}" for i in range(count)]
    words = _option_words(program, name, opt, positional)
    assert words is not None, f"{program} {name} {flag}: no value accepted"
    before = _parse(program, [name, *words, *positional])
    after = _parse(program, [name, *positional, *words])
    assert before is not None
    if cmd.args.kind == cli.ARG_COMMAND:
        # The command line's own options stay its own.
        assert after is not None and after[1] == [*positional, *words]
        return
    assert after == before
    assert before[1] == positional


def test_every_program_has_subcommands_with_options() -> None:
    cases = list(_cases())
    assert {program for program, _n, _f in cases} == set(PROGRAMS)
    assert ("gnt-instance", "info", "--static") in cases
    assert ("gnt-node", "list", "--output") in cases
    assert ("gnt-instance", "console", "--show-cmd") in cases
