#!/usr/bin/env bash
# Fuzz every wire parser (and the inventory loader) for a bounded time: build the
# cargo-fuzz targets in fuzz/ with the nightly toolchain, run each on a temporary
# copy of its committed seeds, and fail on any crash, out-of-memory or hang.
#
#   FUZZ_SECONDS   seconds per target (default 15)
#   FUZZ_TARGETS   the targets to run, space-separated (default: all of them)
#   FUZZ_JOBS      targets run at once (default: the number of cores)
#
# A finding is saved under fuzz/artifacts/<target>/ (ignored by git) and its path
# printed; reproduce it with `cargo +nightly fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-15}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# FUZZ_BUILD, the cargo-fuzz build flags: --dev, with fuzz/Cargo.toml's dev profile
# at opt-level 1. Measured on two shared cores: the default -O build took 13 min
# (13 min CPU), --dev at opt-level 0 2.2 min (3.5 min CPU) but ran 10-50x slower,
# opt-level 1 5.3 min (7.8 min CPU) and runs at 40-90% of -O's rate. AddressSanitizer
# stays: without its malloc hooks -malloc_limit_mb cannot catch one huge allocation.
read -r -a build <<<"${FUZZ_BUILD:---dev --sanitizer address}"

started=$(date +%s)
(cd fuzz && cargo +nightly fuzz build "${build[@]}")
echo "fuzz: built the targets in $(($(date +%s) - started))s"

targets=${FUZZ_TARGETS:-$(cd fuzz && cargo +nightly fuzz list)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A length read from the wire and trusted would allocate far beyond any real
# answer: 64 MiB in one allocation fails the run, as does a hang of 10 seconds.
limits=(-malloc_limit_mb=64 -rss_limit_mb=1024 -timeout=10)

# Two targets at a time: each libFuzzer run is one thread, and the machine has two
# cores (17 targets x 15 s: 4.3 min one by one, 2.2 min in pairs).
jobs=${FUZZ_JOBS:-$(nproc)}
fuzz_one() {
    local target=$1
    # libFuzzer adds what it finds to the corpus directory: a copy keeps the tree clean.
    local corpus="$work/corpus/$target" log="$work/$target.log" began status=0
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    cp -R "fuzz/corpus/$target/." "$corpus/"
    began=$(date +%s)
    (cd fuzz && cargo +nightly fuzz run "${build[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" "${limits[@]}" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/") >"$log" 2>&1 || status=$?
    local took=$(($(date +%s) - began)) execs rate
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    printf '%-16s %12s %8s %10s\n' "$target" "${execs:-?}" "$took" "${rate:-?}"
    if [ "$status" != 0 ]; then
        touch "$work/failed.$target"
        {
            echo "fuzz: $target failed (exit $status); the end of its log:"
            tail -n 40 "$log"
            grep -h 'Test unit written to' "$log" | sed "s|to |to fuzz/|" || true
        } >&2
    fi
    # The last step: a job that died before here (set -e in a background job) has no
    # marker and counts as failed below, instead of passing unseen.
    touch "$work/done.$target"
}

printf '%-16s %12s %8s %10s\n' target executions seconds exec/s
running=0
for target in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$target" &
    running=$((running + 1))
done
wait || true
failed=()
for target in $targets; do
    if [ -e "$work/failed.$target" ] || ! [ -e "$work/done.$target" ]; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" != 0 ]; then
    echo "fuzz: ${failed[*]} failed (a finding or a broken run, above); findings are under fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz: no findings in $(($(date +%s) - started))s"
