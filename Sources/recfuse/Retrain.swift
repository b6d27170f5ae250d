import ArgumentParser
import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEngines
import RecEval
import RecStore
import RecText

/// `recfuse retrain`: what `serve --retrain-every` and Admin/Retrain run in a child process.
struct Retrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a new bundle from a bundle's dataset plus a store's writes, and judge it against the bundle.",
        discussion: """
            The most recent --holdout-fraction of the recorded feedback is held out; the new bundle is trained \
            (same engines, parameters and default engine as --bundle) on the rest; both bundles, serving the \
            same recorded writes, rank each held-out user's items (NDCG@10 of the default engine, relevant = \
            rating >= the dataset's threshold, or unrated). The new bundle is kept when it is not worse than \
            --bundle by more than --tolerance; otherwise it is deleted. Prints one JSON object.
            """)

    @Option(help: "The serving bundle.") var bundle: String
    @Option(help: "The store (as serve --store).") var store: String
    @Option(help: "Folder to write the new bundle to.") var out: String
    @Option(help: "Folder holding sentence-encoder models.") var modelsDir: String = "models"
    @Option(help: "Share of the recorded feedback (the most recent) held out to judge by.")
    var holdoutFraction: Double = 0.1
    @Option(help: "Fewest held-out users to judge by; with fewer the new bundle is not kept.")
    var minHoldoutUsers: Int = 5
    @Option(help: "How much lower (absolute NDCG@10) the new bundle may score and still be kept.")
    var tolerance: Double = 0.01
    @OptionGroup var global: GlobalOptions

    struct Outcome: Codable {
        var keep: Bool
        var message: String
        var serving_ndcg10: Double
        var candidate_ndcg10: Double
        var holdout_events: Int
        var holdout_users: Int
        var trained_events: Int
        var out: String
        var seconds: Double
    }

    func run() throws {
        let log = global.bootstrap()
        do {
            guard holdoutFraction > 0, holdoutFraction < 1, tolerance >= 0, minHoldoutUsers >= 1 else {
                throw RecError.invalidArgument(
                    "--holdout-fraction must be in (0, 1), --tolerance >= 0, --min-holdout-users >= 1")
            }
            let t0 = ContinuousClock.now
            let reader = try BundleReader(URL(fileURLWithPath: bundle))
            let backend = try StoreURL.open(store)
            var events: [WriteEvent] = []
            var last: Int64 = 0
            while true {
                let chunk = try backend.read(after: last, limit: 100_000)
                guard let end = chunk.last else { break }
                events += chunk
                last = end.sequence
            }
            let split = Retraining.split(events, holdoutFraction: holdoutFraction)
            let data = try Retraining.dataset(reader, plus: split.train)
            log.info(
                """
                retraining on \(data.interactions.count) interactions (\(split.trainedFeedback) recorded), \
                \(data.users.count) users, \(data.items.count) items; \(split.holdout.count) recent events held out
                """)
            let threshold = Splits.relevanceThreshold(data)
            let heldUsers = Set(
                split.holdout.filter { $0.kind == .feedback && ($0.rating == 0 || $0.rating >= threshold) }.map(\.user))
            if heldUsers.count < minHoldoutUsers {
                // Nothing to judge a new bundle by: not worth training one.
                try printOutcome(
                    Outcome(
                        keep: false,
                        message: "too few held-out users to judge by (\(heldUsers.count) with relevant recent "
                            + "feedback, fewer than \(minHoldoutUsers)): not retrained",
                        serving_ndcg10: 0, candidate_ndcg10: 0, holdout_events: split.holdout.count,
                        holdout_users: heldUsers.count, trained_events: split.trainedFeedback, out: out,
                        seconds: (ContinuousClock.now - t0).seconds))
                return
            }
            let plan = try Retraining.plan(reader.manifest)
            let outURL = URL(fileURLWithPath: out)
            let models = URL(fileURLWithPath: modelsDir)
            _ = try Bundles.train(
                data, plan: plan, out: outURL, name: reader.manifest.name,
                context: FitContext(
                    modelsDir: models, embeddingCache: EmbeddingCache.defaultDirectory, log: { log.info("\($0)") }))
            let live = LiveState()
            live.apply(split.train)
            let changes = live.catalogueChanges()
            func score(_ dir: URL) throws -> (Double, Int) {
                let (rec, m) = try Bundles.load(dir, modelsDir: models)
                return try Retraining.ndcg10(
                    rec.serving(live, changes: changes), engine: m.defaultEngine, holdout: split.holdout,
                    threshold: threshold)
            }
            let (serving, users) = try score(reader.root)
            let (candidate, _) = try score(outURL)
            var keep = candidate >= serving - tolerance
            var message = String(
                format: "NDCG@10 of %@ on %d recent events of %d users: retrained %.4f, serving %.4f (tolerance %.4f)",
                reader.manifest.defaultEngine, split.holdout.count, users, candidate, serving, tolerance)
            if users < minHoldoutUsers {
                keep = false
                message += "; too few held-out users to judge by (fewer than \(minHoldoutUsers)): not kept"
            } else {
                message += keep ? "; kept" : "; worse: not kept"
            }
            if !keep { try? FileManager.default.removeItem(at: outURL) }
            let o = Outcome(
                keep: keep, message: message, serving_ndcg10: serving, candidate_ndcg10: candidate,
                holdout_events: split.holdout.count, holdout_users: users, trained_events: split.trainedFeedback,
                out: out, seconds: (ContinuousClock.now - t0).seconds)
            try printOutcome(o)
        } catch { fail(error) }
    }

    func printOutcome(_ o: Outcome) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        print(String(decoding: try enc.encode(o), as: UTF8.self))
    }
}
