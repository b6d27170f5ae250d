#!/usr/bin/env bash
# Builds the libFuzzer target (Sources/recfuse-fuzz: envelope decode + dispatch, ASan on)
# and runs it for a bounded time over the committed seed corpus (Tests/Fuzz/corpus, copied
# to a scratch folder so new inputs are not committed by accident).
#   scripts/fuzz.sh [SECONDS=60]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
scratch=.build-fuzz
swift build -c debug --scratch-path "$scratch" --product recfuse-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp Tests/Fuzz/corpus/* "$work/"
mkdir -p "$work/artifacts"
"$scratch/debug/recfuse-fuzz" "$work" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1
echo "fuzz: no findings in ${seconds} s (corpus grew to $(ls "$work" | wc -l) inputs)" >&2
