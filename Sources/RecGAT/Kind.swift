import Foundation
import RecCore
import RecData
import RecEngineKit
import RecMath
import RecText

/// `gat`: the graph attention engine (see `GATEngine`); its parameters are `GATConfig`'s.
public enum GATKind: EngineKind {
    public static let name = "gat"
    public static let summary = "GATv2 over the user-item graph, MiniLM profile + id node inputs, BPR + cosine loss"
    public static let parameters: [ParamSpec] =
        GATConfig.fields.specs(defaults: GATConfig()) + [
            ParamSpec(
                "model", .string, default: "all-MiniLM-L6-v2",
                help: "sentence-encoder folder under --models-dir (text features)"),
            .recorded("model_sha256", "SHA-256 of the encoder weights the text features were made with"),
            .recorded("text_dim", "width of the text features"),
            .recorded("validation_ndcg10", "NDCG@10 of the kept weights on the early-stopping slice"),
        ]

    public static func needsEncoder(_ params: EngineParams) throws -> Bool { try GATConfig(params).usesText }

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let c = try GATConfig(params)
        let encoder = c.usesText ? try context.encoder(try params.string("model")) : nil
        let m = try GATEngine.fit(dataset, config: c, encoder: encoder, profiles: context.profiles) { g in
            context.progress(
                TrainingProgress(
                    engine: name, epoch: g.epoch, epochs: g.maxEpochs, loss: g.loss, lossName: "loss",
                    validation: g.validationNDCG.map { ("val NDCG@10", $0) }, final: g.final, step: g.step,
                    steps: g.steps, stepsPerSecond: g.stepsPerSecond))
        }
        return FittedEngine(engine: m, tensors: m.tensors(), params: try self.params(of: m), metrics: m.trainingFigures)
    }

    /// What a bundle records of `m`: its configuration, encoder and validation score.
    public static func params(of m: GATEngine) throws -> EngineParams {
        var given = m.config.asStrings
        given["model"] = m.config.usesText ? m.modelName : ""
        given["model_sha256"] = m.modelSHA256
        given["text_dim"] = String(m.weights.textDim)
        if let v = m.validationNDCG { given["validation_ndcg10"] = String(format: "%.5f", v) }
        return try params(given)
    }

    /// The weights and node states; with text features, the encoder they were made with (or
    /// none: then new users are scored from their history only, and the engine says so).
    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        let c = try GATConfig(params)
        let (encoder, problem) = c.usesText ? context.encoder(for: params) : (nil, nil)
        if let problem { context.log("engine \(entry.name): \(problem); new users are scored from their history only") }
        let (catalog, users) = (context.catalog, context.users)
        let nU = users.ids.count, nI = catalog.count, nodes = nU + nI
        let textDim = c.usesText ? (Int(try params.string("text_dim")) ?? 0) : 0
        if c.usesText && textDim <= 0 { throw RecError.dataLoss("\(file.path): gat entry has no text_dim") }
        if let encoder, encoder.dimension != textDim {
            throw RecError.dataLoss(
                "\(file.path): \(textDim)-d text features, the encoder makes \(encoder.dimension)-d")
        }
        let w = try GATWeights.load(c, textDim: textDim, nodeCount: nodes) { try file.floats($0, shape: $1) }
        // `GATEngine.init` checks every state is finite, whatever its origin: not twice here.
        let states = try (0...c.heads.count).map { l in
            try file.matrix("state\(l)", rows: nodes, cols: c.hidden, checkFinite: false)
        }
        func text(_ name: String, _ rows: Int) throws -> Matrix {
            c.usesText
                ? try file.matrix(name, rows: rows, cols: textDim)
                : Matrix(rows: 0, cols: 0)
        }
        return try GATEngine(
            name: entry.name, config: c, weights: w, catalog: catalog, users: users, states: states,
            userText: try text("user_text", nU), itemText: try text("item_text", nI), encoder: encoder,
            encoderProblem: problem, modelName: try params.string("model"),
            modelSHA256: try params.string("model_sha256"))
    }
}
