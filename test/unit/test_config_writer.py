"""ConfigWriter: loading, saving, serial numbers, hooks, lookups, changes."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_builders import (
    make_cluster,
    make_config,
    make_instance,
    make_node,
    node_name,
    write_config,
)

from ganeti import constants, errors, objects, pathutils, serializer
from ganeti.config import ConfigWriter, initialize, journal


@pytest.fixture
def cfg_path(tmp_path: Path) -> str:
    return write_config(tmp_path / "config.data", make_config(3, 6))


@pytest.fixture
def writer(cfg_path: str) -> Iterator[ConfigWriter]:
    with ConfigWriter(cfg_path, rng=random.Random(42)) as cfg:
        yield cfg


def on_disk(path: str) -> objects.ConfigData:
    """The document on disk: the base with its journal applied."""
    return objects.ConfigData.from_dict(journal.read_document(path))


def assert_file_matches(cfg: ConfigWriter) -> None:
    """The files hold exactly the in-memory configuration, and once
    compacted the base is exactly its encoding."""
    expected = cfg.get_config_data().to_dict()
    assert journal.read_document(cfg.path) == expected
    cfg.compact()
    with open(cfg.path, "rb") as handle:
        raw = handle.read()
    assert raw == serializer.dumps(expected)
    assert os.path.getsize(journal.journal_path(cfg.path)) == 0


# --- loading --------------------------------------------------------------

def test_load_round_trip(cfg_path: str) -> None:
    expected = on_disk(cfg_path)
    with ConfigWriter(cfg_path) as cfg:
        assert cfg.get_config_data() == expected
        cluster = cfg.get_cluster()
        cfg.update(cluster)
        assert_file_matches(cfg)
        saved = cfg.get_config_data()
    with ConfigWriter(cfg_path, offline=True) as again:
        assert again.get_config_data() == saved


def test_default_path_comes_from_pathutils(tmp_path: Path) -> None:
    paths = pathutils.set_root(str(tmp_path))
    try:
        os.makedirs(paths.data_dir)
        write_config(paths.cluster_conf_file, make_config(1))
        with ConfigWriter() as cfg:
            assert cfg.path == paths.cluster_conf_file
            assert os.path.exists(paths.config_lock_file)
    finally:
        pathutils.set_root(None)


def test_missing_file_is_not_cluster_error(tmp_path: Path) -> None:
    path = str(tmp_path / "config.data")
    with pytest.raises(errors.NotClusterError) as info:
        ConfigWriter(path)
    assert str(info.value) == (f"Cluster configuration not found at {path}; "
                               "is this node part of a cluster?")
    assert info.value.exit_code == errors.EXIT_NOTCLUSTER


@pytest.mark.parametrize("content, match", [
    (b'{"cluster": ', "corrupt: Invalid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b"\x00\xff garbage", "corrupt"),
    (b'{"version": 2060000, "cluster": 5}', "is invalid: ConfigData.cluster"),
])
def test_corrupt_file_is_configuration_error(tmp_path: Path, content: bytes,
                                             match: str) -> None:
    path = tmp_path / "config.data"
    path.write_bytes(content)
    with pytest.raises(errors.ConfigurationError, match=match) as info:
        ConfigWriter(str(path))
    assert str(path) in str(info.value)
    # A failed load leaves the lock free.
    path.write_bytes(serializer.dumps(make_config(1).to_dict()))
    ConfigWriter(str(path)).close()


def test_newer_version_is_version_mismatch(tmp_path: Path) -> None:
    doc = make_config(1).to_dict()
    doc["version"] = constants.build_version(9, 0, 0)
    path = tmp_path / "config.data"
    path.write_bytes(serializer.dumps(doc))
    with pytest.raises(errors.ConfigVersionMismatch, match=str(path)):
        ConfigWriter(str(path))


def _strip_uuids(obj: object) -> None:
    if isinstance(obj, dict):
        obj.pop("uuid", None)
        for value in obj.values():
            _strip_uuids(value)
    elif isinstance(obj, list):
        for value in obj:
            _strip_uuids(value)


def test_old_version_is_upgraded_and_written_back_once(tmp_path: Path) -> None:
    doc = make_config(2, 2).to_dict()
    doc["version"] = constants.build_version(2, 0, 0)
    doc["serial_no"] = 7
    _strip_uuids(doc)
    path = tmp_path / "config.data"
    path.write_bytes(serializer.dumps(doc))
    with ConfigWriter(str(path)) as cfg:
        assert cfg.get_serial_no() == 8
        assert cfg.get_cluster().uuid
        assert_file_matches(cfg)
    assert on_disk(str(path)).version == constants.CONFIG_VERSION
    with ConfigWriter(str(path)) as cfg:  # current now: no second write
        assert cfg.get_serial_no() == 8


# --- locking --------------------------------------------------------------

def test_second_writer_on_same_file_is_refused(cfg_path: str) -> None:
    with ConfigWriter(cfg_path):
        with pytest.raises(errors.ConfigurationError) as info:
            ConfigWriter(cfg_path)
        assert "is in use by another process" in str(info.value)
        assert info.value.code == errors.ErrorCode.LOCKED
        # Offline readers take no lock.
        with ConfigWriter(cfg_path, offline=True) as reader:
            assert reader.node_names()
    ConfigWriter(cfg_path).close()  # released on close


def test_closed_writer_refuses_changes(writer: ConfigWriter) -> None:
    writer.close()
    assert writer.get_node(node_name(1)) is not None
    with pytest.raises(errors.ProgrammerError, match="closed"):
        writer.set_instance_admin_up("inst1.example.com", True)


# --- saving, serial numbers, hooks -----------------------------------------

def test_update_bumps_serials_and_writes(writer: ConfigWriter) -> None:
    before = writer.get_serial_no()
    inst = writer.get_instance("inst1.example.com")
    assert inst is not None
    old_serial, old_mtime = inst.serial_no, inst.mtime
    inst.add_tag("web")
    writer.update(inst)
    assert inst.serial_no == old_serial + 1
    assert inst.mtime >= old_mtime
    assert writer.get_serial_no() == before + 1
    stored = on_disk(writer.path)
    assert stored.serial_no == before + 1
    assert stored.instances[inst.name].tags == ["web"]
    assert stored.instances[inst.name].serial_no == old_serial + 1
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == 0o600
    # The caller's copy stays current: it can be updated again.
    inst.add_tag("db")
    writer.update(inst)
    assert_file_matches(writer)


def test_readers_get_copies(writer: ConfigWriter) -> None:
    node = writer.get_node(node_name(2))
    assert node is not None
    node.drained = True
    assert writer.get_node(node_name(2)).drained is False  # type: ignore[union-attr]
    cluster = writer.get_cluster()
    cluster.candidate_pool_size = 1
    assert writer.get_cluster().candidate_pool_size != 1


def test_shared_instances_are_never_changed_in_place(writer: ConfigWriter
                                                    ) -> None:
    """view_instances hands out the stored objects (no copies, for
    large queries): a change stores a new object, so what a reader holds
    stays as it was read."""
    names = writer.instance_names()
    shared = writer.view_instances(writer.instance_names())
    assert [i.name for i in shared] == names
    assert writer.view_instances([names[1].upper(), "nosuch", names[0]]
                                       ) == [shared[1], shared[0]]
    before = shared[0].to_dict()
    inst = writer.get_instance(names[0])
    assert inst is not None
    inst.add_tag("changed")
    writer.update(inst)
    writer.set_instance_admin_up(names[0], not inst.admin_up)
    assert shared[0].to_dict() == before
    assert writer.view_instances([names[0]])[0] is not shared[0]
    assert "changed" in writer.view_instances([names[0]])[0].tags


def test_update_refuses_foreign_and_stale_objects(
        writer: ConfigWriter) -> None:
    stranger = make_node(9)
    with pytest.raises(errors.ProgrammerError, match="not part of this"):
        writer.update(stranger)
    impostor = writer.get_node(node_name(2))
    assert impostor is not None
    impostor.uuid = "00000000-0000-4000-8000-ffffffffffff"
    with pytest.raises(errors.ProgrammerError, match="not part of this"):
        writer.update(impostor)
    first = writer.get_instance("inst2.example.com")
    second = writer.get_instance("inst2.example.com")
    assert first is not None and second is not None
    first.add_tag("a")
    writer.update(first)
    second.add_tag("b")
    with pytest.raises(errors.ProgrammerError, match="changed since"):
        writer.update(second)
    with pytest.raises(errors.ProgrammerError, match="Cannot update"):
        writer.update(objects.NIC(mac="aa:00:00:00:00:01"))  # type: ignore[type-var]


def test_update_checks_consistency(writer: ConfigWriter) -> None:
    cluster = writer.get_cluster()
    cluster.master_node = "nowhere.example.com"
    with pytest.raises(errors.OpPrereqError, match="not in the config"):
        writer.update(cluster)
    node = writer.get_node(node_name(2))
    assert node is not None
    node.secondary_ip = "198.51.100.3"
    with pytest.raises(errors.OpPrereqError, match="already used by node"):
        writer.update(node)
    inst = writer.get_instance("inst1.example.com")
    other = writer.get_instance("inst2.example.com")
    assert inst is not None and other is not None
    inst.nics[0].mac = other.nics[0].mac
    with pytest.raises(errors.OpPrereqError, match="MAC address"):
        writer.update(inst)
    assert_file_matches(writer)


def test_write_hooks_get_each_new_serial(writer: ConfigWriter) -> None:
    seen: list[int] = []
    writer.add_write_hook(seen.append)

    def broken(serial: int) -> None:
        raise RuntimeError("hook failure")

    writer.add_write_hook(broken)
    start = writer.get_serial_no()
    writer.set_instance_admin_up("inst1.example.com", True)
    writer.set_instance_admin_up("inst1.example.com", True)  # no change
    writer.allocate_port()
    assert seen == [start + 1, start + 2]
    writer.remove_write_hook(seen.append)
    writer.allocate_port()
    assert seen == [start + 1, start + 2]


def test_failed_write_rolls_back(writer: ConfigWriter,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = writer.get_config_data()

    def fail(*args: object, **kwargs: object) -> None:
        raise errors.OpExecError("Cannot write file: disk full",
                                 errors.ErrorCode.ENVIRON)

    monkeypatch.setattr("ganeti.utils.io.write_file_atomic", fail)
    monkeypatch.setattr("ganeti.config.journal.append", fail)
    inst = writer.get_instance("inst1.example.com")
    assert inst is not None
    serial = inst.serial_no
    inst.add_tag("lost")
    with pytest.raises(errors.OpExecError, match="disk full"):
        writer.update(inst)
    assert inst.serial_no == serial
    with pytest.raises(errors.OpExecError):
        writer.remove_instance("inst2.example.com")
    assert writer.get_config_data() == before
    monkeypatch.undo()
    writer.update(inst)
    assert_file_matches(writer)


# --- lookups ----------------------------------------------------------------

def test_lookup_by_name_case_and_uuid(writer: ConfigWriter) -> None:
    node = writer.get_node("NODE2.Example.COM")
    assert node is not None and node.name == node_name(2)
    assert writer.get_node_by_uuid(node.uuid) == node
    inst = writer.get_instance("Inst3.EXAMPLE.com")
    assert inst is not None and inst.name == "inst3.example.com"
    assert writer.get_instance_by_uuid(inst.uuid) == inst
    assert writer.get_node("node9.example.com") is None
    assert writer.get_instance("inst3") is None  # no expansion here
    assert writer.get_node_by_uuid("nope") is None
    assert writer.get_instance_by_uuid(node.uuid) is None


def test_name_lists_are_nice_sorted(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.data", make_config(11, 11))
    with ConfigWriter(path) as cfg:
        assert cfg.node_names() == [node_name(i) for i in range(1, 12)]
        assert cfg.instance_names()[:3] == ["inst1.example.com",
                                            "inst2.example.com",
                                            "inst3.example.com"]
        assert cfg.instance_names()[-1] == "inst11.example.com"


def test_expand_names(tmp_path: Path) -> None:
    data = make_config(11, [{"name": "web.example.com"},
                            {"name": "web.example.org"},
                            {"name": "db.example.com"}])
    path = write_config(tmp_path / "config.data", data)
    with ConfigWriter(path) as cfg:
        assert cfg.expand_node_name("node1") == "node1.example.com"
        assert cfg.expand_node_name("NODE1") == "node1.example.com"
        assert cfg.expand_node_name("node10") == "node10.example.com"
        assert cfg.expand_node_name("node1.example") == "node1.example.com"
        assert cfg.expand_node_name("node1.example.com") == "node1.example.com"
        assert cfg.expand_node_name("node1.EXAMPLE.com") == "node1.example.com"
        assert cfg.expand_node_name("node") is None  # not a whole label
        assert cfg.expand_node_name("node12") is None
        assert cfg.expand_node_name("") is None
        assert cfg.expand_instance_name("db") == "db.example.com"
        assert cfg.expand_instance_name("web") is None  # ambiguous
        assert cfg.expand_instance_name("web.example.org") == "web.example.org"


def test_role_lookups(tmp_path: Path) -> None:
    data = make_config(4, 3)
    data.nodes[node_name(3)].master_candidate = False
    data.nodes[node_name(4)].offline = True
    data.nodes[node_name(4)].master_candidate = False
    path = write_config(tmp_path / "config.data", data)
    with ConfigWriter(path) as cfg:
        assert cfg.get_master_node() == node_name(1)
        assert [n.name for n in cfg.get_master_candidates()] == [
            node_name(1), node_name(2)]
        assert [n.name for n in cfg.get_online_nodes()] == [
            node_name(1), node_name(2), node_name(3)]
        assert cfg.get_node_instances("NODE1.example.com") == (
            ["inst1.example.com"], [])
        assert cfg.get_node_instances(node_name(4)) == (
            [], ["inst3.example.com"])


# --- changes ----------------------------------------------------------------

def test_add_and_remove_node(writer: ConfigWriter) -> None:
    node = make_node(4, master_candidate=False)
    writer.add_node(node)
    assert node.serial_no == 1
    assert writer.get_node(node_name(4)) == node
    assert on_disk(writer.path).nodes[node_name(4)] == node
    with pytest.raises(errors.OpPrereqError, match="already in the") as info:
        writer.add_node(make_node(4, name="NODE4.example.com",
                                  primary_ip="192.0.2.99",
                                  secondary_ip="192.0.2.99"))
    assert info.value.code == errors.ErrorCode.EXISTS
    with pytest.raises(errors.OpPrereqError, match="already used by node"):
        writer.add_node(make_node(5, primary_ip="192.0.2.4"))
    with pytest.raises(errors.OpPrereqError, match="UUID"):
        writer.add_node(make_node(6, uuid=node.uuid))
    writer.remove_node(node_name(4))
    assert writer.get_node(node_name(4)) is None
    with pytest.raises(errors.OpPrereqError, match="master node"):
        writer.remove_node(node_name(1))
    with pytest.raises(errors.OpPrereqError, match="still used by"):
        writer.remove_node(node_name(2))
    with pytest.raises(errors.OpPrereqError, match="not in the") as info:
        writer.remove_node(node_name(7))
    assert info.value.code == errors.ErrorCode.NOENT
    assert_file_matches(writer)


def test_add_instance_and_its_checks(writer: ConfigWriter) -> None:
    inst = make_instance(20, node_name(2), disk_template=constants.DT_DRBD8,
                         secondary=node_name(3), port=writer.allocate_port())
    writer.add_instance(inst)
    stored = writer.get_instance(inst.name)
    assert stored == inst and stored.serial_no == 1
    assert stored.secondary_nodes == [node_name(3)]

    def attempt(expected: str, **kwargs: object) -> errors.OpPrereqError:
        candidate = make_instance(21, node_name(1), **kwargs)  # type: ignore[arg-type]
        with pytest.raises(errors.OpPrereqError, match=expected) as info:
            writer.add_instance(candidate)
        return info.value

    err = attempt("already in the", name="INST20.example.com")
    assert err.code == errors.ErrorCode.EXISTS
    err = attempt("MAC address",
                  nics=[objects.NIC(mac=inst.nics[0].mac.upper())])
    assert err.code == errors.ErrorCode.NOTUNIQUE
    attempt("not in the configuration", primary_node="ghost.example.com")
    attempt("not enabled", hypervisor=constants.HT_KVM)
    attempt("reuses UUID", uuid=inst.uuid)
    err = attempt("hypervisor parameter", hvparams={"no_such": 1})
    assert isinstance(err, errors.ParameterError)
    attempt("beparams", beparams={"memory": -1})
    attempt("routed NIC requires an IP", nics=[objects.NIC(
        mac="aa:00:00:99:99:99", nicparams={"mode": "routed"})])
    attempt("MAC address", nics=[objects.NIC(mac="aa:00:00:99:99:98"),
                                 objects.NIC(mac="aa:00:00:99:99:98")])
    assert writer.instance_names().count(inst.name) == 1
    assert_file_matches(writer)


def test_network_port_must_be_unique(writer: ConfigWriter) -> None:
    port = writer.allocate_port()
    writer.add_instance(make_instance(30, node_name(1), network_port=port))
    with pytest.raises(errors.OpPrereqError, match="Network port"):
        writer.add_instance(make_instance(31, node_name(1), network_port=port))


def test_remove_instance_returns_port_to_pool(writer: ConfigWriter) -> None:
    port = writer.allocate_port()
    writer.add_instance(make_instance(30, node_name(1), network_port=port))
    writer.remove_instance("INST30.example.com")
    assert writer.get_instance("inst30.example.com") is None
    assert writer.get_cluster().tcpudp_port_pool == [port]
    assert writer.allocate_port() == port
    with pytest.raises(errors.OpPrereqError, match="not in the"):
        writer.remove_instance("inst30.example.com")
    assert_file_matches(writer)


def test_rename_instance(tmp_path: Path) -> None:
    data = make_config(2, [{"disk_template": constants.DT_FILE}, {}])
    path = write_config(tmp_path / "config.data", data)
    with ConfigWriter(path) as cfg:
        old = cfg.get_instance("inst1.example.com")
        assert old is not None
        cfg.rename_instance("INST1.example.com", "web.example.com")
        assert cfg.get_instance("inst1.example.com") is None
        new = cfg.get_instance("web.example.com")
        assert new is not None
        assert new.uuid == old.uuid and new.serial_no == old.serial_no + 1
        assert new.disks[0].logical_id == [
            constants.FD_LOOP, "/srv/ganeti/file-storage/web.example.com/disk0"]
        assert cfg.get_instance_by_uuid(old.uuid) == new
        with pytest.raises(errors.OpPrereqError, match="already in the"):
            cfg.rename_instance("web.example.com", "INST2.example.com")
        with pytest.raises(errors.ConfigurationError):
            cfg.rename_instance("web.example.com", "bad name!")
        cfg.rename_instance("web.example.com", "WEB.example.com")  # case only
        assert cfg.instance_names() == ["WEB.example.com",
                                        "inst2.example.com"]
        assert_file_matches(cfg)


def test_set_instance_admin_up(writer: ConfigWriter) -> None:
    serial = writer.get_serial_no()
    writer.set_instance_admin_up("Inst1.example.com", True)
    inst = writer.get_instance("inst1.example.com")
    assert inst is not None and inst.admin_up
    assert writer.get_serial_no() == serial + 1
    writer.set_instance_admin_up("inst1.example.com", True)
    assert writer.get_serial_no() == serial + 1
    writer.set_instance_admin_up("inst1.example.com", False)
    assert on_disk(writer.path).instances["inst1.example.com"].admin_up is False


def test_tags_go_through_update(writer: ConfigWriter) -> None:
    cluster = writer.get_cluster()
    cluster.add_tag("production")
    writer.update(cluster)
    node = writer.get_node(node_name(1))
    assert node is not None
    node.add_tag("rack:1")
    writer.update(node)
    node.remove_tag("rack:1")
    writer.update(node)
    stored = on_disk(writer.path)
    assert stored.cluster.tags == ["production"]
    assert stored.nodes[node_name(1)].tags == []


# --- initialize -------------------------------------------------------------

def test_initialize_creates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = str(tmp_path / "config.data")
    master = make_node(1, master_candidate=False)
    cluster = objects.Cluster(cluster_name="new.example.com",
                              master_node=master.name, master_ip="192.0.2.200")
    with initialize(path, cluster, master) as cfg:
        assert cfg.node_names() == [master.name]
        assert cfg.get_node(master.name).master_candidate  # type: ignore[union-attr]
        assert cfg.verify_config() == []
        assert cfg.get_cluster().nicparams["default"]["mode"] == "bridged"
        assert on_disk(path).serial_no == 1
        # The writer holds the lock.
        with pytest.raises(errors.ConfigurationError, match="in use"):
            ConfigWriter(path)
    with pytest.raises(errors.ConfigurationError, match="already exists"):
        initialize(path, cluster, master)
    ConfigWriter(path).close()  # the refused initialize freed the lock


def test_initialize_rejects_bad_input(tmp_path: Path) -> None:
    path = str(tmp_path / "config.data")
    master = make_node(1)
    cluster = make_cluster(master="other.example.com")
    with pytest.raises(errors.OpPrereqError, match="is not the given master"):
        initialize(path, cluster, master)
    cluster = make_cluster(master=master.name)
    cluster.beparams["default"]["memory"] = "lots"
    with pytest.raises(errors.ConfigurationError,
                       match="Invalid initial configuration"):
        initialize(path, cluster, master)
    assert not os.path.exists(path)


def test_concurrent_updates_from_threads(writer: ConfigWriter) -> None:
    import threading

    names = writer.instance_names()
    start = writer.get_serial_no()
    errors_seen: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for round_no in range(5):
                inst = writer.get_instance(name)
                assert inst is not None
                inst.tags = [f"round-{round_no}"]
                writer.update(inst)
                writer.generate_mac(owner=name)
        except BaseException as err:  # reported below
            errors_seen.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors_seen == []
    assert writer.get_serial_no() == start + 5 * len(names)
    stored = on_disk(writer.path)
    assert all(i.tags == ["round-4"] for i in stored.instances.values())
    assert_file_matches(writer)


def test_views_are_the_stored_objects_in_the_order_asked(
        writer: ConfigWriter) -> None:
    """Queries read the stored objects (no copy each), in any case."""
    insts = writer.view_instances(["INST2.example.com", "nope",
                                   "inst1.example.com"])
    assert [i.name for i in insts] == ["inst2.example.com",
                                       "inst1.example.com"]
    assert insts[0] is writer.view_instances(["inst2.example.com"])[0]
    assert insts[0] == writer.get_instance("inst2.example.com")
    nodes = writer.view_nodes([node_name(2), "nope"])
    assert [n.name for n in nodes] == [node_name(2)]
