#!/usr/bin/env bash
# Regenerates every piece of generated protobuf code from Proto/.
#   Swift  -> Sources/RecWire/Generated/   (protoc-gen-swift from swift-protobuf, the version Package.swift pins)
#   C      -> Clients/c/gen/               (protoc-c 1.4.1, Debian's protobuf-c-compiler)
#   Python -> Clients/python/recfuse/v1/   (protoc 3.21.12, Debian's protobuf-compiler)
# Generated files are committed and never edited by hand. Run this after any .proto change.
#
# protoc-gen-swift is built from the swift-protobuf checkout that SwiftPM resolved
# (release build, a few minutes the first time) unless PROTOC_GEN_SWIFT points at one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
command -v protoc-c >/dev/null || { echo "protoc-c missing: apt-get install protobuf-c-compiler" >&2; exit 1; }

plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
  swift package resolve >/dev/null
  src="$root/.build/checkouts/swift-protobuf"
  scratch="$root/.build-protoc-gen-swift"
  swift build -c release --package-path "$src" --scratch-path "$scratch" --product protoc-gen-swift >&2
  plugin="$scratch/release/protoc-gen-swift"
fi

protos=$(cd Proto && find . -name '*.proto' | sed 's|^\./||' | sort)

rm -rf Sources/RecWire/Generated Clients/c/gen Clients/python/recfuse/v1
mkdir -p Sources/RecWire/Generated Clients/c/gen Clients/python/recfuse/v1

# Swift: one file per proto, flat (SwiftPM needs unique file names per target).
protoc -I Proto --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out=Sources/RecWire/Generated $protos
protoc -I Proto --c_out=Clients/c/gen $protos
protoc -I Proto --python_out=Clients/python $protos
touch Clients/python/recfuse/v1/__init__.py

echo "generated from: $protos" >&2
