"""``OpInstanceSetParams`` through the processor: parameters, NICs, disks,
OS, and the refusals that leave the instance unchanged."""

from __future__ import annotations

import os
from typing import Any

import pytest
from instance_ops_env import DISKLESS_INST, FILE_INST, Env, env_fixture  # noqa: F401

from ganeti import errors, opcodes, pathutils


def modify(env: Env, name: str = FILE_INST, **kw: Any) -> Any:
    return env.run(opcodes.OpInstanceSetParams(instance_name=name, **kw))


def refused(env: Env, match: str, name: str = FILE_INST,
            exc: type[BaseException] = errors.OpPrereqError, **kw: Any) -> None:
    before = env.inst(name)
    env.fails(opcodes.OpInstanceSetParams(instance_name=name, **kw), exc, match)
    after = env.inst(name)
    assert after.serial_no == before.serial_no


def test_hv_and_be_params(env: Env) -> None:
    kernel = env.root / "vmlinuz"
    kernel.write_text("")
    result = modify(env, hvparams={"kernel_path": "/vmlinuz",
                                   "kernel_args": "ro"},
                    beparams={"memory": 512, "vcpus": 2})
    assert result == [["hv/kernel_path", "/vmlinuz"], ["hv/kernel_args", "ro"],
                      ["be/vcpus", 2], ["be/maxmem", 512],
                      ["be/minmem", 512]]
    inst = env.inst()
    assert inst.beparams == {"maxmem": 512, "minmem": 512, "vcpus": 2}
    assert inst.hvparams == {"kernel_path": "/vmlinuz", "kernel_args": "ro"}


def test_hv_rule_on_filled_values(env: Env) -> None:
    refused(env, "requires 'kernel_path'", hvparams={"kernel_args": "ro"})


@pytest.mark.parametrize(("kw", "match"), [
    ({"hvparams": {"migration_port": 9}}, "global"),
    ({"hvparams": {"nope": 1}}, "nope"),
    ({"hvparams": {"kernel_path": "relative"}}, "kernel_path"),
    ({"beparams": {"colour": "red"}}, "colour"),
    ({"beparams": {"memory": -1}}, "memory"),
    ({"beparams": {"memory": 4096}}, "missing on its primary node"),
])
def test_param_refusals(env: Env, kw: dict[str, Any], match: str) -> None:
    refused(env, match, **kw)


def test_default_removes_override_and_force_skips_memory(env: Env) -> None:
    modify(env, beparams={"memory": 4096}, force=True)
    assert env.inst().beparams == {"maxmem": 4096, "minmem": 4096}
    modify(env, beparams={"memory": "default"})
    assert env.inst().beparams == {}


def test_nic_add_modify_remove(env: Env) -> None:
    result = modify(env, nics=[["add", {"ip": "192.0.2.50", "mode": "routed",
                                        "link": "100"}]])
    inst = env.inst()
    assert len(inst.nics) == 2
    nic = inst.nics[1]
    assert nic.ip == "192.0.2.50" and nic.nicparams == {"mode": "routed",
                                                        "link": "100"}
    assert result[0][0] == "nic/1" and "mode=routed" in result[0][1]
    modify(env, nics=[[1, {"mac": "aa:00:00:12:34:56", "ip": "none",
                           "mode": "bridged", "link": "xen-br0"}]])
    nic = env.inst().nics[1]
    assert nic.mac == "aa:00:00:12:34:56" and nic.ip is None
    modify(env, nics=[["remove", {}]])
    assert len(env.inst().nics) == 1


def test_nic_refusals(env: Env) -> None:
    refused(env, "routed NIC requires an IP address",
            nics=[["add", {"mode": "routed"}]])
    refused(env, "routed NIC requires an IP address",
            nics=[[0, {"mode": "routed"}]])
    refused(env, "Invalid NIC index 4", nics=[[4, {"ip": "192.0.2.9"}]])
    refused(env, "invalid IP address 'auto'", nics=[["add", {"ip": "auto"}]])
    refused(env, "Missing bridges: br9", nics=[["add", {"link": "br9"}]])
    other = env.inst(DISKLESS_INST).nics[0].mac
    refused(env, "already", nics=[[0, {"mac": other}]])
    refused(env, "'bridge' and 'link'",
            nics=[["add", {"bridge": "a", "link": "b"}]])


def test_nic_missing_bridge_with_force_warns(env: Env) -> None:
    modify(env, nics=[["add", {"link": "br9"}]], force=True)
    assert any("br9" in m and m.startswith("Warning") for m in env.ctx.messages)
    assert env.inst().nics[1].nicparams == {"link": "br9"}


def test_disk_add_and_remove(env: Env) -> None:
    result = modify(env, disks=[["add", {"size": 32, "mode": "ro"}]])
    assert result == [["disk/1", "add:size=32,mode=ro"]]
    inst = env.inst()
    assert [d.iv_name for d in inst.disks] == ["disk/0", "disk/1"]
    path = env.disk_path(index=1)
    assert os.path.getsize(path) == 32 * 1024 * 1024
    modify(env, disks=[[0, {"mode": "ro"}]])
    assert env.inst().disks[0].mode == "ro"
    modify(env, disks=[["remove", {}]])
    assert len(env.inst().disks) == 1 and not os.path.exists(path)


def test_disk_refusals(env: Env) -> None:
    refused(env, "Cannot remove the last disk", disks=[["remove", {}]])
    refused(env, "use grow-disk", disks=[[0, {"size": 5}]])
    refused(env, "Invalid disk index 2", disks=[[2, {"mode": "ro"}]])
    refused(env, "not supported for diskless", name=DISKLESS_INST,
            disks=[["add", {"size": 5}]])
    modify(env, disks=[["add", {"size": 8}]])
    env.run(opcodes.OpInstanceStartup(instance_name=FILE_INST))
    refused(env, "is running, can't remove disks", disks=[["remove", {}]])


def test_disk_creation_failure_changes_nothing(env: Env) -> None:
    directory = os.path.dirname(env.disk_path())
    blocker = os.path.join(directory, "disk1")
    with open(blocker, "w", encoding="ascii") as handle:
        handle.write("in the way")
    env.fails(opcodes.OpInstanceSetParams(instance_name=FILE_INST,
                                          disks=[["add", {"size": 8}]]),
              errors.OpExecError, "Could not create disk/1")
    assert len(env.inst().disks) == 1


def test_template_conversion_refused(env: Env) -> None:
    # File disks convert to nothing (plain <-> drbd only).
    refused(env, "only plain <-> drbd conversions", disk_template="plain")


def test_os_change(env: Env) -> None:
    refused(env, "not in supported OS list", os_name="nosuch-os")
    osdir = os.path.join(pathutils.get().os_search_path[0], "other-os")
    os.makedirs(osdir)
    for script in ("create", "export", "import", "rename", "verify"):
        path = os.path.join(osdir, script)
        with open(path, "w", encoding="ascii") as handle:
            handle.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
    with open(os.path.join(osdir, "ganeti_api_version"), "w",
              encoding="ascii") as handle:
        handle.write("20\n15\n10\n")
    with open(os.path.join(osdir, "parameters.list"), "w",
              encoding="ascii") as handle:
        handle.write("size Root size\n")
    refused(env, "doesn't support variants", os_name="other-os+v1")
    result = modify(env, os_name="other-os")
    assert result == [["os", "other-os"]] and env.inst().os == "other-os"
    refused(env, "colour", osparams={"colour": "red"})
    result = modify(env, osparams={"size": "big"})
    assert result == [["os/size", "big"]]
    assert env.inst().osparams == {"size": "big"}
