"""The DRBD minor map: lowest free minors per node, reservations of a
job (released on failure or once the instance is in the config), the
instances' minors and ports freed with them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from config_builders import make_config, node_name, write_config
from hypothesis import given
from hypothesis import strategies as st

from ganeti import constants, errors
from ganeti.config import ConfigWriter, drbd_minors

NODES = [f"node{i}" for i in range(3)]


@given(used=st.dictionaries(st.sampled_from(NODES),
                            st.sets(st.integers(0, 15), max_size=12)),
       wanted=st.lists(st.sampled_from(NODES), max_size=8))
def test_allocation_takes_the_lowest_free_minors(
        used: dict[str, set[int]], wanted: list[str]) -> None:
    table = {node: {m: "other" for m in minors}
             for node, minors in used.items()}
    got = drbd_minors.allocate(table, wanted, limit=32)
    taken = {node: set(minors) for node, minors in used.items()}
    for node, minor in zip(wanted, got, strict=True):
        mine = taken.setdefault(node, set())
        assert minor not in mine
        assert all(m in mine for m in range(minor))  # the lowest free one
        mine.add(minor)


@given(wanted=st.lists(st.sampled_from(NODES), min_size=1, max_size=6))
def test_exhausted_minors_are_a_clear_error(wanted: list[str]) -> None:
    table = {node: {m: "x" for m in range(4)} for node in NODES}
    with pytest.raises(errors.OpPrereqError,
                       match=f"No free DRBD minor left on node {wanted[0]}"
                             r" \(all 4 are used\)") as info:
        drbd_minors.allocate(table, wanted, limit=4)
    assert info.value.code == errors.ErrorCode.NORES


def test_instances_hold_their_minors() -> None:
    data = make_config(3, [{"disk_template": constants.DT_DRBD8,
                            "primary": node_name(1),
                            "secondary": node_name(2)}])
    used = drbd_minors.minors_in_use(data.instances.values())
    assert used == {node_name(1): {0: "inst1.example.com"},
                    node_name(2): {0: "inst1.example.com"}}


def open_writer(tmp_path: Path, instances: list[dict[str, object]]
                ) -> ConfigWriter:
    path = write_config(tmp_path / "config.data", make_config(3, instances))
    return ConfigWriter(path, rng=random.Random(1))


def test_reservations_until_released(tmp_path: Path) -> None:
    n1, n2 = node_name(1), node_name(2)
    with open_writer(tmp_path, [{"disk_template": constants.DT_DRBD8,
                                 "primary": n1, "secondary": n2}]) as cfg:
        assert cfg.allocate_drbd_minors([n1, n2, n1], "job1") == [1, 1, 2]
        assert cfg.allocate_drbd_minors([n2], "job2") == [2]
        assert cfg.drbd_minor_map()[n1] == {0: "inst1.example.com",
                                            1: "job1", 2: "job1"}
        cfg.release_drbd_minors("job1")
        assert cfg.allocate_drbd_minors([n1], "job3") == [1]
        cfg.release_reservations("job3")
        cfg.release_reservations("job2")
        assert cfg.drbd_minor_map() == {n1: {0: "inst1.example.com"},
                                        n2: {0: "inst1.example.com"}}
        with pytest.raises(errors.OpPrereqError, match="node9"):
            cfg.allocate_drbd_minors(["node9"], "job4")


def test_removing_an_instance_frees_its_minors_and_ports(tmp_path: Path
                                                         ) -> None:
    n1, n2 = node_name(1), node_name(2)
    with open_writer(tmp_path, [{"disk_template": constants.DT_DRBD8,
                                 "primary": n1, "secondary": n2}]) as cfg:
        port = cfg.get_instance("inst1.example.com").disks[0].logical_id[2]
        cfg.remove_instance("inst1.example.com")
        assert cfg.drbd_minor_map() == {}
        assert port in cfg.get_cluster().tcpudp_port_pool
        assert cfg.allocate_port() == port
        cfg.release_port(port)
        assert cfg.get_cluster().tcpudp_port_pool == [port]
