#!/usr/bin/env bash
# The JUnit schema the `--junit` report is checked against, and a validator:
# junit-10.xsd (Jenkins xUnit plugin's schema, as pytest ships it in its source
# distribution for its own JUnit tests) and the xmlschema package, in a venv here.
# Both come from PyPI, pinned; nothing is committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PYTEST_SDIST=pytest==9.2.0
XMLSCHEMA=xmlschema==4.3.2
if [ -f "$here/junit-10.xsd" ] && "$here/.venv/bin/python" -c 'import xmlschema' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q "$XMLSCHEMA"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/.venv/bin/pip" download -q --no-deps --no-binary :all: -d "$tmp" "$PYTEST_SDIST"
tar -xzf "$tmp"/pytest-*.tar.gz -C "$tmp" --wildcards '*/testing/example_scripts/junit-10.xsd'
cp "$tmp"/pytest-*/testing/example_scripts/junit-10.xsd "$here/junit-10.xsd"
echo "junit schema: $here/junit-10.xsd"
