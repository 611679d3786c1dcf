"""Node queries and node modify: the logical units through the processor,
and the ``gnt-node`` commands against an in-process master."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, write_config

from ganeti import (
    cli,
    config,
    errors,
    hooks,
    locking,
    mcpu,
    opcodes,
    pathutils,
)
from ganeti.client import collect_commands
from ganeti.cmdlib.base import LUContext
from ganeti.locking.retry import LockAttemptTimeoutStrategy
from ganeti.opcodes import OpCode
from ganeti.rpc.client import LocalTransport, RpcClient
from ganeti.rpc.result import RpcResult

N1, N2, N3, N4 = (f"node{i}.example.com" for i in range(1, 5))


class RecordingTransport(LocalTransport):
    """Answers in-process like LocalTransport and records each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, list[Any]]] = []

    def __call__(self, node: str, address: str, call: str, args: list[Any],
                 timeout: float) -> RpcResult:
        self.calls.append((call, node, list(args)))
        return super().__call__(node, address, call, args, timeout)

    def to(self, node: str) -> list[tuple[str, Any]]:
        """(call, first argument) of the calls sent to ``node``."""
        return [(call, args[0] if args else None)
                for call, name, args in self.calls if name == node]


class Master:
    """An in-process master: config, processor, LUXI-like client."""

    def __init__(self, tmp_path: Path, nodes: int = 4, pool: int = 3,
                 instances: int = 3) -> None:
        pathutils.set_root(str(tmp_path))
        data = make_config(nodes=nodes, instances=instances,
                           candidate_pool_size=pool,
                           file_storage_dir="/srv/ganeti/file-storage")
        for index, node in enumerate(data.nodes.values()):
            node.master_candidate = index < pool
        path = write_config(tmp_path / "config.data", data)
        self.cfg = config.ConfigWriter(path, lock_file=str(tmp_path / "l"))
        glm = locking.GanetiLockManager(nodes=self.cfg.node_names(),
                                        instances=self.cfg.instance_names())
        self.transport = RecordingTransport()
        self.rpc = RpcClient(self.cfg.get_node, self.transport)
        self.proc = mcpu.Processor(
            LUContext(cfg=self.cfg, rpc=self.rpc,
                      master=self.cfg.get_master_node()),
            glm, hooks.RpcHooksRunner(self.rpc),
            strategy=lambda: LockAttemptTimeoutStrategy(
                attempts=2, base=0.01, maximum=0.02, max_pause=0.0),
            sleep=lambda s: None)
        self.feedback: list[str] = []

    def run(self, op: OpCode) -> Any:
        # Through the codec, as a job file would carry it.
        return self.proc.execute_direct(OpCode.load(op.to_dict()),
                                        self.feedback.append)

    def call(self, method: str, *args: Any) -> Any:
        if method == "QueryNodes":
            names, fields, locking_ = args
            return self.run(opcodes.OpNodeQuery(
                names=names, output_fields=fields, use_locking=locking_))
        raise AssertionError(f"unexpected LUXI call {method}")

    def close(self) -> None:
        self.rpc.close()
        self.cfg.close()
        pathutils.set_root(None)


@pytest.fixture
def master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Master]:
    m = Master(tmp_path)
    monkeypatch.setattr(cli, "get_client", lambda: m)
    monkeypatch.setattr(cli, "submit_opcode",
                        lambda op, cl=None, feedback_fn=None, opts=None:
                        m.run(op))
    yield m
    m.close()


def gnt_node(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(collect_commands("node_"), ["gnt-node", *argv],
                           stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# --- LUNodeQuery / LUQuery ------------------------------------------------------

def test_node_query_config_and_live(master: Master) -> None:
    rows = master.run(opcodes.OpNodeQuery(
        output_fields=["name", "pinst_cnt", "mtotal", "mfree", "dtotal",
                       "bootid", "role", "master_candidate"]))
    assert [r[0] for r in rows] == [N1, N2, N3, N4]
    assert sum(r[1] for r in rows) == 3
    for row in rows:
        assert isinstance(row[2], int) and row[2] > 0
        assert isinstance(row[4], int)
        assert row[5]
    assert [r[6] for r in rows] == ["M", "C", "C", "R"]


def test_node_query_names_and_errors(master: Master) -> None:
    rows = master.run(opcodes.OpNodeQuery(output_fields=["name"],
                                          names=["node3", N1]))
    assert rows == [[N3], [N1]]
    with pytest.raises(errors.UnknownFieldError) as info:
        master.run(opcodes.OpNodeQuery(output_fields=["name", "nope"]))
    assert "nope" in info.value.message
    with pytest.raises(errors.OpPrereqError, match="nosuch"):
        master.run(opcodes.OpNodeQuery(output_fields=["name"],
                                       names=["nosuch"]))


def test_offline_node_gets_no_rpc(master: Master) -> None:
    master.run(opcodes.OpNodeSetParams(node_name=N4, offline=True))
    rows = master.run(opcodes.OpNodeQuery(output_fields=["name", "mfree"],
                                          names=[N4]))
    assert rows == [[N4, None]]


def test_generic_query_and_fields(master: Master) -> None:
    result = master.run(opcodes.OpQuery(
        what="node", output_fields=["name", "mfree"],
        filter=["|", ["=", "name", N2], ["=", "name", N3]]))
    assert [f["name"] for f in result["fields"]] == ["name", "mfree"]
    assert [row[0] for row in result["data"]] == [[0, N2], [0, N3]]
    assert result["data"][0][1][0] == 0
    fields = master.run(opcodes.OpQueryFields(what="node",
                                              output_fields=["pip"]))
    assert fields == {"fields": [{"name": "pip", "title": "PrimaryIP",
                                  "kind": "text",
                                  "doc": "Primary IP address"}]}
    inst = master.run(opcodes.OpQuery(what="instance",
                                      output_fields=["name", "pnode"]))
    assert len(inst["data"]) == 3
    with pytest.raises(errors.UnknownFieldError):
        master.run(opcodes.OpQuery(what="node", output_fields=["name"],
                                   filter=["?", "nosuch"]))
    with pytest.raises(errors.OpPrereqError, match="not supported"):
        master.run(opcodes.OpQuery(what="os", output_fields=["name"]))


# --- LUNodeSetParams --------------------------------------------------------------

def flags(master: Master, name: str) -> tuple[bool, bool, bool]:
    node = master.cfg.get_node(name)
    assert node is not None
    return node.master_candidate, node.drained, node.offline


def test_master_role_only_via_failover(master: Master) -> None:
    for change in ({"master_candidate": False}, {"offline": True},
                   {"drained": True}):
        with pytest.raises(errors.OpPrereqError, match="master-failover"):
            master.run(opcodes.OpNodeSetParams(node_name=N1, **change))
    assert flags(master, N1) == (True, False, False)


def test_demotion_below_pool_needs_auto_promote(master: Master) -> None:
    with pytest.raises(errors.OpPrereqError, match="auto-promote"):
        master.run(opcodes.OpNodeSetParams(node_name=N2,
                                           master_candidate=False))
    assert flags(master, N2) == (True, False, False)
    changes = master.run(opcodes.OpNodeSetParams(
        node_name=N2, master_candidate=False, auto_promote=True))
    assert changes == [["master_candidate", "False"]]
    assert flags(master, N2) == (False, False, False)
    assert flags(master, N4)[0] is True
    assert any(N4 in msg for msg in master.feedback)


def test_offline_demotes_and_clears_drained(master: Master) -> None:
    master.run(opcodes.OpNodeSetParams(node_name=N4, drained=True))
    assert flags(master, N4) == (False, True, False)
    changes = master.run(opcodes.OpNodeSetParams(node_name=N4, offline=True))
    assert changes == [["offline", "True"],
                       ["drained", "clear drained status due to offline"]]
    assert flags(master, N4) == (False, False, True)
    changes = master.run(opcodes.OpNodeSetParams(
        node_name=N3, drained=True, auto_promote=True))
    assert changes == [["drained", "True"],
                       ["master_candidate", "auto-demotion due to drain"]]


def test_offline_node_cannot_become_candidate(master: Master) -> None:
    master.run(opcodes.OpNodeSetParams(node_name=N4, offline=True))
    with pytest.raises(errors.OpPrereqError, match="offline or drained"):
        master.run(opcodes.OpNodeSetParams(node_name=N4,
                                           master_candidate=True))


def test_coming_back_promotes_itself_when_pool_has_room(
        master: Master) -> None:
    master.run(opcodes.OpNodeSetParams(node_name=N3, offline=True,
                                       auto_promote=True))
    # N4 was promoted to fill the pool: no room for N3 when it returns.
    changes = master.run(opcodes.OpNodeSetParams(node_name=N3, offline=False))
    assert changes == [["offline", "False"]]
    master.run(opcodes.OpNodeSetParams(node_name=N4, drained=True,
                                       auto_promote=True))
    assert flags(master, N3)[0] is True  # promoted by the pool maintenance
    changes = master.run(opcodes.OpNodeSetParams(node_name=N4,
                                                 drained=False))
    assert changes == [["drained", "False"]]


CONF = pathutils.Paths("")


def master_files(tmp_path: Path) -> None:
    """The master's copies of the candidates' files and a job queue."""
    paths = pathutils.Paths(str(tmp_path))
    os.makedirs(paths.queue_dir, exist_ok=True)
    Path(paths.cluster_conf_file).write_text("{}")
    Path(paths.rapi_users_file).write_text("admin secret write\n")
    Path(paths.queue_dir, "serial").write_text("1\n")
    Path(paths.queue_dir, "job-1").write_text('{"id": 1}')


def shipped(master: Master, node: str) -> set[Any]:
    return {arg for call, arg in master.transport.to(node)
            if call in ("upload_file", "jobqueue_update")}


def test_promotion_ships_the_candidates_files_and_the_queue(
        master: Master, tmp_path: Path) -> None:
    master_files(tmp_path)
    master.run(opcodes.OpNodeSetParams(node_name=N4, master_candidate=True))
    sent = [call for call, _ in master.transport.to(N4)
            if call != "hooks_runner"]
    assert sent[0] == "write_ssconf_files"  # the upload list first
    assert {CONF.cluster_conf_file, CONF.rapi_users_file, "job-1",
            "serial"} <= shipped(master, N4)
    # Nobody else was sent anything but hooks.
    assert not shipped(master, N2) and not shipped(master, N3)


def test_demotion_drops_files_and_auto_promotion_ships_them(
        master: Master, tmp_path: Path) -> None:
    master_files(tmp_path)
    master.run(opcodes.OpNodeSetParams(node_name=N2, master_candidate=False,
                                       auto_promote=True))
    assert flags(master, N4)[0] is True
    assert {CONF.cluster_conf_file, "job-1"} <= shipped(master, N4)
    assert ("node_demote_from_mc", None) in master.transport.to(N2)
    # In-process the call is refused (only a node daemon answers it):
    # the change stands, the failure is reported.
    assert any(f"node {N2} could not drop" in m for m in master.feedback)
    assert flags(master, N2)[0] is False


def test_offline_node_is_not_told_to_drop_files(master: Master) -> None:
    master.run(opcodes.OpNodeSetParams(node_name=N3, offline=True,
                                       auto_promote=True))
    assert all(call != "node_demote_from_mc"
               for call, _ in master.transport.to(N3))
    assert ("node_demote_from_mc", None) not in master.transport.to(N4)
    # Back online without room in the pool: now it drops them.
    master.run(opcodes.OpNodeSetParams(node_name=N3, offline=False))
    assert ("node_demote_from_mc", None) in master.transport.to(N3)


def test_larger_pool_ships_files_to_the_promoted(master: Master,
                                                 tmp_path: Path) -> None:
    master_files(tmp_path)
    master.run(opcodes.OpClusterSetParams(candidate_pool_size=4))
    assert flags(master, N4)[0] is True
    assert {CONF.cluster_conf_file, CONF.rapi_users_file,
            "job-1"} <= shipped(master, N4)


def test_opcode_level_refusals(master: Master) -> None:
    with pytest.raises(errors.OpPrereqError, match="no modification"):
        master.run(opcodes.OpNodeSetParams(node_name=N2))
    with pytest.raises(errors.OpPrereqError, match="only one"):
        master.run(opcodes.OpNodeSetParams(node_name=N4, offline=True,
                                           drained=True))
    with pytest.raises(errors.OpPrereqError, match="not known"):
        master.run(opcodes.OpNodeSetParams(node_name="nosuch",
                                           offline=True))


# --- gnt-node ------------------------------------------------------------------------

def test_list_default_fields_and_headers(master: Master) -> None:
    code, out, _ = gnt_node("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Node", "DTotal", "DFree", "MTotal", "MNode",
                                "MFree", "Pinst", "Sinst"]
    assert [line.split()[0] for line in lines[1:]] == [N1, N2, N3, N4]
    assert any(c in lines[1].split()[3] for c in "MGT")  # human units


def test_list_separator_units_no_headers(master: Master) -> None:
    code, out, _ = gnt_node("list", "--no-headers", "--separator=|",
                            "--units=m", "-o", "name,mtotal,master,tags,role",
                            N2)
    assert code == 0
    (line,) = out.splitlines()
    name, mtotal, is_master, tags, role = line.split("|")
    assert (name, is_master, tags, role) == (N2, "N", "", "C")
    assert mtotal.isdigit()
    code, out, _ = gnt_node("list", "--separator=,", "-o", "+pip")
    header = out.splitlines()[0]
    assert header == "Node,DTotal,DFree,MTotal,MNode,MFree,Pinst,Sinst,PrimaryIP"


def test_list_filters(master: Master) -> None:
    code, out, _ = gnt_node("list", "--no-headers", "-o", "name",
                            "-F", "role", "==", '"C"')
    assert (code, out.split()) == (0, [N2, N3])
    code, out, _ = gnt_node("list", "--no-headers", "-o", "name",
                            "pinst_cnt > 0 and not master")
    assert code == 0 and N1 not in out.split()
    code, out, _ = gnt_node("list", "--no-headers", "-o", "name", "node[34]*")
    assert out.split() == [N3, N4]
    code, _, err = gnt_node("list", "-F", "bogus == 1")
    assert code == errors.EXIT_UNKNOWN_FIELD and "bogus" in err
    code, _, err = gnt_node("list", "-F", "name ==")
    assert code == errors.EXIT_FAILURE and "Invalid query filter" in err


def test_list_unknown_field_exit_code(master: Master) -> None:
    code, _, err = gnt_node("list", "-o", "name,nosuch")
    assert code == errors.EXIT_UNKNOWN_FIELD == 14
    assert "Unknown output fields selected: nosuch" in err


def test_info(master: Master) -> None:
    code, out, _ = gnt_node("info", N1)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Node name: {N1}"
    assert "  master candidate: True" in lines
    assert "  primary for instances:" in lines
    assert "  secondary for no instances" in lines or \
        "  secondary for instances:" in lines


def test_modify(master: Master) -> None:
    code, _, err = gnt_node("modify", "-C", "no", N2)
    assert code == 1 and "auto-promote" in err
    code, out, _ = gnt_node("modify", "-C", "no", "--auto-promote", N2)
    assert code == 0
    assert out.splitlines() == [f"Modified node {N2}",
                                " - master_candidate -> False"]
    code, out, _ = gnt_node("modify", "-D", "yes", N2)
    assert code == 0
    assert out.splitlines() == [f"Modified node {N2}", " - drained -> True"]
    code, _, err = gnt_node("modify", N4)
    assert code == 1 and "at least one" in err
    code, _, _ = gnt_node("modify", "-O", "maybe", N2)
    assert code == errors.EXIT_USAGE


def test_node_tags(master: Master, tmp_path: Path) -> None:
    tag_file = tmp_path / "tags"
    tag_file.write_text("from-file\n\n")
    assert gnt_node("add-tags", N2, "a", "b")[0] == 0
    assert gnt_node("add-tags", "--from", str(tag_file), N2)[0] == 0
    code, out, _ = gnt_node("list-tags", N2)
    assert (code, out.split()) == (0, ["a", "b", "from-file"])
    assert gnt_node("remove-tags", N2, "a")[0] == 0
    code, _, err = gnt_node("remove-tags", N2, "zzz")
    assert code == 1 and "zzz" in err
    code, _, err = gnt_node("add-tags", N2)
    assert code == 1 and "No tags" in err
    code, out, _ = gnt_node("list", "--no-headers", "-o", "name,tags", N2)
    assert out.split() == [N2, "b,from-file"]


def test_secondary_ip_changes_while_no_mirror_runs(master: Master) -> None:
    # inst3 is a drbd instance between node3 and node4 (config_builders).
    changes = master.run(opcodes.OpNodeSetParams(node_name=N4,
                                                 secondary_ip="192.0.2.99"))
    assert changes == [["secondary_ip", "192.0.2.99"]]
    node = master.cfg.get_node(N4)
    assert node is not None and node.secondary_ip == "192.0.2.99"
    used = master.cfg.get_node(N1)
    assert used is not None
    with pytest.raises(errors.OpPrereqError,
                       match=f"already used by node {N1}"):
        master.run(opcodes.OpNodeSetParams(node_name=N4,
                                           secondary_ip=used.primary_ip))
    with pytest.raises(errors.OpPrereqError,
                       match="the master has a separate secondary IP, so must"
                             " every node"):
        master.run(opcodes.OpNodeSetParams(node_name=N4,
                                           secondary_ip="192.0.2.4"))
    master.cfg.set_instance_admin_up("inst3.example.com", True)
    with pytest.raises(errors.OpPrereqError,
                       match=r"mirrored instance inst3\.example\.com is running"):
        master.run(opcodes.OpNodeSetParams(node_name=N4,
                                           secondary_ip="192.0.2.98"))
    master.run(opcodes.OpNodeSetParams(node_name=N4, offline=True))
    master.run(opcodes.OpNodeSetParams(node_name=N4, secondary_ip="192.0.2.98"))
    with pytest.raises(errors.OpPrereqError, match="secondary_ip"):
        opcodes.OpNodeSetParams(node_name=N4).validate_all()


def test_node_parameters_of_one_node(master: Master) -> None:
    changes = master.run(opcodes.OpNodeSetParams(
        node_name=N3, ndparams={"spindle_count": "4", "ssh_port": "2222"}))
    assert changes == [["ndparams/spindle_count", "4"],
                       ["ndparams/ssh_port", "2222"]]
    node = master.cfg.get_node(N3)
    assert node is not None and node.ndparams == {"spindle_count": 4,
                                                  "ssh_port": 2222}
    assert master.cfg.get_cluster().filled_ndparams(node)["ovs_name"] == \
        "switch1"
    master.run(opcodes.OpNodeSetParams(node_name=N3,
                                       ndparams={"ssh_port": "default"}))
    node = master.cfg.get_node(N3)
    assert node is not None and node.ndparams == {"spindle_count": 4}


@pytest.mark.parametrize("ndparams, message", [
    ({"exclusive_storage": True}, "exclusive_storage' is global"),
    ({"spindle_count": 0}, "ndparams: parameter 'spindle_count'"),
    ({"nosuch": 1}, "Unknown node parameter 'nosuch'"),
])
def test_bad_node_parameters_change_nothing(
        master: Master, ndparams: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.OpPrereqError, match=message):
        master.run(opcodes.OpNodeSetParams(node_name=N3, ndparams=ndparams))
    node = master.cfg.get_node(N3)
    assert node is not None and node.ndparams == {}
