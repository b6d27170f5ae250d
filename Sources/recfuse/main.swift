import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecEval
import RecServer
import RecGAT
import RecSVD
import RecText
import RecWire

/// `recfuse`: the command line. No logic lives here: each subcommand parses its flags and
/// calls the libraries.
struct Recfuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recfuse",
        abstract: "A recommendation scoring server: protobuf over NNG, GAT / SVD++ / LLM-fusion engines.",
        version: Service.version,
        subcommands: [Data_.self, Models.self, Profiles_.self, Embed.self, Tokenize.self, Train.self, Eval.self, Serve.self, Bench.self, Echo.self])
}

struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        return Logger(label: "recfuse")
    }
}

/// Every engine hyper-parameter, shared by `train` and `eval`. The SVD ones override that
/// engine's default (Surprise's) only when given.
struct EngineOptions: ParsableArguments {
    @Option(help: "Popularity: half-life in days for time decay (0 = plain counts).") var halfLifeDays: Double = 0
    @Option(help: "Co-occurrence: neighbours kept per item.") var neighbours: Int = 100
    @Option(help: "Ignore interactions rated below this (0 = use all).") var minRating: Float = 0
    @Option(help: "SVD/SVD++: latent factors (defaults: svd 100, svdpp 20).") var factors: Int?
    @Option(help: "SVD/SVD++: SGD epochs (default 20).") var epochs: Int?
    @Option(help: "SVD/SVD++: learning rate (defaults: svd 0.005, svdpp 0.007).") var lr: Float?
    @Option(help: "SVD/SVD++: regularisation (default 0.02).") var reg: Float?
    @Option(help: "SVD/SVD++: std of the N(0, s²) factor initialisation (default 0.1).") var initStd: Float?
    @Option(help: "SVD/SVD++: random seed (default 42).") var svdSeed: UInt64?
    @Option(help: "EASE: L2 weight lambda (default 500).") var lambda: Double?
    @Option(help: "Text: folder holding sentence-encoder models (recfuse models fetch).") var modelsDir: String = "models"
    @Option(help: "Text: model the text engine embeds profiles with.") var textModel: String = "all-MiniLM-L6-v2"
    @Option(help: "Text/GAT: JSON lines from `recfuse profiles --llm` laid over the template profiles.") var profiles: String?
    @Option(help: "GAT: node features, text | id | both (default both).") var gatFeatures: String?
    @Option(help: "GAT: weight of the cosine term in BPR + alpha·(1 − cos) (default 1; 0 = BPR only).") var gatAlpha: Float?
    @Option(help: "GAT: negative sampling, uniform | hard (default uniform).") var gatNegatives: String?
    @Option(help: "GAT: maximum epochs (default 30; training stops earlier on validation NDCG@10).") var gatEpochs: Int?
    @Option(help: "GAT: positive pairs per step (default 2048).") var gatBatchSize: Int?
    @Option(help: "GAT: AdamW learning rate (default 0.005).") var gatLr: Float?
    @Option(help: "GAT: random seed (default 42).") var gatSeed: UInt64?
    @Option(help: "GAT: dropout on each layer's input (default 0).") var gatDropout: Float?
    @Option(help: "GAT: new users shrink towards the mean user by k / (k + edges) (default 3; 0 = off).") var gatColdShrinkage: Float?
    @Option(help: "GAT: ratings at or above carry messages (default 4 = positives only; 3 adds neutral edges).") var gatMessageMin: Float?

    func apply(_ p: inout SVDEngine.Params) {
        if let factors { p.factors = factors }
        if let epochs { p.epochs = epochs }
        if let lr { p.lr = lr }
        if let reg { p.reg = reg }
        if let initStd { p.initStd = initStd }
        if let svdSeed { p.seed = svdSeed }
    }

    func trainOptions() throws -> Bundles.TrainOptions {
        var o = Bundles.TrainOptions()
        o.gat = try gatConfig()
        o.profiles = try profiles.map { try ProfileOverrides.load(URL(fileURLWithPath: $0)) }
        o.popularityHalfLifeDays = halfLifeDays
        o.cooccurrenceNeighbours = neighbours
        o.minRating = minRating
        if let lambda { o.easeLambda = lambda }
        o.textModel = URL(fileURLWithPath: modelsDir).appendingPathComponent(textModel)
        apply(&o.svd)
        apply(&o.svdpp)
        return o
    }

    /// The GAT configuration with the flags applied (validated, so a typo is an error).
    func gatConfig() throws -> GATConfig {
        var c = GATConfig()
        if let v = gatFeatures {
            guard let f = GATConfig.Features(rawValue: v) else {
                throw RecError.invalidArgument("--gat-features must be one of \(GATConfig.Features.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c.features = f
        }
        if let v = gatNegatives {
            guard let n = GATConfig.Negatives(rawValue: v) else {
                throw RecError.invalidArgument("--gat-negatives must be one of \(GATConfig.Negatives.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c.negatives = n
        }
        if let v = gatAlpha { c.alpha = v }
        if let v = gatEpochs { c.maxEpochs = v }
        if let v = gatBatchSize { c.batchSize = v }
        if let v = gatLr { c.lr = v }
        if let v = gatSeed { c.seed = v }
        if let v = gatDropout { c.dropout = v }
        if let v = gatMessageMin { c.messageMin = v }
        if let v = gatColdShrinkage { c.coldShrinkage = v }
        try c.validate()
        return c
    }
}

/// Training progress for people: one line per trainer, rewritten in place with epoch, loss and
/// ETA when stderr is a terminal; silent otherwise (CI logs keep only the summary lines).
final class TerminalProgress {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var started: [String: ContinuousClock.Instant] = [:]

    func report(_ p: Bundles.Progress) {
        guard enabled else { return }
        // The clock starts at the first report (end of epoch 1), so the rate comes from the
        // epochs after it.
        if p.epoch == 1 { started[p.engine] = ContinuousClock.now }
        var eta = "…"
        if let t0 = started[p.engine], p.epoch > 1 {
            let perEpoch = (ContinuousClock.now - t0).seconds / Double(p.epoch - 1)
            eta = String(format: "%.1f s", perEpoch * Double(p.epochs - p.epoch))
        }
        var line = String(format: "\r%@: epoch %d/%d  %@ %.4f", p.engine, p.epoch, p.epochs, p.lossName, p.loss)
        if let v = p.validation { line += String(format: "  %@ %.4f", v.name, v.value) }
        line += (p.validation == nil ? "  ETA " : "  ETA ≤ ") + eta + "   "
        FileHandle.standardError.write(Data(line.utf8))
        if p.final { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func fail(_ e: Error) -> Never {
    FileHandle.standardError.write(Data("error: \(e)\n".utf8))
    Foundation.exit(1)
}

Recfuse.main()
