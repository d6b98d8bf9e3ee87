#!/usr/bin/env bash
# Benchmark, Windows side, with a release build of pushinst. Run as root.
#
# 1. Deploy a 5 MiB installer to 10 Windows host EMULATORS at concurrency 5
#    (wall time, median and best of ROUNDS).
# 2. Upload throughput to a real Samba smbd over loopback (SMB 3.1.1, signed and
#    AES-128-GCM encrypted): pushinst's upload step for a 64 MiB file, against
#    `smbclient put` of the same file with the same protection, in the same run.
# 3. What encryption costs: the same upload to Samba servers that let the client
#    choose, signed only (`smb_encryption = "off"`, the baseline) against each cipher
#    pushinst offers (one Samba limited to that cipher each), in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "windows.sh: run as root (it adds loopback addresses)" >&2; exit 2; }

examples/fleet/smbd-fleet.sh setup
examples/fleet/windows-emulator.sh setup
cargo build --release --quiet
state=$(mktemp -d /tmp/pushinst-winbench.XXXXXX)
export PUSHINST_STATE=$state/history.db
trap 'examples/fleet/windows-emulator.sh stop "$state/win"; for d in "$state"/smb*; do examples/fleet/smbd-fleet.sh stop "$d"; done; rm -rf "$state"' EXIT

endpoints=()
for i in $(seq 1 10); do endpoints+=("127.0.91.$i:4455"); done
examples/fleet/windows-emulator.sh start "$state/win" "${endpoints[@]}"
examples/fleet/smbd-fleet.sh start "$state/smb" 127.0.92.1:4455
# Servers that encrypt only when asked, one per cipher, for part 3.
ciphers=(AES-128-GCM AES-256-GCM AES-128-CCM AES-256-CCM)
for i in "${!ciphers[@]}"; do
    SMBD_ENCRYPT=if_required SMBD_ENCRYPTION_ALGORITHMS=${ciphers[$i]} \
        examples/fleet/smbd-fleet.sh start "$state/smb-c$i" "127.0.93.$((i + 1)):4455"
done

python3 - "$state" <<'PY'
import sys
state = sys.argv[1]
head = b"#!/bin/sh\nsleep 0.5\nexit 0\n"
with open(f"{state}/AcmeSetup.exe", "wb") as f:
    f.write(head + b"#" * (5 * 1024 * 1024 - len(head) - 1) + b"\n")
with open(f"{state}/big.bin", "wb") as f:
    f.write(bytes(range(256)) * (64 * 1024 * 4))
PY

cat > "$state/pushinst.toml" <<TOML
[settings]
smb_encryption = "required"
[credentials.emulated]
user = '.\\Administrator'
password = { file = "win/password" }
[credentials.samba]
user = '.\\Administrator'
password = { file = "smb/password" }
[packages.bench]
windows = { file = "AcmeSetup.exe" }
[packages.big]
windows = { file = "big.bin" }
[groups.emulated]
hosts = ["127.0.91.[1-10]:4455"]
os = "windows"
credentials = ["emulated"]
[groups.samba]
hosts = ["127.0.92.1:4455"]
os = "windows"
credentials = ["samba"]
TOML
for i in "${!ciphers[@]}"; do
    cat >> "$state/pushinst.toml" <<TOML
[credentials.c$i]
user = '.\\Administrator'
password = { file = "smb-c$i/password" }
[groups.c$i]
hosts = ["127.0.93.$((i + 1)):4455"]
os = "windows"
credentials = ["c$i"]
[groups.c$i-signed]
hosts = ["127.0.93.$((i + 1)):4455"]
os = "windows"
credentials = ["c$i"]
smb_encryption = "off"
TOML
done
sed -i 's/^smb_encryption = "required"$//' "$state/pushinst.toml"  # the emulator (impacket) cannot encrypt

wall() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{time.monotonic() - start:.3f}")
PY
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %6.2f s   best %6.2f s", a[int((NR+1)/2)], a[1]}'; }

echo "1. a 5 MiB installer (sleep 0.5 s) to 10 emulated Windows hosts, 5 at a time, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
    wall target/release/pushinst -i "$state/pushinst.toml" deploy bench --to emulated -j 5 -q --log-dir "$state/logs-$r"
done | stats; echo

echo "2. upload of 64 MiB to Samba over loopback (SMB 3.1.1, signed, encrypted), $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
    target/release/pushinst -i "$state/pushinst.toml" deploy big --to samba -q --log-dir "$state/up-$r" >/dev/null || true
    awk '$1 == "upload" {print $2}' "$state/up-$r"/*.log | tr -d s
done | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "pushinst          median %6.1f MiB/s (upload step %.3f s)\n", 64/m, m}'
# smbclient's own figure for the transfer alone ("putting file … (average N kb/s)").
for r in $(seq 1 "$ROUNDS"); do
    smbclient -p 4455 -m SMB3 --client-protection=encrypt -U "Administrator%$(cat "$state/smb/password")" \
        '//127.0.92.1/ADMIN$' -c "put $state/big.bin Temp\\big-$r.bin" 2>&1 \
        | sed -n 's/.*(average \([0-9.]*\) kb\/s).*/\1/p'
done | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "smbclient put     median %6.1f MiB/s (its own transfer rate)\n", m/1024}'

# The upload step's time from the host log, as MiB/s, median of the rounds.
upload_rate() {
    local group=$1 r
    for r in $(seq 1 "$ROUNDS"); do
        target/release/pushinst -i "$state/pushinst.toml" deploy big --to "$group" -q --log-dir "$state/$group-$r" >/dev/null || true
        awk '$1 == "upload" {print $2}' "$state/$group-$r"/*.log | tr -d s
    done | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%6.1f MiB/s", 64/m}'
}

echo
echo "3. what encryption costs: 64 MiB to Samba, signed only against each cipher, $ROUNDS rounds"
for i in "${!ciphers[@]}"; do
    printf '%-12s signed only %s   encrypted %s\n' "${ciphers[$i]}" "$(upload_rate "c$i-signed")" "$(upload_rate "c$i")"
done
