import Foundation
import RecCore

/// Runs `recfuse eval`: builds the protocol's split(s), fits each engine on the training part
/// through `fit` (the composition root's trainer), and evaluates it. Engines are never
/// imported here; the evaluator only knows the `Engine` protocols.
public struct EvalRunner {
    public enum ProtocolKind: String, CaseIterable, Sendable {
        case random, temporal, loo, coldstart
        case splitFile = "split-file"
    }

    public struct Options: Sendable {
        public var protocolKind: ProtocolKind = .random
        public var seed: UInt64 = 42
        public var testFraction = 0.2
        public var negatives = 99
        public var coldFraction = 0.1
        public var reveal = [0, 1, 3, 5]
        public var threshold: Float = 4
        public var maxK = 50
        public var splitFile: URL?
        /// With a re-ranking stage: how many of each engine's top items it re-orders.
        public var rerankDepth = 20
        public init() {}
    }

    /// One engine on one split, as `--json` prints it.
    public struct Report: Sendable {
        public var engine: String
        public var protocolName: String
        public var metrics: [String: Double]
        public var curves: [String: [Double]]
        public var fitSeconds: Double
        public var usersEvaluated: Int
        /// Cold start: revealed interactions.
        public var revealed: Int?

        public var json: [String: Any] {
            var o: [String: Any] = [
                "engine": engine, "protocol": protocolName, "metrics": metrics,
                "fit_seconds": fitSeconds, "users_evaluated": usersEvaluated,
            ]
            if let revealed { o["revealed"] = revealed }
            return o
        }
    }

    public typealias Fit = (_ kind: String, _ train: Dataset) throws -> (engine: any Engine, seconds: Double)

    /// Builds a re-ranking stage from a split's training data (a judge needs the split's
    /// own user profiles). `name` labels its rows: engine "gat+local".
    public struct RerankFactory {
        public var name: String
        public var make: (_ train: Dataset) throws -> Evaluator.Rerank
        public init(name: String, make: @escaping (_ train: Dataset) throws -> Evaluator.Rerank) {
            self.name = name
            self.make = make
        }
    }

    public let options: Options
    public let fit: Fit
    public let rerank: RerankFactory?
    public let log: (String) -> Void

    public init(
        options: Options, fit: @escaping Fit, rerank: RerankFactory? = nil, log: @escaping (String) -> Void = { _ in }
    ) {
        self.options = options
        self.fit = fit
        self.rerank = rerank
        self.log = log
    }

    public func splits(_ d: Dataset) throws -> [(Split, Int?)] {
        switch options.protocolKind {
        case .random: return [(Splits.random(d, testFraction: options.testFraction, seed: options.seed), nil)]
        case .temporal: return [(Splits.temporalLeaveLastOut(d), nil)]
        case .loo: return [(Splits.leaveOneOut(d, negatives: options.negatives, seed: options.seed), nil)]
        case .coldstart:
            return options.reveal.map {
                (Splits.coldStart(d, userFraction: options.coldFraction, reveal: $0, seed: options.seed), $0)
            }
        case .splitFile:
            guard let f = options.splitFile else {
                throw RecError.invalidArgument("--protocol split-file needs --split-file FILE")
            }
            return [(try Splits.fromFile(f, dataset: d), nil)]
        }
    }

    public func run(engines: [String], on d: Dataset) throws -> [Report] {
        var reports: [Report] = []
        for (split, reveal) in try splits(d) {
            log("\(split.protocolName): \(split.train.interactions.count) train, \(split.test.count) test interactions")
            let fallback = try fit("popularity", split.train).engine
            let stage = try rerank.map { r in (r.name, try r.make(split.train)) }
            for kind in engines {
                let (engine, secs) = try fit(kind, split.train)
                func evaluate(_ rr: Evaluator.Rerank?) -> Evaluator.Result {
                    if options.protocolKind == .loo {
                        return Evaluator.sampled(
                            engine, on: split, fallback: fallback, rerank: rr, rerankDepth: options.rerankDepth)
                    }
                    var r = Evaluator.ranking(
                        engine, on: split, threshold: options.threshold, maxK: options.maxK, fallback: fallback,
                        rerank: rr, rerankDepth: options.rerankDepth)
                    if rr == nil, let rp = engine as? any RatingPredictor, !split.test.isEmpty {
                        r.metrics.merge(Evaluator.rating(rp, on: split).metrics) { a, _ in a }
                    }
                    return r
                }
                let r = evaluate(nil)
                log(
                    "\(kind) on \(split.protocolName): fit \(String(format: "%.2f", secs)) s, \(r.usersEvaluated) users"
                )
                reports.append(
                    Report(
                        engine: kind, protocolName: split.protocolName, metrics: r.metrics, curves: r.curves,
                        fitSeconds: secs, usersEvaluated: r.usersEvaluated, revealed: reveal))
                if let (name, rr) = stage {
                    let t0 = ContinuousClock.now
                    let f = evaluate(rr)
                    let s = (ContinuousClock.now - t0)
                    log("\(kind)+\(name) (top \(options.rerankDepth) re-ranked) on \(split.protocolName): \(s)")
                    reports.append(
                        Report(
                            engine: "\(kind)+\(name)", protocolName: split.protocolName, metrics: f.metrics,
                            curves: f.curves,
                            fitSeconds: secs, usersEvaluated: f.usersEvaluated, revealed: reveal))
                }
            }
        }
        return reports
    }

    /// The self-contained HTML report of `reports` with the cold-start protocol's curves (run
    /// here for `engines`, unless `reports` already are cold-start ones).
    public func htmlReport(_ reports: [Report], on d: Dataset, title: String, engines: [String]) throws -> String {
        var coldOptions = options
        coldOptions.protocolKind = .coldstart
        let isCold = options.protocolKind == .coldstart
        let cold =
            isCold
            ? reports
            : try EvalRunner(options: coldOptions, fit: fit, rerank: rerank, log: log).run(engines: engines, on: d)
        return HTMLReport.render(title: title, main: isCold ? [] : reports, coldStart: cold)
    }

    /// A fixed-width table for terminals.
    public static func table(_ reports: [Report]) -> String {
        let cols = ["rmse", "mae", "precision@10", "recall@10", "ndcg@10", "map@10", "hr@10", "coverage@10"]
        let present = cols.filter { c in reports.contains { $0.metrics[c] != nil } }
        var out =
            "engine".padding(toLength: 26, withPad: " ", startingAt: 0)
            + "protocol".padding(toLength: 16, withPad: " ", startingAt: 0)
        out += present.map { $0.padding(toLength: 13, withPad: " ", startingAt: 0) }.joined() + "fit s   users\n"
        for r in reports {
            out +=
                r.engine.padding(toLength: 26, withPad: " ", startingAt: 0)
                + r.protocolName.padding(toLength: 16, withPad: " ", startingAt: 0)
            out += present.map { c in
                (r.metrics[c].map { String(format: "%.4f", $0) } ?? "-").padding(
                    toLength: 13, withPad: " ", startingAt: 0)
            }.joined()
            out += String(format: "%-7.2f %d\n", r.fitSeconds, r.usersEvaluated)
        }
        return out
    }
}
