# Shared code of the busybox OS scripts (sourced, POSIX sh).
#
# The busybox OS installs an instance for the chroot hypervisor: disk 0
# gets an ext4 filesystem (labelled busybox-root) holding a statically
# linked busybox with a link per applet, /etc/hostname, and the init
# script /ganeti-chroot, which the chroot hypervisor runs inside the root
# with "start" and "stop".  The one service is a heartbeat: a loop that
# counts in /var/lib/heartbeat/count and writes the time of the last beat
# to /var/lib/heartbeat/last every heartbeat_interval seconds.
#
# Everything is read from the environment the node daemon passes (see
# ganeti-os-interface(7)); the node needs busybox (static: it runs
# inside roots without libraries) and mkfs.ext4 and debugfs (e2fsprogs).

set -e

BUSYBOX=${BUSYBOX:-/bin/busybox}
VARIANTS="heartbeat"
DEFAULT_VARIANT=heartbeat
LABEL=busybox-root

SCRIPT_NAME=$(basename "$0")

log() {
  echo "$SCRIPT_NAME: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# check_no_args "$@": the instance scripts take no arguments.
check_no_args() {
  [ $# -eq 0 ] && return 0
  echo "Usage: $SCRIPT_NAME (no arguments; run by the Ganeti node daemon," \
    "see ganeti-os-interface(7))" >&2
  case $1 in -h|--help) exit 0 ;; esac
  exit 1
}

# need VAR...: fail unless each variable is set and not empty.
need() {
  for _var; do
    [ -n "$(eval "printf %s \"\${$_var:-}\"")" ] ||
      die "$_var is not set (not run by Ganeti?)"
  done
}

# check_variant: the variant, when given, is one of variants.list.
check_variant() {
  case " $VARIANTS " in
    *" ${OS_VARIANT:-$DEFAULT_VARIANT} "*) ;;
    *) die "unsupported variant '$OS_VARIANT' (supported: $VARIANTS)" ;;
  esac
}

# interval: the heartbeat interval (OS parameter heartbeat_interval).
interval() {
  _i=${OSP_HEARTBEAT_INTERVAL:-1}
  case $_i in
    ''|*[!0-9]*) die "invalid heartbeat_interval '$_i': not a number" ;;
  esac
  [ "${#_i}" -le 4 ] && [ "$_i" -ge 1 ] && [ "$_i" -le 3600 ] ||
    die "invalid heartbeat_interval '$_i': not within 1 to 3600"
  echo "$_i"
}

# check_busybox: the node's busybox exists and is static.
check_busybox() {
  [ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (install busybox-static)"
  if command -v ldd >/dev/null 2>&1 &&
      ldd "$BUSYBOX" 2>/dev/null | grep -q '=>'; then
    die "$BUSYBOX is linked dynamically: it cannot run in a bare root" \
      "(install busybox-static)"
  fi
}

# init_script INTERVAL: the text of /ganeti-chroot.
init_script() {
  cat <<SCRIPT
#!/bin/sh
# Init script of a busybox instance, run by the chroot hypervisor inside
# the instance's root: "start" starts the heartbeat, "stop" stops it.
PIDFILE=/run/heartbeat.pid
DIR=/var/lib/heartbeat
case "\$1" in
  start)
    # The hypervisor runs "start" only when nothing runs in the root: a
    # pid file left by processes killed since is stale (and its pid may
    # name a zombie or another process by now), so it is not looked at.
    mkdir -p /run /var/log "\$DIR"
    (
      trap 'exit 0' TERM
      n=\$(cat "\$DIR/count" 2>/dev/null || echo 0)
      while :; do
        n=\$((n + 1))
        echo "\$n" > "\$DIR/count.new" && mv "\$DIR/count.new" "\$DIR/count"
        date +%s > "\$DIR/last"
        sleep $1
      done
    ) </dev/null >>/var/log/heartbeat.log 2>&1 &
    echo \$! > \$PIDFILE
    echo "heartbeat started (pid \$!)"
    ;;
  stop)
    if [ -s \$PIDFILE ]; then
      kill "\$(cat \$PIDFILE)" 2>/dev/null || true
      rm -f \$PIDFILE
    fi
    echo "heartbeat stopped"
    ;;
  *)
    echo "Usage: \$0 start|stop" >&2; exit 1 ;;
esac
SCRIPT
}

# make_root DISK NAME: a fresh ext4 filesystem on DISK holding the root.
make_root() {
  _iv=$(interval)
  _stage=$(mktemp -d)
  trap 'rm -rf "$_stage"' EXIT
  mkdir -p "$_stage/bin" "$_stage/sbin" "$_stage/usr/bin" \
    "$_stage/usr/sbin" "$_stage/etc" "$_stage/run" "$_stage/tmp" \
    "$_stage/var/lib/heartbeat" "$_stage/root" "$_stage/proc" "$_stage/dev"
  chmod 1777 "$_stage/tmp"
  # /dev/null: busybox sh opens it for every background job.
  mknod -m 666 "$_stage/dev/null" c 1 3 || die "cannot create dev/null"
  cp "$BUSYBOX" "$_stage/bin/busybox"
  for _applet in $("$BUSYBOX" --list-full); do
    [ -e "$_stage/$_applet" ] || ln -s /bin/busybox "$_stage/$_applet"
  done
  echo "$2" > "$_stage/etc/hostname"
  echo "root:x:0:0:root:/root:/bin/sh" > "$_stage/etc/passwd"
  echo "root:x:0:" > "$_stage/etc/group"
  init_script "$_iv" > "$_stage/ganeti-chroot"
  chmod 755 "$_stage/ganeti-chroot"
  mkfs.ext4 -q -F -L "$LABEL" -d "$_stage" "$1" >&2 ||
    die "mkfs.ext4 failed on $1"
  rm -rf "$_stage"
  trap - EXIT
}

# set_hostname DISK NAME: rewrite /etc/hostname inside DISK's filesystem.
set_hostname() {
  command -v debugfs >/dev/null 2>&1 || die "debugfs is missing (e2fsprogs)"
  _tmp=$(mktemp)
  echo "$2" > "$_tmp"
  # debugfs reports failed requests on stderr but exits with 0: check the
  # result by reading the file back.
  printf 'rm /etc/hostname\nwrite %s /etc/hostname\n' "$_tmp" |
    debugfs -w -f - "$1" >/dev/null 2>&1 || true
  rm -f "$_tmp"
  [ "$(debugfs -R 'cat /etc/hostname' "$1" 2>/dev/null)" = "$2" ] ||
    die "cannot update /etc/hostname on $1"
}
