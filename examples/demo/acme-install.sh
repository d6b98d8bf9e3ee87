#!/bin/sh
# A stand-in installer. It "installs" into the directory the demo sshd gives each
# host ($PUSHINST_FIXTURE_DIR), and on the fourth host asks for a reboot (exit 100, which the
# inventory lists in reboot_codes).
set -e
echo "acme-agent 7.2.1 installing on $PUSHINST_FIXTURE_HOST as $(id -un) with: $*"
sleep 1
mkdir -p "$PUSHINST_FIXTURE_DIR/opt/acme"
touch "$PUSHINST_FIXTURE_DIR/opt/acme/installed"
echo "installed"
[ "$PUSHINST_FIXTURE_HOST" = host4 ] && exit 100
exit 0
