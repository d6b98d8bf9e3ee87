#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install what the tests need (OpenSSH
# server and client, sudo, the fleet user), check formatting and lints, then run
# every test with cargo-nextest. The tests start and stop their own sshd servers on
# loopback addresses; nothing listens beyond 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ssh-keygen >/dev/null || ! command -v ssh-agent >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-client >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-client >/dev/null; }
fi
as_root examples/fleet/sshd-fleet.sh setup
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo nextest run --no-fail-fast "$@"
