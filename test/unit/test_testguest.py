"""The test guest builder's pure parts: the cpio writer (read back by
busybox's cpio), module dependencies from ELF .modinfo sections, the
kernel command line and the stamp's inputs."""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ganeti import testguest
from ganeti.testguest import BuildError, Cpio, Package

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(BUSYBOX is None, reason="busybox missing")


def _elf(sections: dict[str, bytes]) -> bytes:
    """A minimal ELF64 little-endian relocatable file with ``sections``
    (plus the null section and the section-name table)."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    body = b"".join(sections.values()) + names
    shoff = 64 + len(body)
    headers = [bytes(64)]  # the null section
    offset, name_at = 64, 1
    for name, data in [*sections.items(), (".shstrtab", names)]:
        headers.append(struct.pack("<IIQQQQIIQQ", name_at, 1, 0, 0, offset,
                                   len(data), 0, 0, 1, 0))
        offset += len(data)
        name_at += len(name) + 1
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0,
                                 64, 0, 0, 64, len(headers), len(headers) - 1)
    return header + body + b"".join(headers)


def _modinfo(*entries: str) -> bytes:
    return b"".join(e.encode() + b"\0" for e in entries)


def test_modinfo_reads_the_depends_of_plain_and_xz_modules(
        tmp_path: Path) -> None:
    image = _elf({".text": b"\x90" * 16,
                  ".modinfo": _modinfo("license=GPL", "depends=virtio,failover",
                                       "name=virtio_net")})
    assert testguest.modinfo(image)["name"] == ["virtio_net"]
    plain = tmp_path / "virtio_net.ko"
    plain.write_bytes(image)
    packed = tmp_path / "virtio_net.ko.xz"
    packed.write_bytes(lzma.compress(image, format=lzma.FORMAT_XZ))
    assert testguest.module_depends(str(plain)) == ["virtio", "failover"]
    assert testguest.module_depends(str(packed)) == ["virtio", "failover"]
    lone = tmp_path / "lone.ko"
    lone.write_bytes(_elf({".modinfo": _modinfo("depends=")}))
    assert testguest.module_depends(str(lone)) == []


def test_a_damaged_module_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ko"
    bad.write_bytes(b"not an elf file at all")
    with pytest.raises(BuildError, match=r"cannot read module .*bad\.ko"):
        testguest.module_depends(str(bad))
    zst = tmp_path / "x.ko.zst"
    zst.write_bytes(b"")
    with pytest.raises(BuildError, match="unsupported compression"):
        testguest.read_module(str(zst))


def test_module_closure_puts_dependencies_first() -> None:
    deps = {"virtio_net": ["virtio", "net_failover"],
            "net_failover": ["failover"], "virtio": ["virtio_ring"],
            "virtio_blk": ["virtio"], "failover": [], "virtio_ring": []}
    order = testguest.module_closure(["virtio_net", "virtio_blk"],
                                     lambda name: deps[name])
    assert order == ["virtio_ring", "virtio", "failover", "net_failover",
                     "virtio_net", "virtio_blk"]
    with pytest.raises(BuildError, match="cycle through a"):
        testguest.module_closure(["a"], {"a": ["b"], "b": ["a"]}.__getitem__)


def test_kernel_modules_from_a_package_tree(tmp_path: Path) -> None:
    tree = tmp_path / "lib" / "modules" / "6.1.0-9-amd64"
    drivers = tree / "kernel" / "drivers"
    drivers.mkdir(parents=True)
    (drivers / "net-thing.ko").write_bytes(
        _elf({".modinfo": _modinfo("depends=helper")}))
    (drivers / "helper.ko").write_bytes(_elf({".modinfo": _modinfo("depends=")}))
    (tree / "modules.builtin").write_text("kernel/drivers/acpi/button.ko\n")
    found = testguest.kernel_modules(str(tmp_path), ["net_thing", "button"])
    assert [(name, Path(path).name) for name, path in found] == [
        ("helper", "helper.ko"), ("net_thing", "net-thing.ko")]
    with pytest.raises(BuildError, match="module evdev is neither"):
        testguest.kernel_modules(str(tmp_path), ["evdev"])


def test_cpio_entries_are_aligned_newc_records() -> None:
    archive = Cpio()
    archive.char_device("dev/console", 5, 1)
    data = archive.finish()
    assert data.startswith(b"070701")
    fields = [int(data[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
    mode, rdev = fields[1], (fields[9], fields[10])
    assert (mode & 0o170000, mode & 0o777, rdev) == (0o020000, 0o600, (5, 1))
    assert len(data) % 4 == 0 and b"TRAILER!!!\0" in data


@needs_busybox
def test_initramfs_unpacks_with_an_independent_cpio(tmp_path: Path) -> None:
    modules = [("virtio", b"\x7fELF-virtio"), ("virtio_net", b"\x7fELF-net")]
    image = testguest.initramfs(b"#!fake busybox\n", modules)
    assert image == testguest.initramfs(b"#!fake busybox\n", modules)
    raw = gzip.decompress(image)
    listing = subprocess.run([str(BUSYBOX), "cpio", "-t"], input=raw,
                             capture_output=True, check=True).stdout.decode()
    names = listing.split()
    assert {"init", "bin/busybox", "bin/sh", "bin/gnt-status", "dev/console",
            "etc/gnt-modules", "lib/modules/virtio_net.ko"} <= set(names)
    # Extract what needs no device node and compare the content.
    wanted = ["init", "bin/busybox", "bin/sh", "bin/gnt-status",
              "etc/gnt-modules", "lib/modules/virtio.ko"]
    subprocess.run([str(BUSYBOX), "cpio", "-i", "-d", *wanted], input=raw,
                   cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "etc/gnt-modules").read_text() == "virtio\nvirtio_net\n"
    assert (tmp_path / "lib/modules/virtio.ko").read_bytes() == b"\x7fELF-virtio"
    assert (tmp_path / "bin/sh").readlink() == Path("busybox")
    assert (tmp_path / "init").stat().st_mode & 0o777 == 0o755
    init = (tmp_path / "init").read_text()
    assert init == testguest.init_script()
    assert f'echo "{testguest.READY_MARKER}"' in init
    assert "@" not in init.replace("${gw:+ via $gw}", "")


def test_kernel_args() -> None:
    assert testguest.kernel_args() == "quiet"
    assert testguest.kernel_args(
        [("198.51.100.10/24", "198.51.100.1"), ("", ""),
         ("203.0.113.5/32", "")], port=8000, hash_mib=4,
        extra=["panic=1"]) == (
        "quiet gnt_ip=198.51.100.10/24 gnt_gw=198.51.100.1"
        " gnt_ip2=203.0.113.5/32 gnt_port=8000 gnt_hash_mib=4 panic=1")


def test_stamp_inputs_follow_versions_and_modules() -> None:
    kernel = Package("linux-image-6.1.0-9-amd64", "6.1.1-1")
    busybox = Package("busybox-static", "1:1.35.0-4")
    base = testguest.inputs_hash(kernel, busybox)
    assert base == testguest.inputs_hash(kernel, busybox)
    assert base != testguest.inputs_hash(Package(kernel.name, "6.1.1-2"),
                                         busybox)
    assert base != testguest.inputs_hash(kernel, Package(busybox.name, "1:2"))
    assert base != testguest.inputs_hash(kernel, busybox, ("virtio_net",))


def test_default_dir_follows_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(testguest.DIR_ENV, raising=False)
    assert testguest.default_dir() == testguest.DEFAULT_DIR
    monkeypatch.setenv(testguest.DIR_ENV, "/srv/guest")
    assert testguest.default_dir() == "/srv/guest"


def test_an_unusable_directory_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert testguest.main([str(blocker / "guest")], out=lambda _: None) == 1
    err = capsys.readouterr().err
    assert err == (f"build-test-guest: error: cannot use {blocker}/guest:"
                   " Not a directory\n")


def test_hvparams_boot_the_files() -> None:
    files = testguest.GuestFiles("/var/tmp/g", rebuilt=False)
    assert files.hvparams("quiet gnt_ip=198.51.100.10/24") == {
        "kernel_path": "/var/tmp/g/vmlinuz", "initrd_path": "/var/tmp/g/initrd.img",
        "root_path": "", "kernel_args": "quiet gnt_ip=198.51.100.10/24",
        "serial_console": True}
