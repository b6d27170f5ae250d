import Foundation
import RecCore

/// How to reach an OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp's server, Ollama).
///
/// Read from a JSON file (`--llm-config`, keys as in `CodingKeys`) and/or flags; the API key
/// comes only from the environment (`RECFUSE_LLM_API_KEY`, else `OPENAI_API_KEY`) and is
/// never printed: `description` redacts it.
public struct LLMConfig: Codable, Sendable, Equatable, CustomStringConvertible {
    /// e.g. "https://api.openai.com/v1", "http://127.0.0.1:8080/v1". Requests go to
    /// `{baseURL}/chat/completions` and `{baseURL}/embeddings`.
    public var baseURL: String
    public var model: String
    /// Model for `/embeddings` (empty = `model`).
    public var embeddingModel: String = ""
    /// Seconds to establish a connection.
    public var connectTimeout: Double = 2
    /// Seconds for one attempt (capped by the request's deadline).
    public var timeout: Double = 20
    /// Retries after the first attempt, on connection errors, 408, 409, 429 and 5xx.
    public var maxRetries: Int = 2
    /// First back-off in seconds; doubles per retry, with ±50 % jitter, capped at `maxBackoff`.
    public var backoff: Double = 0.25
    public var maxBackoff: Double = 8
    /// HTTP transfers in flight at once across the whole process (the LLM's bulkhead).
    public var concurrency: Int = 8
    /// Seconds a call waits for one of those slots before it is refused (`busy`) and the
    /// caller falls back (the local judge, the template): a burst is not queued behind a slow
    /// endpoint.
    public var queueTimeout: Double = 0.05
    /// Consecutive failed calls (connection errors, timeouts, 408/429/5xx after the retries)
    /// after which the endpoint is considered down: calls fail at once (`circuit_open`) for
    /// `breakerCooloff` seconds, then one probe call is let through; its success closes the
    /// breaker again, its failure re-opens it. 0 = no breaker.
    public var breakerFailures: Int = 5
    public var breakerCooloff: Double = 30
    public var temperature: Double = 0
    public var maxTokens: Int = 512
    /// Send `response_format: {type: json_schema, ...}` (turn off for servers without it;
    /// answers are still validated against the schema).
    public var jsonSchema: Bool = true
    /// On-disk response cache keyed by model and request (nil = off).
    public var cacheDir: String? = nil
    /// Never encoded, never printed.
    public var apiKey: String? = nil

    enum CodingKeys: String, CodingKey {
        case baseURL = "base_url"
        case model
        case embeddingModel = "embedding_model"
        case connectTimeout = "connect_timeout_s"
        case timeout = "timeout_s"
        case maxRetries = "max_retries"
        case backoff = "backoff_s"
        case maxBackoff = "max_backoff_s"
        case concurrency, temperature
        case queueTimeout = "queue_timeout_s"
        case breakerFailures = "breaker_failures"
        case breakerCooloff = "breaker_cooloff_s"
        case maxTokens = "max_tokens"
        case jsonSchema = "json_schema"
        case cacheDir = "cache_dir"
    }

    public init(baseURL: String, model: String) {
        self.baseURL = baseURL
        self.model = model
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        baseURL = try c.decode(String.self, forKey: .baseURL)
        model = try c.decode(String.self, forKey: .model)
        embeddingModel = try c.decodeIfPresent(String.self, forKey: .embeddingModel) ?? ""
        connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? connectTimeout
        timeout = try c.decodeIfPresent(Double.self, forKey: .timeout) ?? timeout
        maxRetries = try c.decodeIfPresent(Int.self, forKey: .maxRetries) ?? maxRetries
        backoff = try c.decodeIfPresent(Double.self, forKey: .backoff) ?? backoff
        maxBackoff = try c.decodeIfPresent(Double.self, forKey: .maxBackoff) ?? maxBackoff
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? concurrency
        queueTimeout = try c.decodeIfPresent(Double.self, forKey: .queueTimeout) ?? queueTimeout
        breakerFailures = try c.decodeIfPresent(Int.self, forKey: .breakerFailures) ?? breakerFailures
        breakerCooloff = try c.decodeIfPresent(Double.self, forKey: .breakerCooloff) ?? breakerCooloff
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? temperature
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? maxTokens
        jsonSchema = try c.decodeIfPresent(Bool.self, forKey: .jsonSchema) ?? jsonSchema
        cacheDir = try c.decodeIfPresent(String.self, forKey: .cacheDir)
    }

    /// Reads a JSON config file; unknown keys are errors (a typo must not pass silently).
    public static func load(_ path: String) throws -> LLMConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw RecError(.notFound, "cannot read the LLM config \(path): \(error.localizedDescription)", cause: error)
        }
        let known = Set([
            "base_url", "model", "embedding_model", "connect_timeout_s", "timeout_s", "max_retries", "backoff_s",
            "max_backoff_s", "concurrency", "temperature", "max_tokens", "json_schema", "cache_dir", "queue_timeout_s",
            "breaker_failures", "breaker_cooloff_s",
        ])
        if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let unknown = Set(obj.keys).subtracting(known)
            if !unknown.isEmpty {
                throw RecError.invalidArgument(
                    "\(path): unknown key(s) \(unknown.sorted().joined(separator: ", ")); known: "
                        + "\(known.sorted().joined(separator: ", "))"
                )
            }
        }
        do { return try JSONDecoder().decode(LLMConfig.self, from: data) } catch {
            throw RecError.wrapping(error, "\(path) is not a valid LLM config: ", code: .invalidArgument)
        }
    }

    /// The key from `RECFUSE_LLM_API_KEY`, else `OPENAI_API_KEY`.
    public static func apiKeyFromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for name in ["RECFUSE_LLM_API_KEY", "OPENAI_API_KEY"] { if let v = env[name], !v.isEmpty { return v } }
        return nil
    }

    /// Checks ranges; throws INVALID_ARGUMENT naming the field.
    public func validate() throws {
        guard let u = URL(string: baseURL), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil
        else {
            throw RecError.invalidArgument("LLM base URL must be http(s)://host[:port]/path, got '\(baseURL)'")
        }
        guard !model.isEmpty else { throw RecError.invalidArgument("LLM model name is empty") }
        guard connectTimeout > 0, timeout > 0 else { throw RecError.invalidArgument("LLM timeouts must be positive") }
        guard maxRetries >= 0, maxRetries <= 10 else {
            throw RecError.invalidArgument("LLM max_retries must be in 0...10")
        }
        guard backoff >= 0, maxBackoff >= backoff else {
            throw RecError.invalidArgument("LLM backoff must be >= 0 and <= max_backoff")
        }
        guard concurrency >= 1, concurrency <= 256 else {
            throw RecError.invalidArgument("LLM concurrency must be in 1...256")
        }
        guard queueTimeout >= 0, queueTimeout <= 60 else {
            throw RecError.invalidArgument("LLM queue_timeout_s must be in 0...60")
        }
        guard breakerFailures >= 0, breakerCooloff > 0 else {
            throw RecError.invalidArgument("LLM breaker_failures must be >= 0 and breaker_cooloff_s positive")
        }
        guard maxTokens >= 1 else { throw RecError.invalidArgument("LLM max_tokens must be positive") }
    }

    public var description: String {
        "\(model) at \(baseURL) (timeout \(timeout) s, connect \(connectTimeout) s, retries \(maxRetries), "
            + "concurrency \(concurrency), queue \(queueTimeout) s, breaker \(breakerFailures) failures / "
            + "\(breakerCooloff) s, key \(apiKey == nil ? "none" : "set"), cache \(cacheDir ?? "off"))"
    }
}
