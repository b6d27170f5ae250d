import RecCore

/// Evaluation of one engine on one split. Kept apart from the engines: it only calls the
/// `Engine` / `RatingPredictor` protocols, like any other client.
///
/// Ranking protocol: for each test user with at least one relevant test item (rating ≥
/// `threshold`), the engine scores every item, the user's training items are removed, and the
/// top `maxK` are compared with the relevant test items. Sampled protocol (leave-one-out with
/// negatives): the held-out item is ranked among its sampled negatives.
public enum Evaluator {
    public struct Result: Sendable {
        public var metrics: [String: Double] = [:]
        /// precision/recall/ndcg at K = 1...maxK (index K-1).
        public var curves: [String: [Double]] = [:]
        public var usersEvaluated = 0
    }

    /// The query the engine sees for test user `u`: their training history (or, for a cold-start
    /// user, only the revealed interactions and their demographics — what a sign-up form
    /// gives — and no user index).
    public static func query(_ u: Int32, _ split: Split, _ histories: Histories) -> UserQuery {
        if split.coldUsers.contains(u) {
            let meta = Int(u) < split.train.userMeta.count ? split.train.userMeta[Int(u)] : UserMeta()
            return UserQuery(history: split.revealed[u] ?? [], meta: meta)
        }
        return UserQuery(userIndex: u, history: histories.entries(of: u))
    }

    /// A second stage for evaluation: given the user's query, the engine's top items (best
    /// first) and their scores, returns new scores for those items (higher is better), or nil
    /// when it cannot judge this user (the base order then stands).
    public typealias Rerank = @Sendable (_ user: UserQuery, _ items: [Int32], _ base: [Float]) -> [Float]?

    /// Re-orders the first `depth` entries of `top` by `rerank` (stable on ties); the rest stay.
    static func reranked(_ top: [TopK.Entry], _ q: UserQuery, depth: Int, _ rerank: Rerank) -> [Int32] {
        let head = Array(top.prefix(depth))
        guard let s = rerank(q, head.map(\.index), head.map(\.score)), s.count == head.count else {
            return top.map(\.index)
        }
        let order = head.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
        return order.map { head[$0].index } + top.dropFirst(depth).map(\.index)
    }

    public static func ranking(
        _ engine: any Engine, on split: Split, threshold: Float = 4, maxK: Int = 50,
        fallback: (any Engine)? = nil, rerank: Rerank? = nil, rerankDepth: Int = 20
    ) -> Result {
        let histories = split.train.userHistories()
        var relevant: [Int32: Set<Int32>] = [:]
        for x in split.test where x.rating >= threshold { relevant[x.user, default: []].insert(x.item) }
        let users = relevant.keys.sorted()
        let relevantC = relevant
        let nItems = split.train.items.count
        let perUser: [(Metrics.Ranking, [Metrics.Ranking], [Int32])?] = Parallel.map(users.count) { n in
            let u = users[n]
            let q = query(u, split, histories)
            let e: any Engine = engine.unscorableReason(q) == nil ? engine : (fallback ?? engine)
            guard let scores = try? e.score(q, items: nil), scores.count == nItems else { return nil }
            let seen = Set(q.history.map(\.item))
            let entries = TopK.select(scores, k: rerank == nil ? maxK : max(maxK, rerankDepth)) {
                !seen.contains(Int32($0))
            }
            let top = Array(
                (rerank.map { reranked(entries, q, depth: rerankDepth, $0) } ?? entries.map(\.index)).prefix(maxK))
            let rel = relevantC[u]!
            let curve = (1...maxK).map { Metrics.ranking(top, relevant: rel, k: $0) }
            return (curve[min(10, maxK) - 1], curve, Array(top.prefix(10)))
        }
        var r = Result()
        let ok = perUser.compactMap { $0 }
        r.usersEvaluated = ok.count
        guard !ok.isEmpty else { return r }
        let n = Double(ok.count)
        func mean(_ f: (Metrics.Ranking) -> Double, at k: Int) -> Double { ok.reduce(0) { $0 + f($1.1[k - 1]) } / n }
        for k in [5, 10, 20].filter({ $0 <= maxK }) {
            r.metrics["precision@\(k)"] = mean(\.precision, at: k)
            r.metrics["recall@\(k)"] = mean(\.recall, at: k)
            r.metrics["ndcg@\(k)"] = mean(\.ndcg, at: k)
            r.metrics["map@\(k)"] = mean(\.ap, at: k)
            r.metrics["hr@\(k)"] = mean(\.hit, at: k)
        }
        r.curves["precision"] = (1...maxK).map { mean(\.precision, at: $0) }
        r.curves["recall"] = (1...maxK).map { mean(\.recall, at: $0) }
        r.curves["ndcg"] = (1...maxK).map { mean(\.ndcg, at: $0) }
        r.metrics["coverage@10"] = Double(Set(ok.flatMap(\.2)).count) / Double(nItems)
        return r
    }

    /// Leave-one-out with sampled negatives: HR@10 and NDCG@10 of the held-out item among its candidates.
    public static func sampled(
        _ engine: any Engine, on split: Split, k: Int = 10, fallback: (any Engine)? = nil,
        rerank: Rerank? = nil, rerankDepth: Int = 20
    ) -> Result {
        let histories = split.train.userHistories()
        let users = split.candidates.keys.sorted()
        let per: [Metrics.Ranking?] = Parallel.map(users.count) { n in
            let u = users[n]
            let cands = split.candidates[u]!
            let q = query(u, split, histories)
            let e: any Engine = engine.unscorableReason(q) == nil ? engine : (fallback ?? engine)
            guard let scores = try? e.score(q, items: cands) else { return nil }
            // Rank of the held-out item (index 0); ties count against it.
            let sorted = TopK.sorted(zip(cands, scores).map { TopK.Entry(index: $0, score: $1) })
            let ranked = rerank.map { reranked(sorted, q, depth: rerankDepth, $0) } ?? sorted.map(\.index)
            return Metrics.ranking(ranked, relevant: [cands[0]], k: k)
        }
        let ok = per.compactMap { $0 }
        var r = Result()
        r.usersEvaluated = ok.count
        guard !ok.isEmpty else { return r }
        r.metrics["hr@\(k)"] = ok.reduce(0) { $0 + $1.hit } / Double(ok.count)
        r.metrics["ndcg@\(k)"] = ok.reduce(0) { $0 + $1.ndcg } / Double(ok.count)
        return r
    }

    /// RMSE and MAE of predicted ratings on every test interaction, clipped to `range`.
    public static func rating(
        _ engine: any RatingPredictor, on split: Split, range: ClosedRange<Float> = 1...5
    ) -> Result {
        let histories = split.train.userHistories()
        var byUser: [Int32: [Interaction]] = [:]
        for x in split.test { byUser[x.user, default: []].append(x) }
        let users = byUser.keys.sorted()
        let byUserC = byUser
        let per: [([Float], [Float])] = Parallel.map(users.count) { n in
            let xs = byUserC[users[n]]!
            let p = engine.predictRatings(query(users[n], split, histories), items: xs.map(\.item))
            return (p.map { min(max($0, range.lowerBound), range.upperBound) }, xs.map(\.rating))
        }
        let (rmse, mae) = Metrics.errors(per.flatMap(\.0), per.flatMap(\.1))
        var r = Result()
        r.metrics["rmse"] = rmse
        r.metrics["mae"] = mae
        r.usersEvaluated = users.count
        return r
    }
}
