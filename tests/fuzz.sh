#!/usr/bin/env bash
# Fuzz every wire parser (and the inventory loader) for a bounded time: build the
# cargo-fuzz targets in fuzz/ with the nightly toolchain, run each on a temporary
# copy of its committed seeds, and fail on any crash, out-of-memory or hang.
#
#   FUZZ_SECONDS   seconds per target (default 15: the eight targets take about
#                  two minutes together)
#   FUZZ_TARGETS   the targets to run, space-separated (default: all of them)
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

failed=()
printf '%-16s %12s %8s %10s\n' target executions seconds exec/s
for target in $targets; do
    # libFuzzer adds what it finds to the corpus directory: a copy keeps the tree clean.
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    cp -R "fuzz/corpus/$target/." "$corpus/"
    log="$work/$target.log"
    began=$(date +%s)
    status=0
    (cd fuzz && cargo +nightly fuzz run "${build[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" "${limits[@]}" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/") >"$log" 2>&1 || status=$?
    took=$(($(date +%s) - began))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    printf '%-16s %12s %8s %10s\n' "$target" "${execs:-?}" "$took" "${rate:-?}"
    if [ "$status" != 0 ]; then
        failed+=("$target")
        echo "fuzz: $target failed (exit $status); the end of its log:" >&2
        tail -n 40 "$log" >&2
        grep -h 'Test unit written to' "$log" | sed "s|to |to fuzz/|" >&2 || true
    fi
done

if [ "${#failed[@]}" != 0 ]; then
    echo "fuzz: findings in ${failed[*]}; inputs are under fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz: no findings in $(($(date +%s) - started))s"
