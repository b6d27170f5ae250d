import Foundation
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

        public init(kinds: [String], params: [String: [String: String]] = [:], defaultEngine: String? = nil) {
            self.kinds = kinds
            self.params = params
            self.defaultEngine = defaultEngine
        }
    }

    /// Trains one kind on every interaction of `dataset`.
    public static func fit(
        _ kind: String, _ dataset: Dataset, given: [String: String] = [:],
        context: FitContext
    ) throws -> (fitted: FittedEngine, seconds: Double) {
        let k = try Registry.kind(kind)
        let params = try k.params(given, source: "--\(kind)-* flags")
        let t0 = ContinuousClock.now
        let f = try k.fit(dataset, params: params, context: context)
        return (f, (ContinuousClock.now - t0).seconds)
    }

    /// Trains the plan's kinds on `dataset` and writes a bundle to `out` atomically (nothing
    /// is written if any step fails). Every parameter is checked before anything is trained.
    @discardableResult
    public static func train(
        _ dataset: Dataset, plan: Plan, out: URL, name: String,
        context: FitContext = FitContext()
    ) throws -> BundleManifest {
        for k in plan.kinds { _ = try Registry.kind(k) }
        for (k, given) in plan.params {
            guard plan.kinds.contains(k) || k == Registry.fallback else {
                throw RecError.invalidArgument("--\(k)-* flags given, but \(k) is not trained (add --engine \(k))")
            }
            _ = try Registry.kind(k).params(given, source: "--\(k)-* flags")
        }
        var wanted = Registry.names.filter { plan.kinds.contains($0) }
        if !wanted.contains(Registry.fallback) {
            wanted.insert(Registry.fallback, at: 0)
            context.log("adding \(Registry.fallback): every bundle carries it as the fallback engine")
        }
        if let d = plan.defaultEngine, !wanted.contains(d) {
            throw RecError.invalidArgument(
                "--default-engine \(d) is not among the engines trained (\(wanted.joined(separator: ", ")))")
        }
        var validation: [String: Double] = [:]
        if plan.defaultEngine == nil && wanted.count > 1 {
            validation = try validationNDCG(wanted, dataset, plan: plan, context: context)
        }
        let defaultEngine = plan.defaultEngine ?? best(wanted, validation)
        let writer = try BundleWriter(destination: out, dataset: dataset)
        do {
            for kind in wanted {
                let (f, secs) = try fit(kind, dataset, given: plan.params[kind] ?? [:], context: context)
                var metrics = f.metrics
                if let v = validation[kind] { metrics["validation_ndcg10"] = v }
                try writer.addEngine(
                    .init(
                        name: kind, kind: kind, file: "engines/\(kind).safetensors", params: f.params.values,
                        metrics: metrics, fitSeconds: secs), tensors: f.tensors)
                context.log("trained \(kind) in \(String(format: "%.2f", secs)) s")
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

    /// NDCG@10 of each kind trained on a seeded random slice of `dataset` without the
    /// validation interactions, ranking every item the user has not seen in that slice
    /// (relevant: `Splits.relevanceThreshold`). This trains every kind a second time.
    public static func validationNDCG(
        _ kinds: [String], _ dataset: Dataset, plan: Plan,
        context: FitContext
    ) throws -> [String: Double] {
        let split = Splits.random(dataset, testFraction: plan.validationFraction, seed: plan.seed)
        let threshold = Splits.relevanceThreshold(dataset)
        guard split.test.contains(where: { $0.rating >= threshold }) else {
            context.log("no relevant interactions to validate on; the default engine is the first trained")
            return [:]
        }
        var quiet = context
        quiet.progress = { _ in }
        let fallback = try fit(
            Registry.fallback, split.train, given: plan.params[Registry.fallback] ?? [:], context: quiet
        ).fitted.engine
        var out: [String: Double] = [:]
        for kind in kinds {
            let (f, secs) = try fit(kind, split.train, given: plan.params[kind] ?? [:], context: quiet)
            let r = Evaluator.ranking(f.engine, on: split, threshold: threshold, maxK: 10, fallback: fallback)
            out[kind] = r.metrics["ndcg@10"] ?? 0
            context.log(
                "validation: \(kind) fitted in \(String(format: "%.2f", secs)) s, NDCG@10 "
                    + "\(String(format: "%.4f", out[kind]!))"
            )
        }
        let line = kinds.map { "\($0) \(String(format: "%.4f", out[$0] ?? 0))" }.joined(separator: ", ")
        context.log("validation NDCG@10 (\(Int(plan.validationFraction * 100))% of the interactions held out): \(line)")
        return out
    }

    /// Loads and validates a bundle; every engine in it is served, requests without an engine
    /// by `defaultEngine` (nil: the bundle's own default). Kinds that use a sentence encoder
    /// look for it in `modelsDir`; a missing or different model leaves that engine serving what
    /// needs no encoder (it says why in `Info` and in degraded replies) instead of failing.
    public static func load(
        _ dir: URL, limits: Limits = Limits(), modelsDir: URL = URL(fileURLWithPath: "models"),
        defaultEngine: String? = nil,
        log: @escaping (String) -> Void = { _ in }
    ) throws -> (Recommender, BundleManifest) {
        let reader = try BundleReader(dir)
        let context = LoadContext(catalog: reader.catalog, users: reader.users, modelsDir: modelsDir, log: log)
        var engines: [any Engine] = []
        for entry in reader.manifest.engines {
            guard let kind = Registry.kinds.first(where: { $0.name == entry.kind }) else {
                throw RecError.dataLoss(
                    "\(dir.path): engine '\(entry.name)' has kind '\(entry.kind)', which this build cannot serve")
            }
            let params = try kind.params(
                entry.params, source: "\(dir.path)/manifest.json, engine \(entry.name)", code: .dataLoss)
            engines.append(
                try kind.load(try reader.tensors(for: entry), entry: entry, params: params, context: context))
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
            fallbackEngine: m.fallbackEngine, limits: limits, bundleVersion: m.version)
        return (rec, m)
    }
}
