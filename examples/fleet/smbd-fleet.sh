#!/usr/bin/env bash
# Real Samba servers on this machine, configured the way current Windows is, for the
# Windows tests: SMB3 only, signing mandatory, encryption required, NTLMv2 only, and
# the administrative shares ADMIN$ and C$.
#
#   smbd-fleet.sh setup                 once, as root: install samba
#   smbd-fleet.sh start DIR ADDR:PORT…  one smbd per endpoint, state under DIR; the
#                                       account `Administrator` (Unix user root) gets the
#                                       password written to DIR/password
#   smbd-fleet.sh stop DIR              stop them
#
# ADDR must be a loopback address (127.x.y.z); aliases other than 127.0.0.1 are added
# to `lo` as needed and left there (they are harmless and shared by parallel tests).
# Set SMBD_ENCRYPT=off or SMBD_SIGNING=auto before `start` for a laxer server, and
# SMBD_ADMIN_SHARE=off for a host whose administrative shares are turned off, and
# SMBD_SHARE_ENCRYPT=required (with SMBD_ENCRYPT=if_required) for encryption
# demanded by ADMIN$ alone. SMBD_ENCRYPTION_ALGORITHMS (e.g. AES-256-GCM) limits the
# ciphers SMB 3.1.1 may negotiate, SMBD_MAX_PROTOCOL (e.g. SMB3_02) caps the dialect
# (the minimum is then 3.0; `SMB3` alone means 3.1.1 to Samba).
# The shares keep NT security descriptors in xattrs (acl_xattr), so a descriptor a
# client sends when it creates a directory is stored as sent and read back by
# smbcacls, as on NTFS.
set -euo pipefail

die() { echo "smbd-fleet: $*" >&2; exit 1; }

setup() {
    [ "$(id -u)" = 0 ] || die "setup must run as root"
    if ! [ -x /usr/sbin/smbd ] || ! command -v smbpasswd >/dev/null || ! command -v smbclient >/dev/null; then
        echo "smbd-fleet: installing samba and smbclient" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q samba smbclient >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q samba smbclient >/dev/null; }
    fi
}

start() {
    local dir=$1; shift
    [ $# -gt 0 ] || die "start needs at least one ADDR:PORT"
    [ -x /usr/sbin/smbd ] || die "run '$0 setup' first (as root)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -s "$dir/password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password")
    local n=0 endpoint addr port host ciphers min_protocol
    for endpoint in "$@"; do
        n=$((n + 1))
        addr=${endpoint%:*}
        port=${endpoint##*:}
        host=$dir/smb$n
        mkdir -p "$host"/{private,lock,state,cache,pid,ncalrpc,windows/Temp,c}
        [ "${SMBD_ADMIN_SHARE:-on}" = off ] && SMBD_ADMIN_SHARE_NAME=NOT-ADMIN
        ciphers=
        [ -n "${SMBD_ENCRYPTION_ALGORITHMS:-}" ] \
            && ciphers="    server smb3 encryption algorithms = $SMBD_ENCRYPTION_ALGORITHMS"$'\n'
        min_protocol=SMB3
        [ -n "${SMBD_MAX_PROTOCOL:-}" ] && min_protocol=SMB3_00
        ip -o addr show dev lo | grep -q " $addr/" || ip addr add "$addr/8" dev lo 2>/dev/null || true
        cat > "$host/smb.conf" <<CONF
[global]
    netbios name = WIN$n
    workgroup = PUSHINST
    server role = standalone server
    interfaces = $addr
    bind interfaces only = yes
    smb ports = $port
    private dir = $host/private
    lock directory = $host/lock
    state directory = $host/state
    cache directory = $host/cache
    pid directory = $host/pid
    ncalrpc dir = $host/ncalrpc
    passdb backend = tdbsam:$host/private/passdb.tdb
    username map = $host/users.map
    log file = $host/log.%m
    log level = 1
    server min protocol = $min_protocol
    server max protocol = ${SMBD_MAX_PROTOCOL:-SMB3}
    server signing = ${SMBD_SIGNING:-mandatory}
    server smb encrypt = ${SMBD_ENCRYPT:-required}
${ciphers}    vfs objects = acl_xattr
    map acl inherit = yes
    store dos attributes = yes
    acl_xattr:ignore system acls = yes
    ntlm auth = ntlmv2-only
    disable netbios = yes
    load printers = no
    printcap name = /dev/null
[${SMBD_ADMIN_SHARE_NAME:-ADMIN\$}]
    path = $host/windows
    read only = no
    valid users = root
    smb encrypt = ${SMBD_SHARE_ENCRYPT:-default}
[C\$]
    path = $host/c
    read only = no
    valid users = root
CONF
        echo "root = Administrator" > "$host/users.map"
        printf '%s\n%s\n' "$(cat "$dir/password")" "$(cat "$dir/password")" \
            | smbpasswd -c "$host/smb.conf" -s -a root >/dev/null
        # A session of its own: smbd signals its whole process group when it stops,
        # and that must not be the caller's.
        setsid /usr/sbin/smbd --foreground --no-process-group -s "$host/smb.conf" </dev/null >"$host/smbd.out" 2>&1 &
        wait_listening "$host" "$addr" "$port"
    done
}

wait_listening() {
    local host=$1 addr=$2 port=$3 i
    for i in $(seq 1 250); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
            return 0
        fi
        if grep -q "ERROR\|Failed" "$host/smbd.out" 2>/dev/null; then
            die "smbd for $addr:$port did not start: $(tail -5 "$host/smbd.out")"
        fi
        sleep 0.02
    done
    die "smbd for $addr:$port did not listen within 5s"
}

stop() {
    local dir=$1 pidfile conf
    for pidfile in "$dir"/smb*/pid/smbd.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # smbd starts samba-dcerpcd and its rpcd_* workers on demand; they do not end with
    # smbd, so each server's are found by its own smb.conf and stopped too.
    for conf in "$dir"/smb*/smb.conf; do
        [ -f "$conf" ] || continue
        pkill -f -- "--configfile=$conf" 2>/dev/null || true
    done
}

case "${1:-}" in
    setup) setup ;;
    start) shift; [ $# -ge 2 ] || die "usage: $0 start DIR ADDR:PORT…"; start "$@" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 setup | start DIR ADDR:PORT… | stop DIR" ;;
esac
