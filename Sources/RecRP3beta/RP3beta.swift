import Foundation
import RecCore
import RecData
import RecEngineKit

/// RP3beta (Paudel, Christoffel, Newell & Bernstein, *Updatable, accurate, diverse, and
/// scalable recommendations for interactive applications*, ACM TiiS 2017): a three-step random
/// walk user → item → user → item over the bipartite graph, with each transition probability
/// raised to α and the landing item's popularity discounted by β.
///
///     P_ui = x_ui / Σ_j x_uj                 user → item (x = 1, or the rating when not implicit)
///     P_iu = 1 / |U(i)|                       item → user
///     W_ij = pop(j)^-β · Σ_u P_iu^α · P_uj^α   (i ≠ j; each row's `neighbours` largest kept,
///                                              optionally scaled to sum to 1)
///     score(u, j) = Σ_{i ∈ H(u)} x_ui · W_ij
///
/// with pop(j) = |U(j)|. α < 1 flattens the transitions, β > 0 favours the long tail. W is an
/// `ItemNeighbours` matrix: memory O(items · neighbours), fit O(Σ_u |H(u)|²) in parallel over
/// items, a request O(|H(u)| · neighbours). Interactions rated below `minRating` are left out
/// of the graph (and of the history at scoring time, as in EASE).
///
/// Cold start: a user with an inline history is scored without retraining; with no history
/// the pipeline falls back to popularity. Explain lists the history items whose weights add
/// to the score. Hyper-parameters (defaults chosen on a validation slice of ml-100k's
/// training data with benchmarks/tune.py, docs/engines.md): α 0.5, β 0.55, 200 neighbours,
/// ratings as weights (implicit false), rows normalised. Thread-safe (immutable).
public final class RP3betaEngine: Explaining {
    public struct Params: Sendable, Equatable {
        public var alpha = 0.5
        public var beta = 0.55
        public var neighbours = 200
        public var implicit = false
        public var normalize = true
        public var minRating: Float = 0
        public init() {}

        static let fields = ParamFields<Params>([
            .double("alpha", \.alpha, in: 0...4, "exponent on every transition probability"),
            .double("beta", \.beta, in: 0...4, "popularity discount: weights into item j divided by pop(j)^beta"),
            .int("neighbours", \.neighbours, in: 1...Int.max, "neighbours kept per item"),
            .bool("implicit", \.implicit, "treat every interaction as 1 (false: weight by rating)"),
            .bool("normalize", \.normalize, "scale each item's kept weights to sum to 1"),
            .float("min_rating", \.minRating, "interactions rated below this are left out (0 = use all)"),
        ])
    }

    public let name: String
    public let params: Params
    public let matrix: ItemNeighbours
    public var itemCount: Int { matrix.itemCount }
    public var summary: String {
        "RP3beta random walk item-item (Paudel 2017), alpha \(params.alpha), beta \(params.beta), "
            + "\(params.neighbours) neighbours"
    }

    public init(name: String = "rp3beta", params: Params, matrix: ItemNeighbours) {
        self.name = name
        self.params = params
        self.matrix = matrix
    }

    public static func fit(_ d: Dataset, name: String = "rp3beta", params p: Params = Params()) -> RP3betaEngine {
        let a = Adjacency(d, minRating: p.minRating)
        let (userItems, itemUsers, ratings) = (a.userItems, a.itemUsers, a.userRatings)
        let implicit = p.implicit, alpha = Float(p.alpha)
        // P_uj^α for every user's items, and pop(j)^-β.
        let step: [[Float]] = userItems.indices.map { u in
            // An unrated interaction (implicit feedback) weighs 1, as in `weight` at serving time.
            let x = implicit ? userItems[u].map { _ in Float(1) } : ratings[u].map { $0 == 0 ? 1 : $0 }
            let total = x.reduce(0, +)
            return x.map { total > 0 ? Float(pow(Double($0 / total), p.alpha)) : 0 }
        }
        let discount = itemUsers.map { $0.isEmpty ? Float(0) : Float(pow(Double($0.count), -p.beta)) }
        let m = ItemNeighbours.build(items: d.items.count, k: p.neighbours) { i, row in
            guard !itemUsers[i].isEmpty else { return }
            let back = pow(1 / Float(itemUsers[i].count), alpha)
            for u in itemUsers[i] {
                let items = userItems[Int(u)], w = step[Int(u)]
                for (n, j) in items.enumerated() { row.add(j, back * w[n]) }
            }
            row.transform { j, v in v * discount[Int(j)] }
        }
        return RP3betaEngine(name: name, params: p, matrix: p.normalize ? normalised(m) : m)
    }

    /// Each row scaled to sum to 1 (rows that sum to 0 stay as they are).
    static func normalised(_ m: ItemNeighbours) -> ItemNeighbours {
        var w = m.weights
        for i in 0..<m.itemCount {
            let r = m.offsets[i]..<m.offsets[i + 1]
            let s = w[r].reduce(0, +)
            if s > 0 { for p in r { w[p] /= s } }
        }
        return ItemNeighbours(offsets: m.offsets, neighbours: m.neighbours, weights: w)
    }

    /// A history entry's weight: 1 (implicit) or its rating; 0 below `min_rating`.
    func weight(_ h: HistoryEntry) -> Float {
        if h.rating > 0 && h.rating < params.minRating { return 0 }
        return params.implicit || h.rating == 0 ? 1 : h.rating
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.isEmpty ? "no history (unknown user and no inline items)" : nil
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        guard let items else { return matrix.scores(query.history, weight: weight) }
        return matrix.scores(query.history, weight: weight, items: items)
    }

    public func explain(_ query: UserQuery, item: Int32, limit: Int) throws -> (score: Float, evidence: [Evidence]) {
        (
            matrix.scores(query.history, weight: weight)[Int(item)],
            matrix.evidence(query.history, to: item, limit: limit, weight: weight)
        )
    }
}

/// `rp3beta`: the random-walk item-item engine.
public enum RP3betaKind: EngineKind {
    public static let name = "rp3beta"
    public static let summary = "RP3beta (Paudel 2017): 3-step random walk item-item with a popularity discount"
    public static let parameters = RP3betaEngine.Params.fields.specs(defaults: RP3betaEngine.Params())

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let e = RP3betaEngine.fit(dataset, params: try RP3betaEngine.Params.fields.read(params, over: .init()))
        return FittedEngine(engine: e, tensors: e.matrix.tensors, params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        RP3betaEngine(
            name: entry.name, params: try RP3betaEngine.Params.fields.read(params, over: .init()),
            matrix: try ItemNeighbours.load(file, itemCount: context.catalog.count))
    }
}
