"""The busybox example OS (doc/examples/os/busybox), run through the OS
interface as the node daemon runs it: the root it builds (busybox and
its applets, the init script, /etc/hostname, /dev/null), rename and
export/import rewriting the host name, the parameter and variant checks.
Whether the root runs is test_hypervisor_chroot.py's and
test_chroot_cluster.py's."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_osdef_support import EXAMPLE_OS_DIR, make_instance

from ganeti import constants, errors, objects, osdef, pathutils

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox")
    or shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
    reason="needs root, busybox, mkfs.ext4 and debugfs")

NAME = "box1.example.com"


@pytest.fixture(autouse=True)
def _logs_in_tmp(tmp_path: Path) -> Iterator[None]:
    pathutils.set_root(str(tmp_path / "root"))
    yield
    pathutils.set_root(None)


def busybox_os() -> osdef.OsDefinition:
    return osdef.find_os("busybox", [str(EXAMPLE_OS_DIR)])


def env(disk: str, name: str = NAME, **osparams: str) -> dict[str, str]:
    definition = busybox_os()
    file_disk = objects.Disk(dev_type=constants.LD_FILE, size=16,
                             logical_id=[constants.FD_LOOP, disk])
    inst = make_instance(os_name="busybox+heartbeat", name=name, nics=[],
                         disks=[file_disk], hypervisor=constants.HT_CHROOT)
    return osdef.os_environment(
        definition, definition.api_version, inst, filled_hvparams={},
        filled_beparams={"memory": 128}, filled_nicparams=[],
        disks=[(disk, file_disk, "rw")], osparams=osparams,
        variant="heartbeat")


def sparse(path: Path) -> str:
    with open(path, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    return str(path)


def debugfs(disk: str, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, disk],
                          capture_output=True, text=True, check=True).stdout


def test_the_definition_speaks_api_20_and_15() -> None:
    definition = busybox_os()
    assert definition.api_versions == (20, 15)
    assert definition.variants == ("heartbeat",)
    assert set(definition.parameters) == {"heartbeat_interval"}


def test_create_builds_a_root_for_the_chroot_hypervisor(tmp_path: Path
                                                        ) -> None:
    disk = sparse(tmp_path / "disk0")
    osdef.create_instance(busybox_os(), env(disk, heartbeat_interval="7"))
    subprocess.run(["e2fsck", "-fn", disk], capture_output=True, check=True)
    assert debugfs(disk, "cat /etc/hostname") == f"{NAME}\n"
    script = debugfs(disk, "cat /ganeti-chroot")
    assert script.startswith("#!/bin/sh\n") and "sleep 7\n" in script
    assert "Type: regular    Mode:  0755" in debugfs(disk,
                                                     "stat /ganeti-chroot")
    # The applets are links to the one static binary.
    for applet in ("/bin/sh", "/bin/sleep", "/bin/date", "/bin/mv"):
        assert 'Fast link dest: "/bin/busybox"' in debugfs(
            disk, f"stat {applet}"), applet
    assert "Type: character special" in debugfs(disk, "stat /dev/null")


def test_rename_and_import_rewrite_the_host_name(tmp_path: Path) -> None:
    definition = busybox_os()
    disk = sparse(tmp_path / "disk0")
    osdef.create_instance(definition, env(disk))
    osdef.rename_instance(definition, env(disk, "box2.example.com"),
                          old_name=NAME)
    assert debugfs(disk, "cat /etc/hostname") == "box2.example.com\n"
    dump = tmp_path / "dump"
    osdef.export_instance(definition, env(disk, "box2.example.com"),
                          disk_index=0, stdout_path=str(dump))
    target = sparse(tmp_path / "copy0")
    osdef.import_instance(definition, env(target, "copy.example.com"),
                          disk_index=0, stdin_path=str(dump))
    assert debugfs(target, "cat /etc/hostname") == "copy.example.com\n"
    assert "sleep 1\n" in debugfs(target, "cat /ganeti-chroot")


@pytest.mark.parametrize("value", ["0", "3601", "x", "12345"])
def test_bad_interval_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(errors.GenericError,
                       match=f"invalid heartbeat_interval '{value}'"):
        osdef.verify_parameters(busybox_os(), {"heartbeat_interval": value})
    disk = sparse(tmp_path / "disk0")
    with pytest.raises(errors.OpExecError,
                       match=f"invalid heartbeat_interval '{value}'"):
        osdef.create_instance(busybox_os(), env(disk, heartbeat_interval=value))


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(errors.GenericError,
                       match="unsupported variant 'tiny'"):
        osdef.verify_parameters(busybox_os(), {}, variant="tiny")


def test_scripts_answer_help_and_refuse_arguments() -> None:
    for script in ("create", "export", "import", "rename"):
        path = EXAMPLE_OS_DIR / "busybox" / script
        res = subprocess.run([str(path), "--help"], capture_output=True,
                             text=True, check=False)
        assert res.returncode == 0 and "Usage: " in res.stderr
        res = subprocess.run([str(path), "extra"], capture_output=True,
                             text=True, check=False)
        assert res.returncode == 1 and "Usage: " in res.stderr
