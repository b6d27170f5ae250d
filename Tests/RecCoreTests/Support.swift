import RecTestSupport

@testable import RecCore

/// Scores item i as `weights[i]`; cannot score users without history when `needsHistory`.
final class FixedEngine: Engine {
    let name: String
    let summary = "fixed scores for tests"
    let weights: [Float]
    let needsHistory: Bool
    var itemCount: Int { weights.count }
    init(name: String, weights: [Float], needsHistory: Bool = false) {
        self.name = name
        self.weights = weights
        self.needsHistory = needsHistory
    }
    func unscorableReason(_ q: UserQuery) -> String? { needsHistory && q.history.isEmpty ? "no history" : nil }
    func score(_ q: UserQuery, items: [Int32]?) throws -> [Float] { gather(weights, items) }
}

/// Five movies, two users.
func makeRecommender(limits: Limits = Limits()) throws -> Recommender {
    let items = try IDMap(ids: ["10", "20", "30", "40", "50"])
    let meta = [
        ItemMeta(title: "Alpha", year: 1990, genres: ["Drama"]),
        ItemMeta(title: "Beta", year: 1995, genres: ["Comedy", "Drama"]),
        ItemMeta(title: "Gamma", year: 2000, genres: ["Horror"]),
        ItemMeta(title: "Delta", year: nil, genres: ["Comedy"]),
        ItemMeta(title: "Eps", year: 1985, genres: []),
    ]
    let users = try IDMap(ids: ["u1", "u2"])
    let hist = Histories(
        userCount: 2,
        interactions: [
            Interaction(user: 0, item: 4, rating: 5, timestamp: 100),
            Interaction(user: 0, item: 0, rating: 3, timestamp: 50),
        ])
    return try Recommender(
        catalog: Catalog(ids: items, meta: meta),
        users: UserStore(ids: users, meta: [UserMeta(age: 30), UserMeta()], histories: hist),
        engines: [
            FixedEngine(name: "pop", weights: [5, 4, 3, 2, 1]),
            FixedEngine(name: "cf", weights: [1, 2, 3, 4, 5], needsHistory: true),
        ],
        defaultEngine: "cf", fallbackEngine: "pop", limits: limits, bundleVersion: "test@1")
}
