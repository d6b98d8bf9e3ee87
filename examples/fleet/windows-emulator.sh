#!/usr/bin/env bash
# Windows host EMULATORS (not Windows) for the tests, the demo and the benchmark:
# tests/windows-emulator/emulator.py on impacket's SMB server, one per endpoint.
#
#   windows-emulator.sh setup                 once: a Python venv with impacket 0.13.1
#                                             in tests/windows-emulator/.venv
#   windows-emulator.sh start DIR ADDR:PORT…  one emulator per endpoint, host n's
#                                             file system under DIR/winN; the account
#                                             Administrator gets the password in DIR/password
#   windows-emulator.sh stop DIR              stop them
#
# EMULATOR_MODE=deny-scm|service-exists|silent before `start` makes every host of
# that fleet misbehave that way; EMULATOR_MODE=hostile-… makes it a hostile server
# (signed answers with lying lengths and counts; see emulator.py).
# Windows' logon and RPC checks (see tests/windows-emulator/rpcauth.py), read from
# the environment of `start`: EMULATOR_TARGET_NAME_HARDENING=1 demands NTLM target
# name cifs/ADDR and a MIC; EMULATOR_LOGON_STATUS="user=0xC0000418,…" refuses those
# accounts' logons with that NTSTATUS; EMULATOR_ACCOUNTS="svc@corp.example,…" adds
# accounts with the same password; EMULATOR_RPC_BAD_SIGNATURE=1 corrupts every
# sealed RPC answer's signature, as tampering on the path would.
# Kerberos (see tests/windows-emulator/krbauth.py): EMULATOR_KEYTAB=FILE (the host's
# keys, e.g. from `samba-ad-dc.sh host DIR win1`) with EMULATOR_REALM=EXAMPLE.TEST and
# EMULATOR_SPN_HOST=win1.example.test (or several names, comma-separated) makes every
# host of that fleet accept Kerberos AP-REQs for cifs/ and host/<that name> in SMB2
# SESSION_SETUP and in RPC binds
# (auth types 9 and 16, DCE style, wrap/MIC tokens); EMULATOR_NTLM=disabled answers
# every NTLM logon STATUS_NTLM_BLOCKED (and fails NTLM RPC binds), as a domain with
# `ntlm auth = disabled` does. calls.log says KRB-OK / KRB-REFUSED <error>.
# EMULATOR_MODE=blocked models antivirus/EDR blocking the service: StartServiceW
# answers 1053 and SchRpcRun succeeds, but nothing ever runs.
# EMULATOR_VIRUS=TEXT: antivirus takes every file whose name holds TEXT as it is
# written (the WRITE fails with STATUS_VIRUS_INFECTED, the file is gone).
# EMULATOR_SHUTDOWN_EXIT=N makes `shutdown` exit with N (e.g. 1190, a shutdown is
# already scheduled) instead of 0 and schedule nothing.
# EMULATOR_START_DELAY=SECONDS makes StartServiceW hang that long, then answer
# without running anything (so a test can kill pushinst mid-run).
# EMULATOR_ARCH (AMD64), EMULATOR_BUILD (20348), EMULATOR_UBR (2700) and
# EMULATOR_FREE_MIB (the real free space): the facts pushinst's requirement check
# learns as SYSTEM; a host's ROOT/facts.json, read at every run, overrides them.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
venv=$here/tests/windows-emulator/.venv
IMPACKET=impacket==0.13.1

die() { echo "windows-emulator: $*" >&2; exit 1; }

setup() {
    if ! "$venv/bin/python" -c 'import impacket' 2>/dev/null; then
        echo "windows-emulator: creating $venv with $IMPACKET" >&2
        python3 -m venv "$venv" || die "python3 -m venv failed (apt install python3-venv)"
        "$venv/bin/pip" install -q --disable-pip-version-check "$IMPACKET"
    fi
}

start() {
    local dir=$1; shift
    [ -x "$venv/bin/python" ] || die "run '$0 setup' first"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -s "$dir/password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password")
    local n=0 endpoint addr host i
    for endpoint in "$@"; do
        n=$((n + 1))
        addr=${endpoint%:*}
        host=$dir/win$n
        mkdir -p "$host"
        rm -f "$host/ready"
        ip -o addr show dev lo | grep -q " $addr/" || ip addr add "$addr/8" dev lo 2>/dev/null || true
        setsid "$venv/bin/python" "$here/tests/windows-emulator/emulator.py" "$endpoint" "$host" \
            "$(cat "$dir/password")" --mode "${EMULATOR_MODE:-normal}" </dev/null >"$host/emulator.log" 2>&1 &
        echo $! > "$host/pid"
    done
    for host in "$dir"/win*; do
        for i in $(seq 1 300); do
            [ -f "$host/ready" ] && break
            kill -0 "$(cat "$host/pid")" 2>/dev/null || die "emulator $host stopped: $(tail -5 "$host/emulator.log")"
            sleep 0.02
        done
        [ -f "$host/ready" ] || die "emulator $host did not start within 6s"
    done
    # `ready` is written just before the server listens.
    for endpoint in "$@"; do
        for i in $(seq 1 250); do
            (exec 3<>"/dev/tcp/${endpoint%:*}/${endpoint##*:}") 2>/dev/null && break
            sleep 0.02
        done
    done
}

stop() {
    local dir=$1 pidfile
    for pidfile in "$dir"/win*/pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    setup) setup ;;
    start) shift; [ $# -ge 2 ] || die "usage: $0 start DIR ADDR:PORT…"; start "$@" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR" ; stop "$2" ;;
    *) die "usage: $0 setup | start DIR ADDR:PORT… | stop DIR" ;;
esac
