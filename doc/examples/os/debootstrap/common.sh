# Shared code of the debootstrap OS scripts (sourced by bash).
#
# The OS installs Debian (the variant names the release) on disk 0 with
# debootstrap, a kernel and extlinux, so that the instance boots from its
# disk (no kernel_path) with a console on its first serial port.  The
# base system of a variant and package list is built once and kept as a
# tarball under $DB_CACHE_DIR; later installs unpack it.
#
# Disk 0 is either one bootable MBR partition starting at 1 MiB (layout
# "partition", syslinux's MBR code in sector 0) or an ext4 filesystem on
# the whole disk (layout "whole", extlinux's boot sector in sector 0).
# No device-mapper and no partition scanning are needed: the filesystem
# is reached through a loop device with an offset.
#
# Input comes from the environment only (see ganeti-os-interface(7)).

set -euo pipefail

OS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_NAME=$(basename "$0")

# Tests may point these elsewhere; Ganeti runs the scripts with a clean
# environment, so on a node they keep their defaults.
DB_CACHE_DIR=${DB_CACHE_DIR:-/var/tmp/ganeti-debootstrap-cache}
DB_APT_ETC=${DB_APT_ETC:-/etc/apt}
DB_DEFAULT_MIRROR=http://deb.debian.org/debian
# The first sector of the partition of layout "partition".
DB_PART_START=2048
# The packages every instance gets on top of debootstrap's minbase.
DB_BASE_PACKAGES="linux-image-amd64 systemd-sysv udev ifupdown \
isc-dhcp-client openssh-server iproute2 iputils-ping netbase e2fsprogs"

log() {
  echo "$SCRIPT_NAME: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

usage() {
  echo "Usage: $SCRIPT_NAME ${1:-(no arguments)}" >&2
  echo "Run by the Ganeti node daemon with its input in the environment" >&2
  echo "(see ganeti-os-interface(7) and ganeti-os-debootstrap(7))." >&2
}

# no_args "$@": the instance scripts take no arguments.
no_args() {
  [ $# -eq 0 ] && return 0
  if [ "$1" = -h ] || [ "$1" = --help ]; then
    usage
    exit 0
  fi
  log "unexpected argument '$1'"
  usage
  exit 1
}

# require VAR...: each variable must be set and not empty.
require() {
  local var
  for var in "$@"; do
    [ -n "${!var:-}" ] || die "$var is not set (not run by Ganeti?)"
  done
}

# --- Cleanup ----------------------------------------------------------------
# Commands run in reverse order at exit, whatever the exit path.
DB_CLEANUP=()

on_exit() {
  local i
  for ((i = ${#DB_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${DB_CLEANUP[i]}" >/dev/null 2>&1 || true
  done
  DB_CLEANUP=()
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

# at_exit COMMAND: run COMMAND (a shell string) at exit.
at_exit() {
  DB_CLEANUP+=("$1")
}

# --- Variants and parameters ---------------------------------------------------

variants() {
  grep -v '^[[:space:]]*$' "$OS_DIR/variants.list"
}

# variant: the release to install (without a variant, the first listed).
variant() {
  local want=${OS_VARIANT:-} known
  [ -n "$want" ] || want=$(variants | head -n 1)
  while read -r known; do
    [ "$known" = "$want" ] && { echo "$want"; return 0; }
  done < <(variants)
  die "unsupported variant '$want' (supported: $(variants | tr '\n' ' '| sed 's/ $//'))"
}

# check_params: every OSP_* value is well formed (also run by the
# instance scripts: API 10 and 15 callers never run verify).
check_params() {
  local pkgs=${OSP_EXTRA_PACKAGES:-} hash=${OSP_ROOT_PASSWORD_HASH:-}
  local keys=${OSP_SSH_KEY:-} layout=${OSP_LAYOUT:-}
  local mirror=${OSP_MIRROR:-} prefix=${OSP_IP_PREFIX:-}
  local gateway=${OSP_GATEWAY:-}
  local pkg_re='[a-z0-9][a-z0-9+.-]+'
  [[ -z $pkgs || $pkgs =~ ^$pkg_re(,$pkg_re)*$ ]] ||
    die "invalid extra_packages '$pkgs': Debian package names separated by commas"
  [[ -z $hash || $hash =~ ^%[A-Za-z0-9./%]+$ ]] ||
    die "invalid root_password_hash: a crypt(3) hash with '%' for each '\$' (e.g. %6%salt%hash)"
  local key_re='[a-z][a-z0-9@.-]*:[A-Za-z0-9+/]+={0,2}'
  [[ -z $keys || $keys =~ ^$key_re(,$key_re)*$ ]] ||
    die "invalid ssh_key '$keys': keys as type:base64 separated by commas"
  case $layout in
    ''|partition|whole) ;;
    *) die "invalid layout '$layout': 'partition' or 'whole'" ;;
  esac
  [[ -z $mirror || $mirror =~ ^(https?|file):/// || $mirror =~ ^https?://[A-Za-z0-9] ]] ||
    die "invalid mirror '$mirror': an http://, https:// or file:/// URL"
  if [ -n "$prefix" ]; then
    [[ $prefix =~ ^[0-9]{1,2}$ ]] && [ "$prefix" -ge 1 ] &&
      [ "$prefix" -le 32 ] ||
      die "invalid ip_prefix '$prefix': a prefix length from 1 to 32"
  fi
  [ -z "$gateway" ] || is_ipv4 "$gateway" ||
    die "invalid gateway '$gateway': an IPv4 address"
}

# is_ipv4 TEXT: whether TEXT is a dotted-quad IPv4 address.
is_ipv4() {
  local IFS=. part
  local -a parts
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -r -a parts <<< "$1"
  for part in "${parts[@]}"; do
    [ $((10#$part)) -le 255 ] || return 1
  done
}

layout() {
  echo "${OSP_LAYOUT:-partition}"
}

# --- Mirror and package list ---------------------------------------------------

# apt_mirror: the first Debian archive among the apt sources of this
# node ($DB_APT_ETC/sources.list, sources.list.d/*.list and *.sources):
# a "deb" source whose suites include a Debian release name (one of
# variants.list, or stable/testing/unstable/sid/oldstable).  Without one,
# $DB_DEFAULT_MIRROR.
apt_mirror() {
  local suites files=()
  suites=" $(variants | tr '\n' ' ') stable testing unstable sid oldstable "
  [ -f "$DB_APT_ETC/sources.list" ] && files+=("$DB_APT_ETC/sources.list")
  local f
  for f in "$DB_APT_ETC"/sources.list.d/*.list \
           "$DB_APT_ETC"/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  local found=""
  for f in "${files[@]}"; do
    case $f in
      *.sources) found=$(deb822_mirror "$suites" < "$f") ;;
      *) found=$(one_line_mirror "$suites" < "$f") ;;
    esac
    [ -n "$found" ] && break
  done
  echo "${found:-$DB_DEFAULT_MIRROR}"
}

# one_line_mirror SUITES < FILE: from "deb [options] URI SUITE COMPONENTS"
# lines, the first URI with a suite in SUITES.
one_line_mirror() {
  awk -v suites="$1" '
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if (index(suites, " " $(i + 1) " ")) { print $i; exit }
    }'
}

# deb822_mirror SUITES < FILE: the same for deb822 stanzas (Types, URIs,
# Suites; Enabled: no skipped).
deb822_mirror() {
  awk -v suites="$1" '
    function check(   n, u, s, i, j) {
      if (types ~ /(^| )deb( |$)/ && enabled != "no") {
        n = split(suite_list, s, " ")
        split(uris, u, " ")
        for (j = 1; j <= n; j++)
          if (index(suites, " " s[j] " ")) { print u[1]; found = 1; exit }
      }
      types = uris = suite_list = enabled = ""
    }
    /^[[:space:]]*$/ { check(); next }
    /^#/ { next }
    tolower($1) == "types:" { $1 = ""; types = $0 " " }
    tolower($1) == "uris:" { $1 = ""; uris = $0 }
    tolower($1) == "suites:" { $1 = ""; suite_list = $0 }
    tolower($1) == "enabled:" { enabled = tolower($2) }
    END { if (!found) check() }'
}

mirror() {
  if [ -n "${OSP_MIRROR:-}" ]; then
    echo "$OSP_MIRROR"
  else
    apt_mirror
  fi
}

# packages: the packages to include, sorted, separated by commas.
packages() {
  local extra=${OSP_EXTRA_PACKAGES:-}
  # shellcheck disable=SC2086
  printf '%s\n' $DB_BASE_PACKAGES ${extra//,/ } |
    sort -u | paste -sd, -
}

# cache_file VARIANT MIRROR PACKAGES: the tarball of that base system.
cache_file() {
  local key
  key=$(printf '%s\n' "$1" "$2" "$3" "$(dpkg --print-architecture)" |
    sha256sum | cut -c1-16)
  echo "$DB_CACHE_DIR/$1-$key.tar"
}

# --- Building the base system ------------------------------------------------

# apt_proxy_env: export the HTTP proxy apt is configured with, if any, for
# debootstrap (which does not read apt's configuration).
apt_proxy_env() {
  local proxy=""
  if command -v apt-config >/dev/null 2>&1; then
    eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null)" || true
  fi
  [ -n "$proxy" ] && [ "$proxy" != DIRECT ] && export http_proxy="$proxy"
  return 0
}

# ensure_cache VARIANT MIRROR PACKAGES: set DB_TARBALL to the tarball's
# path, building it first when missing (one build at a time per tarball).
# Not to be called in a subshell: the cleanup must stay registered.
ensure_cache() {
  local tarball lock build
  tarball=$(cache_file "$@")
  DB_TARBALL=$tarball
  mkdir -p "$DB_CACHE_DIR"
  lock="$tarball.lock"
  exec 9>"$lock"
  flock 9
  if [ -s "$tarball" ]; then
    exec 9>&-
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 ||
    die "debootstrap is not installed on this node"
  build=$(mktemp -d "$DB_CACHE_DIR/build.XXXXXX")
  at_exit "rm -rf '$build'"
  log "building the $1 base system from $2 (cached as $tarball)"
  apt_proxy_env
  if ! debootstrap --variant=minbase --include="$3" "$1" "$build/root" "$2" \
      >"$build/log" 2>&1; then
    tail -n 5 "$build/log" >&2
    die "debootstrap of $1 from $2 failed: $(grep -E '^E:' "$build/log" | tail -n 1)"
  fi
  # What must differ between instances is made at install time.
  rm -f "$build"/root/etc/ssh/ssh_host_*
  : > "$build/root/etc/machine-id"
  rm -f "$build/root/var/lib/dbus/machine-id"
  rm -f "$build"/root/var/cache/apt/archives/*.deb
  tar -C "$build/root" --numeric-owner --xattrs -cf "$build/base.tar" . ||
    die "cannot write the tarball of the $1 base system"
  mv "$build/base.tar" "$tarball"
  rm -rf "$build"
  exec 9>&-
}

# --- Disks and filesystems ---------------------------------------------------

# disk_bytes DISK: the size of a disk file or block device.
disk_bytes() {
  if [ -b "$1" ]; then
    blockdev --getsize64 "$1"
  else
    stat -c %s "$1"
  fi
}

# partition DISK: one bootable Linux partition over the whole disk,
# starting at sector $DB_PART_START, with syslinux's MBR code.
partition() {
  echo "start=$DB_PART_START, type=83, bootable" |
    sfdisk --quiet --label dos --wipe always --no-reread --no-tell-kernel \
      "$1" >&2 || die "sfdisk cannot partition $1"
  local mbr
  for mbr in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/EXTLINUX/mbr.bin; do
    if [ -f "$mbr" ]; then
      dd if="$mbr" of="$1" bs=440 count=1 conv=notrunc 2>/dev/null ||
        die "cannot write the MBR code to $1"
      return 0
    fi
  done
  die "syslinux's mbr.bin is not installed on this node"
}

# root_location DISK: "OFFSET SIZE" in bytes of the root filesystem: the
# first partition when DISK has a partition table, else the whole disk.
root_location() {
  local line start size
  line=$(sfdisk --dump "$1" 2>/dev/null | grep -m1 'start=' || true)
  if [ -n "$line" ]; then
    start=$(sed -n 's/.*start= *\([0-9]*\).*/\1/p' <<< "$line")
    size=$(sed -n 's/.*size= *\([0-9]*\).*/\1/p' <<< "$line")
    echo "$((start * 512)) $((size * 512))"
  else
    echo "0 $(disk_bytes "$1")"
  fi
}

# The helpers below set DB_LOOP and DB_ROOT and register their cleanup:
# they must not run in a subshell.

# attach DISK OFFSET SIZE: DB_LOOP is a loop device over that part of
# DISK, detached at exit.
attach() {
  DB_LOOP=$(losetup --find --show --offset "$2" --sizelimit "$3" "$1") ||
    die "cannot attach a loop device to $1"
  at_exit "losetup -d '$DB_LOOP'"
}

# mount_root DEVICE: DB_ROOT is a new mount point of DEVICE, unmounted at
# exit.
mount_root() {
  DB_ROOT=$(mktemp -d /tmp/ganeti-debootstrap.XXXXXX)
  at_exit "rmdir '$DB_ROOT'"
  mount "$1" "$DB_ROOT" || die "cannot mount $1"
  at_exit "umount '$DB_ROOT'"
}

# has_root_fs DISK: whether DISK holds an ext2/3/4 filesystem where
# open_root looks for it (the superblock magic 0xEF53 at byte 1080).
has_root_fs() {
  local loc magic
  loc=$(root_location "$1")
  magic=$(dd if="$1" bs=1 skip=$((${loc% *} + 1080)) count=2 2>/dev/null |
    od -An -tx1 | tr -d ' \n')
  [ "$magic" = 53ef ]
}

# open_root DISK: mount the root filesystem of an installed disk.
open_root() {
  local loc
  loc=$(root_location "$1")
  attach "$1" "${loc% *}" "${loc#* }"
  mount_root "$DB_LOOP"
}

# --- Configuring the installed system -------------------------------------------

# set_hostname ROOT NAME: /etc/hostname and /etc/hosts name the instance.
set_hostname() {
  local short=${2%%.*}
  echo "$2" > "$1/etc/hostname"
  {
    echo "127.0.0.1 localhost"
    if [ "$short" = "$2" ]; then
      echo "127.0.1.1 $2"
    else
      echo "127.0.1.1 $2 $short"
    fi
    echo "::1 localhost ip6-localhost ip6-loopback"
  } > "$1/etc/hosts"
}

# write_interfaces ROOT: ifupdown's configuration for the NICs: eth<N>
# gets NIC_<N>_IP/ip_prefix when the NIC has an IP, DHCP otherwise; the
# gateway parameter applies to eth0 with a static address.
write_interfaces() {
  local n ip
  {
    echo "# Written by the Ganeti debootstrap OS at install time."
    echo "auto lo"
    echo "iface lo inet loopback"
    for ((n = 0; n < ${NIC_COUNT:-0}; n++)); do
      ip=NIC_${n}_IP
      echo
      echo "auto eth$n"
      if [ -n "${!ip:-}" ]; then
        echo "iface eth$n inet static"
        echo "    address ${!ip}/${OSP_IP_PREFIX:-24}"
        if [ "$n" = 0 ] && [ -n "${OSP_GATEWAY:-}" ]; then
          echo "    gateway $OSP_GATEWAY"
        fi
      else
        echo "iface eth$n inet dhcp"
      fi
    done
  } > "$1/etc/network/interfaces"
}

# set_root_access ROOT: root's password hash and SSH keys.
set_root_access() {
  local hash=${OSP_ROOT_PASSWORD_HASH:-} key
  if [ -n "$hash" ]; then
    hash=${hash//%/\$}
    awk -F: -v OFS=: -v h="$hash" '$1 == "root" { $2 = h } { print }' \
      "$1/etc/shadow" > "$1/etc/shadow.new"
    chmod 640 "$1/etc/shadow.new"
    chown --reference="$1/etc/shadow" "$1/etc/shadow.new"
    mv "$1/etc/shadow.new" "$1/etc/shadow"
  fi
  if [ -n "${OSP_SSH_KEY:-}" ]; then
    install -d -m 700 "$1/root/.ssh"
    for key in ${OSP_SSH_KEY//,/ }; do
      echo "${key%%:*} ${key#*:}"
    done > "$1/root/.ssh/authorized_keys"
    chmod 600 "$1/root/.ssh/authorized_keys"
  fi
}

# serial_speed: the instance's serial_speed hypervisor parameter, if any.
serial_speed() {
  local speed=${INSTANCE_HV_serial_speed:-115200}
  [[ $speed =~ ^[0-9]+$ ]] || speed=115200
  echo "$speed"
}

# install_bootloader ROOT DEVICE: extlinux on the filesystem (whose
# device is DEVICE), booting the installed kernel with the console on
# ttyS0.
install_bootloader() {
  local kernel initrd uuid speed
  kernel=$(cd "$1/boot" && ls vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
  initrd=initrd.img-${kernel#vmlinuz-}
  [ -n "$kernel" ] && [ -f "$1/boot/$initrd" ] ||
    die "no kernel and initrd in the installed system's /boot"
  uuid=$(blkid -s UUID -o value "$2")
  speed=$(serial_speed)
  mkdir -p "$1/boot/extlinux"
  cat > "$1/boot/extlinux/extlinux.conf" <<EOF
# Written by the Ganeti debootstrap OS at install time.
SERIAL 0 $speed
DEFAULT debian
TIMEOUT 0
PROMPT 0
LABEL debian
  LINUX /boot/$kernel
  INITRD /boot/$initrd
  APPEND root=UUID=$uuid ro net.ifnames=0 console=tty0 console=ttyS0,${speed}n8
EOF
  echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"
  extlinux --install "$1/boot/extlinux" >&2 ||
    die "extlinux cannot install its boot sector"
}

# configure ROOT DEVICE NAME: everything that is per instance.
configure() {
  set_hostname "$1" "$3"
  write_interfaces "$1"
  set_root_access "$1"
  mkdir -p "$1/etc/systemd/system/getty.target.wants"
  ln -sf /lib/systemd/system/serial-getty@.service \
    "$1/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
  rm -f "$1"/etc/ssh/ssh_host_*
  chroot "$1" ssh-keygen -A >&2 || die "cannot make the SSH host keys"
  install_bootloader "$1" "$2"
}
