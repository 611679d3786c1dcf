"""Instance creation through the processor: checks, disks, OS install,
start, rollback, locks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import (
    NODE1,
    Env,
    add_bridge,
    create_op,
    install_os,
    lu_env,
)

from ganeti import constants, errors, locking, opcodes, pathutils
from ganeti.cmdlib import instance_create
from ganeti.hypervisor import fake

INST = "inst1.example.com"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def disk_file(name: str = INST, index: int = 0) -> Path:
    return Path(pathutils.get().file_storage_dir) / name / f"disk{index}"


def test_create_file_instance_installs_and_starts(env: Env) -> None:
    install_os(env, variants="v1\nv2\n", parameters="color the color\n")
    result = env.run(create_op(os_type="testos+v2", start=True,
                               osparams={"color": "blue"},
                               beparams={"memory": "256M"}))
    assert result == [NODE1]
    inst = env.cfg.get_instance(INST)
    assert inst is not None and inst.admin_up
    assert inst.beparams == {"maxmem": 256, "minmem": 256}
    assert inst.nics[0].mac.startswith(env.cfg.get_cluster().mac_prefix)
    assert disk_file().stat().st_size == 64 * 1024 * 1024
    created = env.env_of("create")
    assert created["OS_VARIANT"] == "v2"
    assert created["OSP_COLOR"] == "blue"
    assert created["INSTANCE_BE_maxmem"] == "256"
    assert created["INSTANCE_BE_minmem"] == "256"
    assert created["NIC_0_MODE"] == "routed"
    assert "INSTANCE_REINSTALL" not in created
    assert INST in env.instance_locks()
    assert any("starting instance" in m for m in env.ctx.messages)
    rows = env.run(instance_create.opcodes.OpInstanceQuery(
        output_fields=["name", "status", "oper_ram"]))
    assert rows == [[INST, "running", 256]]


def test_diskless_no_start_runs_no_os_script(env: Env) -> None:
    install_os(env)
    env.run(create_op(disk_template=constants.DT_DISKLESS, disks=[],
                      nics=[]))
    inst = env.cfg.get_instance(INST)
    assert inst is not None and not inst.admin_up and inst.disks == []
    assert not (env.os_root.parent / "out" / "os-testos"
                / "create.env").exists()


def test_no_install_skips_the_os(env: Env) -> None:
    install_os(env)
    env.run(create_op(no_install=True))
    assert disk_file().exists()
    with pytest.raises(FileNotFoundError):
        env.env_of("create")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hvparams": {"nosuch": "1"}},
     "Unknown hypervisor parameter 'nosuch' for hypervisor 'fake'"),
    ({"beparams": {"memory": "lots"}}, "beparams: parameter 'memory'"),
    ({"disks": [{"size": 10, "params": {"stripes": 2}}]},
     "Disk 0: Unknown disk parameter 'stripes' for disk template 'file'"),
    ({"nics": [{"mode": "routed"}]},
     "NIC 0: nicparams: a routed NIC requires an IP address"),
    ({"os_type": "testos+v9"}, "does not support variants"),
    ({"os_type": "nosuch"}, "OS 'nosuch' not usable on node"),
    ({"beparams": {"maxmem": 128, "minmem": 256}},
     r"minmem \(256\) must not be greater than maxmem \(128\)"),
    ({"disk_template": constants.DT_PLAIN},
     "volume group xenvg does not exist \\(needed for the disks of instance"),
    ({"disk_template": constants.DT_DRBD8},
     "The drbd template needs a secondary node \\(-n PRIMARY:SECONDARY\\)"),
    ({"disk_template": constants.DT_DRBD8, "snode": NODE1},
     f"The secondary node cannot be the primary node \\({NODE1}\\)"),
    ({"disk_template": constants.DT_DRBD8, "snode": "node9"},
     "Node 'node9' not known"),
    ({"disk_template": constants.DT_PLAIN, "disks": [{"adopt": "lv0"}]},
     "Cannot adopt logical volume\\(s\\) lv0 of volume group xenvg on node"
     " .*: .*Volume group"
     " \"xenvg\" not found"),
    ({"pnode": "node9"}, "Node 'node9' not known"),
    ({"instance_name": "inst1.example.com", "name_check": True,
      "ip_check": False}, "no resolver in unit tests"),
])
def test_bad_input_is_refused_before_anything_changes(
        env: Env, kwargs: dict[str, Any], message: str) -> None:
    install_os(env, versions="15\n10\n")
    with pytest.raises(errors.OpPrereqError, match=message):
        env.run(create_op(**kwargs))
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert not disk_file().parent.exists()


def test_variants_and_os_parameters(env: Env) -> None:
    install_os(env, variants="v1\nv2\n", parameters="color the color\n")
    with pytest.raises(errors.OpPrereqError, match="use --force-variant"):
        env.run(create_op(os_type="testos+v3"))
    # As in Ganeti, an OS with variants needs one in the name.
    with pytest.raises(errors.OpPrereqError,
                       match=r"OS name 'testos' must include a variant"
                             r" \(one of v1, v2\)"):
        env.run(create_op(os_type="testos"))
    with pytest.raises(errors.OpPrereqError,
                       match="Unknown OS parameter 'size' for OS 'testos'"):
        env.run(create_op(os_type="testos+v1", osparams={"size": "1"}))
    with pytest.raises(errors.OpPrereqError, match="osparams 'testos'"):
        env.run(create_op(os_type="testos+v1", osparams={"color": "a;b"}))
    env.run(create_op(os_type="testos+v3", force_variant=True))
    assert env.env_of("create")["OS_VARIANT"] == "v3"


def test_os_parameters_of_an_api_without_them_are_kept_not_passed(
        env: Env) -> None:
    install_os(env, versions="15\n", parameters=None, omit=["verify"])
    env.run(create_op(osparams={"color": "x;y"}))
    assert env.cfg.get_instance(INST).osparams == {"color": "x;y"}
    created = env.env_of("create")
    assert not [k for k in created if k.startswith(("OSP_", "INSTANCE_OS_P"))]
    assert created["OS_VARIANT"] == ""
    assert created["INSTANCE_BE_maxmem"] == "128"


def test_disk_and_nic_names_reach_the_config_and_the_os(env: Env) -> None:
    install_os(env)
    env.run(create_op(disks=[{"size": 64, "name": "root", "spindles": 2}],
                      nics=[{"mode": "routed", "ip": "192.0.2.50",
                             "name": "public"}]))
    inst = env.cfg.get_instance(INST)
    assert (inst.disks[0].name, inst.disks[0].spindles) == ("root", 2)
    assert inst.nics[0].name == "public"
    created = env.env_of("create")
    assert created["DISK_0_NAME"] == "root"
    assert created["NIC_0_NAME"] == "public"


@pytest.mark.parametrize("kwargs, message", [
    ({"disks": [{"size": 64, "name": "a"}, {"size": 64, "name": "a"}]},
     "Disk name 'a' is used twice"),
    ({"nics": [{"mode": "routed", "ip": "192.0.2.50", "name": "n"},
               {"mode": "routed", "ip": "192.0.2.51", "name": "n"}]},
     "NIC name 'n' is used twice"),
])
def test_duplicate_device_names_are_refused(
        env: Env, kwargs: dict[str, Any], message: str) -> None:
    install_os(env)
    with pytest.raises(errors.OpPrereqError, match=message):
        env.run(create_op(**kwargs))
    assert env.cfg.instance_names() == []


def test_a_number_is_not_a_disk_name() -> None:
    with pytest.raises(errors.OpPrereqError, match="disks"):
        create_op(disks=[{"size": 64, "name": "0"}]).validate()


def test_os_verify_script_judges_parameters(env: Env) -> None:
    install_os(env, parameters="color the color\n",
               scripts={"verify": "#!/bin/sh\necho 'no red' >&2\n"
                                  "test \"$OSP_COLOR\" != red\n"})
    with pytest.raises(errors.OpPrereqError, match="refused on node"):
        env.run(create_op(osparams={"color": "red"}))
    env.run(create_op(osparams={"color": "green"}))


def test_failed_os_install_rolls_back(env: Env) -> None:
    install_os(env, scripts={"create": "#!/bin/sh\necho mkfs failed\n"
                                       "exit 3\n"})
    with pytest.raises(errors.OpExecError, match="mkfs failed"):
        env.run(create_op())
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert not disk_file().exists()
    assert not disk_file().parent.exists()
    # The name and the MAC can be used again.
    install_os(env, name="otheros")
    env.run(create_op(os_type="otheros"))
    assert env.cfg.instance_names() == [INST]


def test_start_needs_bridge_and_memory(env: Env, monkeypatch: Any) -> None:
    install_os(env)
    bridged = [{"mode": "bridged", "link": "br-test"}]
    with pytest.raises(errors.OpPrereqError, match="Missing bridges: br-test"):
        env.run(create_op(nics=bridged, start=True))
    add_bridge(env.root, "br-test")
    with pytest.raises(errors.OpPrereqError, match="Not enough memory"):
        env.run(create_op(nics=bridged, start=True,
                          beparams={"memory": 8192}))
    env.run(create_op(nics=bridged, start=True))
    assert env.cfg.get_instance(INST).admin_up  # type: ignore[union-attr]


def test_existing_name_and_mac_refused(env: Env) -> None:
    install_os(env)
    env.run(create_op(nics=[{"mac": "aa:00:00:11:22:33", "mode": "routed",
                             "ip": "192.0.2.9"}]))
    with pytest.raises(errors.OpPrereqError, match="already in the cluster"):
        env.run(create_op())
    with pytest.raises(errors.OpPrereqError, match="already in use"):
        env.run(create_op(name="inst2.example.com",
                          nics=[{"mac": "aa:00:00:11:22:33", "mode": "routed",
                                 "ip": "192.0.2.9"}]))
    assert env.instance_locks() == [INST]


def test_name_check_uses_the_resolver(env: Env) -> None:
    install_os(env)
    instance_create.set_name_services(
        resolver=lambda name: (f"{name}.example.com", "192.0.2.77"),
        pinger=lambda ip: ip == "192.0.2.78")
    env.run(create_op(name="web", name_check=True, ip_check=True,
                      nics=[{"ip": "auto", "mode": "routed"}]))
    inst = env.cfg.get_instance("web.example.com")
    assert inst is not None and inst.nics[0].ip == "192.0.2.77"
    instance_create.set_name_services(
        resolver=lambda name: (f"{name}.example.com", "192.0.2.78"),
        pinger=lambda ip: ip == "192.0.2.78")
    with pytest.raises(errors.OpPrereqError, match="already in use"):
        env.run(create_op(name="db", name_check=True, ip_check=True))


def test_file_storage_subdirectory(env: Env) -> None:
    install_os(env)
    env.run(create_op(file_storage_dir="pool1", file_driver="blktap",
                      disks=[{"size": 8}, {"size": 4, "mode": "ro"}]))
    inst = env.cfg.get_instance(INST)
    assert inst is not None
    base = pathutils.CONFIGURED_FILE_STORAGE_DIR
    assert inst.disks[1].logical_id == [
        "blktap", os.path.join(base, "pool1", INST, "disk1")]
    created = env.env_of("create")
    assert created["DISK_1_ACCESS"] == "ro"
    assert created["DISK_0_BACKEND_TYPE"] == "file:blktap"


def test_dry_run_changes_nothing(env: Env) -> None:
    install_os(env)
    op = create_op(dry_run=True)
    assert env.run(op) == [NODE1]
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert not env.proc.glm.is_owned(locking.LEVEL_NODE)


def _assert_manageable(env: Env, name: str = INST) -> None:
    """What the guide's next commands need of an instance: info, startup,
    shutdown and remove all get past the locks."""
    assert name in env.instance_locks()
    info = env.run(opcodes.OpInstanceQueryData(instances=[name]))
    assert info[name]["name"] == name
    env.run(opcodes.OpInstanceShutdown(instance_name=name))
    env.run(opcodes.OpInstanceRemove(instance_name=name))
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert not disk_file(name).exists()


def test_failed_first_start_leaves_a_manageable_stopped_instance(
        env: Env) -> None:
    """Issue 18: a start failing at the end of the add (here the kernel
    the guide names is missing on the node) kept the instance in the
    configuration but dropped its lock, so every later command on it
    failed with "no such lock(s)" until the master restarted."""
    install_os(env)
    with pytest.raises(errors.OpExecError,
                       match=r"Could not start instance .*kernel_path"):
        env.run(create_op(start=True,
                          hvparams={"kernel_path": "/boot/no-such-vmlinuz"}))
    inst = env.cfg.get_instance(INST)
    assert inst is not None and not inst.admin_up
    assert disk_file().exists()
    assert not env.proc.glm.is_owned(locking.LEVEL_INSTANCE)
    with pytest.raises(errors.OpExecError, match="kernel_path"):
        env.run(opcodes.OpInstanceStartup(instance_name=INST))
    _assert_manageable(env)


def test_failed_start_by_the_hypervisor_keeps_the_lock(env: Env) -> None:
    """The same with the fake hypervisor's own fault injection."""
    install_os(env)
    fake.FakeHypervisor().inject_fault("start_instance", "no room for it")
    with pytest.raises(errors.OpExecError, match="no room for it"):
        env.run(create_op(start=True))
    _assert_manageable(env)


def test_failed_disk_creation_leaves_no_instance(env: Env) -> None:
    """The other failure paths of the add leave nothing: no instance, no
    lock (checked after every opcode by ``Env.run``), no disks."""
    install_os(env)
    disk_file().parent.parent.mkdir(parents=True, exist_ok=True)
    disk_file().parent.write_text("in the way\n")
    with pytest.raises(errors.OpExecError, match="Cannot create"):
        env.run(create_op(start=True))
    assert env.cfg.instance_names() == []
    disk_file().parent.unlink()
    env.run(create_op(start=True))
    assert env.cfg.get_instance(INST).admin_up  # type: ignore[union-attr]
