"""The iallocator protocol: the request builder, the answer checker, the
built-in allocator and the runner of external programs."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from config_builders import GROUP_UUID, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import constants, errors, objects, pathutils
from ganeti.iallocator import answer, builtin, runner
from ganeti.iallocator import request as ireq

N1, N2, N3 = (f"node{i}.example.com" for i in (1, 2, 3))


def snapshot(data: objects.ConfigData | None = None,
             free_disk: int = 80000) -> ireq.Snapshot:
    data = data or make_config(nodes=3, instances=3)
    live = {n: {"memory_total": 4096, "memory_free": 3500,
                "memory_dom0": 512, "cpu_total": 4, "vg_size": 100000,
                "vg_free": free_disk - 1000 * i, "file_storage_total": 5000,
                "file_storage_free": 4000}
            for i, n in enumerate(data.nodes)}
    return ireq.Snapshot(data.cluster, list(data.nodes.values()),
                         list(data.nodegroups.values()),
                         list(data.instances.values()), live)


def new(template: str = constants.DT_PLAIN, memory: int = 512,
        size: int = 1024, name: str = "new.example.com") -> ireq.NewInstance:
    return ireq.NewInstance(name, template, memory, 1, [{"size": size}],
                            [{}], "debian-image", constants.HT_FAKE)


def drbd_inst(snap: ireq.Snapshot) -> objects.Instance:
    return next(i for i in snap.instances if i.disk_template == "drbd")


# --- the request ---------------------------------------------------------------

def test_request_has_the_keys_of_ganeti() -> None:
    snap = snapshot()
    doc = ireq.document(snap, ireq.allocate(new(constants.DT_DRBD8)))
    assert {"version", "cluster_name", "cluster_tags", "enabled_hypervisors",
            "ipolicy", "nodegroups", "nodes", "instances",
            "request"} <= set(doc)
    group = doc["nodegroups"][GROUP_UUID]
    assert group["alloc_policy"] == "preferred"
    assert set(group["ipolicy"]) == {"minmax", "std", "disk-templates",
                                     "vcpu-ratio", "spindle-ratio"}
    node = doc["nodes"][N1]
    assert node["group"] == GROUP_UUID
    assert node["total_memory"] == 4096 and node["reserved_memory"] == 512
    assert node["free_disk"] == 80000 and node["total_cpus"] == 4
    req = doc["request"]
    assert req["required_nodes"] == 2
    assert req["disk_space_total"] == 1024 + 128
    inst = doc["instances"][drbd_inst(snap).name]
    assert inst["nodes"] == list(drbd_inst(snap).all_nodes)
    assert inst["memory"] == 256 and inst["disk_template"] == "drbd"


def test_free_memory_counts_running_primaries() -> None:
    data = make_config(nodes=2, instances=[
        {"primary": N1, "admin_up": True}, {"primary": N1, "i": 2}])
    node = ireq.cluster_data(snapshot(data))["nodes"][N1]
    # reported 3500; total - dom0 - running maxmem = 4096 - 512 - 256
    assert node["free_memory"] == 3328
    assert node["i_pri_memory"] == 512 and node["i_pri_up_memory"] == 256


def test_file_template_reports_file_storage() -> None:
    doc = ireq.document(snapshot(), ireq.allocate(new(constants.DT_FILE)),
                        ireq.storage_of(constants.DT_FILE))
    assert doc["nodes"][N1]["free_disk"] == 4000


def test_offline_node_has_no_live_data() -> None:
    data = make_config(nodes=3)
    data.nodes[N3].offline = True
    node = ireq.cluster_data(snapshot(data))["nodes"][N3]
    assert node["offline"] and "free_memory" not in node


# --- the answer ----------------------------------------------------------------

def alloc_doc(template: str = constants.DT_DRBD8) -> dict[str, Any]:
    return ireq.document(snapshot(), ireq.allocate(new(template)))


def ok(result: Any) -> str:
    return json.dumps({"success": True, "info": "fine", "result": result})


@pytest.mark.parametrize(("text", "match"), [
    ("Traceback (most recent call last):", "garbage instead of JSON"),
    ("", "garbage instead of JSON"),
    ("[1, 2]", "JSON list instead of an object"),
    ('{"info": "x", "result": []}', "valid 'success'"),
    ('{"success": true, "result": []}', "valid 'info'"),
    ('{"success": true, "info": "x"}', "without a 'result'"),
    ('{"success": false, "info": "no\\nroom", "result": null}',
     "found no solution: no room"),
    (ok([N1]), "answered 1 node\\(s\\) for instance new.example.com; 2"),
    (ok([N1, "ghost.example.com"]), "'ghost.example.com' .* not in the"),
    (ok([N1, N1]), "the same node twice"),
    (ok("node1"), "instead of a list of node names"),
])
def test_bad_allocate_answers(text: str, match: str) -> None:
    with pytest.raises(errors.OpPrereqError, match=match) as info:
        answer.parse("x", alloc_doc(), text)
    assert "\n" not in str(info.value.args[0])


@pytest.mark.parametrize("flag", ["offline", "drained"])
def test_answer_naming_an_unusable_node(flag: str) -> None:
    doc = alloc_doc()
    doc["nodes"][N2][flag] = True
    with pytest.raises(errors.OpPrereqError, match=f"which is {flag}"):
        answer.parse("x", doc, ok([N1, N2]))


def test_answer_across_groups_refused() -> None:
    doc = alloc_doc()
    doc["nodes"][N2]["group"] = "other"
    with pytest.raises(errors.OpPrereqError, match="different groups"):
        answer.parse("x", doc, ok([N1, N2]))


def test_relocate_answers() -> None:
    snap = snapshot()
    inst = drbd_inst(snap)
    doc = ireq.document(snap, ireq.relocate(inst, inst.secondary_nodes))
    free = next(n for n in (N1, N2, N3) if n not in inst.all_nodes)
    assert answer.parse("x", doc, ok([free])).nodes == [free]
    with pytest.raises(errors.OpPrereqError, match="already is one of"):
        answer.parse("x", doc, ok([inst.primary_node]))


def test_evacuation_answers() -> None:
    snap = snapshot()
    inst = drbd_inst(snap)
    doc = ireq.document(snap, ireq.node_evacuate([inst.name], "all"))
    good = ok([[[inst.name, "default", [N1, N2]]], [], []])
    moves = answer.parse("x", doc, good).moves
    assert moves[0].group == GROUP_UUID and moves[0].nodes == [N1, N2]
    for result, match in [
            ([[], [], []], "nothing for instance"),
            ([[[inst.name, "nogroup", [N1, N2]]], [], []], "unknown group"),
            ([[["other.example.com", "default", [N1]]], [], []],
             "not asked for"),
            ([[[inst.name, "default", [N1]]], [], []], "1 node\\(s\\)"),
            ([[], [[inst.name]], []], "not \\[instance, reason\\]"),
            ({"moved": []}, "not \\[moved, failed, jobs\\]")]:
        with pytest.raises(errors.OpPrereqError, match=match):
            answer.parse("x", doc, ok(result))
    failed = answer.parse("x", doc, ok([[], [[inst.name, "full"]], []]))
    assert failed.failed == [(inst.name, "full")]


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from([N1, N2, N3, "default", GROUP_UUID]),
    lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=12),
    st.sampled_from(sorted(constants.VALID_IALLOCATOR_MODES)))
def test_any_result_parses_or_gives_a_prereq_error(result: Any,
                                                    mode: str) -> None:
    snap = snapshot()
    inst = drbd_inst(snap)
    req = {constants.IALLOCATOR_MODE_ALLOC: ireq.allocate(new()),
           constants.IALLOCATOR_MODE_RELOC: ireq.relocate(
               inst, inst.secondary_nodes),
           constants.IALLOCATOR_MODE_NODE_EVAC: ireq.node_evacuate(
               [inst.name], "secondary-only"),
           constants.IALLOCATOR_MODE_CHG_GROUP: ireq.change_group(
               [inst.name], [GROUP_UUID]),
           constants.IALLOCATOR_MODE_MULTI_ALLOC: ireq.multi_allocate(
               [new()])}[mode]
    doc = ireq.document(snap, req)
    try:
        answer.parse("x", doc, ok(result))
    except errors.OpPrereqError as err:
        assert "\n" not in str(err.args[0])


# --- the built-in allocator -----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=5),
       st.integers(min_value=0, max_value=6),
       st.sampled_from([constants.DT_PLAIN, constants.DT_DRBD8,
                        constants.DT_FILE]),
       st.integers(min_value=1, max_value=60000),
       st.integers(min_value=0, max_value=4000))
def test_builtin_answers_pass_the_checker(nodes: int, insts: int,
                                          template: str, size: int,
                                          memory: int) -> None:
    data = make_config(nodes=nodes, instances=insts if nodes > 1 else 0)
    snap = snapshot(data)
    doc = ireq.document(snap, ireq.allocate(new(template, memory, size)),
                        ireq.storage_of(template))
    reply = builtin.answer(doc)
    if not reply["success"]:
        with pytest.raises(errors.OpPrereqError, match="found no solution"):
            answer.parse("builtin", doc, json.dumps(reply))
        return
    nodes_ = answer.parse("builtin", doc, json.dumps(reply)).nodes
    need = ireq.disk_space_total(template, [size])
    assert all(doc["nodes"][n]["free_disk"] >= need for n in nodes_)
    assert doc["nodes"][nodes_[0]]["free_memory"] >= memory


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=6),
       st.integers(min_value=1, max_value=9),
       st.sampled_from(sorted(constants.NODE_EVAC_MODES)),
       st.integers(min_value=0, max_value=90000),
       st.booleans())
def test_builtin_evacuations_pass_the_checker(nodes: int, insts: int,
                                              evac_mode: str, free: int,
                                              two_groups: bool) -> None:
    data = make_config(nodes=nodes, instances=insts)
    if two_groups:
        other = objects.NodeGroup(name="rack2", uuid="rack2-uuid")
        data.nodegroups[other.uuid] = other
        for name in list(data.nodes)[nodes // 2:]:
            data.nodes[name].group = other.uuid
    snap = snapshot(data, free_disk=free)
    names = sorted(data.instances)
    spanning = [i.name for i in data.instances.values()
                if len({data.nodes[n].group for n in i.all_nodes}) > 1]
    for req in (ireq.node_evacuate(names, evac_mode),
                ireq.change_group(names, ["rack2-uuid"] if two_groups
                                  else [GROUP_UUID])):
        doc = ireq.document(snap, req)
        try:
            result = answer.parse("builtin", doc, builtin.answer_text(doc))
        except errors.OpPrereqError as err:
            # Only the swap of an instance whose nodes already lie in two
            # groups (the builder does not keep mirrors in one group).
            assert "different groups" in str(err), err
            assert any(f"instance {n} " in str(err) for n in spanning), err
            continue
        assert {m.instance for m in result.moves} | {
            n for n, _ in result.failed} == set(names)


def test_builtin_prefers_the_emptiest_node() -> None:
    doc = ireq.document(snapshot(make_config(nodes=3)),
                        ireq.allocate(new(constants.DT_DRBD8)))
    assert builtin.answer(doc)["result"] == [N1, N2]


def test_builtin_respects_the_ipolicy_and_drained_nodes() -> None:
    data = make_config(nodes=3)
    data.cluster.ipolicy["disk-templates"] = [constants.DT_PLAIN]
    doc = ireq.document(snapshot(data), ireq.allocate(new(constants.DT_FILE)))
    reply = builtin.answer(doc)
    assert not reply["success"] and "not allowed" in reply["info"]
    data = make_config(nodes=2)
    data.nodes[N1].drained = True
    doc = ireq.document(snapshot(data), ireq.allocate(new()))
    assert builtin.answer(doc)["result"] == [N2]


def test_builtin_counts_its_own_placements() -> None:
    snap = snapshot(make_config(nodes=2), free_disk=2999)
    doc = ireq.document(snap, ireq.multi_allocate(
        [new(size=1500, name=f"n{k}.example.com") for k in range(3)]))
    placed, failed = builtin.answer(doc)["result"]
    assert [p[1] for p in placed] == [[N1], [N2]]
    assert failed == ["n2.example.com"]


def test_builtin_evacuation_modes() -> None:
    snap = snapshot(make_config(nodes=3, instances=3))
    inst = drbd_inst(snap)
    for mode, expect in [
            ("secondary-only", [inst.primary_node]),
            ("primary-only", [inst.secondary_nodes[0], inst.primary_node])]:
        doc = ireq.document(snap, ireq.node_evacuate([inst.name], mode))
        moved = answer.parse("b", doc, builtin.answer_text(doc)).moves[0]
        assert moved.nodes[:len(expect)] == expect
    doc = ireq.document(snap, ireq.node_evacuate([inst.name], "all"))
    # Three nodes: no two free ones to move both ends to.
    assert answer.parse("b", doc, builtin.answer_text(doc)).failed


# --- the runner ---------------------------------------------------------------

def program(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_runner_passes_the_request_file(tmp_path: Path) -> None:
    path = program(tmp_path, "echo", 'cat "$1"')
    assert runner.run("echo", str(path), '{"a": 1}', 10) == '{"a": 1}'
    assert not list(Path("/tmp").glob(f"ganeti-iallocator-*{os.getpid()}"))


@pytest.mark.parametrize(("body", "match"), [
    ("echo 'bad things' >&2; exit 3", "failed \\(exit code 3\\): bad things"),
    ("kill -9 $$", "failed \\(signal 9\\)"),
    ("exec sleep 30", "did not answer within 0.5 seconds \\(the iallocator"
     " timeout\\)"),
])
def test_runner_failures(tmp_path: Path, body: str, match: str) -> None:
    path = program(tmp_path, "bad", body)
    with pytest.raises(errors.OpPrereqError, match=match):
        runner.run("bad", str(path), "{}", 0.5)


def test_runner_timeout_kills_the_children_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    path = program(tmp_path, "slow", f'sleep 600 & echo $! > {pid_file}; wait')
    with pytest.raises(errors.OpPrereqError, match=r"within 0\.5 seconds"):
        runner.run("slow", str(path), "{}", 0.5)
    child = int(pid_file.read_text())
    # SIGKILL is delivered asynchronously: a busy machine may show the
    # child running for a moment after the kill.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(")")[1] \
                .split()[0]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z") or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert state in ("gone", "Z"), state


def test_search_path_under_a_root(tmp_path: Path) -> None:
    old = pathutils.get().root
    pathutils.set_root(str(tmp_path))
    try:
        dirs = runner.search_path()
        configured = pathutils.CONFIGURED_IALLOCATOR_SEARCH_PATH
        assert dirs == (tuple(str(tmp_path) + d for d in configured)
                        + configured)
        mine = Path(dirs[0])
        mine.mkdir(parents=True)
        assert runner.find("mine") is None
        program(mine, "mine", "true")
        assert runner.find("mine") == str(mine / "mine")
        assert runner.find("../mine") is None
    finally:
        pathutils.set_root(old)


# --- gnt-debug iallocator's option parsing ----------------------------------------

def test_debug_option_parsing() -> None:
    from ganeti.client import debug_iallocator as dbg
    assert dbg.parse_disks("1G,512") == [{"size": 1024, "mode": "rw"},
                                         {"size": 512, "mode": "rw"}]
    assert dbg.parse_nics("") == [{"mac": "auto"}]
    assert dbg.parse_nics("aa:00:00:00:00:01/198.51.100.2/br0,") == [
        {"mac": "aa:00:00:00:00:01", "ip": "198.51.100.2", "link": "br0"},
        {"mac": "auto"}]
    with pytest.raises(errors.UsageError, match="Invalid disk size 'lots'"):
        dbg.parse_disks("lots")
    with pytest.raises(errors.UsageError, match="use MAC/IP/LINK"):
        dbg.parse_nics("a/b/c/d")


def _with_mirror(doc: dict[str, Any], primary: str, secondary: str,
                 memory: int, name: str = "old.example.com") -> None:
    """A DRBD instance of ``memory`` MiB in the document (what the N+1
    bookkeeping reads of it)."""
    doc["instances"][name] = {
        "nodes": [primary, secondary], "memory": memory, "vcpus": 1,
        "disk_template": constants.DT_DRBD8, "disk_space_total": 1024,
        "disks": [{"size": 1024}], "nics": [], "tags": [],
        "os": "debian-image", "hypervisor": constants.HT_FAKE,
        "admin_state": "up", "spindle_use": 1}


def test_builtin_keeps_n_plus_1_memory_redundancy() -> None:
    """A secondary must be able to take over its primary's mirrors (as
    verify's N+1 check and hail): node2 already holds 3000 MiB of node1's
    failovers in 3500 MiB free."""
    snap = snapshot(make_config(nodes=3))
    doc = ireq.document(snap, ireq.allocate(new(constants.DT_DRBD8, 1000)))
    _with_mirror(doc, N1, N2, 3000)
    # node1:node2 would need 4000 MiB on node2 should node1 fail.
    assert builtin.answer(doc)["result"] == [N1, N3]
    # As a primary, node2 keeps its 3000 MiB reserve: 1000 more do not fit.
    doc = ireq.document(snap, ireq.allocate(new(memory=1000)))
    _with_mirror(doc, N1, N2, 3000)
    doc["nodes"][N1]["drained"] = doc["nodes"][N3]["drained"] = True
    reply = builtin.answer(doc)
    assert not reply["success"]
    assert reply["info"] == ("group default: no node has 1000 MiB memory and"
                             " 1024 MiB disk free (keeping N+1 memory"
                             " redundancy)")
    # 500 do.
    doc["request"]["memory"] = 500
    assert builtin.answer(doc)["result"] == [N2]
    # A node that fails N+1 already does not block placements (hail's
    # rule): the cluster needs rebalancing, not a refusal of everything.
    doc["request"]["memory"] = 1000
    doc["nodes"][N2]["free_memory"] = 2000
    assert builtin.answer(doc)["result"] == [N2]


def test_builtin_new_secondaries_keep_n_plus_1() -> None:
    snap = snapshot(make_config(nodes=3, instances=3))
    inst = drbd_inst(snap)
    primary = inst.primary_node
    others = sorted(n for n in (N1, N2, N3) if n not in inst.all_nodes)
    doc = ireq.document(snap, ireq.node_evacuate([inst.name],
                                                 "secondary-only"))
    memory = doc["instances"][inst.name]["memory"]
    # The only other node is full of the primary's failovers already.
    _with_mirror(doc, primary, others[0],
                 doc["nodes"][others[0]]["free_memory"] - memory + 1,
                 name="full.example.com")
    result = answer.parse("b", doc, builtin.answer_text(doc))
    assert result.failed and "(N+1)" in result.failed[0][1]
    doc["instances"]["full.example.com"]["memory"] -= 1
    moved = answer.parse("b", doc, builtin.answer_text(doc)).moves[0]
    assert moved.nodes == [primary, others[0]]


def test_builtin_placements_of_one_request_count_for_n_plus_1() -> None:
    """Two mirrors of 2000 MiB in one request on two nodes of 3500 MiB
    free: the first's failover reserve on its secondary counts when the
    second is placed, so the second does not fit (it would take the
    secondary's memory as a primary, or double the reserve)."""
    snap = snapshot(make_config(nodes=3))
    doc = ireq.document(snap, ireq.multi_allocate(
        [new(constants.DT_DRBD8, 2000, name=f"m{k}.example.com")
         for k in range(2)]))
    doc["nodes"][N3]["drained"] = True
    placed, failed = builtin.answer(doc)["result"]
    assert placed == [["m0.example.com", [N1, N2]]]
    assert failed == ["m1.example.com"]
    # With a third node, the second goes where the reserves allow.
    del doc["nodes"][N3]["drained"]
    placed, failed = builtin.answer(doc)["result"]
    assert failed == []
    assert placed[0] == ["m0.example.com", [N1, N2]]
    assert placed[1][1] not in ([N1, N2], [N2, N1])
