"""ConfigWriter allocation helpers: MACs, unique IDs, ports."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_builders import make_config, make_instance, node_name, write_config

from ganeti import constants, errors, objects
from ganeti.config import ConfigWriter


def open_writer(tmp_path: Path, data: objects.ConfigData,
                seed: int = 1) -> ConfigWriter:
    path = write_config(tmp_path / "config.data", data)
    return ConfigWriter(path, rng=random.Random(seed))


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[ConfigWriter]:
    with open_writer(tmp_path, make_config(2, 3)) as cfg:
        yield cfg


# --- MAC addresses ----------------------------------------------------------

def test_generated_macs_use_prefix_and_are_unique(tmp_path: Path) -> None:
    data = make_config(1, mac_prefix="AA:BB:0C")
    with open_writer(tmp_path, data) as cfg:
        macs = [cfg.generate_mac() for _ in range(500)]
    assert len(set(macs)) == 500
    assert all(re.fullmatch(r"aa:bb:0c(:[0-9a-f]{2}){3}", m) for m in macs)


def test_mac_generation_is_reproducible_with_a_seeded_rng(
        tmp_path: Path) -> None:
    with open_writer(tmp_path, make_config(1), seed=7) as cfg:
        first = [cfg.generate_mac() for _ in range(5)]
    with open_writer(tmp_path, make_config(1), seed=7) as cfg:
        assert [cfg.generate_mac() for _ in range(5)] == first


class ScriptedRandom(random.Random):
    """Returns given values for ``getrandbits`` (then falls back)."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(0)
        self.values = list(values)

    def getrandbits(self, k: int) -> int:
        if self.values:
            return self.values.pop(0)
        return super().getrandbits(k)


def test_generate_mac_skips_used_and_reserved(tmp_path: Path) -> None:
    data = make_config(1, 1)
    used = data.instances["inst1.example.com"].nics[0].mac  # aa:00:00:00:01:00
    assert used == "aa:00:00:00:01:00"
    path = write_config(tmp_path / "config.data", data)
    rng = ScriptedRandom([0x000100, 0x000100, 0x000200, 0x000200, 0x000300])
    with ConfigWriter(path, rng=rng) as cfg:
        assert cfg.generate_mac() == "aa:00:00:00:02:00"
        assert cfg.generate_mac() == "aa:00:00:00:03:00"


def test_generate_mac_gives_up_with_nores(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.data", make_config(1, 1))
    with ConfigWriter(path, rng=ScriptedRandom([0x000100] * 100)) as cfg, \
            pytest.raises(errors.OpPrereqError, match="unique MAC") as info:
        cfg.generate_mac()
    assert info.value.code == errors.ErrorCode.NORES


def test_reservations_are_released_on_add_or_explicitly(
        writer: ConfigWriter) -> None:
    mac = writer.generate_mac(owner="job-1")
    with pytest.raises(errors.OpPrereqError, match="already in use"):
        writer.reserve_mac(mac.upper())
    inst = make_instance(10, node_name(1), nics=[objects.NIC(mac=mac)])
    writer.add_instance(inst)
    # Now in the config: still refused, but because of the instance.
    with pytest.raises(errors.OpPrereqError, match=r"inst10\.example\.com"):
        writer.reserve_mac(mac)
    other = writer.generate_mac(owner="job-2")
    writer.release_reservations("job-2")
    writer.reserve_mac(other)
    writer.release_mac(other.upper())
    writer.reserve_mac(other, owner="job-3")


# --- unique IDs -------------------------------------------------------------

def test_generate_unique_id(writer: ConfigWriter) -> None:
    ids = {writer.generate_unique_id() for _ in range(200)}
    assert len(ids) == 200
    prefixed = writer.generate_unique_id("lv-")
    assert re.fullmatch(r"lv-[0-9a-f-]{36}", prefixed)


def test_generate_unique_id_avoids_config_ids(tmp_path: Path) -> None:
    data = make_config(1, 1)
    taken = data.instances["inst1.example.com"].uuid
    path = write_config(tmp_path / "config.data", data)
    bits = uuid.UUID(taken).int
    fresh = uuid.UUID(int=12345, version=4)
    rng = ScriptedRandom([bits, bits, 12345])
    with ConfigWriter(path, rng=rng) as cfg:
        assert cfg.generate_unique_id() == str(fresh)
        rng.values = [12345] * 100
        with pytest.raises(errors.OpPrereqError, match="unique ID"):
            cfg.generate_unique_id()
        cfg.release_reservations("nobody")
        rng.values = [12345] * 100
        with pytest.raises(errors.OpPrereqError):
            cfg.generate_unique_id()


# --- ports ------------------------------------------------------------------

def test_allocate_port_counts_up_and_is_persistent(
        writer: ConfigWriter) -> None:
    start = writer.get_cluster().highest_used_port
    assert writer.allocate_port() == start + 1
    assert writer.allocate_port() == start + 2
    path = writer.path
    writer.close()
    with ConfigWriter(path) as again:
        assert again.get_cluster().highest_used_port == start + 2
        assert again.allocate_port() == start + 3


def test_allocate_port_prefers_the_pool(tmp_path: Path) -> None:
    data = make_config(1, tcpudp_port_pool=[12000, 11500])
    with open_writer(tmp_path, data) as cfg:
        highest = cfg.get_cluster().highest_used_port
        assert cfg.allocate_port() == 11500
        assert cfg.allocate_port() == 12000
        assert cfg.allocate_port() == highest + 1
        assert cfg.get_cluster().tcpudp_port_pool == []


def test_allocate_port_exhausted_is_nores(tmp_path: Path) -> None:
    data = make_config(1, highest_used_port=constants.LAST_DRBD_PORT - 1)
    with open_writer(tmp_path, data) as cfg:
        assert cfg.allocate_port() == constants.LAST_DRBD_PORT
        with pytest.raises(errors.OpPrereqError, match="No free ports") as info:
            cfg.allocate_port()
        assert info.value.code == errors.ErrorCode.NORES
        assert "\n" not in str(info.value)
