import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecEngines
import RecGRPC
import RecLLM
import RecMath
import RecServer
import RecStore
import RecWire

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a bundle over NNG (REQ/REP, protobuf envelopes) until SIGINT/SIGTERM.")
    @Option(help: "Model bundle folder.") var bundle: String = "bundles/default"
    @Option(help: "URL to listen on, repeatable: ipc:///path, tcp://127.0.0.1:7878.") var listen: [String] = []
    @Option(
        help: """
            Also serve HTTP/2 gRPC on HOST:PORT (e.g. 127.0.0.1:50051): recfuse.v1.Recommender, recfuse.v1.Admin and \
            grpc.health.v1.Health, with the same limits, admin token and --tls-* certificates. Off by default.
            """)
    var grpcListen: String?
    @Option(
        help: """
            NNG contexts, each served by its own thread: requests received at once. Keep it above \
            --max-fast-requests + --max-slow-requests, so that a request over a limit is answered at once rather \
            than queued inside NNG.
            """)
    var contexts: Int = 64
    @Option(
        help: """
            Fast requests (Info, Retrieve, Rank, template Explain, local-judge Rerank) in progress at most; more are \
            answered at once with RESOURCE_EXHAUSTED. Health is never limited.
            """)
    var maxFastRequests: Int = 48
    @Option(
        help: """
            Requests that may call the LLM (LLM-judged Rerank, LLM Explain) in progress at most; more are served \
            with the local judge or the template, marked degraded.
            """)
    var maxSlowRequests: Int = 8
    @Option(help: "Largest request accepted (NNG_OPT_RECVMAXSZ); NNG drops larger ones and their connection.")
    var maxMessageBytes: Int = 4 << 20
    @Option(help: "Largest k a request may ask for.") var maxK: Int = 10_000
    @Option(help: "Most candidates a Rank request may carry.") var maxCandidates: Int = 10_000
    @Option(help: "Longest history a request may carry inline.") var maxHistory: Int = 10_000
    @Option(help: "Longest free text (bytes).") var maxTextBytes: Int = 16_384
    @Option(
        help: """
            Catalogue size from which Retrieve uses an engine's approximate (HNSW) index by default; requests \
            may still ask for either path.
            """)
    var annMinItems: Int = Limits().annMinItems
    @Option(
        help: """
            Catalogue size from which every dot-product engine gets an int8 score screen at load (a quarter of the \
            bytes per exact Retrieve, the same replies); -1: never.
            """)
    var screenMinItems: Int = Limits().screenMinItems
    @Option(help: "HNSW search breadth (ef); 0: the one recorded in the bundle.") var hnswEfSearch: Int = 0
    @Option(help: "Folder holding sentence-encoder models, for text engines.") var modelsDir: String = "models"
    @Option(help: "The engine requests without one are served by (default: the bundle's).") var defaultEngine: String?
    @Option(help: "Rerank's judge when a request leaves it unset: local, llm_relevancy, llm_pointwise.")
    var defaultJudge: String = "local"
    @Option(
        help:
            """
            OpenBLAS threads per product. 1 (default) lets concurrent requests use the cores; more helps a lone \
            request a little (Rank 100 candidates, one client: p50 194 vs 235 µs) but halves throughput under \
            concurrency (16 clients: 4.9k vs 10.0k req/s).
            """
    )
    var blasThreads: Int = 1
    @Option(
        help:
            """
            Serve Prometheus /metrics, /healthz and /readyz on this URL (libnng's HTTP server), e.g. \
            http://127.0.0.1:9464. Off by default.
            """
    )
    var metricsListen: String?
    @Option(help: "PEM certificate for tls+tcp:// listeners and the gRPC port.") var tlsCert: String?
    @Option(help: "PEM private key for tls+tcp:// listeners and the gRPC port.") var tlsKey: String?
    @Option(help: "PEM CA chain: require client certificates signed by it (mutual TLS).") var tlsClientCa: String?
    @Option(
        help:
            """
            File holding the admin token: enables the Admin RPCs (Reload) for envelopes with metadata \
            "authorization: Bearer <token>".
            """
    )
    var adminTokenFile: String?
    @Option(
        help:
            """
            Record writes (Feedback, UpsertUser, UpsertItem, DeleteItem) in this store and serve them: \
            sqlite:PATH (or a PATH ending .sqlite or .db: the embedded database, WAL mode) or postgres://... \
            Without it the server is read-only and writes fail with FAILED_PRECONDITION.
            """
    )
    var store: String?
    @Option(help: "Seconds between looks at a shared (PostgreSQL) store for other replicas' writes.")
    var storePoll: Double = 0.2
    @Option(
        help: """
            With --store: retrain on this schedule ("30m", "6h", "1d"): a new bundle from the served bundle's \
            dataset plus the recorded writes, in a child process at lowered priority, swapped in when it is \
            not worse on the most recent feedback. Admin/Retrain runs one on demand.
            """)
    var retrainEvery: String?
    @Option(help: "Folder for retrained bundles (default: beside --bundle, <bundle>.retrained).")
    var retrainDir: String?
    @Option(help: "Share of the recorded feedback (the most recent) a retrain is judged on.")
    var retrainHoldout: Double = 0.1
    @Option(help: "How much lower (absolute NDCG@10) a retrained bundle may score and still be swapped in.")
    var retrainTolerance: Double = 0.01
    @Option(help: "Fewest held-out users a retrain is judged on; with fewer it is not swapped in.")
    var retrainMinUsers: Int = 5
    @Option(
        help: """
            CPU priority of the threads writes run on: idle (SCHED_IDLE: reads' tail is unaffected, but \
            writes wait while reads keep every core busy), low (nice 19), normal.
            """)
    var writePriority: String = "idle"
    @Option(help: "Most events one Feedback request may carry.") var maxFeedbackBatch: Int = Limits().maxFeedbackBatch
    @OptionGroup var llm: LLMOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let log = global.bootstrap()
        do {
            guard !listen.isEmpty else { throw RecError.invalidArgument("give at least one --listen URL") }
            var limits = Limits()
            limits.maxK = maxK
            limits.maxCandidates = maxCandidates
            limits.maxHistory = maxHistory
            limits.maxTextBytes = maxTextBytes
            guard maxFeedbackBatch >= 1 else { throw RecError.invalidArgument("--max-feedback-batch must be >= 1") }
            limits.maxFeedbackBatch = maxFeedbackBatch
            guard annMinItems >= 0, (0...100_000).contains(hnswEfSearch) else {
                throw RecError.invalidArgument("--ann-min-items must be >= 0 and --hnsw-ef-search in 0...100000")
            }
            limits.annMinItems = annMinItems
            guard screenMinItems >= -1 else { throw RecError.invalidArgument("--screen-min-items must be >= -1") }
            limits.screenMinItems = screenMinItems < 0 ? Int.max : screenMinItems
            BLAS.setThreads(blasThreads)
            // One loader for start-up and hot reload (SIGHUP, Admin/Reload): the same limits and models.
            let (modelsDir, maxMessageBytes, fixedLimits, defaultEngine, efSearch) = (
                modelsDir, maxMessageBytes, limits, defaultEngine, hnswEfSearch
            )
            let load: @Sendable (String) throws -> (Recommender, Service.BundleFacts) = { dir in
                let t0 = ContinuousClock.now
                let (r, m) = try Bundles.load(
                    URL(fileURLWithPath: dir), limits: fixedLimits, modelsDir: URL(fileURLWithPath: modelsDir),
                    defaultEngine: defaultEngine, efSearch: efSearch, log: { log.warning("\($0)") },
                    progress: { log.info("\($0)") })
                var facts = Service.BundleFacts(m, maxMessageBytes: maxMessageBytes)
                facts.loadSeconds = (ContinuousClock.now - t0).seconds
                return (r, facts)
            }
            let (rec, facts) = try load(bundle)
            log.info(
                """
                loaded bundle \(rec.bundleVersion) in \(String(format: "%.2f", facts.loadSeconds)) s: engines \
                \(rec.engines.map(\.name).joined(separator: ", ")), default \(rec.defaultEngine)
                """
            )
            guard let judge = JudgeKind(rawValue: defaultJudge) else {
                throw RecError.invalidArgument(
                    "--default-judge must be one of \(JudgeKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let client = try llm.client()
            if let client { log.info("LLM endpoint: \(client.config)") }
            log.info("\(BLAS.kernelsDescription)")
            let service = Service(rec, llm: client, defaultJudge: judge)
            guard maxFastRequests >= 1, maxSlowRequests >= 0 else {
                throw RecError.invalidArgument("--max-fast-requests must be >= 1 and --max-slow-requests >= 0")
            }
            service.admission.configure(.init(fast: maxFastRequests, slow: maxSlowRequests))
            if contexts <= maxFastRequests + maxSlowRequests {
                log.warning(
                    """
                    --contexts \(contexts) is not above --max-fast-requests + --max-slow-requests \
                    (\(maxFastRequests + maxSlowRequests)): with every context busy, new requests wait inside NNG \
                    instead of being answered at once
                    """)
            }
            service.setFacts(facts)
            if store == nil && retrainEvery != nil {
                throw RecError.invalidArgument("--retrain-every needs --store (it trains on the recorded writes)")
            }
            guard let priority = Service.WritePriority(rawValue: writePriority) else {
                throw RecError.invalidArgument("--write-priority must be idle, low or normal")
            }
            if let store {
                service.setWritePriority(priority)
                let t0 = ContinuousClock.now
                let backend = try StoreURL.open(store)
                let replayed = try service.attachStore(backend)
                log.info(
                    """
                    store \(backend.kind) \(store): \(replayed) events replayed in \
                    \(String(format: "%.2f", (ContinuousClock.now - t0).seconds)) s
                    """)
                let retrainer = ScheduledRetrain(
                    service: service,
                    options: .init(
                        store: store, modelsDir: modelsDir,
                        folder: retrainDir ?? (bundle.hasSuffix("/") ? String(bundle.dropLast()) : bundle)
                            + ".retrained",
                        holdoutFraction: retrainHoldout, tolerance: retrainTolerance, minHoldoutUsers: retrainMinUsers),
                    log: log)
                service.configureRetrain { try retrainer.run() }
                if let retrainEvery {
                    let every = try ScheduledRetrain.seconds(retrainEvery)
                    retrainer.schedule(every: every)
                    log.info("retraining every \(retrainEvery)")
                }
                if backend.isShared {
                    guard storePoll > 0 else { throw RecError.invalidArgument("--store-poll must be > 0") }
                    let interval = storePoll
                    let follower = Thread { [service] in
                        var failing = false
                        while true {
                            Thread.sleep(forTimeInterval: interval)
                            do {
                                try service.followStore()
                                if failing { log.info("store readable again") }
                                failing = false
                            } catch {
                                if !failing { log.error("cannot read the store: \(error)") }
                                failing = true
                            }
                        }
                    }
                    follower.name = "recfuse-store-follow"
                    follower.start()
                }
            }
            let reloader = Service.Reloader(bundleDir: bundle, load: load)
            let token = try adminTokenFile.map { f in
                let t = try String(contentsOfFile: f, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard t.count >= 16 else {
                    throw RecError.invalidArgument("the admin token in \(f) is shorter than 16 characters")
                }
                return t
            }
            service.configureAdmin(reloader: reloader, token: token)
            let hangup = HangupSignal {
                log.info("SIGHUP: reloading the bundle")
                do {
                    let r = try service.reload()
                    log.info(
                        """
                        reloaded: now serving \(r.bundleVersion) (was \(r.previousVersion)) after \
                        \(String(format: "%.2f", r.loadSeconds)) s
                        """
                    )
                } catch {
                    log.error("\(error)")
                }
            }
            var config = ServerConfig(listen: listen)
            config.contexts = contexts
            config.maxMessageBytes = maxMessageBytes
            if tlsCert != nil || tlsKey != nil || tlsClientCa != nil {
                guard let tlsCert, let tlsKey else {
                    throw RecError.invalidArgument("--tls-cert and --tls-key go together")
                }
                func read(_ f: String) throws -> String {
                    do { return try String(contentsOfFile: f, encoding: .utf8) } catch {
                        throw RecError(
                            .invalidArgument, "cannot read \(f): \(error.localizedDescription)", cause: error)
                    }
                }
                config.tls = .init(
                    certificate: try read(tlsCert), key: try read(tlsKey), clientCA: try tlsClientCa.map(read))
            }
            let server = Server(service: service, config: config, logger: Logger(label: "recfuse.server"))
            let signals = ShutdownSignals(logger: log)
            let firstLoadedAt = facts.loadedAt
            let endpoint = try metricsListen.map { url in
                try MetricsEndpoint(
                    url: url,
                    source: .init(
                        metrics: { [service, server] in
                            server.metrics.render(
                                extra: ServerMetrics.serviceLines(service, firstLoadedAt: firstLoadedAt))
                        }, notReady: { [server] in server.isDraining ? "shutting down" : nil }))
            }
            if let metricsListen { log.info("metrics on \(metricsListen)/metrics, /healthz, /readyz") }
            try server.start()
            var grpc: GRPCDoor?
            if let grpcListen {
                var g = GRPCConfig(listen: grpcListen)
                g.tls = config.tls
                g.maxMessageBytes = maxMessageBytes
                g.threads = contexts
                let door = try GRPCDoor(
                    service: service, config: g, metrics: server.metrics, logger: Logger(label: "recfuse.grpc"))
                do { _ = try door.startBlocking() } catch {
                    server.shutdown()
                    throw error
                }
                grpc = door
            }
            signals.wait()
            // Health says NOT_SERVING on both doors first; then each drains its calls in flight.
            service.setServing(false)
            grpc?.shutdown(timeout: config.drainTimeout)
            server.shutdown()
            (service.eventLog?.backend as? SQLiteEventStore)?.checkpoint()
            endpoint?.stop()
            withExtendedLifetime(hangup) {}
        } catch { fail(error) }
    }
}
