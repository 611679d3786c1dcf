"""A small test guest for the KVM tests (``tools/build-test-guest``).

The guest is a Debian kernel and a busybox initramfs, both taken from
Debian packages with ``apt-get download`` and ``dpkg-deb -x`` (nothing is
installed on the host):

- ``DIR/vmlinuz``: ``boot/vmlinuz-*`` of the kernel image package that
  ``linux-image-amd64`` depends on;
- ``DIR/initrd.img``: a gzip'd cpio (newc) archive with the static
  busybox of ``busybox-static``, the kernel modules the guest needs
  (:data:`MODULES` and their dependencies, read from each module's
  ``.modinfo`` section since the package carries no ``modules.dep``) and
  the init script (:data:`INIT_SCRIPT`);
- ``DIR/stamp``: the hash of the builder's inputs (init scripts, module
  list, package names and versions); a build whose stamp matches is
  reused as is.

What the guest does (see :data:`INIT_SCRIPT`): it loads its modules,
configures the NICs named on the kernel command line (:func:`kernel_args`),
starts a TCP responder on :data:`STATUS_PORT` (one request line per
connection: ``ticks`` or ``sha256 DEV MIB``; see :func:`status_query`),
prints the sha256 of the first MiB(s) of ``/dev/vda`` and ``/dev/vdb``,
prints :data:`READY_MARKER` on the console, then counts seconds (``tick
N`` on the console once a second, the count in the responder) and powers
off when the ACPI power button is pressed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import socket
import stat
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ganeti.utils import process

#: The line the guest prints on its serial console once it is ready
#: (network configured, responder listening, counter running).
READY_MARKER: Final = "GANETI-TEST-GUEST READY"
#: The guest prints ``tick N`` once a second (N counts from 0).
TICK_PREFIX: Final = "tick "
#: The guest prints ``disk vdX sha256 HASH`` at boot for each virtio disk.
DISK_PREFIX: Final = "disk "
#: The guest prints this line when the power button is pressed.
POWEROFF_LINE: Final = "gnt-guest: power button pressed, powering off"
#: TCP port of the guest's responder (kernel argument ``gnt_port``).
STATUS_PORT: Final = 7777
#: MiB of each disk hashed at boot (kernel argument ``gnt_hash_mib``).
HASH_MIB: Final = 1
#: Environment variable naming the cache directory of the tests.
DIR_ENV: Final = "GANETI_TEST_GUEST_DIR"
DEFAULT_DIR: Final = "/var/tmp/ganeti-test-guest"
KERNEL_PACKAGE: Final = "linux-image-amd64"
BUSYBOX_PACKAGE: Final = "busybox-static"
#: Kernel modules loaded by the guest (with their dependencies): the
#: virtio and e1000 NICs and disks, the virtio console, the ACPI power
#: button and the event device it is read through.
MODULES: Final = ("virtio_pci", "virtio_net", "virtio_blk", "virtio_console",
                  "e1000", "button", "evdev")
#: Bumped when the layout of the output changes (part of the stamp).
FORMAT: Final = 1
#: Seconds an apt command may take.
APT_TIMEOUT: Final = 900.0

#: The guest's /init (PID 1); @NAME@ placeholders are filled at build time.
INIT_SCRIPT: Final = r"""#!/bin/busybox sh
# Ganeti test guest: PID 1 of the initramfs built by tools/build-test-guest.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp
while read -r mod; do
  insmod "/lib/modules/$mod.ko" || echo "gnt-guest: cannot load module $mod"
done < /etc/gnt-modules

port=@PORT@
mib=@HASH_MIB@
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    gnt_ip=*) ip_0=${arg#*=} ;;
    gnt_gw=*) gw_0=${arg#*=} ;;
    gnt_ip[0-9]=*) n=${arg%%=*}; eval "ip_${n#gnt_ip}=\${arg#*=}" ;;
    gnt_gw[0-9]=*) n=${arg%%=*}; eval "gw_${n#gnt_gw}=\${arg#*=}" ;;
    gnt_port=*) port=${arg#*=} ;;
    gnt_hash_mib=*) mib=${arg#*=} ;;
  esac
done

ip link set lo up
for n in 0 1 2 3 4 5 6 7 8 9; do
  eval "addr=\$ip_$n gw=\$gw_$n"
  [ -n "$addr" ] || continue
  dev=eth$n
  i=0
  while [ ! -e "/sys/class/net/$dev" ] && [ $i -lt 50 ]; do
    usleep 100000; i=$((i + 1))
  done
  if ip link set "$dev" up && ip addr add "$addr" dev "$dev"; then
    echo "gnt-guest: $dev $addr${gw:+ via $gw}"
  else
    echo "gnt-guest: cannot configure $dev with $addr"
    continue
  fi
  if [ -n "$gw" ]; then
    ip route add default via "$gw" dev "$dev" onlink
  elif [ "${addr#*/}" = 32 ]; then
    ip route add default dev "$dev"
  fi
done

echo 0 > /run/ticks
nc -ll -p "$port" -e /bin/gnt-status &

found=
for d in /sys/class/input/input*; do
  [ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
  for e in "$d"/event*; do
    [ -e "$e" ] || continue
    found=1
    (
      dd if="/dev/input/${e##*/}" of=/dev/null bs=24 count=1 2>/dev/null
      echo "@POWEROFF_LINE@"
      sync
      poweroff -f
    ) &
  done
done
[ -n "$found" ] || echo "gnt-guest: no ACPI power button"

for dev in vda vdb; do
  [ -b "/dev/$dev" ] || continue
  sum=$(dd if="/dev/$dev" bs=1048576 count="$mib" 2>/dev/null | sha256sum)
  echo "@DISK_PREFIX@$dev sha256 ${sum%% *}"
done

echo "@READY_MARKER@"
n=0
while :; do
  echo "$n" > /run/ticks.new
  mv /run/ticks.new /run/ticks
  echo "@TICK_PREFIX@$n"
  sleep 1
  n=$((n + 1))
done
"""

#: The responder run by ``nc`` for each connection: one request line.
STATUS_SCRIPT: Final = r"""#!/bin/sh
read -r cmd dev mib
case "$cmd" in
  ticks) echo "ticks $(cat /run/ticks)" ;;
  sha256)
    dev=${dev:-vda}; mib=${mib:-1}
    case "$dev/$mib" in
      *[!a-z0-9/]*) echo "error bad arguments"; exit 0 ;;
    esac
    if [ -b "/dev/$dev" ]; then
      sum=$(dd if="/dev/$dev" bs=1048576 count="$mib" 2>/dev/null | sha256sum)
      echo "sha256 $dev $mib ${sum%% *}"
    else
      echo "error no disk $dev"
    fi ;;
  *) echo "error unknown request $cmd" ;;
esac
"""


class BuildError(Exception):
    """The guest cannot be built; the message is one line.  ``fetch`` is
    set when apt could not get a package (no network, no mirror)."""

    def __init__(self, message: str, *, fetch: bool = False) -> None:
        super().__init__(message)
        self.fetch = fetch


@dataclass(frozen=True)
class GuestFiles:
    """A built guest."""

    directory: str
    #: Whether this call built it (False: the cached build was reused).
    rebuilt: bool

    @property
    def kernel(self) -> str:
        return os.path.join(self.directory, "vmlinuz")

    @property
    def initrd(self) -> str:
        return os.path.join(self.directory, "initrd.img")

    @property
    def stamp(self) -> str:
        return os.path.join(self.directory, "stamp")

    def hvparams(self, args: str) -> dict[str, str | bool]:
        """The KVM hypervisor parameters that boot this guest with the
        kernel command line ``args`` (see :func:`kernel_args`)."""
        return {"kernel_path": self.kernel, "initrd_path": self.initrd,
                "root_path": "", "kernel_args": args, "serial_console": True}


def default_dir() -> str:
    """The tests' cache directory: ``$GANETI_TEST_GUEST_DIR`` or
    :data:`DEFAULT_DIR`."""
    return os.environ.get(DIR_ENV) or DEFAULT_DIR


def kernel_args(nics: Sequence[tuple[str, str]] = (), *,
                port: int | None = None, hash_mib: int | None = None,
                extra: Iterable[str] = ()) -> str:
    """The guest's kernel command line: ``nics[N]`` is ``(ADDRESS/PREFIX,
    GATEWAY)`` for ethN (empty address: leave it down; empty gateway: no
    default route, except a /32 address, which gets a default route
    through the interface as a routed NIC needs)."""
    args = ["quiet"]
    for index, (address, gateway) in enumerate(nics):
        if not address:
            continue
        suffix = "" if index == 0 else str(index)
        args.append(f"gnt_ip{suffix}={address}")
        if gateway:
            args.append(f"gnt_gw{suffix}={gateway}")
    if port is not None:
        args.append(f"gnt_port={port}")
    if hash_mib is not None:
        args.append(f"gnt_hash_mib={hash_mib}")
    return " ".join([*args, *extra])


def status_query(host: str, request: str, *, port: int = STATUS_PORT,
                 timeout: float = 30.0) -> str:
    """Send one request line to the guest's responder; its answer line."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()


# --- apt ----------------------------------------------------------------------

def _apt_options() -> list[str]:
    # apt drops to the _apt user to download, which cannot write into a
    # private temporary directory of root's; download as root instead.
    return ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []


def _apt_error(result: process.RunResult) -> str:
    lines = [line.strip() for line in
             (result.stderr + "\n" + result.stdout).splitlines()]
    errs = [line for line in lines if line.startswith("E:")]
    return (errs or [line for line in lines if line] or [result.fail_reason])[0]


@dataclass(frozen=True)
class Package:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _show(packages: Sequence[str]) -> dict[str, dict[str, str]]:
    """The candidate records of ``packages`` from apt's lists (one
    apt-cache call: it is slow to start), keyed by package name."""
    result = process.run_cmd(["apt-cache", "show", "--no-all-versions",
                              *packages], timeout=APT_TIMEOUT)
    records: dict[str, dict[str, str]] = {}
    for block in result.stdout.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and not key.startswith(" "):
                fields[key] = value.strip()
        if "Package" in fields and "Version" in fields:
            records.setdefault(fields["Package"], fields)
    missing = [name for name in packages if name not in records]
    if missing:
        detail = f": {_apt_error(result)}" if result.failed else ""
        raise BuildError(f"apt has no package {' '.join(missing)}{detail} (is a"
                         " Debian mirror configured and 'apt-get update'"
                         " done?)", fetch=True)
    return records


def resolve(kernel_package: str, busybox_package: str
            ) -> tuple[Package, Package]:
    """The kernel image and busybox packages to fetch, at their candidate
    versions.  A kernel metapackage such as linux-image-amd64 is followed
    to the image it depends on."""
    records = _show([kernel_package, busybox_package])
    busybox = Package(busybox_package, records[busybox_package]["Version"])
    kernel_fields = records[kernel_package]
    kernel = Package(kernel_package, kernel_fields["Version"])
    for dep in kernel_fields.get("Depends", "").split(","):
        match = re.match(r"\s*(linux-image-[^\s(|]+)\s*(?:\(=\s*([^)\s]+)\))?",
                         dep)
        if match:
            name = match.group(1)
            version = match.group(2) or _show([name])[name]["Version"]
            kernel = Package(name, version)
            break
    return kernel, busybox


def fetch(package: Package, dest: str) -> str:
    """Download ``package`` into ``dest`` with apt-get; the .deb's path."""
    result = process.run_cmd(
        ["apt-get", "download", *_apt_options(), "-q",
         f"{package.name}={package.version}"], cwd=dest, timeout=APT_TIMEOUT)
    if result.failed:
        raise BuildError(f"cannot fetch {package.name} {package.version}:"
                         f" {_apt_error(result)}", fetch=True)
    found = glob.glob(os.path.join(glob.escape(dest),
                                   f"{glob.escape(package.name)}_*.deb"))
    if len(found) != 1:
        raise BuildError(f"apt-get download {package.name} left {len(found)}"
                         f" .deb files in {dest}")
    return found[0]


def unpack(deb: str, dest: str) -> None:
    result = process.run_cmd(["dpkg-deb", "-x", deb, dest], timeout=APT_TIMEOUT)
    if result.failed:
        detail = (result.stderr.strip().splitlines() or [result.fail_reason])[-1]
        raise BuildError(f"cannot unpack {os.path.basename(deb)}: {detail}")


# --- kernel modules -----------------------------------------------------------

def module_name(path: str) -> str:
    """The kernel's name of a module file (``virtio-gpu.ko.xz`` ->
    ``virtio_gpu``)."""
    return os.path.basename(path).split(".ko", 1)[0].replace("-", "_")


def read_module(path: str) -> bytes:
    """A module's ELF image (``.ko``, or compressed ``.ko.xz``)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if not path.endswith(".ko"):
        raise BuildError(f"module {path}: unsupported compression")
    return data


def modinfo(data: bytes) -> dict[str, list[str]]:
    """The ``.modinfo`` section of a module's ELF image (64-bit, little
    endian), as key -> values."""
    if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
        raise BuildError("not a 64-bit little-endian ELF module")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", data, shoff + index * shentsize)
        return name, offset, size

    _, names_off, names_size = section(shstrndx)
    names = data[names_off:names_off + names_size]
    info: dict[str, list[str]] = {}
    for index in range(shnum):
        name, offset, size = section(index)
        if names[name:names.index(b"\0", name)] != b".modinfo":
            continue
        for entry in data[offset:offset + size].split(b"\0"):
            key, sep, value = entry.decode(errors="replace").partition("=")
            if sep:
                info.setdefault(key, []).append(value)
    return info


def module_depends(path: str) -> list[str]:
    try:
        info = modinfo(read_module(path))
    except (BuildError, struct.error, ValueError, lzma.LZMAError) as err:
        raise BuildError(f"cannot read module {path}: {err}") from None
    return [dep for value in info.get("depends", []) for dep in value.split(",")
            if dep]


def module_closure(wanted: Iterable[str],
                   depends: Callable[[str], Sequence[str]]) -> list[str]:
    """``wanted`` and everything they depend on, each after its
    dependencies (the order insmod needs)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise BuildError(f"module dependency cycle through {name}")
        visiting.add(name)
        for dep in depends(name):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def kernel_modules(root: str, wanted: Sequence[str]) -> list[tuple[str, str]]:
    """(name, path) of the modules to load from an unpacked kernel package,
    dependencies first; modules built into the kernel are left out."""
    trees = sorted(glob.glob(os.path.join(root, "lib", "modules", "*"))
                   + glob.glob(os.path.join(root, "usr", "lib", "modules", "*")))
    if len(trees) != 1:
        raise BuildError(f"the kernel package has {len(trees)} module trees")
    tree = trees[0]
    files: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(os.path.join(tree, "kernel")):
        for name in names:
            if ".ko" in name:
                files[module_name(name)] = os.path.join(dirpath, name)
    builtin: set[str] = set()
    with contextlib.suppress(FileNotFoundError), \
            open(os.path.join(tree, "modules.builtin")) as handle:
        builtin = {module_name(line.strip()) for line in handle if line.strip()}

    def depends(name: str) -> list[str]:
        if name in builtin:
            return []
        if name not in files:
            raise BuildError(f"kernel module {name} is neither in the package"
                             " nor built in")
        return module_depends(files[name])

    return [(name, files[name]) for name in module_closure(wanted, depends)
            if name not in builtin]


# --- initramfs ----------------------------------------------------------------

class Cpio:
    """A cpio archive in the "newc" format the kernel unpacks; every
    entry is owned by root and dated 0, so equal inputs give equal bytes."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 0

    def _entry(self, name: str, mode: int, data: bytes = b"",
               rdev: tuple[int, int] = (0, 0)) -> None:
        self._ino += 1
        raw = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0],
                  rdev[1], len(raw), 0)
        self._out.write(b"070701" + "".join(f"{f:08X}" for f in fields).encode())
        self._out.write(raw)
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self._out.getvalue()


def init_script() -> str:
    values = {"PORT": str(STATUS_PORT), "HASH_MIB": str(HASH_MIB),
              "READY_MARKER": READY_MARKER, "TICK_PREFIX": TICK_PREFIX,
              "DISK_PREFIX": DISK_PREFIX, "POWEROFF_LINE": POWEROFF_LINE}
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], INIT_SCRIPT)


def initramfs(busybox: bytes, modules: Sequence[tuple[str, bytes]]) -> bytes:
    """The guest's initramfs (gzip'd cpio)."""
    archive = Cpio()
    for name in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "run",
                 "sys", "tmp"):
        archive.directory(name)
    archive.char_device("dev/console", 5, 1)
    archive.file("bin/busybox", busybox, 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", init_script().encode(), 0o755)
    archive.file("bin/gnt-status", STATUS_SCRIPT.encode(), 0o755)
    archive.file("etc/gnt-modules",
                 "".join(f"{name}\n" for name, _ in modules).encode())
    for name, data in modules:
        archive.file(f"lib/modules/{name}.ko", data)
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


# --- build --------------------------------------------------------------------

def inputs_hash(kernel: Package, busybox: Package,
                modules: Sequence[str] = MODULES) -> str:
    """The hash of everything the output depends on."""
    inputs = {"format": FORMAT, "init": init_script(), "status": STATUS_SCRIPT,
              "modules": list(modules), "kernel": str(kernel),
              "busybox": str(busybox)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()
                          ).hexdigest()


def _read_stamp(path: str) -> str:
    try:
        with open(path) as handle:
            return str(json.load(handle).get("inputs", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _install(path: str, data: bytes) -> None:
    tmp = f"{path}.new"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def build(directory: str, *, force: bool = False,
          kernel_package: str = KERNEL_PACKAGE,
          busybox_package: str = BUSYBOX_PACKAGE,
          log: Callable[[str], None] = print) -> GuestFiles:
    """Build the guest into ``directory`` unless an up-to-date build is
    there.  Concurrent builders of one directory take turns (a lock file)."""
    try:
        os.makedirs(directory, exist_ok=True)
        lock = open(os.path.join(directory, ".lock"), "w")  # noqa: SIM115
    except OSError as err:
        raise BuildError(f"cannot use {directory}: {err.strerror or err}"
                         ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(directory, force, kernel_package, busybox_package,
                             log)


def _build_locked(directory: str, force: bool, kernel_package: str,
                  busybox_package: str, log: Callable[[str], None]
                  ) -> GuestFiles:
    files = GuestFiles(directory, rebuilt=False)
    kernel, busybox = resolve(kernel_package, busybox_package)
    digest = inputs_hash(kernel, busybox)
    log(f"inputs: kernel {kernel}, busybox {busybox}")
    if (not force and _read_stamp(files.stamp) == digest
            and os.path.isfile(files.kernel) and os.path.isfile(files.initrd)):
        log(f"up to date: {directory}")
        return files
    with contextlib.suppress(FileNotFoundError):
        os.unlink(files.stamp)
    work = tempfile.mkdtemp(prefix=".work-", dir=directory)
    try:
        debs = {}
        for package in (kernel, busybox):
            log(f"fetching {package}")
            debs[package.name] = fetch(package, work)
        for package in (kernel, busybox):
            log(f"unpacking {package.name}")
            unpack(debs[package.name], os.path.join(work, package.name))
        kroot = os.path.join(work, kernel.name)
        images = glob.glob(os.path.join(kroot, "boot", "vmlinuz-*"))
        if len(images) != 1:
            raise BuildError(f"{kernel.name} holds {len(images)} kernel images"
                             " in boot/")
        modules = kernel_modules(kroot, MODULES)
        log(f"modules: {' '.join(name for name, _ in modules)}")
        bb_path = os.path.join(work, busybox.name, "bin", "busybox")
        try:
            with open(bb_path, "rb") as handle:
                bb_data = handle.read()
        except OSError as err:
            raise BuildError(f"{busybox.name} has no bin/busybox: "
                             f"{err.strerror or err}") from None
        image = initramfs(bb_data, [(name, read_module(path))
                                    for name, path in modules])
        log(f"writing {files.kernel} ({os.path.basename(images[0])})")
        with open(images[0], "rb") as handle:
            _install(files.kernel, handle.read())
        log(f"writing {files.initrd} ({len(image) // 1024} KiB)")
        _install(files.initrd, image)
        stamp = {"inputs": digest, "kernel": str(kernel),
                 "busybox": str(busybox), "modules": [n for n, _ in modules]}
        _install(files.stamp, (json.dumps(stamp, indent=1) + "\n").encode())
    except OSError as err:
        raise BuildError(f"building the guest in {directory}:"
                         f" {err.strerror or err}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"built {directory}")
    return GuestFiles(directory, rebuilt=True)


def main(argv: Sequence[str] | None = None,
         out: Callable[[str], None] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-test-guest",
        description="Build the KVM test guest (kernel + busybox initramfs"
                    " from Debian packages) into DIR; reuse it when its"
                    " inputs did not change.")
    parser.add_argument("directory", metavar="DIR", nargs="?",
                        help=f"output directory (default: ${DIR_ENV} or"
                             f" {DEFAULT_DIR})")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when the stamp matches")
    parser.add_argument("--kernel-package", default=KERNEL_PACKAGE,
                        help="kernel image (meta)package (default: %(default)s)")
    parser.add_argument("--busybox-package", default=BUSYBOX_PACKAGE,
                        help="static busybox package (default: %(default)s)")
    opts = parser.parse_args(argv)
    emit = out or (lambda line: print(f"build-test-guest: {line}", flush=True))
    try:
        build(opts.directory or default_dir(), force=opts.force,
              kernel_package=opts.kernel_package,
              busybox_package=opts.busybox_package, log=emit)
    except BuildError as err:
        print(f"build-test-guest: error: {err}", file=sys.stderr)
        return 1
    return 0

