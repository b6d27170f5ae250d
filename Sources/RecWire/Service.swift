import CRecShims
import Foundation
import RecCore
import RecData
import RecLLM
import SwiftProtobuf
import Synchronization
import W3CTraceContext

/// The dispatcher: turns one request envelope into one reply envelope by method name.
///
/// Both transports call it with the same protobuf bytes: the NNG server (one call per
/// received message, on a worker thread) and the C ABI (`recfuse_call`). It never throws
/// and never traps on input: whatever arrives, the result is a valid `Reply` whose status
/// says what was wrong. Thread-safe; the served `Recommender` can be swapped atomically
/// (hot reload) while calls are in flight — each call keeps the one it started with.
public final class Service: Sendable {
    public static let version = "0.1.0"

    /// What new calls are served by: the recommender, and the response encoder of its catalogue.
    struct Served: Sendable {
        /// The bundle's own recommender, and the one that serves: the bundle with the store's
        /// writes laid over it (the same object without a store).
        let base: Recommender
        let recommender: Recommender
        let items: ItemListEncoder
        init(base: Recommender, serving r: Recommender, reuse: Served? = nil) {
            self.base = base
            recommender = r
            // The encoder's tables follow the catalogue; feedback alone leaves it as it was.
            items =
                reuse.flatMap { $0.items.catalog === r.catalog ? $0.items : nil } ?? ItemListEncoder(catalog: r.catalog)
        }
    }
    let state: Mutex<Served>
    /// The write store and the state it feeds, once `attachStore` is called.
    let writes = Mutex<Writes?>(nil)
    /// One catalogue rebuild at a time.
    let rebuilding = NSLock()
    /// A `scheduleRefresh` is due.
    let refreshPending = Mutex(false)
    /// Where writes run: low-priority threads, so reads keep the CPU (started on first use).
    var writer: WriteExecutor {
        writerThreads.withLock { w in
            if let w { return w }
            let made = WriteExecutor(priority: writePriority.withLock { $0 })
            w = made
            return made
        }
    }
    private let writerThreads = Mutex<WriteExecutor?>(nil)
    private let writePriority = Mutex(WritePriority.low)

    /// How write threads are scheduled (`serve --write-priority`; `.low` unless set). Set it
    /// before the first write.
    public typealias WritePriority = WriteExecutor.Priority
    public func setWritePriority(_ p: WritePriority) { writePriority.withLock { $0 = p } }
    /// What Admin/Retrain runs (set by the composition root, which knows how to train).
    let retrainer = Mutex<(@Sendable () throws -> RFRetrainResponse)?>(nil)

    /// Enables Admin/Retrain: `run` retrains, swaps when it should, and reports.
    public func configureRetrain(_ run: (@Sendable () throws -> RFRetrainResponse)?) {
        retrainer.withLock { $0 = run }
    }
    private let started = ContinuousClock.now
    /// The fusion stage (Rerank) and LLM explanations; both share one LLM client, if any.
    public let reranker: Reranker
    public let explainer: Explainer
    /// Requests in progress per class, and what was shed (unlimited until configured).
    public let admission = Admission()

    public init(_ recommender: Recommender, llm: LLMClient? = nil, defaultJudge: JudgeKind = .local) {
        state = Mutex(Served(base: recommender, serving: recommender))
        reranker = Reranker(llm: llm, defaultJudge: defaultJudge)
        explainer = Explainer(llm: llm)
    }

    /// Loads a bundle folder for hot reload (the composition root knows how), and the folder
    /// served now. Unset: Reload answers UNIMPLEMENTED.
    public struct Reloader: Sendable {
        public var load: @Sendable (_ dir: String) throws -> (Recommender, BundleFacts)
        public var bundleDir: String
        public init(bundleDir: String, load: @escaping @Sendable (_ dir: String) throws -> (Recommender, BundleFacts)) {
            self.bundleDir = bundleDir
            self.load = load
        }
    }

    private let reloader = Mutex<Reloader?>(nil)
    private let adminToken = Mutex<String?>(nil)
    /// One reload at a time (a second waits; serving never does).
    private let reloading = NSLock()

    /// The bundle folder served now (nil without hot reload).
    public var bundleDir: String? { reloader.withLock { $0?.bundleDir } }

    /// Enables hot reload and, with a token, the Admin RPCs.
    public func configureAdmin(reloader r: Reloader?, token: String?) {
        reloader.withLock { $0 = r }
        adminToken.withLock { $0 = token.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// Loads and validates `dir` (nil = the folder served now), then swaps it in. Calls in
    /// flight finish on the old bundle; if loading fails, the old one keeps serving and the
    /// error says why. Used by SIGHUP and by the Reload RPC.
    @discardableResult
    public func reload(_ dir: String? = nil) throws -> RFReloadResponse {
        guard let r = reloader.withLock({ $0 }) else {
            throw RecError.unimplemented("this server was started without hot reload")
        }
        reloading.lock()
        defer { reloading.unlock() }
        let target = (dir?.isEmpty ?? true) ? r.bundleDir : dir!
        let (rec, facts): (Recommender, BundleFacts)
        do { (rec, facts) = try r.load(target) } catch {
            reloadCounts.withLock { $0.failed += 1 }
            throw RecError.wrapping(error, "reload of \(target) failed, still serving \(current.bundleVersion): ")
        }
        var out = RFReloadResponse()
        out.previousVersion = current.bundleVersion
        setFacts(facts)
        reloadCounts.withLock { $0.ok += 1 }
        let previous = WeakBox(current)
        swap(rec)
        reloader.withLock { $0?.bundleDir = target }
        // The old bundle is freed once its last call finishes (now, if none is in flight; under
        // load, a moment later); then hand its pages back to the system rather than leave them
        // in malloc's arenas, or each reload of a large bundle would raise the resident size.
        Self.trimWhenFreed(previous)
        out.bundleVersion = rec.bundleVersion
        out.loadSeconds = facts.loadSeconds
        return out
    }

    /// Calls `malloc_trim` once `box`'s object has been freed: at once when it already has,
    /// else from a background thread that looks every 50 ms for up to a minute.
    static func trimWhenFreed(_ box: WeakBox<Recommender>) {
        if box.isEmpty {
            _ = rec_malloc_trim()
            return
        }
        DispatchQueue.global(qos: .utility).async {
            for _ in 0..<1200 where !box.isEmpty { usleep(50_000) }
            _ = rec_malloc_trim()
        }
    }

    /// The Admin RPCs' gate: the envelope must carry "authorization: Bearer <token>".
    private func authorise(_ env: RFEnvelope) throws {
        guard let token = adminToken.withLock({ $0 }) else {
            throw RecError(.permissionDenied, "admin calls are disabled: start the server with --admin-token-file")
        }
        let given = env.metadata["authorization"] ?? ""
        // Compare without an early exit, so timing says nothing about the token.
        let a = Array(given.utf8), b = Array("Bearer \(token)".utf8)
        var diff = a.count ^ b.count
        for i in 0..<max(a.count, b.count) { diff |= Int((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)) }
        guard diff == 0 else {
            throw RecError(.permissionDenied, "admin call without the right \"authorization: Bearer <token>\" metadata")
        }
    }

    /// The recommender new calls are served by.
    public var current: Recommender { served.recommender }
    private var served: Served { state.withLock { $0 } }

    /// Replaces the served bundle (its recommender, with the store's writes laid over it);
    /// calls in flight finish on the old one.
    public func swap(_ r: Recommender) {
        rebuilding.lock()
        defer { rebuilding.unlock() }
        let next = served(base: r, reuse: nil)  // the encoder's tables are built before the swap, not by a call
        state.withLock { $0 = next }
    }

    /// What one call came to: the serialized `Reply` plus its status, for logs and metrics.
    public struct Outcome: Sendable {
        public var reply: Data
        public var code: StatusCode
        public var method: String
        public var message: String
        public var requestID = ""
        /// The W3C trace id of the request's `traceparent` (32 hex digits), or "".
        public var traceID = ""
        public var micros: UInt64 = 0
    }

    /// `Outcome` before encoding: what a transport that frames its own replies (gRPC) sends.
    public struct Answer: Sendable {
        public var reply: RFReply
        public var code: StatusCode
        public var method: String
        public var traceID: String
    }

    /// Handles one serialized `Envelope`, returning a serialized `Reply`.
    /// `received` is when the transport got the bytes (deadline_ms counts from it).
    public func handle(_ bytes: Data, received: ContinuousClock.Instant = .now) -> Data {
        handleDetailed(bytes, received: received).reply
    }

    /// `handle`, also reporting the status and method.
    public func handleDetailed(_ bytes: Data, received: ContinuousClock.Instant = .now) -> Outcome {
        let a = answer(
            {
                guard !bytes.isEmpty else {
                    throw RecError.invalidArgument("empty message: expected a recfuse.v1.Envelope")
                }
                do { return try RFEnvelope(serializedBytes: bytes) } catch {
                    throw RecError.wrapping(
                        error, "message is not a recfuse.v1.Envelope (\(bytes.count) bytes): ", code: .invalidArgument)
                }
            }, received: received)
        return Outcome(
            reply: a.reply.encoded(), code: a.code, method: a.method, message: a.reply.status.message,
            requestID: a.reply.requestID, traceID: a.traceID, micros: a.reply.serverMicros)
    }

    /// Handles one decoded envelope (the gRPC door builds it from the HTTP/2 request).
    public func handle(_ envelope: RFEnvelope, received: ContinuousClock.Instant = .now) -> Answer {
        answer({ envelope }, received: received)
    }

    /// The `traceparent` of `metadata` when it is a valid W3C Trace Context header: the header
    /// to echo and its trace id.
    public static func traceParent(_ metadata: [String: String]) -> (header: String, traceID: String)? {
        guard let h = metadata["traceparent"], (try? TraceContext(traceParentHeaderValue: h)) != nil else { return nil }
        let u = Array(h.utf8)
        return (h, String(decoding: u[3..<35], as: UTF8.self).lowercased())
    }

    private func answer(_ envelope: () throws -> RFEnvelope, received: ContinuousClock.Instant) -> Answer {
        let served = self.served
        let rec = served.recommender
        var reply = RFReply()
        reply.bundleVersion = rec.bundleVersion
        var method = ""
        var code = StatusCode.ok
        var traceID = ""
        do {
            let env = try envelope()
            reply.requestID = env.requestID
            method = env.method
            if let t = Self.traceParent(env.metadata) {
                reply.metadata["traceparent"] = t.header
                traceID = t.traceID
            }
            guard !env.method.isEmpty else { throw RecError.invalidArgument("envelope has no method") }
            let deadline = Self.deadline(env, received: received)
            if let late = deadline.instant.map({ ContinuousClock.now - $0 }), late >= .zero {
                // Not worked on: whoever sent it has given up (the time it spent queued in the
                // transport counts when the client sends deadline_unix_ms).
                admission.count(.deadline)
                throw RecError.deadlineExceeded(
                    "deadline passed \(late.microseconds / 1000) ms before the request was picked up (queued behind "
                        + "other requests, or sent with little time left); not worked on")
            }
            if Methods.adminWrites.contains(env.method) { try authorise(env) }
            if env.method == Methods.retrain {
                let _: RFRetrainRequest = try decode(env.payload, env.method)
                guard let run = retrainer.withLock({ $0 }) else {
                    throw RecError.failedPrecondition(
                        "this server does not retrain: start it with --store (and --retrain-every for a schedule)")
                }
                let out = try run()
                reply.bundleVersion = current.bundleVersion
                reply.payload = try out.serializedData()
            } else if env.method == Methods.adminReload {
                try authorise(env)
                let req: RFReloadRequest = try decode(env.payload, env.method)
                guard admission.enter(.slow) else {
                    admission.count(.slowOverloaded)
                    throw admission.overloaded(.slow)
                }
                defer { admission.leave(.slow) }
                let out = try reload(req.bundleDir)
                reply.bundleVersion = out.bundleVersion
                reply.payload = try out.serializedData()
            } else {
                reply.payload = try call(env.method, payload: env.payload, deadline: deadline, served: served)
            }
            reply.status.code = .ok
        } catch let e as RecError {
            reply.status = Self.status(e)
            code = e.code
        } catch {
            reply.status = Self.status(RecError.wrapping(error))
            code = .internal
        }
        reply.serverMicros = UInt64(max(0, (ContinuousClock.now - received).microseconds))
        return Answer(reply: reply, code: code, method: method, traceID: traceID)
    }

    /// Whether the service takes calls: true from start, false once shutdown begins (Health
    /// and grpc.health.v1 then answer NOT_SERVING). Observers hear every change.
    public var isServing: Bool { serving.withLock { $0.on } }
    private let serving = Mutex((on: true, observers: [UInt64: @Sendable (Bool) -> Void](), next: UInt64(0)))

    public func setServing(_ on: Bool) {
        let observers = serving.withLock { s -> [@Sendable (Bool) -> Void] in
            guard s.on != on else { return [] }
            s.on = on
            return Array(s.observers.values)
        }
        for f in observers { f(on) }
    }

    /// Calls `f` on every change of `isServing` until `removeServingObserver` with the token.
    public func observeServing(_ f: @escaping @Sendable (Bool) -> Void) -> UInt64 {
        serving.withLock { s in
            s.next += 1
            s.observers[s.next] = f
            return s.next
        }
    }

    public func removeServingObserver(_ token: UInt64) {
        _ = serving.withLock { $0.observers.removeValue(forKey: token) }
    }

    /// Calls one method with its serialized request; returns the serialized response.
    /// Throws `RecError` (its code is the reply status).
    public func call(_ method: String, payload: Data, deadline: Deadline = .none) throws -> Data {
        try call(method, payload: payload, deadline: deadline, served: served)
    }

    /// Runs `body` holding a place in class `c`, or throws RESOURCE_EXHAUSTED at once when
    /// the class is full.
    private func admitted<T>(_ c: Admission.Class, _ body: () throws -> T) throws -> T {
        guard admission.enter(c) else {
            admission.count(c == .fast ? .overloaded : .slowOverloaded)
            throw admission.overloaded(c)
        }
        defer { admission.leave(c) }
        return try body()
    }

    /// A request that may call the LLM (`slow`): `body` in a slow place; with every slow place
    /// taken, `fallback` (no LLM) in a fast place, marked degraded by `degrade` with why.
    /// Not slow: `body` in a fast place.
    private func slowOrFallback<T>(
        _ slow: Bool, _ body: () throws -> T, fallback: () throws -> T, degrade: (inout T, String) -> Void,
        reason: String
    ) throws -> T {
        guard slow else { return try admitted(.fast, body) }
        if admission.enter(.slow) {
            defer { admission.leave(.slow) }
            return try body()
        }
        admission.count(.degraded)
        var out = try admitted(.fast, fallback)
        degrade(
            &out,
            "\(admission.current.slow) LLM-backed requests already in progress (serve --max-slow-requests): \(reason)")
        return out
    }

    /// grpc.health.v1 Check: the server ("") or one of its services; NOT_FOUND for others.
    public func healthCheck(_ name: String) throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.healthServices.contains(name) else {
            throw RecError(
                .notFound,
                "no service '\(name)' here; health is reported for "
                    + Self.healthServices.map { "'\($0)'" }.joined(separator: ", ")
            )
        }
        var out = Grpc_Health_V1_HealthCheckResponse()
        out.status = isServing ? .serving : .notServing
        return out
    }

    /// What grpc.health.v1 reports on: the whole server (""), and each service it offers.
    public static let healthServices = ["", Methods.service, "recfuse.v1.Admin", Methods.healthService]

    /// Degraded replies since start, by class (a reply degraded for two reasons counts in both).
    public var degradedReplies: [Degradation: Int] {
        let c = degraded.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: Degradation.allCases.enumerated().map { ($1, c[$0]) })
    }
    private let degraded = Mutex([Int](repeating: 0, count: Degradation.allCases.count))

    private func countDegraded(_ kinds: Set<Degradation>) {
        guard !kinds.isEmpty else { return }
        degraded.withLock { c in
            for (n, k) in Degradation.allCases.enumerated() where kinds.contains(k) { c[n] += 1 }
        }
    }

    static func joined(_ first: String, _ rest: String) -> String { rest.isEmpty ? first : first + "; " + rest }

    private func call(_ method: String, payload: Data, deadline: Deadline, served: Served) throws -> Data {
        if method != Methods.health && method != Methods.healthCheck && method != Methods.rerank
            && method != Methods.explain
        {
            return try admitted(.fast) {
                try callAdmitted(method, payload: payload, deadline: deadline, served: served)
            }
        }
        return try callAdmitted(method, payload: payload, deadline: deadline, served: served)
    }

    private func callAdmitted(_ method: String, payload: Data, deadline: Deadline, served: Served) throws -> Data {
        let rec = served.recommender
        switch method {
        case Methods.retrieve:
            let req: RFRetrieveRequest = try decode(payload, method)
            var q = RetrieveQuery(
                user: UserSpec(req.user), engine: req.engine, k: Int(req.k), filters: FilterSpec(req.filters),
                path: RetrievalPath(req.path))
            if case .excludeSeen(let v)? = req.seenPolicy { q.excludeSeen = v }
            let r = try rec.retrieve(q, deadline: deadline)
            countDegraded(r.degradations)
            return try served.items.retrieve(r, bundleVersion: rec.bundleVersion)
        case Methods.rank:
            let req: RFRankRequest = try decode(payload, method)
            var q = RankQuery(
                user: UserSpec(req.user), engine: req.engine, candidates: req.itemIds, k: Int(req.k),
                filters: FilterSpec(req.filters))
            if case .excludeSeen(let v)? = req.seenPolicy { q.excludeSeen = v }
            let r = try rec.rank(q, deadline: deadline)
            countDegraded(r.degradations)
            return try served.items.rank(r, bundleVersion: rec.bundleVersion)
        case Methods.rerank:
            let req: RFRerankRequest = try decode(payload, method)
            let q = try RerankQuery(req)
            let r = try slowOrFallback(
                (q.judge ?? reranker.defaultJudge).usesLLM && reranker.llm != nil,
                { try reranker.rerank(rec, q, deadline: deadline) },
                fallback: {
                    var local = q
                    local.judge = .local
                    return try reranker.rerank(rec, local, deadline: deadline)
                },
                degrade: { (r: inout RerankResult, why) in
                    r.recommendation.degraded = true
                    r.recommendation.degradations.insert(.localJudge)
                    r.recommendation.degradedReason = Self.joined(why, r.recommendation.degradedReason)
                }, reason: "the local judge was used")
            countDegraded(r.recommendation.degradations)
            return try served.items.rerank(
                r.recommendation, judge: r.judge.map(RFJudge.init) ?? .default,
                bundleVersion: rec.bundleVersion)
        case Methods.explain:
            let req: RFExplainRequest = try decode(payload, method)
            let q = ExplainQuery(
                user: UserSpec(req.user), itemID: req.itemID, engine: req.engine,
                style: req.style == .llm ? .llm : .template, maxEvidence: Int(req.maxEvidence))
            let e = try slowOrFallback(
                q.style == .llm && explainer.llm != nil, { try explainer.explain(rec, q, deadline: deadline) },
                fallback: {
                    var t = q
                    t.style = .template
                    return try explainer.explain(rec, t, deadline: deadline)
                },
                degrade: { (x: inout Explanation, why) in
                    x.degraded = true
                    x.degradations.insert(.templateText)
                    x.degradedReason = Self.joined(why, x.degradedReason)
                }, reason: "the template text is returned")
            countDegraded(e.degradations)
            return try RFExplainResponse(e, catalog: rec.catalog, bundleVersion: rec.bundleVersion).serializedData()
        case Methods.health:
            let _: RFHealthRequest = try decode(payload, method)
            var out = RFHealthResponse()
            out.status = isServing ? .serving : .notServing
            out.bundleVersion = rec.bundleVersion
            out.uptimeSeconds = Double((ContinuousClock.now - started).microseconds) / 1e6
            return try out.serializedData()
        case Methods.healthCheck:
            let req: Grpc_Health_V1_HealthCheckRequest = try decode(payload, method)
            return try healthCheck(req.service).serializedData()
        case Methods.info:
            let _: RFInfoRequest = try decode(payload, method)
            return try info(rec).serializedData()
        case Methods.feedback:
            return try writer.run { [self] in try feedback(try decode(payload, method), rec).serializedData() }
        case Methods.upsertUser:
            return try writer.run { [self] in try upsertUser(try decode(payload, method)).serializedData() }
        case Methods.upsertItem:
            return try writer.run { [self] in try upsertItem(try decode(payload, method)).serializedData() }
        case Methods.deleteItem:
            return try writer.run { [self] in try deleteItem(try decode(payload, method), rec).serializedData() }
        default:
            throw RecError.unimplemented(
                "unknown method '\(method)'; this server answers "
                    + (Methods.all + [Methods.healthCheck] + Methods.admin).joined(separator: ", ")
            )
        }
    }

    /// Extra facts about the bundle for `Info` (set by the loader).
    public struct BundleFacts: Sendable {
        public var datasetName = "", fingerprint = "", created = ""
        public var interactions: UInt64 = 0
        public var maxMessageBytes: UInt64 = 0
        /// When the served bundle was loaded (these facts are made right after loading it), and
        /// how long loading took (the loader measures it).
        public var loadedAt = Date()
        public var loadSeconds = 0.0
        public init() {}

        /// The facts a bundle's manifest gives (the loader adds `loadSeconds`).
        public init(_ m: BundleManifest, maxMessageBytes: Int) {
            datasetName = m.dataset.name
            fingerprint = m.dataset.fingerprint
            created = m.created
            interactions = UInt64(m.dataset.interactions)
            self.maxMessageBytes = UInt64(maxMessageBytes)
        }
    }

    private let facts = Mutex(BundleFacts())
    public func setFacts(_ f: BundleFacts) { facts.withLock { $0 = f } }
    public var bundleFacts: BundleFacts { facts.withLock { $0 } }

    /// Reloads since start: succeeded, failed (the old bundle kept serving).
    public var reloads: (ok: Int, failed: Int) { reloadCounts.withLock { $0 } }
    private let reloadCounts = Mutex((ok: 0, failed: 0))

    private func info(_ rec: Recommender) -> RFInfoResponse {
        let f = facts.withLock { $0 }
        var out = RFInfoResponse()
        out.serverVersion = Self.version
        out.bundleVersion = rec.bundleVersion
        out.bundleCreated = f.created
        out.dataset.name = f.datasetName
        out.dataset.fingerprint = f.fingerprint
        out.dataset.users = UInt32(rec.users.ids.count)
        out.dataset.items = UInt32(rec.catalog.count)
        out.dataset.interactions = f.interactions
        out.engines = rec.engines.map { e in
            var i = RFEngineInfo()
            i.name = e.name
            i.description_p = e.summary
            i.methods = ["Retrieve", "Rank", "Rerank", "Explain"]
            i.index = [rec.indexes[e.name]?.summary, rec.screens[e.name]?.summary].compactMap { $0 }.joined(
                separator: "; ")
            return i
        }
        out.defaultEngine = rec.defaultEngine
        out.limits.maxMessageBytes = f.maxMessageBytes
        out.limits.maxK = UInt32(rec.limits.maxK)
        out.limits.maxCandidates = UInt32(rec.limits.maxCandidates)
        out.limits.maxTextBytes = UInt32(rec.limits.maxTextBytes)
        out.limits.maxHistory = UInt32(rec.limits.maxHistory)
        out.limits.annMinItems = UInt32(clamping: rec.limits.annMinItems)
        out.limits.maxFeedbackBatch = UInt32(clamping: rec.limits.maxFeedbackBatch)
        out.methods = Methods.all
        if let w = writes.withLock({ $0 }) {
            let c = w.live.counts
            out.store.kind = w.log.backend.kind
            out.store.sequence = UInt64(max(0, c.sequence))
            out.store.feedbackEvents = UInt64(c.feedbackEvents)
            out.store.newItems = UInt32(rec.newItemCount)
            out.store.deletedItems = UInt32(c.deletedItems)
        }
        return out
    }

    func decode<M: SwiftProtobuf.Message>(_ payload: Data, _ method: String) throws -> M {
        do { return try M(serializedBytes: payload) } catch {
            throw RecError.wrapping(
                error, "payload of \(method) does not decode as \(M.protoMessageName): ", code: .invalidArgument)
        }
    }

    static func deadline(_ env: RFEnvelope, received: ContinuousClock.Instant) -> Deadline {
        var d = Deadline.none
        if env.deadlineMs > 0 { d = Deadline(instant: received.advanced(by: .milliseconds(Int64(env.deadlineMs)))) }
        if env.deadlineUnixMs != 0 {
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            d = d.earliest(
                Deadline(instant: ContinuousClock.now.advanced(by: .milliseconds(env.deadlineUnixMs - nowMs))))
        }
        return d
    }

    static func status(_ e: RecError) -> RFStatus {
        var s = RFStatus()
        s.code = RFCode(rawValue: Int(e.code.rawValue)) ?? .internal
        s.message = e.message
        return s
    }
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}

/// A weak reference that can cross threads.
final class WeakBox<T: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private weak var object: T?
    init(_ object: T) { self.object = object }
    var isEmpty: Bool { lock.withLock { object == nil } }
}
