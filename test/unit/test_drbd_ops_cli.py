"""The command lines of the DRBD operations: replace-disks,
recreate-disks, gnt-node evacuate/failover/migrate and gnt-cluster
verify-disks, with the master replaced by a recorder of opcodes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from ganeti import cli, constants, errors, opcodes
from ganeti.client import gnt_cluster, gnt_instance, gnt_node


class Master:
    """Records submitted opcodes; answers with ``results`` by opcode."""

    def __init__(self) -> None:
        self.ops: list[Any] = []
        self.results: dict[type, Any] = {}
        self.errors: dict[str, errors.GenericError] = {}
        self.nodes = [["node1.example.com", ["i1", "i2"]]]

    def call(self, method: str, names: list[str], fields: list[str],
             locking: bool) -> Any:
        assert method == "QueryNodes"
        return [r for r in self.nodes if r[0].startswith(names[0])]

    def submit(self, op: Any, cl: Any = None, feedback_fn: Any = None,
               opts: Any = None) -> Any:
        self.ops.append(op)
        name = getattr(op, "instance_name", None)
        if name in self.errors:
            raise self.errors[name]
        return self.results.get(type(op))


@pytest.fixture(name="master")
def master_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Master]:
    master = Master()
    monkeypatch.setattr(cli, "submit_opcode", master.submit)
    monkeypatch.setattr(cli, "get_client", lambda: master)
    yield master


def run(main: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(main(), ["gnt-x", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv,mode,extra", [
    (["-s"], constants.REPLACE_DISK_SEC, {}),
    (["-p", "--disks", "0,1"], constants.REPLACE_DISK_PRI, {"disks": [0, 1]}),
    (["-n", "node3"], constants.REPLACE_DISK_CHG, {"remote_node": "node3"}),
    (["-I", "hail"], constants.REPLACE_DISK_CHG, {"iallocator": "hail"}),
    (["--auto"], constants.REPLACE_DISK_AUTO, {}),
])
def test_replace_disks_modes(master: Master, argv: list[str], mode: str,
                             extra: dict[str, Any]) -> None:
    code, _, err = run(gnt_instance.commands, "replace-disks", *argv, "inst1")
    assert code == 0, err
    (op,) = master.ops
    assert isinstance(op, opcodes.OpInstanceReplaceDisks)
    assert op.mode == mode and op.instance_name == "inst1"
    for key, value in extra.items():
        assert getattr(op, key) == value


@pytest.mark.parametrize("argv,match", [
    ([], "Give exactly one of"),
    (["-p", "-s"], "got -p, -s"),
    (["-n", "node3", "--disks", "0"], "--disks cannot be combined with -n"),
    (["-s", "--disks", "a"], "Invalid disk index list"),
    (["-s", "--disks", "-1"], "indices start at 0"),
])
def test_replace_disks_bad_input(master: Master, argv: list[str],
                                 match: str) -> None:
    code, _, err = run(gnt_instance.commands, "replace-disks", *argv, "inst1")
    assert code != 0 and match in err
    assert master.ops == []


def test_recreate_disks(master: Master) -> None:
    assert run(gnt_instance.commands, "recreate-disks", "--disks", "1",
               "inst1")[0] == 0
    assert master.ops[0].disks == [1]


@pytest.mark.parametrize("argv,mode", [
    ([], constants.NODE_EVAC_ALL),
    (["-p"], constants.NODE_EVAC_PRI),
    (["-s"], constants.NODE_EVAC_SEC),
])
def test_evacuate(master: Master, argv: list[str], mode: str) -> None:
    master.results[opcodes.OpNodeEvacuate] = [["i1", "node3"]]
    code, out, err = run(gnt_node.commands, "evacuate", "-f", "-n", "node3",
                         *argv, "node1")
    assert code == 0, err
    assert master.ops[0].mode == mode
    assert "Instance i1 relocated to node3" in out


def test_evacuate_bad_input(master: Master) -> None:
    code, _, err = run(gnt_node.commands, "evacuate", "-f", "-p", "-s",
                       "-n", "node3", "node1")
    assert code != 0 and "at most one of" in err
    code, _, err = run(gnt_node.commands, "evacuate", "-f", "-n", "node3",
                       "-I", "hail", "node1")
    assert code != 0 and "not both" in err
    assert master.ops == []


def test_node_failover_one_job_per_instance(master: Master) -> None:
    master.errors["i2"] = errors.OpExecError("boom")
    code, out, err = run(gnt_node.commands, "failover", "-f",
                         "--ignore-consistency", "node1")
    assert code == 1
    assert [op.instance_name for op in master.ops] == ["i1", "i2"]
    assert all(op.ignore_consistency for op in master.ops)
    assert "boom" in err and "1 error(s) (i2)" in out


def test_node_failover_unknown_node(master: Master) -> None:
    code, _, err = run(gnt_node.commands, "failover", "-f", "nowhere")
    assert code != 0 and "Node 'nowhere' not known" in err


def test_node_migrate(master: Master) -> None:
    master.results[opcodes.OpNodeMigrate] = ["i1"]
    code, out, _ = run(gnt_node.commands, "migrate", "-f", "--non-live",
                       "node1")
    assert code == 0 and "Migrated 1 instance(s): i1" in out
    assert master.ops[0].live is False


def test_verify_disks_output(master: Master) -> None:
    master.results[opcodes.OpClusterVerifyDisks] = [
        {"node4": "timeout"}, ["i1", "i2"],
        {"i2": [["node2", "xenvg/a_data"]], "i3": [["node4", "xenvg/b"]]}]
    code, out, _ = run(gnt_cluster.commands, "verify-disks")
    assert code == 1
    assert [type(op).__name__ for op in master.ops] == [
        "OpClusterVerifyDisks", "OpInstanceActivateDisks"]
    assert out.splitlines() == [
        "Error gathering data on node node4: timeout",
        "You need to fix these nodes first before fixing instances",
        "Activating disks for instance 'i1'",
        "Instance i2 has missing logical volumes:",
        "\tnode2 /dev/xenvg/a_data",
        "Instance i3 cannot be verified as it lives on broken nodes",
        "You need to replace or recreate disks for all the above instances"
        " if this message persists after fixing broken nodes."]


def test_verify_disks_clean(master: Master) -> None:
    master.results[opcodes.OpClusterVerifyDisks] = [{}, [], {}]
    code, out, _ = run(gnt_cluster.commands, "verify-disks")
    assert code == 0 and out == "No disks need to be activated.\n"


def test_modify_conversions(master: Master) -> None:
    master.results[opcodes.OpInstanceSetParams] = [["disk_template", "drbd"]]
    code, out, _ = run(gnt_instance.commands, "modify", "-t", "drbd", "-n",
                       "node3", "inst1")
    assert code == 0 and " - disk_template -> drbd" in out
    op = master.ops[-1]
    assert (op.disk_template, op.remote_node) == ("drbd", "node3")
    assert run(gnt_instance.commands, "modify", "-t", "plain", "inst1")[0] == 0
    assert master.ops[-1].remote_node is None


@pytest.mark.parametrize("argv,match", [
    (["-t", "drbd"], "requires specifying a secondary node"),
    (["-n", "node3"], "goes with -t drbd only"),
    (["-t", "file"], "invalid choice"),
])
def test_modify_conversion_bad_input(master: Master, argv: list[str],
                                     match: str) -> None:
    code, _, err = run(gnt_instance.commands, "modify", *argv, "inst1")
    assert code != 0 and match in err, err
    assert master.ops == []
