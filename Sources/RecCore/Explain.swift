import Foundation

/// One piece of evidence for why an item suits a user.
public struct Evidence: Sendable, Equatable {
    /// "history_item", "shared_genre", "profile_similarity", "neighbour", "popularity".
    public var kind: String
    /// The item the evidence is about (a history item, or the explained item), if any.
    public var item: Int32?
    /// Strength (attention share, similarity, count, ...); comparable within a kind.
    public var weight: Float
    public var detail: String
    /// For shared genres: the genre's name.
    public var label: String

    public init(kind: String, item: Int32? = nil, weight: Float, detail: String, label: String = "") {
        self.kind = kind
        self.item = item
        self.weight = weight
        self.detail = detail
        self.label = label
    }
}

/// An engine that can say which parts of a user's history drove a score.
public protocol Explaining: Engine {
    /// score(query, item) (the same value `score` gives) and engine-specific evidence for it,
    /// strongest first, at most `limit` history items; one pass over the user for both.
    func explain(_ query: UserQuery, item: Int32, limit: Int) throws -> (score: Float, evidence: [Evidence])
}

public struct ExplainQuery: Sendable {
    public enum Style: Sendable { case template, llm }
    public var user: UserSpec
    public var itemID: String
    public var engine: String
    public var style: Style
    /// 0 = 5.
    public var maxEvidence: Int

    public init(user: UserSpec, itemID: String, engine: String = "", style: Style = .template, maxEvidence: Int = 0) {
        self.user = user
        self.itemID = itemID
        self.engine = engine
        self.style = style
        self.maxEvidence = maxEvidence
    }
}

public struct Explanation: Sendable {
    public var item: Int32
    public var score: Float
    public var text: String
    public var evidence: [Evidence]
    public var style: ExplainQuery.Style
    public var engine: String
    public var requestedEngine: String
    public var degraded = false
    public var degradedReason = ""
    public var degradations: Set<Degradation> = []
    public var warnings: [String] = []
}

extension Recommender {
    public static let defaultMaxEvidence = 5
    public static let maxEvidenceLimit = 50

    /// Explain: the engine's score for (user, item), its evidence (attention over the user's
    /// history for engines that have it), the genres the item shares with the items the user
    /// rated highly, and a sentence built from them by a template. `style = .llm` is handled
    /// a layer up (RecLLM's `Explainer`, which starts from this template answer).
    public func explain(_ q: ExplainQuery, deadline: Deadline = .none) throws -> Explanation {
        guard !q.itemID.isEmpty else { throw RecError.invalidArgument("item_id is required") }
        guard let item = catalog.ids.index(of: q.itemID) else {
            throw RecError.notFound("unknown item id '\(q.itemID)'")
        }
        guard !isHidden(item) else { throw RecError.notFound("item '\(q.itemID)' was deleted") }
        guard Int(item) < baseItemCount else {
            throw RecError.failedPrecondition(
                "item '\(q.itemID)' was added after the bundle was trained; its explanation needs the next bundle")
        }
        guard q.maxEvidence >= 0, q.maxEvidence <= Self.maxEvidenceLimit else {
            throw RecError.invalidArgument(
                "max_evidence must be at most \(Self.maxEvidenceLimit), got \(q.maxEvidence)")
        }
        let limit = q.maxEvidence == 0 ? Self.defaultMaxEvidence : q.maxEvidence
        var warnings: [String] = []
        let user = try resolve(q.user, warnings: &warnings)
        let (engine, requested, fellBack) = try chooseEngine(q.engine, user)
        let reasons = fellBack.map { [$0] } ?? []
        try deadline.check("scoring")
        var score: Float, evidence: [Evidence] = []
        if let ex = engine as? any Explaining {
            (score, evidence) = try ex.explain(user, item: item, limit: limit)
        } else {
            let scores = try engine.score(user, items: [item])
            guard scores.count == 1 else {
                throw RecError.internal("engine '\(engine.name)' returned \(scores.count) scores for 1 item")
            }
            score = scores[0]
            warnings.append(
                "engine '\(engine.name)' has no evidence of its own; the explanation uses shared genres only")
        }
        guard score.isFinite else { throw RecError.internal("engine '\(engine.name)' gave no finite score") }
        evidence += sharedGenres(user, item: item)
        var out = Explanation(
            item: item, score: score, text: templateText(item: item, evidence: evidence), evidence: evidence,
            style: .template, engine: engine.name, requestedEngine: requested)
        out.degraded = !reasons.isEmpty
        out.degradedReason = reasons.joined(separator: "; ")
        if out.degraded { out.degradations = [.fallbackEngine] }
        out.warnings = warnings
        return out
    }

    /// Genres of `item` among those of the items the user rated highly (≥ 4, or unrated),
    /// weighted by how many of those items have the genre.
    func sharedGenres(_ user: UserQuery, item: Int32) -> [Evidence] {
        let genres = catalog.meta[Int(item)].genres.filter { $0.lowercased() != "unknown" }
        guard !genres.isEmpty else { return [] }
        let liked = user.history.filter { $0.rating >= 4 || $0.rating == 0 }
        let things = catalog.schema == .movies ? "items" : catalog.schema.domainPlural
        var counts: [String: Int] = [:]
        for e in liked {
            for g in catalog.meta[Int(e.item)].genres where genres.contains(g) { counts[g, default: 0] += 1 }
        }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { g, n in
            Evidence(
                kind: "shared_genre", item: nil, weight: Float(n) / Float(max(1, liked.count)),
                detail: "\(n) of the \(liked.count) \(things) you \(catalog.schema.likedVerb) are \(g)", label: g)
        }
    }

    /// One or two sentences from the evidence, naming only items in it.
    func templateText(item: Int32, evidence: [Evidence]) -> String {
        let title = catalog.displayTitle(item)
        var parts: [String] = []
        let history = evidence.filter { $0.kind == "history_item" }.compactMap(\.item).prefix(3).map(
            catalog.displayTitle)
        if !history.isEmpty {
            parts.append("\(title) is recommended because you liked \(Self.list(history))")
        }
        let genres = evidence.filter { $0.kind == "shared_genre" }.prefix(2).map(\.label)
        let noun = catalog.schema == .movies ? "title" : catalog.schema.domain
        let chose = catalog.schema.likedVerb
        if !genres.isEmpty {
            let g = Self.list(genres)
            parts.append(
                parts.isEmpty
                    ? "\(title) is a \(g) \(noun), like much of what you \(chose)"
                    : "it is \(g), like much of what you \(chose)")
        }
        if let sim = evidence.first(where: { $0.kind == "profile_similarity" }), sim.weight >= 0.3 {
            parts.append(
                parts.isEmpty
                    ? "\(title) is close to your taste profile (similarity \(String(format: "%.2f", sim.weight)))"
                    : "its description is close to your taste profile (similarity "
                        + "\(String(format: "%.2f", sim.weight)))"
            )
        }
        if parts.isEmpty {
            return
                "\(title) scores well for you overall, though no single item in your history stands out as the reason."
        }
        return parts.joined(separator: "; ") + "."
    }

    static func list(_ xs: [String]) -> String {
        switch xs.count {
        case 0: return ""
        case 1: return xs[0]
        case 2: return "\(xs[0]) and \(xs[1])"
        default: return xs.dropLast().joined(separator: ", ") + " and " + xs.last!
        }
    }
}
