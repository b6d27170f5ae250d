import ArgumentParser
import Foundation
import Logging
import RecCore
import RecData
import RecEval
import RecServer
import RecSVD
import RecWire

/// `recfuse`: the command line. No logic lives here: each subcommand parses its flags and
/// calls the libraries.
struct Recfuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recfuse",
        abstract: "A recommendation scoring server: protobuf over NNG, GAT / SVD++ / LLM-fusion engines.",
        version: Service.version,
        subcommands: [Data_.self, Train.self, Eval.self, Serve.self])
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

    func apply(_ p: inout SVDEngine.Params) {
        if let factors { p.factors = factors }
        if let epochs { p.epochs = epochs }
        if let lr { p.lr = lr }
        if let reg { p.reg = reg }
        if let initStd { p.initStd = initStd }
        if let svdSeed { p.seed = svdSeed }
    }

    var trainOptions: Bundles.TrainOptions {
        var o = Bundles.TrainOptions()
        o.popularityHalfLifeDays = halfLifeDays
        o.cooccurrenceNeighbours = neighbours
        o.minRating = minRating
        if let lambda { o.easeLambda = lambda }
        apply(&o.svd)
        apply(&o.svdpp)
        return o
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
        let line = String(format: "\r%@: epoch %d/%d  %@ %.4f  ETA %@   ", p.engine, p.epoch, p.epochs, p.lossName, p.loss, eta)
        FileHandle.standardError.write(Data(line.utf8))
        if p.epoch == p.epochs { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func fail(_ e: Error) -> Never {
    FileHandle.standardError.write(Data("error: \(e)\n".utf8))
    Foundation.exit(1)
}

struct Data_: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Datasets.", subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a MovieLens dataset into the data directory, verified by SHA-256.",
            discussion: "Tries GroupLens first; for ml-100k falls back to the RecBole 1.2.1 wheel on PyPI (PIP_INDEX_URL is honoured).")
        @Argument(help: "Dataset: \(DatasetFetcher.knownNames.joined(separator: ", ")).") var name: String
        @Option(help: "Data directory.") var dataDir: String = "data"
        @Flag(help: "Download again even if a verified copy exists.") var force = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let log = global.bootstrap()
            do {
                let dir = try DatasetFetcher(dataDir: URL(fileURLWithPath: dataDir), log: { log.info("\($0)") }).fetch(name, force: force)
                print(dir.path)
            } catch { fail(error) }
        }
    }
}

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
            let o = engineOptions.trainOptions
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
            let train = engineOptions.trainOptions
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

func loadDataset(_ spec: String, dataDir: String, log: Logger) throws -> Dataset {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), isDir.boolValue {
        return try MovieLens.load(URL(fileURLWithPath: spec))
    }
    let dir = try DatasetFetcher(dataDir: URL(fileURLWithPath: dataDir), log: { log.info("\($0)") }).fetch(spec)
    return try MovieLens.load(dir, name: spec)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a bundle over NNG (REQ/REP, protobuf envelopes) until SIGINT/SIGTERM.")
    @Option(help: "Model bundle folder.") var bundle: String = "bundles/default"
    @Option(help: "URL to listen on, repeatable: ipc:///path, tcp://127.0.0.1:7878.") var listen: [String] = []
    @Option(help: "Worker threads (default: one per core).") var workers: Int?
    @Option(help: "NNG contexts, i.e. requests in flight at most.") var contexts: Int = 64
    @Option(help: "Largest request accepted (NNG_OPT_RECVMAXSZ); NNG drops larger ones and their connection.")
    var maxMessageBytes: Int = 4 << 20
    @Option(help: "Largest k a request may ask for.") var maxK: Int = 10_000
    @Option(help: "Most candidates a Rank request may carry.") var maxCandidates: Int = 10_000
    @Option(help: "Longest history a request may carry inline.") var maxHistory: Int = 10_000
    @Option(help: "Longest free text (bytes).") var maxTextBytes: Int = 16_384
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
            let t0 = ContinuousClock.now
            let (rec, manifest) = try Bundles.load(URL(fileURLWithPath: bundle), limits: limits)
            log.info("loaded bundle \(manifest.version) in \(String(format: "%.2f", (ContinuousClock.now - t0).seconds)) s: engines \(rec.engines.map(\.name).joined(separator: ", ")), default \(rec.defaultEngine)")
            let service = Service(rec)
            service.setFacts(Bundles.facts(manifest, maxMessageBytes: maxMessageBytes))
            var config = ServerConfig(listen: listen)
            config.workers = workers ?? ProcessInfo.processInfo.activeProcessorCount
            config.contexts = contexts
            config.maxMessageBytes = maxMessageBytes
            let server = Server(service: service, config: config, logger: Logger(label: "recfuse.server"))
            try server.start()
            server.runUntilSignalled()
        } catch { fail(error) }
    }
}

Recfuse.main()
