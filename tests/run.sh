#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install what the tests need (OpenSSH
# server and client, sudo, the fleet user, a Secret Service for the keyring test,
# Samba for the Windows file transfer tests, a Python venv with impacket for the
# Windows host emulator), check formatting and lints, then run every test with
# cargo-nextest. The tests start and stop their own sshd, smbd and emulator servers
# on loopback addresses; nothing listens beyond 127.0.0.0/8 except the Kerberos tests'
# domain controller, in a network namespace of its own reached over a veth pair. Last,
# every parser's fuzz target runs for a bounded time (tests/fuzz.sh, a few minutes with
# the build);
# PUSHINST_SKIP_FUZZ=1 leaves that out of a local run, never out of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ssh-keygen/ssh-agent for key tests; a private D-Bus session with GNOME Keyring and
# secret-tool for the keyring test; GNU time for the controller's memory under 200 MiB
# of installer output.
packages=(openssh-client dbus gnome-keyring libsecret-tools python3-venv time)
if ! [ -x /usr/bin/time ] || ! command -v ssh-agent >/dev/null || ! command -v dbus-run-session >/dev/null \
    || ! command -v gnome-keyring-daemon >/dev/null || ! command -v secret-tool >/dev/null \
    || ! python3 -c 'import ensurepip' 2>/dev/null; then
    install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null; }
    install || { as_root apt-get update -q >/dev/null && install; }
fi
as_root examples/fleet/sshd-fleet.sh setup
as_root examples/fleet/smbd-fleet.sh setup
# A Samba AD domain controller (KDC) for the Kerberos tests: samba-ad-dc, krb5-user,
# smbclient, and libfaketime for the clock skew tests.
as_root examples/fleet/samba-ad-dc.sh setup
examples/fleet/windows-emulator.sh setup
# junit-10.xsd and a validator for the `--junit` report (PyPI, pinned).
tests/junit/setup.sh
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo nextest run --no-fail-fast "$@"
if [ "${PUSHINST_SKIP_FUZZ:-0}" != 1 ]; then
    tests/fuzz.sh
fi
