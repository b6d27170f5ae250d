import Foundation
import RecCore
import RecText

/// Which judge re-scores the candidates.
public enum JudgeKind: String, Sendable, CaseIterable {
    case local
    case llmRelevancy = "llm_relevancy"
    case llmPointwise = "llm_pointwise"

    public var usesLLM: Bool { self != .local }
}

/// A Rerank request in raw ids (see the wire's `RerankRequest`).
public struct RerankQuery: Sendable {
    public struct Candidate: Sendable {
        public var id: String
        /// The caller's own base score; nil = computed by `baseEngine`.
        public var base: Float?
        public init(id: String, base: Float? = nil) {
            self.id = id
            self.base = base
        }
    }

    public var user: UserSpec
    /// Empty = retrieve `poolSize` items from `baseEngine`.
    public var candidates: [Candidate] = []
    /// "" = the bundle's default engine.
    public var baseEngine = ""
    /// 0 = `Reranker.defaultPoolSize`.
    public var poolSize = 0
    /// nil = the server's default judge.
    public var judge: JudgeKind? = nil
    /// nil = `Fusion.defaultAlpha`.
    public var alpha: Float? = nil
    public var normalization: Fusion.Normalization = .minMax
    public var positionWeights = false
    /// MMR lambda in [0, 1]; 0 = off.
    public var diversity: Float = 0
    /// 0 = all candidates.
    public var k = 0
    public var filters = FilterSpec()

    public init(user: UserSpec) { self.user = user }
}

public struct RerankResult: Sendable {
    /// Items carry components "base", "judge" (when a judge scored) and "fused" (and "mmr"
    /// with diversity); `engine` is the base engine after any fallback.
    public var recommendation: Recommendation
    /// The judge that actually scored, after any fallback; nil when none could.
    public var judge: JudgeKind?
}

/// The fusion stage: base scores from a collaborative engine, a judge's scores, per-list
/// normalisation, `alpha · judge + (1 − alpha) · base`, optional MMR diversity.
///
/// An LLM judge that fails (down, slow, refusing, garbage, out-of-schema) is replaced by
/// the local judge inside the same deadline: LLM calls get the request's deadline minus
/// `fallbackReserve`, and the reply is marked degraded with the reason. Immutable and
/// thread-safe; the served `Recommender` is passed per call (hot reload swaps it).
public final class Reranker: Sendable {
    public let llm: LLMClient?
    public let defaultJudge: JudgeKind
    /// Time kept back from an LLM judge for the local fallback.
    public let fallbackReserve: Duration
    public static let defaultPoolSize = 20

    public init(llm: LLMClient?, defaultJudge: JudgeKind = .local, fallbackReserve: Duration = .milliseconds(50)) {
        self.llm = llm
        self.defaultJudge = defaultJudge
        self.fallbackReserve = fallbackReserve
    }

    public func rerank(_ rec: Recommender, _ q: RerankQuery, deadline: Deadline = .none) throws -> RerankResult {
        let alpha = q.alpha ?? Fusion.defaultAlpha
        guard alpha.isFinite, (0...1).contains(alpha) else {
            throw RecError.invalidArgument("alpha must be in [0, 1], got \(alpha)")
        }
        guard q.diversity.isFinite, (0...1).contains(q.diversity) else {
            throw RecError.invalidArgument("diversity must be in [0, 1], got \(q.diversity)")
        }
        guard q.k >= 0, q.k <= rec.limits.maxK else {
            throw RecError.invalidArgument("k = \(q.k) exceeds the server's max_k (\(rec.limits.maxK))")
        }
        guard q.poolSize >= 0, q.poolSize <= rec.limits.maxCandidates else {
            throw RecError.resourceExhausted(
                "pool_size \(q.poolSize) exceeds the server's max_candidates (\(rec.limits.maxCandidates))")
        }
        for (n, c) in q.candidates.enumerated() {
            if let b = c.base, !b.isFinite {
                throw RecError.invalidArgument("candidates[\(n)].base_score must be finite, got \(b)")
            }
        }

        // 1. Base list, best first.
        var base: Recommendation
        if q.candidates.isEmpty {
            base = try rec.retrieve(
                RetrieveQuery(
                    user: q.user, engine: q.baseEngine, k: q.poolSize == 0 ? Self.defaultPoolSize : q.poolSize,
                    excludeSeen: true, filters: q.filters), deadline: deadline)
        } else {
            base = try rec.rank(
                RankQuery(
                    user: q.user, engine: q.baseEngine, candidates: q.candidates.map(\.id), k: 0,
                    excludeSeen: false, filters: q.filters), deadline: deadline)
            let given = Dictionary(
                q.candidates.compactMap { c in c.base.map { (c.id, $0) } }, uniquingKeysWith: { a, _ in a })
            if !given.isEmpty {
                for n in base.items.indices {
                    if let b = given[rec.catalog.ids[base.items[n].item]] { base.items[n].score = b }
                }
                base.items.sort { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
            }
        }
        // The judges read the trained catalogue's profiles and vectors: items added since are
        // left out until the next bundle.
        let added = base.items.count
        base.items.removeAll { Int($0.item) >= rec.baseItemCount }
        if base.items.count < added {
            base.warnings.append(
                "\(added - base.items.count) item(s) added since the bundle left out: Rerank judges them from the next "
                    + "bundle on")
        }
        let items = base.items.map(\.item)
        let baseScores = base.items.map(\.score)
        var warnings = base.warnings
        var reasons = base.degraded ? [base.degradedReason] : []
        var kinds = base.degradations

        // 2. Judge.
        var warn: [String] = []
        let user = try rec.resolve(q.user, warnings: &warn)
        let text = rec.engines.lazy.compactMap { $0 as? any TextEmbeddingSpace }.first
        let (judged, why) = judge(
            user, items: items, baseScores: baseScores, catalog: rec.catalog, text: text,
            kind: q.judge ?? defaultJudge, deadline: deadline)
        reasons += why.map(\.why)
        kinds.formUnion(why.map(\.kind))
        warnings += judged?.out.warnings ?? []

        // 3. Fusion and ordering.
        let judgeScores = judged?.out.scores ?? baseScores
        let f = Fusion.fuse(
            base: baseScores, judge: judgeScores, alpha: judged == nil ? 0 : alpha,
            positionWeights: q.positionWeights, normalization: q.normalization)
        var scored: [ScoredItem] = items.indices.map { n in
            var comps: [(String, Float)] = [("base", baseScores[n])]
            if judged != nil { comps.append(("judge", judgeScores[n])) }
            comps.append(("fused", f.fused[n]))
            return ScoredItem(item: items[n], score: f.fused[n], components: comps)
        }
        let k = q.k == 0 ? scored.count : min(q.k, scored.count)
        if q.diversity > 0, let text {
            let vectors = items.map { Array(text.itemVector($0)) }
            scored = Fusion.mmr(relevance: f.fused, vectors: vectors, lambda: q.diversity, k: k).map { pick in
                var s = scored[pick.index]
                s.score = pick.value
                s.components.append(("mmr", pick.value))
                return s
            }
        } else {
            if q.diversity > 0 {
                warnings.append("diversity needs the text engine's item embeddings, which this bundle lacks; ignored")
            }
            scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
            scored = Array(scored.prefix(k))
        }

        var out = Recommendation(items: scored, engine: base.engine, requestedEngine: base.requestedEngine)
        out.unknownItems = base.unknownItems
        out.warnings = warnings
        out.degraded = !reasons.isEmpty
        out.degradedReason = reasons.joined(separator: "; ")
        out.degradations = kinds
        return RerankResult(recommendation: out, judge: judged?.kind)
    }

    /// The judging step of `rerank` on its own: scores `items` (in base order, with their
    /// base scores) for `user` with judge `kind`, falling back from an LLM judge to the local
    /// one, and from the local judge to none. Returns the judge that scored (nil: none could)
    /// and the reasons for every fallback. Offline evaluation calls this directly.
    public func judge(
        _ user: UserQuery, items: [Int32], baseScores: [Float], catalog: Catalog, text: (any TextEmbeddingSpace)?,
        kind wanted: JudgeKind, deadline: Deadline = .none
    ) -> ((kind: JudgeKind, out: JudgeOutput)?, [(why: String, kind: Degradation)]) {
        guard !items.isEmpty else { return (nil, []) }
        var reasons: [(why: String, kind: Degradation)] = []
        let input = Self.input(user, items: items, baseScores: baseScores, catalog: catalog)
        if wanted.usesLLM {
            if let llm {
                let judge: any Judge =
                    wanted == .llmRelevancy ? LLMRelevancyJudge(llm: llm) : LLMPointwiseJudge(llm: llm)
                let llmDeadline =
                    deadline.instant.map { Deadline(instant: $0.advanced(by: .zero - fallbackReserve)) } ?? .none
                do {
                    return ((wanted, try judge.judge(input, deadline: llmDeadline)), [])
                } catch {
                    reasons.append(("\(error); fell back to the local judge", .of(error, else: .localJudge)))
                }
            } else {
                reasons.append(
                    (
                        "\(wanted.rawValue) needs an LLM endpoint and none is configured (serve --llm-base-url); fell "
                            + "back to the local judge", .localJudge
                    ))
            }
        }
        guard let text else {
            reasons.append(
                (
                    "the local judge needs the bundle's text engine, which this bundle lacks; ordered by the base "
                        + "score alone", .baseScoreOnly
                ))
            return (nil, reasons)
        }
        do {
            return ((.local, try LocalJudge(text: text).judge(input, deadline: deadline)), reasons)
        } catch {
            reasons.append(("\(error); ordered by the base score alone", .of(error, else: .baseScoreOnly)))
            return (nil, reasons)
        }
    }

    /// The judge's view of the request: profile, preference (the request's, or one written
    /// from the favourite titles), favourites, candidate profiles, base prior.
    static func input(_ user: UserQuery, items: [Int32], baseScores: [Float], catalog: Catalog) -> JudgeInput {
        let profile = Profiles.user(id: user.rawID, history: user.history, meta: user.meta, catalog: catalog)
        let favourites = Array(profile.liked.prefix(10))
        var preference = user.preference.trimmingCharacters(in: .whitespacesAndNewlines)
        if preference.isEmpty && !favourites.isEmpty {
            let plural = catalog.schema.domainPlural
            preference =
                "Enjoys \(plural) such as \(favourites.prefix(3).joined(separator: ", "))"
                + (profile.dominantGenres.isEmpty
                    ? "." : ", especially \(profile.dominantGenres.joined(separator: ", ")).")
        }
        return JudgeInput(
            user: user, profile: profile.text, preference: preference, favourites: favourites, items: items,
            itemTexts: items.map { Profiles.item(Int($0), catalog: catalog).text },
            basePrior: Fusion.normalise(baseScores, .minMax), domain: catalog.schema)
    }
}
