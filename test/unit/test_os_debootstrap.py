"""The debootstrap OS definition (doc/examples/os/debootstrap): its
declaration, parameter checks, argument handling, the pieces of common.sh
(apt sources, package list and cache key, network and root access files,
disk layout) and the cleanup of loop devices and mounts on failure.
Installing Debian for real is test/integration/test_kvm_debootstrap.py's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from test_osdef_support import EXAMPLE_OS_DIR

from ganeti import errors
from ganeti.osdef import OsDefinition, find_os, verify_parameters

OS_DIR = EXAMPLE_OS_DIR / "debootstrap"
COMMON = OS_DIR / "common.sh"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
HASH = "%6%salt%abcdefghijklmnopqrstuvwxyz0123456789./ABC"
KEY = "ssh-ed25519:AAAAC3NzaC1lZDI1NTE5AAAAIGx1"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _osdef() -> OsDefinition:
    return find_os("debootstrap", [str(EXAMPLE_OS_DIR)])


def _run(argv: list[str], env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env={"PATH": PATH, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          check=False)


def _script(name: str, *args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _run([str(OS_DIR / name), *args], env)


def _shell(code: str, env: dict[str, str] | None = None) -> str:
    """``code`` run by bash after sourcing common.sh; its stdout."""
    result = _run(["bash", "-c", f". {COMMON}; {code}"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- Declaration and parameters --------------------------------------------------


def test_declares_api_20_variants_and_parameters() -> None:
    osdef = _osdef()
    assert osdef.api_versions == (20, 15, 10)
    assert osdef.variants == ("bookworm", "trixie")
    assert osdef.default_variant == "bookworm"
    assert set(osdef.parameters) == {
        "extra_packages", "root_password_hash", "ssh_key", "layout", "mirror",
        "ip_prefix", "gateway"}


def test_verify_accepts_good_parameters() -> None:
    verify_parameters(_osdef(), {
        "extra_packages": "vim,less,python3.11", "root_password_hash": HASH,
        "ssh_key": f"{KEY},ssh-rsa:AAAAB3NzaC1yc2E=", "layout": "whole",
        "mirror": "http://ftp.de.debian.org/debian", "ip_prefix": "26",
        "gateway": "198.51.100.254"}, variant="trixie")
    verify_parameters(_osdef(), {})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("extra_packages", "vim,,less", "invalid extra_packages"),
    ("extra_packages", "Vim", "invalid extra_packages"),
    ("root_password_hash", "plaintext", "invalid root_password_hash"),
    ("ssh_key", "AAAAC3NzaC1lZDI1NTE5", "invalid ssh_key"),
    ("ssh_key", "ssh-ed25519:", "invalid ssh_key"),
    ("layout", "lvm", "invalid layout 'lvm'"),
    ("mirror", "ftp.debian.org", "invalid mirror"),
    ("ip_prefix", "33", "invalid ip_prefix '33'"),
    ("ip_prefix", "0", "invalid ip_prefix"),
    ("gateway", "198.51.100.256", "invalid gateway"),
    ("gateway", "gw.example.com", "invalid gateway"),
])
def test_verify_refuses_bad_parameters(name: str, value: str,
                                       message: str) -> None:
    with pytest.raises(errors.ParameterError, match=message):
        verify_parameters(_osdef(), {name: value})


def test_verify_refuses_unknown_variant() -> None:
    result = _script("verify", "parameters", env={"OS_VARIANT": "potato"})
    assert result.returncode == 1
    assert ("unsupported variant 'potato' (supported: bookworm trixie)"
            in result.stderr)


@pytest.mark.parametrize(("args", "code"), [
    ([], 1), (["parameters", "x"], 1), (["disks"], 1), (["--help"], 0)])
def test_verify_arguments(args: list[str], code: int) -> None:
    result = _script("verify", *args)
    assert result.returncode == code
    assert "Usage: verify parameters" in result.stderr


@pytest.mark.parametrize("script", ["create", "import", "export", "rename"])
def test_instance_scripts_take_no_arguments(script: str) -> None:
    result = _script(script, "extra")
    assert result.returncode == 1
    assert f"{script}: unexpected argument 'extra'" in result.stderr
    assert _script(script, "--help").returncode == 0


def test_create_needs_its_environment() -> None:
    result = _script("create", env={"INSTANCE_NAME": "a", "DISK_COUNT": "1"})
    assert result.returncode == 1
    assert "DISK_0_PATH is not set" in result.stderr


def test_create_checks_parameters_before_touching_the_disk(
        tmp_path: Path) -> None:
    disk = tmp_path / "disk0"
    disk.write_bytes(b"untouched")
    result = _script("create", env={
        "INSTANCE_NAME": "a", "DISK_COUNT": "1", "DISK_0_PATH": str(disk),
        "OSP_LAYOUT": "lvm"})
    assert result.returncode == 1
    assert "invalid layout 'lvm'" in result.stderr
    assert disk.read_bytes() == b"untouched"


def test_create_refuses_unknown_variant(tmp_path: Path) -> None:
    disk = tmp_path / "disk0"
    disk.touch()
    result = _script("create", env={
        "INSTANCE_NAME": "a", "DISK_COUNT": "1", "DISK_0_PATH": str(disk),
        "OS_VARIANT": "jessie"})
    assert result.returncode == 1
    assert "unsupported variant 'jessie'" in result.stderr


def test_variant_defaults_to_the_first_listed() -> None:
    assert _shell("variant") == "bookworm\n"
    assert _shell("variant", {"OS_VARIANT": "trixie"}) == "trixie\n"


# --- Mirror, packages, cache key ------------------------------------------------


def _apt_etc(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(text)
    return {"DB_APT_ETC": str(etc)}


ONE_LINE = (
    "# deb http://commented.example/debian bookworm main\n"
    "deb-src http://src.example/debian bookworm main\n"
    "deb http://security.example/debian-security bookworm-security main\n"
    "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian "
    "bookworm main\n")
DEB822 = (
    "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
    "Enabled: no\n\n"
    "Types: deb\nURIs: http://security.example/debian-security\n"
    "Suites: bookworm-security\nComponents: main\n\n"
    "Types: deb-src deb\n"
    "URIs: http://deb822.example/debian http://second.example/debian\n"
    "Suites: trixie trixie-updates\nComponents: main\n")


@pytest.mark.parametrize(("name", "text", "mirror"), [
    ("sources.list", ONE_LINE, "http://mirror.example/debian"),
    ("sources.list.d/debian.sources", DEB822, "http://deb822.example/debian"),
])
def test_mirror_from_apt_sources(tmp_path: Path, name: str, text: str,
                                 mirror: str) -> None:
    env = _apt_etc(tmp_path, {name: text})
    assert _shell("apt_mirror", env) == mirror + "\n"


def test_mirror_defaults_without_a_debian_source(tmp_path: Path) -> None:
    env = _apt_etc(tmp_path, {"sources.list.d/other.list":
                              "deb https://pkgs.example/apt cloud-sdk main\n"})
    assert _shell("apt_mirror", env) == "http://deb.debian.org/debian\n"
    env["OSP_MIRROR"] = "http://override.example/debian"
    assert _shell("mirror", env) == "http://override.example/debian\n"


def test_packages_and_cache_key() -> None:
    base = _shell("packages").strip().split(",")
    assert base == sorted(base)
    assert {"linux-image-amd64", "openssh-server", "ifupdown"} <= set(base)
    extra = _shell("packages", {"OSP_EXTRA_PACKAGES": "vim,ifupdown"})
    assert extra.strip().split(",") == sorted([*base, "vim"])
    env = {"DB_CACHE_DIR": "/cache"}
    one = _shell("cache_file bookworm http://m/debian a,b", env).strip()
    assert one.startswith("/cache/bookworm-") and one.endswith(".tar")
    assert one == _shell("cache_file bookworm http://m/debian a,b", env).strip()
    for args in ("trixie http://m/debian a,b", "bookworm http://n/debian a,b",
                 "bookworm http://m/debian a,b,c"):
        assert _shell(f"cache_file {args}", env).strip() != one


# --- Per-instance files ---------------------------------------------------------


def test_interfaces_static_from_the_nic_ip_else_dhcp(tmp_path: Path) -> None:
    (tmp_path / "etc/network").mkdir(parents=True)
    _shell(f"write_interfaces {tmp_path}", {
        "NIC_COUNT": "2", "NIC_0_IP": "198.51.100.2", "OSP_IP_PREFIX": "25",
        "OSP_GATEWAY": "198.51.100.1"})
    text = (tmp_path / "etc/network/interfaces").read_text()
    assert ("auto eth0\niface eth0 inet static\n"
            "    address 198.51.100.2/25\n    gateway 198.51.100.1\n") in text
    assert "auto eth1\niface eth1 inet dhcp\n" in text
    assert "iface lo inet loopback" in text


def test_hostname_and_root_access(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "root").mkdir()
    shadow = tmp_path / "etc/shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    _shell(f"set_hostname {tmp_path} web1.example.com; "
           f"set_root_access {tmp_path}",
           {"OSP_ROOT_PASSWORD_HASH": "%6%salt%hash",
            "OSP_SSH_KEY": f"{KEY},ssh-rsa:AAAAB3Nz"})
    assert (tmp_path / "etc/hostname").read_text() == "web1.example.com\n"
    assert ("127.0.1.1 web1.example.com web1\n"
            in (tmp_path / "etc/hosts").read_text())
    assert shadow.read_text().splitlines()[0] == \
        "root:$6$salt$hash:19000:0:99999:7:::"
    keys = tmp_path / "root/.ssh/authorized_keys"
    assert keys.read_text() == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1\nssh-rsa AAAAB3Nz\n")
    assert keys.stat().st_mode & 0o777 == 0o600


# --- Disks: layout, mounts and cleanup ---------------------------------------------

needs_disk_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("sfdisk", "mkfs.ext4", "losetup")),
    reason="sfdisk, mkfs.ext4 or losetup missing")


def _loops(disk: Path) -> str:
    return subprocess.run(["losetup", "-j", str(disk)], capture_output=True,
                          text=True, check=True).stdout


def _our_mounts() -> list[str]:
    with open("/proc/mounts") as handle:
        return [line for line in handle if "/tmp/ganeti-debootstrap." in line]


@needs_disk_tools
def test_root_location_partition_and_whole(tmp_path: Path) -> None:
    disk = tmp_path / "disk0"
    with open(disk, "wb") as handle:
        handle.truncate(8 * 1024 * 1024)
    assert _shell(f"root_location {disk}") == f"0 {8 * 1024 * 1024}\n"
    if not any(Path(p).exists() for p in ("/usr/lib/syslinux/mbr/mbr.bin",
                                          "/usr/lib/EXTLINUX/mbr.bin")):
        pytest.skip("syslinux's mbr.bin missing")
    _shell(f"partition {disk}")
    assert _shell(f"root_location {disk}") == \
        f"{2048 * 512} {8 * 1024 * 1024 - 2048 * 512}\n"
    assert disk.read_bytes()[510:512] == b"\x55\xaa"


def _fake_cache(tmp_path: Path, env: dict[str, str]) -> Path:
    """A cached 'base system' of one file where create expects debootstrap's
    (no kernel, no ssh-keygen: create fails while configuring it)."""
    key_env = {**env, "DB_CACHE_DIR": str(tmp_path / "cache")}
    path = Path(_shell(
        'cache_file "$(variant)" "$(mirror)" "$(packages)"', key_env).strip())
    path.parent.mkdir()
    etc = tmp_path / "fake/etc"
    (etc / "network").mkdir(parents=True)
    (etc / "hostname").write_text("unset\n")
    with tarfile.open(path, "w") as tar:
        tar.add(tmp_path / "fake", arcname=".")
    env["DB_CACHE_DIR"] = str(path.parent)
    return path


@needs_root
@needs_disk_tools
@pytest.mark.skipif(shutil.which("extlinux") is None, reason="extlinux missing")
@pytest.mark.parametrize("layout", ["partition", "whole"])
def test_failed_create_leaves_no_loop_device_or_mount(
        tmp_path: Path, layout: str) -> None:
    disk = tmp_path / "disk0"
    with open(disk, "wb") as handle:
        handle.truncate(80 * 1024 * 1024)
    env = {"INSTANCE_NAME": "web1.example.com", "DISK_COUNT": "1",
           "DISK_0_PATH": str(disk), "NIC_COUNT": "1", "OSP_LAYOUT": layout,
           "OSP_MIRROR": "http://mirror.example/debian"}
    _fake_cache(tmp_path, env)
    result = _script("create", env=env)
    assert result.returncode == 1
    assert "cannot make the SSH host keys" in result.stderr
    assert _loops(disk) == ""
    assert _our_mounts() == []
    # The filesystem was made where rename looks for it.
    rename = _script("rename", env={**env, "OLD_INSTANCE_NAME": "x"})
    assert rename.returncode == 0, rename.stderr
    assert _loops(disk) == ""


@needs_root
@needs_disk_tools
def test_create_refuses_a_disk_too_small_for_the_system(
        tmp_path: Path) -> None:
    disk = tmp_path / "disk0"
    with open(disk, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    env = {"INSTANCE_NAME": "a", "DISK_COUNT": "1", "DISK_0_PATH": str(disk),
           "OSP_MIRROR": "http://mirror.example/debian"}
    tarball = _fake_cache(tmp_path, env)
    with open(tarball, "r+b") as handle:
        handle.truncate(100 * 1024 * 1024)
    if shutil.which("extlinux") is None:
        pytest.skip("extlinux missing")
    result = _script("create", env=env)
    assert result.returncode == 1
    assert "disk 0 has 16 MiB; Debian bookworm needs at least" in result.stderr
    assert disk.read_bytes() == b"\0" * (16 * 1024 * 1024)


@needs_root
@needs_disk_tools
def test_rename_sets_the_hostname_and_detaches(tmp_path: Path) -> None:
    disk = _system_disk(tmp_path, "old.example.com")
    result = _script("rename", env={
        "INSTANCE_NAME": "new.example.com", "OLD_INSTANCE_NAME":
        "old.example.com", "DISK_0_PATH": str(disk)})
    assert result.returncode == 0, result.stderr
    assert "renamed old.example.com to new.example.com" in result.stderr
    assert _loops(disk) == ""
    assert _our_mounts() == []
    out = subprocess.run(["debugfs", "-R", "cat /etc/hostname", str(disk)],
                         capture_output=True, text=True, check=True).stdout
    assert out == "new.example.com\n"


def test_rename_refuses_a_disk_without_a_system(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4")
    disk = tmp_path / "disk0"
    with open(disk, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True)
    result = _script("rename", env={
        "INSTANCE_NAME": "n", "OLD_INSTANCE_NAME": "o", "DISK_0_PATH": str(disk)})
    assert result.returncode == 1
    assert "disk 0 holds no installed system" in result.stderr
    assert _loops(disk) == ""


def _system_disk(tmp_path: Path, name: str) -> Path:
    """A whole-disk ext4 'installed system' naming ``name``."""
    disk = tmp_path / "disk0"
    stage = tmp_path / "stage"
    (stage / "etc").mkdir(parents=True)
    (stage / "etc/hostname").write_text(f"{name}\n")
    with open(disk, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(disk)],
                   check=True)
    return disk


@needs_root
@needs_disk_tools
def test_export_then_import_under_a_new_name(tmp_path: Path) -> None:
    disk = _system_disk(tmp_path, "old.example.com")
    dump = subprocess.run(
        [str(OS_DIR / "export")], env={
            "PATH": PATH, "INSTANCE_NAME": "old.example.com",
            "EXPORT_DEVICE": str(disk), "EXPORT_INDEX": "0"},
        capture_output=True, timeout=60, check=False)
    assert dump.returncode == 0, dump.stderr
    assert dump.stdout == disk.read_bytes()
    target = tmp_path / "target"
    with open(target, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    result = subprocess.run(
        [str(OS_DIR / "import")], input=dump.stdout,
        env={"PATH": PATH, "INSTANCE_NAME": "new.example.com",
             "IMPORT_DEVICE": str(target), "IMPORT_INDEX": "0"},
        capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert b"set the host name to new.example.com" in result.stderr
    assert _loops(target) == ""
    out = subprocess.run(["debugfs", "-R", "cat /etc/hostname", str(target)],
                         capture_output=True, text=True, check=True).stdout
    assert out == "new.example.com\n"


def test_import_of_data_without_a_filesystem_copies_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"\0" * 4096)
    result = subprocess.run(
        [str(OS_DIR / "import")], input=b"raw data",
        env={"PATH": PATH, "INSTANCE_NAME": "n", "IMPORT_DEVICE": str(target),
             "IMPORT_INDEX": "0"},
        capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"raw data"
