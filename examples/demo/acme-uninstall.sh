#!/bin/sh
# A stand-in uninstaller: removes what acme-install.sh put in the host's directory.
set -e
echo "acme-agent uninstalling on $PUSHINST_FIXTURE_HOST as $(id -un)"
rm -rf "$PUSHINST_FIXTURE_DIR/opt/acme"
echo "removed"
