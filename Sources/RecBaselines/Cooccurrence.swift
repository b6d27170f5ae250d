import Foundation
import RecCore
import RecData
import RecEngineKit

/// Item–item co-occurrence (item-kNN with cosine normalisation): items consumed by the same
/// users are similar, and a user is recommended the neighbours of their history.
///
///     c(i, j)   = |U(i) ∩ U(j)|                          (users who interacted with both)
///     sim(i, j) = c(i, j) / sqrt(|U(i)| · |U(j)|)        (cosine on binary vectors), i ≠ j
///     score(u, i) = Σ_{j ∈ H(u)} sim(j, i)
///
/// Only each item's `neighbours` most similar items are kept (a sparse CSR matrix), so memory
/// is O(items · neighbours) whatever the catalogue size. Interactions with rating <
/// `minRating` are ignored when counting.
///
/// Cold start: a user with an inline history is scored without retraining; a user with no
/// history at all cannot be scored (the pipeline falls back to popularity).
///
/// Hyper-parameters: `neighbours` (default 100), `minRating` (default 0 = all interactions).
/// Fit is O(Σ_u |H(u)|²), parallel over items. Explain lists the history items whose
/// similarity adds to the score. Thread-safe (immutable).
public final class CooccurrenceEngine: Explaining {
    public let name: String
    public let matrix: ItemNeighbours
    public let maxNeighbours: Int
    public let minRating: Float
    public var itemCount: Int { matrix.itemCount }
    public let summary = "item-item co-occurrence (cosine item-kNN) over the user's history"

    public init(name: String = "cooccurrence", matrix: ItemNeighbours, maxNeighbours: Int, minRating: Float) {
        self.name = name
        self.matrix = matrix
        self.maxNeighbours = maxNeighbours
        self.minRating = minRating
    }

    public static func fit(
        _ d: Dataset, name: String = "cooccurrence", neighbours k: Int = 100,
        minRating: Float = 0
    ) -> CooccurrenceEngine {
        let a = Adjacency(d, minRating: minRating)
        let (userItems, itemUsers) = (a.userItems, a.itemUsers)
        let m = ItemNeighbours.build(items: d.items.count, k: k) { i, row in
            for u in itemUsers[i] { for j in userItems[Int(u)] { row.add(j, 1) } }
            let ni = Float(itemUsers[i].count)
            row.transform { j, c in c / (ni * Float(itemUsers[Int(j)].count)).squareRoot() }
        }
        return CooccurrenceEngine(name: name, matrix: m, maxNeighbours: k, minRating: minRating)
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.isEmpty ? "no history (unknown user and no inline items)" : nil
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        guard let items else { return matrix.scores(query.history) }
        return matrix.scores(query.history, items: items)
    }

    public func explain(_ query: UserQuery, item: Int32, limit: Int) throws -> (score: Float, evidence: [Evidence]) {
        (matrix.scores(query.history)[Int(item)], matrix.evidence(query.history, to: item, limit: limit))
    }
}

/// `cooccurrence`: cosine item-kNN.
public enum CooccurrenceKind: EngineKind {
    public static let name = "cooccurrence"
    public static let summary = "item-item co-occurrence (cosine item-kNN) over the user's history"
    public static let parameters: [ParamSpec] = [
        .int("neighbours", 100, in: 1...Int.max, "neighbours kept per item"),
        .float("min_rating", 0, "ignore interactions rated below this when counting (0 = use all)"),
    ]

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let e = CooccurrenceEngine.fit(
            dataset, neighbours: try params.int("neighbours"), minRating: try params.float("min_rating"))
        return FittedEngine(engine: e, tensors: e.matrix.tensors, params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        CooccurrenceEngine(
            name: entry.name, matrix: try ItemNeighbours.load(file, itemCount: context.catalog.count),
            maxNeighbours: try params.int("neighbours"), minRating: try params.float("min_rating"))
    }
}
