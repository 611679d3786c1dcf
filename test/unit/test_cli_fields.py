"""``list-fields``, ``-o help`` and the ``-`` of a stopped instance's
memory: all derived from the field tables of :mod:`ganeti.query`."""

from __future__ import annotations

import io
from typing import Any

import pytest

from ganeti import cli, query, query_engine
from ganeti.client import listing, program_commands
from ganeti.jqueue import model


def _run(program: str, *argv: str) -> tuple[int, str, str]:
    table, aliases = program_commands(program)
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(table, [program, *argv], aliases, stdout=out,
                           stderr=err)
    return code, out.getvalue(), err.getvalue()


TABLES = [("gnt-instance", query.INSTANCE_FIELDS),
          ("gnt-node", query.NODE_FIELDS),
          ("gnt-job", query.JOB_FIELDS)]


@pytest.mark.parametrize(("program", "table"), TABLES)
def test_list_fields_lists_every_field_with_its_description(
        program: str, table: query.FieldTable) -> None:
    code, out, err = _run(program, "list-fields", "--separator", "|")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Name|Type|Title|Description"
    rows = [tuple(line.split("|")) for line in lines[1:]]
    assert rows == table.help_rows()
    names = [row[0] for row in rows]
    assert set(table.fields) <= set(names) and names == sorted(names)
    for fdef in table.fields.values():
        assert (fdef.name, query.KIND_NAMES[fdef.kind], fdef.title,
                fdef.doc) in rows
        assert fdef.doc, f"{fdef.name} has no description"


@pytest.mark.parametrize(("program", "table"), TABLES)
def test_output_help_prints_the_field_list(program: str,
                                           table: query.FieldTable) -> None:
    assert _run(program, "list", "-o", "help") == \
        _run(program, "list-fields")
    code, out, _ = _run(program, "list", "--no-headers", "-o", "help")
    assert code == 0 and out.splitlines()[0].split()[0] == \
        table.help_rows()[0][0]


def test_lock_list_output_help() -> None:
    code, out, _ = _run("gnt-debug", "locks", "-o", "help",
                        "--separator", "|")
    assert code == 0
    assert [tuple(line.split("|")) for line in out.splitlines()[1:]] == \
        query.LOCK_FIELDS.help_rows()
    assert {"name", "mode", "owner", "pending"} == set(query.LOCK_FIELDS.fields)


def test_list_fields_of_named_fields_and_unknown_ones() -> None:
    code, out, _ = _run("gnt-instance", "list-fields", "--no-headers",
                        "--separator", "|", "oper_ram", "nic.mac/2")
    assert code == 0
    assert out.splitlines() == [
        "oper_ram|Storage size|Memory|Memory of the running instance (MiB);"
        " - when it does not run",
        "nic.mac/2|Text|Nic.mac/2|The MAC address of NIC 2"]
    code, _, err = _run("gnt-node", "list-fields", "name", "bogus")
    assert code == 14 and "bogus" in err


def test_live_value_missing_from_a_running_instance_is_no_data() -> None:
    get = query.INSTANCE_FIELDS.fields["oper_ram"].getter

    class Data:
        def __init__(self, info: dict[str, Any] | None) -> None:
            self.info = info

        def running(self, inst: object) -> dict[str, Any] | None:
            return self.info

    # Returned as markers, not raised (raising cost 1.5 us per value).
    stopped = get(Data(None), None)
    unknown = get(Data({"vcpus": 1}), None)
    assert isinstance(stopped, query_engine.Missing)
    assert isinstance(unknown, query_engine.Missing)
    assert stopped.status == query.RS_UNAVAIL
    assert unknown.status == query.RS_NODATA
    assert get(Data({"memory": 64}), None) == 64


def test_job_field_table_matches_the_job_queue() -> None:
    assert {n: f.title for n, f in query.JOB_FIELDS.fields.items()} == \
        {n: title for n, (_get, title) in model.JOB_FIELDS.items()}


class FakeClient:
    """Answers ``QueryInstances`` from fixed rows keyed by field."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.asked: list[list[str]] = []

    def call(self, method: str, names: list[str], fields: list[str],
             locking: bool) -> list[list[Any]]:
        assert method == "QueryInstances"
        self.asked.append(list(fields))
        return [[item.get(f) for f in fields] for item in self.items]


def test_memory_of_a_stopped_instance_shows_dash() -> None:
    cl = FakeClient([
        {"name": "up", "status": "running", "oper_state": True,
         "oper_ram": 128},
        {"name": "down", "status": "ADMIN_down", "oper_state": False,
         "oper_ram": None, "oper_vcpus": None},
        {"name": "lost", "status": "ERROR_nodedown", "oper_state": None,
         "oper_ram": None}])
    rows = listing.query_rows(cl, "QueryInstances", query.INSTANCE_FIELDS,
                              ["name", "status", "oper_ram", "oper_vcpus"],
                              [], False, False)
    assert cl.asked == [["name", "status", "oper_ram", "oper_vcpus",
                         "oper_state"]]
    assert rows == [["up", "running", 128, None],
                    ["down", "ADMIN_down", "-", "-"],
                    ["lost", "ERROR_nodedown", None, None]]
    opts = cli.argparse.Namespace(no_headers=True, separator=None,
                                  units=None)
    lines = listing.format_rows(query.INSTANCE_FIELDS,
                                ["name", "status", "oper_ram", "oper_vcpus"],
                                rows, opts)
    assert [line.split() for line in lines] == [
        ["up", "running", "128M", "?"], ["down", "ADMIN_down", "-", "-"],
        ["lost", "ERROR_nodedown", "?", "?"]]


def test_dash_also_with_a_filter_and_not_without_memory_fields() -> None:
    cl = FakeClient([{"name": "down", "oper_state": False, "oper_ram": None,
                      "pnode": "n1"}])
    rows = listing.query_rows(cl, "QueryInstances", query.INSTANCE_FIELDS,
                              ["name", "oper_ram"], ["pnode == \"n1\""],
                              True, False)
    assert rows == [["down", "-"]]
    cl.asked.clear()
    listing.query_rows(cl, "QueryInstances", query.INSTANCE_FIELDS,
                       ["name", "pnode"], [], False, False)
    assert cl.asked == [["name", "pnode"]]
