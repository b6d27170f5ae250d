/// Everything an engine may use to score items for one user, in dense indices.
///
/// Built once per request by the pipeline from the wire's `User` (stored history of a
/// known user merged with any inline history); engines never see raw ids.
public struct UserQuery: Sendable {
    /// The user's dense index when the bundle knows them.
    public var userIndex: Int32?
    /// The id as the caller gave it ("" for an anonymous user).
    public var rawID: String
    /// Known + recorded + inline history, ordered by time, one entry per item; only items the
    /// engines were trained on.
    public var history: [HistoryEntry]
    /// Items of the history added to the catalogue after training (exclude-seen covers them;
    /// engines never see them).
    public var newItemsSeen: [Int32] = []
    /// Free-text preference, possibly empty.
    public var preference: String
    public var meta: UserMeta

    public init(
        userIndex: Int32? = nil, rawID: String = "", history: [HistoryEntry] = [],
        preference: String = "", meta: UserMeta = UserMeta()
    ) {
        self.userIndex = userIndex
        self.rawID = rawID
        self.history = history
        self.preference = preference
        self.meta = meta
    }
}

extension UserQuery {
    /// Every item of the history, those added since the bundle included (what exclude-seen leaves out).
    public var seen: Set<Int32> { Set(history.map(\.item) + newItemsSeen) }
}

/// A scoring engine. Every model recfuse hosts (popularity, co-occurrence, SVD++, EASE,
/// GAT, text) conforms to this one protocol; the pipeline does filtering, top-k,
/// fallbacks and id mapping around it.
///
/// Contract:
/// - Engines are immutable after loading and are called from many worker threads at once.
/// - `score` returns one finite score per requested item, aligned with `items`
///   (or with the whole catalogue, in index order, when `items` is nil). Higher is better.
/// - An engine that cannot score a user (unknown user, empty history, no text) says so in
///   `unscorableReason`; the pipeline then falls back to popularity and reports the reason.
///   That is not an RPC failure.
public protocol Engine: AnyObject, Sendable {
    /// The name callers select the engine by ("popularity", "cooccurrence", "svdpp", ...).
    var name: String { get }
    /// One line for `Info`.
    var summary: String { get }
    /// Number of items the engine scores (the bundle's catalogue size).
    var itemCount: Int { get }
    /// nil when the engine can score `query`; otherwise a short reason why not.
    func unscorableReason(_ query: UserQuery) -> String?
    /// Scores for `items` (dense indices), or for every item when `items` is nil.
    func score(_ query: UserQuery, items: [Int32]?) throws -> [Float]
    /// `score`, or the reason `unscorableReason` would give: what the pipeline calls, so an
    /// engine that has to work out how to serve a user (the GAT's and the text engine's plan)
    /// does it once per request. The default asks `unscorableReason`, then scores.
    func answer(_ query: UserQuery, items: [Int32]?) throws -> EngineAnswer
}

/// An engine's answer for one user: scores, or why it cannot score them.
public enum EngineAnswer: Sendable {
    case scores([Float])
    case declined(String)
}

extension Engine {
    public func answer(_ query: UserQuery, items: [Int32]?) throws -> EngineAnswer {
        if let why = unscorableReason(query) { return .declined(why) }
        return .scores(try score(query, items: items))
    }

    /// Scores a subset by scoring everything and gathering: the default for engines
    /// whose full-catalogue pass is a single matrix-vector product anyway.
    public func gather(_ all: [Float], _ items: [Int32]?) -> [Float] {
        guard let items else { return all }
        return items.map { all[Int($0)] }
    }
}

/// An engine that also predicts explicit ratings (on the dataset's scale), for RMSE/MAE.
public protocol RatingPredictor: Engine {
    /// Predicted ratings for `items`, aligned with it.
    func predictRatings(_ query: UserQuery, items: [Int32]) -> [Float]
}

/// An engine that scores by the dot product of a query vector with per-item unit vectors in
/// a sentence-embedding space (the text engine). The local judge and Rerank's diversity
/// (MMR) work in that space, through this protocol, without knowing the engine.
public protocol TextEmbeddingSpace: Engine {
    /// Width of the vectors.
    var dimension: Int { get }
    /// The unit query vector for `query` (throws when `unscorableReason` would say why not).
    func queryVector(_ query: UserQuery) throws -> [Float]
    /// Item `item`'s unit vector.
    func itemVector(_ item: Int32) -> ArraySlice<Float>
}

/// An engine whose score is an inner product, `score(u, i) = c(u) + ⟨x(u), v_i⟩ + b_i`, with
/// one user vector `x(u)` and offset `c(u)` for every item (GAT, SVD, SVD++, text). Retrieve
/// over a big catalogue can then ask an approximate inner-product index (`ApproximateIndex`)
/// for the best items and score only those exactly, or screen the catalogue with bounds on
/// every item's score (`ScoreScreen`) and score exactly only the items that can reach the top.
///
/// The score must be that sum computed in `Float`, one rounding per operation, in any order
/// (a screen's bounds allow for the rounding error such a sum can have, and no more).
public protocol DotProductEngine: Engine {
    /// Width of `x(u)` and `v_i`.
    var vectorDimension: Int { get }
    /// The `v_i`, row-major, `itemCount × vectorDimension` (a copy; `withItemVectors` reads
    /// them in place).
    var itemVectorData: [Float] { get }
    /// Calls `body` with the `v_i`, row-major, in place (the default copies `itemVectorData`).
    func withItemVectors<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R
    /// The `b_i`, one per item; empty when the engine has no per-item term.
    var itemBiases: [Float] { get }
    /// `x(u)` and `c(u)` for `query`, or why the engine cannot score them (what `answer`
    /// would decline with).
    func userVector(for query: UserQuery) throws -> UserVectorAnswer
    /// Scores of `items` for a prepared user, bit-identical to `score(query, items:)`.
    func scores(_ user: UserVector, items: [Int32]) -> [Float]
}

extension DotProductEngine {
    public func withItemVectors<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try itemVectorData.withUnsafeBufferPointer(body)
    }
}

/// A user's side of a `DotProductEngine`'s score.
public struct UserVector: Sendable {
    public var x: [Float]
    public var offset: Float
    public init(x: [Float], offset: Float = 0) {
        self.x = x
        self.offset = offset
    }
}

public enum UserVectorAnswer: Sendable {
    case vector(UserVector)
    case declined(String)
}

/// An approximate maximum-inner-product index over one `DotProductEngine`'s items.
public protocol ApproximateIndex: AnyObject, Sendable {
    /// One line for `Info` ("hnsw: 300000 items, M 32, ef_construction 200, ef_search 512, 101 MB").
    var summary: String { get }
    /// The kind of index, as replies name the path ("hnsw").
    var path: String { get }
    /// Candidates every search explores (hnswlib's ef): asking for fewer costs the same.
    var searchBreadth: Int { get }
    /// Up to `k` items (dense indices) with the largest `⟨x, v_i⟩ + b_i`, best first; the
    /// search explores at least the index's own breadth (ef) whatever `k`.
    func search(_ x: [Float], k: Int) -> [Int32]
}

/// A compact copy of a `DotProductEngine`'s item vectors that bounds every item's score for a
/// user: Retrieve's exact path reads it instead of the full vectors, then scores exactly only
/// the items whose upper bound reaches the k-th best lower bound. The reply is the exact path's,
/// bit for bit (same items, same scores, same order).
public protocol ScoreScreen: AnyObject, Sendable {
    /// One line for `Info` ("int8 screen: 300000 items × 100, 35 MB").
    var summary: String { get }
    /// Bytes the screen holds.
    var memoryBytes: Int { get }
    /// Every item `keep` admits that may be among the `k` best admitted items for `user` by
    /// `score(u, i) = user.offset + ⟨user.x, v_i⟩ + b_i`: a superset of the exact top k, each
    /// admitted. nil when the bounds cannot be trusted for this user (a non-finite vector):
    /// score everything instead. `fetch` is how many of the best bounds to gather in the pass
    /// so that k of them should pass `keep` (fewer pass: a second look over every bound); `keep`
    /// is asked of those and of the final candidates only.
    func candidates(_ user: UserVector, k: Int, fetch: Int, keep: (Int32) -> Bool) -> [Int32]?
}
