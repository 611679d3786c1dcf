"""The lazy subcommand tables of the gnt-* commands.

``collect_commands`` reads the subcommand names of the area modules from
their source and imports a module only when one of its subcommands runs
(see :mod:`ganeti.client`).  These tests check that the names read that
way are exactly the modules' ``COMMANDS`` (so the index cannot drift),
that the tables and usage listings equal eagerly built ones, and, in a
fresh interpreter each, that running a subcommand imports its own area
module and no other.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Mapping

import pytest

from ganeti import cli, client, errors
from ganeti.client import gnt_backup, gnt_cluster, gnt_debug, gnt_group, gnt_job

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

#: Command -> (its module, the prefix of its area modules or None).
COMMANDS: dict[str, tuple[str, str | None]] = {
    "gnt-cluster": ("gnt_cluster", "cluster_"),
    "gnt-instance": ("gnt_instance", "instance_"),
    "gnt-node": ("gnt_node", "node_"),
    "gnt-os": ("gnt_os", "os_"),
    "gnt-job": ("gnt_job", None),
    "gnt-debug": ("gnt_debug", None),
    "gnt-backup": ("gnt_backup", None),
    "gnt-group": ("gnt_group", None),
}
AREA_PREFIXES = tuple(p for _m, p in COMMANDS.values() if p is not None)


def _area_modules_by_pkgutil(prefix: str) -> list[str]:
    """The area modules as the eager assembly found them."""
    return sorted(info.name for info in pkgutil.iter_modules(client.__path__)
                  if info.name.startswith(prefix))


def _eager_table(prefix: str) -> dict[str, cli.Command]:
    table: dict[str, cli.Command] = {}
    for name in _area_modules_by_pkgutil(prefix):
        module = importlib.import_module(f"ganeti.client.{name}")
        for sub, command in module.COMMANDS.items():
            assert sub not in table, f"{sub} defined twice"
            table[sub] = command
    return table


def _eager_full_table(command: str) -> dict[str, cli.Command]:
    module_name, prefix = COMMANDS[command]
    module = importlib.import_module(f"ganeti.client.{module_name}")
    table = dict(getattr(module, "COMMANDS", {}))
    if prefix is not None:
        table.update(_eager_table(prefix))
    return table


def _lazy_full_table(command: str) -> Mapping[str, cli.Command]:
    if command == "gnt-cluster":
        return gnt_cluster.commands()
    if command == "gnt-job":
        return gnt_job.COMMANDS
    if command == "gnt-debug":
        return gnt_debug.COMMANDS
    if command == "gnt-backup":
        return gnt_backup.COMMANDS
    if command == "gnt-group":
        return gnt_group.COMMANDS
    prefix = COMMANDS[command][1]
    assert prefix is not None
    return client.collect_commands(prefix)


# --- the index against the modules -------------------------------------------

@pytest.mark.parametrize("prefix", AREA_PREFIXES)
def test_area_modules_are_the_package_modules(prefix: str) -> None:
    assert client.area_modules(prefix) == _area_modules_by_pkgutil(prefix)
    assert client.area_modules(prefix)


@pytest.mark.parametrize("module", [
    name for prefix in AREA_PREFIXES for name in client.area_modules(prefix)])
def test_scanned_names_are_the_modules_commands(module: str) -> None:
    """The names read from the source are the COMMANDS keys, in order."""
    real = importlib.import_module(f"ganeti.client.{module}").COMMANDS
    assert client.scan_commands(module) == list(real)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_listing_equals_the_modules_subcommands(command: str) -> None:
    lazy = _lazy_full_table(command)
    eager = _eager_full_table(command)
    assert list(lazy) == list(eager)
    assert len(lazy) == len(eager)
    assert all(name in lazy for name in eager)
    assert "no-such-subcommand" not in lazy
    assert dict(lazy.items()) == eager
    assert cli.format_usage(command, lazy) == cli.format_usage(command, eager)


def test_unknown_subcommand_is_a_key_error() -> None:
    table = client.collect_commands("instance_")
    with pytest.raises(KeyError):
        table["no-such-subcommand"]
    assert table.get("no-such-subcommand") is None


def test_a_base_table_clash_is_a_programmer_error() -> None:
    base = {"list": gnt_job.COMMANDS["list"]}
    with pytest.raises(errors.ProgrammerError, match="'list' defined twice"):
        client.collect_commands("instance_", base=base)


def test_base_rows_come_first_and_are_not_imported() -> None:
    table = client.collect_commands("cluster_", base=gnt_cluster.COMMANDS)
    assert list(table)[:len(gnt_cluster.COMMANDS)] == \
        list(gnt_cluster.COMMANDS)
    assert table["version"] is gnt_cluster.COMMANDS["version"]


def test_usage_of_each_command_is_unchanged_by_laziness() -> None:
    """``gnt-X`` alone prints the same listing from the lazy table as
    from an eagerly merged one (the lazy one imports every area)."""
    for command in ("gnt-instance", "gnt-node", "gnt-os"):
        prefix = COMMANDS[command][1]
        assert prefix is not None
        outputs = []
        for table in (client.collect_commands(prefix), _eager_table(prefix)):
            out = io.StringIO()
            code = cli.GenericMain(table, [command], stdout=out,
                                   stderr=io.StringIO())
            outputs.append((code, out.getvalue()))
        assert outputs[0] == outputs[1]
        assert outputs[0][0] == errors.EXIT_FAILURE


# --- what a subcommand imports (fresh interpreters) --------------------------

_PROBE = """
import contextlib, io, json, sys
from ganeti.client import {module}
with contextlib.redirect_stdout(io.StringIO()), \\
        contextlib.redirect_stderr(io.StringIO()):
    code = {module}.main({argv!r})
print(json.dumps([code, sorted(m for m in sys.modules
                               if m.startswith("ganeti."))]))
"""


def _imported(command: str, *args: str) -> tuple[int, set[str]]:
    """Exit code and ganeti modules after running ``command args`` in a
    fresh interpreter."""
    module = COMMANDS[command][0]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "pylib")
    env["GANETI_ROOTDIR"] = os.path.join(ROOT, "no-such-root")
    res = subprocess.run(
        [sys.executable, "-c",
         _PROBE.format(module=module, argv=[command, *args])],
        env=env, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    code, modules = json.loads(res.stdout.splitlines()[-1])
    return code, set(modules)


def _area_modules_in(modules: set[str]) -> set[str]:
    names = {m.removeprefix("ganeti.client.") for m in modules
             if m.startswith("ganeti.client.")}
    return {n for n in names if n.startswith(AREA_PREFIXES)}


def _one_subcommand_per_area() -> list[tuple[str, str, str]]:
    cases = []
    for command, (_module, prefix) in sorted(COMMANDS.items()):
        if prefix is None:
            continue
        for area in client.area_modules(prefix):
            names = client.scan_commands(area)
            assert names
            cases.append((command, names[0], area))
    return cases


@pytest.mark.parametrize(("command", "subcommand", "area"),
                         _one_subcommand_per_area())
def test_a_subcommand_imports_only_its_own_area_module(
        command: str, subcommand: str, area: str) -> None:
    code, modules = _imported(command, subcommand, "--help")
    assert code == 0
    assert _area_modules_in(modules) == {area}


def test_gnt_cluster_version_imports_no_area_module() -> None:
    code, modules = _imported("gnt-cluster", "version")
    assert code == 0
    assert _area_modules_in(modules) == set()
    assert not {m for m in modules if m.startswith("ganeti.opcodes")}


def test_the_usage_listing_imports_every_area_module() -> None:
    code, modules = _imported("gnt-os")
    assert code == errors.EXIT_FAILURE
    assert _area_modules_in(modules) == set(client.area_modules("os_"))
