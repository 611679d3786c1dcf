# Shared code of the ganeti-demo-os scripts (sourced, POSIX sh).
#
# The demo OS "installs" an instance by writing to its first disk:
#
# - a header of at most 1024 bytes at offset 0 (the boot block, which
#   ext2/3/4 leave unused), starting with the line "GANETI-DEMO-OS 1" and
#   holding key=value lines: instance, os, variant, hostname, api and
#   param.<name> for each OS parameter, ending with "END";
# - for the "full" variant, when mkfs.ext4 is installed, first an ext4
#   filesystem (labelled demo-root) holding /etc/hostname and
#   /ganeti-demo-os.info (a copy of the header text).
#
# Everything is read from the environment the node daemon passes (see
# ganeti-os-interface(7)); nothing else is assumed.

set -e

DEMO_MAGIC="GANETI-DEMO-OS 1"
DEMO_HEADER_SIZE=1024
DEMO_VARIANTS="minimal full"
DEMO_DEFAULT_VARIANT=minimal

SCRIPT_NAME=$(basename "$0")

log() {
  echo "$SCRIPT_NAME: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# usage TEXT: print the usage line and the environment the script needs.
usage() {
  if [ -n "$1" ]; then
    echo "Usage: $SCRIPT_NAME $1" >&2
  else
    echo "Usage: $SCRIPT_NAME (no arguments)" >&2
  fi
  echo "Run by the Ganeti node daemon; input comes from the environment" >&2
  echo "(see ganeti-os-interface(7))." >&2
}

# check_no_args "$@": the instance scripts take no arguments.
check_no_args() {
  case $# in
    0) return 0 ;;
  esac
  case $1 in
    -h|--help) usage ""; exit 0 ;;
  esac
  usage ""
  exit 1
}

# need VAR...: fail unless each variable is set and not empty.
need() {
  for _var in "$@"; do
    eval "_val=\${$_var:-}"
    [ -n "$_val" ] || die "$_var is not set (not run by Ganeti?)"
  done
}

# demo_variant: the variant to install (API 10 has none: the default).
demo_variant() {
  _v=${OS_VARIANT:-$DEMO_DEFAULT_VARIANT}
  for _known in $DEMO_VARIANTS; do
    if [ "$_v" = "$_known" ]; then
      echo "$_v"
      return 0
    fi
  done
  die "unsupported variant '$_v' (supported: $DEMO_VARIANTS)"
}

# check_params: the same checks as "verify parameters", for scripts that
# may run without verify having been called (API 10 and 15 callers).
check_params() {
  _prefix=${OSP_HOSTNAME_PREFIX:-}
  case $_prefix in
    *[!a-z0-9-]*)
      die "invalid hostname_prefix '$_prefix': only a-z, 0-9 and '-'" ;;
  esac
  [ "${#_prefix}" -le 20 ] ||
    die "invalid hostname_prefix '$_prefix': longer than 20 characters"
  _fill=${OSP_FILL_SIZE:-0}
  case $_fill in
    ''|*[!0-9]*) die "invalid fill_size '$_fill': not a number of MiB" ;;
  esac
  [ "${#_fill}" -le 7 ] || die "invalid fill_size '$_fill': too large"
  return 0
}

# header_text NAME VARIANT: the header lines for instance NAME.
header_text() {
  echo "$DEMO_MAGIC"
  echo "instance=$1"
  echo "os=${INSTANCE_OS:-}"
  echo "variant=$2"
  echo "hostname=${OSP_HOSTNAME_PREFIX:-}$1"
  echo "api=${OS_API_VERSION:-}"
  echo "param.hostname_prefix=${OSP_HOSTNAME_PREFIX:-}"
  echo "param.fill_size=${OSP_FILL_SIZE:-}"
  echo "END"
}

# write_header DISK NAME VARIANT: (re)write the header block of DISK.
write_header() {
  _tmp=$(mktemp)
  header_text "$2" "$3" > "$_tmp"
  _size=$(wc -c < "$_tmp")
  if [ "$_size" -gt "$DEMO_HEADER_SIZE" ]; then
    rm -f "$_tmp"
    die "header of $_size bytes does not fit in $DEMO_HEADER_SIZE bytes"
  fi
  dd if=/dev/zero of="$1" bs="$DEMO_HEADER_SIZE" count=1 conv=notrunc \
    2>/dev/null || { rm -f "$_tmp"; die "cannot write to $1"; }
  dd if="$_tmp" of="$1" bs="$DEMO_HEADER_SIZE" count=1 conv=notrunc \
    2>/dev/null || { rm -f "$_tmp"; die "cannot write to $1"; }
  rm -f "$_tmp"
}

# has_header DISK: whether DISK starts with the demo header.
has_header() {
  _first=$(dd if="$1" bs=64 count=1 2>/dev/null | head -n 1) || return 1
  [ "$_first" = "$DEMO_MAGIC" ]
}

# header_value DISK KEY: the value of KEY in DISK's header.
header_value() {
  dd if="$1" bs="$DEMO_HEADER_SIZE" count=1 2>/dev/null |
    sed -n "s/^$2=//p" | head -n 1
}

# have_ext4: whether the tools for the filesystem of the "full" variant
# are installed.
have_ext4() {
  command -v mkfs.ext4 >/dev/null 2>&1
}

# is_ext4 DISK: whether DISK holds an ext2/3/4 filesystem (the
# superblock magic 0xEF53 at byte 1080).
is_ext4() {
  _magic=$(dd if="$1" bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 |
    tr -d ' \n')
  [ "$_magic" = "53ef" ]
}

# make_filesystem DISK NAME VARIANT: a fresh ext4 filesystem on DISK.
make_filesystem() {
  _stage=$(mktemp -d)
  mkdir "$_stage/etc"
  echo "${OSP_HOSTNAME_PREFIX:-}$2" > "$_stage/etc/hostname"
  header_text "$2" "$3" > "$_stage/ganeti-demo-os.info"
  _fill=${OSP_FILL_SIZE:-0}
  if [ "${_fill:-0}" -gt 0 ]; then
    set -- "$1" "${_fill}M"
  else
    set -- "$1"
  fi
  if ! mkfs.ext4 -q -F -L demo-root -d "$_stage" "$@" >&2; then
    rm -rf "$_stage"
    die "mkfs.ext4 failed on $1"
  fi
  rm -rf "$_stage"
}

# update_filesystem DISK NAME VARIANT: rewrite the files naming the
# instance inside the filesystem (rename, import under a new name).
update_filesystem() {
  command -v debugfs >/dev/null 2>&1 || return 0
  _stage=$(mktemp -d)
  echo "${OSP_HOSTNAME_PREFIX:-}$2" > "$_stage/hostname"
  header_text "$2" "$3" > "$_stage/info"
  {
    echo "rm /etc/hostname"
    echo "write $_stage/hostname /etc/hostname"
    echo "rm /ganeti-demo-os.info"
    echo "write $_stage/info /ganeti-demo-os.info"
  } > "$_stage/cmds"
  # debugfs reports failed requests on stderr but exits with 0: check
  # the result by reading the file back.
  debugfs -w -f "$_stage/cmds" "$1" >/dev/null 2>&1 || true
  _now=$(debugfs -R "cat /etc/hostname" "$1" 2>/dev/null || true)
  rm -rf "$_stage"
  [ "$_now" = "${OSP_HOSTNAME_PREFIX:-}$2" ] ||
    die "cannot update the filesystem on $1"
}
