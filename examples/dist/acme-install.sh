#!/bin/sh
# Placeholder for the vendor's Linux installer, so that examples/inventory.toml loads
# and dry-runs from a fresh clone. Put the real installer here (or point `file` at it).
# It refuses to run, so a real deploy with the example never reports a false success.
echo "examples/dist/acme-install.sh is a placeholder; put the vendor's installer here" >&2
exit 1
