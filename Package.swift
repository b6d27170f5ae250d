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

let package = Package(
    name: "recfuse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "recfuse", targets: ["recfuse"]),
        // librecfuse.so: the engines in-process behind a C ABI (Bindings/include/recfuse.h).
        // SwiftPM names the file after the product; Bindings/Makefile installs it as librecfuse.so,
        // the name its SONAME already carries.
        .library(name: "recfuse-c", type: .dynamic, targets: ["RecShim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // ---- system libraries (each imported by exactly one Swift target)
        .systemLibrary(name: "CNNG", path: "Sources/CNNG"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        // Typed wrappers for what Swift cannot call directly (variadic C functions).
        .target(name: "CRecShims", path: "Sources/CRecShims", linkerSettings: [.linkedLibrary("curl")]),

        // ---- pure Swift core
        .target(name: "RecCore"),
        .target(name: "RecMath", dependencies: ["CBLAS"], swiftSettings: tapeSettings),
        .target(name: "RecHTTP", dependencies: ["CCurl", "CRecShims"]),
        .target(name: "RecData", dependencies: [
            "RecCore", "RecHTTP",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "RecText", dependencies: ["RecCore", "RecData", "RecMath"], swiftSettings: optimisedInDebug),
        .target(name: "RecBaselines", dependencies: ["RecCore", "RecData"]),
        .target(name: "RecEval", dependencies: ["RecCore"]),
        .target(name: "RecSVD", dependencies: ["RecCore", "RecData", "RecMath"], swiftSettings: optimisedInDebug),
        .target(name: "RecEASE", dependencies: ["RecCore", "RecData", "RecMath"]),
        .target(name: "RecGAT", dependencies: ["RecCore", "RecData", "RecMath", "RecText"], swiftSettings: optimisedInDebug),
        .target(name: "RecLLM", dependencies: [
            "RecCore", "RecData", "RecHTTP", "RecText", "RecMath",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "RecWire", dependencies: [
            "RecCore", "RecData", "RecBaselines", "RecSVD", "RecEASE", "RecText", "RecGAT", "RecLLM",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "RecServer", dependencies: [
            "RecWire", "RecCore", "RecLLM", "CNNG",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The C ABI: the public header and the C-only parts (status strings), then the Swift exports.
        .target(name: "CRecFuse", path: "Bindings", sources: ["src"], publicHeadersPath: "include"),
        .target(name: "RecShim", dependencies: ["CRecFuse", "RecWire", "RecCore", "RecLLM"],
                linkerSettings: [.unsafeFlags(["-Xlinker", "-soname", "-Xlinker", "librecfuse.so"])]),
        .executableTarget(name: "recfuse", dependencies: [
            "RecServer", "RecWire", "RecData", "RecBaselines", "RecCore", "RecEval", "RecSVD", "RecText", "RecLLM", "RecMath",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),

        // The libFuzzer target over envelope decode + dispatch (scripts/fuzz.sh builds it with
        // -sanitize=fuzzer; a plain build links but has no main and is not a product).
        .executableTarget(name: "recfuse-fuzz", dependencies: ["RecWire", "RecBaselines", "RecCore"], path: "Sources/recfuse-fuzz"),

        // ---- tests (one target per library target) and their shared helpers
        .target(name: "RecTestSupport", dependencies: ["RecCore", "RecHTTP"], path: "Tests/RecTestSupport", exclude: ["fake_openai.py"]),
        .testTarget(name: "RecCoreTests", dependencies: ["RecCore", "RecTestSupport"]),
        .testTarget(name: "RecMathTests", dependencies: ["RecMath"]),
        .testTarget(name: "RecHTTPTests", dependencies: ["RecHTTP", "RecTestSupport"]),
        .testTarget(name: "RecDataTests", dependencies: [
            "RecData", "RecCore", "RecTestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "RecTextTests", dependencies: ["RecText", "RecData", "RecCore", "RecTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "RecGATTests", dependencies: ["RecGAT", "RecText", "RecMath", "RecData", "RecCore", "RecTestSupport"]),
        .testTarget(name: "RecLLMTests", dependencies: ["RecLLM", "RecBaselines", "RecText", "RecMath", "RecCore", "RecTestSupport"]),
        .testTarget(name: "RecEvalTests", dependencies: ["RecEval", "RecCore"]),
        .testTarget(name: "RecEASETests", dependencies: ["RecEASE", "RecMath", "RecEval", "RecCore"]),
        .testTarget(name: "RecSVDTests", dependencies: ["RecSVD", "RecEval", "RecData", "RecCore"]),
        .testTarget(name: "RecBaselinesTests", dependencies: ["RecBaselines", "RecData", "RecCore"]),
        .testTarget(name: "RecWireTests", dependencies: [
            "RecWire", "RecTestSupport", "RecBaselines", "RecData", "RecCore",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .testTarget(name: "RecServerTests", dependencies: [
            "RecServer", "RecWire", "RecBaselines", "RecData", "RecCore", "RecLLM", "RecTestSupport", "CNNG",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
    ]
)
