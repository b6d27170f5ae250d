#!/usr/bin/env bash
# Soak: full load on a release server for DURATION seconds (default 60) with 16 clients,
# zero errors expected; prints the server's resident memory before and after.
#   benchmarks/soak.sh [BUNDLE] [DURATION] [METHOD]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:-$root/bundles/default}
duration=${2:-60}
method=${3:-rank}
bin=$root/.build/release/recfuse
sock=ipc:///tmp/rf-soak-$$.sock
"$bin" serve --bundle "$bundle" --listen "$sock" --models-dir "$root/models" --log-level warning &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
sleep 5
"$bin" bench --url "$sock" --method "$method" --clients 16 --count 100000 --duration 10 --no-echo >/dev/null  # warm
rss0=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
"$bin" bench --url "$sock" --method "$method" --clients 16 --count 100000000 --duration "$duration" --no-echo
rss1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "server RSS after warm-up ${rss0} kB, after ${duration} s of load ${rss1} kB ($(awk -v a="$rss0" -v b="$rss1" 'BEGIN {printf "%+.1f%%", (b - a) * 100 / a}'))"
