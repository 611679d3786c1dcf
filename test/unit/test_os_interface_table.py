"""The OS interface table of doc/design/os-interface.rst is what the code
sets: every script is run at every API version through the real code
(environment builder and script runners), and the table is checked both
ways."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_osdef_support import make_instance, make_os, os_log_root, read_env

from ganeti import constants, objects, osdef, pathutils

DOC = Path(__file__).resolve().parents[2] / "doc" / "design" / \
    "os-interface.rst"
APIS = (10, 15, 20)
INSTANCE_SCRIPTS = ("create", "import", "export", "rename")
SCRIPTS = (*INSTANCE_SCRIPTS, "verify")
CELLS = {"yes", "if", "empty", "no"}
#: Variables a shell adds to what it was given.
SHELL_VARS = {"PWD", "OLDPWD", "SHLVL", "_"}
BEPARAMS = {"maxmem": 256, "minmem": 128, "vcpus": 1}
HVPARAMS = {"disk_type": "paravirtual", "nic_type": "e1000"}


@dataclass(frozen=True)
class Row:
    variable: str
    scripts: frozenset[str]
    cells: dict[int, str]

    def pattern(self) -> re.Pattern[str]:
        text = re.escape(self.variable)
        text = text.replace("%N", r"\d+").replace("<name>", r"[a-z_]+")
        return re.compile(text.replace("<NAME>", r"[A-Z0-9_]+"))

    def example(self) -> str:
        """The name this row has for disk or NIC 0 and the parameters the
        test sets."""
        name = self.variable.replace("%N", "0").replace("<NAME>", "DHCP")
        return name.replace("<name>",
                            "maxmem" if "_BE_" in name else "disk_type")


def table_rows() -> list[Row]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(".. csv-table:: Environment of OS scripts")
    lines = text[start:].splitlines()[1:]
    body: list[str] = []
    for line in lines:
        if line.startswith("   :"):
            continue
        if not line.strip():
            if body:
                break
            continue
        if not line.startswith("   "):
            break
        body.append(line.strip())
    rows = []
    for fields in csv.reader(body, skipinitialspace=True):
        variable, scripts, *cells, _notes = fields
        chosen = {"all": SCRIPTS, "instance": INSTANCE_SCRIPTS,
                  "none": ()}.get(scripts, (scripts,))
        assert set(chosen) <= set(SCRIPTS), scripts
        assert set(cells) <= CELLS, fields
        rows.append(Row(variable, frozenset(chosen),
                        dict(zip(APIS, cells, strict=True))))
    return rows


ROWS = table_rows()


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[pathutils.Paths]:
    with os_log_root(tmp_path) as result:
        yield result


def _instance() -> objects.Instance:
    """An instance meeting every condition of the table for index 0:
    a named file disk, a named bridged NIC with an address."""
    inst = make_instance()
    inst.disks[0].name = "root"
    inst.nics[0].name = "public"
    return inst


def run_scripts(tmp_path: Path, api: int) -> dict[str, dict[str, str]]:
    """The environment each script saw at ``api`` (verify only at 20)."""
    root = tmp_path / "os"
    make_os(root, variants="v1\nv2\n", parameters="dhcp Use DHCP\n")
    definition = osdef.find_os("testos", [str(root)])
    inst = _instance()
    disk0, disk1 = tmp_path / "disk0", tmp_path / "disk1"
    for disk in (disk0, disk1):
        disk.write_bytes(b"")
    env = osdef.os_environment(
        definition, api, inst, filled_hvparams=HVPARAMS, filled_beparams=BEPARAMS,
        filled_nicparams=[{"mode": "bridged", "link": "br0"},
                          {"mode": "routed", "link": "100"}],
        disks=[(str(disk0), inst.disks[0], "rw"),
               (str(disk1), inst.disks[1], "rw")],
        osparams={"dhcp": "yes"}, variant="v1", debug_level=1)
    osdef.create_instance(definition, env, reinstall=True)
    osdef.import_instance(definition, env, disk_index=0, stdin_path=str(disk1))
    osdef.export_instance(definition, env, disk_index=0,
                    stdout_path=str(tmp_path / "dump"))
    osdef.rename_instance(definition, env, old_name="old.example.com")
    scripts = list(INSTANCE_SCRIPTS)
    if api >= constants.OS_API_V20:
        osdef.verify_parameters(definition, {"dhcp": "yes"}, variant="v1")
        scripts.append("verify")
    return {script: {k: v for k, v in read_env(root, script).items()
                     if k not in SHELL_VARS}
            for script in scripts}


def test_the_table_is_read() -> None:
    names = {row.variable for row in ROWS}
    assert {"OS_VARIANT", "DEBUG_LEVEL", "DISK_%N_NAME", "NIC_%N_NAME",
            "INSTANCE_BE_<name>", "OSP_<NAME>"} <= names
    assert len(names) == len(ROWS)


@pytest.mark.parametrize("api", APIS)
def test_every_script_gets_what_the_table_says(
        tmp_path: Path, paths: pathutils.Paths, api: int) -> None:
    seen = run_scripts(tmp_path, api)
    for script, env in seen.items():
        for row in ROWS:
            cell = row.cells[api] if script in row.scripts else "no"
            name = row.example()
            if cell == "no":
                assert not [k for k in env if row.pattern().fullmatch(k)], (
                    f"{script} at API {api} sets {row.variable}")
            elif cell == "empty":
                assert env.get(name) == "", (script, api, name)
            else:
                assert name in env, f"{script} at API {api} lacks {name}"
        unlisted = [k for k in env
                    if not any(row.pattern().fullmatch(k) for row in ROWS
                               if script in row.scripts
                               and row.cells[api] != "no")]
        assert not unlisted, (
            f"{script} at API {api} sets {unlisted}, not in the table")


def test_conditional_variables_are_absent_without_their_condition(
        tmp_path: Path, paths: pathutils.Paths) -> None:
    root = tmp_path / "os"
    make_os(root)
    definition = osdef.find_os("testos", [str(root)])
    inst = make_instance(os_name="testos", nics=[objects.NIC(
        mac="aa:00:00:00:00:09", nicparams={"mode": "routed", "link": "1"})])
    env = osdef.os_environment(
        definition, 20, inst, filled_hvparams={}, filled_beparams=BEPARAMS,
        filled_nicparams=[{"mode": "routed", "link": "1"}],
        disks=[("/dev/a", inst.disks[0], "rw"), ("/dev/b", inst.disks[1],
                                                 "rw")])
    osdef.create_instance(definition, env)
    seen = read_env(root, "create")
    conditional = [row.example() for row in ROWS
                   if "create" in row.scripts and row.cells[20] == "if"]
    assert conditional
    assert not [name for name in conditional if name in seen]
    assert seen["OS_VARIANT"] == ""
