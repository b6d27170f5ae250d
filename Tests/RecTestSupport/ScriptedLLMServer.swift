import Foundation
import RecHTTP

/// `fake_openai.py` (next to this file) on 127.0.0.1: a scripted OpenAI-compatible server
/// whose behaviour is picked by the model name of each request (see the script's docstring).
public final class ScriptedLLMServer: @unchecked Sendable {
    public let port: Int
    private let process: Process

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("fake_openai.py")

    public init(slowSeconds: Double = 3) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-u", Self.script.path, "0", String(slowSeconds)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        var text = ""
        var found: Int?
        while found == nil {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let r = text.range(of: "PORT "), let n = Int(text[r.upperBound...].prefix { $0.isNumber }) { found = n }
        }
        guard let found else {
            kill(p.processIdentifier, SIGKILL)
            throw NSError(domain: "ScriptedLLMServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "fake_openai.py did not start: \(text)"])
        }
        port = found
    }

    /// The base URL clients use (`…/v1`).
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The server's counters: requests per model, the last request's headers and body.
    public func stats() throws -> [String: Any] {
        let data = try HTTPClient().get("\(baseURL)/stats", connectTimeout: 5, timeout: 10)
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    public func requests(_ model: String) throws -> Int {
        ((try stats()["requests"] as? [String: Any])?[model] as? Int) ?? 0
    }

    /// Kills the script. Not `Process.waitUntilExit()`: that spins a run loop, and when the
    /// last reference goes at process exit (a suite's static) there is none left to spin.
    public func stop() {
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)  // ECHILD if Foundation reaped it first: either way it is gone
    }

    deinit { stop() }
}
