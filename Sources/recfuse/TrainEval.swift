import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecEval
import RecLLM
import RecServer
import RecSVD
import RecText
import RecWire

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train engines on a dataset and write a model bundle (atomically).")
    @Option(help: "Dataset name in the data directory (fetched if missing), or a folder of MovieLens files.")
    var dataset: String = "ml-100k"
    @Option(help: "Data directory.") var dataDir: String = "data"
    @Option(name: .customLong("engine"), help: "Engine kind to train, repeatable, or 'all': \(Bundles.kinds.joined(separator: ", ")).")
    var engines: [String] = ["all"]
    @Option(help: "Bundle folder to write.") var out: String = "bundles/default"
    @Option(help: "Bundle name (defaults to the folder name).") var name: String?
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let log = global.bootstrap()
        do {
            let data = try loadDataset(dataset, dataDir: dataDir, log: log)
            log.info("loaded \(data.name): \(data.interactions.count) ratings, \(data.users.count) users, \(data.items.count) items")
            let o = try engineOptions.trainOptions()
            let kinds = engines.contains("all") ? Bundles.kinds : engines
            let outURL = URL(fileURLWithPath: out)
            let bar = TerminalProgress()
            let m = try Bundles.train(data, kinds: kinds, out: outURL, name: name ?? outURL.lastPathComponent, options: o,
                                      log: { log.info("\($0)") }, progress: bar.report)
            log.info("wrote \(out): version \(m.version), engines \(m.engines.map(\.name).joined(separator: ", ")), default \(m.defaultEngine)")
        } catch { fail(error) }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate engines on a fixed, seeded split (or an external split file).",
        discussion: "Ranking is over all items not in the user's training set; relevant = test rating >= --threshold.")
    @Option(help: "Dataset name in the data directory, or a folder of MovieLens files.") var dataset: String = "ml-100k"
    @Option(help: "Data directory.") var dataDir: String = "data"
    @Option(name: .customLong("engine"), help: "Engine kind, repeatable, or 'all': \(Bundles.kinds.joined(separator: ", ")).")
    var engines: [String] = ["all"]
    @Option(name: .customLong("protocol"), help: "random | temporal | loo | coldstart | split-file.") var protocolName: String = "random"
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 42
    @Option(help: "random: held-out fraction.") var testFraction: Double = 0.2
    @Option(help: "loo: sampled negatives per user.") var negatives: Int = 99
    @Option(help: "coldstart: fraction of users held out.") var coldFraction: Double = 0.1
    @Option(help: "coldstart: revealed interactions, comma-separated.") var reveal: String = "0,1,3,5"
    @Option(help: "Relevant means test rating >= this.") var threshold: Float = 4
    @Option(help: "split-file: TSV lines train|test, user, item, rating, timestamp (raw ids).") var splitFile: String?
    @Option(help: "Write the split used to this file (split-file format) and exit.") var exportSplit: String?
    @Flag(help: "One JSON object per engine and split, one per line.") var json = false
    @Option(help: "Also write a self-contained HTML report (SVG charts + table); runs the cold-start protocol too.")
    var report: String?
    @Option(help: "Also re-rank each engine's top --rerank-depth with this judge and fuse (rows 'engine+judge'): local, llm_relevancy, llm_pointwise.")
    var rerankJudge: String?
    @Option(help: "How many of each engine's top items the judge re-scores.") var rerankDepth: Int = 20
    @Option(help: "Fusion weight of the judge.") var alpha: Float = Fusion.defaultAlpha
    @Option(help: "Per-list normalisation before fusion: minmax | rank.") var normalization: String = "minmax"
    @Flag(help: "The paper code's position-dependent judge weights (0.9/0.7/0.5 by thirds).") var positionWeights = false
    @OptionGroup var llm: LLMOptions
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let log = global.bootstrap()
        do {
            let data = try loadDataset(dataset, dataDir: dataDir, log: log)
            guard let kind = EvalRunner.ProtocolKind(rawValue: protocolName) else {
                throw RecError.invalidArgument("unknown protocol '\(protocolName)'; known: \(EvalRunner.ProtocolKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var o = EvalRunner.Options()
            o.protocolKind = kind
            o.seed = seed
            o.testFraction = testFraction
            o.negatives = negatives
            o.coldFraction = coldFraction
            o.reveal = reveal.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            o.threshold = threshold
            o.splitFile = splitFile.map { URL(fileURLWithPath: $0) }
            o.rerankDepth = rerankDepth
            let train = try engineOptions.trainOptions()
            let rerank = try rerankJudge.map { try rerankStage($0, train: train, log: log) }
            let runner = EvalRunner(options: o, fit: { [train] k, d in
                let f = try Bundles.fit(k, d, options: train)
                return (f.engine, f.seconds)
            }, rerank: rerank, log: { log.info("\($0)") })
            if let exportSplit {
                guard let (split, _) = try runner.splits(data).first else { throw RecError.invalidArgument("no split") }
                try Splits.write(split, to: URL(fileURLWithPath: exportSplit))
                log.info("wrote \(split.protocolName) split to \(exportSplit)")
                return
            }
            let kinds = engines.contains("all") ? Bundles.kinds : engines
            let reports = try runner.run(engines: kinds, on: data)
            if let report {
                var coldOptions = o
                coldOptions.protocolKind = .coldstart
                let cold = o.protocolKind == .coldstart ? reports
                    : try EvalRunner(options: coldOptions, fit: runner.fit, rerank: rerank, log: runner.log).run(engines: kinds, on: data)
                let main = o.protocolKind == .coldstart ? [] : reports
                let html = HTMLReport.render(title: "recfuse evaluation: \(data.name)", main: main, coldStart: cold)
                try html.write(toFile: report, atomically: true, encoding: .utf8)
                log.info("wrote \(report)")
            }
            if json {
                for r in reports {
                    let d = try JSONSerialization.data(withJSONObject: r.json, options: [.sortedKeys])
                    print(String(decoding: d, as: UTF8.self))
                }
            } else {
                print(EvalRunner.table(reports), terminator: "")
            }
        } catch { fail(error) }
    }

    /// The judge + fusion stage of Rerank, as an evaluation stage: the judge sees the split's
    /// own text engine (fitted on its training part) and, for the LLM judges, the endpoint.
    func rerankStage(_ name: String, train: Bundles.TrainOptions, log: Logger) throws -> EvalRunner.RerankFactory {
        guard let kind = JudgeKind(rawValue: name) else {
            throw RecError.invalidArgument("--rerank-judge must be one of \(JudgeKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard alpha.isFinite, (0...1).contains(alpha) else { throw RecError.invalidArgument("--alpha must be in [0, 1]") }
        guard let norm = Fusion.Normalization(rawValue: normalization) else {
            throw RecError.invalidArgument("--normalization must be one of \(Fusion.Normalization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard rerankDepth > 0 else { throw RecError.invalidArgument("--rerank-depth must be positive") }
        let client = kind.usesLLM ? try llm.client() : nil
        if kind.usesLLM && client == nil { throw RecError.invalidArgument("--rerank-judge \(name) needs --llm-base-url or --llm-config") }
        let reranker = Reranker(llm: client, defaultJudge: kind)
        let (alpha, positionWeights) = (alpha, positionWeights)
        return (name, { d in
            guard let text = try Bundles.fit("text", d, options: train).engine as? TextEngine else {
                throw RecError.failedPrecondition("the text engine did not fit")
            }
            let catalog = Catalog(ids: d.items, meta: d.itemMeta)
            let failures = Counter()
            return { user, items, base in
                let (judged, reasons) = reranker.judge(user, items: items, baseScores: base, catalog: catalog, text: text, kind: kind)
                if !reasons.isEmpty, failures.increment() <= 3 { log.warning("\(name) judge: \(reasons.joined(separator: "; "))") }
                guard let judged else { return nil }
                return Fusion.fuse(base: base, judge: judged.out.scores, alpha: alpha, positionWeights: positionWeights,
                                   normalization: norm).fused
            }
        })
    }
}

/// A thread-safe counter (judge failures are logged a few times, not once per user).
final class Counter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
