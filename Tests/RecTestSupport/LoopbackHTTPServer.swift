import Foundation

@_exported import struct RecCore.SplitMix64

/// Python's `http.server` serving a folder on 127.0.0.1 (a random free port), for tests
/// that need a real HTTP peer for libcurl. Stopped on `stop()` or deinit.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public let root: URL
    private let child: PythonChild
    public var port: Int { child.port }

    public init(serving root: URL) throws {
        self.root = root
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        child = try PythonChild(
            ["-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", root.path],
            marker: "port ", name: "python http.server")
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func stop() { child.stop() }
}

/// A fresh temporary directory, removed by `cleanup()`.
public func makeTempDir(_ tag: String = "rf") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
