#!/bin/sh
# Placeholder entry of a folder package (examples/inventory.toml, acme-sensor on
# aarch64): the whole folder is uploaded, this file is run from inside it.
echo "examples/dist/acme-sensor-arm64/ is a placeholder (it ships $(cat lib/sensor.version)); put the vendor's files here" >&2
exit 1
