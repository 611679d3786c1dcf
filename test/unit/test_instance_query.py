"""Instance remove/reinstall/rename and the instance queries through the
processor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import NODE1, NODE2, Env, create_op, install_os, lu_env

from ganeti import errors, opcodes, pathutils
from ganeti.cmdlib.instance_create import reinstall_osparams

INST = "inst1.example.com"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def test_reinstall_osparams_rule() -> None:
    declared = {"size": "", "shape": ""}
    current = {"color": "blue", "size": "5"}
    assert reinstall_osparams("a", current, "a+v", {"color": "", "size": ""},
                              {"size": "6"}, False) == {"color": "blue",
                                                        "size": "6"}
    assert reinstall_osparams("a", current, "b", declared, None, True) == \
        {"size": "5"}
    assert reinstall_osparams("a", current, "b", declared, None, False) == {}
    assert reinstall_osparams("a", current, "b", declared,
                              {"shape": "x"}, False) == {"shape": "x"}
    assert reinstall_osparams("a", current, "a", {"color": "", "size": ""},
                              {"size": "default"}, False) == {"color": "blue"}
    with pytest.raises(errors.ParameterError, match="'color'"):
        reinstall_osparams("a", current, "b", declared, {"color": "x"}, True)


def test_reinstall_rename_remove(env: Env) -> None:
    install_os(env, parameters="color c\nsize s\n")
    install_os(env, name="other", parameters="size s\n")
    env.run(create_op(osparams={"color": "blue", "size": "1"}, start=True))
    with pytest.raises(errors.OpPrereqError, match="must be stopped"):
        env.run(opcodes.OpInstanceReinstall(instance_name=INST))
    env.run(opcodes.OpInstanceShutdown(instance_name=INST))
    env.run(opcodes.OpInstanceReinstall(instance_name=INST, os_type="other",
                                        keep_known_os_parameters=True))
    inst = env.cfg.get_instance(INST)
    assert inst is not None and inst.os == "other"
    assert inst.osparams == {"size": "1"}
    created = env.env_of("create", "other")
    assert created["INSTANCE_REINSTALL"] == "1"
    assert created["OSP_SIZE"] == "1"

    env.run(opcodes.OpInstanceRename(instance_name="inst1",
                                     new_name="inst9.example.com",
                                     name_check=False, ip_check=False))
    assert env.cfg.instance_names() == ["inst9.example.com"]
    assert env.instance_locks() == ["inst9.example.com"]
    assert env.env_of("rename", "other")["OLD_INSTANCE_NAME"] == INST
    new_disk = (Path(pathutils.get().file_storage_dir) / "inst9.example.com"
                / "disk0")
    assert new_disk.exists()

    env.run(opcodes.OpInstanceRemove(instance_name="inst9.example.com"))
    assert env.cfg.instance_names() == []
    assert env.instance_locks() == []
    assert not new_disk.parent.exists()


def test_reinstall_with_an_os_that_has_variants_needs_one(env: Env) -> None:
    install_os(env)
    install_os(env, name="varos", variants="a\nb\n")
    env.run(create_op())
    with pytest.raises(errors.OpPrereqError,
                       match=r"OS name 'varos' must include a variant"
                             r" \(one of a, b\)"):
        env.run(opcodes.OpInstanceReinstall(instance_name=INST,
                                            os_type="varos"))
    env.run(opcodes.OpInstanceReinstall(instance_name=INST,
                                        os_type="varos", force_variant=True))
    env.run(opcodes.OpInstanceReinstall(instance_name=INST,
                                        os_type="varos+b"))
    inst = env.cfg.get_instance(INST)
    assert inst is not None and inst.os == "varos+b"
    assert env.env_of("create", "varos")["OS_VARIANT"] == "b"
    # Without -o the stored name is used as it is.
    env.run(opcodes.OpInstanceReinstall(instance_name=INST))


def test_remove_running_instance(env: Env) -> None:
    install_os(env)
    env.run(create_op(start=True, disk_template="diskless", disks=[]))
    env.run(opcodes.OpInstanceRemove(instance_name=INST))
    assert env.cfg.instance_names() == []
    rows = env.run(opcodes.OpNodeQuery(output_fields=["name", "mfree"],
                                       names=[NODE1]))
    assert rows == [[NODE1, 4096]]


def test_query_fields_and_data(env: Env) -> None:
    install_os(env, parameters="color c\n")
    env.run(create_op(start=True, osparams={"color": "red"},
                      beparams={"vcpus": 2}))
    env.run(create_op(name="inst2.example.com", pnode=NODE2,
                      disk_template="diskless", disks=[], nics=[]))
    rows = env.run(opcodes.OpInstanceQuery(
        output_fields=["name", "pnode", "status", "oper_state",
                       "admin_state", "disk_template", "disk.sizes",
                       "nic.modes", "be/vcpus", "sda_size"]))
    assert rows == [
        [INST, NODE1, "running", True, True, "file", [64], ["routed"], 2, 64],
        ["inst2.example.com", NODE2, "ADMIN_down", False, False, "diskless",
         [], [], 1, None]]
    with pytest.raises(errors.UnknownFieldError, match="nosuch"):
        env.run(opcodes.OpInstanceQuery(output_fields=["name", "nosuch"]))
    data = env.run(opcodes.OpInstanceQueryData(instances=["inst1"]))
    info = data[INST]
    assert info["run_state"] == "up" and info["config_state"] == "up"
    assert info["run_uid"] is None  # no uid pool for the fake hypervisor
    assert info["be_instance"] == {"vcpus": 2}
    assert info["be_actual"]["maxmem"] == 128
    assert info["os_actual"] == {"color": "red"}
    assert info["disks"][0]["pstatus"]["dev_path"].endswith("/disk0")
    static = env.run(opcodes.OpInstanceQueryData(static=True))
    assert sorted(static) == [INST, "inst2.example.com"]
    assert static[INST]["run_state"] is None
    assert static[INST]["disks"][0]["pstatus"] is None


def test_failed_rename_puts_name_and_lock_back(env: Env) -> None:
    """A rename whose file storage move fails keeps the old name in the
    configuration and in the lock manager (``Env.run`` checks that they
    agree), so the instance stays manageable under its old name."""
    install_os(env)
    env.run(create_op())
    storage = Path(pathutils.get().file_storage_dir)
    (storage / "inst9.example.com").write_text("in the way\n")
    with pytest.raises(errors.OpExecError, match="the target exists"):
        env.run(opcodes.OpInstanceRename(instance_name=INST,
                                         new_name="inst9.example.com",
                                         name_check=False, ip_check=False))
    assert env.instance_locks() == [INST]
    env.run(opcodes.OpInstanceRemove(instance_name=INST))
    assert env.instance_locks() == []
