#!/bin/sh
# Placeholder for a second Linux installer (examples/inventory.toml, acme-updater).
# It refuses to run, so a real deploy with the example never reports a false success.
echo "examples/dist/acme-updater.sh is a placeholder; put the vendor's installer here" >&2
exit 1
