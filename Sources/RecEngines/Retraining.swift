import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEval

/// Scheduled retraining: a bundle's dataset plus the writes recorded since, trained into a
/// new bundle, judged against the serving one on the most recent recorded feedback.
public enum Retraining {
    /// The recorded events split for a retrain: the most recent feedback held out to judge
    /// by, everything else to train on.
    public struct Split: Sendable {
        public var train: [WriteEvent]
        public var holdout: [WriteEvent]
        public var trainedFeedback: Int { train.count { $0.kind == .feedback } }
    }

    /// Holds out the last `fraction` of the feedback events (by sequence, so by arrival).
    public static func split(_ events: [WriteEvent], holdoutFraction: Double) -> Split {
        let sorted = events.sorted { $0.sequence < $1.sequence }
        let feedback = sorted.filter { $0.kind == .feedback }
        let n = Int((Double(feedback.count) * holdoutFraction).rounded(.up))
        let cut = Set(feedback.suffix(n).map(\.sequence))
        return Split(
            train: sorted.filter { !cut.contains($0.sequence) }, holdout: sorted.filter { cut.contains($0.sequence) })
    }

    /// The bundle's dataset with `events` laid over it: new users and items appended, items'
    /// and users' metadata replaced, feedback added (one interaction per user and item, the
    /// latest). Deleted items stay (the store's delete keeps hiding them from replies).
    public static func dataset(_ bundle: BundleReader, plus events: [WriteEvent]) throws -> Dataset {
        var items = bundle.catalog.ids, itemMeta = bundle.catalog.meta
        var users = bundle.users.ids, userMeta = bundle.users.meta
        for e in events {
            switch e.kind {
            case .upsertItem:
                let i = Int(items.intern(e.item))
                if i == itemMeta.count {
                    itemMeta.append(e.itemMeta ?? ItemMeta(title: ""))
                } else {
                    itemMeta[i] = e.itemMeta ?? itemMeta[i]
                }
            case .upsertUser:
                let u = Int(users.intern(e.user))
                if u == userMeta.count {
                    userMeta.append(e.userMeta ?? UserMeta())
                } else {
                    userMeta[u] = e.userMeta ?? userMeta[u]
                }
            case .feedback, .deleteItem: break
            }
        }
        // Bundle interactions first, then feedback in order; a later (user, item) replaces.
        var position: [Int64: Int] = [:]
        var xs: [Interaction] = []
        func add(_ x: Interaction) {
            let key = Int64(x.user) << 32 | Int64(x.item)
            if let p = position[key] {
                xs[p] = x
            } else {
                position[key] = xs.count
                xs.append(x)
            }
        }
        let h = bundle.users.histories
        for u in 0..<bundle.users.ids.count {
            for e in h.entries(of: Int32(u)) {
                add(Interaction(user: Int32(u), item: e.item, rating: e.rating, timestamp: e.timestamp))
            }
        }
        for e in events where e.kind == .feedback {
            guard let i = items.index(of: e.item) else { continue }  // recorded only for known items
            let u = users.intern(e.user)
            if Int(u) == userMeta.count { userMeta.append(UserMeta()) }
            add(Interaction(user: u, item: i, rating: e.rating, timestamp: e.timestamp))
        }
        return Dataset(
            name: bundle.manifest.dataset.name, users: users, items: items, interactions: xs, itemMeta: itemMeta,
            userMeta: userMeta, schema: bundle.catalog.schema)
    }

    /// The training plan of the bundle at `manifest`: its engines, their set parameters (not
    /// what training recorded), its default engine.
    public static func plan(_ manifest: BundleManifest) throws -> Bundles.Plan {
        var params: [String: [String: String]] = [:]
        for e in manifest.engines {
            let kind = try Registry.kind(e.kind)
            let settable = Set(kind.parameters.filter { $0.type != .recorded }.map(\.name))
            params[e.kind] = e.params.filter { settable.contains($0.key) }
        }
        return Bundles.Plan(
            kinds: manifest.engines.map(\.kind), params: params, defaultEngine: manifest.defaultEngine)
    }

    /// NDCG@10 of `engine` of `rec` (serving `live`, the training events) on the held-out
    /// feedback: per user, their held-out items that count as relevant (rating at least
    /// `threshold`, or unrated) against Retrieve's top 10 (exclude-seen), averaged over the users
    /// with one. Returns the mean and the users counted.
    public static func ndcg10(
        _ rec: Recommender, engine: String, holdout: [WriteEvent], threshold: Float
    ) throws -> (ndcg: Double, users: Int) {
        var relevant: [String: Set<String>] = [:]
        for e in holdout where e.kind == .feedback && (e.rating == 0 || e.rating >= threshold) {
            relevant[e.user, default: []].insert(e.item)
        }
        var sum = 0.0, counted = 0
        for (user, held) in relevant.sorted(by: { $0.key < $1.key }) {
            // Items the user had already (a re-rating) cannot be retrieved (exclude-seen): not counted.
            var warnings: [String] = []
            let seen = try rec.resolve(UserSpec(id: user), warnings: &warnings).seen
            let items = held.filter { id in rec.catalog.ids.index(of: id).map { !seen.contains($0) } ?? false }
            guard !items.isEmpty else { continue }
            counted += 1
            let r = try rec.retrieve(RetrieveQuery(user: UserSpec(id: user), engine: engine, k: 10))
            var dcg = 0.0
            for (rank, s) in r.items.enumerated() where items.contains(rec.catalog.ids[s.item]) {
                dcg += 1 / log2(Double(rank) + 2)
            }
            let ideal = (0..<min(items.count, 10)).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
            sum += dcg / ideal
        }
        return (counted == 0 ? 0 : sum / Double(counted), counted)
    }
}
