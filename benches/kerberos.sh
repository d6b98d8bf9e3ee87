#!/usr/bin/env bash
# Benchmark, Windows side: what Kerberos costs against NTLM (issue 18), with a release
# build of pushinst. Run as root.
#
# The same 5 MiB installer (sleep 0.5 s) to the same HOSTS (10) Windows host
# EMULATORS at CONCURRENCY (5), once with an NTLM credential (the local
# `.\Administrator`) and once with a Kerberos one (a domain admin written
# `user@REALM`, a password, the KDC set on the credential), interleaved round by
# round, ROUNDS (3) rounds after one untimed warm-up of each. Prints for each the wall
# time, median and best of the rounds; the time Kerberos adds per host,
# (Kerberos median - NTLM median) x CONCURRENCY / HOSTS; and the requests the
# Kerberos runs sent to the KDC (AS-REQ and TGS-REQ, a run's median), counted by a
# small TCP relay in front of it (pushinst speaks to the KDC over TCP only; the relay
# is on loopback and adds well under a millisecond a request).
#
# The KDC is a real Samba AD DC (examples/fleet/samba-ad-dc.sh) in a network namespace
# of its own, reached over a veth pair at 10.83.0.1 (a /16 the tests never use). One
# computer account holds the SPNs cifs/ and host/ of every emulated host
# (winN.example.test); its keys, exported from the DC, let every emulator take the
# tickets for SMB and for the SCMR binds, and the same emulators also take NTLM, so
# both credentials reach exactly the same hosts. The hosts are named winN.example.test
# in the inventory, at their loopback address (no DNS).
#
# A script of its own rather than a part 4 of windows.sh: it needs a domain
# controller (samba-ad-dc setup, a network namespace) and emulators that hold keys,
# which windows.sh's parts do not, and windows.sh should not start a DC for them.
# The emulators are Python (impacket): their side of Kerberos (AES decryption of the
# ticket and authenticator in Python) is in the figure, as is the DC's; both share the
# machine's cores with pushinst.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
HOSTS=${HOSTS:-10}
CONCURRENCY=${CONCURRENCY:-5}
[ "$(id -u)" = 0 ] || { echo "kerberos.sh: run as root (it starts a domain controller in a network namespace)" >&2; exit 2; }

examples/fleet/samba-ad-dc.sh setup
examples/fleet/windows-emulator.sh setup
cargo build --release --quiet
state=$(mktemp -d /tmp/pushinst-krbbench.XXXXXX)
export PUSHINST_STATE=$state/history.db
relay_pid=
cleanup() {
    [ -z "$relay_pid" ] || kill "$relay_pid" 2>/dev/null || true
    examples/fleet/windows-emulator.sh stop "$state/win"
    examples/fleet/samba-ad-dc.sh stop "$state/dc"
    rm -rf "$state"
}
trap cleanup EXIT

KDC_NETNS=pikbench KDC_DC_ADDR=10.83.0.1 KDC_HOST_ADDR=10.83.0.2 \
    examples/fleet/samba-ad-dc.sh start "$state/dc"
dc_env() { sed -n "s/^$1=//p" "$state/dc/dc.env"; }
realm=$(dc_env REALM) user=$(dc_env USER) dc_addr=$(dc_env DC_ADDR)
domain=${realm,,}
(umask 077; dc_env PASSWORD >"$state/domain-password")

# One computer account for the whole fleet: SPNs cifs/ and host/ of win2…winN added
# to win1's (samba-ad-dc.sh gives it win1's), one keytab.
spns=()
names=()
for i in $(seq 1 "$HOSTS"); do
    names+=("win$i.$domain")
    [ "$i" = 1 ] || spns+=("cifs/win$i.$domain" "host/win$i.$domain")
done
keytab=$(examples/fleet/samba-ad-dc.sh host "$state/dc" win1 "${spns[@]}")

endpoints=()
for i in $(seq 1 "$HOSTS"); do endpoints+=("127.0.94.$i:4455"); done
EMULATOR_KEYTAB=$keytab EMULATOR_REALM=$realm EMULATOR_SPN_HOST=$(IFS=,; echo "${names[*]}") \
    examples/fleet/windows-emulator.sh start "$state/win" "${endpoints[@]}"

# The counting relay in front of the KDC: one line per request (AS or TGS) in
# $state/kdc-requests. KDC over TCP: a 4-byte length, then the message, whose first
# byte is its ASN.1 application tag (0x6a AS-REQ, 0x6c TGS-REQ).
python3 - "$dc_addr" "$state/kdc-requests" "$state/relay-port" <<'PY' &
import socket, sys, threading
dc, log, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def client(c):
    k = socket.create_connection((dc, 88))
    threading.Thread(target=pipe, args=(k, c), daemon=True).start()
    buf = b""
    try:
        while data := c.recv(65536):
            k.sendall(data)
            buf += data
            while len(buf) >= 5 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                kind = {0x6A: "AS-REQ", 0x6C: "TGS-REQ"}.get(buf[4], "other")
                with lock, open(log, "a") as f:
                    f.write(kind + "\n")
                buf = buf[4 + int.from_bytes(buf[:4], "big"):]
    except OSError:
        pass
    finally:
        try:
            k.shutdown(socket.SHUT_WR)
        except OSError:
            pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = s.accept()
    threading.Thread(target=client, args=(c,), daemon=True).start()
PY
relay_pid=$!
for _ in $(seq 1 100); do [ -s "$state/relay-port" ] && break; sleep 0.05; done
[ -s "$state/relay-port" ] || { echo "kerberos.sh: the KDC relay did not start" >&2; exit 1; }
touch "$state/kdc-requests"

python3 - "$state" <<'PY'
import sys
state = sys.argv[1]
head = b"#!/bin/sh\nsleep 0.5\nexit 0\n"
with open(f"{state}/AcmeSetup.exe", "wb") as f:
    f.write(head + b"#" * (5 * 1024 * 1024 - len(head) - 1) + b"\n")
PY

# Two inventories, the same hosts by the same names, one credential each.
inventory() {
    local file=$1 credential=$2 i
    {
        printf '%s\n' "$credential"
        printf '[packages.bench]\nwindows = { file = "AcmeSetup.exe" }\n'
        for i in $(seq 1 "$HOSTS"); do
            printf '[[hosts]]\nname = "win%s.%s"\naddress = "127.0.94.%s"\nport = 4455\nos = "windows"\ncredentials = ["c"]\n' \
                "$i" "$domain" "$i"
        done
    } >"$state/$file"
}
inventory ntlm.toml "[credentials.c]
user = '.\\Administrator'
password = { file = \"win/password\" }"
inventory kerberos.toml "[credentials.c]
user = '$user@$realm'
password = { file = \"domain-password\" }
kdc = \"127.0.0.1:$(cat "$state/relay-port")\""

# One deploy: its wall time in seconds on stdout; a failed deploy stops the benchmark
# (its figures would time something else).
deploy() {
    local kind=$1 tag=$2
    python3 - "$kind" target/release/pushinst -i "$state/$kind.toml" deploy bench --to "${names[@]}" \
        -j "$CONCURRENCY" -q --log-dir "$state/logs-$kind-$tag" <<'PY'
import subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
took = time.monotonic() - start
if done.returncode != 0:
    sys.exit(f"kerberos.sh: the {sys.argv[1]} deploy failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
print(f"{took:.3f}")
PY
}
requests() { grep -c "^$1\$" "$state/kdc-requests" || true; }
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %6.2f s   best %6.2f s", a[int((NR+1)/2)], a[1]}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

deploy ntlm warmup >/dev/null
deploy kerberos warmup >/dev/null
# Each way logged on as it says, and only so: the emulators' logs.
krb_ok=$(cat "$state"/win/win*/calls.log 2>/dev/null | grep -c 'KRB-OK smb' || true)
[ "$krb_ok" -ge "$HOSTS" ] || { echo "kerberos.sh: the Kerberos warm-up logged on with Kerberos to $krb_ok hosts only" >&2; exit 1; }

: >"$state/ntlm.walls"
: >"$state/kerberos.walls"
: >"$state/as.counts"
: >"$state/tgs.counts"
for r in $(seq 1 "$ROUNDS"); do
    deploy ntlm "$r" >>"$state/ntlm.walls"
    as=$(requests AS-REQ) tgs=$(requests TGS-REQ)
    deploy kerberos "$r" >>"$state/kerberos.walls"
    echo $(($(requests AS-REQ) - as)) >>"$state/as.counts"
    echo $(($(requests TGS-REQ) - tgs)) >>"$state/tgs.counts"
done

echo "a 5 MiB installer (sleep 0.5 s) to $HOSTS emulated Windows hosts, $CONCURRENCY at a time, $ROUNDS rounds, interleaved"
printf 'NTLM        %s\n' "$(stats <"$state/ntlm.walls")"
printf 'Kerberos    %s\n' "$(stats <"$state/kerberos.walls")"
ntlm=$(median <"$state/ntlm.walls") krb=$(median <"$state/kerberos.walls")
awk -v n="$ntlm" -v k="$krb" -v c="$CONCURRENCY" -v h="$HOSTS" \
    'BEGIN {printf "Kerberos adds %+.0f ms a host ((%.3f - %.3f) s x %d / %d)\n", (k - n) * 1000 * c / h, k, n, c, h}'
# Where it goes, from the host logs of the timed rounds: the median per host of the
# steps that log on (authenticate: the SMB session) and that bind RPC (execute: the
# service manager's binds, plus the installer's 0.5 s).
step() {
    local kind=$1 name=$2
    awk -v s="$name" '$1 == s {sub(/s$/, "", $2); print $2 * 1000}' "$state"/logs-"$kind"-[0-9]*/*.log | median
}
for s in authenticate execute; do
    printf '%-13s step a host (median): NTLM %5.0f ms   Kerberos %5.0f ms\n' "$s" "$(step ntlm "$s")" "$(step kerberos "$s")"
done
printf 'KDC requests a Kerberos run (median): %s AS-REQ, %s TGS-REQ\n' \
    "$(median <"$state/as.counts")" "$(median <"$state/tgs.counts")"
