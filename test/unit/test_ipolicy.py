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
