#!/usr/bin/env bash
# Formats the Swift sources with swift-format (the toolchain's, configured by .swift-format):
#   bash scripts/format.sh           rewrite every file in place
#   bash scripts/format.sh --check   fail (listing them) if a file is not formatted or a line is
#                                    longer than 120 characters; changes nothing
# Generated code (Sources/RecWire/Generated) is left as protoc made it.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.swift' | grep -v '/Generated/' | sort)
if [ "${1:-}" = "--check" ]; then
  status=0
  swift format lint --strict --configuration .swift-format --parallel "${files[@]}" || status=1
  long=$(python3 -c 'import sys
for f in sys.argv[1:]:
    for n, l in enumerate(open(f, encoding="utf-8"), 1):
        if len(l.rstrip("\n")) > 120: print(f"{f}:{n}: {len(l.rstrip())} characters")' "${files[@]}")
  if [ -n "$long" ]; then
    echo "$long" | head -40 >&2
    echo "format: $(echo "$long" | wc -l) line(s) over 120 characters" >&2
    status=1
  fi
  [ $status -eq 0 ] || echo "format: run 'bash scripts/format.sh' and shorten the lines listed" >&2
  exit $status
fi
swift format format --in-place --configuration .swift-format --parallel "${files[@]}"
