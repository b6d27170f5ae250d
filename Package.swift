// swift-tools-version: 6.1
// recfuse: a recommendation scoring server (protobuf over NNG) with GAT, SVD++ and
// LLM-fusion engines. See docs/design.md and ../shared/DESIGN.md for the layout.
import PackageDescription

/// The numeric kernels (encoder forward pass, SGD loops) run 20-100x slower unoptimised, which
/// makes debug-built tests that train or embed crawl; they are compiled with -O in debug too.
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
/// The autograd tape keeps values and gradients in class properties that only one thread
/// touches per tape; Swift's dynamic exclusivity checks on them cost a quarter of a GAT step.
let tapeSettings: [SwiftSetting] = optimisedInDebug + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

/// The engines, one folder each: `Sources/<name>` declares the engine and its `EngineKind`,
/// `Tests/<name>Tests` tests it, and `RecEngines.Registry` lists the kind. Adding an engine
/// is one line here (docs/engines.md).
let engines: [(name: String, settings: [SwiftSetting])] = [
    ("RecBaselines", []),
    ("RecEASE", []),
    ("RecSVD", optimisedInDebug),
    ("RecTextEngine", []),
    ("RecGAT", tapeSettings),
    ("RecRP3beta", []),
]
/// What every engine may use, and what every engine's tests may use besides it.
let engineDependencies: [Target.Dependency] = ["RecEngineKit", "RecCore", "RecData", "RecMath", "RecText"]
let engineTestDependencies: [Target.Dependency] = engineDependencies + ["RecEval", "RecTestSupport"]

let package = Package(
    name: "recfuse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "recfuse", targets: ["recfuse"]),
        // librecfuse.so: the engines in-process behind a C ABI (Bindings/include/recfuse.h).
        // SwiftPM names the file after the product; Bindings/Makefile installs it as librecfuse.so.1,
        // the name its SONAME carries, with the librecfuse.so symlink for the linker.
        .library(name: "recfuse-c", type: .dynamic, targets: ["RecShim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context", exact: "1.0.0"),
        // The gRPC door: grpc-swift 2 over HTTP/2 (SwiftNIO), its protobuf glue.
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [
        // ---- system libraries (each imported by exactly one Swift target)
        .systemLibrary(name: "CNNG", path: "Sources/CNNG"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        // hnswlib (Debian's libhnswlib-dev, header-only C++) behind a C header.
        .target(
            name: "CHNSW", path: "Sources/CHNSW", cxxSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [.linkedLibrary("stdc++")]),
        // Typed wrappers for what Swift cannot call directly (variadic C functions).
        // Retrieve's int8 screening pass (AVX2 when the processor has it, chosen at run time).
        .target(name: "CRecKernels", path: "Sources/CRecKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "CRecShims", path: "Sources/CRecShims", linkerSettings: [.linkedLibrary("curl")]),

        // ---- pure Swift core, numerics, I/O
        .target(name: "RecCore"),
        .target(name: "RecMath", dependencies: ["CBLAS", "CRecKernels"], swiftSettings: tapeSettings),
        .target(name: "RecHTTP", dependencies: ["CCurl", "CRecShims"]),
        .target(name: "RecANN", dependencies: ["CHNSW", "CRecKernels", "RecCore"], swiftSettings: optimisedInDebug),
        .target(name: "RecNNG", dependencies: ["CNNG", "RecCore"]),
        // The write store: the event log in SQLite (embedded) or PostgreSQL, with group commit.
        .target(name: "RecStore", dependencies: ["CSQLite", "CLibPQ", "RecCore"]),
        .target(
            name: "RecData",
            dependencies: [
                "RecCore", "RecHTTP", "CRecShims",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "RecText", dependencies: ["RecCore", "RecData", "RecMath"], swiftSettings: optimisedInDebug),

        // ---- engines: what they share, each engine, and the registry that lists them
        .target(name: "RecEngineKit", dependencies: ["RecCore", "RecData", "RecText", "RecMath"]),
    ] + engines.map { .target(name: $0.name, dependencies: engineDependencies, swiftSettings: $0.settings) } + [
        .target(
            name: "RecEngines",
            dependencies: engines.map { .target(name: $0.name) } + [
                "RecEngineKit", "RecEval", "RecData", "RecCore", "RecANN",
            ]),

        // ---- fusion, evaluation, the service and its doors
        .target(
            name: "RecLLM",
            dependencies: [
                "RecCore", "RecData", "RecHTTP", "RecText", "RecMath",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "RecEval", dependencies: ["RecCore", "RecLLM"]),
        .target(
            name: "RecWire",
            dependencies: [
                "RecCore", "RecData", "RecLLM", "RecStore", "CRecShims",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ]),
        .target(
            name: "RecServer",
            dependencies: [
                "RecWire", "RecCore", "RecLLM", "RecNNG",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // gRPC over HTTP/2 beside NNG: the same Service behind grpc-swift 2, and grpc.health.v1.
        .target(
            name: "RecGRPC",
            dependencies: [
                "RecServer", "RecBench", "RecWire", "RecCore",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "RecBench",
            dependencies: [
                "RecNNG", "RecWire", "RecCore", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        // The C ABI: the public header and the C-only parts (status strings), then the Swift exports.
        .target(name: "CRecFuse", path: "Bindings", sources: ["src"], publicHeadersPath: "include"),
        .target(
            name: "RecShim", dependencies: ["CRecFuse", "RecWire", "RecEngines", "RecCore", "RecLLM"],
            // Exports only recfuse_* (Bindings/librecfuse.map); the SONAME carries the ABI's major version.
            linkerSettings: [
                .unsafeFlags([
                    "-Xlinker", "-soname", "-Xlinker", "librecfuse.so.1", "-Xlinker",
                    "--version-script=\(Context.packageDirectory)/Bindings/librecfuse.map",
                ])
            ]),
        .executableTarget(
            name: "recfuse",
            dependencies: [
                "RecServer", "RecGRPC", "RecBench", "RecWire", "RecEngines", "RecEngineKit", "RecData", "RecCore",
                "RecEval", "RecStore",
                "RecANN",
                "RecText",
                "RecLLM", "RecMath",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The libFuzzer target over envelope decode + dispatch (scripts/fuzz.sh builds it with
        // -sanitize=fuzzer; a plain build links but has no main and is not a product).
        .executableTarget(
            name: "recfuse-fuzz", dependencies: ["RecWire", "RecBaselines", "RecCore"], path: "Sources/recfuse-fuzz"),

        // ---- tests (one target per library target) and their shared helpers
        .target(
            name: "RecTestSupport", dependencies: ["RecCore", "RecHTTP", "RecMath"], path: "Tests/RecTestSupport",
            exclude: ["fake_openai.py"]),
        .target(
            name: "RecFixtures", dependencies: ["RecEngines", "RecEngineKit", "RecData", "RecCore", "RecTestSupport"],
            path: "Tests/RecFixtures"),
        .testTarget(name: "RecCoreTests", dependencies: ["RecCore", "RecTestSupport"]),
        .testTarget(name: "RecMathTests", dependencies: ["RecMath", "RecTestSupport"]),
        .testTarget(name: "RecHTTPTests", dependencies: ["RecHTTP", "RecTestSupport"]),
        .testTarget(
            name: "RecANNTests", dependencies: ["RecANN", "CRecKernels", "RecCore"], swiftSettings: optimisedInDebug),
        .testTarget(name: "RecNNGTests", dependencies: ["RecNNG", "RecCore", "RecHTTP"]),
        .testTarget(name: "RecStoreTests", dependencies: ["RecStore", "RecCore", "RecTestSupport"]),
        .testTarget(
            name: "RecDataTests",
            dependencies: [
                "RecData", "RecCore", "RecTestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "RecTextTests", dependencies: ["RecText", "RecData", "RecCore", "RecTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "RecEngineKitTests", dependencies: ["RecEngineKit", "RecCore", "RecData", "RecTestSupport"]),
    ]
        + engines.map {
            .testTarget(name: "\($0.name)Tests", dependencies: [.target(name: $0.name)] + engineTestDependencies)
        } + [
            .testTarget(
                name: "RecEnginesTests",
                dependencies: [
                    "RecEngines", "RecEngineKit", "RecEval", "RecData", "RecCore",
                    "RecFixtures", "RecTestSupport",
                ]),
            .testTarget(
                name: "RecLLMTests",
                dependencies: [
                    "RecLLM", "RecBaselines", "RecTextEngine", "RecText", "RecMath",
                    "RecCore", "RecTestSupport",
                ]),
            .testTarget(name: "RecEvalTests", dependencies: ["RecEval", "RecCore"]),
            .testTarget(
                name: "RecWireTests",
                dependencies: [
                    "RecWire", "RecEngines", "RecLLM", "RecFixtures", "RecTestSupport", "RecData", "RecCore",
                    "RecStore", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                ]),
            .testTarget(
                name: "RecServerTests",
                dependencies: [
                    "RecServer", "RecWire", "RecEngines", "RecFixtures", "RecData", "RecCore", "RecLLM",
                    "RecTestSupport", "RecNNG",
                    .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                ]),
            .testTarget(
                name: "RecGRPCTests",
                dependencies: [
                    "RecGRPC", "RecServer", "RecWire", .product(name: "GRPCCore", package: "grpc-swift-2"),
                    .product(name: "Logging", package: "swift-log"),
                ]),
            .testTarget(
                name: "RecBenchTests", dependencies: ["RecBench", "RecNNG", "RecWire", "RecCore", "RecTestSupport"]),
        ]
)
