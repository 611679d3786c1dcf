"""Instance policies (ganeti.ipolicy) and node groups in the config."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import config_builders as cb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import config, errors, ipolicy, objects

#: Ganeti's (narrower) default bounds.
GANETI_MIN = {"memory-size": 128, "cpu-count": 1, "disk-count": 1,
              "disk-size": 1024, "nic-count": 1, "spindle-use": 1}
GANETI_MAX = {"memory-size": 32768, "cpu-count": 8, "disk-count": 16,
              "disk-size": 1048576, "nic-count": 8, "spindle-use": 12}


def policy(**changes: Any) -> dict[str, Any]:
    pol = ipolicy.default_policy()
    pol["minmax"] = [{"min": dict(GANETI_MIN), "max": dict(GANETI_MAX)}]
    pol.update(changes)
    return pol


def test_default_policy_is_complete_and_valid() -> None:
    pol = ipolicy.default_policy()
    assert ipolicy.check_policy(pol, complete=True) == pol
    assert pol["std"]["memory-size"] == 128
    assert pol["vcpu-ratio"] == 4.0


def test_default_bounds_accept_what_2_1_accepted() -> None:
    assert violations(ipolicy.default_policy(), mem_size=32, cpu_count=64,
                      disk_sizes=[1, 1 << 30], nic_count=0,
                      disk_template="file") == []


@pytest.mark.parametrize("bad, fragment", [
    ({"minmax": [{"min": {**GANETI_MIN, "cpu-count": 9},
                  "max": dict(GANETI_MAX)}]},
     "cpu-count: min 9 is above max 8"),
    ({"std": {**ipolicy.DEFAULT_STD, "memory-size": 64}},
     "std memory-size 64 is not within"),
    ({"std": {"memory-sise": 128}}, "unknown spec name(s) memory-sise"),
    ({"vcpu-ratio": -1}, "vcpu-ratio must be a positive number"),
    ({"spindle-ratio": "x"}, "spindle-ratio must be a positive number"),
    ({"disk-templates": ["floppy"]}, "unknown disk template(s) floppy"),
    ({"minmax": []}, "non-empty list"),
    ({"minmax": [{"min": dict(GANETI_MIN)}]}, "exactly the keys"),
    ({"colour": 1}, "unknown key(s) colour"),
    ({"std": {**ipolicy.DEFAULT_STD, "cpu-count": -2}},
     "non-negative integer"),
])
def test_bad_policies_are_one_line_errors(bad: dict[str, Any],
                                          fragment: str) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        ipolicy.check_policy(policy(**bad), complete=True)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_a_group_policy_may_be_partial() -> None:
    assert ipolicy.check_policy({"vcpu-ratio": 2}, complete=False) == \
        {"vcpu-ratio": 2.0}
    with pytest.raises(errors.OpPrereqError, match="lacks"):
        ipolicy.check_policy({"vcpu-ratio": 2}, complete=True)


def test_fill_overrides_std_by_key_and_the_rest_whole() -> None:
    cluster = ipolicy.default_policy()
    filled = ipolicy.fill(cluster, {"std": {"memory-size": 512},
                                    "disk-templates": ["plain"]})
    assert filled["std"]["memory-size"] == 512
    assert filled["std"]["cpu-count"] == 1
    assert filled["disk-templates"] == ["plain"]
    assert cluster == ipolicy.default_policy()  # not changed


def test_merge_in_a_group_resets_to_default() -> None:
    old = {"vcpu-ratio": 2.0, "std": {"memory-size": 256}}
    new = ipolicy.merge(old, {"vcpu-ratio": "default",
                              "std": {"cpu-count": 2}}, group=True)
    assert new == {"std": {"memory-size": 256, "cpu-count": 2}}


def violations(pol: dict[str, Any], **values: Any) -> list[str]:
    base: dict[str, Any] = {"mem_size": 512, "cpu_count": 1,
                            "disk_sizes": [2048], "nic_count": 1,
                            "spindle_use": 1, "disk_template": "plain"}
    base.update(values)
    return ipolicy.spec_violations(pol, **base)


def test_spec_violations() -> None:
    pol = policy()
    assert violations(pol) == []
    assert violations(pol, mem_size=64) == [
        "memory-size value 64 is not in range [128, 32768]"]
    assert violations(pol, disk_sizes=[100, 2048]) == [
        "disk-size value 100 is not in range [1024, 1048576]"]
    pol["disk-templates"] = ["drbd"]
    assert violations(pol) == ["Disk template plain is not allowed "
                               "(allowed templates: drbd)"]


def test_any_minmax_pair_may_fit() -> None:
    small = {"min": dict(GANETI_MIN),
             "max": {**GANETI_MAX, "memory-size": 256}}
    big = {"min": {**GANETI_MIN, "memory-size": 4096},
           "max": dict(GANETI_MAX)}
    pol = policy(minmax=[small, big])
    assert violations(pol, mem_size=200) == []
    assert violations(pol, mem_size=8192) == []
    assert len(violations(pol, mem_size=1024)) == 1


_spec_values = st.fixed_dictionaries(
    {name: st.integers(min_value=0, max_value=10**6)
     for name in ipolicy.SPEC_NAMES})


@given(_spec_values, _spec_values, st.floats(allow_nan=True),
       st.lists(st.sampled_from(["plain", "drbd", "file", "diskless",
                                 "bogus"])))
def test_check_policy_accepts_exactly_the_consistent(
        low: dict[str, int], high: dict[str, int], ratio: float,
        dts: list[str]) -> None:
    pol = {"minmax": [{"min": low, "max": high}], "std": dict(low),
           "disk-templates": dts, "vcpu-ratio": ratio, "spindle-ratio": 1.0}
    consistent = (all(low[n] <= high[n] for n in ipolicy.SPEC_NAMES)
                  and ratio > 0 and "bogus" not in dts)
    try:
        checked = ipolicy.check_policy(copy.deepcopy(pol), complete=True)
    except errors.OpPrereqError:
        assert not consistent
    else:
        assert consistent
        assert ipolicy.check_policy(checked, complete=True) == checked


# --- groups in the configuration ---------------------------------------------


@pytest.fixture
def cfg(tmp_path: pathlib.Path) -> config.ConfigWriter:
    path = tmp_path / "config.data"
    cb.write_config(str(path), cb.make_config(nodes=3, instances=1))
    writer = config.ConfigWriter(str(path), offline=True)
    return writer


def test_groups_round_trip_through_the_file(cfg: config.ConfigWriter) -> None:
    group = objects.NodeGroup(name="rack2", ipolicy={"vcpu-ratio": 2})
    cfg.add_nodegroup(group)
    cfg.assign_group_nodes([("node3.example.com", group.uuid)])
    again = config.ConfigWriter(cfg.path, offline=True)
    assert again.lookup_nodegroup("rack2") == group.uuid
    assert again.group_members(group.uuid) == ["node3.example.com"]
    assert again.group_ipolicy(group.uuid)["vcpu-ratio"] == 2.0
    assert again.verify_config() == []


def test_group_name_clash_and_bad_policy_change_nothing(
        cfg: config.ConfigWriter) -> None:
    serial = cfg.get_serial_no()
    with pytest.raises(errors.OpPrereqError, match="already exists"):
        cfg.add_nodegroup(objects.NodeGroup(name="default"))
    with pytest.raises(errors.OpPrereqError, match="above max"):
        cfg.add_nodegroup(objects.NodeGroup(name="x", ipolicy={"minmax": [{
            "min": {**GANETI_MIN, "disk-size": 10**7},
            "max": dict(GANETI_MAX)}]}))
    assert cfg.get_serial_no() == serial
    assert cfg.nodegroup_uuids() == [cb.GROUP_UUID]


def test_removing_a_group_with_nodes_or_the_last_is_refused(
        cfg: config.ConfigWriter) -> None:
    with pytest.raises(errors.OpPrereqError, match="still has 3 node"):
        cfg.remove_nodegroup(cb.GROUP_UUID)
    group = objects.NodeGroup(name="empty")
    cfg.add_nodegroup(group)
    cfg.remove_nodegroup("empty")
    assert cfg.get_nodegroup(group.uuid) is None


def test_new_nodes_need_a_group_when_there_are_several(
        cfg: config.ConfigWriter) -> None:
    node = cb.make_node(9, group="")
    cfg.add_node(node)
    assert node.group == cb.GROUP_UUID
    cfg.add_nodegroup(objects.NodeGroup(name="other"))
    with pytest.raises(errors.OpPrereqError, match="More than one"):
        cfg.add_node(cb.make_node(10, group=""))


# --- the command line options ------------------------------------------------


def parse(*argv: str, group: bool = False) -> dict[str, Any]:
    import argparse

    from ganeti.client import ipolicy_opts
    parser = argparse.ArgumentParser()
    for opt in ipolicy_opts.IPOLICY_OPTS:
        parser.add_argument(*opt.flags, **opt.kwargs)
    return ipolicy_opts.ipolicy_changes(parser.parse_args(list(argv)),
                                        group=group)


def test_split_spec_options() -> None:
    assert parse("--specs-mem-size", "min=256,max=4G,std=512",
                 "--specs-nic-count", "max=2") == {
        "minmax": [{"min": {"memory-size": 256},
                    "max": {"memory-size": 4096, "nic-count": 2}}],
        "std": {"memory-size": 512}}


def test_bounds_std_templates_and_ratios() -> None:
    low = ",".join(f"{k}={v}" for k, v in GANETI_MIN.items())
    high = ",".join(f"{k}={v}" for k, v in GANETI_MAX.items())
    changes = parse("--ipolicy-bounds-specs", f"min:{low}/max:{high}",
                    "--ipolicy-std-specs", "cpu-count=2",
                    "--ipolicy-disk-templates", "plain,drbd",
                    "--ipolicy-vcpu-ratio", "2.5",
                    "--ipolicy-spindle-ratio", "16")
    assert changes == {"minmax": [{"min": GANETI_MIN, "max": GANETI_MAX}],
                       "std": {"cpu-count": 2},
                       "disk-templates": ["plain", "drbd"],
                       "vcpu-ratio": 2.5, "spindle-ratio": 16.0}
    merged = ipolicy.merge(ipolicy.default_policy(), changes, group=False)
    assert ipolicy.check_policy(merged, complete=True)["std"]["cpu-count"] == 2
    assert parse("--ipolicy-vcpu-ratio", "default", group=True) == {
        "vcpu-ratio": "default"}


@pytest.mark.parametrize("argv, fragment", [
    (["--ipolicy-vcpu-ratio", "-1"], "must be positive"),
    (["--ipolicy-spindle-ratio", "x"], "not a number"),
    (["--ipolicy-std-specs", "memory-sise=1"], "unknown spec name(s)"),
    (["--ipolicy-bounds-specs", "min:cpu-count=1"], "needs min and max"),
    (["--ipolicy-bounds-specs", "low:cpu-count=1/max:cpu-count=2"],
     "expected min:SPECS/max:SPECS"),
    (["--specs-cpu-count", "mid=3"], "unknown key(s) mid"),
    (["--specs-disk-size", "min=lots"], "invalid value 'lots'"),
    (["--specs-cpu-count", "min=1", "--ipolicy-std-specs", "cpu-count=1"],
     "cannot be used together"),
])
def test_bad_options_are_one_line_errors(argv: list[str],
                                         fragment: str) -> None:
    with pytest.raises(errors.OpPrereqError) as info:
        parse(*argv)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_partial_minmax_changes_only_what_it_names() -> None:
    changed = ipolicy.merge(policy(), {"minmax": [{"min": {"cpu-count": 2},
                                                   "max": {}}]}, group=False)
    assert changed["minmax"][0]["min"] == {**GANETI_MIN, "cpu-count": 2}
    assert changed["minmax"][0]["max"] == GANETI_MAX
    # In a group without bounds of its own, the cluster's are the base.
    own = ipolicy.merge({}, {"minmax": [{"min": {}, "max": {"cpu-count": 4}}]},
                        group=True, base=policy())
    assert own["minmax"][0]["max"] == {**GANETI_MAX, "cpu-count": 4}


def test_format_ipolicy() -> None:
    from ganeti.client.ipolicy_opts import format_ipolicy
    lines = format_ipolicy(policy(), "  ")
    assert lines[:3] == ["  bounds specs:", "    - max/0:",
                         "        cpu-count: 8"]
    assert "  std:" in lines and "    memory-size: 128" in lines
    assert "  allowed disk templates: diskless, drbd, file, plain" in lines
    assert lines[-2:] == ["  vcpu-ratio: 4", "  spindle-ratio: 32"]


def test_group_info_lines() -> None:
    import time

    from ganeti.client import gnt_group
    values = {"name": "rack2", "uuid": "u-1", "serial_no": 3,
              "ctime": 1268000000.25, "mtime": 1268000001.0,
              "alloc_policy": "last_resort", "ndparams": {},
              "diskparams": {"plain": {"stripes": 2}}, "ipolicy": policy(),
              "node_list": ["node2.example.com"], "tags": ["a"]}
    lines = gnt_group.format_group_info([values[f] for f in
                                         gnt_group.INFO_FIELDS])
    created = time.strftime("%Y-%m-%d %H:%M:%S",
                            time.localtime(1268000000)) + ".250000"
    assert lines[:6] == ["Group: rack2", "  UUID: u-1", "  Serial number: 3",
                         f"  Creation time: {created}",
                         lines[4], "  Allocation policy: last_resort"]
    assert lines[4].startswith("  Modification time: 20")
    assert "      stripes: 2" in lines and "    vcpu-ratio: 4" in lines
    assert lines[-2:] == ["  Nodes: node2.example.com", "  Tags: a"]
