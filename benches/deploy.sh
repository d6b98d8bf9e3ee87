#!/usr/bin/env bash
# Benchmark: deploy a 5 MiB installer that sleeps 0.5 s to 50 local sshd hosts at
# concurrency 20, with a release build of pushinst, and in the same run the same job
# done the way admins script it today: `xargs -P 20` of OpenSSH `scp` + `ssh` per host.
# Prints wall time (median and best of ROUNDS) and peak memory. Run as root.
#
#   benches/deploy.sh                  HOSTS=50 CONCURRENCY=20 ROUNDS=3 by default
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

# Wall seconds and the peak resident set of the largest process in the command.
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.monotonic() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if done.returncode != 0:
    sys.exit(f"{sys.argv[1]} exited with {done.returncode}")
print(f"{wall:.3f} {rss}")
PY
}

run_pushinst() {
    measure target/release/pushinst -i "$state/pushinst.toml" deploy bench --to bench \
        --concurrency "$CONCURRENCY" -q --log-dir "$state/logs"
}
run_baseline() {
    measure sh -c "tr ' ' '\n' < '$state/endpoints.list' | xargs -P '$CONCURRENCY' -n 1 '$state/scp-ssh.sh'"
}
tr '\n' ' ' < "$state/endpoints" > "$state/endpoints.list"

summarize() {  # name, then "wall rss" lines on stdin
    python3 -c '
import statistics, sys
name = sys.argv[1]
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
walls = [w for w, _ in rows]
rss = max(r for _, r in rows)
print(f"{name:<34} median {statistics.median(walls):6.2f} s   best {min(walls):6.2f} s   peak RSS {rss/1024:6.1f} MiB")
' "$1"
}

echo "deploying a 5 MiB installer (sleep 0.5 s) to $HOSTS sshd hosts, $CONCURRENCY at a time, $ROUNDS rounds"
ours=$(for _ in $(seq "$ROUNDS"); do run_pushinst; done)
theirs=$(for _ in $(seq "$ROUNDS"); do run_baseline; done)
echo
summarize "pushinst (one process)" <<< "$ours"
summarize "xargs -P scp+ssh (largest process)" <<< "$theirs"
python3 -c "import math; print(f'{\"lower bound (sleep only)\":<34} {math.ceil($HOSTS/$CONCURRENCY)*0.5:.2f} s')"
