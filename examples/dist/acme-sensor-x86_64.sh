#!/bin/sh
# Placeholder for the x86_64 variant of acme-sensor (examples/inventory.toml).
# It refuses to run, so a real deploy with the example never reports a false success.
echo "examples/dist/acme-sensor-x86_64.sh is a placeholder; put the vendor's installer here" >&2
exit 1
