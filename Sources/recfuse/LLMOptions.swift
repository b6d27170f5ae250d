import ArgumentParser
import Foundation
import RecCore
import RecLLM

/// The OpenAI-compatible endpoint, for `serve`, `profiles --llm` and `eval --rerank-judge`.
/// A config file (`--llm-config`, JSON) gives the base, flags override it; the API key is
/// read from RECFUSE_LLM_API_KEY or OPENAI_API_KEY only.
struct LLMOptions: ParsableArguments {
    @Option(
        help:
            """
            JSON file: base_url, model, timeout_s, connect_timeout_s, max_retries, backoff_s, concurrency, \
            queue_timeout_s, breaker_failures, breaker_cooloff_s, cache_dir, ...
            """
    )
    var llmConfig: String?
    @Option(
        help: "OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (enables the LLM judges and LLM explanations)."
    )
    var llmBaseUrl: String?
    @Option(help: "Model name sent to the endpoint.") var llmModel: String?
    @Option(help: "Seconds per LLM attempt (capped by each request's deadline).") var llmTimeout: Double?
    @Option(help: "Seconds to connect to the LLM endpoint.") var llmConnectTimeout: Double?
    @Option(help: "Retries on connection errors, 408, 409, 429 and 5xx.") var llmRetries: Int?
    @Option(help: "LLM HTTP calls in flight at most (the LLM's bulkhead; default 8).") var llmConcurrency: Int?
    @Option(help: "Seconds a call may wait for a free LLM slot before falling back to the local judge (default 0.05).")
    var llmQueueTimeout: Double?
    @Option(help: "Consecutive LLM failures that open the circuit breaker (default 5; 0 = none).")
    var llmBreakerFailures: Int?
    @Option(help: "Seconds the breaker stays open before one probe call is let through (default 30).")
    var llmBreakerCooloff: Double?
    @Option(help: "Folder for the on-disk LLM response cache (default: off).") var llmCacheDir: String?
    @Flag(help: "Do not send response_format (answers are still validated).") var llmNoJsonSchema = false

    /// The client, or nil when no endpoint is configured.
    func client() throws -> LLMClient? {
        var c: LLMConfig
        if let llmConfig {
            c = try LLMConfig.load(llmConfig)
        } else if let llmBaseUrl {
            c = LLMConfig(baseURL: llmBaseUrl, model: llmModel ?? "gpt-4o-mini")
        } else {
            return nil
        }
        if let llmBaseUrl { c.baseURL = llmBaseUrl }
        if let llmModel { c.model = llmModel }
        if let llmTimeout { c.timeout = llmTimeout }
        if let llmConnectTimeout { c.connectTimeout = llmConnectTimeout }
        if let llmRetries { c.maxRetries = llmRetries }
        if let llmConcurrency { c.concurrency = llmConcurrency }
        if let llmQueueTimeout { c.queueTimeout = llmQueueTimeout }
        if let llmBreakerFailures { c.breakerFailures = llmBreakerFailures }
        if let llmBreakerCooloff { c.breakerCooloff = llmBreakerCooloff }
        if let llmCacheDir { c.cacheDir = llmCacheDir }
        if llmNoJsonSchema { c.jsonSchema = false }
        c.apiKey = LLMConfig.apiKeyFromEnvironment()
        return try LLMClient(config: c)
    }
}
