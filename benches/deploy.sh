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
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-50}
CONCURRENCY=${CONCURRENCY:-20}
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "deploy.sh: run as root (it starts sshd)" >&2; exit 2; }

examples/fleet/sshd-fleet.sh setup
cargo build --release --quiet
state=$(mktemp -d /tmp/pushinst-bench.XXXXXX)
# Its history (one attempt per host per round) stays with the bench, not in yours.
export PUSHINST_STATE=$state/history.db
trap 'examples/fleet/sshd-fleet.sh stop "$state"; rm -rf "$state"' EXIT
endpoints=()
for i in $(seq 1 "$HOSTS"); do endpoints+=("127.0.90.$i:2222"); done
examples/fleet/sshd-fleet.sh start "$state" "${endpoints[@]}"

# The installer: sleep 0.5 s, then 5 MiB of padding the shell never reads.
python3 - "$state/bench-install.sh" <<'PY'
import sys
head = b"#!/bin/sh\nsleep 0.5\nexit 0\n"
pad = 5 * 1024 * 1024 - len(head)
with open(sys.argv[1], "wb") as f:
    f.write(head + b"#" * (pad - 1) + b"\n")
PY
chmod 0755 "$state/bench-install.sh"

cat > "$state/pushinst.toml" <<TOML
[settings]
known_hosts = "known_hosts"
[credentials.fleet]
user = "pushinst-fleet"
key = "id_ed25519"
[packages.bench]
linux = { file = "bench-install.sh" }
[groups.bench]
hosts = ["127.0.90.[1-$HOSTS]:2222"]
os = "linux"
credentials = ["fleet"]
TOML

cat > "$state/scp-ssh.sh" <<'SH'
#!/bin/sh
# One host the usual scripted way: copy, run, remove; two OpenSSH connections.
set -e
addr=${1%:*}; port=${1##*:}; dir=$(dirname "$0")
opts="-q -o BatchMode=yes -o UserKnownHostsFile=$dir/known_hosts -i $dir/id_ed25519"
scp $opts -P "$port" "$dir/bench-install.sh" "pushinst-fleet@$addr:.bench-$addr.sh"
ssh $opts -p "$port" "pushinst-fleet@$addr" "sh ./.bench-$addr.sh; rc=\$?; rm -f ./.bench-$addr.sh; exit \$rc"
SH
chmod 0755 "$state/scp-ssh.sh"

# Wall seconds, the peak resident set of the largest process in the command, and the
# CPU the hosts spent: every sshd reaps its connection's processes (the session, the
# shells, sudo, the wrapper, the checksum tool, the installer), so the growth of its
# own and its reaped children's CPU time over the command is what the target paid.
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
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if done.returncode != 0:
    sys.exit(f"{cmd[0]} exited with {done.returncode}")
print(f"{wall:.3f} {rss} {spent:.3f}")
PY
}

run_pushinst() {
    # Another build keeps a history of its own: its schema may be older.
    PUSHINST_STATE=$state/history${1:+-other}.db measure "${1:-target/release/pushinst}" -i "$state/pushinst.toml" deploy bench --to bench \
        --concurrency "$CONCURRENCY" -q --log-dir "$state/logs"
}
run_baseline() {
    measure sh -c "tr ' ' '\n' < '$state/endpoints.list' | xargs -P '$CONCURRENCY' -n 1 '$state/scp-ssh.sh'"
}
tr '\n' ' ' < "$state/endpoints" > "$state/endpoints.list"

summarize() {  # name, then "wall rss host-cpu" lines on stdin
    python3 -c '
import statistics, sys
name, hosts = sys.argv[1], int(sys.argv[2])
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
walls = [w for w, _, _ in rows]
rss = max(r for _, r, _ in rows)
cpu = statistics.median(c for _, _, c in rows) * 1000 / hosts
print(f"{name:<34} median {statistics.median(walls):6.2f} s   best {min(walls):6.2f} s   peak RSS {rss/1024:6.1f} MiB   target CPU {cpu:5.1f} ms/host")
' "$1" "$HOSTS"
}

echo "deploying a 5 MiB installer (sleep 0.5 s) to $HOSTS sshd hosts, $CONCURRENCY at a time, $ROUNDS rounds"
# Rounds interleaved, so a change in the machine's load touches every contender alike.
ours="" theirs="" before=""
for _ in $(seq "$ROUNDS"); do
    ours+=$(run_pushinst)$'\n'
    theirs+=$(run_baseline)$'\n'
    if [ -n "${BEFORE_BIN:-}" ]; then before+=$(run_pushinst "$BEFORE_BIN")$'\n'; fi
done
echo
summarize "pushinst (one process)" <<< "$ours"
if [ -n "${BEFORE_BIN:-}" ]; then summarize "pushinst \$BEFORE_BIN" <<< "$before"; fi
summarize "xargs -P scp+ssh (largest process)" <<< "$theirs"
python3 -c "import math; print(f'{\"lower bound (sleep only)\":<34} {math.ceil($HOSTS/$CONCURRENCY)*0.5:.2f} s')"
