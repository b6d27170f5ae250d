import Foundation
import Logging
import RecCore
import RecLLM
import RecNNG
import RecWire
import Synchronization

/// Request counters and latency histograms of one server, rendered in the Prometheus text
/// exposition format (version 0.0.4). Recording a request is a lock and a few array
/// increments: labels are indices into fixed tables, not strings hashed per request.
public final class ServerMetrics: Sendable {
    /// Upper bounds of the latency buckets, in seconds (Prometheus `le`).
    public static let buckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ]
    /// Method labels: the short RPC names, then "unknown" (a name no RPC has) and "none"
    /// (no name), so a client cannot grow the label set.
    static let methods = [
        "Retrieve", "Rank", "Rerank", "Explain", "Health", "Info", "Reload", "Check", "unknown", "none",
    ]
    static let codes = StatusCode.allCases
    /// The door a request came through (the `transport` label).
    public enum Transport: Int, Sendable, CaseIterable {
        case nng, grpc
        var label: String { self == .nng ? "nng" : "grpc" }
    }

    private struct State {
        /// [transport][method][code] → requests.
        var byStatus = [[[UInt64]]](
            repeating: [[UInt64]](
                repeating: [UInt64](repeating: 0, count: ServerMetrics.codes.count),
                count: ServerMetrics.methods.count),
            count: Transport.allCases.count)
        /// [transport][method].
        var latency = [[BucketHistogram]](
            repeating: [BucketHistogram](
                repeating: BucketHistogram(bounds: ServerMetrics.buckets), count: ServerMetrics.methods.count),
            count: Transport.allCases.count)
    }

    private let state = Mutex(State())
    private let inFlight = Atomic<Int>(0)

    public init() {}

    public func begin() { inFlight.add(1, ordering: .relaxed) }

    /// One finished request: `method` as the envelope named it.
    public func end(method: String, code: StatusCode, seconds: Double, transport: Transport = .nng) {
        inFlight.subtract(1, ordering: .relaxed)
        let m = Self.index(method)
        let c = Self.codes.firstIndex(of: code) ?? 0
        let t = transport.rawValue
        state.withLock { s in
            s.byStatus[t][m][c] += 1
            s.latency[t][m].record(seconds)
        }
    }

    /// The label index of a full method name ("/recfuse.v1.Recommender/Rank" → "Rank").
    static func index(_ method: String) -> Int {
        guard !method.isEmpty else { return methods.count - 1 }
        let short =
            method.utf8.lastIndex(of: UInt8(ascii: "/")).map { method[method.index(after: $0)...] } ?? method[...]
        return methods[..<(methods.count - 2)].firstIndex { $0 == short } ?? methods.count - 2
    }

    /// The exposition text; `extra` lines (gauges from the rest of the process) are appended.
    /// Series that have never been recorded are left out.
    public func render(extra: [String] = []) -> String {
        let s = state.withLock { $0 }
        var out =
            "# HELP recfuse_requests_total Requests answered, by method and status code.\n# TYPE "
            + "recfuse_requests_total counter\n"
        let order = Self.methods.indices.sorted { Self.methods[$0] < Self.methods[$1] }
        for t in Transport.allCases {
            for m in order {
                for (c, n) in s.byStatus[t.rawValue][m].enumerated() where n > 0 {
                    out +=
                        "recfuse_requests_total{transport=\"\(t.label)\",method=\"\(Self.methods[m])\","
                        + "code=\"\(Self.codes[c])\"} \(n)\n"
                }
            }
        }
        out +=
            "# HELP recfuse_request_duration_seconds Time from receiving a request to its reply being ready.\n# TYPE "
            + "recfuse_request_duration_seconds histogram\n"
        for t in Transport.allCases {
            for m in order where s.latency[t.rawValue][m].total > 0 {
                for line in s.latency[t.rawValue][m].samples(
                    "recfuse_request_duration_seconds", labels: "transport=\"\(t.label)\",method=\"\(Self.methods[m])\""
                ) {
                    out += line + "\n"
                }
            }
        }
        out += "# HELP recfuse_requests_in_flight Requests being worked on.\n# TYPE recfuse_requests_in_flight gauge\n"
        out += "recfuse_requests_in_flight \(inFlight.load(ordering: .relaxed))\n"
        for line in extra { out += line + "\n" }
        return out
    }
}

extension ServerMetrics {
    /// The served bundle, hot reloads and, with an LLM endpoint, the LLM client's counters and
    /// call durations, as exposition lines (appended to `render`'s).
    public static func serviceLines(_ service: Service, firstLoadedAt: Date) -> [String] {
        let version = service.current.bundleVersion
        let facts = service.bundleFacts
        let reloads = service.reloads
        var out = [
            "# HELP recfuse_bundle_info The bundle served (value 1).", "# TYPE recfuse_bundle_info gauge",
            "recfuse_bundle_info{version=\"\(escapeLabel(version))\"} 1",
            "# HELP recfuse_bundle_loaded_time_seconds When the served bundle was loaded (Unix time).",
            "# TYPE recfuse_bundle_loaded_time_seconds gauge",
            "recfuse_bundle_loaded_time_seconds \(facts.loadedAt.timeIntervalSince1970)",
            "# HELP recfuse_bundle_load_duration_seconds How long loading the served bundle took.",
            "# TYPE recfuse_bundle_load_duration_seconds gauge",
            "recfuse_bundle_load_duration_seconds \(facts.loadSeconds)",
            "# HELP recfuse_reloads_total Hot reloads (SIGHUP or Admin/Reload), by result; a failed one kept the old "
                + "bundle.",
            "# TYPE recfuse_reloads_total counter",
            "recfuse_reloads_total{result=\"ok\"} \(reloads.ok)",
            "recfuse_reloads_total{result=\"failed\"} \(reloads.failed)",
            "# HELP recfuse_start_time_seconds When the server loaded its first bundle (Unix time).",
            "# TYPE recfuse_start_time_seconds gauge",
            "recfuse_start_time_seconds \(firstLoadedAt.timeIntervalSince1970)",
        ]
        let a = service.admission
        out += [
            "# HELP recfuse_requests_in_progress Requests holding an admission place, by class (fast, slow).",
            "# TYPE recfuse_requests_in_progress gauge",
            "recfuse_requests_in_progress{class=\"fast\"} \(a.inProgress(.fast))",
            "recfuse_requests_in_progress{class=\"slow\"} \(a.inProgress(.slow))",
            "# HELP recfuse_requests_in_progress_limit Admission limits (serve --max-fast-requests, "
                + "--max-slow-requests).",
            "# TYPE recfuse_requests_in_progress_limit gauge",
            "recfuse_requests_in_progress_limit{class=\"fast\"} \(a.current.fast)",
            "recfuse_requests_in_progress_limit{class=\"slow\"} \(a.current.slow)",
            "# HELP recfuse_requests_shed_total Requests not worked on as asked: deadline passed when picked up, "
                + "over a limit (RESOURCE_EXHAUSTED), or served without the LLM (degraded).",
            "# TYPE recfuse_requests_shed_total counter",
        ]
        out += [
            "# HELP recfuse_degraded_replies_total Replies served degraded, by reason class (a reply with two reasons "
                + "counts in both).",
            "# TYPE recfuse_degraded_replies_total counter",
        ]
        let degraded = service.degradedReplies
        for d in Degradation.allCases {
            out.append("recfuse_degraded_replies_total{reason=\"\(d.rawValue)\"} \(degraded[d] ?? 0)")
        }
        let shed = a.shed
        for r in Admission.Shed.allCases {
            out.append("recfuse_requests_shed_total{reason=\"\(r.label)\"} \(shed[r] ?? 0)")
        }
        if let llm = service.reranker.llm {
            let s = llm.stats
            out += [
                "# HELP recfuse_llm_breaker_state The LLM endpoint's circuit breaker: 0 closed, 1 open, 2 half-open.",
                "# TYPE recfuse_llm_breaker_state gauge",
                "recfuse_llm_breaker_state \(llm.breaker.state.rawValue)",
                "# TYPE recfuse_llm_breaker_openings_total counter",
                "recfuse_llm_breaker_openings_total \(llm.breaker.openings)",
                "# HELP recfuse_llm_in_flight LLM HTTP transfers in flight (at most the LLM concurrency).",
                "# TYPE recfuse_llm_in_flight gauge", "recfuse_llm_in_flight \(llm.inFlight)",
                "# HELP recfuse_llm_failures_total Failed LLM calls by kind (busy and circuit_open were never sent).",
                "# TYPE recfuse_llm_failures_total counter",
            ]
            for (k, n) in s.errorsByKind.sorted(by: { $0.key < $1.key }) {
                out.append("recfuse_llm_failures_total{kind=\"\(escapeLabel(k))\"} \(n)")
            }
            out += [
                "# HELP recfuse_llm_calls_total LLM calls (answered from the cache or not).",
                "# TYPE recfuse_llm_calls_total counter",
                "recfuse_llm_calls_total \(s.calls)",
                "# TYPE recfuse_llm_errors_total counter", "recfuse_llm_errors_total \(s.errors)",
                "# TYPE recfuse_llm_retries_total counter", "recfuse_llm_retries_total \(s.retries)",
                "# TYPE recfuse_llm_cache_hits_total counter", "recfuse_llm_cache_hits_total \(s.cacheHits)",
                "# TYPE recfuse_llm_tokens_total counter",
                "recfuse_llm_tokens_total{kind=\"prompt\"} \(s.promptTokens)",
                "recfuse_llm_tokens_total{kind=\"completion\"} \(s.completionTokens)",
                "# HELP recfuse_llm_call_duration_seconds LLM calls not answered from the cache, retries included.",
                "# TYPE recfuse_llm_call_duration_seconds histogram",
            ]
            out += s.latency.samples("recfuse_llm_call_duration_seconds")
        }
        return out
    }
}

/// A label value in the Prometheus text format: backslash, double quote and line feed
/// escaped as `\\`, `\"` and `\n`, so no value can end its label or its line.
public func escapeLabel(_ v: String) -> String {
    var out = ""
    out.reserveCapacity(v.utf8.count)
    for c in v.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// `/metrics`, `/healthz` and `/readyz` on libnng's built-in HTTP server (off unless
/// `serve --metrics-listen` is given).
public final class MetricsEndpoint: Sendable {
    public struct Source: Sendable {
        public var metrics: @Sendable () -> String
        /// nil = ready; otherwise why not (503 with the reason).
        public var notReady: @Sendable () -> String?
        public init(metrics: @escaping @Sendable () -> String, notReady: @escaping @Sendable () -> String?) {
            self.metrics = metrics
            self.notReady = notReady
        }
    }

    private let server: NNGHTTPServer

    /// `url`: "http://127.0.0.1:9464".
    public init(url: String, source: Source) throws {
        server = try NNGHTTPServer(url: url)
        try server.get("/metrics") {
            .init(body: source.metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        try server.get("/healthz") { .init(body: "ok\n") }
        try server.get("/readyz") {
            source.notReady().map { .init(status: 503, body: "not ready: \($0)\n") } ?? .init(body: "ready\n")
        }
        try server.start()
    }

    public func stop() { server.stop() }
}

/// The one log line of each request, the same from every door: at debug level (error for
/// INTERNAL), with the method, status, server time and the caller's ids, so a trace id
/// found in one service's logs finds this request's line here.
public enum RequestLog {
    public static func record(
        _ logger: Logger, method: String, code: StatusCode, message: String, requestID: String, traceID: String,
        micros: UInt64, transport: String
    ) {
        let level: Logger.Level = code == .internal ? .error : .debug
        guard logger.logLevel <= level else { return }
        var meta: Logger.Metadata = [
            "method": .string(method), "status": .stringConvertible(code), "micros": .stringConvertible(micros),
            "transport": .string(transport),
        ]
        if !requestID.isEmpty { meta["request_id"] = .string(requestID) }
        if !traceID.isEmpty { meta["trace_id"] = .string(traceID) }
        if code != .ok { meta["error"] = .string(message) }
        logger.log(level: level, code == .ok ? "request" : "request failed", metadata: meta)
    }
}
