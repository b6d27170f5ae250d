import Foundation
import RecCore
import RecData
import RecHTTP
import Synchronization

/// What went wrong with an LLM call. `kind` drives fallbacks and metrics; `message` is for
/// people (it never contains the API key).
public struct LLMError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// No connection (refused, DNS, reset) or another transport failure.
        case unavailable
        /// An attempt ran out of time.
        case timeout
        /// The request's deadline left no time for (another) attempt.
        case deadline
        /// An HTTP status other than 2xx after the retries.
        case http
        /// A 2xx whose body is not an OpenAI chat/embeddings response.
        case malformed
        /// The model refused (`message.refusal`).
        case refused
        /// The answer was cut off (`finish_reason: length`).
        case truncated
        /// The answer is not JSON matching the requested schema.
        case schema
        /// Every LLM slot was taken for longer than `queueTimeout`: not queued (the bulkhead).
        case busy
        /// The circuit breaker is open: the endpoint failed repeatedly and is resting.
        case circuitOpen = "circuit_open"
    }

    /// Whether this failure says the endpoint itself is unwell (what the breaker counts).
    public var endpointFailure: Bool {
        switch kind {
        case .unavailable, .timeout, .http: return true
        default: return false
        }
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// One chat message.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
    public static func system(_ s: String) -> ChatMessage { ChatMessage(role: "system", content: s) }
    public static func user(_ s: String) -> ChatMessage { ChatMessage(role: "user", content: s) }
}

/// A JSON schema for `response_format` (OpenAI's nested form:
/// `{"type": "json_schema", "json_schema": {"name", "strict", "schema"}}`, which vLLM and
/// llama.cpp's server also accept).
public struct JSONSchema: Sendable, Equatable {
    public var name: String
    /// The schema object as JSON text.
    public var schema: String
    public init(name: String, schema: String) {
        self.name = name
        self.schema = schema
    }
}

public struct ChatRequest: Sendable {
    public var messages: [ChatMessage]
    public var schema: JSONSchema?
    /// nil = the config's.
    public var maxTokens: Int?
    public init(messages: [ChatMessage], schema: JSONSchema? = nil, maxTokens: Int? = nil) {
        self.messages = messages
        self.schema = schema
        self.maxTokens = maxTokens
    }
}

public struct ChatResult: Sendable {
    /// `choices[0].message.content`.
    public var content: String
    public var promptTokens: Int
    public var completionTokens: Int
    /// Served from the on-disk cache (no HTTP call).
    public var cached: Bool
    /// HTTP attempts made (0 when cached).
    public var attempts: Int
}

/// Counters since the client was created (for logs, `Info` and metrics).
public struct LLMStats: Sendable, Equatable {
    public var calls = 0
    public var httpAttempts = 0
    public var retries = 0
    public var errors = 0
    public var cacheHits = 0
    public var promptTokens = 0
    public var completionTokens = 0
    public var errorsByKind: [String: Int] = [:]
    /// How long calls not answered from the cache took, retries and back-off included.
    public var latency = BucketHistogram(bounds: LLMStats.latencyBounds)
    /// Upper bounds of `latency`'s buckets in seconds, for calls to a remote LLM.
    public static let latencyBounds: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
}

/// An OpenAI-compatible client over libcurl: `/chat/completions` and `/embeddings`.
///
/// - Calls in one `chatAll` run concurrently on the calling thread (libcurl multi), at most
///   `config.concurrency` transfers at once across the process (a shared permit pool).
/// - Every attempt's timeout is capped by the caller's deadline; retries (connection
///   errors, timeouts, 408, 409, 429, 5xx) back off exponentially with jitter, honour
///   `Retry-After`, and stop when the deadline would pass: no call outlives its request.
/// - Successful answers are cached on disk, keyed by endpoint, model and the whole request.
///
/// Thread-safe; one instance per process.
public final class LLMClient: Sendable {
    public let config: LLMConfig
    private let http = HTTPClient()
    private let permits: Permits
    private let cache: ResponseCache?
    private let counters = Mutex(LLMStats())
    /// Opens after `config.breakerFailures` consecutive endpoint failures.
    public let breaker: CircuitBreaker
    private let rng = Mutex(
        SplitMix64(seed: UInt64(UInt32(truncatingIfNeeded: ProcessInfo.processInfo.processIdentifier))))

    public init(config: LLMConfig) throws {
        try config.validate()
        self.config = config
        permits = Permits(config.concurrency)
        breaker = CircuitBreaker(
            threshold: config.breakerFailures, cooloff: .milliseconds(Int64(config.breakerCooloff * 1000)))
        cache = config.cacheDir.map { ResponseCache(URL(fileURLWithPath: $0)) }
    }

    public var stats: LLMStats { counters.withLock { $0 } }

    /// HTTP transfers in flight now (at most `config.concurrency`).
    public var inFlight: Int { config.concurrency - permits.available }

    public func chat(_ request: ChatRequest, deadline: Deadline = .none) -> Result<ChatResult, LLMError> {
        chatAll([request], deadline: deadline)[0]
    }

    /// Runs several chat completions concurrently; results in the same order.
    public func chatAll(_ requests: [ChatRequest], deadline: Deadline = .none) -> [Result<ChatResult, LLMError>] {
        // An open breaker refuses before the request bodies are built (JSON encoding is most of
        // a refused call's cost).
        let outcomes: [Result<ChatResult, LLMError>]
        if let why = breaker.refusal() {
            outcomes = requests.map { _ in .failure(LLMError(.circuitOpen, why)) }
        } else {
            outcomes = run(requests.map { ("chat/completions", chatBody($0)) }, deadline: deadline) {
                (data: Data) throws(LLMError) -> ChatResult in
                try Self.parseChat(data)
            }
        }
        counters.withLock { c in
            c.calls += requests.count
            for o in outcomes {
                switch o {
                case .success(let r):
                    c.promptTokens += r.promptTokens
                    c.completionTokens += r.completionTokens
                    if r.cached { c.cacheHits += 1 }
                case .failure(let e):
                    c.errors += 1
                    c.errorsByKind[e.kind.rawValue, default: 0] += 1
                }
            }
        }
        return outcomes
    }

    /// `/embeddings` for `inputs`; one vector per input, in order.
    public func embeddings(_ inputs: [String], deadline: Deadline = .none) -> Result<[[Float]], LLMError> {
        let model = config.embeddingModel.isEmpty ? config.model : config.embeddingModel
        let r: Result<[[Float]], LLMError>
        if let why = breaker.refusal() {
            r = .failure(LLMError(.circuitOpen, why))
        } else {
            let body = Self.json(["model": model, "input": inputs])
            r =
                run([("embeddings", body)], deadline: deadline) { (data: Data) throws(LLMError) -> [[Float]] in
                    try Self.parseEmbeddings(data, count: inputs.count)
                }[0]
        }
        counters.withLock { c in
            c.calls += 1
            if case .failure(let e) = r {
                c.errors += 1
                c.errorsByKind[e.kind.rawValue, default: 0] += 1
            }
        }
        return r
    }

    // MARK: - request bodies

    func chatBody(_ r: ChatRequest) -> Data {
        var body: [String: Any] = [
            "model": config.model,
            "messages": r.messages.map { ["role": $0.role, "content": $0.content] },
            "temperature": config.temperature,
            "max_tokens": r.maxTokens ?? config.maxTokens,
        ]
        if let s = r.schema, config.jsonSchema,
            let schema = try? JSONSerialization.jsonObject(with: Data(s.schema.utf8))
        {
            body["response_format"] = [
                "type": "json_schema", "json_schema": ["name": s.name, "strict": true, "schema": schema],
            ]
        }
        return Self.json(body)
    }

    static func json(_ obj: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }

    // MARK: - transport, retries, cache

    private struct Pending {
        var index: Int
        var attempt: Int
        var lastError: LLMError?
    }

    /// Posts `bodies` to their paths with retries; `parse` turns a 2xx body into a value
    /// (its result's `cached`/`attempts` are filled in here via `Parsed`).
    private func run<T: CachedValue>(
        _ bodies: [(path: String, body: Data)], deadline: Deadline,
        parse: @escaping (Data) throws(LLMError) -> T
    ) -> [Result<T, LLMError>] {
        var results = [Result<T, LLMError>?](repeating: nil, count: bodies.count)
        // Latency per call not answered from the cache: from here to the end of the wave that
        // settled it (retries and back-off included); calls never attempted wait the whole run.
        let started = ContinuousClock.now
        var took = [Double?](repeating: nil, count: bodies.count)
        var cached = [Bool](repeating: false, count: bodies.count)
        defer {
            let whole = (ContinuousClock.now - started).seconds
            counters.withLock { c in
                for n in bodies.indices where !cached[n] { c.latency.record(took[n] ?? whole) }
            }
        }
        let base = config.baseURL.hasSuffix("/") ? String(config.baseURL.dropLast()) : config.baseURL
        let keys = bodies.map { ResponseCache.key(url: base + "/" + $0.path, body: $0.body) }
        var pending: [Pending] = []
        for n in bodies.indices {
            if let cache, let data = cache.get(keys[n]), let v = try? parse(data) {
                results[n] = .success(v.markedCached())
                cached[n] = true
            } else {
                pending.append(Pending(index: n, attempt: 0))
            }
        }
        // The breaker: open = every call fails at once; half-open = only the first goes (the probe).
        var probe = false
        if !pending.isEmpty {
            switch breaker.admit() {
            case .refuse(let why):
                for p in pending { results[p.index] = .failure(LLMError(.circuitOpen, why)) }
                pending.removeAll()
            case .go(let isProbe):
                probe = isProbe
                if probe {
                    for p in pending.dropFirst() {
                        results[p.index] = .failure(
                            LLMError(.circuitOpen, "LLM endpoint considered down; one probe call is testing it"))
                    }
                    pending = Array(pending.prefix(1))
                }
            }
        }
        let admitted = pending.map(\.index)
        defer { recordOutcomes(admitted, results, probe: probe) }
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if let key = config.apiKey { headers.append(("Authorization", "Bearer \(key)")) }

        while !pending.isEmpty {
            let remaining = Self.remaining(deadline)
            if let remaining, remaining < 0.01 {
                for p in pending { results[p.index] = .failure(Self.outOfTime(p.lastError)) }
                break
            }
            // The bulkhead: wait for a slot at most queueTimeout (and never past the deadline).
            let wait = min(config.queueTimeout, remaining ?? config.queueTimeout)
            let granted = permits.acquire(upTo: pending.count, within: wait)
            if granted == 0 {
                let busy = remaining.map { $0 > config.queueTimeout } ?? true
                for p in pending {
                    results[p.index] = .failure(
                        busy
                            ? LLMError(
                                .busy,
                                "all \(config.concurrency) LLM slots busy for \(config.queueTimeout) s "
                                    + "(--llm-concurrency); not queued")
                            : Self.outOfTime(p.lastError))
                }
                break
            }
            let wave = Array(pending.prefix(granted))
            pending.removeFirst(granted)
            let timeout = min(config.timeout, Self.remaining(deadline) ?? config.timeout)
            let requests = wave.map { p in
                HTTPRequest(
                    method: "POST", url: base + "/" + bodies[p.index].path, headers: headers,
                    body: bodies[p.index].body,
                    connectTimeout: min(config.connectTimeout, timeout), timeout: max(0.001, timeout),
                    maxBodyBytes: 64 << 20)
            }
            let responses = http.sendAll(requests)
            permits.release(granted)
            counters.withLock { $0.httpAttempts += wave.count }

            var retry: [(Pending, Double)] = []
            let waveEnd = (ContinuousClock.now - started).seconds
            for (p, r) in zip(wave, responses) {
                took[p.index] = waveEnd
                switch classify(r, parse: parse) {
                case .success(let v):
                    results[p.index] = .success(v.withAttempts(p.attempt + 1))
                    if let cache, case .success(let resp) = r { cache.put(keys[p.index], resp.body) }
                case .failure(let e, let retryAfter):
                    if let retryAfter, p.attempt < config.maxRetries {
                        retry.append(
                            (
                                Pending(index: p.index, attempt: p.attempt + 1, lastError: e),
                                max(retryAfter, backoff(p.attempt))
                            ))
                    } else {
                        results[p.index] = .failure(e)
                    }
                }
            }
            guard !retry.isEmpty else { continue }
            let delay = retry.map(\.1).max()!
            if let left = Self.remaining(deadline), left < delay + 0.01 {
                for (p, _) in retry {
                    results[p.index] = .failure(
                        LLMError(
                            p.lastError!.kind,
                            "\(p.lastError!.message) (no time left before the deadline to retry after "
                                + "\(String(format: "%.2f", delay)) s)"
                        ))
                }
                continue
            }
            counters.withLock { $0.retries += retry.count }
            Thread.sleep(forTimeInterval: delay)
            pending += retry.map(\.0)
        }
        return results.map { $0 ?? .failure(LLMError(.deadline, "not attempted")) }
    }

    /// Tells the breaker how the admitted calls ended.
    private func recordOutcomes<T>(_ admitted: [Int], _ results: [Result<T, LLMError>?], probe: Bool) {
        guard !admitted.isEmpty else { return }
        var anySuccess = false, failure: LLMError?
        for n in admitted {
            switch results[n] {
            case .success?: anySuccess = true
            case .failure(let e)? where e.endpointFailure: failure = failure ?? e
            default: break
            }
        }
        if probe {
            breaker.record(
                success: anySuccess, countable: failure != nil, probe: true, attempted: anySuccess || failure != nil,
                error: failure?.description ?? "")
            return
        }
        for n in admitted {
            switch results[n] {
            case .success?: breaker.record(success: true, countable: false, probe: false)
            case .failure(let e)? where e.endpointFailure:
                breaker.record(success: false, countable: true, probe: false, error: e.description)
            default: break
            }
        }
    }

    private enum Classified<T> {
        case success(T)
        /// `retryAfter` non-nil = retryable, with the server's minimum delay (0 if none).
        case failure(LLMError, retryAfter: Double?)
    }

    private func classify<T>(_ r: Result<HTTPResponse, HTTPError>, parse: (Data) throws(LLMError) -> T) -> Classified<T>
    {
        switch r {
        case .failure(let e):
            if e.isTimeout {
                return .failure(LLMError(.timeout, e.message), retryAfter: 0)
            }
            return .failure(LLMError(.unavailable, e.message), retryAfter: e.isConnectionError ? 0 : nil)
        case .success(let resp):
            if (200..<300).contains(resp.status) {
                do { return .success(try parse(resp.body)) } catch { return .failure(error, retryAfter: nil) }
            }
            let snippet = String(decoding: resp.body.prefix(300), as: UTF8.self).replacingOccurrences(
                of: "\n", with: " ")
            let e = LLMError(
                .http, "HTTP \(resp.status) from \(resp.status == 429 ? "a rate-limited " : "")endpoint: \(snippet)")
            let retryable = [408, 409, 429].contains(resp.status) || (500..<600).contains(resp.status)
            return .failure(e, retryAfter: retryable ? Self.retryAfter(resp.headers["retry-after"]) ?? 0 : nil)
        }
    }

    /// `backoff · 2^attempt`, ±50 % jitter, capped.
    private func backoff(_ attempt: Int) -> Double {
        let j = rng.withLock { r in 0.5 + Double(r.next() >> 11) / Double(1 << 53) }
        return min(config.maxBackoff, config.backoff * pow(2, Double(attempt)) * j)
    }

    /// `Retry-After`: delta-seconds or an HTTP date.
    static func retryAfter(_ value: String?) -> Double? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        if let s = Double(v) { return max(0, s) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let d = f.date(from: v) else { return nil }
        return max(0, d.timeIntervalSinceNow)
    }

    static func remaining(_ d: Deadline) -> Double? {
        guard let i = d.instant else { return nil }
        return (i - ContinuousClock.now).seconds
    }

    static func outOfTime(_ last: LLMError?) -> LLMError {
        LLMError(.deadline, "the request's deadline passed" + (last.map { " (last attempt: \($0))" } ?? ""))
    }

    // MARK: - parsing

    static func parseChat(_ data: Data) throws(LLMError) -> ChatResult {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LLMError(
                .malformed, "the answer is not a JSON object: \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        guard let choices = obj["choices"] as? [[String: Any]], let first = choices.first,
            let message = first["message"] as? [String: Any]
        else {
            throw LLMError(.malformed, "the answer has no choices[0].message")
        }
        if let refusal = message["refusal"] as? String, !refusal.isEmpty {
            throw LLMError(.refused, "the model refused: \(refusal.prefix(200))")
        }
        guard let content = message["content"] as? String else {
            throw LLMError(.malformed, "choices[0].message.content is missing or not a string")
        }
        if (first["finish_reason"] as? String) == "length" {
            throw LLMError(.truncated, "the answer was cut off at max_tokens")
        }
        let usage = obj["usage"] as? [String: Any]
        return ChatResult(
            content: content, promptTokens: usage?["prompt_tokens"] as? Int ?? 0,
            completionTokens: usage?["completion_tokens"] as? Int ?? 0, cached: false, attempts: 0)
    }

    static func parseEmbeddings(_ data: Data, count: Int) throws(LLMError) -> [[Float]] {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let items = obj["data"] as? [[String: Any]]
        else {
            throw LLMError(.malformed, "the answer is not an embeddings response (no data array)")
        }
        var out = [[Float]?](repeating: nil, count: count)
        for (n, item) in items.enumerated() {
            let i = item["index"] as? Int ?? n
            guard i >= 0, i < count, let v = item["embedding"] as? [Double], !v.isEmpty, v.allSatisfy(\.isFinite) else {
                throw LLMError(.malformed, "data[\(n)] is not a finite embedding for an input")
            }
            out[i] = v.map(Float.init)
        }
        guard out.allSatisfy({ $0 != nil }), Set(out.map { $0!.count }).count == 1 else {
            throw LLMError(.malformed, "expected \(count) embeddings of one dimension, got \(items.count)")
        }
        return out.map { $0! }
    }
}

/// What `run` needs from a parsed value to report cache hits and attempts.
protocol CachedValue {
    func markedCached() -> Self
    func withAttempts(_ n: Int) -> Self
}

extension ChatResult: CachedValue {
    func markedCached() -> ChatResult {
        var c = self
        c.cached = true
        return c
    }
    func withAttempts(_ n: Int) -> ChatResult {
        var c = self
        c.attempts = n
        return c
    }
}

extension Array: CachedValue where Element == [Float] {
    func markedCached() -> Self { self }
    func withAttempts(_ n: Int) -> Self { self }
}

/// A counting semaphore with a timed, partial acquire.
final class Permits: @unchecked Sendable {
    private let cond = NSCondition()
    private var free: Int

    init(_ n: Int) { free = n }

    /// Takes between 1 and `n` permits, waiting up to `within` seconds (nil = forever) for
    /// at least one; 0 when none came in time.
    func acquire(upTo n: Int, within: Double?) -> Int {
        cond.lock()
        defer { cond.unlock() }
        let until = within.map { Date().addingTimeInterval($0) }
        while free == 0 {
            if let until {
                if !cond.wait(until: until) && free == 0 { return 0 }
            } else {
                cond.wait()
            }
        }
        let k = min(n, free)
        free -= k
        return k
    }

    var available: Int {
        cond.lock()
        defer { cond.unlock() }
        return free
    }

    func release(_ n: Int) {
        cond.lock()
        free += n
        cond.broadcast()
        cond.unlock()
    }
}

/// Raw response bodies on disk, one file per request: `<dir>/<ab>/<sha256>.json`.
/// Written atomically (temporary file + rename); unreadable entries count as misses.
final class ResponseCache: Sendable {
    let dir: URL
    init(_ dir: URL) { self.dir = dir }

    static func key(url: String, body: Data) -> String {
        Checksum.sha256(Data(url.utf8) + Data([0x0a]) + body)
    }

    private func path(_ key: String) -> URL {
        dir.appendingPathComponent(String(key.prefix(2))).appendingPathComponent("\(key).json")
    }

    func get(_ key: String) -> Data? { try? Data(contentsOf: path(key)) }

    func put(_ key: String, _ data: Data) {
        let p = path(key)
        let fm = FileManager.default
        try? fm.createDirectory(at: p.deletingLastPathComponent(), withIntermediateDirectories: true)
        let tmp = p.deletingLastPathComponent().appendingPathComponent(".\(key).\(UUID().uuidString).tmp")
        do {
            try data.write(to: tmp)
            if rename(tmp.path, p.path) != 0 { try? fm.removeItem(at: tmp) }
        } catch { try? fm.removeItem(at: tmp) }
    }
}
