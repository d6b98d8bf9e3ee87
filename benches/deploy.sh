#!/usr/bin/env bash
# Benchmark: deploy a 5 MiB installer that sleeps 0.5 s to 50 local sshd hosts at
# concurrency 20, with a release build of pushinst, and in the same run the same job
# done the way admins script it today: `xargs -P 20` of OpenSSH `scp` + `ssh` per host.
# Prints wall time (median and best of ROUNDS), peak memory and the CPU the target
# hosts spent per host. Run as root.
#
#   benches/deploy.sh                  HOSTS=50 CONCURRENCY=20 ROUNDS=3 by default
#   BEFORE_BIN=/path/to/pushinst benches/deploy.sh   also times another build (an
#                                      earlier commit's), interleaved with this one
#   RTT_MS=20 benches/deploy.sh        round trips per host: every contender reaches
#                                      the hosts through a relay (examples/relay.rs)
#                                      once with no delay and once with RTT_MS, all
#                                      hosts at once (HOSTS=CONCURRENCY=10 by default);
#                                      (wall at RTT_MS - wall at 0) / RTT_MS is what
#                                      each host's conversation costs in round trips.
#                                      Adds OpenSSH `ssh host 'cat > f; sh f' < file`,
#                                      one connection streaming the file, as the
#                                      tuned baseline.
#   HOSTS=1000 CONCURRENCY=100 ROUNDS=1 benches/deploy.sh   memory at scale
#   SCP=0 benches/deploy.sh            leaves out the scp+ssh baseline (default mode)
#   INSTALLER_KIB=64 benches/deploy.sh another installer size (5120 by default): the
#                                      memory that does not come with the upload
#   WRAP='heaptrack -o /tmp/ht' benches/deploy.sh   runs this build's pushinst under a
#                                      profiler (its figures then include the profiler's)
#   PUSHINST_SETTINGS='ciphers = "chacha20-poly1305@openssh.com"'   [settings] lines
#                                      for pushinst (compare ciphers by CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
RTT_MS=${RTT_MS:-}
if [ -n "$RTT_MS" ]; then
    HOSTS=${HOSTS:-10}
    CONCURRENCY=${CONCURRENCY:-$HOSTS}
else
    HOSTS=${HOSTS:-50}
    CONCURRENCY=${CONCURRENCY:-20}
fi
ROUNDS=${ROUNDS:-3}
INSTALLER_KIB=${INSTALLER_KIB:-5120}
[ "$(id -u)" = 0 ] || { echo "deploy.sh: run as root (it starts sshd)" >&2; exit 2; }

examples/fleet/sshd-fleet.sh setup
cargo build --release --quiet --bin pushinst --example relay
state=$(mktemp -d /tmp/pushinst-bench.XXXXXX)
# Its history (one attempt per host per round) stays with the bench, not in yours.
export PUSHINST_STATE=$state/history.db
trap 'examples/fleet/sshd-fleet.sh stop "$state"; rm -rf "$state"' EXIT
endpoints=()
# Host i at 127.NET.X.Y (X.Y from i, 250 a block), NET 90 for the sshd itself and
# 91/92 for the relays in front of it: room for thousands of hosts.
addr() { echo "127.$1.$((($2 - 1) / 250)).$((($2 - 1) % 250 + 1))"; }
for i in $(seq 1 "$HOSTS"); do endpoints+=("$(addr 90 "$i"):2222"); done
examples/fleet/sshd-fleet.sh start "$state" "${endpoints[@]}"

# The installer: sleep 0.5 s, then 5 MiB of padding the shell never reads.
python3 - "$state/bench-install.sh" "$INSTALLER_KIB" <<'PY'
import sys
head = b"#!/bin/sh\nsleep 0.5\nexit 0\n"
pad = int(sys.argv[2]) * 1024 - len(head)
with open(sys.argv[1], "wb") as f:
    f.write(head + b"#" * (pad - 1) + b"\n")
PY
chmod 0755 "$state/bench-install.sh"

# Through the relays: the same host names (and known_hosts entries), other addresses.
relay_pids=()
if [ -n "$RTT_MS" ]; then
    zero=() slow=()
    for i in $(seq 1 "$HOSTS"); do
        zero+=("$(addr 92 "$i"):2222=$(addr 90 "$i"):2222")
        slow+=("$(addr 91 "$i"):2222=$(addr 90 "$i"):2222")
    done
    target/release/examples/relay 0 "${zero[@]}" > "$state/relay0.out" &
    relay_pids+=($!)
    # Half the round trip each way.
    target/release/examples/relay "$((RTT_MS / 2))" "${slow[@]}" > "$state/relay.out" &
    relay_pids+=($!)
    trap 'kill "${relay_pids[@]}" 2>/dev/null; examples/fleet/sshd-fleet.sh stop "$state"; rm -rf "$state"' EXIT
    for _ in $(seq 100); do
        grep -q ready "$state/relay0.out" "$state/relay.out" 2>/dev/null && [ "$(cat "$state/relay0.out" "$state/relay.out" | grep -c ready)" = 2 ] && break
        sleep 0.1
    done
fi

cat > "$state/pushinst.toml" <<TOML
[settings]
known_hosts = "known_hosts"
${PUSHINST_SETTINGS:-}
[credentials.fleet]
user = "pushinst-fleet"
key = "id_ed25519"
[packages.bench]
linux = { file = "bench-install.sh" }
[groups.bench]
hosts = [$(for e in "${endpoints[@]}"; do printf '"%s", ' "$e"; done)]
os = "linux"
credentials = ["fleet"]
TOML

# One inventory per way in: direct, through the relay without delay, through the
# relay with RTT_MS. `[[hosts]]` entries keep each host's name and change its address.
for via in direct zero slow; do
    cp "$state/pushinst.toml" "$state/pushinst-$via.toml"
    case $via in zero) net=92 ;; slow) net=91 ;; *) continue ;; esac
    for i in $(seq 1 "$HOSTS"); do
        printf '[[hosts]]\nname = "%s:2222"\naddress = "%s"\n' "$(addr 90 "$i")" "$(addr "$net" "$i")" >> "$state/pushinst-$via.toml"
    done
done

# One host the usual scripted way: copy, run, remove; two OpenSSH connections.
# $1 is the host's name (known_hosts), $2 the address to connect to.
cat > "$state/scp-ssh.sh" <<'SH'
#!/bin/sh
set -e
name=$1; addr=${2%:*}; port=${2##*:}; dir=$(dirname "$0")
opts="-q -o BatchMode=yes -o UserKnownHostsFile=$dir/known_hosts -o HostKeyAlias=[${name%:*}]:${name##*:} -i $dir/id_ed25519"
scp $opts -P "$port" "$dir/bench-install.sh" "pushinst-fleet@$addr:.bench-$addr.sh"
ssh $opts -p "$port" "pushinst-fleet@$addr" "sh ./.bench-$addr.sh; rc=\$?; rm -f ./.bench-$addr.sh; exit \$rc"
SH
# The tuned way: one connection streams the file to a shell that stores and runs it.
cat > "$state/ssh-stream.sh" <<'SH'
#!/bin/sh
set -e
name=$1; addr=${2%:*}; port=${2##*:}; dir=$(dirname "$0")
opts="-q -o BatchMode=yes -o UserKnownHostsFile=$dir/known_hosts -o HostKeyAlias=[${name%:*}]:${name##*:} -i $dir/id_ed25519"
ssh $opts -p "$port" "pushinst-fleet@$addr" "cat > ./.bench-$addr.sh && sh ./.bench-$addr.sh; rc=\$?; rm -f ./.bench-$addr.sh; exit \$rc" < "$dir/bench-install.sh"
SH
chmod 0755 "$state/scp-ssh.sh" "$state/ssh-stream.sh"

# Wall seconds, the peak resident set of the largest process in the command, the CPU
# the command and its children spent on this machine (the controller), and the CPU the
# hosts spent: every sshd reaps its connection's processes (the session, the shells,
# sudo, the wrapper, the checksum tool, the installer), so the growth of its own and
# its reaped children's CPU time over the command is what the target paid.
measure() {
    python3 - "$state" "$@" <<'PY'
import glob, os, resource, subprocess, sys, time
state, cmd = sys.argv[1], sys.argv[2:]
tick = os.sysconf("SC_CLK_TCK")
def host_cpu():
    total = 0
    for pidfile in glob.glob(f"{state}/host*/sshd.pid"):
        try:
            with open(f"/proc/{open(pidfile).read().strip()}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
        total += sum(int(x) for x in fields[11:15])
    return total / tick
before = host_cpu()
start = time.monotonic()
done = subprocess.run(cmd, stdout=subprocess.DEVNULL)
wall = time.monotonic() - start
# Let every sshd reap its last connection.
time.sleep(1.0)
spent = host_cpu() - before
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if done.returncode != 0:
    sys.exit(f"{cmd[0]} exited with {done.returncode}")
print(f"{wall:.3f} {usage.ru_maxrss} {spent:.3f} {usage.ru_utime + usage.ru_stime:.3f}")
PY
}

# $1: direct | zero | slow; $2: another build to run instead of this one.
run_pushinst() {
    # Another build keeps a history of its own: its schema may be older.
    local bin=("${2:-}")
    # shellcheck disable=SC2206 # WRAP is words: a profiler and its options.
    [ -n "${2:-}" ] || bin=(${WRAP:-} target/release/pushinst)
    PUSHINST_STATE=$state/history-$1${2:+-other}.db measure "${bin[@]}" -i "$state/pushinst-$1.toml" \
        deploy bench --to bench --concurrency "$CONCURRENCY" -q --log-dir "$state/logs"
}
# $1: direct | zero | slow; $2: scp-ssh | ssh-stream.
run_baseline() {
    local net
    case $1 in direct) net=90 ;; zero) net=92 ;; slow) net=91 ;; esac
    for i in $(seq 1 "$HOSTS"); do printf '%s:2222 %s:2222\n' "$(addr 90 "$i")" "$(addr "$net" "$i")"; done > "$state/pairs"
    measure sh -c "xargs -P '$CONCURRENCY' -n 2 '$state/$2.sh' < '$state/pairs'"
}

summarize() {  # name, then "wall rss host-cpu controller-cpu" lines on stdin
    python3 -c '
import statistics, sys
name, hosts = sys.argv[1], int(sys.argv[2])
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
walls = [r[0] for r in rows]
rss = max(r[1] for r in rows)
cpu = statistics.median(r[2] for r in rows) * 1000 / hosts
ours = statistics.median(r[3] for r in rows) * 1000 / hosts
print(f"{name:<34} median {statistics.median(walls):6.2f} s   best {min(walls):6.2f} s   peak RSS {rss/1024:6.1f} MiB   controller CPU {ours:5.1f} ms/host   target CPU {cpu:5.1f} ms/host")
' "$1" "$HOSTS"
}

if [ -z "$RTT_MS" ]; then
    echo "deploying a $INSTALLER_KIB KiB installer (sleep 0.5 s) to $HOSTS sshd hosts, $CONCURRENCY at a time, $ROUNDS rounds"
    # Rounds interleaved, so a change in the machine's load touches every contender alike.
    ours="" theirs="" before=""
    for _ in $(seq "$ROUNDS"); do
        ours+=$(run_pushinst direct)$'\n'
        if [ "${SCP:-1}" != 0 ]; then theirs+=$(run_baseline direct scp-ssh)$'\n'; fi
        if [ -n "${BEFORE_BIN:-}" ]; then before+=$(run_pushinst direct "$BEFORE_BIN")$'\n'; fi
    done
    echo
    summarize "pushinst (one process)" <<< "$ours"
    if [ -n "${BEFORE_BIN:-}" ]; then summarize "pushinst \$BEFORE_BIN" <<< "$before"; fi
    if [ -n "$theirs" ]; then summarize "xargs -P scp+ssh (largest process)" <<< "$theirs"; fi
    python3 -c "import math; print(f'{\"lower bound (sleep only)\":<34} {math.ceil($HOSTS/$CONCURRENCY)*0.5:.2f} s')"
    exit 0
fi

echo "round trips: a 5 MiB installer (sleep 0.5 s) to $HOSTS hosts at once through a relay, at RTT 0 and ${RTT_MS} ms, $ROUNDS rounds"
contenders=(pushinst)
[ -n "${BEFORE_BIN:-}" ] && contenders+=(before)
contenders+=(ssh-stream scp-ssh)
declare -A zero_walls slow_walls
for _ in $(seq "$ROUNDS"); do
    for c in "${contenders[@]}"; do
        for via in zero slow; do
            case $c in
                pushinst) row=$(run_pushinst "$via") ;;
                before) row=$(run_pushinst "$via" "$BEFORE_BIN") ;;
                *) row=$(run_baseline "$via" "$c") ;;
            esac
            if [ $via = zero ]; then zero_walls[$c]+="$row"$'\n'; else slow_walls[$c]+="$row"$'\n'; fi
        done
    done
done
echo
for c in "${contenders[@]}"; do
    python3 -c '
import statistics, sys
name, rtt, zero, slow = sys.argv[1], float(sys.argv[2]) / 1000, sys.argv[3], sys.argv[4]
med = lambda text: statistics.median(float(l.split()[0]) for l in text.splitlines() if l.strip())
z, s = med(zero), med(slow)
print(f"{name:<12} wall at RTT 0 {z:6.2f} s   at RTT {rtt*1000:.0f} ms {s:6.2f} s   round trips per host {(s - z) / rtt:5.1f}")
' "$c" "$RTT_MS" "${zero_walls[$c]}" "${slow_walls[$c]}"
done
