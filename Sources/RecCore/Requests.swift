/// A user as a request describes them, in raw ids (see the wire's `User`).
public struct UserSpec: Sendable {
    public struct Item: Sendable {
        public var itemID: String
        public var rating: Float
        public var timestamp: Int64
        public init(itemID: String, rating: Float = 0, timestamp: Int64 = 0) {
            self.itemID = itemID
            self.rating = rating
            self.timestamp = timestamp
        }
    }

    public var id: String
    public var history: [Item]
    public var preference: String
    public var meta: UserMeta

    public init(id: String = "", history: [Item] = [], preference: String = "", meta: UserMeta = UserMeta()) {
        self.id = id
        self.history = history
        self.preference = preference
        self.meta = meta
    }
}

/// Item constraints in raw ids (see the wire's `Filters`). All constraints apply together.
public struct FilterSpec: Sendable {
    public var allow: [String] = []
    public var deny: [String] = []
    public var genres: [String] = []
    public var excludeGenres: [String] = []
    public var minYear: Int?
    public var maxYear: Int?

    public init(
        allow: [String] = [], deny: [String] = [], genres: [String] = [], excludeGenres: [String] = [],
        minYear: Int? = nil, maxYear: Int? = nil
    ) {
        self.allow = allow
        self.deny = deny
        self.genres = genres
        self.excludeGenres = excludeGenres
        self.minYear = minYear
        self.maxYear = maxYear
    }

    public var isEmpty: Bool {
        allow.isEmpty && deny.isEmpty && genres.isEmpty && excludeGenres.isEmpty && minYear == nil && maxYear == nil
    }
}

public struct RetrieveQuery: Sendable {
    public var user: UserSpec
    /// "" = the default engine.
    public var engine: String
    /// 0 = default (10).
    public var k: Int
    public var excludeSeen: Bool
    public var filters: FilterSpec
    public var path: RetrievalPath

    public init(
        user: UserSpec, engine: String = "", k: Int = 0, excludeSeen: Bool = true, filters: FilterSpec = FilterSpec(),
        path: RetrievalPath = .auto
    ) {
        self.user = user
        self.engine = engine
        self.k = k
        self.excludeSeen = excludeSeen
        self.filters = filters
        self.path = path
    }
}

/// How Retrieve searches the catalogue.
public enum RetrievalPath: Sendable, Equatable {
    /// The engine's approximate index when it has one and the catalogue has at least
    /// `Limits.annMinItems` items; exact otherwise.
    case auto
    /// Every item scored.
    case exact
    /// The approximate index whatever the catalogue size (exact when the engine has none).
    case approximate
}

public struct RankQuery: Sendable {
    public var user: UserSpec
    public var engine: String
    public var candidates: [String]
    /// 0 = all candidates.
    public var k: Int
    public var excludeSeen: Bool
    public var filters: FilterSpec

    public init(
        user: UserSpec, engine: String = "", candidates: [String], k: Int = 0, excludeSeen: Bool = false,
        filters: FilterSpec = FilterSpec()
    ) {
        self.user = user
        self.engine = engine
        self.candidates = candidates
        self.k = k
        self.excludeSeen = excludeSeen
        self.filters = filters
    }
}

/// One scored item of a result, in dense indices.
public struct ScoredItem: Sendable, Equatable {
    public var item: Int32
    public var score: Float
    /// The usual case, one component (an engine's own score under its name), kept without an
    /// array: Retrieve and Rank make one `ScoredItem` per result, and an array each was a
    /// heap allocation and a free per item per request.
    private var single: (name: String, value: Float)
    private var many: [(String, Float)]?

    /// Per-component scores by name, in a stable order.
    public var components: [(String, Float)] {
        get { many ?? [single] }
        set { many = newValue }
    }

    public init(item: Int32, score: Float, components: [(String, Float)]) {
        self.item = item
        self.score = score
        single = ("", 0)
        many = components
    }

    /// An item scored by one engine: its one component is `engine` with the score.
    public init(item: Int32, score: Float, engine: String) {
        self.item = item
        self.score = score
        single = (engine, score)
        many = nil
    }

    /// The components in order, without building an array.
    public func forEachComponent(_ body: (String, Float) throws -> Void) rethrows {
        if let many { for (n, v) in many { try body(n, v) } } else { try body(single.name, single.value) }
    }

    public static func == (a: ScoredItem, b: ScoredItem) -> Bool {
        a.item == b.item && a.score == b.score && a.components.elementsEqual(b.components, by: { $0 == $1 })
    }
}

/// Why a reply is degraded, by class (the server counts replies by these; one reply can have
/// several).
public enum Degradation: String, Sendable, CaseIterable, Hashable {
    /// The engine asked for declined the user; the fallback engine (popularity) scored.
    case fallbackEngine = "fallback_engine"
    /// An LLM judge was asked for and the local judge judged instead (no LLM configured, the
    /// LLM failed or answered garbage, or every LLM place was taken).
    case localJudge = "local_judge"
    /// No judge could run: ordered by the base score alone.
    case baseScoreOnly = "base_score_only"
    /// An LLM explanation was asked for and the template text is returned.
    case templateText = "template_text"
    /// The request's deadline cut a step short (the LLM was not waited for).
    case deadline
}

/// The result of Retrieve or Rank, before it is put on the wire.
public struct Recommendation: Sendable {
    public var items: [ScoredItem]
    /// The engine that scored, after any fallback.
    public var engine: String
    public var requestedEngine: String
    public var degraded: Bool = false
    public var degradedReason: String = ""
    /// The classes of `degradedReason`'s parts.
    public var degradations: Set<Degradation> = []
    public var warnings: [String] = []
    /// Candidate ids (Rank) the bundle does not know.
    public var unknownItems: [String] = []
    /// Retrieve: "exact", "hnsw", or "exact: <why the index was not used>"; "" otherwise.
    public var retrieval: String = ""

    public init(items: [ScoredItem], engine: String, requestedEngine: String) {
        self.items = items
        self.engine = engine
        self.requestedEngine = requestedEngine
    }
}

/// Request-size limits, enforced before any work. Defaults are generous for MovieLens-scale
/// catalogues; every one is a server flag.
public struct Limits: Sendable, Equatable {
    public var maxK: Int = 10_000
    public var maxCandidates: Int = 10_000
    public var maxHistory: Int = 10_000
    public var maxTextBytes: Int = 16_384
    public var maxFilterIDs: Int = 100_000
    /// Catalogue size from which Retrieve's `.auto` path is the approximate index. Below it the
    /// exact pass (screened, see `screenMinItems`) was as fast as the index at 300,000 items,
    /// without its misses.
    public var annMinItems: Int = 1_000_000
    /// Catalogue size from which the bundle loader gives every dot-product engine an int8
    /// score screen, so the exact Retrieve reads a quarter of the bytes (`Int.max`: never).
    public var screenMinItems: Int = 20_000
    /// Most events one Feedback request may carry.
    public var maxFeedbackBatch: Int = 10_000

    public init() {}
}
