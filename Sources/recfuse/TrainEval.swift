import ArgumentParser
import Foundation
import Logging
import RecANN
import RecCore
import RecData
import RecEngineKit
import RecEngines
import RecEval
import RecLLM
import RecMath

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train engines on a dataset and write a model bundle (atomically).",
        discussion: Registry.flagHelp)
    @Option(help: "Dataset name in the data directory (fetched if missing), or a folder of MovieLens files.")
    var dataset: String = "ml-100k"
    @Option(help: "Data directory.") var dataDir: String = "data"
    @Option(
        name: .customLong("engine"),
        help: "Engine kind to train, repeatable, or 'all': \(Registry.names.joined(separator: ", ")).")
    var engines: [String] = ["all"]
    @Option(help: "Bundle folder to write.") var out: String = "bundles/default"
    @Option(help: "Bundle name (defaults to the folder name).") var name: String?
    @Option(
        help:
            """
            The engine requests without one are served by (default: the one with the best NDCG@10 on a validation \
            slice of the data, which trains every engine twice).
            """
    )
    var defaultEngine: String?
    @Option(help: "Fraction of the interactions held out to choose the default engine.") var validationFraction:
        Double = 0.1
    @Option(
        help: """
            Catalogue size from which every dot-product engine (gat, svd, svdpp, text) gets an HNSW index for \
            approximate Retrieve, stored in the bundle (0: always; -1: never).
            """)
    var annMinItems: Int = Indexes.Options().minItems
    @Option(help: "HNSW links per node (M).") var hnswM: Int = HNSWDefaults.m
    @Option(help: "HNSW insertion breadth (ef_construction).") var hnswEfConstruction: Int = HNSWDefaults.efConstruction
    @Option(help: "HNSW search breadth (ef) recorded in the bundle; serve --hnsw-ef-search overrides it.")
    var hnswEfSearch: Int = HNSWDefaults.efSearch
    @Option(
        help: """
            How the HNSW graph's links are chosen: ip (by inner product), l2-centred (by L2 distance between \
            centred item vectors), or auto (l2-centred where the mean item vector carries at least half the \
            items' squared norm, as the GAT's do; ip otherwise). Searches rank by inner product either way.
            """)
    var hnswGraph: String = "auto"
    @OptionGroup var fit: FitOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let log = global.bootstrap()
        do {
            guard validationFraction > 0, validationFraction < 0.5 else {
                throw RecError.invalidArgument("--validation-fraction must be in (0, 0.5)")
            }
            let (allKinds, params) = try fit.plan(engines)
            let data = try loadDataset(dataset, dataDir: dataDir, log: log)
            let kinds = try fit.kinds(allKinds, engines: engines, for: data, log: log)
            log.info(
                """
                loaded \(data.name): \(data.interactions.count) ratings, \(data.users.count) users, \
                \(data.items.count) items
                """
            )
            log.info("\(BLAS.kernelsDescription)")
            var plan = Bundles.Plan(kinds: kinds, params: params, defaultEngine: defaultEngine)
            plan.validationFraction = validationFraction
            guard annMinItems >= -1 else { throw RecError.invalidArgument("--ann-min-items must be >= -1") }
            guard (2...512).contains(hnswM), (1...100_000).contains(hnswEfConstruction),
                (1...100_000).contains(hnswEfSearch)
            else {
                throw RecError.invalidArgument(
                    "--hnsw-m must be in 2...512, --hnsw-ef-construction and --hnsw-ef-search in 1...100000")
            }
            let graph = HNSWIndex.Graph(rawValue: hnswGraph)
            guard graph != nil || hnswGraph == "auto" else {
                throw RecError.invalidArgument("--hnsw-graph must be auto, ip or l2-centred, got '\(hnswGraph)'")
            }
            plan.indexes = Indexes.Options(
                minItems: annMinItems < 0 ? Int.max : annMinItems,
                hnsw: .init(m: hnswM, efConstruction: hnswEfConstruction, efSearch: hnswEfSearch), graph: graph)
            let outURL = URL(fileURLWithPath: out)
            let m = try Bundles.train(
                data, plan: plan, out: outURL, name: name ?? outURL.lastPathComponent,
                context: try fit.context(log: log, progress: TerminalProgress()))
            log.info(
                """
                wrote \(out): version \(m.version), engines \(m.engines.map(\.name).joined(separator: ", ")), \
                default \(m.defaultEngine)
                """
            )
        } catch { fail(error) }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate engines on a fixed, seeded split (or an external split file).",
        discussion:
            "Ranking is over all items not in the user's training set; relevant = test rating >= --threshold.\n\n"
            + Registry.flagHelp)
    @Option(help: "Dataset name in the data directory, or a folder of MovieLens files.") var dataset: String = "ml-100k"
    @Option(help: "Data directory.") var dataDir: String = "data"
    @Option(
        name: .customLong("engine"),
        help: "Engine kind, repeatable, or 'all': \(Registry.names.joined(separator: ", ")).")
    var engines: [String] = ["all"]
    @Option(
        name: .customLong("protocol"),
        help: "random | temporal | loo | coldstart | split-file (default: random, or split-file with --split-file).")
    var protocolName: String?
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 42
    @Option(help: "random: held-out fraction.") var testFraction: Double = 0.2
    @Option(help: "loo: sampled negatives per user.") var negatives: Int = 99
    @Option(help: "coldstart: fraction of users held out.") var coldFraction: Double = 0.1
    @Option(help: "coldstart: revealed interactions, comma-separated.") var reveal: String = "0,1,3,5"
    @Option(
        help: """
            Relevant means test rating >= this (default: 80 % of the top rating, 4 on 1-5 stars; 0, every \
            interaction, for implicit feedback).
            """)
    var threshold: Float?
    @Option(help: "TSV lines train|test, user, item, rating, timestamp (raw ids); implies --protocol split-file.")
    var splitFile: String?
    @Option(help: "Write the split used to this file (split-file format) and exit.") var exportSplit: String?
    @Flag(help: "One JSON object per engine and split, one per line.") var json = false
    @Option(help: "Also write a self-contained HTML report (SVG charts + table); runs the cold-start protocol too.")
    var report: String?
    @Option(
        help:
            """
            Also re-rank each engine's top --rerank-depth with this judge and fuse (rows 'engine+judge'): local, \
            llm_relevancy, llm_pointwise.
            """
    )
    var rerankJudge: String?
    @Option(help: "How many of each engine's top items the judge re-scores.") var rerankDepth: Int = 20
    @Option(help: "Fusion weight of the judge.") var alpha: Float = Fusion.defaultAlpha
    @Option(help: "Per-list normalisation before fusion: minmax | rank.") var normalization: String = "minmax"
    @Flag(help: "The paper code's position-dependent judge weights (0.9/0.7/0.5 by thirds).") var positionWeights =
        false
    @OptionGroup var llm: LLMOptions
    @OptionGroup var fit: FitOptions
    @OptionGroup var global: GlobalOptions

    /// The protocol: a split file implies split-file; naming another protocol with it is an error.
    func protocolKind() throws -> EvalRunner.ProtocolKind {
        let known = EvalRunner.ProtocolKind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let name = protocolName else { return splitFile == nil ? .random : .splitFile }
        guard let kind = EvalRunner.ProtocolKind(rawValue: name) else {
            throw RecError.invalidArgument("unknown protocol '\(name)'; known: \(known)")
        }
        if splitFile != nil && kind != .splitFile {
            throw RecError.invalidArgument(
                "--split-file goes with --protocol split-file (or no --protocol), not --protocol \(name)")
        }
        return kind
    }

    func run() throws {
        let log = global.bootstrap()
        do {
            var o = EvalRunner.Options()
            o.protocolKind = try protocolKind()
            o.seed = seed
            o.testFraction = testFraction
            o.negatives = negatives
            o.coldFraction = coldFraction
            o.reveal = reveal.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            o.splitFile = splitFile.map { URL(fileURLWithPath: $0) }
            o.rerankDepth = rerankDepth
            let (planned, params) = try fit.plan(engines)
            for k in planned { _ = try Registry.kind(k) }
            let context = try fit.context(log: log)
            let rerank = try rerankJudge.map { name in
                guard let judge = JudgeKind(rawValue: name) else {
                    throw RecError.invalidArgument(
                        "--rerank-judge must be one of \(JudgeKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard let norm = Fusion.Normalization(rawValue: normalization) else {
                    throw RecError.invalidArgument(
                        "--normalization must be one of "
                            + "\(Fusion.Normalization.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return try EvalRunner.rerankStage(
                    judge: judge, llm: judge.usesLLM ? try llm.client() : nil, alpha: alpha,
                    normalization: norm, positionWeights: positionWeights, depth: rerankDepth,
                    textEngine: {
                        try Bundles.fit("text", $0, given: params["text"] ?? [:], context: context).fitted.engine
                    },
                    log: { log.warning("\($0)") })
            }
            let data = try loadDataset(dataset, dataDir: dataDir, log: log)
            o.threshold = threshold ?? Splits.relevanceThreshold(data)
            let kinds = try fit.kinds(planned, engines: engines, for: data, log: log)
            let runner = EvalRunner(
                options: o,
                fit: { k, d in
                    let (f, secs) = try Bundles.fit(k, d, given: params[k] ?? [:], context: context)
                    return (f.engine, secs)
                }, rerank: rerank, log: { log.info("\($0)") })
            if let exportSplit {
                guard let (split, _) = try runner.splits(data).first else { throw RecError.invalidArgument("no split") }
                try Splits.write(split, to: URL(fileURLWithPath: exportSplit))
                log.info("wrote \(split.protocolName) split to \(exportSplit)")
                return
            }
            let reports = try runner.run(engines: kinds, on: data)
            if let report {
                try runner.htmlReport(reports, on: data, title: "recfuse evaluation: \(data.name)", engines: kinds)
                    .write(toFile: report, atomically: true, encoding: .utf8)
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
}

/// `recfuse engines`: every kind this build can train, with its parameters and flags.
struct Engines: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "List the engine kinds this build can train and serve, with every parameter (name, type, default, flag).")
    @Flag(help: "One JSON object per kind.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        _ = global.bootstrap()
        for k in Registry.kinds {
            let params = k.parameters
            if json {
                let o: [String: Any] = [
                    "kind": k.name, "summary": k.summary,
                    "needs_encoder": (try? k.needsEncoder(k.params())) ?? false,
                    "parameters": params.map { p in
                        [
                            "name": p.name, "type": p.typeName, "default": p.defaultValue, "help": p.help,
                            "flag": p.type == .recorded ? "" : p.flag(kind: k.name),
                        ]
                    },
                ]
                print(
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("\(k.name): \(k.summary)")
                for p in params where p.type != .recorded {
                    let flag = p.flag(kind: k.name).padding(toLength: 36, withPad: " ", startingAt: 0)
                    print("  \(flag) \(p.help) (\(p.typeName); default \(p.defaultValue))")
                }
                let recorded = params.filter { $0.type == .recorded }.map(\.name)
                if !recorded.isEmpty { print("  recorded in the bundle: \(recorded.joined(separator: ", "))") }
            }
        }
    }
}
