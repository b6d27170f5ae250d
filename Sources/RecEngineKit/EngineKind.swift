import Foundation
import RecCore
import RecData
import RecText

/// One kind of engine: what `recfuse train` can fit and a bundle can hold. Each engine's
/// folder declares its kind next to the engine; `RecEngines.Registry` lists every kind, and
/// everything else (command-line flags, `recfuse engines`, the manifest's params, training and
/// loading bundles, evaluation) is derived from the kind. docs/engines.md is the checklist for
/// adding one.
///
/// Kinds are types with static members only (the way nng keeps one ops table per protocol).
public protocol EngineKind: SendableMetatype {
    /// The name in bundles, requests and flags ("svdpp").
    static var name: String { get }
    /// One line for `recfuse engines` and `--help`.
    static var summary: String { get }
    /// Hyper-parameters and recorded facts, in the order `recfuse engines` lists them.
    static var parameters: [ParamSpec] { get }
    /// Whether fitting (and serving new users) with `params` needs the sentence encoder.
    static func needsEncoder(_ params: EngineParams) throws -> Bool
    /// Whether the engine models rating values and so cannot train on implicit feedback (a
    /// dataset without ratings); `--engine all` leaves such kinds out on implicit data.
    static var needsRatings: Bool { get }
    /// Trains on every interaction of `dataset`.
    static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine
    /// Rebuilds the engine from its bundle entry; `params` are the entry's, already read
    /// against `parameters`.
    static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine
}

extension EngineKind {
    public static func needsEncoder(_ params: EngineParams) throws -> Bool { false }
    public static var needsRatings: Bool { false }

    /// The refusal of a kind that needs ratings, for a dataset that has none.
    public static func refuseImplicit(_ dataset: Dataset) throws {
        guard needsRatings, !dataset.hasRatings else { return }
        throw RecError.failedPrecondition(
            "engine '\(name)' predicts ratings and needs explicit feedback, but dataset '\(dataset.name)' has none "
                + "(implicit: no interaction is rated); the ranking engines (ease, gat, rp3beta, popularity, "
                + "cooccurrence, text) train on it")
    }

    /// `given` read against this kind's table.
    public static func params(
        _ given: [String: String] = [:], source: String = "parameters",
        code: StatusCode = .invalidArgument
    ) throws -> EngineParams {
        try EngineParams(kind: name, specs: parameters, given: given, source: source, code: code)
    }
}

/// A trained engine with what its bundle entry stores.
public struct FittedEngine {
    public var engine: any Engine
    public var tensors: SafetensorsWriter
    /// The hyper-parameters it was trained with plus anything recorded during training.
    public var params: EngineParams
    /// Figures about the fit for the manifest ("validation_ndcg10").
    public var metrics: [String: Double]

    public init(engine: any Engine, tensors: SafetensorsWriter, params: EngineParams, metrics: [String: Double] = [:]) {
        self.engine = engine
        self.tensors = tensors
        self.params = params
        self.metrics = metrics
    }
}

/// Progress of an iterative trainer: epoch `epoch` of at most `epochs` just finished or,
/// with `step`, is under way.
public struct TrainingProgress: Sendable {
    public var engine: String
    public var epoch: Int
    public var epochs: Int
    public var loss: Double
    public var lossName: String
    /// A validation metric after the epoch, when the trainer keeps one.
    public var validation: (name: String, value: Double)?
    /// The trainer's last epoch (it may stop before `epochs`).
    public var final: Bool
    /// Within an epoch: the step just done, of `steps`, at `stepsPerSecond`.
    public var step: Int?
    public var steps: Int?
    public var stepsPerSecond: Double?

    public init(
        engine: String, epoch: Int, epochs: Int, loss: Double, lossName: String,
        validation: (name: String, value: Double)? = nil, final: Bool, step: Int? = nil, steps: Int? = nil,
        stepsPerSecond: Double? = nil
    ) {
        self.engine = engine
        self.epoch = epoch
        self.epochs = epochs
        self.loss = loss
        self.lossName = lossName
        self.validation = validation
        self.final = final
        self.step = step
        self.steps = steps
        self.stepsPerSecond = stepsPerSecond
    }
}

/// What a trainer may use besides the data and its parameters.
public struct FitContext {
    /// Folder holding sentence-encoder models (`recfuse models fetch`).
    public var modelsDir: URL
    /// LLM-enriched profiles laid over the template ones (`recfuse profiles --llm`).
    public var profiles: ProfileOverrides?
    /// Folder keeping profile embeddings between runs (`EmbeddingCache`); nil: none.
    public var embeddingCache: URL?
    public var progress: (TrainingProgress) -> Void
    public var log: (String) -> Void

    public init(
        modelsDir: URL = URL(fileURLWithPath: "models"), profiles: ProfileOverrides? = nil, embeddingCache: URL? = nil,
        progress: @escaping (TrainingProgress) -> Void = { _ in }, log: @escaping (String) -> Void = { _ in }
    ) {
        self.modelsDir = modelsDir
        self.profiles = profiles
        self.embeddingCache = embeddingCache
        self.progress = progress
        self.log = log
    }

    /// The sentence encoder `model` (a folder name under `modelsDir`), loaded once per process.
    public func encoder(_ model: String) throws -> SentenceEncoder {
        guard !model.isEmpty, !model.contains("/") else {
            throw RecError.invalidArgument("encoder model '\(model)' must be a folder name under \(modelsDir.path)")
        }
        let e = try SentenceEncoder.shared(modelsDir.appendingPathComponent(model))
        e.useDiskCache(embeddingCache.map { EmbeddingCache(directory: $0, encoder: e, warn: log) })
        return e
    }
}

/// What a loader may use besides its tensors: the bundle's catalogue and users, and the
/// sentence-encoder models.
public struct LoadContext {
    public var catalog: Catalog
    public var users: UserStore
    public var modelsDir: URL
    public var log: (String) -> Void

    public init(catalog: Catalog, users: UserStore, modelsDir: URL, log: @escaping (String) -> Void = { _ in }) {
        self.catalog = catalog
        self.users = users
        self.modelsDir = modelsDir
        self.log = log
    }

    /// The encoder an entry was built with (params "model" and "model_sha256"), or why it
    /// cannot be had: a missing model, or one whose weights differ from those the bundle was
    /// built with, leaves the engine serving what needs no encoder instead of failing the load.
    public func encoder(for params: EngineParams) -> (SentenceEncoder?, String?) {
        let model = (try? params.string("model")) ?? ""
        guard !model.isEmpty, !model.contains("/") else { return (nil, "bundle names no model") }
        let encoder: SentenceEncoder
        do { encoder = try SentenceEncoder.shared(modelsDir.appendingPathComponent(model)) } catch {
            return (nil, "model \(model) not loaded: \(error)")
        }
        let want = (try? params.string("model_sha256")) ?? ""
        if !want.isEmpty, let have = encoder.weightsSHA256, have != want {
            return (
                nil,
                "model \(model) in \(modelsDir.path) has weights \(have.prefix(12)), the bundle was built with "
                    + "\(want.prefix(12))"
            )
        }
        return (encoder, nil)
    }
}
