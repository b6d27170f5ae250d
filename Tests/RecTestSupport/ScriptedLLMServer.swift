import Foundation
import RecHTTP

/// `fake_openai.py` (next to this file) on 127.0.0.1: a scripted OpenAI-compatible server
/// whose behaviour is picked by the model name of each request (see the script's docstring).
public final class ScriptedLLMServer: @unchecked Sendable {
    private let child: PythonChild
    public var port: Int { child.port }

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "fake_openai.py")

    public init(slowSeconds: Double = 3) throws {
        child = try PythonChild([Self.script.path, "0", String(slowSeconds)], marker: "PORT ", name: "fake_openai.py")
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

    public func stop() { child.stop() }
}
