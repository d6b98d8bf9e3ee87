#!/usr/bin/env bash
# The demo: start five real sshd hosts on this machine, deploy a stand-in agent to
# them with pushinst, show the result, stop the hosts. Run as root (it creates a
# local user and starts sshd); it touches nothing outside loopback.
#
#   examples/demo.sh            deploy, then stop the fleet
#   examples/demo.sh --dry-run  any extra arguments go to `pushinst deploy`
#   KEEP=1 examples/demo.sh     leave the fleet running and say how to reach it
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it starts sshd and creates the user pushinst-fleet)" >&2; exit 2; }

examples/fleet/sshd-fleet.sh setup
state=$(mktemp -d /tmp/pushinst-demo.XXXXXX)
if [ -z "${KEEP:-}" ]; then
    trap 'examples/fleet/sshd-fleet.sh stop "$state"; rm -rf "$state"' EXIT
fi
examples/fleet/sshd-fleet.sh start "$state" 127.0.80.{1..5}:2222
cp examples/demo/pushinst.toml examples/demo/acme-install.sh "$state/"

cargo build --quiet
status=0
./target/debug/pushinst -i "$state/pushinst.toml" deploy acme-agent --to demo "$@" || status=$?
echo
echo "pushinst exited with $status."
if [ -n "${KEEP:-}" ]; then
    echo "The fleet keeps running. Deploy again (every host is now already-installed):"
    echo "  ./target/debug/pushinst -i $state/pushinst.toml deploy acme-agent --to demo"
    echo "Stop it with: examples/fleet/sshd-fleet.sh stop $state"
fi
exit "$status"
