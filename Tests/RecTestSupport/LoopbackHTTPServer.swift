import Foundation

/// Python's `http.server` serving a folder on 127.0.0.1 (a random free port), for tests
/// that need a real HTTP peer for libcurl. Stopped on `stop()` or deinit.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public let root: URL
    public let port: Int
    private let process: Process

    public init(serving root: URL) throws {
        self.root = root
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", root.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        var text = ""
        var found: Int? = nil
        let deadline = Date().addingTimeInterval(20)
        while found == nil && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let r = text.range(of: "port "), let n = Int(text[r.upperBound...].prefix { $0.isNumber }) { found = n }
        }
        guard let found else {
            kill(p.processIdentifier, SIGKILL)
            throw NSError(domain: "LoopbackHTTPServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "python http.server did not start: \(text)"])
        }
        port = found
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        if process.isRunning {
            // SIGKILL, not terminate(): the child inherits the test runner's blocked-signal
            // mask, so SIGTERM may never be delivered.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A fresh temporary directory, removed by `cleanup()`.
public func makeTempDir(_ tag: String = "rf") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@_exported import struct RecCore.SplitMix64
