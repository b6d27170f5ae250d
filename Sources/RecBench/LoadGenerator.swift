import Dispatch
import Foundation
import Histogram
import RecCore
import RecNNG
import RecWire
import Synchronization

/// `recfuse bench`: N concurrent clients against a server, each with its own REQ socket and
/// one request in flight, then the same load against a bare NNG echo of the same bytes in the
/// same run, so results read as ratios on a shared machine. Stops at `count` requests or
/// after `duration`, whichever comes first; latencies go into an HdrHistogram.
public struct LoadGenerator: Sendable {
    public enum Method: String, CaseIterable, Sendable { case health, rank, retrieve, rerank, explain, feedback }

    public struct Options: Sendable {
        public var urls = ["ipc:///tmp/recfuse.sock"]
        public var method = Method.rank
        public var clients = 1
        public var count = 20_000
        public var duration = 60.0
        /// Requests per client before the clock starts.
        public var warmup = 200
        public var user = "196"
        /// Candidates per Rank/Rerank request (item ids 1, 14, 27, ... of a 1682-item catalogue).
        public var candidates = 100
        /// "" = the server's default.
        public var engine = ""
        /// Each request's deadline, sent both relative (`deadline_ms`) and absolute
        /// (`deadline_unix_ms`, stamped when the request is sent, so time queued counts).
        public var deadlineMs = 10_000
        /// Rerank's judge ("" = the server's default).
        public var judge = ""
        /// Retrieve's k and search path.
        public var k = 10
        public var retrievalPath = RFRetrievalPath.auto
        /// Events per Feedback request (users bench-0 ... bench-999, items 1 ... 1682, no
        /// event ids: every request is recorded anew).
        public var feedbackBatch = 1
        /// Requests per second per client, paced (0: as fast as replies come).
        public var rate = 0.0
        public init() {}
    }

    public struct Result: Sendable {
        public var target: String
        public var requests: Int
        public var errors: Int
        public var seconds: Double
        public var histogram: Histogram<UInt64>
        public var firstError: String?

        public init(
            target: String, requests: Int, errors: Int, seconds: Double, histogram: Histogram<UInt64>,
            firstError: String?
        ) {
            (self.target, self.requests, self.errors, self.seconds) = (target, requests, errors, seconds)
            (self.histogram, self.firstError) = (histogram, firstError)
        }

        public var rate: Double { Double(requests) / seconds }
        /// The `q`th percentile in µs.
        public func p(_ q: Double) -> Double { Double(histogram.valueAtPercentile(q)) / 1000 }
        public var maxMicros: Double { Double(histogram.max) / 1000 }
    }

    public let options: Options
    public init(_ options: Options) throws {
        guard options.clients >= 1, options.count >= 1, options.duration > 0 else {
            throw RecError.invalidArgument("--clients, --count and --duration must be positive")
        }
        self.options = options
    }

    /// The request every client sends, as an envelope.
    public func request() throws -> Data {
        let o = options
        let ids = (0..<max(0, o.candidates)).map { String($0 * 13 % 1682 + 1) }
        var env = RFEnvelope()
        env.deadlineMs = UInt32(max(1, o.deadlineMs))
        var u = RFUser()
        u.id = o.user
        switch o.method {
        case .health:
            env.method = Methods.health
        case .rank:
            env.method = Methods.rank
            var r = RFRankRequest()
            (r.user, r.itemIds, r.engine) = (u, ids, o.engine)
            env.payload = try r.serializedData()
        case .retrieve:
            env.method = Methods.retrieve
            var r = RFRetrieveRequest()
            (r.user, r.k, r.engine, r.path) = (u, UInt32(o.k), o.engine, o.retrievalPath)
            env.payload = try r.serializedData()
        case .rerank:
            env.method = Methods.rerank
            var r = RFRerankRequest()
            r.user = u
            r.candidates = ids.map { id in
                var c = RFCandidate()
                c.itemID = id
                return c
            }
            switch o.judge {
            case "": break
            case "local": r.judge = .local
            case "llm_relevancy": r.judge = .llmRelevancy
            case "llm_pointwise": r.judge = .llmPointwise
            default: throw RecError.invalidArgument("--judge must be local, llm_relevancy or llm_pointwise")
            }
            env.payload = try r.serializedData()
        case .explain:
            env.method = Methods.explain
            var r = RFExplainRequest()
            (r.user, r.itemID) = (u, "50")
            env.payload = try r.serializedData()
        case .feedback:
            return try feedbackRequest(0)
        }
        return try env.serializedData()
    }

    /// Feedback request number `k` (of all clients): events `k·batch ..< (k+1)·batch` of one
    /// sequence that spreads over 1,000 users (bench-0 ... bench-999) and items 1 ... 1682, so
    /// consecutive requests record different (user, item) pairs; no event ids.
    public func feedbackRequest(_ k: Int) throws -> Data {
        let o = options
        var env = RFEnvelope()
        env.deadlineMs = UInt32(max(1, o.deadlineMs))
        env.method = Methods.feedback
        var r = RFFeedbackRequest()
        let batch = max(1, o.feedbackBatch)
        r.events = (0..<batch).map { n in
            let g = k * batch + n
            var e = RFFeedbackEvent()
            (e.userID, e.itemID, e.rating) = (
                "bench-\(g % 1000)", String((g / 1000 * 7 + g) % 1682 + 1), Float(1 + g % 5)
            )
            e.eventType = "rating"
            return e
        }
        env.payload = try r.serializedData()
        return try env.serializedData()
    }

    /// `bytes` with the absolute deadline `deadlineMs` from now appended: a protobuf field
    /// appended to a message is read as if it had been encoded with it.
    static func stamped(_ bytes: Data, deadlineMs: Int) -> Data {
        var e = RFEnvelope()
        e.deadlineUnixMs = Int64(Date().timeIntervalSince1970 * 1000) + Int64(deadlineMs)
        return bytes + ((try? e.serializedData()) ?? Data())
    }

    /// Runs the load against `urls`; `checkReplies` decodes each reply and counts non-OK ones.
    public func run(_ target: String, urls: [String], bytes: Data, checkReplies: Bool) throws -> Result {
        let o = options
        let issued = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
        let requesters = try (0..<o.clients).map { _ in
            let s = try NNGSocket(.req)
            try s.setTimeouts(milliseconds: Int32(clamping: max(1, o.deadlineMs) + 1_000))
            try s.setMaxMessageBytes(64 << 20)
            for u in urls { try s.dial(u) }
            return s
        }
        for r in requesters { for _ in 0..<o.warmup { _ = try r.call(bytes) } }
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(o.duration * 1000))
        // One OS thread per client (they block on the network, so cores are not the limit).
        let perClient = Mutex<[[UInt64]]>(Array(repeating: [], count: o.clients))
        let done = DispatchGroup()
        for (n, requester) in requesters.enumerated() {
            done.enter()
            Thread {
                var lat: [UInt64] = []
                lat.reserveCapacity(o.count / o.clients + 1)
                var next = ContinuousClock.now
                let gap = o.rate > 0 ? Duration.nanoseconds(Int64(1e9 / o.rate)) : .zero
                while true {
                    let k = issued.add(1, ordering: .relaxed).oldValue
                    guard k < o.count && ContinuousClock.now < end else { break }
                    if o.rate > 0 {
                        // Paced: one request per gap, on schedule (a late one is not made up twice).
                        next = max(next + gap, ContinuousClock.now - gap)
                        let wait = next - ContinuousClock.now
                        if wait > .zero {
                            Thread.sleep(
                                forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds)
                                    / 1e18)
                        }
                    }
                    // Feedback varies per request (each records new pairs; built before the clock
                    // starts); the rest repeat. The echo's run (checkReplies false) sends the bytes.
                    let body = o.method == .feedback && checkReplies ? (try? feedbackRequest(k + 1)) ?? bytes : bytes
                    let t0 = ContinuousClock.now
                    do {
                        let reply = try requester.call(Self.stamped(body, deadlineMs: o.deadlineMs))
                        let dt = ContinuousClock.now - t0
                        lat.append(
                            UInt64(
                                max(
                                    1, dt.components.seconds * 1_000_000_000 + dt.components.attoseconds / 1_000_000_000
                                )))
                        if checkReplies {
                            let r = try RFReply(serializedBytes: reply)
                            if r.status.code != .ok {
                                errors.add(1, ordering: .relaxed)
                                firstError.withLock { $0 = $0 ?? "\(r.status.code): \(r.status.message)" }
                            }
                        }
                    } catch {
                        errors.add(1, ordering: .relaxed)
                        firstError.withLock { $0 = $0 ?? "\(error)" }
                    }
                }
                perClient.withLock { $0[n] = lat }
                done.leave()
            }.start()
        }
        done.wait()
        let seconds = (ContinuousClock.now - start).seconds
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for lat in perClient.withLock({ $0 }) { for v in lat { _ = h.record(v) } }
        return Result(
            target: target, requests: Int(h.totalCount), errors: errors.load(ordering: .relaxed), seconds: seconds,
            histogram: h, firstError: firstError.withLock { $0 })
    }

    /// The server's run, then (with `echo`) the echo's in a child process started with
    /// `executable echo` (see `EchoProcess`).
    /// `extraTarget` (the gRPC run) goes between the server's NNG run and the echo's.
    public func runWithBaseline(
        echo: Bool, executable: String? = nil, skipNNG: Bool = false, extraTarget: (() throws -> Result)? = nil
    ) throws -> [Result] {
        let bytes = try request()
        var results = skipNNG ? [] : [try run("recfuse", urls: options.urls, bytes: bytes, checkReplies: true)]
        if let extra = extraTarget { results.append(try extra()) }
        if echo {
            let child = try EchoProcess(
                url: "ipc:///tmp/rf-bench-echo-\(getpid()).sock", contexts: max(2, options.clients),
                executable: executable)
            defer { child.stop() }
            results.append(try run("nng echo", urls: [child.url], bytes: bytes, checkReplies: false))
        }
        return results
    }

    /// One JSON object per result.
    public func json(_ results: [Result], requestBytes: Int) throws -> [String] {
        try results.map { r in
            let o: [String: Any] = [
                "target": r.target, "method": options.method.rawValue, "clients": options.clients,
                "requests": r.requests,
                "errors": r.errors, "seconds": r.seconds, "requests_per_second": r.rate, "p50_us": r.p(50),
                "p90_us": r.p(90),
                "p99_us": r.p(99), "p999_us": r.p(99.9), "max_us": r.maxMicros, "request_bytes": requestBytes,
            ]
            return String(
                decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    /// The terminal table, with the server/echo ratios.
    public func table(_ results: [Result], requestBytes: Int) -> String {
        var out =
            "\(options.method.rawValue), \(requestBytes)-byte requests, \(options.clients) client(s), one request in "
            + "flight each; latency in µs\n"
        out += "target        requests  errors      req/s      p50      p90      p99    p99.9      max\n"
        for r in results {
            out += String(
                format: "%-12@ %9d %7d %10.0f %8.1f %8.1f %8.1f %8.1f %8.1f\n", r.target as NSString, r.requests,
                r.errors,
                r.rate, r.p(50), r.p(90), r.p(99), r.p(99.9), r.maxMicros)
        }
        if results.count >= 2, let e = results.last, e.target == "nng echo" {
            for s in results.dropLast() {
                out += String(
                    format: "ratio      %@: throughput %.2fx of the echo; p50 %.2fx, p99 %.2fx\n", s.target as NSString,
                    s.rate / e.rate, s.p(50) / e.p(50), s.p(99) / e.p(99))
            }
        }
        for r in results.dropLast(results.count >= 2 ? 1 : 0) {
            if let e = r.firstError { out += "first error (\(r.target)): \(e)\n" }
        }
        return out
    }
}
