"""The chroot hypervisor: its host-side pieces (mountinfo, processes by
root, mount commands) on recorded data, and the driver for real on
directory roots made of busybox-static (bind mounts and chroot: root
only), with a clock that gives the processes real time to die but lets
the stop timeouts pass at once."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import FakeClock, wait_for

from ganeti import constants, errors, hypervisor, objects
from ganeti.hypervisor import base
from ganeti.hypervisor.chroot import ChrootDirs, ChrootHypervisor, roots, stop_all
from ganeti.utils import process

BUSYBOX = "/bin/busybox"

needs_root_busybox = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(BUSYBOX)
    or shutil.which("blkid") is None, reason="needs root and busybox")

# --- mountinfo -----------------------------------------------------------------

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:5 / /run/x/chroot-hypervisor/a.example.com rw - ext4 /dev/loop3 rw
41 40 0:6 / /run/x/chroot-hypervisor/a.example.com/proc rw - proc proc rw
42 22 0:7 / /run/x/chroot-hypervisor/a.example.comb rw - ext4 /dev/loop4 rw
43 22 0:8 /data /srv/with\\040space rw master:2 - ext4 /dev/my\\040disk rw
bad line without separator
"""


def test_parse_mountinfo_decodes_escapes() -> None:
    found = roots.parse_mountinfo(MOUNTINFO)
    assert found[0] == ("/", "ext4", "/dev/sda1")
    assert found[-1] == ("/srv/with space", "ext4", "/dev/my disk")
    assert len(found) == 5


def test_mounts_below_deepest_first_and_not_siblings(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    root = "/run/x/chroot-hypervisor/a.example.com"
    points = [m[0] for m in roots.mounts_at_or_below(root, str(info))]
    assert points == [f"{root}/proc", root]
    assert roots.is_mounted(root + "/", str(info))
    assert not roots.is_mounted("/run/x", str(info))


def test_unreadable_mountinfo_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(errors.HypervisorError, match="Cannot read"):
        roots.mounts_at_or_below("/x", str(tmp_path / "missing"))


# --- processes by root -------------------------------------------------------------

def _fake_proc(tmp_path: Path, links: dict[int, str]) -> str:
    proc = tmp_path / "proc"
    for pid, target in links.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "root").symlink_to(target)
    (proc / "self").mkdir()
    (proc / "99").mkdir()  # no root link: a zombie
    return str(proc)


def test_processes_in_root_and_below(tmp_path: Path) -> None:
    root = tmp_path / "roots" / "a"
    root.mkdir(parents=True)
    proc = _fake_proc(tmp_path, {
        10: str(root), 11: f"{root}/nested", 12: f"{root}b", 13: "/",
        14: str(root)})
    assert roots.processes_in(str(root), proc) == [10, 11, 14]
    assert roots.processes_in(str(tmp_path / "none"), proc) == []


def test_resident_memory_of_this_process() -> None:
    assert roots.resident_mib([os.getpid()]) >= 1
    assert roots.resident_mib([]) == 0


# --- mount commands ------------------------------------------------------------------

def test_mount_argv_by_kind(tmp_path: Path) -> None:
    image = tmp_path / "disk0"
    image.write_bytes(b"")
    assert roots.mount_argv(str(tmp_path), "/r") == [
        "mount", "--bind", str(tmp_path), "/r"]
    assert roots.mount_argv(str(image), "/r") == [
        "mount", "-o", "loop", str(image), "/r"]
    assert roots.mount_argv(str(image), "/r", read_only=True) == [
        "mount", "-o", "loop,ro", str(image), "/r"]
    assert roots.mount_argv(str(tmp_path), "/r", read_only=True) == [
        "mount", "--bind", "-o", "ro", str(tmp_path), "/r"]
    blocks = [f"/dev/{d}" for d in sorted(os.listdir("/dev"))
              if stat.S_ISBLK(os.stat(f"/dev/{d}").st_mode)]
    if blocks:
        assert roots.mount_argv(blocks[0], "/r") == ["mount", blocks[0], "/r"]
    with pytest.raises(errors.HypervisorError,
                       match="neither a directory, a file nor a block"):
        roots.mount_argv("/dev/null", "/r")
    with pytest.raises(errors.HypervisorError, match="No such file"):
        roots.mount_argv(str(tmp_path / "missing"), "/r")


@pytest.mark.skipif(shutil.which("blkid") is None, reason="needs blkid")
def test_filesystem_type_of_an_empty_file(tmp_path: Path) -> None:
    image = tmp_path / "disk0"
    image.write_bytes(bytes(1 << 16))
    assert roots.filesystem_type(str(image)) == ""


# --- the driver on real directory roots ---------------------------------------------

HEARTBEAT = """#!/bin/sh
case "$1" in
  start)
    ( while :; do echo beat >> /beats; sleep 0.05; done ) </dev/null >/out 2>&1 &
    echo $! > /hb.pid ;;
  stop) kill "$(cat /hb.pid)"; rm -f /hb.pid ;;
esac
"""

#: Ignores "stop": only the kill after the timeout ends it.
STUBBORN = """#!/bin/sh
case "$1" in
  start) ( trap '' TERM; while :; do sleep 0.05; done ) </dev/null >/out 2>&1 & ;;
  stop) echo "not stopping" ;;
esac
"""


def starts_only(command: str) -> str:
    """An init script that runs ``command`` in the background at start and
    does nothing at stop (so a stop ends with the kill)."""
    return (f"#!/bin/sh\n[ \"$1\" = start ] && {command} </dev/null"
            " >/dev/null 2>&1 &\nexit 0\n")


class RealTimeClock(FakeClock):
    """Fake time for the timeouts, with a little real time per sleep so
    that killed processes can vanish."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        time.sleep(0.01)


def make_root(path: Path, init: str = HEARTBEAT,
              script: str = "ganeti-chroot") -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "dev").mkdir()
    # busybox sh opens /dev/null for every background job.
    os.mknod(path / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    shutil.copy(BUSYBOX, path / "bin" / "busybox")
    for applet in ("sh", "sleep", "kill", "cat", "rm", "echo"):
        (path / "bin" / applet).symlink_to("busybox")
    if init:
        (path / script).write_text(init)
        (path / script).chmod(0o755)
    return path


Env = tuple[ChrootHypervisor, Path]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    # The run directory is reached through a symbolic link, as /var/run
    # is a link to /run on most nodes: /proc and mountinfo name real paths.
    (tmp_path / "real-run").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "real-run")
    dirs = ChrootDirs.under(str(tmp_path / "run"))
    clock = RealTimeClock()
    hv = ChrootHypervisor(dirs, now=clock.time, monotonic=clock.time,
                          sleep=clock.sleep)
    yield hv, tmp_path
    stop_all(str(tmp_path / "run"))  # whatever a failing test left running
    assert not roots.mounts_at_or_below(str(tmp_path))


def inst(name: str = "c1.example.com") -> objects.Instance:
    return objects.Instance(name=name, primary_node="node1.example.com",
                            hypervisor=constants.HT_CHROOT,
                            disk_template=constants.DT_FILE)


def devices(path: Path, mode: str = constants.DISK_RDWR
            ) -> base.BlockDevices:
    disk = objects.Disk(dev_type=constants.LD_FILE, size=16, iv_name="disk/0",
                        logical_id=["loop", str(path)], mode=mode)
    return [(str(path), disk)]


BE = {"memory": 64, "vcpus": 1}


def start(hv: ChrootHypervisor, source: Path, name: str = "c1.example.com",
          **hvparams: str) -> None:
    hv.start_instance(inst(name), devices(source), hvparams, BE, [])


def test_registry_gives_the_chroot_driver() -> None:
    assert hypervisor.get_hypervisor_class("chroot") is ChrootHypervisor
    assert hypervisor.is_available("chroot")


@pytest.fixture
def running(env: Env) -> tuple[ChrootHypervisor, Path]:
    """The driver running c1.example.com on the heartbeat root; the root's
    source directory."""
    hv, tmp = env
    source = make_root(tmp / "src")
    start(hv, source)
    return hv, source


@needs_root_busybox
def test_life_cycle_on_a_directory_root(running: Env) -> None:
    hv, source = running
    name = "c1.example.com"
    root = Path(hv.dirs.root(name))
    assert roots.is_mounted(str(root))
    assert hv.list_instances() == [name]
    info = hv.get_instance_info(name)
    assert info is not None and info.state == base.InstanceState.RUNNING
    assert info.vcpus == 0 and info.id in roots.processes_in(str(root))
    assert [i.name for i in hv.get_all_instances_info()] == [name]
    # The service writes into the source directory through the mount.
    wait_for(lambda: (source / "beats").exists(), "the first beat")
    console = hv.get_console_command(inst(name), {})
    assert console.kind == base.ConsoleKind.COMMAND
    assert console.command == ["chroot", str(root), "/bin/sh"]
    out = subprocess.run(console.command, input="echo in-root; cat /hb.pid\n",
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "in-root"
    with pytest.raises(errors.HypervisorError, match="already running"):
        start(hv, source)
    # Soft reboot: stop and start again on the mounted root.
    old = (source / "hb.pid").read_text()
    hv.reboot_instance(name)
    assert hv.list_instances() == [name]
    assert (source / "hb.pid").read_text() != old
    assert hv.stop_instance(name, timeout=5) == base.StopOutcome.SOFT
    assert hv.list_instances() == []
    assert not root.exists() and not roots.is_mounted(str(root))
    assert hv.get_instance_info(name) is None
    log = Path(hv.dirs.log_file(name)).read_text()
    assert log.count("--- /ganeti-chroot start") == 2
    assert hv.stop_instance(name) == base.StopOutcome.NOT_RUNNING
    message = hv.get_console_command(inst(name), {})
    assert message.kind == base.ConsoleKind.MESSAGE


@needs_root_busybox
def test_stop_kills_what_ignores_the_script(env: Env) -> None:
    hv, tmp = env
    source = make_root(tmp / "src", STUBBORN, script="sbin-init")
    start(hv, source, init_script="/sbin-init")
    name = "c1.example.com"
    pids = roots.processes_in(hv.dirs.root(name))
    assert pids
    assert hv.stop_instance(name, timeout=3) == base.StopOutcome.HARD
    assert not any(roots.processes_in(hv.dirs.root(name)))
    for pid in pids:
        assert not Path(f"/proc/{pid}/root").exists() or \
            not os.readlink(f"/proc/{pid}/root").startswith(str(tmp))
    assert "not stopping" in Path(hv.dirs.log_file(name)).read_text()


@needs_root_busybox
def test_process_root_found_after_it_changes_session(env: Env) -> None:
    hv, tmp = env
    source = make_root(tmp / "src", starts_only("setsid sleep 1000"))
    (source / "bin" / "setsid").symlink_to("busybox")
    start(hv, source)
    assert hv.list_instances() == ["c1.example.com"]
    assert hv.stop_instance("c1.example.com", force=True) == \
        base.StopOutcome.HARD


@needs_root_busybox
def test_an_instance_whose_processes_died_starts_again(running: Env) -> None:
    hv, source = running
    name = "c1.example.com"
    for pid in roots.processes_in(hv.dirs.root(name)):
        os.kill(pid, 9)
    wait_for(lambda: not hv.list_instances(), "the processes to go")
    assert hv.get_instance_info(name) is None
    assert roots.is_mounted(hv.dirs.root(name))  # left by the dead instance
    start(hv, source)
    assert hv.list_instances() == [name]
    assert len(roots.mounts_at_or_below(str(source.parent))) == 1
    assert hv.stop_instance(name) == base.StopOutcome.SOFT


@needs_root_busybox
def test_read_only_disk_is_mounted_read_only(env: Env) -> None:
    hv, tmp = env
    source = make_root(tmp / "src", starts_only("sleep 1000"))
    hv.start_instance(inst(), devices(source, constants.DISK_RDONLY), {},
                      BE, [])
    with pytest.raises(OSError) as info:
        (Path(hv.dirs.root("c1.example.com")) / "new").write_text("x")
    assert info.value.errno == errno.EROFS
    assert hv.stop_instance("c1.example.com", timeout=1) == \
        base.StopOutcome.HARD


@needs_root_busybox
def test_missing_init_script_is_refused_and_nothing_stays(env: Env) -> None:
    hv, tmp = env
    source = make_root(tmp / "src", init="")
    with pytest.raises(errors.HypervisorError,
                       match=r"^Instance c1.example.com: the init script"
                             r" /ganeti-chroot \(hvparam init_script\) is"
                             r" missing in its root on disk/0 \(") as info:
        start(hv, source)
    assert info.value.code == errors.ErrorCode.ENVIRON
    assert not roots.mounts_at_or_below(str(tmp))
    assert not Path(hv.dirs.root("c1.example.com")).exists()


@needs_root_busybox
def test_failing_start_script_quotes_its_output(env: Env) -> None:
    hv, tmp = env
    source = make_root(tmp / "src", "#!/bin/sh\necho cannot start the"
                       " service\nexit 3\n")
    with pytest.raises(errors.HypervisorError,
                       match=r"^Instance c1\.example\.com: /ganeti-chroot"
                             r" start exited with exit code 3: .*cannot start"
                             r" the service$"):
        start(hv, source)
    assert not roots.mounts_at_or_below(str(tmp))


@needs_root_busybox
def test_disk_without_filesystem(env: Env) -> None:
    hv, tmp = env
    image = tmp / "disk0"
    image.write_bytes(bytes(1 << 20))
    with pytest.raises(errors.HypervisorError,
                       match=r"^Instance c1.example.com: disk/0 \(.*disk0\)"
                             " holds no filesystem"):
        start(hv, image)
    assert not roots.mounts_at_or_below(str(tmp))


@needs_root_busybox
@pytest.mark.skipif(shutil.which("mkswap") is None, reason="needs mkswap")
def test_disk_that_cannot_be_mounted(env: Env) -> None:
    hv, tmp = env
    image = tmp / "disk0"
    image.write_bytes(bytes(1 << 20))
    subprocess.run(["mkswap", str(image)], capture_output=True, check=True)
    with pytest.raises(errors.HypervisorError,
                       match=r"^Instance c1.example.com: cannot mount disk/0"
                             r" \(.*disk0\) as its root: mount failed: "
                             ) as info:
        start(hv, image)
    # mount's own reason, not its closing pointer to dmesg.
    assert "dmesg" not in str(info.value)
    assert not roots.mounts_at_or_below(str(tmp))


def test_bad_input_before_anything_happens(env: Env) -> None:
    hv, tmp = env
    with pytest.raises(errors.HypervisorError, match="needs a disk"):
        hv.start_instance(inst(), [], {}, BE, [])
    with pytest.raises(errors.HypervisorError, match="is missing"):
        start(hv, tmp / "missing")
    with pytest.raises(errors.ParameterError, match="init_script"):
        start(hv, tmp, init_script="relative/path")
    with pytest.raises(errors.HypervisorError, match="is not running"):
        hv.reboot_instance("c1.example.com")


def test_migration_is_refused_with_the_reason(env: Env) -> None:
    hv, _tmp = env
    assert not ChrootHypervisor.CAN_MIGRATE
    with pytest.raises(errors.HypervisorError,
                       match="does not support migration: an instance's"
                             " processes belong to its node's kernel"):
        hv.migration_info(inst())


def test_node_info(env: Env) -> None:
    hv, _tmp = env
    info = hv.get_node_info()
    assert info.memory_total > 0 and info.cpu_total >= 1
    assert 0 <= info.memory_free <= info.memory_total
    assert info.vcpus_used == 0


def test_verify_names_the_missing_tools(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    hv, tmp = env
    tools = tmp / "bin"
    tools.mkdir()
    for tool in ("chroot", "mount"):
        (tools / tool).symlink_to("/bin/true")
    monkeypatch.setattr(process, "MINIMAL_PATH", str(tools))
    assert hv.verify() == [
        "chroot: the command umount is missing on this node",
        "chroot: the command blkid is missing on this node"]
    for tool in ("umount", "blkid"):
        (tools / tool).symlink_to("/bin/true")
    assert hv.verify() == []


# --- local clusters ----------------------------------------------------------------

def test_chroot_local_cluster_nodes_get_the_busybox_os(tmp_path: Path) -> None:
    from ganeti import localcluster_env, pathutils

    localcluster_env.prepare_node(str(tmp_path), constants.HT_CHROOT)
    os_dir = Path(pathutils.Paths(str(tmp_path)).os_search_path[0]) / "busybox"
    assert (os_dir / "create").stat().st_mode & stat.S_IXUSR
    assert (os_dir / constants.OS_API_FILE).read_text().split() == ["20", "15"]
    # A node root prepared twice keeps what it has.
    (os_dir / "marker").write_text("kept")
    localcluster_env.prepare_node(str(tmp_path), constants.HT_CHROOT)
    assert (os_dir / "marker").read_text() == "kept"
    with pytest.raises(errors.OpExecError,
                       match="Cannot find the OS definition no-such-os"):
        localcluster_env.example_os_source("no-such-os")


def test_stop_all_on_a_node_without_chroot_instances(tmp_path: Path) -> None:
    assert stop_all(str(tmp_path / "run")) == []
