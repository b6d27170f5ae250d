import RecCore
import RecLLM

/// Wire <-> domain conversions. Raw ids stay strings on both sides; the pipeline maps them.
extension UserSpec {
    init(_ u: RFUser) {
        self.init(
            id: u.id,
            history: u.history.map { .init(itemID: $0.itemID, rating: $0.rating, timestamp: $0.timestamp) },
            preference: u.preference,
            meta: UserMeta(
                age: u.age == 0 ? nil : Int(u.age),
                gender: u.gender.isEmpty ? nil : u.gender,
                occupation: u.occupation.isEmpty ? nil : u.occupation))
    }
}

extension FilterSpec {
    init(_ f: RFFilters) {
        self.init(
            allow: f.allowItems, deny: f.denyItems, genres: f.genres, excludeGenres: f.excludeGenres,
            minYear: f.minYear == 0 ? nil : Int(f.minYear), maxYear: f.maxYear == 0 ? nil : Int(f.maxYear))
    }
}

extension RFResponseMeta {
    init(_ r: Recommendation, bundleVersion: String) {
        self.init()
        engine = r.engine
        requestedEngine = r.requestedEngine
        self.bundleVersion = bundleVersion
        degraded = r.degraded
        degradedReason = r.degradedReason
        warnings = r.warnings
        retrieval = r.retrieval
    }
}

extension RetrievalPath {
    init(_ p: RFRetrievalPath) {
        switch p {
        case .exact: self = .exact
        case .approximate: self = .approximate
        default: self = .auto
        }
    }
}

extension RFExplainResponse {
    init(_ e: Explanation, catalog: Catalog, bundleVersion: String) {
        self.init()
        itemID = catalog.ids[e.item]
        text = e.text
        score = e.score
        style = e.style == .llm ? .llm : .template
        evidence = e.evidence.map { x in
            var o = RFEvidence()
            o.kind = x.kind
            if let i = x.item {
                o.itemID = catalog.ids[i]
                o.title = catalog.meta[Int(i)].title
            } else if !x.label.isEmpty {
                o.title = x.label
            }
            o.weight = x.weight
            o.detail = x.detail
            return o
        }
        meta = RFResponseMeta()
        meta.engine = e.engine
        meta.requestedEngine = e.requestedEngine
        meta.bundleVersion = bundleVersion
        meta.degraded = e.degraded
        meta.degradedReason = e.degradedReason
        meta.warnings = e.warnings
    }
}

extension RerankQuery {
    init(_ r: RFRerankRequest) throws {
        self.init(user: UserSpec(r.user))
        candidates = r.candidates.map { c in
            if case .baseScore(let b)? = c.base { return Candidate(id: c.itemID, base: b) }
            return Candidate(id: c.itemID)
        }
        baseEngine = r.baseEngine
        poolSize = Int(r.poolSize)
        switch r.judge {
        case .default: judge = nil
        case .local: judge = .local
        case .llmRelevancy: judge = .llmRelevancy
        case .llmPointwise: judge = .llmPointwise
        case .UNRECOGNIZED(let n): throw RecError.invalidArgument("unknown judge \(n)")
        }
        if case .alpha(let a)? = r.alphaPolicy { alpha = a }
        switch r.normalization {
        case .default, .minmax: normalization = .minMax
        case .rank: normalization = .rank
        case .UNRECOGNIZED(let n): throw RecError.invalidArgument("unknown normalization \(n)")
        }
        positionWeights = r.positionWeights
        diversity = r.diversity
        k = Int(r.k)
        filters = FilterSpec(r.filters)
    }
}

extension RFJudge {
    init(_ j: JudgeKind) {
        switch j {
        case .local: self = .local
        case .llmRelevancy: self = .llmRelevancy
        case .llmPointwise: self = .llmPointwise
        }
    }
}
