import Foundation
import RecBaselines
import RecCore
import RecData
import RecEASE
import RecGAT
import RecSVD
import RecText

/// The composition root for model bundles: which engine kinds exist, how each is trained
/// into a bundle and loaded back. The CLI (`recfuse train`, `recfuse serve`) and the C ABI
/// both go through here.
public enum Bundles {
    /// Engine kinds this build can train and serve, in default-bundle order.
    public static let kinds = ["popularity", "genre-popularity", "cooccurrence", "ease", "svd", "svdpp", "text", "gat"]

    /// Kinds that need a sentence-encoder model (`recfuse models fetch`; GAT only with text features).
    public static let textKinds: Set = ["text", "gat"]

    /// The engine Retrieve uses when the request names none, by preference.
    static let defaultPreference = ["gat", "cooccurrence", "genre-popularity", "popularity"]

    public struct TrainOptions: Sendable {
        public var popularityHalfLifeDays: Double = 0
        public var cooccurrenceNeighbours: Int = 100
        public var minRating: Float = 0
        public var easeLambda: Double = 500
        public var svd = SVDEngine.Params.svd
        public var svdpp = SVDEngine.Params.svdpp
        /// The sentence-encoder folder the text engine embeds profiles with.
        public var textModel = URL(fileURLWithPath: "models/all-MiniLM-L6-v2")
        public var gat = GATConfig()
        /// LLM-enriched profiles for the text and GAT engines (`recfuse profiles --llm`).
        public var profiles: ProfileOverrides?
        public init() {}
    }

    /// A trained engine with what its bundle entry needs.
    public struct Fitted {
        public var engine: any Engine
        public var tensors: SafetensorsWriter
        public var params: [String: String]
        public var seconds: Double
    }

    /// Progress of an iterative trainer: epoch `epoch` of `epochs` just finished with `loss`.
    public struct Progress: Sendable {
        public var engine: String
        public var epoch: Int
        public var epochs: Int
        public var loss: Double
        public var lossName: String
        /// A validation metric after the epoch, when the trainer keeps one.
        public var validation: (name: String, value: Double)?
        /// The trainer's last epoch (it may stop before `epochs`).
        public var final: Bool
    }

    /// Trains one engine kind on `dataset` (the single place that knows every trainer).
    public static func fit(_ kind: String, _ dataset: Dataset, options: TrainOptions = TrainOptions(),
                           progress: (Progress) -> Void = { _ in }) throws -> Fitted {
        let t0 = ContinuousClock.now
        let e: any Engine, t: SafetensorsWriter, p: [String: String]
        switch kind {
        case "popularity", "genre-popularity":
            let pop = PopularityEngine.fit(dataset, halfLifeDays: options.popularityHalfLifeDays, minRating: options.minRating)
            e = kind == "popularity" ? pop
                : GenrePopularityEngine(popularity: pop.scores, catalog: Catalog(ids: dataset.items, meta: dataset.itemMeta))
            (t, p) = (pop.tensors(), pop.params)
        case "cooccurrence":
            let c = CooccurrenceEngine.fit(dataset, neighbours: options.cooccurrenceNeighbours, minRating: options.minRating)
            (e, t, p) = (c, c.tensors(), c.params)
        case "ease":
            let m = try EASEEngine.fit(dataset, lambda: options.easeLambda, minRating: options.minRating)
            (e, t, p) = (m, m.tensors(), m.params)
        case "svd", "svdpp":
            let params = kind == "svd" ? options.svd : options.svdpp
            let m = SVDEngine.fit(dataset, name: kind, params: params) { epoch, rmse in
                progress(Progress(engine: kind, epoch: epoch, epochs: params.epochs, loss: rmse, lossName: "train RMSE",
                                  validation: nil, final: epoch == params.epochs))
            }
            (e, t, p) = (m, m.tensors(), params.asStrings)
        case "text":
            let m = try TextEngine.fit(dataset, encoder: SentenceEncoder.shared(options.textModel), profiles: options.profiles)
            (e, t, p) = (m, m.tensors(), m.params)
        case "gat":
            let c = options.gat
            let encoder = c.usesText ? try SentenceEncoder.shared(options.textModel) : nil
            let m = try GATEngine.fit(dataset, config: c, encoder: encoder, profiles: options.profiles) { g in
                progress(Progress(engine: kind, epoch: g.epoch, epochs: g.maxEpochs, loss: g.loss, lossName: "loss",
                                  validation: ("val NDCG@10", g.validationNDCG), final: g.final))
            }
            (e, t, p) = (m, m.tensors(), m.params)
        default:
            throw RecError.invalidArgument("unknown engine kind '\(kind)'; known: \(kinds.joined(separator: ", "))")
        }
        return Fitted(engine: e, tensors: t, params: p, seconds: (ContinuousClock.now - t0).seconds)
    }

    /// Trains `kinds` on `dataset` and writes a bundle to `out` atomically. Popularity is
    /// always included: it is the fallback for users other engines cannot score.
    @discardableResult
    public static func train(_ dataset: Dataset, kinds requested: [String], out: URL, name: String,
                             options: TrainOptions = TrainOptions(),
                             log: (String) -> Void = { _ in },
                             progress: (Progress) -> Void = { _ in }) throws -> BundleManifest {
        for k in requested where !kinds.contains(k) {
            throw RecError.invalidArgument("unknown engine kind '\(k)'; known: \(kinds.joined(separator: ", "))")
        }
        var wanted = kinds.filter { requested.contains($0) }
        if !wanted.contains("popularity") {
            wanted.insert("popularity", at: 0)
            log("adding popularity: every bundle carries it as the fallback engine")
        }
        let writer = try BundleWriter(destination: out, dataset: dataset)
        do {
            for kind in wanted {
                let fitted = try fit(kind, dataset, options: options, progress: progress)
                try writer.addEngine(.init(name: kind, kind: kind, file: "engines/\(kind).safetensors", params: fitted.params,
                                           fitSeconds: fitted.seconds), tensors: fitted.tensors)
                log("trained \(kind) in \(String(format: "%.2f", fitted.seconds)) s")
            }
            let def = defaultPreference.first { wanted.contains($0) } ?? "popularity"
            return try writer.commit(name: name, defaultEngine: def, fallbackEngine: "popularity")
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Loads and validates a bundle; every engine in it is served. Text engines look for their
    /// sentence-encoder model in `modelsDir/<model name>`; a missing model, or one whose
    /// weights differ from those the bundle was built with, leaves the engine serving stored
    /// users only (and says why in `Info` and in degraded replies) instead of failing the load.
    public static func load(_ dir: URL, limits: Limits = Limits(), modelsDir: URL = URL(fileURLWithPath: "models"),
                            log: (String) -> Void = { _ in }) throws -> (Recommender, BundleManifest) {
        let reader = try BundleReader(dir)
        let n = reader.catalog.count
        var engines: [any Engine] = []
        for entry in reader.manifest.engines {
            let file = try reader.tensors(for: entry)
            switch entry.kind {
            case "popularity":
                engines.append(try PopularityEngine.load(file, entry: entry, itemCount: n))
            case "genre-popularity":
                let pop = try PopularityEngine.load(file, entry: entry, itemCount: n)
                engines.append(GenrePopularityEngine(name: entry.name, popularity: pop.scores, catalog: reader.catalog))
            case "cooccurrence":
                engines.append(try CooccurrenceEngine.load(file, entry: entry, itemCount: n))
            case "ease":
                engines.append(try EASEEngine.load(file, entry: entry, itemCount: n))
            case "svd", "svdpp":
                engines.append(try SVDEngine.load(file, entry: entry, users: reader.users.ids.count, items: n))
            case "text":
                let (encoder, problem) = textEncoder(for: entry, modelsDir: modelsDir)
                if let problem { log("engine \(entry.name): \(problem); serving stored users only") }
                engines.append(try TextEngine.load(file, entry: entry, catalog: reader.catalog, users: reader.users,
                                                   encoder: encoder, encoderProblem: problem))
            case "gat":
                let usesText = try GATConfig(entry.params).usesText
                let (encoder, problem) = usesText ? textEncoder(for: entry, modelsDir: modelsDir) : (nil, nil)
                if let problem { log("engine \(entry.name): \(problem); new users are scored from their history only") }
                engines.append(try GATEngine.load(file, entry: entry, catalog: reader.catalog, users: reader.users,
                                                  encoder: encoder, encoderProblem: problem))
            default:
                throw RecError.dataLoss("\(dir.path): engine '\(entry.name)' has kind '\(entry.kind)', which this build cannot serve")
            }
        }
        let m = reader.manifest
        let rec = try Recommender(catalog: reader.catalog, users: reader.users, engines: engines,
                                  defaultEngine: m.defaultEngine, fallbackEngine: m.fallbackEngine,
                                  limits: limits, bundleVersion: m.version)
        return (rec, m)
    }

    /// The encoder a text engine entry was built with, or why it cannot be had.
    static func textEncoder(for entry: BundleManifest.EngineEntry, modelsDir: URL) -> (SentenceEncoder?, String?) {
        let model = entry.params["model"] ?? ""
        guard !model.isEmpty, !model.contains("/") else { return (nil, "bundle names no model") }
        let encoder: SentenceEncoder
        do { encoder = try SentenceEncoder.shared(modelsDir.appendingPathComponent(model)) } catch {
            return (nil, "model \(model) not loaded: \(error)")
        }
        let want = entry.params["model_sha256"] ?? ""
        if !want.isEmpty, let have = encoder.weightsSHA256, have != want {
            return (nil, "model \(model) in \(modelsDir.path) has weights \(have.prefix(12)), the bundle was built with \(want.prefix(12))")
        }
        return (encoder, nil)
    }

    /// `Info` facts from a manifest.
    public static func facts(_ m: BundleManifest, maxMessageBytes: Int) -> Service.BundleFacts {
        var f = Service.BundleFacts()
        f.datasetName = m.dataset.name
        f.fingerprint = m.dataset.fingerprint
        f.created = m.created
        f.interactions = UInt64(m.dataset.interactions)
        f.maxMessageBytes = UInt64(maxMessageBytes)
        return f
    }
}
