#!/usr/bin/env bash
# Regenerates every piece of generated protobuf code from Proto/.
#   Swift  -> Sources/RecWire/Generated/   (protoc-gen-swift from swift-protobuf, the version Package.swift pins)
#   gRPC   -> Sources/RecGRPC/Generated/   (protoc-gen-grpc-swift-2 from grpc-swift-protobuf, likewise)
#   C      -> Clients/c/gen/               (protoc-c 1.4.1, Debian's protobuf-c-compiler)
#   Python -> Clients/python/recfuse/v1/   (protoc 3.21.12, Debian's protobuf-compiler)
# Generated files are committed and never edited by hand. Run this after any .proto change.
#
# protoc-gen-swift and protoc-gen-grpc-swift-2 are built from the checkouts SwiftPM resolved
# (release builds: a few minutes, and ~10 for the gRPC one, the first time) unless
# PROTOC_GEN_SWIFT / PROTOC_GEN_GRPC_SWIFT point at them.
# grpc/health/v1/health.proto (the gRPC health-checking protocol) gets Swift code only: C and
# Python callers take it from their gRPC libraries (grpcio's grpc_health module).
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
grpc_plugin=${PROTOC_GEN_GRPC_SWIFT:-}
if [ -z "$grpc_plugin" ]; then
  swift package resolve >/dev/null
  src="$root/.build/checkouts/grpc-swift-protobuf"
  scratch="$root/.build-protoc-gen-grpc-swift"
  swift build -c release --package-path "$src" --scratch-path "$scratch" --product protoc-gen-grpc-swift-2 >&2
  grpc_plugin="$scratch/release/protoc-gen-grpc-swift-2"
fi

protos=$(cd Proto && find . -name '*.proto' | sed 's|^\./||' | sort)
ours=$(cd Proto && find recfuse -name '*.proto' | sort)

rm -rf Sources/RecWire/Generated Sources/RecGRPC/Generated Clients/c/gen Clients/python/recfuse/v1
mkdir -p Sources/RecWire/Generated Sources/RecGRPC/Generated Clients/c/gen Clients/python/recfuse/v1

# Swift: one file per proto, flat (SwiftPM needs unique file names per target).
protoc -I Proto --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out=Sources/RecWire/Generated $protos
# The service stubs live beside the transport; the messages they name come from RecWire.
protoc -I Proto --plugin=protoc-gen-grpc-swift="$grpc_plugin" \
  --grpc-swift_opt=Visibility=Public --grpc-swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift_opt=ExtraModuleImports=RecWire \
  --grpc-swift_out=Sources/RecGRPC/Generated $protos
rm -f Sources/RecGRPC/Generated/recfuse_v1_envelope.grpc.swift  # no service in it
protoc -I Proto --c_out=Clients/c/gen $ours
# Messages and their type stubs (mypy and editors see real types, not Any).
protoc -I Proto --python_out=Clients/python --pyi_out=Clients/python $ours
touch Clients/python/recfuse/v1/__init__.py

echo "generated from: $protos" >&2
