import Foundation
import RecBaselines
import RecCore
import RecLLM
import RecMath
import RecTestSupport
import RecText
import RecTextEngine
import Testing

/// A tiny catalogue where the collaborative base and the judges disagree on purpose:
/// the Drama items ("Tears n", odd indices) are the most popular, the Comedy items
/// ("Laugh n", even indices) are what u0 likes. Item 12 is "Citizen Kane", which no
/// evidence ever names (the hallucination probe). The text engine's embeddings are
/// synthetic (Comedy ≈ e0, Drama ≈ e1), so no model weights are needed.
enum Fixture {
    static let itemCount = 13

    static func recommender() throws -> Recommender {
        var uids = IDMap(), iids = IDMap()
        for u in 0..<4 { uids.intern("u\(u)") }
        for i in 0..<itemCount { iids.intern("i\(i)") }
        let meta = (0..<itemCount).map { i in
            i == 12
                ? ItemMeta(title: "Citizen Kane", year: 1941, genres: ["Drama"])
                : ItemMeta(
                    title: i % 2 == 0 ? "Laugh \(i)" : "Tears \(i)", year: 1980 + i,
                    genres: [i % 2 == 0 ? "Comedy" : "Drama"])
        }
        var xs: [Interaction] = []
        func rate(_ u: Int, _ items: [Int], _ r: Float) {
            for i in items { xs.append(Interaction(user: Int32(u), item: Int32(i), rating: r, timestamp: 1)) }
        }
        rate(0, [0, 2], 5)
        rate(1, [1, 3], 5)
        rate(2, [1, 3, 5, 7, 9, 11], 5)
        rate(3, [1, 3, 5, 7, 9, 11], 4)
        let d = Dataset(
            name: "fixture", users: uids, items: iids, interactions: xs, itemMeta: meta,
            userMeta: Array(repeating: UserMeta(age: 30), count: 4))
        let catalog = Catalog(ids: d.items, meta: d.itemMeta)
        let users = UserStore(ids: d.users, meta: d.userMeta, histories: d.userHistories())
        let dim = 4
        var items = [Float](repeating: 0, count: itemCount * dim)
        for i in 0..<itemCount {
            // Unit vectors: the genre axis plus a small per-item tilt on e2/e3.
            let t = Float(i) * 0.05
            let v: [Float] = i % 2 == 0 ? [1, 0, t, 0.1] : [0, 1, 0.1, t]
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for c in 0..<dim { items[i * dim + c] = v[c] / n }
        }
        let userVecs: [Float] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]
        let text = TextEngine(
            catalog: catalog, users: users, itemEmbeddings: Matrix(rows: itemCount, cols: dim, data: items),
            userEmbeddings: Matrix(rows: 4, cols: dim, data: userVecs), encoder: nil,
            encoderProblem: "synthetic fixture", modelName: "synthetic", modelSHA256: "")
        return try Recommender(
            catalog: catalog, users: users, engines: [PopularityEngine.fit(d), text],
            defaultEngine: "popularity", fallbackEngine: "popularity", bundleVersion: "fixture@1")
    }

    static func query(_ user: String = "u0", _ edit: (inout RerankQuery) -> Void = { _ in }) -> RerankQuery {
        var q = RerankQuery(user: UserSpec(id: user))
        q.candidates = (0..<12).map { RerankQuery.Candidate(id: "i\($0)") }
        edit(&q)
        return q
    }

    static func ids(_ rec: Recommender, _ r: RerankResult) -> [String] {
        r.recommendation.items.map { rec.catalog.ids[$0.item] }
    }

    static func component(_ s: ScoredItem, _ name: String) -> Float? { s.components.first { $0.0 == name }?.1 }
}

@Suite struct LocalRerankTests {
    let rec = try! Fixture.recommender()
    let reranker = Reranker(llm: nil)

    @Test func theLocalJudgeLiftsWhatTheUserLikesAboveThePopularBase() throws {
        let base = try rec.rank(
            RankQuery(
                user: UserSpec(id: "u0"), engine: "popularity",
                candidates: (0..<12).map { "i\($0)" }, k: 0, excludeSeen: false))
        #expect(base.items.prefix(6).allSatisfy { $0.item % 2 == 1 }, "the base puts the popular Drama first")

        let r = try reranker.rerank(rec, Fixture.query())
        #expect(r.judge == .local && !r.recommendation.degraded && r.recommendation.engine == "popularity")
        #expect(r.recommendation.items.prefix(6).allSatisfy { $0.item % 2 == 0 }, "\(Fixture.ids(rec, r))")
        for s in r.recommendation.items {
            #expect(s.components.map(\.0) == ["base", "judge", "fused"])
            #expect(Fixture.component(s, "fused") == s.score)
        }
        // fused = 0.8 · minmax(judge) + 0.2 · minmax(base), recomputed from the components.
        let items = r.recommendation.items
        let b = Fusion.normalise(items.map { Fixture.component($0, "base")! }, .minMax)
        let j = Fusion.normalise(items.map { Fixture.component($0, "judge")! }, .minMax)
        for n in items.indices { #expect(abs(items[n].score - (0.8 * j[n] + 0.2 * b[n])) < 1e-6) }
    }

    @Test func alphaZeroKeepsTheBaseOrderAndAlphaOneIsTheJudgeAlone() throws {
        let base = try rec.rank(
            RankQuery(
                user: UserSpec(id: "u0"), engine: "popularity",
                candidates: (0..<12).map { "i\($0)" }, k: 0, excludeSeen: false))
        let zero = try reranker.rerank(rec, Fixture.query { $0.alpha = 0 })
        #expect(zero.recommendation.items.map(\.item) == base.items.map(\.item))
        let one = try reranker.rerank(rec, Fixture.query { $0.alpha = 1 })
        let judge = one.recommendation.items.map { Fixture.component($0, "judge")! }
        #expect(judge == judge.sorted(by: >))
    }

    @Test func callerBaseScoresReplaceTheEnginesAndKTruncates() throws {
        // The caller says i11 > i10 > … > i0; with alpha 0 that is the order returned.
        let q = Fixture.query { q in
            q.candidates = (0..<12).map { RerankQuery.Candidate(id: "i\($0)", base: Float($0)) }
            q.alpha = 0
            q.k = 5
        }
        let r = try reranker.rerank(rec, q)
        #expect(Fixture.ids(rec, r) == ["i11", "i10", "i9", "i8", "i7"])
        #expect(r.recommendation.items.map { Fixture.component($0, "base")! } == [11, 10, 9, 8, 7])
    }

    @Test func withoutCandidatesThePoolIsRetrievedFromTheBaseEngine() throws {
        let r = try reranker.rerank(rec, RerankQuery(user: UserSpec(id: "u0")))
        // u0 has seen i0 and i2; the pool is every other item (13 − 2 < the default 20).
        #expect(r.recommendation.items.count == 11)
        #expect(!r.recommendation.items.contains { $0.item == 0 || $0.item == 2 })
        #expect(r.recommendation.items.first.map { $0.item % 2 == 0 } == true)
    }

    @Test func positionWeightsAndRankNormalisationFuseAsDocumented() throws {
        let r = try reranker.rerank(
            rec,
            Fixture.query {
                $0.positionWeights = true
                $0.normalization = .rank
            })
        // Recompute from the components in base order.
        let inBaseOrder = r.recommendation.items.sorted {
            let a = Fixture.component($0, "base")!, b = Fixture.component($1, "base")!
            return a != b ? a > b : $0.item < $1.item
        }
        let f = Fusion.fuse(
            base: inBaseOrder.map { Fixture.component($0, "base")! },
            judge: inBaseOrder.map { Fixture.component($0, "judge")! },
            alpha: 0.8, positionWeights: true, normalization: .rank)
        for (n, s) in inBaseOrder.enumerated() { #expect(abs(s.score - f.fused[n]) < 1e-6) }
    }

    @Test func diversityInterleavesTheGenres() throws {
        let plain = try reranker.rerank(rec, Fixture.query { $0.k = 4 })
        #expect(plain.recommendation.items.allSatisfy { $0.item % 2 == 0 })
        let diverse = try reranker.rerank(
            rec,
            Fixture.query {
                $0.k = 4
                $0.diversity = 0.7
            })
        let genres = Set(diverse.recommendation.items.map { $0.item % 2 })
        #expect(genres.count == 2, "MMR at lambda 0.7 takes a Drama item into the top 4")
        let values = diverse.recommendation.items.map(\.score)
        #expect(values == values.sorted(by: >))
        #expect(diverse.recommendation.items.allSatisfy { Fixture.component($0, "mmr") == $0.score })
    }

    @Test func badParametersAreRefusedByName() throws {
        func message(_ q: RerankQuery) -> String {
            do {
                _ = try reranker.rerank(rec, q)
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(message(Fixture.query { $0.alpha = 1.5 }).contains("alpha"))
        #expect(message(Fixture.query { $0.alpha = .nan }).contains("alpha"))
        #expect(message(Fixture.query { $0.diversity = -0.1 }).contains("diversity"))
        #expect(message(Fixture.query { $0.candidates[3].base = .infinity }).contains("candidates[3].base_score"))
        #expect(message(Fixture.query { $0.k = 1_000_000 }).contains("max_k"))
        #expect(
            message(
                Fixture.query {
                    $0.candidates = []
                    $0.poolSize = 1_000_000
                }
            ).contains("max_candidates"))
    }

    @Test func unknownCandidatesAreReportedAndTheRestRanked() throws {
        let r = try reranker.rerank(rec, Fixture.query { $0.candidates.append(.init(id: "nope")) })
        #expect(r.recommendation.unknownItems == ["nope"] && r.recommendation.items.count == 12)
    }

    @Test func anLLMJudgeWithNoEndpointFallsBackToTheLocalJudge() throws {
        let r = try reranker.rerank(rec, Fixture.query { $0.judge = .llmRelevancy })
        #expect(r.judge == .local && r.recommendation.degraded)
        #expect(r.recommendation.degradedReason.contains("none is configured"))
        #expect(r.recommendation.items.prefix(6).allSatisfy { $0.item % 2 == 0 })
    }

    @Test func aUserTheLocalJudgeCannotReadIsOrderedByTheBaseAlone() throws {
        // An anonymous user with a preference needs the encoder, which the fixture lacks.
        var q = Fixture.query()
        q.user = UserSpec(preference: "funny films")
        let r = try reranker.rerank(rec, q)
        #expect(r.judge == nil && r.recommendation.degraded)
        #expect(r.recommendation.degradedReason.contains("ordered by the base score alone"))
        #expect(r.recommendation.items.allSatisfy { $0.components.map(\.0) == ["base", "fused"] })
    }
}

@Suite struct FusionTests {
    @Test func minMaxAndRankNormalisation() {
        #expect(Fusion.normalise([2, 4, 3], .minMax) == [0, 1, 0.5])
        #expect(Fusion.normalise([7, 7], .minMax) == [0.5, 0.5])
        #expect(Fusion.normalise([], .minMax) == [])
        #expect(Fusion.normalise([10, 30, 20], .rank) == [0, 1, 0.5])
        // Ties share their mean rank: ranks 0 and 1 → 0.5 → 1 − 0.5/3.
        let tied = Fusion.normalise([5, 5, 1, 0], .rank)
        #expect(tied[0] == tied[1] && abs(tied[0] - (1 - 0.5 / 3)) < 1e-6 && tied[3] == 0)
    }

    @Test func positionWeightsByThirds() {
        #expect(Fusion.alphas(n: 6, alpha: 0.8, positionWeights: false) == Array(repeating: 0.8, count: 6))
        #expect(Fusion.alphas(n: 6, alpha: 0.8, positionWeights: true) == [0.9, 0.9, 0.7, 0.7, 0.5, 0.5])
        #expect(Fusion.alphas(n: 1, alpha: 0.8, positionWeights: true) == [0.9])
    }

    @Test func mmrValuesNeverIncreaseEvenWithOpposedVectors() {
        // Item 1 is the exact opposite of item 0: its similarity is negative, which must not
        // lift its value above its relevance.
        let vectors: [[Float]] = [[1, 0], [-1, 0], [0, 1], [0.6, 0.8]]
        let picks = Fusion.mmr(relevance: [1, 0.2, 0.5, 0.9], vectors: vectors, lambda: 0.5, k: 4)
        #expect(picks.map(\.index).sorted() == [0, 1, 2, 3])
        let v = picks.map(\.value)
        #expect(v == v.sorted(by: >), "\(picks)")
        #expect(abs(picks[1].value - 0.5 * 0.2) <= 1e-6 || picks[1].index != 1)
    }

    @Test func mmrWithLambdaZeroIsTheRelevanceOrder() {
        let rel: [Float] = [0.3, 0.9, 0.1, 0.5]
        let picks = Fusion.mmr(relevance: rel, vectors: Array(repeating: [1, 0], count: 4), lambda: 0, k: 3)
        #expect(picks.map(\.index) == [1, 3, 0])
    }

    @Test func relevancyBatchesCoverEveryItemOncePerPass() {
        for n in [1, 5, 7, 20, 23] {
            let b = LLMRelevancyJudge.batches(n: n, seed: 42)
            #expect(b.allSatisfy { !$0.isEmpty && $0.count <= LLMRelevancyJudge.batchSize })
            var seen = [Int](repeating: 0, count: n)
            for batch in b { for i in batch { seen[i] += 1 } }
            #expect(seen.allSatisfy { $0 == LLMRelevancyJudge.passes }, "n = \(n)")
            #expect(b == LLMRelevancyJudge.batches(n: n, seed: 42))
        }
    }

    @Test func parsersAcceptOnlyTheSchema() throws {
        #expect(
            try Prompts.parseRelevancy(#"{"scores":[{"id":2,"score":5},{"id":1,"score":99.5}]}"#, count: 2) == [
                99.5, 5,
            ])
        for bad in [
            #"{"scores":[{"id":1,"score":5}]}"#,  // one missing
            #"{"scores":[{"id":1,"score":5},{"id":1,"score":6}]}"#,  // twice
            #"{"scores":[{"id":1,"score":101},{"id":2,"score":6}]}"#,  // out of range
            #"{"scores":[{"id":1,"score":true},{"id":2,"score":6}]}"#,  // a Bool is not a number
            #"{"scores":[{"id":3,"score":1},{"id":2,"score":6}]}"#,  // unknown id
            #"{"scores":"high"}"#, "not json", "[]",
        ] {
            #expect(throws: LLMError.self, "\(bad)") { try Prompts.parseRelevancy(bad, count: 2) }
        }
        #expect(try Prompts.parsePointwise(#"{"score":-0.25,"reason":"x"}"#) == -0.25)
        #expect(throws: LLMError.self) { try Prompts.parsePointwise(#"{"score":1.5}"#) }
        #expect(try Prompts.parseExplanation(#"{"explanation":"  Because. "}"#) == "Because.")
        #expect(throws: LLMError.self) { try Prompts.parseExplanation(#"{"explanation":""}"#) }
    }
}

/// The LLM judges and LLM explanations against the scripted server: the judging rule is
/// "a candidate mentioning Comedy is a good match".
@Suite(.serialized) struct LLMRerankTests {
    let server: ScriptedLLMServer
    let rec = try! Fixture.recommender()

    init() throws { server = try ScriptedLLMServer(slowSeconds: 3) }

    func reranker(_ model: String, defaultJudge: JudgeKind = .llmRelevancy) throws -> Reranker {
        var c = LLMConfig(baseURL: server.baseURL, model: model)
        c.backoff = 0.01
        c.maxBackoff = 0.05
        c.maxRetries = 1
        return Reranker(llm: try LLMClient(config: c), defaultJudge: defaultJudge)
    }

    @Test func relevancyJudgeScoresInBatchesOfFiveThreeTimes() throws {
        let r = try reranker("normal").rerank(rec, Fixture.query { $0.alpha = 1 })
        #expect(r.judge == .llmRelevancy && !r.recommendation.degraded, "\(r.recommendation.degradedReason)")
        #expect(
            r.recommendation.items.prefix(6).allSatisfy { $0.item % 2 == 0 && Fixture.component($0, "judge") == 90 })
        #expect(r.recommendation.items.suffix(6).allSatisfy { Fixture.component($0, "judge") == 10 })
        #expect(try server.requests("normal") == 3 * 3)  // 12 candidates: 3 batches per pass, 3 passes
    }

    @Test func pointwiseJudgeMakesOneCallPerCandidate() throws {
        let before = try server.requests("normal")
        let r = try reranker("normal", defaultJudge: .llmPointwise).rerank(rec, Fixture.query { $0.k = 3 })
        #expect(r.judge == .llmPointwise && !r.recommendation.degraded)
        #expect(r.recommendation.items.allSatisfy { $0.item % 2 == 0 && Fixture.component($0, "judge") == 0.9 })
        #expect(try server.requests("normal") - before == 12)
    }

    @Test(arguments: ["error-500", "malformed", "wrong-schema", "refuse", "length", "truncated"])
    func aFailingLLMFallsBackToTheLocalJudgeAndSaysWhy(model: String) throws {
        for judge in [JudgeKind.llmRelevancy, .llmPointwise] {
            let r = try reranker(model).rerank(rec, Fixture.query { $0.judge = judge })
            #expect(r.judge == .local && r.recommendation.degraded, "\(model)")
            #expect(
                r.recommendation.degradedReason.contains("fell back to the local judge"),
                "\(r.recommendation.degradedReason)")
            #expect(r.recommendation.items.prefix(6).allSatisfy { $0.item % 2 == 0 })
        }
    }

    @Test func aSlowLLMIsCutOffAtTheDeadlineAndTheLocalJudgeAnswers() throws {
        let r = try reranker("slow").rerank(rec, Fixture.query(), deadline: .after(.milliseconds(600)))
        #expect(r.judge == .local && r.recommendation.degraded)
        #expect(
            r.recommendation.degradedReason.contains("deadline")
                || r.recommendation.degradedReason.contains("timed out"),
            "\(r.recommendation.degradedReason)")
    }

    @Test func llmExplanationsAreUsedWhenGroundedAndDiscardedWhenNot() throws {
        func explainer(_ model: String) throws -> Explainer {
            Explainer(llm: try LLMClient(config: LLMConfig(baseURL: server.baseURL, model: model)))
        }
        let q = ExplainQuery(user: UserSpec(id: "u0"), itemID: "i4", engine: "popularity", style: .llm)
        let good = try explainer("normal").explain(rec, q)
        #expect(
            good.style == .llm && !good.degraded && good.text.hasPrefix("You may enjoy Laugh 4 (1984)"), "\(good.text)")

        let bad = try explainer("hallucinate").explain(rec, q)
        #expect(bad.style == .template && bad.degraded)
        #expect(
            bad.degradedReason.contains("Citizen Kane (1941), which is not in the evidence"), "\(bad.degradedReason)")
        #expect(!bad.text.contains("Citizen Kane"))

        let broken = try explainer("wrong-schema").explain(rec, q)
        #expect(broken.style == .template && broken.degradedReason.contains("LLM explanation failed"))

        let none = try Explainer(llm: nil).explain(rec, q)
        #expect(none.style == .template && none.degradedReason.contains("no LLM is configured"))

        var template = q
        template.style = .template
        let plain = try explainer("normal").explain(rec, template)
        #expect(plain.style == .template && !plain.degraded)
    }
}
