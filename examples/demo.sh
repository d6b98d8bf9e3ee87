#!/usr/bin/env bash
# The demo: start five real sshd hosts and two emulated Windows hosts (not Windows:
# tests/windows-emulator, which speaks SMB and the Service Control Manager's RPC) on
# this machine, deploy a stand-in agent to all of them with pushinst, show the
# result and the history, stop the hosts. Run as root (it creates a local user and
# starts sshd); it touches nothing outside loopback. The first run creates the
# emulator's Python venv (impacket from PyPI, about a minute).
#
#   examples/demo.sh            deploy, then stop the fleet
#   examples/demo.sh --dry-run  any extra arguments go to `pushinst deploy`
#   KEEP=1 examples/demo.sh     leave the fleet running and say how to reach it
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it starts sshd and creates the user pushinst-fleet)" >&2; exit 2; }

examples/fleet/sshd-fleet.sh setup
examples/fleet/windows-emulator.sh setup
state=$(mktemp -d /tmp/pushinst-demo.XXXXXX)
if [ -z "${KEEP:-}" ]; then
    trap 'examples/fleet/sshd-fleet.sh stop "$state"; examples/fleet/windows-emulator.sh stop "$state/windows"; rm -rf "$state"' EXIT
fi
examples/fleet/sshd-fleet.sh start "$state" 127.0.80.{1..5}:2222
examples/fleet/windows-emulator.sh start "$state/windows" 127.0.81.{1..2}:4455
cp examples/demo/pushinst.toml examples/demo/acme-install.sh examples/demo/acme-uninstall.sh examples/demo/AcmeSetup.exe examples/demo/AcmeUninstall.exe "$state/"

cargo build --quiet
# The demo keeps its history beside its fleet, not in your own state directory.
export PUSHINST_INVENTORY=$state/pushinst.toml PUSHINST_STATE=$state/history.db
status=0
./target/debug/pushinst deploy acme-agent --to demo "$@" || status=$?
echo
echo "pushinst exited with $status. What the history now says:"
./target/debug/pushinst status acme-agent
if [ -n "${KEEP:-}" ]; then
    echo "The fleet keeps running. Try, with the same two variables set:"
    echo "  export PUSHINST_INVENTORY=$PUSHINST_INVENTORY PUSHINST_STATE=$PUSHINST_STATE"
    echo "  ./target/debug/pushinst deploy acme-agent --to demo   # now already-installed"
    echo "  ./target/debug/pushinst logs 127.0.80.3:2222"
    echo "Stop it with: examples/fleet/sshd-fleet.sh stop $state; examples/fleet/windows-emulator.sh stop $state/windows"
fi
exit "$status"
