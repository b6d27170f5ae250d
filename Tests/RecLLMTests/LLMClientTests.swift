import Foundation
import RecCore
import RecTestSupport
import Testing

@testable import RecLLM

/// Every path goes through the real libcurl client and a real HTTP server on loopback
/// (`fake_openai.py`), one server per suite.
@Suite(.serialized) struct LLMClientTests {
    let server: ScriptedLLMServer

    init() throws { server = try ScriptedLLMServer(slowSeconds: 3) }

    func client(_ model: String, _ edit: (inout LLMConfig) -> Void = { _ in }) throws -> LLMClient {
        try server.client(model, edit)
    }

    static let relevancy = ChatRequest(
        messages: Prompts.relevancy(
            profile: "Liked: A.", preference: "",
            candidates: ["Film 1 (1990). Genres: Comedy.", "Film 2 (1991). Genres: Horror."]),
        schema: Prompts.relevancySchema)

    @Test func normalAnswerParsesAndSendsTheNestedSchemaAndKey() throws {
        let llm = try client("normal") { $0.apiKey = "sk-test-secret" }
        let r = try llm.chat(Self.relevancy).get()
        #expect(try Prompts.parseRelevancy(r.content, count: 2) == [90, 10])
        #expect(r.promptTokens == 100 && r.completionTokens == 20 && r.attempts == 1 && !r.cached)
        let stats = try server.stats()
        let headers = stats["last_headers"] as? [String: String] ?? [:]
        #expect(headers["Authorization"] == "Bearer sk-test-secret")
        let body = stats["last_body"] as? [String: Any] ?? [:]
        let rf = body["response_format"] as? [String: Any]
        #expect(rf?["type"] as? String == "json_schema")
        #expect((rf?["json_schema"] as? [String: Any])?["name"] as? String == "relevancy_scores")
        #expect(llm.stats.promptTokens == 100 && llm.stats.calls == 1)
        #expect(!llm.config.description.contains("sk-test-secret"))
    }

    @Test func rateLimitedThenSucceedsAfterARetry() throws {
        let llm = try client("flaky-429")
        let r = try llm.chat(Self.relevancy).get()
        #expect(r.attempts == 2)
        #expect(llm.stats.retries == 1)
        #expect(try server.requests("flaky-429") == 2)
    }

    @Test func serverErrorIsRetriedThenSucceeds() throws {
        let r = try client("flaky-500").chat(Self.relevancy).get()
        #expect(r.attempts == 2)
    }

    @Test func persistentServerErrorStopsAfterTheRetries() throws {
        let llm = try client("error-500") { $0.maxRetries = 2 }
        let before = try server.requests("error-500")
        guard case .failure(let e) = llm.chat(Self.relevancy) else {
            Issue.record("expected a failure")
            return
        }
        #expect(e.kind == .http && e.message.contains("HTTP 500"))
        #expect(try server.requests("error-500") - before == 3)
        #expect(llm.stats.errorsByKind["http"] == 1)
    }

    @Test func malformedRefusedTruncatedAndWrongSchemaAreDistinctErrors() throws {
        let before = try server.requests("malformed")
        guard case .failure(let m) = try client("malformed").chat(Self.relevancy) else {
            Issue.record("malformed passed")
            return
        }
        #expect(m.kind == .malformed)
        #expect(try server.requests("malformed") - before == 1)  // garbage is not retried
        guard case .failure(let r) = try client("refuse").chat(Self.relevancy) else {
            Issue.record("refusal passed")
            return
        }
        #expect(r.kind == .refused && r.message.contains("cannot help"))
        guard case .failure(let l) = try client("length").chat(Self.relevancy) else {
            Issue.record("cut-off passed")
            return
        }
        #expect(l.kind == .truncated)
        guard case .failure(let t) = try client("truncated", { $0.maxRetries = 0 }).chat(Self.relevancy) else {
            Issue.record("truncated body passed")
            return
        }
        #expect(t.kind == .unavailable)
        // Valid chat completion, wrong JSON inside: the transport succeeds, the parser refuses it.
        let w = try client("wrong-schema").chat(Self.relevancy).get()
        #expect(throws: LLMError.self) { try Prompts.parseRelevancy(w.content, count: 2) }
    }

    @Test func connectionRefusedIsUnavailable() throws {
        var c = LLMConfig(baseURL: "http://127.0.0.1:1/v1", model: "normal")
        c.maxRetries = 1
        c.backoff = 0.01
        let llm = try LLMClient(config: c)
        guard case .failure(let e) = llm.chat(Self.relevancy) else {
            Issue.record("expected a failure")
            return
        }
        #expect(e.kind == .unavailable)
        #expect(llm.stats.httpAttempts == 2)
    }

    @Test func aSlowAnswerIsCutOffAtTheDeadline() throws {
        let llm = try client("slow")
        guard case .failure(let e) = llm.chat(Self.relevancy, deadline: .after(.milliseconds(400))) else {
            Issue.record("a 3 s answer came back within a 0.4 s deadline")
            return
        }
        #expect(e.kind == .timeout || e.kind == .deadline)
        // An expired deadline makes no HTTP call at all.
        let before = llm.stats.httpAttempts
        guard case .failure(let d) = llm.chat(Self.relevancy, deadline: .after(.zero)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(d.kind == .deadline && llm.stats.httpAttempts == before)
    }

    @Test func answersAreCachedOnDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-llm-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let llm = try client("normal") { $0.cacheDir = dir.path }
        let req = ChatRequest(
            messages: [.user("cache me \(UUID().uuidString)")] + Self.relevancy.messages,
            schema: Prompts.relevancySchema)
        let before = try server.requests("normal")
        let a = try llm.chat(req).get(), b = try llm.chat(req).get()
        #expect(!a.cached && b.cached && a.content == b.content)
        #expect(try server.requests("normal") - before == 1)
        #expect(llm.stats.cacheHits == 1)
        // Only the call that went out is in the latency histogram; its buckets add up.
        let h = llm.stats.latency
        #expect(h.total == 1 && h.counts.reduce(0, +) <= h.total && h.sum > 0)
        #expect(h.samples("x").last == "x_count 1")
        // A second client on the same folder (a restarted server) hits the cache too.
        #expect(try client("normal") { $0.cacheDir = dir.path }.chat(req).get().cached)
    }

    @Test func manyCallsRunConcurrentlyUnderTheLimit() throws {
        let llm = try client("normal") { $0.concurrency = 2 }
        let reqs = (0..<9).map { n in
            ChatRequest(
                messages: Prompts.relevancy(profile: "p\(n)", preference: "", candidates: ["A Comedy", "B"]),
                schema: Prompts.relevancySchema)
        }
        let rs = llm.chatAll(reqs)
        #expect(rs.count == 9)
        for r in rs { #expect(try Prompts.parseRelevancy(try r.get().content, count: 2) == [90, 10]) }
    }

    @Test func embeddings() throws {
        let v = try client("normal").embeddings(["a", "b", "c"]).get()
        #expect(v.count == 3 && v.allSatisfy { $0.count == 8 })
        #expect(v[0] != v[1])
    }

    @Test func retryAfterAndConfig() throws {
        #expect(LLMClient.retryAfter("2") == 2)
        #expect(LLMClient.retryAfter("garbage") == nil)
        let future = Date().addingTimeInterval(30)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let d = LLMClient.retryAfter(f.string(from: future)) ?? -1
        #expect(d > 20 && d <= 31)

        #expect(LLMConfig.apiKeyFromEnvironment(["OPENAI_API_KEY": "b", "RECFUSE_LLM_API_KEY": "a"]) == "a")
        #expect(LLMConfig.apiKeyFromEnvironment(["OPENAI_API_KEY": "b"]) == "b")
        #expect(LLMConfig.apiKeyFromEnvironment([:]) == nil)
        #expect(throws: RecError.self) { try LLMClient(config: LLMConfig(baseURL: "ftp://x", model: "m")) }
        #expect(throws: RecError.self) { try LLMClient(config: LLMConfig(baseURL: "http://x/v1", model: "")) }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-llm-cfg-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_s": 3, "max_retries": 1}"#.utf8).write(
            to: dir)
        let c = try LLMConfig.load(dir.path)
        #expect(c.timeout == 3 && c.maxRetries == 1 && c.model == "m")
        try Data(#"{"base_url": "http://127.0.0.1:9/v1", "model": "m", "timout_s": 3}"#.utf8).write(to: dir)
        #expect { try LLMConfig.load(dir.path) } throws: { "\($0)".contains("timout_s") }
    }
}

extension ScriptedLLMServer {
    /// A client of this server for `model`, with short back-offs and a 10 s attempt timeout,
    /// then `edit`.
    func client(_ model: String, _ edit: (inout LLMConfig) -> Void = { _ in }) throws -> LLMClient {
        var c = LLMConfig(baseURL: baseURL, model: model)
        c.backoff = 0.01
        c.maxBackoff = 0.05
        c.timeout = 10
        edit(&c)
        return try LLMClient(config: c)
    }
}
