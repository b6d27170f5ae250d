import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecEval
import RecServer
import RecSVD
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
            let train = try engineOptions.trainOptions()
            let runner = EvalRunner(options: o, fit: { [train] k, d in
                let f = try Bundles.fit(k, d, options: train)
                return (f.engine, f.seconds)
            }, log: { log.info("\($0)") })
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
                    : try EvalRunner(options: coldOptions, fit: runner.fit, log: runner.log).run(engines: kinds, on: data)
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
}

