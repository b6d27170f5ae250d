import Foundation
import RecCore
import RecData
import RecEngineKit
import RecEval
import Testing

@testable import RecSVD

/// Ratings generated from a known low-rank model plus noise: a learner that works must recover
/// them far better than the global mean.
func lowRankDataset(users: Int = 120, items: Int = 80, perUser: Int = 30, seed: UInt64 = 3) -> Dataset {
    var rng = SplitMix64(seed: seed)
    let f = 3
    let pu = (0..<users * f).map { _ in Float(rng.nextGaussian()) }
    let qi = (0..<items * f).map { _ in Float(rng.nextGaussian()) }
    var xs: [Interaction] = []
    for u in 0..<users {
        var items_ = Array(0..<items)
        rng.shuffle(&items_)
        for (t, i) in items_.prefix(perUser).enumerated() {
            var dot: Float = 0
            for k in 0..<f { dot += pu[u * f + k] * qi[i * f + k] }
            let r = min(5, max(1, (3 + 0.6 * dot + Float(rng.nextGaussian()) * 0.2).rounded()))
            xs.append(Interaction(user: Int32(u), item: Int32(i), rating: r, timestamp: Int64(t)))
        }
    }
    return Dataset(
        name: "lowrank", users: try! IDMap(ids: (0..<users).map { "u\($0)" }),
        items: try! IDMap(ids: (0..<items).map { "i\($0)" }), interactions: xs,
        itemMeta: Array(repeating: ItemMeta(title: ""), count: items),
        userMeta: Array(repeating: UserMeta(), count: users))
}

@Suite struct SVDTests {
    static let data = lowRankDataset()
    static let split = Splits.random(data, testFraction: 0.2, seed: 1)

    func meanBaselineRMSE() -> Double {
        let mu = Self.split.train.interactions.reduce(0) { $0 + $1.rating } / Float(Self.split.train.interactions.count)
        return Metrics.errors(Self.split.test.map { _ in mu }, Self.split.test.map(\.rating)).rmse
    }

    @Test(arguments: [SVDEngine.Params.svd, .svdpp])
    func learnsALowRankModel(params: SVDEngine.Params) {
        var p = params
        p.epochs = 100
        p.factors = 10
        var trainRMSE: [Double] = []
        let m = SVDEngine.fit(Self.split.train, params: p) { _, r in trainRMSE.append(r) }
        #expect(trainRMSE.count == 100 && trainRMSE.last! < trainRMSE.first!)
        let rmse = Evaluator.rating(m, on: Self.split).metrics["rmse"]!
        #expect(rmse < 0.8 * meanBaselineRMSE(), "test RMSE \(rmse) vs mean baseline \(meanBaselineRMSE())")
    }

    @Test func deterministicForASeed() throws {
        let a = SVDEngine.fit(Self.split.train, params: .svdpp), b = SVDEngine.fit(Self.split.train, params: .svdpp)
        #expect(a.q == b.q && a.y == b.y && a.bu == b.bu)
        var other = SVDEngine.Params.svdpp
        other.seed = 7
        #expect(SVDEngine.fit(Self.split.train, params: other).q != a.q)
    }

    @Test func scoreAllMatchesScoreSubsetAndPrediction() throws {
        let m = SVDEngine.fit(Self.split.train, params: .svdpp)
        let q = UserQuery(userIndex: 5, history: Self.split.train.userHistories().entries(of: 5))
        let all = try m.score(q, items: nil)
        let some = try m.score(q, items: [3, 0, 79])
        #expect([all[3], all[0], all[79]] == some)
        #expect(m.predictRatings(q, items: [3]) == [some[0]])
        // Formula check against the stored parameters.
        let f = m.params.factors
        var v = (0..<f).map { m.p[5, $0] }
        let norm = 1 / Float(q.history.count).squareRoot()
        for h in q.history { for k in 0..<f { v[k] += norm * m.y[Int(h.item), k] } }
        var dot: Float = 0
        for k in 0..<f { dot += m.q[0, k] * v[k] }
        #expect(abs(some[1] - (m.mu + m.bu[5] + m.bi[0] + dot)) < 1e-4)
    }

    @Test func foldInUsesTheGivenHistory() throws {
        let m = SVDEngine.fit(Self.split.train, params: .svdpp)
        #expect(m.unscorableReason(UserQuery()) != nil)
        let cold = UserQuery(history: [HistoryEntry(item: 1, rating: 5), HistoryEntry(item: 2, rating: 5)])
        #expect(m.unscorableReason(cold) == nil)
        let s1 = try m.score(cold, items: nil)
        let s2 = try m.score(UserQuery(history: [HistoryEntry(item: 40, rating: 1)]), items: nil)
        #expect(s1 != s2 && s1.allSatisfy(\.isFinite))
        // Users held out of training, folded in from 20 revealed ratings, are predicted better
        // than by the global mean.
        let cold20 = Splits.coldStart(Self.data, userFraction: 0.2, reveal: 20, seed: 2)
        let mc = SVDEngine.fit(cold20.train, params: .svdpp)
        let mu = cold20.train.interactions.reduce(0) { $0 + $1.rating } / Float(cold20.train.interactions.count)
        let baseline = Metrics.errors(cold20.test.map { _ in mu }, cold20.test.map(\.rating)).rmse
        let folded = Evaluator.rating(mc, on: cold20).metrics["rmse"]!
        #expect(folded < baseline, "fold-in RMSE \(folded) vs mean \(baseline)")
    }

    @Test func bundleRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-svd-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SVDPPKind.fit(Self.split.train, params: SVDPPKind.params(["factors": "8"]), context: FitContext())
        let m = try #require(f.engine as? SVDEngine)
        #expect(m.params.factors == 8 && m.params.implicit)
        let w = try BundleWriter(destination: dir, dataset: Self.split.train)
        try w.addEngine(
            .init(name: "svdpp", kind: "svdpp", file: "engines/svdpp.safetensors", params: f.params.values),
            tensors: f.tensors)
        try w.commit(name: "t", defaultEngine: "svdpp", fallbackEngine: "svdpp")
        let r = try BundleReader(dir)
        let entry = r.manifest.engines[0]
        #expect(entry.params["implicit"] == "true" && entry.params["factors"] == "8" && entry.params["lr"] == "0.007")
        let back = try #require(
            try SVDPPKind.load(
                r.tensors(for: entry), entry: entry, params: SVDPPKind.params(entry.params),
                context: LoadContext(
                    catalog: r.catalog, users: r.users, modelsDir: URL(fileURLWithPath: "/nonexistent"))) as? SVDEngine)
        #expect(back.params == m.params && back.q == m.q && back.y == m.y && back.mu == m.mu)
        // The factor tables are served from the mapped file, not copied, and score the same bits.
        #expect(back.p.isBorrowed && back.q.isBorrowed && back.y.isBorrowed)
        for u: Int32 in [0, 7] {
            let q = UserQuery(userIndex: u)
            #expect(try back.score(q, items: nil) == m.score(q, items: nil))
        }
        #expect(throws: RecError.self) { try SVDPPKind.params(["factors": "0"]) }
        #expect(throws: RecError.self) { try SVDPPKind.params(["factor": "8"]) }
    }
}
