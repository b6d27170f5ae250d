import Foundation
import RecANN
import RecCore
import RecData
import RecEngineKit
import RecEval

/// Training bundles and loading them back, for every kind in the `Registry`: the one place
/// that turns a dataset into a bundle and a bundle into a `Recommender`. The command line
/// (`recfuse train`, `eval`, `serve`) and the C ABI both go through here.
public enum Bundles {
    /// What `train` builds.
    public struct Plan: Sendable {
        /// Kinds to train, in any order (bundles list them in registry order). The fallback
        /// kind is always added.
        public var kinds: [String]
        /// Parameter values by kind (`Registry.parseFlags`), over each kind's defaults.
        public var params: [String: [String: String]] = [:]
        /// The engine requests without one are served by; nil: the trained engine with the
        /// best NDCG@10 on a validation slice carved from the training data.
        public var defaultEngine: String?
        /// The validation slice: this fraction of the interactions, drawn with `seed`.
        public var validationFraction = 0.1
        public var seed: UInt64 = 42
        /// Approximate Retrieve indexes for the dot-product engines.
        public var indexes = Indexes.Options()

        public init(kinds: [String], params: [String: [String: String]] = [:], defaultEngine: String? = nil) {
            self.kinds = kinds
            self.params = params
            self.defaultEngine = defaultEngine
        }
    }

    /// One kind to train, with its parameters already read.
    public struct Job {
        public let kind: any EngineKind.Type
        public let params: EngineParams
    }

    /// Trains one kind on every interaction of `dataset` (`recfuse eval` fits this way).
    public static func fit(
        _ kind: String, _ dataset: Dataset, given: [String: String] = [:], context: FitContext
    ) throws -> (fitted: FittedEngine, seconds: Double) {
        let k = try Registry.kind(kind)
        return try fit(
            Job(kind: k, params: try k.params(given, source: "--\(kind)-* flags")), dataset, context: context)
    }

    static func fit(
        _ job: Job, _ dataset: Dataset, context: FitContext
    ) throws -> (fitted: FittedEngine, seconds: Double) {
        let t0 = ContinuousClock.now
        let f = try job.kind.fit(dataset, params: job.params, context: context)
        return (f, (ContinuousClock.now - t0).seconds)
    }

    /// The plan's kinds in registry order, the fallback added, each with its parameters read
    /// (every error here comes before any work).
    public static func jobs(_ plan: Plan, log: (String) -> Void = { _ in }) throws -> [Job] {
        for k in plan.kinds { _ = try Registry.kind(k) }
        for k in plan.params.keys where !plan.kinds.contains(k) && k != Registry.fallback {
            throw RecError.invalidArgument("--\(k)-* flags given, but \(k) is not trained (add --engine \(k))")
        }
        var kinds = Registry.kinds.filter { plan.kinds.contains($0.name) }
        if !kinds.contains(where: { $0.name == Registry.fallback }) {
            kinds.insert(try Registry.kind(Registry.fallback), at: 0)
            log("adding \(Registry.fallback): every bundle carries it as the fallback engine")
        }
        if let d = plan.defaultEngine, !kinds.contains(where: { $0.name == d }) {
            let names = kinds.map { $0.name }.joined(separator: ", ")
            throw RecError.invalidArgument("--default-engine \(d) is not among the engines trained (\(names))")
        }
        return try kinds.map { k in
            Job(kind: k, params: try k.params(plan.params[k.name] ?? [:], source: "--\(k.name)-* flags"))
        }
    }

    /// Trains the plan's kinds on `dataset` and writes a bundle to `out` atomically (nothing
    /// is written if any step fails). Every parameter is checked before anything is trained.
    @discardableResult
    public static func train(
        _ dataset: Dataset, plan: Plan, out: URL, name: String, context: FitContext = FitContext()
    ) throws -> BundleManifest {
        let jobs = try jobs(plan, log: context.log)
        var validation: [String: Double] = [:]
        if plan.defaultEngine == nil && jobs.count > 1 {
            // One engine asked for (the fallback added beside it is no choice): it is the
            // default, and fitting everything a second time only to confirm that would double
            // the training time.
            if Set(plan.kinds).count > 1 {
                validation = try validationNDCG(jobs, dataset, plan: plan, context: context)
            } else {
                context.log("one engine asked for: \(plan.kinds[0]) is the default (no validation fit)")
            }
        }
        let defaultEngine = plan.defaultEngine ?? best(jobs.map { $0.kind.name }, validation)
        let writer = try BundleWriter(destination: out, dataset: dataset)
        do {
            for job in jobs {
                let kind = job.kind.name
                let (f, secs) = try fit(job, dataset, context: context)
                var metrics = f.metrics
                if let v = validation[kind] { metrics["validation_ndcg10"] = v }
                context.log("trained \(kind) in \(String(format: "%.2f", secs)) s")
                var index: BundleManifest.IndexEntry?
                if let (built, isecs) = try Indexes.build(f.engine, options: plan.indexes, log: context.log) {
                    let file = "engines/\(kind).hnsw"
                    try writer.addFile(file) { try built.save(to: $0) }
                    index = Indexes.entry(built, file: file, seconds: isecs)
                }
                try writer.addEngine(
                    .init(
                        name: kind, kind: kind, file: "engines/\(kind).safetensors", params: f.params.values,
                        metrics: metrics, fitSeconds: secs, index: index), tensors: f.tensors)
            }
            return try writer.commit(name: name, defaultEngine: defaultEngine, fallbackEngine: Registry.fallback)
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// The kind with the highest validation NDCG@10 (the first listed on a tie); without
    /// figures, the first kind that is not the fallback.
    static func best(_ kinds: [String], _ ndcg: [String: Double]) -> String {
        var pick = kinds.first { $0 != Registry.fallback } ?? Registry.fallback
        var top = -Double.infinity
        for k in kinds { if let v = ndcg[k], v > top { (pick, top) = (k, v) } }
        return pick
    }

    /// NDCG@10 of each job's kind trained on a seeded random slice of `dataset` without the
    /// validation interactions, ranking every item the user has not seen in that slice
    /// (relevant: `Splits.relevanceThreshold`). This trains every kind a second time.
    public static func validationNDCG(
        _ jobs: [Job], _ dataset: Dataset, plan: Plan, context: FitContext
    ) throws -> [String: Double] {
        let split = Splits.random(dataset, testFraction: plan.validationFraction, seed: plan.seed)
        let threshold = Splits.relevanceThreshold(dataset)
        guard split.test.contains(where: { $0.rating >= threshold }) else {
            context.log("no relevant interactions to validate on; the default engine is the first trained")
            return [:]
        }
        var quiet = context
        quiet.progress = { _ in }
        let fallbackJob =
            try jobs.first { $0.kind.name == Registry.fallback }
            ?? Job(kind: Registry.kind(Registry.fallback), params: Registry.kind(Registry.fallback).params())
        let fallback = try fit(fallbackJob, split.train, context: quiet).fitted.engine
        var out: [String: Double] = [:]
        for job in jobs {
            let kind = job.kind.name
            let (f, secs) = try fit(job, split.train, context: quiet)
            let r = Evaluator.ranking(f.engine, on: split, threshold: threshold, maxK: 10, fallback: fallback)
            out[kind] = r.metrics["ndcg@10"] ?? 0
            let figures = String(format: "fitted in %.2f s, NDCG@10 %.4f", secs, out[kind]!)
            context.log("validation: \(kind) \(figures)")
        }
        let line = jobs.map { "\($0.kind.name) \(String(format: "%.4f", out[$0.kind.name] ?? 0))" }.joined(
            separator: ", ")
        context.log("validation NDCG@10 (\(Int(plan.validationFraction * 100))% of the interactions held out): \(line)")
        return out
    }

    /// Loads and validates a bundle; every engine in it is served, requests without an engine
    /// by `defaultEngine` (nil: the bundle's own default). Kinds that use a sentence encoder
    /// look for it in `modelsDir`; a missing or different model leaves that engine serving what
    /// needs no encoder (it says why in `Info` and in degraded replies) instead of failing.
    /// `log` gets problems, `progress` one line per engine loaded (with its time).
    public static func load(
        _ dir: URL, limits: Limits = Limits(), modelsDir: URL = URL(fileURLWithPath: "models"),
        defaultEngine: String? = nil, efSearch: Int = 0,
        log: @escaping (String) -> Void = { _ in }, progress: (String) -> Void = { _ in }
    ) throws -> (Recommender, BundleManifest) {
        let reader = try BundleReader(dir)
        let context = LoadContext(catalog: reader.catalog, users: reader.users, modelsDir: modelsDir, log: log)
        var engines: [any Engine] = []
        var indexes: [String: any ApproximateIndex] = [:]
        var screens: [String: any ScoreScreen] = [:]
        for entry in reader.manifest.engines {
            guard let kind = Registry.kinds.first(where: { $0.name == entry.kind }) else {
                throw RecError.dataLoss(
                    "\(dir.path): engine '\(entry.name)' has kind '\(entry.kind)', which this build cannot serve")
            }
            let params = try kind.params(
                entry.params, source: "\(dir.path)/manifest.json, engine \(entry.name)", code: .dataLoss)
            let t0 = ContinuousClock.now
            let engine = try kind.load(try reader.tensors(for: entry), entry: entry, params: params, context: context)
            engines.append(engine)
            var line = "loaded \(entry.name) in \(String(format: "%.2f", (ContinuousClock.now - t0).seconds)) s"
            if engine.itemCount >= max(1, limits.screenMinItems), let dot = engine as? any DotProductEngine {
                let t1 = ContinuousClock.now
                let screen = try dot.withItemVectors { v in
                    try Int8Screen(
                        vectors: v, count: dot.itemCount, dimension: dot.vectorDimension, biases: dot.itemBiases)
                }
                screens[entry.name] = screen
                line += ", its \(screen.summary) in \(String(format: "%.2f", (ContinuousClock.now - t1).seconds)) s"
            }
            if let ie = entry.index {
                let t1 = ContinuousClock.now
                let index = try Indexes.load(ie, root: dir, engine: engine, efSearch: efSearch)
                indexes[entry.name] = index
                line += ", its \(index.summary) in \(String(format: "%.2f", (ContinuousClock.now - t1).seconds)) s"
            }
            progress(line)
        }
        let m = reader.manifest
        let chosen = defaultEngine ?? m.defaultEngine
        guard engines.contains(where: { $0.name == chosen }) else {
            throw RecError.invalidArgument(
                "default engine '\(chosen)' is not in \(dir.path) (it has "
                    + "\(engines.map(\.name).joined(separator: ", ")))"
            )
        }
        let rec = try Recommender(
            catalog: reader.catalog, users: reader.users, engines: engines, defaultEngine: chosen,
            fallbackEngine: m.fallbackEngine, limits: limits, bundleVersion: m.version, indexes: indexes,
            screens: screens)
        return (rec, m)
    }
}
