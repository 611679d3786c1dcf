"""The OS calls and the OS scripts run by instance calls: environments
per API version, failures that carry the log, the example OS."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_backend_instance_support import (
    BEPARAMS,
    HVPARAMS,
    INST,
    call,
    client,
    create_disks,
    failure,
    make_instance,
    nicparams,
    on_node,
    os_dir,
)
from test_osdef_support import EXAMPLE_OS_DIR, make_os, read_env

from ganeti import objects, pathutils


@pytest.fixture
def node(tmp_path: Path) -> Iterator[pathutils.Paths]:
    with on_node(tmp_path / "node1") as paths:
        yield paths


def os_add_args(inst: objects.Instance, *, reinstall: bool = False,
                osparams: dict[str, Any] | None = None) -> list[Any]:
    return [inst.to_dict(), reinstall, 1, dict(HVPARAMS), dict(BEPARAMS),
            nicparams(inst), osparams or {}]


# --- os_diagnose, os_get, os_validate -------------------------------------------

def test_diagnose_lists_valid_invalid_and_shadowed(
        node: pathutils.Paths, tmp_path: Path) -> None:
    entry = os_dir(node)
    make_os(entry, "good", variants="v1\nv2\n", parameters="size Disk size\n")
    make_os(entry, "broken", omit=["create"])
    second = Path(tmp_path / "elsewhere")
    make_os(second, "good")
    rpc = client()
    try:
        result = rpc.call_os_diagnose(["node1"])["node1"].raise_on_fail()
    finally:
        rpc.close()
    by_name = {(r["name"], r["shadowed"]): r for r in result}
    good = by_name[("good", False)]
    assert good == {"name": "good", "path": str(entry / "good"),
                    "valid": True, "error": "", "shadowed": False,
                    "api_versions": [20, 15, 10], "variants": ["v1", "v2"],
                    "parameters": [["size", "Disk size"]]}
    broken = by_name[("broken", False)]
    assert not broken["valid"]
    assert broken["error"] == "create script missing"


def test_get(node: pathutils.Paths) -> None:
    make_os(os_dir(node), "good", versions="15\n10\n", variants="a\nb\n")
    definition = call("os_get", "good+b")
    assert definition["api_version"] == 15
    assert definition["variants"] == ["a", "b"]
    assert failure("os_get", "missing") == (
        f"OS 'missing' not found in the OS search path ({node.os_search_path[0]})")
    assert failure("os_get", "../etc").startswith("Invalid OS name")


def test_validate(node: pathutils.Paths) -> None:
    make_os(os_dir(node), "picky", parameters="colour The colour\n",
            scripts={"verify": "#!/bin/sh\n"
                     "[ \"$OSP_COLOUR\" = blue ] && exit 0\n"
                     "echo \"colour $OSP_COLOUR is not allowed\" >&2\nexit 1\n"})
    assert call("os_validate", True, "picky", ["parameters"],
                {"colour": "blue"}) is True
    assert call("os_validate", True, "picky", [], {"colour": "red"}) is True
    message = failure("os_validate", True, "picky", ["parameters"],
                      {"colour": "red"})
    assert message.startswith("OS 'picky' rejected the parameters")
    assert message.endswith("colour red is not allowed")
    assert failure("os_validate", True, "picky", ["parameters"],
                   {"size": "1"}) == "Unknown OS parameter 'size' for OS 'picky'"
    assert call("os_validate", False, "missing", ["parameters"], {}) is False
    assert "missing" in failure("os_validate", True, "missing",
                                ["parameters"], {})
    assert "argument 'checks'" in failure("os_validate", True, "picky",
                                          ["everything"], {})


# --- instance_os_add and instance_run_rename ---------------------------------

@pytest.mark.parametrize("api", [10, 15, 20])
def test_os_add_environment_per_api(node: pathutils.Paths, api: int) -> None:
    entry = os_dir(node)
    make_os(entry, "testos", versions=f"{api}\n", variants="v1\nv2\n",
            parameters="hostname Host name\n")
    inst = make_instance(os_name="testos" if api == 10 else "testos+v2")
    paths = create_disks(inst)
    result = call("instance_os_add",
                  *os_add_args(inst, osparams={"hostname": "web1"}))
    assert result["os_name"] == "testos"
    assert result["api_version"] == api
    assert result["variant"] == (None if api == 10 else "v2")
    assert os.path.isfile(result["log_path"])
    assert result["log_path"].startswith(node.os_log_dir + "/add-testos-")
    env = read_env(entry, "create")
    assert env["OS_API_VERSION"] == str(api)
    assert env["INSTANCE_NAME"] == INST
    assert env["DISK_COUNT"] == "2"
    assert [env["DISK_0_PATH"], env["DISK_1_PATH"]] == paths
    assert env["DISK_0_BACKEND_TYPE"] == "file:loop"
    assert env["NIC_0_BRIDGE"] == "xen-br0"
    assert env["DEBUG_LEVEL"] == "1"
    assert env["INSTANCE_BE_maxmem"] == "128"
    assert "INSTANCE_REINSTALL" not in env
    if api == 10:
        # API 10 has no variants: OS_VARIANT is set, empty (as Ganeti).
        assert env["OS_VARIANT"] == ""
        assert not [k for k in env if k.startswith(("OSP_",
                                                    "INSTANCE_OS_PARAMETER_"))]
        assert env["INSTANCE_HYPERVISOR"] == env["HYPERVISOR"]
    elif api == 15:
        assert env["OS_VARIANT"] == "v2"
        assert not [k for k in env if k.startswith("OSP_")]
    else:
        assert env["OS_VARIANT"] == "v2"
        assert env["OSP_HOSTNAME"] == "web1"
        assert env["INSTANCE_OS_PARAMETER_HOSTNAME"] == "web1"


def test_reinstall_and_default_variant(node: pathutils.Paths) -> None:
    entry = os_dir(node)
    make_os(entry, "testos", variants="v1\nv2\n")
    inst = make_instance(os_name="testos")
    create_disks(inst)
    result = call("instance_os_add", *os_add_args(inst, reinstall=True))
    assert result["variant"] == "v1"
    assert "/reinstall-testos-" in result["log_path"]
    env = read_env(entry, "create")
    assert env["INSTANCE_REINSTALL"] == "1"
    assert env["OS_VARIANT"] == "v1"


def test_os_add_failures(node: pathutils.Paths) -> None:
    entry = os_dir(node)
    inst = make_instance(os_name="testos")
    assert failure("instance_os_add", *os_add_args(inst)).startswith(
        "Cannot activate disk/0: ")
    create_disks(inst)
    assert failure("instance_os_add", *os_add_args(inst)) == (
        f"OS 'testos' not found in the OS search path ({entry})")
    make_os(entry, "testos", scripts={"create": "#!/bin/sh\n"
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo step $i; done\n"
            "echo 'mkfs failed' >&2\nexit 3\n"})
    message = failure("instance_os_add", *os_add_args(inst))
    log_dir = node.os_log_dir
    assert message.startswith("OS create script of 'testos' failed (exited"
                              " with exit code 3), see " + log_dir + "/add-")
    assert message.endswith("; last line of output: mkfs failed; earlier"
                            " output: step 4 | step 5 | step 6 | step 7 |"
                            " step 8 | step 9 | step 10 | step 11 | step 12")
    logs = os.listdir(log_dir)
    assert len([n for n in logs if n.startswith("add-testos-")]) == 1
    nameless = make_instance(os_name="", disks=[])
    assert failure("instance_os_add", *os_add_args(nameless)) == (
        f"Instance {INST} has no OS")
    unlisted = make_instance(os_name="testos+nope", disks=[])
    assert "does not support variants" in failure(
        "instance_os_add", *os_add_args(unlisted))
    bad = os_add_args(inst)
    bad[6] = {"colour": "red;rm"}
    assert "colour" in failure("instance_os_add", *bad)


def test_run_rename(node: pathutils.Paths) -> None:
    entry = os_dir(node)
    make_os(entry, "testos")
    inst = make_instance(name="new.example.com", os_name="testos")
    create_disks(inst)
    args = [inst.to_dict(), "old.example.com", 0, dict(HVPARAMS),
            dict(BEPARAMS), nicparams(inst), {}]
    result = call("instance_run_rename", *args)
    assert "/rename-testos-old.example.com-new.example.com-" in \
        result["log_path"]
    env = read_env(entry, "rename")
    assert env["OLD_INSTANCE_NAME"] == "old.example.com"
    assert env["INSTANCE_NAME"] == "new.example.com"
    args[1] = "new.example.com"
    assert "old name equals the new one" in failure("instance_run_rename",
                                                    *args)
    args[1] = "not a name"
    assert "argument 'old_name'" in failure("instance_run_rename", *args)


def test_example_os_installs_a_file_disk(node: pathutils.Paths) -> None:
    shutil.copytree(EXAMPLE_OS_DIR / "ganeti-demo-os",
                    os_dir(node) / "ganeti-demo-os")
    inst = make_instance(os_name="ganeti-demo-os+minimal")
    paths = create_disks(inst)
    result = call("instance_os_add", *os_add_args(
        inst, osparams={"hostname_prefix": "web"}))
    assert result["api_version"] == 20
    with open(paths[0], "rb") as disk:
        header = disk.read(1024)
    assert header.startswith(b"GANETI-DEMO-OS 1\n")
    assert f"instance={INST}".encode() in header
