import Foundation
import RecCore
import RecData
import RecEngineKit

/// Most-popular baseline, optionally time-decayed: the survey's simplest heuristic and the
/// fallback for users no other engine can score.
///
///     pop(i) = Σ_{(u,i,r,t) : r >= minRating} 0.5 ^ ((t_max - t) / halfLife)
///
/// With `halfLifeDays = 0` every interaction counts 1 (plain counts). The score is the same
/// for every user: cold start is its nature, so it never declines a user.
///
/// Hyper-parameters: `halfLifeDays` (default 0 = no decay), `minRating` (default 0 = every
/// interaction counts). Thread-safe (immutable).
public final class PopularityEngine: Engine {
    public let name: String
    public let scores: [Float]
    public let halfLifeDays: Double
    public let minRating: Float
    public var itemCount: Int { scores.count }
    public var summary: String {
        halfLifeDays > 0
            ? "most popular items, interactions decayed with a \(halfLifeDays)-day half-life"
            : "most popular items (interaction counts)"
    }

    public init(name: String = "popularity", scores: [Float], halfLifeDays: Double = 0, minRating: Float = 0) {
        self.name = name
        self.scores = scores
        self.halfLifeDays = halfLifeDays
        self.minRating = minRating
    }

    public static func fit(
        _ d: Dataset, name: String = "popularity", halfLifeDays: Double = 0, minRating: Float = 0
    ) -> PopularityEngine {
        var s = [Float](repeating: 0, count: d.items.count)
        let tMax = d.interactions.map(\.timestamp).max() ?? 0
        let halfLife = halfLifeDays * 86_400
        for x in d.interactions where x.rating >= minRating {
            s[Int(x.item)] += halfLife > 0 ? Float(pow(0.5, Double(tMax - x.timestamp) / halfLife)) : 1
        }
        return PopularityEngine(name: name, scores: s, halfLifeDays: halfLifeDays, minRating: minRating)
    }

    public func unscorableReason(_ query: UserQuery) -> String? { nil }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] { gather(scores, items) }

    public func tensors() -> SafetensorsWriter {
        var t = SafetensorsWriter()
        t.add("scores", scores)
        return t
    }
}

extension PopularityEngine: NewItemScoring {
    /// A new item's popularity is its recorded feedback counted as training counted it (each
    /// event is recent, so a decayed count takes it at full weight).
    public func newItemModel(_ meta: ItemMeta, raters: [NewItemRater]) throws -> NewItemModel {
        .constant(Float(raters.filter { $0.rating >= minRating }.count))
    }
}

/// Per-genre popularity: popularity re-weighted by how much of the user's history falls in
/// each of the item's genres — "popular among the genres you watch".
///
///     share_u(g) = |{j ∈ H(u) : g ∈ G(j)}| / Σ_j |G(j)|
///     score(u, i) = pop(i) · (ε + Σ_{g ∈ G(i)} share_u(g)),   ε = 0.05
///
/// Needs a history (stored or inline); users without one fall back to plain popularity.
/// Thread-safe (immutable).
public final class GenrePopularityEngine: Engine {
    public let name: String
    public let popularity: [Float]
    public let genreIDs: [[Int16]]
    public let genreCount: Int
    public static let epsilon: Float = 0.05
    public var itemCount: Int { popularity.count }
    public let summary = "popularity weighted by the user's genre mix"

    public init(name: String = "genre-popularity", popularity: [Float], catalog: Catalog) {
        self.name = name
        self.popularity = popularity
        self.genreIDs = catalog.genreIDs
        self.genreCount = catalog.genreNames.count
    }

    public func unscorableReason(_ query: UserQuery) -> String? {
        query.history.contains { !genreIDs[Int($0.item)].isEmpty } ? nil : "no history with genres to weigh"
    }

    public func score(_ query: UserQuery, items: [Int32]?) throws -> [Float] {
        var share = [Float](repeating: 0, count: genreCount)
        var total: Float = 0
        for h in query.history {
            for g in genreIDs[Int(h.item)] {
                share[Int(g)] += 1
                total += 1
            }
        }
        if total > 0 { for g in share.indices { share[g] /= total } }
        func s(_ i: Int) -> Float {
            var w = Self.epsilon
            for g in genreIDs[i] { w += share[Int(g)] }
            return popularity[i] * w
        }
        if let items { return items.map { s(Int($0)) } }
        return (0..<itemCount).map(s)
    }
}

/// `popularity`: every bundle's fallback.
public enum PopularityKind: EngineKind {
    public static let name = "popularity"
    public static let summary = "most popular items, optionally time-decayed; every bundle's fallback"
    public static let parameters: [ParamSpec] = [
        .double(
            "half_life_days", 0, in: 0...(.greatestFiniteMagnitude),
            "half-life in days for time decay (0 = plain counts)"),
        .float("min_rating", 0, "ignore interactions rated below this (0 = use all)"),
    ]

    static func fitPopularity(_ d: Dataset, _ params: EngineParams) throws -> PopularityEngine {
        PopularityEngine.fit(
            d, halfLifeDays: try params.double("half_life_days"), minRating: try params.float("min_rating"))
    }

    static func loadScores(_ file: SafetensorsFile, _ context: LoadContext) throws -> [Float] {
        try file.floats("scores", shape: [context.catalog.count])
    }

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let e = try fitPopularity(dataset, params)
        return FittedEngine(engine: e, tensors: e.tensors(), params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        PopularityEngine(
            name: entry.name, scores: try loadScores(file, context), halfLifeDays: try params.double("half_life_days"),
            minRating: try params.float("min_rating"))
    }
}

/// `genre-popularity`: popularity weighted by the user's genre mix (same parameters and tensor).
public enum GenrePopularityKind: EngineKind {
    public static let name = "genre-popularity"
    public static let summary = "popularity weighted by the user's genre mix"
    public static let parameters = PopularityKind.parameters

    public static func fit(_ dataset: Dataset, params: EngineParams, context: FitContext) throws -> FittedEngine {
        let pop = try PopularityKind.fitPopularity(dataset, params)
        let e = GenrePopularityEngine(
            popularity: pop.scores, catalog: dataset.makeCatalog())
        return FittedEngine(engine: e, tensors: pop.tensors(), params: params)
    }

    public static func load(
        _ file: SafetensorsFile, entry: BundleManifest.EngineEntry, params: EngineParams,
        context: LoadContext
    ) throws -> any Engine {
        GenrePopularityEngine(
            name: entry.name, popularity: try PopularityKind.loadScores(file, context), catalog: context.catalog)
    }
}
